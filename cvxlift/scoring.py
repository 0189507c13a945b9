r"""Scores of a network's output: accuracy for classification, :math:`R^2` for regression.

One definition, used by :meth:`cvxlift.LiftedNetwork.score`, the estimators and the command
line. Arrays hold one **column** per data point (as :class:`~cvxlift.LiftedNetwork`).
"""

import numpy as np

__all__ = ["accuracy", "r2", "score_output"]


def accuracy(P, Y):
    """Fraction of columns whose largest entry of ``P`` sits where ``Y``'s largest entry does.

    Parameters
    ----------
    P, Y : ndarray of shape (k, m)
        Predicted outputs and (one-hot or soft) targets.

    Returns
    -------
    float
    """
    return float(np.mean(np.argmax(P, axis=0) == np.argmax(Y, axis=0)))


def r2(Y, P):
    r"""Coefficient of determination, averaged uniformly over the outputs (rows), as
    :func:`sklearn.metrics.r2_score` with ``multioutput="uniform_average"``:

    .. math:: R^2 = \frac1k \sum_{i=1}^k \Bigl(1 - \frac{\sum_j (Y_{ij} - P_{ij})^2}
              {\sum_j (Y_{ij} - \bar Y_i)^2}\Bigr).

    An output whose targets are constant scores 1 when it is predicted exactly and 0
    otherwise (scikit-learn's convention).

    Parameters
    ----------
    Y, P : ndarray of shape (k, m)
        Targets and predictions.

    Returns
    -------
    float
    """
    Y, P = np.asarray(Y, dtype=float), np.asarray(P, dtype=float)
    num = np.sum((Y - P) ** 2, axis=1)
    den = np.sum((Y - Y.mean(axis=1, keepdims=True)) ** 2, axis=1)
    with np.errstate(divide="ignore", invalid="ignore"):
        per = np.where(den > 0, 1.0 - num / np.where(den > 0, den, 1.0), np.where(num == 0, 1.0, 0.0))
    return float(np.mean(per))


def score_output(loss_name, P, Y):
    """The score of an output: :func:`accuracy` for ``"cross_entropy"``, :func:`r2` otherwise.

    Parameters
    ----------
    loss_name : str
        The output loss of the network (``"cross_entropy"`` or ``"squared"``).
    P : ndarray (K, m)
        Predicted outputs, one column per sample.
    Y : ndarray (K, m)
        Targets, one-hot columns for ``"cross_entropy"``.

    Returns
    -------
    float
        The accuracy (fraction of columns whose arg-max agrees) or the uniform-average
        :math:`R^2` over the K outputs.
    """
    return accuracy(P, Y) if loss_name == "cross_entropy" else r2(Y, P)
