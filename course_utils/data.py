"""Data sets for the workbook: small real data, toy 2-D problems, torchvision sets.

Nothing here downloads anything unless explicitly asked to
(``load_torchvision_dataset(..., download=True)``). The 8x8 digits ship with
scikit-learn, and the toy generators are pure NumPy, so every exercise built
on them runs offline.

All generators take a ``seed`` and return the same data for the same seed.
"""

import numbers
import os
import pickle
import random
import sys

import numpy as np

__all__ = [
    "make_rng",
    "seed_everything",
    "load_digits",
    "gaussian_ring",
    "two_moons",
    "blobs",
    "spirals",
    "load_torchvision_dataset",
]


# ---------------------------------------------------------------------------
# Randomness
# ---------------------------------------------------------------------------
def make_rng(seed=0):
    """Return a NumPy random generator.

    Parameters
    ----------
    seed : int or None, optional
        Seed; ``None`` gives a non-reproducible generator.

    Returns
    -------
    np.random.Generator
    """
    return np.random.default_rng(seed)


def seed_everything(seed=0):
    """Seed Python's ``random``, NumPy's global generator and PyTorch.

    PyTorch is seeded (CPU and all GPUs) if it is installed; it is imported
    here only if needed, so calling this in a NumPy-only notebook costs the
    import time of torch once.

    Parameters
    ----------
    seed : int, optional
        The seed, ``0 <= seed < 2**32``.
    """
    if isinstance(seed, bool) or not isinstance(seed, numbers.Integral):
        raise TypeError(f"seed must be an int, got {type(seed).__name__}")
    if not 0 <= seed < 2**32:
        raise ValueError(f"seed must be in [0, 2**32), got {seed}")
    seed = int(seed)
    random.seed(seed)
    np.random.seed(seed)
    torch = sys.modules.get("torch")
    if torch is None:
        try:
            import torch
        except ImportError:
            return
    torch.manual_seed(seed)


# ---------------------------------------------------------------------------
# Argument validation helpers
# ---------------------------------------------------------------------------
def _positive_int(value, argname):
    if isinstance(value, bool) or not isinstance(value, numbers.Integral):
        raise TypeError(f"{argname} must be an int, got {type(value).__name__}")
    if value <= 0:
        raise ValueError(f"{argname} must be > 0, got {value}")
    return int(value)


def _nonneg_float(value, argname):
    if isinstance(value, bool) or not isinstance(value, numbers.Real):
        raise TypeError(f"{argname} must be a number, got {type(value).__name__}")
    value = float(value)
    if not (value >= 0.0 and np.isfinite(value)):
        raise ValueError(f"{argname} must be finite and >= 0, got {value}")
    return value


def _shuffled(X, y, rng):
    order = rng.permutation(len(y))
    return np.ascontiguousarray(X[order]), np.ascontiguousarray(y[order])


# ---------------------------------------------------------------------------
# 8x8 digits
# ---------------------------------------------------------------------------
def _stratified_split(y, val_size, test_size, rng):
    """Split indices per class; returns (train, val, test) index arrays, shuffled."""
    parts = ([], [], [])
    for c in np.unique(y):
        idx = np.flatnonzero(y == c)
        rng.shuffle(idx)
        n_test = int(round(len(idx) * test_size))
        n_val = int(round(len(idx) * val_size))
        if n_test + n_val >= len(idx):
            raise ValueError(
                f"val_size + test_size leave no training sample of class {c}"
            )
        parts[2].append(idx[:n_test])
        parts[1].append(idx[n_test : n_test + n_val])
        parts[0].append(idx[n_test + n_val :])
    return tuple(rng.permutation(np.concatenate(p)) for p in parts)


def load_digits(val_size=0.15, test_size=0.15, seed=0, scale="standard", flatten=True):
    """The 8x8 handwritten digits of scikit-learn, split into train/val/test.

    The 1,797 images ship with scikit-learn, so no network is needed. The
    split is stratified: each class is split separately in the requested
    proportions (rounded per class), so every split has about the same class
    balance. The same ``seed`` always gives the same split.

    Parameters
    ----------
    val_size, test_size : float, optional
        Fractions of the data for validation and test; each in ``[0, 1)``
        and together below 1.
    seed : int, optional
        Seed of the split (and of the order within each split).
    scale : {"standard", "unit", None}, optional
        ``"standard"``: subtract the per-pixel mean and divide by the
        per-pixel standard deviation, both computed on the *training* split
        only (pixels that are constant in the training split are only
        centred). ``"unit"``: divide by 16 so pixels lie in ``[0, 1]``.
        ``None``: raw pixel values 0..16.
    flatten : bool, optional
        If true, ``X_*`` have shape ``(N, 64)``; else ``(N, 1, 8, 8)``.

    Returns
    -------
    dict
        ``X_train, X_val, X_test``: float64 arrays ``(N_split, 64)`` or
        ``(N_split, 1, 8, 8)``; ``y_train, y_val, y_test``: int64 arrays
        ``(N_split,)`` with labels 0..9; ``classes``: ``list(range(10))``.
    """
    for argname, value in (("val_size", val_size), ("test_size", test_size)):
        if isinstance(value, bool) or not isinstance(value, numbers.Real):
            raise TypeError(f"{argname} must be a number, got {type(value).__name__}")
        if not 0.0 <= value < 1.0:
            raise ValueError(f"{argname} must be in [0, 1), got {value}")
    if val_size + test_size >= 1.0:
        raise ValueError(
            f"val_size + test_size must be < 1, got {val_size} + {test_size}"
        )
    if scale not in ("standard", "unit", None):
        raise ValueError(f"scale must be 'standard', 'unit' or None, got {scale!r}")

    from sklearn.datasets import load_digits as _sk_load_digits

    X, y = _sk_load_digits(return_X_y=True)
    X = np.asarray(X, dtype=np.float64)
    y = np.asarray(y, dtype=np.int64)
    train, val, test = _stratified_split(y, val_size, test_size, make_rng(seed))
    splits = {"train": X[train], "val": X[val], "test": X[test]}

    if scale == "standard":
        mean = splits["train"].mean(axis=0)
        std = splits["train"].std(axis=0)
        std = np.where(std > 0, std, 1.0)
        splits = {k: (v - mean) / std for k, v in splits.items()}
    elif scale == "unit":
        splits = {k: v / 16.0 for k, v in splits.items()}

    data = {}
    for key, idx in (("train", train), ("val", val), ("test", test)):
        Xs = splits[key]
        if not flatten:
            Xs = Xs.reshape(-1, 1, 8, 8)
        data["X_" + key] = np.ascontiguousarray(Xs, dtype=np.float64)
        data["y_" + key] = y[idx]
    data["classes"] = list(range(10))
    return data


# ---------------------------------------------------------------------------
# Toy 2-D problems
# ---------------------------------------------------------------------------
def gaussian_ring(n_samples=1000, n_modes=8, radius=2.0, std=0.05, seed=0):
    """Points from Gaussians placed evenly on a circle (a classic GAN target).

    Parameters
    ----------
    n_samples : int, optional
        Number of points; the modes get (almost) equal shares.
    n_modes : int, optional
        Number of Gaussians, at angles ``2 pi k / n_modes``.
    radius : float, optional
        Radius of the circle, > 0.
    std : float, optional
        Standard deviation of each Gaussian (same in both coordinates).
    seed : int, optional
        Seed.

    Returns
    -------
    X : np.ndarray
        float64, shape ``(n_samples, 2)``.
    y : np.ndarray
        int64, shape ``(n_samples,)``: the mode index of each point.
    """
    n_samples = _positive_int(n_samples, "n_samples")
    n_modes = _positive_int(n_modes, "n_modes")
    radius = _nonneg_float(radius, "radius")
    if radius == 0.0:
        raise ValueError("radius must be > 0")
    std = _nonneg_float(std, "std")
    rng = make_rng(seed)
    y = np.arange(n_samples, dtype=np.int64) % n_modes
    angles = 2.0 * np.pi * y / n_modes
    centres = radius * np.stack([np.cos(angles), np.sin(angles)], axis=1)
    X = centres + std * rng.standard_normal((n_samples, 2))
    return _shuffled(X, y, rng)


def two_moons(n_samples=400, noise=0.1, seed=0):
    """Two interleaving half circles.

    Parameters
    ----------
    n_samples : int, optional
        Number of points; class 0 gets ``ceil(n/2)``, class 1 ``floor(n/2)``.
    noise : float, optional
        Standard deviation of Gaussian noise added to every coordinate.
    seed : int, optional
        Seed.

    Returns
    -------
    X : np.ndarray
        float64, shape ``(n_samples, 2)``.
    y : np.ndarray
        int64, shape ``(n_samples,)`` with labels 0 (upper moon) and 1.
    """
    n_samples = _positive_int(n_samples, "n_samples")
    noise = _nonneg_float(noise, "noise")
    rng = make_rng(seed)
    n_upper = (n_samples + 1) // 2
    n_lower = n_samples - n_upper
    t_upper = np.linspace(0.0, np.pi, n_upper)
    t_lower = np.linspace(0.0, np.pi, n_lower)
    upper = np.stack([np.cos(t_upper), np.sin(t_upper)], axis=1)
    lower = np.stack([1.0 - np.cos(t_lower), 0.5 - np.sin(t_lower)], axis=1)
    X = np.concatenate([upper, lower]) + noise * rng.standard_normal((n_samples, 2))
    y = np.concatenate([np.zeros(n_upper, np.int64), np.ones(n_lower, np.int64)])
    return _shuffled(X, y, rng)


def blobs(n_samples=300, centers=3, std=1.0, seed=0):
    """Isotropic Gaussian blobs, one class per blob.

    Parameters
    ----------
    n_samples : int, optional
        Number of points; the blobs get (almost) equal shares.
    centers : int or array_like, optional
        Either the number of blobs ``K``, placed evenly on a circle of
        radius 5 around the origin, or their centres as an array ``(K, 2)``.
    std : float, optional
        Standard deviation of each blob.
    seed : int, optional
        Seed.

    Returns
    -------
    X : np.ndarray
        float64, shape ``(n_samples, 2)``.
    y : np.ndarray
        int64, shape ``(n_samples,)`` with labels ``0..K-1``.
    """
    n_samples = _positive_int(n_samples, "n_samples")
    std = _nonneg_float(std, "std")
    if isinstance(centers, numbers.Integral) and not isinstance(centers, bool):
        k = _positive_int(centers, "centers")
        angles = 2.0 * np.pi * np.arange(k) / k
        centres = 5.0 * np.stack([np.cos(angles), np.sin(angles)], axis=1)
    else:
        centres = np.asarray(centers, dtype=np.float64)
        if centres.ndim != 2 or centres.shape[1] != 2 or len(centres) == 0:
            raise ValueError(
                f"centers must be an int or an array of shape (K, 2), got shape {centres.shape}"
            )
        if not np.all(np.isfinite(centres)):
            raise ValueError("centers must be finite")
    rng = make_rng(seed)
    y = np.arange(n_samples, dtype=np.int64) % len(centres)
    X = centres[y] + std * rng.standard_normal((n_samples, 2))
    return _shuffled(X, y, rng)


def spirals(n_samples=300, n_classes=3, noise=0.2, seed=0):
    """Interleaved spiral arms, one class per arm (not linearly separable).

    Arm ``k`` starts at the origin and turns through about two thirds of a
    circle, rotated by ``2 pi k / n_classes``.

    Parameters
    ----------
    n_samples : int, optional
        Number of points; the arms get (almost) equal shares.
    n_classes : int, optional
        Number of arms.
    noise : float, optional
        Standard deviation of Gaussian noise added to the angle (radians).
    seed : int, optional
        Seed.

    Returns
    -------
    X : np.ndarray
        float64, shape ``(n_samples, 2)``, inside the unit disc.
    y : np.ndarray
        int64, shape ``(n_samples,)`` with labels ``0..n_classes-1``.
    """
    n_samples = _positive_int(n_samples, "n_samples")
    n_classes = _positive_int(n_classes, "n_classes")
    noise = _nonneg_float(noise, "noise")
    rng = make_rng(seed)
    y = np.arange(n_samples, dtype=np.int64) % n_classes
    # Position along the arm in [0, 1], evenly spaced within each class.
    r = np.empty(n_samples)
    for k in range(n_classes):
        members = y == k
        r[members] = np.linspace(0.0, 1.0, int(members.sum()))
    angle = 4.0 * r + 2.0 * np.pi * y / n_classes + noise * rng.standard_normal(n_samples)
    X = r[:, None] * np.stack([np.cos(angle), np.sin(angle)], axis=1)
    return _shuffled(X, y, rng)


# ---------------------------------------------------------------------------
# torchvision data sets
# ---------------------------------------------------------------------------
_TORCHVISION_NAMES = ("mnist", "fashion-mnist", "cifar10")
_CIFAR_FOLDER = "cifar-10-batches-py"
_CIFAR_TRAIN_FILES = tuple(f"data_batch_{i}" for i in range(1, 6))
_CIFAR_TEST_FILES = ("test_batch",)


def _missing_files_error(name, folder, missing):
    listing = ", ".join(missing)
    return FileNotFoundError(
        f"The {name} files were not found. Expected them in {folder} "
        f"(missing: {listing}). Pass download=True (needs internet access) "
        "to download them there."
    )


def _load_mnist_like(name, root, train, download):
    """MNIST / Fashion-MNIST through torchvision's own dataset classes."""
    import warnings

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        from torchvision import datasets

    cls = datasets.MNIST if name == "mnist" else datasets.FashionMNIST
    # torchvision looks for the uncompressed IDX files in <root>/<Class>/raw.
    raw = os.path.join(root, cls.__name__, "raw")
    processed = os.path.join(root, cls.__name__, "processed")
    needed = [os.path.splitext(os.path.basename(url))[0] for url, _ in cls.resources]
    missing = [f for f in needed if not os.path.isfile(os.path.join(raw, f))]
    legacy = all(
        os.path.isfile(os.path.join(processed, f)) for f in (cls.training_file, cls.test_file)
    )
    if missing and not legacy and not download:
        raise _missing_files_error(name, raw, missing)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        dataset = cls(root=root, train=train, download=download)
    images = dataset.data.numpy()
    X = (images.astype(np.float32) / np.float32(255.0))[:, None, :, :]
    y = dataset.targets.numpy().astype(np.int64)
    return np.ascontiguousarray(X), y


def _read_cifar_batch(path):
    """Read one CIFAR-10 python batch: returns uint8 (n, 3072) and int64 (n,)."""
    with open(path, "rb") as f:
        entry = pickle.load(f, encoding="latin1")
    if not isinstance(entry, dict) or "data" not in entry or "labels" not in entry:
        raise ValueError(f"{path} is not a CIFAR-10 batch (no 'data'/'labels' entries)")
    data = np.asarray(entry["data"], dtype=np.uint8)
    labels = np.asarray(entry["labels"], dtype=np.int64)
    if data.ndim != 2 or data.shape[1] != 3 * 32 * 32 or len(labels) != len(data):
        raise ValueError(
            f"{path}: expected 'data' of shape (n, 3072) and n labels, "
            f"got {data.shape} and {labels.shape}"
        )
    return data, labels


def _load_cifar10(root, train, download):
    """CIFAR-10 from the python pickles, read here (torchvision downloads them).

    torchvision's ``CIFAR10`` class insists on the MD5 checksum of every
    batch file; this reader only checks that the files exist and have the
    documented layout, so it also works on the small fixture files of the
    test suite. With ``download=True`` torchvision downloads and verifies
    the archive before the files are read here.
    """
    folder = os.path.join(root, _CIFAR_FOLDER)
    files = _CIFAR_TRAIN_FILES if train else _CIFAR_TEST_FILES
    missing = [f for f in files if not os.path.isfile(os.path.join(folder, f))]
    if missing:
        if not download:
            raise _missing_files_error("cifar10", folder, missing)
        import warnings

        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            from torchvision import datasets

            datasets.CIFAR10(root=root, train=train, download=True)
    parts = [_read_cifar_batch(os.path.join(folder, f)) for f in files]
    data = np.concatenate([p[0] for p in parts])
    y = np.concatenate([p[1] for p in parts])
    X = data.reshape(-1, 3, 32, 32).astype(np.float32) / np.float32(255.0)
    return np.ascontiguousarray(X), y


def load_torchvision_dataset(name, root, train=True, download=False):
    """Load MNIST, Fashion-MNIST or CIFAR-10 as NumPy arrays.

    MNIST and Fashion-MNIST are read with ``torchvision.datasets``; the
    CIFAR-10 python pickles are read directly (see ``_load_cifar10``).
    Without ``download=True`` nothing is fetched: missing files raise
    ``FileNotFoundError`` telling where they are expected.

    Expected layout under ``root``:

    - mnist: ``MNIST/raw/{train,t10k}-{images-idx3,labels-idx1}-ubyte``
    - fashion-mnist: the same under ``FashionMNIST/raw/``
    - cifar10: ``cifar-10-batches-py/data_batch_1`` ... ``data_batch_5``
      and ``test_batch``

    Parameters
    ----------
    name : {"mnist", "fashion-mnist", "cifar10"}
        Data set (case-insensitive; ``_`` may replace ``-``).
    root : str or os.PathLike
        Folder holding the data (as laid out by torchvision).
    train : bool, optional
        Training split if true, else test split.
    download : bool, optional
        Download missing files (needs internet access).

    Returns
    -------
    X : np.ndarray
        float32 in ``[0, 1]``, shape ``(N, 1, 28, 28)`` (MNIST, Fashion-MNIST)
        or ``(N, 3, 32, 32)`` (CIFAR-10).
    y : np.ndarray
        int64 class labels 0..9, shape ``(N,)``.

    Raises
    ------
    ValueError
        For an unknown ``name``.
    FileNotFoundError
        If the files are missing and ``download`` is false.
    """
    if not isinstance(name, str):
        raise TypeError(f"name must be a str, got {type(name).__name__}")
    key = name.strip().lower().replace("_", "-")
    if key == "fashionmnist":
        key = "fashion-mnist"
    if key == "cifar-10":
        key = "cifar10"
    if key not in _TORCHVISION_NAMES:
        raise ValueError(
            f"unknown data set {name!r}; choose one of {', '.join(_TORCHVISION_NAMES)}"
        )
    root = os.fspath(root)
    if key == "cifar10":
        return _load_cifar10(root, bool(train), bool(download))
    return _load_mnist_like(key, root, bool(train), bool(download))
