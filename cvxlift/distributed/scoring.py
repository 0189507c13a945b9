r"""Scores of a column-chunked output as reductions: :func:`score_output`.

The same numbers as :func:`cvxlift.scoring.score_output` (accuracy for ``cross_entropy``,
:math:`R^2` averaged over the outputs otherwise), from sums over chunks: the count of correct
columns; and, for :math:`R^2`, the row means :math:`\bar y` (one reduction), then
:math:`\sum_j (Y - P)^2` and :math:`\sum_j (Y - \bar y)^2` per row (a second one).
"""

import numpy as np

from . import kernels
from .chunks import as_columns, compute, reduce_columns

__all__ = ["score_output"]


def score_output(loss_name, P, Y):
    """Accuracy (``loss_name == "cross_entropy"``) or :math:`R^2` of output ``P`` against ``Y``.

    Parameters
    ----------
    loss_name : str
    P, Y : dask arrays of shape (k, m)
        Outputs and targets (``Y`` is rechunked like ``P`` if needed).

    Returns
    -------
    float
    """
    P = as_columns(P, "P")
    Y = as_columns(Y, "Y", rows=P.shape[0], like=P)
    if loss_name == "cross_entropy":
        ((correct, total),) = compute(reduce_columns(kernels.accuracy_counts, [P, Y], name="accuracy"))
        return float(correct / total)
    ((m, s),) = compute(reduce_columns(kernels.column_sums, [Y], name="target-sums"))
    ybar = np.asarray(s, dtype=np.float64) / m
    ((num, den),) = compute(reduce_columns(kernels.r2_partials, [Y, P], (ybar,), name="r2"))
    with np.errstate(divide="ignore", invalid="ignore"):
        per = np.where(den > 0, 1.0 - num / np.where(den > 0, den, 1.0), np.where(num == 0, 1.0, 0.0))
    return float(np.mean(per))
