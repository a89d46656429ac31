"""A small training loop for the NumPy models of the workbook.

A model is any object with

- ``model.params``: a dict ``name -> np.ndarray`` of parameters, and
- ``model.loss(X, y=None)``: with labels, returns ``(loss, grads)`` where
  ``grads`` has the same keys as ``params``; without labels, returns class
  scores of shape ``(N, C)``.

An update rule is a function ``update_rule(w, dw, config) -> (next_w,
next_config)``, like ``sgd`` and ``sgd_momentum`` in the exercises;
``config`` is a dict holding hyper-parameters (``learning_rate``, ...) and
per-parameter state (e.g. a momentum ``velocity``).
"""

import copy
import numbers

import numpy as np

__all__ = ["accuracy", "train", "get_device"]

_DATA_KEYS = ("X_train", "y_train", "X_val", "y_val")
_TRAIN_ACC_SAMPLES = 1000


def _positive_int(value, argname):
    if isinstance(value, bool) or not isinstance(value, numbers.Integral):
        raise TypeError(f"{argname} must be an int, got {type(value).__name__}")
    if value < 1:
        raise ValueError(f"{argname} must be >= 1, got {value}")
    return int(value)


def accuracy(model, X, y, batch_size=500):
    """Fraction of samples whose highest score is the true class.

    Parameters
    ----------
    model : object
        ``model.loss(X_batch)`` must return scores of shape ``(B, C)``.
    X : np.ndarray
        Inputs, shape ``(N, ...)``.
    y : np.ndarray
        Integer labels, shape ``(N,)``.
    batch_size : int, optional
        Number of samples scored at once.

    Returns
    -------
    float
        Accuracy in ``[0, 1]``.
    """
    batch_size = _positive_int(batch_size, "batch_size")
    y = np.asarray(y)
    n = len(y)
    if n == 0:
        raise ValueError("accuracy of an empty data set is undefined")
    if len(X) != n:
        raise ValueError(f"X has {len(X)} samples but y has {n}")
    correct = 0
    for start in range(0, n, batch_size):
        scores = model.loss(X[start : start + batch_size])
        if not isinstance(scores, np.ndarray) or scores.ndim != 2:
            raise TypeError(
                "model.loss(X) without labels must return class scores as a "
                f"NumPy array of shape (N, C); got {type(scores).__name__}"
                + (f" of shape {scores.shape}" if isinstance(scores, np.ndarray) else "")
            )
        correct += int(np.sum(scores.argmax(axis=1) == y[start : start + batch_size]))
    return correct / n


def _loss_and_grads(model, X, y, params):
    """Call model.loss(X, y) and check the (loss, grads) contract."""
    out = model.loss(X, y)
    if not (isinstance(out, tuple) and len(out) == 2 and isinstance(out[1], dict)):
        raise TypeError(
            "model.loss(X, y) must return a tuple (loss, grads) where grads is a "
            "dict with one gradient per entry of model.params; got "
            f"{type(out).__name__}"
        )
    loss, grads = out
    try:
        loss = float(loss)
    except (TypeError, ValueError):
        raise TypeError(
            f"the loss returned by model.loss(X, y) must be a number, got {type(loss).__name__}"
        ) from None
    missing = [name for name in params if name not in grads]
    if missing:
        raise KeyError(f"grads returned by model.loss has no entry for: {', '.join(missing)}")
    return loss, grads


def train(
    model,
    data,
    update_rule,
    *,
    optim_config=None,
    num_epochs=10,
    batch_size=100,
    lr_decay=1.0,
    seed=0,
    print_every=0,
    live=None,
    progress_bar=True,
    eval_every=1,
):
    """Train a NumPy model with minibatch gradient descent.

    Each epoch visits the training set once in a new random order (the last
    minibatch may be smaller). After every ``eval_every`` epochs (and after
    the last one) the accuracy is measured on a fixed random subset of at
    most 1000 training samples and on the whole validation set; the
    parameters with the best validation accuracy are kept and put back into
    ``model.params`` at the end.

    Parameters
    ----------
    model : object
        Has ``params`` (dict ``name -> np.ndarray``) and ``loss(X, y)``
        returning ``(loss, grads)`` (and scores ``(N, C)`` when ``y`` is
        omitted); see the module docstring.
    data : dict
        ``X_train`` ``(N, ...)``, ``y_train`` ``(N,)``, ``X_val``
        ``(N_val, ...)``, ``y_val`` ``(N_val,)``, e.g. from
        :func:`course_utils.data.load_digits`.
    update_rule : callable
        ``update_rule(w, dw, config) -> (next_w, next_config)``.
    optim_config : dict, optional
        Initial config, e.g. ``{"learning_rate": 1e-2}``. Every parameter
        gets its own deep copy, so state such as a velocity is kept per
        parameter.
    num_epochs : int, optional
        Number of passes over the training data.
    batch_size : int, optional
        Minibatch size.
    lr_decay : float, optional
        ``learning_rate`` of every config is multiplied by this after each epoch.
    seed : int, optional
        Seed of the shuffling and of the training-accuracy subset.
    print_every : int, optional
        Print the loss every ``print_every`` iterations and the accuracies
        after each evaluation (0: print nothing).
    live : LiveCurves or bool, optional
        A :class:`course_utils.plotting.LiveCurves` to update, or ``True`` to
        create one for ``loss``, ``train_acc`` and ``val_acc``.
    progress_bar : bool, optional
        Show a progress bar over the iterations (see
        :func:`course_utils.progress.progress`; hidden when
        ``COURSE_UTILS_NO_PROGRESS`` is set). Pass ``False`` in graded
        cells: a text progress bar writes to standard error.
    eval_every : int, optional
        Evaluate the accuracies every this many epochs.

    Returns
    -------
    dict
        ``loss``: list of floats, one per iteration; ``train_acc``,
        ``val_acc``: lists of floats, one per evaluation; ``epoch``: list of
        the (1-based) epochs at which they were measured; ``best_val_acc``:
        float.

    Raises
    ------
    KeyError
        If ``data`` lacks one of the required keys or ``grads`` lacks a parameter.
    TypeError
        If ``model.loss`` does not follow the ``(loss, grads)`` contract or
        ``update_rule`` does not return ``(next_w, next_config)``.
    FloatingPointError
        If the loss becomes NaN or infinite (usually a too large learning rate).
    """
    if not isinstance(data, dict):
        raise TypeError(f"data must be a dict, got {type(data).__name__}")
    missing = [k for k in _DATA_KEYS if k not in data]
    if missing:
        raise KeyError(f"data is missing: {', '.join(missing)}")
    params = getattr(model, "params", None)
    if not isinstance(params, dict) or not params:
        raise TypeError("model.params must be a non-empty dict name -> np.ndarray")
    if not callable(getattr(model, "loss", None)):
        raise TypeError("model must have a method loss(X, y) returning (loss, grads)")
    if not callable(update_rule):
        raise TypeError("update_rule must be callable: update_rule(w, dw, config)")
    if optim_config is not None and not isinstance(optim_config, dict):
        raise TypeError(f"optim_config must be a dict, got {type(optim_config).__name__}")
    num_epochs = _positive_int(num_epochs, "num_epochs")
    batch_size = _positive_int(batch_size, "batch_size")
    eval_every = _positive_int(eval_every, "eval_every")
    if isinstance(print_every, bool) or not isinstance(print_every, numbers.Integral):
        raise TypeError("print_every must be an int")
    if isinstance(lr_decay, bool) or not isinstance(lr_decay, numbers.Real) or not lr_decay > 0:
        raise ValueError(f"lr_decay must be a number > 0, got {lr_decay!r}")

    X_train, y_train = data["X_train"], np.asarray(data["y_train"])
    X_val, y_val = data["X_val"], np.asarray(data["y_val"])
    n_train = len(y_train)
    if n_train == 0 or len(X_train) != n_train:
        raise ValueError(
            f"X_train and y_train must hold the same, non-zero number of samples "
            f"(got {len(X_train)} and {n_train})"
        )
    if len(X_val) != len(y_val) or len(y_val) == 0:
        raise ValueError("X_val and y_val must hold the same, non-zero number of samples")

    rng = np.random.default_rng(seed)
    subset = np.sort(rng.choice(n_train, size=min(n_train, _TRAIN_ACC_SAMPLES), replace=False))
    configs = {name: copy.deepcopy(optim_config or {}) for name in params}
    iters_per_epoch = -(-n_train // batch_size)
    total_iters = num_epochs * iters_per_epoch

    own_live = False
    if live is True:
        from .plotting import LiveCurves

        live = LiveCurves(
            metrics=("loss", "train_acc", "val_acc"),
            every=max(1, iters_per_epoch // 4),
        )
        own_live = True
    elif live is False:
        live = None

    from .progress import progress

    bar = progress(total=total_iters, desc="training", disable=None if progress_bar else True)
    history = {"loss": [], "train_acc": [], "val_acc": [], "epoch": [], "best_val_acc": -1.0}
    best_params = None
    it = 0
    try:
        for epoch in range(num_epochs):
            order = rng.permutation(n_train)
            for start in range(0, n_train, batch_size):
                idx = order[start : start + batch_size]
                loss, grads = _loss_and_grads(model, X_train[idx], y_train[idx], params)
                if not np.isfinite(loss):
                    lr = configs[next(iter(configs))].get("learning_rate", "its default")
                    raise FloatingPointError(
                        f"the loss became {loss} at iteration {it + 1} (epoch {epoch + 1}). "
                        f"Training diverged: the learning rate ({lr}) is probably too "
                        "high, or the loss is computed in a numerically unstable way."
                    )
                for name in params:
                    out = update_rule(params[name], grads[name], configs[name])
                    if not (isinstance(out, tuple) and len(out) == 2):
                        raise TypeError(
                            "update_rule(w, dw, config) must return (next_w, next_config); "
                            f"got {type(out).__name__}"
                        )
                    params[name] = out[0]
                    if out[1] is not None:
                        configs[name] = out[1]
                it += 1
                history["loss"].append(loss)
                bar.update(1)
                if print_every and it % print_every == 0:
                    print(f"(iteration {it} / {total_iters}) loss: {loss:.6f}")
                if live is not None:
                    live.update(it, loss=loss)

            for config in configs.values():
                if "learning_rate" in config:
                    config["learning_rate"] *= lr_decay

            last = epoch == num_epochs - 1
            if (epoch + 1) % eval_every == 0 or last:
                train_acc = accuracy(model, X_train[subset], y_train[subset])
                val_acc = accuracy(model, X_val, y_val)
                history["train_acc"].append(train_acc)
                history["val_acc"].append(val_acc)
                history["epoch"].append(epoch + 1)
                if val_acc > history["best_val_acc"]:
                    history["best_val_acc"] = val_acc
                    best_params = {k: np.array(v, copy=True) for k, v in params.items()}
                if print_every:
                    print(
                        f"(epoch {epoch + 1} / {num_epochs}) train acc: {train_acc:.3f}; "
                        f"val acc: {val_acc:.3f}"
                    )
                if live is not None:
                    live.update(it, train_acc=train_acc, val_acc=val_acc)
                bar.set_postfix(loss=f"{loss:.3g}", val_acc=f"{val_acc:.3f}", refresh=False)
    finally:
        bar.close()
        if own_live:
            live.close()

    if best_params is not None:
        for name, value in best_params.items():
            params[name] = value
    return history


def get_device():
    """The best available PyTorch device: CUDA, then Apple MPS, then CPU.

    Returns
    -------
    torch.device
    """
    import torch

    if torch.cuda.is_available():
        return torch.device("cuda")
    mps = getattr(torch.backends, "mps", None)
    if mps is not None and mps.is_available():
        return torch.device("mps")
    return torch.device("cpu")
