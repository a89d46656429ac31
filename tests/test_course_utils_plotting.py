"""Tests for course_utils.plotting on the headless Agg backend."""

import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pytest  # noqa: E402
from matplotlib.axes import Axes  # noqa: E402
from matplotlib.figure import Figure  # noqa: E402

from course_utils import plotting  # noqa: E402
from course_utils.plotting import (  # noqa: E402
    LiveCurves,
    image_grid,
    plot_curves,
    plot_decision_regions,
)


@pytest.fixture(autouse=True)
def close_figures():
    yield
    plt.close("all")


# --- LiveCurves ----------------------------------------------------------------------
def test_live_curves_record_outside_ipython(capsys):
    live = LiveCurves(metrics=("loss", "val_acc"))
    for step in range(5):
        live.update(step, loss=1.0 / (step + 1), val_acc=0.1 * step, lr=0.01)
    assert live.history["loss"][2] == (2, 1.0 / 3)
    assert [v for _, v in live.history["val_acc"]] == pytest.approx([0, 0.1, 0.2, 0.3, 0.4])
    assert "lr" in live.history  # recorded even though it is not plotted
    assert live.fig is None  # nothing drawn outside a notebook
    live.close()
    out, err = capsys.readouterr()
    assert out == "" and err == ""


def test_live_curves_draw_puts_accuracies_on_second_axes():
    live = LiveCurves(metrics=("loss", "train_acc", "val_acc"), title="run")
    for step in range(3):
        live.update(step, loss=1.0 - 0.1 * step, train_acc=0.5, val_acc=0.4, other=1.0)
    fig = live.draw()
    assert isinstance(fig, Figure)
    loss_ax, acc_ax = fig.axes
    assert [line.get_label() for line in loss_ax.lines] == ["loss"]
    assert [line.get_label() for line in acc_ax.lines] == ["train_acc", "val_acc"]
    fig.canvas.draw()  # renders without error on Agg


def test_live_curves_single_group_and_all_metrics():
    live = LiveCurves(metrics=None)
    live.update(0, loss=1.0, val_loss=2.0)
    assert len(live.draw().axes) == 1


def test_live_curves_update_display_in_a_kernel(monkeypatch):
    shown = []

    class Handle:
        def update(self, obj):
            shown.append(("update", obj))

    def fake_display(obj, **kwargs):
        shown.append(("display", obj, kwargs))
        return Handle()

    monkeypatch.setattr(plotting, "_in_ipython_kernel", lambda: True)
    monkeypatch.setattr(plotting, "_display", fake_display)
    live = LiveCurves(every=2)
    for step in range(5):
        live.update(step, loss=float(step))
    assert shown[0][0] == "display" and shown[0][2] == {"display_id": True}
    assert shown[0][1].data.startswith(b"\x89PNG")  # a rendered image
    assert [s[0] for s in shown] == ["display", "update"]  # calls 2 and 4
    live.close()  # the 5th value is shown once more, then the figure is released
    assert [s[0] for s in shown] == ["display", "update", "update"]
    assert live.fig is None
    live.update(5, loss=5.0)
    assert len(shown) == 3  # nothing is drawn after close()


def test_live_curves_validation():
    with pytest.raises(ValueError):
        LiveCurves(every=0)
    with pytest.raises(TypeError):
        LiveCurves(metrics=(1, 2))


def test_plain_ipython_import_is_not_a_kernel():
    pytest.importorskip("IPython")
    assert plotting._in_ipython_kernel() is False


# --- image_grid ------------------------------------------------------------------------
@pytest.mark.parametrize("shape", [(6, 8, 8), (6, 1, 8, 8), (6, 3, 8, 8), (6, 8, 8, 3)])
def test_image_grid_layouts(shape):
    images = np.random.default_rng(0).random(shape)
    fig = image_grid(images, nrow=4, titles=[str(i) for i in range(6)])
    assert isinstance(fig, Figure)
    shown = [ax for ax in fig.axes if ax.images]
    assert len(shown) == 6
    assert shown[0].get_title() == "0"
    data = shown[0].images[0].get_array()
    assert data.shape[:2] == (8, 8)
    assert data.min() >= 0 and data.max() <= 1


def test_image_grid_into_existing_axes():
    fig, ax = plt.subplots()
    result = image_grid(np.zeros((5, 4, 4)), nrow=5, ax=ax, titles=list("abcde"))
    assert result is fig
    mosaic = ax.images[0].get_array()
    assert mosaic.shape == (1 * 5 + 1, 5 * 5 + 1)
    assert len(ax.texts) == 5


def test_image_grid_accepts_tensors():
    torch = pytest.importorskip("torch")
    fig = image_grid(torch.rand(4, 3, 5, 5, requires_grad=True))
    assert sum(1 for ax in fig.axes if ax.images) == 4


def test_image_grid_validation():
    with pytest.raises(ValueError, match="single image"):
        image_grid(np.zeros((8, 8)))
    with pytest.raises(ValueError):
        image_grid(np.zeros((3, 8, 8)), titles=["a"])


# --- decision regions and curves --------------------------------------------------------------
@pytest.fixture
def toy():
    rng = np.random.default_rng(0)
    X = rng.standard_normal((40, 2))
    y = (X[:, 0] > 0).astype(np.int64)
    return X, y


def test_decision_regions_with_labels(toy):
    X, y = toy
    ax = plot_decision_regions(lambda p: (p[:, 0] > 0).astype(int), X, y, resolution=50,
                               title="linear")
    assert isinstance(ax, Axes)
    assert ax.get_title() == "linear"
    assert ax.collections  # filled contours and the scatter


def test_decision_regions_with_scores(toy):
    X, y = toy
    calls = []

    def scores(points):
        calls.append(points.shape)
        return np.stack([-points[:, 0], points[:, 0]], axis=1)

    _, ax = plt.subplots()
    assert plot_decision_regions(scores, X, y, ax=ax, resolution=30) is ax
    assert calls == [(900, 2)]


def test_decision_regions_validation(toy):
    X, y = toy
    with pytest.raises(ValueError, match="predict must return"):
        plot_decision_regions(lambda p: np.zeros(3), X, y, resolution=10)
    with pytest.raises(ValueError):
        plot_decision_regions(lambda p: np.zeros(len(p)), X[:, :1], y)


def test_plot_curves():
    history = {"loss": [3.0, 2.0, 1.0], "val_acc": [(0, 0.2), (10, 0.6)], "epoch": [1, 2],
               "best_val_acc": 0.6}
    ax = plot_curves(history, logy=True)
    assert isinstance(ax, Axes)
    labels = [line.get_label() for line in ax.lines]
    assert labels == ["loss", "val_acc"]
    assert list(ax.lines[1].get_xdata()) == [0, 10]
    assert ax.get_yscale() == "log"
    with pytest.raises(KeyError):
        plot_curves(history, keys=["nope"])


# ---------------------------------------------------------------- explore
def test_explore_renders_now_and_on_every_change():
    widgets = pytest.importorskip("ipywidgets")
    from course_utils import explore

    calls = []

    def show(scale, kind):
        calls.append((scale, kind))
        print(f"scale={scale} kind={kind}")

    slider = widgets.FloatSlider(value=1.0, min=0.0, max=2.0)
    ui = explore(show, scale=slider, kind=["a", "b"])
    controls, out = ui.children[:-1], ui.children[-1]
    assert isinstance(out, widgets.Output) and len(controls) == 2
    assert isinstance(controls[1], widgets.Dropdown) and controls[1].description == "kind"
    assert calls == [(1.0, "a")]
    assert out.outputs == ({"output_type": "stream", "name": "stdout", "text": "scale=1.0 kind=a\n"},)
    slider.value = 1.5
    controls[1].value = "b"
    assert calls[-1] == (1.5, "b")
    assert out.outputs == ({"output_type": "stream", "name": "stdout", "text": "scale=1.5 kind=b\n"},)


def test_explore_shows_errors_in_its_output():
    widgets = pytest.importorskip("ipywidgets")
    from course_utils import explore

    def broken(x):
        raise ValueError("x must be positive")

    ui = explore(broken, x=widgets.IntSlider(value=1))
    (stream,) = ui.children[-1].outputs
    assert stream["name"] == "stderr" and "ValueError: x must be positive" in stream["text"]


def test_explore_passes_fixed_values_without_a_control():
    widgets = pytest.importorskip("ipywidgets")
    from course_utils import explore

    calls = []
    ui = explore(lambda t, units: calls.append((t, units)), t=widgets.IntSlider(value=3), units=widgets.fixed(24))
    assert len(ui.children) == 2  # the slider and the output, no control for the fixed value
    assert calls == [(3, 24)]
    ui.children[0].value = 5
    assert calls[-1] == (5, 24)
