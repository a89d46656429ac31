"""Plots for the workbook: live training curves, image grids, decision regions.

Everything works with any matplotlib backend, including the headless
``Agg`` backend and Jupyter's inline backend. matplotlib is imported when a
function needs it, so importing this module is cheap.
"""

import sys

import numpy as np

__all__ = ["LiveCurves", "image_grid", "plot_decision_regions", "plot_curves"]


def _in_ipython_kernel():
    """True when running inside a Jupyter (IPython) kernel."""
    ipython = sys.modules.get("IPython")
    if ipython is None:
        return False
    try:
        shell = ipython.get_ipython()
    except Exception:
        return False
    return shell is not None and getattr(shell, "kernel", None) is not None


def _display(obj, **kwargs):
    """``IPython.display.display`` (imported only when needed)."""
    from IPython.display import display

    return display(obj, **kwargs)


def _png_image(fig):
    """Render a figure to an ``IPython.display.Image`` (PNG).

    Showing a PNG works whatever matplotlib backend the kernel uses, and
    even before pyplot has been imported.
    """
    import io

    from IPython.display import Image

    buffer = io.BytesIO()
    fig.savefig(buffer, format="png")
    return Image(data=buffer.getvalue(), format="png")


def _to_numpy(values):
    """Convert a torch tensor to NumPy without importing torch; pass others through."""
    module = type(values).__module__ or ""
    if module.startswith("torch") and hasattr(values, "detach"):
        return values.detach().cpu().numpy()
    return np.asarray(values)


class LiveCurves:
    """Training curves that redraw in place in a notebook while training runs.

    Values are recorded with :meth:`update`. In a Jupyter kernel the plot
    is shown once (``display(..., display_id=True)``, as a PNG image) and
    then updated in place every ``every`` calls; elsewhere (scripts, tests)
    values are only recorded, and :meth:`draw` can still render the figure.

    Metrics whose name contains ``"acc"`` go on a second subplot with an
    accuracy axis; all others (losses) go on the first.

    Parameters
    ----------
    metrics : sequence of str or None, optional
        Names of the metrics to plot; other names passed to :meth:`update`
        are recorded but not plotted. ``None`` plots every recorded metric.
    title : str, optional
        Title of the figure.
    every : int, optional
        Redraw after every ``every`` calls of :meth:`update`.
    figsize : tuple of float, optional
        Figure size in inches ``(width, height)``.

    Attributes
    ----------
    history : dict
        ``name -> list of (step, value)`` for every recorded metric.
    fig : matplotlib.figure.Figure or None
        The figure, created at the first drawing.

    Examples
    --------
    >>> live = LiveCurves(metrics=("loss", "val_acc"))
    >>> for step in range(3):
    ...     live.update(step, loss=1.0 / (step + 1), val_acc=0.3 * step)
    >>> live.history["loss"][-1]
    (2, 0.3333333333333333)
    >>> live.close()
    """

    def __init__(self, metrics=("loss",), title=None, every=1, figsize=(10, 3.5)):
        if metrics is not None:
            if isinstance(metrics, str):
                metrics = (metrics,)
            metrics = tuple(metrics)
            if not all(isinstance(m, str) for m in metrics):
                raise TypeError("metrics must be a sequence of str")
        if isinstance(every, bool) or not isinstance(every, int) or every < 1:
            raise ValueError(f"every must be an int >= 1, got {every!r}")
        self.metrics = metrics
        self.title = title
        self.every = every
        self.figsize = tuple(figsize)
        self.history = {}
        self.fig = None
        self._handle = None
        self._calls = 0
        self._dirty = False
        self._closed = False

    def update(self, step, **values):
        """Record values at a step and redraw if it is time to.

        Parameters
        ----------
        step : int or float
            x coordinate, e.g. the iteration number.
        **values : float
            Metric values, e.g. ``loss=0.7, val_acc=0.9``. ``None`` values
            are skipped; anything ``float()`` accepts (including one-element
            arrays and tensors) is converted to float.
        """
        for name, value in values.items():
            if value is None:
                continue
            self.history.setdefault(name, []).append((step, float(value)))
        self._calls += 1
        self._dirty = True
        if self._calls % self.every == 0:
            self._refresh()

    def _plotted(self):
        names = list(self.history) if self.metrics is None else list(self.metrics)
        return [n for n in names if self.history.get(n)]

    def draw(self):
        """Draw the recorded curves into the figure and return it.

        Returns
        -------
        matplotlib.figure.Figure
        """
        from matplotlib.figure import Figure

        names = self._plotted()
        acc = [n for n in names if "acc" in n]
        other = [n for n in names if "acc" not in n]
        groups = [g for g in (other, acc) if g] or [[]]
        if self.fig is None:
            # A Figure not managed by pyplot is never shown automatically at
            # the end of a cell: only the display handle shows it.
            self.fig = Figure(figsize=self.figsize, layout="constrained")
        self.fig.clear()
        axes = self.fig.subplots(1, len(groups), squeeze=False)[0]
        for ax, group in zip(axes, groups):
            for name in group:
                steps, vals = zip(*self.history[name])
                ax.plot(steps, vals, label=name, marker="o" if len(vals) < 30 else None)
            ax.set_xlabel("step")
            ax.set_ylabel("accuracy" if group is acc else "value")
            ax.grid(True, alpha=0.3)
            if group:
                ax.legend(loc="best")
        if self.title:
            self.fig.suptitle(self.title)
        self._dirty = False
        return self.fig

    def _refresh(self):
        """Redraw and update the notebook output (only inside a kernel)."""
        if self._closed or not _in_ipython_kernel():
            return
        image = _png_image(self.draw())
        if self._handle is None:
            self._handle = _display(image, display_id=True)
        else:
            self._handle.update(image)

    def close(self):
        """Show the final state (in a notebook) and release the figure."""
        if self._closed:
            return
        if self._dirty:
            self._refresh()
        self._closed = True
        self.fig = None
        self._handle = None

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()
        return False


def _as_image_batch(images):
    """Return images as float array (N, H, W) or (N, H, W, C) with C in {3, 4}."""
    arr = np.asarray(_to_numpy(images), dtype=np.float64)
    if arr.ndim == 3:
        return arr
    if arr.ndim != 4:
        raise ValueError(
            f"images must have shape (N, H, W), (N, C, H, W) or (N, H, W, C); "
            f"got {arr.shape}. For a single image use images[None]; for "
            "flattened images reshape to (N, H, W) first."
        )
    if arr.shape[1] in (1, 3, 4) and arr.shape[-1] not in (1, 3, 4):
        arr = arr.transpose(0, 2, 3, 1)
    elif arr.shape[1] in (1, 3) and arr.shape[-1] in (1, 3, 4):
        # Ambiguous (e.g. (N, 3, 32, 3)): PyTorch's channels-first wins.
        arr = arr.transpose(0, 2, 3, 1)
    elif arr.shape[-1] not in (1, 3, 4):
        raise ValueError(f"cannot find a channel axis of size 1, 3 or 4 in shape {arr.shape}")
    if arr.shape[-1] == 1:
        arr = arr[..., 0]
    return arr


def _rescale(arr, scale_each):
    """Map values to [0, 1], per image or over the whole batch."""
    axes = tuple(range(1, arr.ndim)) if scale_each else None
    lo = arr.min(axis=axes, keepdims=True) if scale_each else arr.min()
    hi = arr.max(axis=axes, keepdims=True) if scale_each else arr.max()
    span = np.where(hi > lo, hi - lo, 1.0)
    return np.clip((arr - lo) / span, 0.0, 1.0)


def image_grid(images, nrow=None, titles=None, cmap="gray", ax=None, scale_each=True):
    """Show a batch of images in a grid.

    Parameters
    ----------
    images : array_like or torch.Tensor
        Shape ``(N, H, W)`` (grey), ``(N, C, H, W)`` or ``(N, H, W, C)``
        with ``C`` in 1 (grey), 3 (RGB) or 4 (RGBA).
    nrow : int, optional
        Number of images per row; default ``ceil(sqrt(N))``.
    titles : sequence of str, optional
        One title per image (e.g. predicted labels).
    cmap : str, optional
        Colour map for grey images.
    ax : matplotlib.axes.Axes, optional
        If given, the grid is drawn as one mosaic into this axes (titles are
        written onto the tiles); otherwise a new figure with one axes per
        image is created.
    scale_each : bool, optional
        Rescale each image to ``[0, 1]`` on its own (default) or the whole
        batch together.

    Returns
    -------
    matplotlib.figure.Figure
        In a notebook, end the line with ``;`` (or assign the result) so
        that the figure is not shown twice.
    """
    arr = _rescale(_as_image_batch(images), scale_each)
    n = arr.shape[0]
    if n == 0:
        raise ValueError("images is empty")
    if titles is not None:
        titles = [str(t) for t in titles]
        if len(titles) != n:
            raise ValueError(f"got {len(titles)} titles for {n} images")
    if nrow is None:
        nrow = int(np.ceil(np.sqrt(n)))
    if isinstance(nrow, bool) or not isinstance(nrow, int) or nrow < 1:
        raise ValueError(f"nrow must be an int >= 1, got {nrow!r}")
    ncol = min(nrow, n)
    nrows = int(np.ceil(n / ncol))
    h, w = arr.shape[1], arr.shape[2]

    if ax is not None:
        pad = 1
        shape = (nrows * (h + pad) + pad, ncol * (w + pad) + pad) + arr.shape[3:]
        mosaic = np.ones(shape)
        for i in range(n):
            r, c = divmod(i, ncol)
            top, left = pad + r * (h + pad), pad + c * (w + pad)
            mosaic[top : top + h, left : left + w] = arr[i]
            if titles is not None:
                ax.text(
                    left - 0.5, top - 0.5, titles[i], fontsize=7, va="top", ha="left",
                    bbox={"facecolor": "white", "alpha": 0.7, "pad": 1, "linewidth": 0},
                )
        ax.imshow(mosaic, cmap=cmap if mosaic.ndim == 2 else None, vmin=0.0, vmax=1.0)
        ax.set_axis_off()
        return ax.figure

    import matplotlib.pyplot as plt

    size = 1.3 if titles is None else 1.6
    fig, axes = plt.subplots(
        nrows, ncol, figsize=(size * ncol, size * nrows), squeeze=False
    )
    for i, a in enumerate(axes.ravel()):
        a.set_axis_off()
        if i >= n:
            continue
        a.imshow(arr[i], cmap=cmap if arr.ndim == 3 else None, vmin=0.0, vmax=1.0)
        if titles is not None:
            a.set_title(titles[i], fontsize=9)
    fig.tight_layout()
    return fig


def _class_colours(k):
    import matplotlib

    name = "tab10" if k <= 10 else "tab20"
    base = matplotlib.colormaps[name]
    if k <= base.N:
        return [base(i) for i in range(k)]
    return [matplotlib.colormaps["viridis"](i / max(k - 1, 1)) for i in range(k)]


def plot_decision_regions(predict, X, y, ax=None, resolution=200, padding=0.5, title=None):
    """Colour the plane by the class a classifier predicts, and show the data.

    Parameters
    ----------
    predict : callable
        ``predict(points) -> labels or scores`` where ``points`` is a float64
        array ``(M, 2)``; it returns integer labels ``(M,)`` or class scores
        ``(M, C)`` (the argmax is taken). NumPy arrays or torch tensors.
    X : array_like
        Data points, shape ``(N, 2)``.
    y : array_like
        Integer labels, shape ``(N,)``.
    ax : matplotlib.axes.Axes, optional
        Axes to draw into; a new figure is created if omitted.
    resolution : int, optional
        Number of grid points along each axis (``M = resolution**2``).
    padding : float, optional
        Margin around the data, in data units.
    title : str, optional
        Title of the axes.

    Returns
    -------
    matplotlib.axes.Axes
    """
    X = np.asarray(_to_numpy(X), dtype=np.float64)
    y = np.asarray(_to_numpy(y)).astype(np.int64)
    if X.ndim != 2 or X.shape[1] != 2:
        raise ValueError(f"X must have shape (N, 2), got {X.shape}")
    if y.shape != (X.shape[0],):
        raise ValueError(f"y must have shape ({X.shape[0]},), got {y.shape}")
    if isinstance(resolution, bool) or not isinstance(resolution, int) or resolution < 2:
        raise ValueError(f"resolution must be an int >= 2, got {resolution!r}")
    if not callable(predict):
        raise TypeError("predict must be callable")

    lo = X.min(axis=0) - padding
    hi = X.max(axis=0) + padding
    gx, gy = np.meshgrid(
        np.linspace(lo[0], hi[0], resolution), np.linspace(lo[1], hi[1], resolution)
    )
    points = np.stack([gx.ravel(), gy.ravel()], axis=1)
    pred = np.asarray(_to_numpy(predict(points)))
    if pred.ndim == 2 and pred.shape[0] == len(points):
        pred = pred.argmax(axis=1)
    if pred.shape != (len(points),):
        raise ValueError(
            f"predict must return labels of shape ({len(points)},) or scores of "
            f"shape ({len(points)}, C); got {pred.shape}"
        )
    pred = pred.astype(np.int64)
    k = int(max(pred.max(), y.max())) + 1

    if ax is None:
        import matplotlib.pyplot as plt

        _, ax = plt.subplots(figsize=(5, 5))
    from matplotlib.colors import ListedColormap

    colours = _class_colours(k)
    cmap = ListedColormap(colours)
    ax.contourf(
        gx, gy, pred.reshape(gx.shape), levels=np.arange(k + 1) - 0.5,
        cmap=cmap, alpha=0.3,
    )
    ax.scatter(X[:, 0], X[:, 1], c=y, cmap=cmap, vmin=-0.5, vmax=k - 0.5,
               s=15, edgecolors="k", linewidths=0.4)
    ax.set_xlim(lo[0], hi[0])
    ax.set_ylim(lo[1], hi[1])
    if title:
        ax.set_title(title)
    return ax


def _curve(values):
    """Split a list of values or of (step, value) pairs into steps and values."""
    values = list(values)
    if values and all(isinstance(v, (tuple, list)) and len(v) == 2 for v in values):
        steps = [float(s) for s, _ in values]
        vals = [float(v) for _, v in values]
        return steps, vals
    return list(range(len(values))), [float(v) for v in values]


def plot_curves(history, keys=None, ax=None, logy=False):
    """Plot a history of training metrics.

    Parameters
    ----------
    history : dict
        ``name -> list of values`` (plotted against their index) or
        ``name -> list of (step, value)`` (as recorded by :class:`LiveCurves`).
        Entries that are not lists (e.g. ``best_val_acc``) are ignored.
    keys : sequence of str, optional
        Which entries to plot; default all list-valued entries except
        ``"epoch"``. Curves recorded at different rates (per iteration and
        per epoch) share the x axis only if given as (step, value) pairs, so
        plot them separately otherwise, e.g. ``keys=["loss"]`` and
        ``keys=["train_acc", "val_acc"]``.
    ax : matplotlib.axes.Axes, optional
        Axes to draw into; a new figure is created if omitted.
    logy : bool, optional
        Logarithmic y axis (useful for losses).

    Returns
    -------
    matplotlib.axes.Axes
    """
    if not isinstance(history, dict):
        raise TypeError(f"history must be a dict, got {type(history).__name__}")
    if keys is None:
        keys = [k for k, v in history.items() if isinstance(v, (list, tuple)) and k != "epoch"]
    else:
        if isinstance(keys, str):
            keys = [keys]
        missing = [k for k in keys if k not in history]
        if missing:
            raise KeyError(f"not in history: {', '.join(map(str, missing))}")
    if ax is None:
        import matplotlib.pyplot as plt

        _, ax = plt.subplots(figsize=(6, 4))
    for key in keys:
        steps, vals = _curve(history[key])
        ax.plot(steps, vals, label=str(key), marker="o" if len(vals) < 30 else None)
    if logy:
        ax.set_yscale("log")
    ax.set_xlabel("step")
    ax.grid(True, alpha=0.3)
    if keys:
        ax.legend(loc="best")
    return ax


def explore(fn, **controls):
    """An interactive explorer: controls for ``fn``'s arguments and, below them, what ``fn`` shows.

    A drop-in for ``ipywidgets.interact(fn, **controls)``: ``controls`` maps each argument of
    ``fn`` to a widget (``FloatSlider``, ``Dropdown``, ...) or to an abbreviation that
    ``interact`` understands (a tuple ``(min, max[, step])``, a list of options, a bool).
    ``fn`` is called once now and again whenever a control changes; the figures it shows
    (``plt.show()``, ``display``) and the text it prints replace the previous ones.

    Unlike ``interact``, the output is captured in the kernel and handed to the output widget
    as its state. ``interact`` instead asks the front end to capture the output of the running
    cell; a headless client (``jupyter nbconvert --execute``, papermill) then answers with
    messages on the kernel's shell channel while it waits on that channel for the cell's reply,
    and can miss the reply and wait forever. With ``explore`` the headless client only receives.

    Parameters
    ----------
    fn : callable
        Called as ``fn(**{name: control value})``.
    **controls
        One widget or abbreviation per keyword argument of ``fn``; ``ipywidgets.fixed(value)``
        passes ``value`` without a control.

    Returns
    -------
    ipywidgets.VBox
        The controls and the output area (already displayed).
    """
    import traceback

    import ipywidgets as widgets
    from IPython.display import display
    from IPython.utils.capture import capture_output

    if not callable(fn):
        raise TypeError(f"fn must be callable, got {type(fn).__name__}")
    boxes, constants = {}, {}
    for name, control in controls.items():
        if isinstance(control, widgets.fixed):  # passed as it is, no control (as interact does)
            constants[name] = control.value
            continue
        if isinstance(control, widgets.ValueWidget):
            box = control
        else:
            box = widgets.interactive.widget_from_abbrev(control)
            if box is None:
                raise ValueError(f"cannot make a control for {name}={control!r}")
        if not getattr(box, "description", ""):
            box.description = name
        boxes[name] = box
    out = widgets.Output()

    def render(*_):
        with capture_output() as captured:
            try:
                fn(**constants, **{name: box.value for name, box in boxes.items()})
                try:  # figures left open (no plt.show()) are shown too, as interact does
                    from ipywidgets.widgets.interaction import show_inline_matplotlib_plots
                    show_inline_matplotlib_plots()
                except ImportError:
                    pass
            except Exception:
                print(traceback.format_exc(), file=sys.stderr)
        outputs = []
        for stream, text in (("stdout", captured.stdout), ("stderr", captured.stderr)):
            if text:
                outputs.append({"output_type": "stream", "name": stream, "text": text})
        for rich in captured.outputs:
            outputs.append({"output_type": "display_data", "data": dict(rich.data),
                            "metadata": dict(rich.metadata or {})})
        out.outputs = tuple(outputs)

    for box in boxes.values():
        box.observe(render, names="value")
    render()
    ui = widgets.VBox([*boxes.values(), out])
    display(ui)
    return ui
