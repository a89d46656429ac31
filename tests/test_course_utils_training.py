"""Tests for course_utils.training and course_utils.progress."""

import sys

import numpy as np
import pytest

from course_utils.data import blobs
from course_utils.plotting import LiveCurves
from course_utils.training import accuracy, get_device, train

progress_module = sys.modules["course_utils.progress"]


@pytest.fixture(autouse=True)
def quiet_progress(monkeypatch):
    monkeypatch.setenv("COURSE_UTILS_NO_PROGRESS", "1")


class SoftmaxRegression:
    """Linear classifier with a softmax cross-entropy loss (written for the tests)."""

    def __init__(self, dim, n_classes, seed=0):
        rng = np.random.default_rng(seed)
        self.params = {"W": 0.01 * rng.standard_normal((dim, n_classes)), "b": np.zeros(n_classes)}

    def loss(self, X, y=None):
        scores = X @ self.params["W"] + self.params["b"]
        if y is None:
            return scores
        shifted = scores - scores.max(axis=1, keepdims=True)
        log_probs = shifted - np.log(np.exp(shifted).sum(axis=1, keepdims=True))
        n = len(y)
        loss = -log_probs[np.arange(n), y].mean()
        dscores = np.exp(log_probs)
        dscores[np.arange(n), y] -= 1
        dscores /= n
        return loss, {"W": X.T @ dscores, "b": dscores.sum(axis=0)}


def sgd(w, dw, config):
    config.setdefault("learning_rate", 1e-2)
    return w - config["learning_rate"] * dw, config


def sgd_momentum(w, dw, config):
    config.setdefault("learning_rate", 1e-2)
    config.setdefault("momentum", 0.9)
    v = config.get("velocity", np.zeros_like(w))
    v = config["momentum"] * v - config["learning_rate"] * dw
    config["velocity"] = v
    return w + v, config


@pytest.fixture
def data():
    X, y = blobs(n_samples=600, centers=3, std=1.0, seed=0)
    return {"X_train": X[:450], "y_train": y[:450], "X_val": X[450:], "y_val": y[450:]}


def test_training_reaches_high_accuracy(data, capsys):
    model = SoftmaxRegression(2, 3)
    history = train(model, data, sgd, optim_config={"learning_rate": 0.5}, num_epochs=5,
                    batch_size=50)
    assert len(history["loss"]) == 5 * 9
    assert history["epoch"] == [1, 2, 3, 4, 5]
    assert len(history["train_acc"]) == len(history["val_acc"]) == 5
    assert history["loss"][-1] < history["loss"][0]
    assert history["best_val_acc"] == max(history["val_acc"]) >= 0.95
    # The best parameters are the ones left in the model.
    assert accuracy(model, data["X_val"], data["y_val"]) == history["best_val_acc"]
    out, err = capsys.readouterr()
    assert out == "" and err == ""


def test_training_is_deterministic(data):
    runs = []
    for _ in range(2):
        model = SoftmaxRegression(2, 3)
        runs.append(train(model, data, sgd, num_epochs=2, batch_size=64))
    assert runs[0]["loss"] == runs[1]["loss"]


def test_each_parameter_keeps_its_own_optimizer_state(data):
    seen = {}

    def recording_momentum(w, dw, config):
        seen.setdefault(w.shape, []).append(config)
        return sgd_momentum(w, dw, config)

    config = {"learning_rate": 0.1, "momentum": 0.9}
    model = SoftmaxRegression(2, 3)
    history = train(model, data, recording_momentum, optim_config=config, num_epochs=3,
                    batch_size=100)
    assert config == {"learning_rate": 0.1, "momentum": 0.9}  # caller's dict untouched
    w_configs, b_configs = seen[(2, 3)], seen[(3,)]
    assert w_configs[0] is not b_configs[0]
    assert w_configs[-1]["velocity"].shape == (2, 3)
    assert b_configs[-1]["velocity"].shape == (3,)
    # The state returned by the update rule is handed back at the next step.
    assert all(c is w_configs[0] for c in w_configs)
    assert history["best_val_acc"] >= 0.95


def test_learning_rate_decays_per_epoch(data):
    rates = []

    def recording_sgd(w, dw, config):
        if w.ndim == 2:
            rates.append(config["learning_rate"])
        return sgd(w, dw, config)

    train(SoftmaxRegression(2, 3), data, recording_sgd, optim_config={"learning_rate": 1.0},
          num_epochs=3, batch_size=450, lr_decay=0.5)
    assert rates == [1.0, 0.5, 0.25]


def test_eval_every_and_printing(data, capsys):
    history = train(SoftmaxRegression(2, 3), data, sgd, num_epochs=5, batch_size=150,
                    eval_every=2, print_every=3)
    assert history["epoch"] == [2, 4, 5]
    out, err = capsys.readouterr()
    assert "(iteration 3 / 15) loss:" in out and "(epoch 5 / 5) train acc:" in out
    assert err == ""


def test_live_curves_are_updated(data):
    live = LiveCurves(metrics=("loss", "val_acc"))
    train(SoftmaxRegression(2, 3), data, sgd, num_epochs=2, batch_size=150, live=live)
    assert [step for step, _ in live.history["loss"]] == list(range(1, 7))
    assert [step for step, _ in live.history["val_acc"]] == [3, 6]
    train(SoftmaxRegression(2, 3), data, sgd, num_epochs=1, live=True)


def test_progress_bar_is_quiet_when_disabled(data, capsys):
    train(SoftmaxRegression(2, 3), data, sgd, num_epochs=1, progress_bar=True)
    assert capsys.readouterr().err == ""


# --- validation ----------------------------------------------------------------------------
def test_missing_data_keys(data):
    del data["y_val"], data["X_val"]
    with pytest.raises(KeyError, match="X_val, y_val"):
        train(SoftmaxRegression(2, 3), data, sgd)


def test_loss_contract_is_checked(data):
    class LossOnly(SoftmaxRegression):
        def loss(self, X, y=None):
            out = super().loss(X, y)
            return out if y is None else out[0]

    with pytest.raises(TypeError, match=r"\(loss, grads\)"):
        train(LossOnly(2, 3), data, sgd)


def test_update_rule_contract_is_checked(data):
    with pytest.raises(TypeError, match=r"\(next_w, next_config\)"):
        train(SoftmaxRegression(2, 3), data, lambda w, dw, config: w - dw)


def test_divergence_is_reported(data):
    class Quadratic(SoftmaxRegression):
        """loss = ||W||^2: gradient descent with learning rate > 1 blows up."""

        def loss(self, X, y=None):
            if y is None:
                return super().loss(X)
            W = self.params["W"]
            return float(np.sum(W * W)), {"W": 2 * W, "b": np.zeros_like(self.params["b"])}

    with pytest.raises(FloatingPointError, match=r"learning rate \(1000\.0\)"):
        with np.errstate(all="ignore"):
            train(Quadratic(2, 3), data, sgd, optim_config={"learning_rate": 1e3},
                  num_epochs=100, batch_size=450)


@pytest.mark.parametrize("kwargs", [{"num_epochs": 0}, {"batch_size": 0}, {"lr_decay": 0}])
def test_bad_arguments(data, kwargs):
    with pytest.raises(ValueError):
        train(SoftmaxRegression(2, 3), data, sgd, **kwargs)


def test_accuracy(data):
    model = SoftmaxRegression(2, 3)
    model.params["W"] = np.zeros((2, 3))
    model.params["b"] = np.array([0.0, 1.0, 0.0])
    expected = np.mean(data["y_val"] == 1)
    assert accuracy(model, data["X_val"], data["y_val"], batch_size=7) == pytest.approx(expected)
    with pytest.raises(TypeError, match=r"\(N, C\)"):
        accuracy(type("M", (), {"loss": lambda self, X: X.sum(axis=1)})(), data["X_val"],
                 data["y_val"])


def test_get_device():
    torch = pytest.importorskip("torch")
    assert isinstance(get_device(), torch.device)


# --- progress ---------------------------------------------------------------------------------
def test_progress_respects_the_environment(monkeypatch, capsys):
    bar = progress_module.progress(range(3), desc="x")
    assert bar.disable and list(bar) == [0, 1, 2]
    monkeypatch.setenv("COURSE_UTILS_NO_PROGRESS", "0")
    assert not progress_module.progress_disabled()
    monkeypatch.delenv("COURSE_UTILS_NO_PROGRESS")
    bar = progress_module.progress(total=2, disable=True)
    bar.update(2)
    bar.close()
    assert capsys.readouterr().err == ""


def test_autograding_follows_nbgrader_and_silences_bars(monkeypatch):
    monkeypatch.delenv("COURSE_UTILS_NO_PROGRESS", raising=False)
    monkeypatch.delenv("NBGRADER_EXECUTION", raising=False)
    assert not progress_module.autograding()
    assert not progress_module.progress_disabled()
    for mode in ("autograde", "validate"):
        monkeypatch.setenv("NBGRADER_EXECUTION", mode)
        assert progress_module.autograding()
        assert progress_module.progress_disabled()
    monkeypatch.setenv("NBGRADER_EXECUTION", "")
    assert not progress_module.autograding()
