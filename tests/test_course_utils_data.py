"""Tests for course_utils.data (no network: torchvision files are written here)."""

import pickle
import random
import struct
import warnings

import numpy as np
import pytest

from course_utils.data import (
    blobs,
    gaussian_ring,
    load_digits,
    load_torchvision_dataset,
    make_rng,
    seed_everything,
    spirals,
    two_moons,
)


@pytest.fixture(autouse=True)
def no_warnings():
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        yield


# --- randomness ----------------------------------------------------------------
def test_make_rng_is_reproducible():
    assert make_rng(3).random() == make_rng(3).random()
    assert isinstance(make_rng(), np.random.Generator)


def test_seed_everything():
    seed_everything(7)
    first = (random.random(), np.random.rand())
    seed_everything(7)
    assert (random.random(), np.random.rand()) == first
    with pytest.raises(ValueError):
        seed_everything(-1)
    with pytest.raises(TypeError):
        seed_everything("1")


def test_seed_everything_seeds_torch():
    torch = pytest.importorskip("torch")
    seed_everything(5)
    a = torch.rand(3)
    seed_everything(5)
    assert torch.equal(a, torch.rand(3))


# --- digits ------------------------------------------------------------------------
def test_digits_shapes_and_types():
    data = load_digits()
    sizes = [len(data[f"y_{s}"]) for s in ("train", "val", "test")]
    assert sum(sizes) == 1797
    assert 260 <= sizes[1] <= 280 and 260 <= sizes[2] <= 280
    for split in ("train", "val", "test"):
        X, y = data[f"X_{split}"], data[f"y_{split}"]
        assert X.dtype == np.float64 and X.shape == (len(y), 64)
        assert y.dtype == np.int64 and set(np.unique(y)) == set(range(10))
    assert data["classes"] == list(range(10))


def test_digits_split_is_deterministic_and_seeded():
    a, b, c = load_digits(seed=1), load_digits(seed=1), load_digits(seed=2)
    np.testing.assert_array_equal(a["X_train"], b["X_train"])
    np.testing.assert_array_equal(a["y_test"], b["y_test"])
    assert not np.array_equal(a["y_train"], c["y_train"])


def test_digits_split_is_stratified():
    data = load_digits(val_size=0.2, test_size=0.1, scale=None)
    everything = np.concatenate([data["y_train"], data["y_val"], data["y_test"]])
    overall = np.bincount(everything) / len(everything)
    for split, frac in (("train", 0.7), ("val", 0.2), ("test", 0.1)):
        y = data[f"y_{split}"]
        assert abs(len(y) / 1797 - frac) < 0.01
        np.testing.assert_allclose(np.bincount(y, minlength=10) / len(y), overall, atol=0.01)


def test_digits_standard_scaling_uses_training_statistics_only():
    raw = load_digits(seed=4, scale=None)
    std = load_digits(seed=4, scale="standard")
    mean = raw["X_train"].mean(axis=0)
    sd = raw["X_train"].std(axis=0)
    sd[sd == 0] = 1.0
    for split in ("train", "val", "test"):
        np.testing.assert_allclose(std[f"X_{split}"], (raw[f"X_{split}"] - mean) / sd)
    np.testing.assert_allclose(std["X_train"].mean(axis=0), 0, atol=1e-12)
    col_std = std["X_train"].std(axis=0)
    assert np.all((np.abs(col_std - 1) < 1e-9) | (col_std == 0))
    assert np.any(col_std == 0)  # constant border pixels stay at zero
    assert np.all(np.isfinite(std["X_val"]))


def test_digits_unit_scaling_and_images():
    raw = load_digits(scale=None)
    unit = load_digits(scale="unit", flatten=False)
    assert unit["X_train"].shape == (len(unit["y_train"]), 1, 8, 8)
    assert unit["X_train"].min() >= 0 and unit["X_train"].max() <= 1
    np.testing.assert_allclose(unit["X_val"].reshape(-1, 64), raw["X_val"] / 16)
    assert raw["X_train"].max() == 16


@pytest.mark.parametrize(
    "kwargs", [{"val_size": -0.1}, {"test_size": 1.0}, {"val_size": 0.6, "test_size": 0.5},
               {"scale": "minmax"}]
)
def test_digits_validation(kwargs):
    with pytest.raises(ValueError):
        load_digits(**kwargs)


# --- toy data -------------------------------------------------------------------------
@pytest.mark.parametrize(
    "make, n, k",
    [
        (lambda **kw: gaussian_ring(n_samples=400, **kw), 400, 8),
        (lambda **kw: two_moons(n_samples=101, **kw), 101, 2),
        (lambda **kw: blobs(n_samples=90, centers=3, **kw), 90, 3),
        (lambda **kw: spirals(n_samples=150, n_classes=3, **kw), 150, 3),
    ],
)
def test_toy_data_shapes_balance_and_determinism(make, n, k):
    X, y = make(seed=0)
    assert X.shape == (n, 2) and X.dtype == np.float64
    assert y.shape == (n,) and y.dtype == np.int64
    counts = np.bincount(y, minlength=k)
    assert len(counts) == k and counts.max() - counts.min() <= 1
    X2, y2 = make(seed=0)
    np.testing.assert_array_equal(X, X2)
    np.testing.assert_array_equal(y, y2)
    assert not np.array_equal(X, make(seed=1)[0])
    assert len(np.unique(y[:20])) > 1  # classes are shuffled together


def test_gaussian_ring_geometry():
    X, y = gaussian_ring(n_samples=800, n_modes=4, radius=3.0, std=0.01)
    np.testing.assert_allclose(np.linalg.norm(X, axis=1), 3.0, atol=0.05)
    centres = np.array([[3, 0], [0, 3], [-3, 0], [0, -3]])
    np.testing.assert_allclose(X, centres[y], atol=0.05)


def test_blobs_with_given_centres():
    centres = np.array([[10.0, 0.0], [-10.0, 5.0]])
    X, y = blobs(n_samples=50, centers=centres, std=0.1)
    np.testing.assert_allclose(X, centres[y], atol=0.5)


def test_moons_and_spirals_geometry():
    X, y = two_moons(n_samples=200, noise=0.0)
    assert np.all(X[y == 0, 1] >= -1e-12) and np.all(X[y == 1, 1] <= 0.5 + 1e-12)
    X, _ = spirals(n_samples=90, noise=0.0)
    assert np.all(np.linalg.norm(X, axis=1) <= 1 + 1e-12)


@pytest.mark.parametrize(
    "call, error",
    [
        (lambda: gaussian_ring(n_samples=0), ValueError),
        (lambda: gaussian_ring(radius=0), ValueError),
        (lambda: two_moons(noise=-1), ValueError),
        (lambda: blobs(centers=np.ones((3, 3))), ValueError),
        (lambda: blobs(n_samples=2.5), TypeError),
        (lambda: spirals(n_classes=0), ValueError),
    ],
)
def test_toy_data_validation(call, error):
    with pytest.raises(error):
        call()


# --- torchvision data sets, from tiny files written here -------------------------------
def write_idx(path, array):
    """Write an uncompressed IDX file of unsigned bytes, as MNIST uses."""
    array = np.asarray(array, dtype=np.uint8)
    header = struct.pack(">I", 0x0800 | array.ndim) + b"".join(
        struct.pack(">I", n) for n in array.shape
    )
    path.write_bytes(header + array.tobytes())


def write_mnist(root, folder, n_train=5, n_test=3):
    raw = root / folder / "raw"
    raw.mkdir(parents=True)
    rng = np.random.default_rng(0)
    arrays = {}
    for prefix, n in (("train", n_train), ("t10k", n_test)):
        images = rng.integers(0, 256, size=(n, 28, 28), dtype=np.uint8)
        labels = rng.integers(0, 10, size=n, dtype=np.uint8)
        write_idx(raw / f"{prefix}-images-idx3-ubyte", images)
        write_idx(raw / f"{prefix}-labels-idx1-ubyte", labels)
        arrays[prefix] = (images, labels)
    return arrays


@pytest.mark.parametrize("name, folder", [("mnist", "MNIST"), ("fashion-mnist", "FashionMNIST")])
def test_mnist_like_from_idx_files(tmp_path, name, folder):
    pytest.importorskip("torchvision")
    arrays = write_mnist(tmp_path, folder)
    X, y = load_torchvision_dataset(name, tmp_path)
    images, labels = arrays["train"]
    assert X.shape == (5, 1, 28, 28) and X.dtype == np.float32
    assert y.dtype == np.int64
    np.testing.assert_allclose(X[:, 0], images / 255.0, atol=1e-7)
    np.testing.assert_array_equal(y, labels)
    X_test, y_test = load_torchvision_dataset(name.upper(), str(tmp_path), train=False)
    assert X_test.shape == (3, 1, 28, 28)
    np.testing.assert_array_equal(y_test, arrays["t10k"][1])


def test_cifar10_from_pickles(tmp_path):
    folder = tmp_path / "cifar-10-batches-py"
    folder.mkdir()
    rng = np.random.default_rng(1)
    batches = {}
    for name in [f"data_batch_{i}" for i in range(1, 6)] + ["test_batch"]:
        data = rng.integers(0, 256, size=(2, 3072), dtype=np.uint8)
        labels = [int(v) for v in rng.integers(0, 10, size=2)]
        with open(folder / name, "wb") as f:
            pickle.dump({"data": data, "labels": labels, "batch_label": name}, f)
        batches[name] = (data, labels)
    with open(folder / "batches.meta", "wb") as f:
        pickle.dump({"label_names": [f"class{i}" for i in range(10)]}, f)

    X, y = load_torchvision_dataset("cifar10", tmp_path)
    assert X.shape == (10, 3, 32, 32) and X.dtype == np.float32
    assert y.shape == (10,) and y.dtype == np.int64
    first, labels = batches["data_batch_1"]
    # Channel-first layout: the first 1024 bytes are the red plane.
    np.testing.assert_allclose(X[0, 0], first[0, :1024].reshape(32, 32) / 255.0, atol=1e-7)
    np.testing.assert_allclose(X[1, 2], first[1, 2048:].reshape(32, 32) / 255.0, atol=1e-7)
    assert list(y[:2]) == labels
    X_test, y_test = load_torchvision_dataset("cifar10", tmp_path, train=False)
    assert X_test.shape == (2, 3, 32, 32)
    assert list(y_test) == batches["test_batch"][1]


@pytest.mark.parametrize("name", ["mnist", "fashion-mnist", "cifar10"])
def test_missing_files_raise_file_not_found(tmp_path, name):
    if name != "cifar10":
        pytest.importorskip("torchvision")
    with pytest.raises(FileNotFoundError) as info:
        load_torchvision_dataset(name, tmp_path, download=False)
    msg = str(info.value)
    assert str(tmp_path) in msg and "download=True" in msg


def test_unknown_dataset_name(tmp_path):
    with pytest.raises(ValueError, match="mnist, fashion-mnist, cifar10"):
        load_torchvision_dataset("imagenet", tmp_path)
