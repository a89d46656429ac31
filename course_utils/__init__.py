"""Shared helpers for the deep-learning workbook.

Modules
-------
concepts
    Concept checks graded after submission: ``check_answer_format`` validates only the
    format of an answer (the same output for a right and a wrong one); ``grade_answer``
    compares it with the key in the hidden tests.
checks
    Comparisons for graded cells that explain what is wrong
    (``check_array``, ``check_scalar``, ``check_shape``, ``check_grads``,
    ``check_true``, ``check_tensor``, ``check_vectorized``, ``check_unmodified``,
    ``rel_error``, ``CheckFailure``).
gradcheck
    Numerical gradients by central differences and a checker for layer
    backward passes.
data
    Seeding, the 8x8 digits split into train/val/test, toy 2-D data sets and
    a loader for MNIST, Fashion-MNIST and CIFAR-10 files.
plotting
    Live training curves for notebooks, image grids, decision regions,
    static curve plots, and ``explore``, interactive explorers that also
    run headless.
progress
    tqdm progress bars that can be switched off for grading and tests, and
    ``autograding()``, which tells a notebook that it is being graded (so
    that long demonstrations can be shortened).
training
    A minibatch training loop for NumPy models and ``get_device`` for PyTorch.

Importing the package is cheap: it loads NumPy and these small modules
only; matplotlib, tqdm, scikit-learn, IPython, torch and torchvision are
imported inside the functions that need them. Import the package before any
student code runs, so that ``checks`` captures the genuine NumPy functions.

Note that ``course_utils.progress`` is the *function* ``progress``; the
module of the same name is ``sys.modules["course_utils.progress"]``.
"""

from .checks import (
    CheckFailure,
    check_array,
    check_grads,
    check_scalar,
    check_shape,
    check_tensor,
    check_true,
    check_unmodified,
    check_vectorized,
    rel_error,
)
from .concepts import check_answer_format, grade_answer
from .data import (
    blobs,
    gaussian_ring,
    load_digits,
    load_torchvision_dataset,
    make_rng,
    seed_everything,
    spirals,
    two_moons,
)
from .gradcheck import (
    check_layer_gradients,
    eval_numerical_gradient,
    eval_numerical_gradient_array,
    grad_check_sparse,
)
from .plotting import LiveCurves, explore, image_grid, plot_curves, plot_decision_regions
from .progress import autograding, progress
from .training import accuracy, get_device, train

__version__ = "0.1.0"

__all__ = [
    "CheckFailure",
    "rel_error",
    "check_array",
    "check_scalar",
    "check_shape",
    "check_grads",
    "check_true",
    "check_tensor",
    "check_vectorized",
    "check_unmodified",
    "check_answer_format",
    "grade_answer",
    "eval_numerical_gradient",
    "eval_numerical_gradient_array",
    "grad_check_sparse",
    "check_layer_gradients",
    "make_rng",
    "seed_everything",
    "load_digits",
    "gaussian_ring",
    "two_moons",
    "blobs",
    "spirals",
    "load_torchvision_dataset",
    "LiveCurves",
    "explore",
    "image_grid",
    "plot_decision_regions",
    "plot_curves",
    "progress",
    "autograding",
    "accuracy",
    "train",
    "get_device",
]
