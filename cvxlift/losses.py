r"""Losses on the network output :math:`Z = X_{L+1}` (columns are data points).

==================  ==================================================  ==========
name                :math:`\mathcal L(Y, Z)`                             cones
==================  ==================================================  ==========
``"squared"``       :math:`\|Z - Y\|_F^2`                                QP
``"cross_entropy"`` :math:`-\mathrm{Tr}\, Y^T \log Z` (paper eq. 11/15)  EXP
==================  ==================================================  ==========

Cross-entropy needs ``Y`` with non-negative columns that sum to one (one-hot labels or
soft labels) and an output atom whose values are probabilities (``Simplex``).
"""

import cvxpy as cp
import numpy as np
from scipy.special import xlogy

from . import arrays as ax
from .exceptions import UnknownAtomError, ValidationError


class Loss:
    name = None
    problem_class = "QP"

    def expr(self, Y, Z):
        """The loss as a CVXPY expression in ``Z``, up to a term constant in ``Z``."""
        raise NotImplementedError

    def value(self, Y, Z):
        """The loss in numpy (``inf`` outside its domain)."""
        raise NotImplementedError

    def check_targets(self, Y):
        """Validate ``Y`` (a 2-D float array, one column per data point)."""
        return Y

    def __repr__(self):
        return repr(self.name)


class SquaredLoss(Loss):
    name = "squared"

    def expr(self, Y, Z):
        return cp.sum_squares(Z - Y)

    def value(self, Y, Z):
        if ax.is_foreign(Z):
            return float(ax.namespace(Z).sum((Z - Y) ** 2))
        return float(np.sum((np.asarray(Z) - Y) ** 2))


class CrossEntropyLoss(Loss):
    name = "cross_entropy"
    problem_class = "EXP"

    def expr(self, Y, Z):
        # -sum(Y log Z) = sum(rel_entr(Y, Z)) + sum(entr(Y)); the second term is constant in Z
        # and left out. Written with log(Z), every entry of Z gets an exponential cone even
        # where Y = 0 and the optimum sits at Z = 0: solvers then stop at optimal_inaccurate.
        return cp.sum(cp.rel_entr(Y, Z))

    def value(self, Y, Z):
        if ax.is_foreign(Z):
            xp = ax.namespace(Z)
            if bool(xp.any((Y > 0) & (Z <= 0))):
                return float("inf")
            return float(-xp.sum(Y * xp.log(xp.where(Y > 0, Z, 1.0))))  # y log z, 0 where y = 0
        Z = np.asarray(Z, dtype=float)
        if np.any((Y > 0) & (Z <= 0)):
            return float("inf")
        return float(-np.sum(xlogy(Y, np.where(Y > 0, Z, 1.0))))

    def check_targets(self, Y):
        if np.any(Y < 0):
            raise ValidationError("Y: cross-entropy targets must be non-negative (one-hot or soft labels)")
        sums = Y.sum(axis=0)
        bad = np.flatnonzero(np.abs(sums - 1.0) > 1e-6)
        if bad.size:
            raise ValidationError(
                f"Y: each column must sum to 1 for cross-entropy (one-hot labels); "
                f"column {bad[0]} sums to {sums[bad[0]]:.6g}"
            )
        return Y


LOSSES = {cls.name: cls for cls in (SquaredLoss, CrossEntropyLoss)}


def get_loss(spec):
    if isinstance(spec, Loss):
        return spec
    if isinstance(spec, str) and spec in LOSSES:
        return LOSSES[spec]()
    raise UnknownAtomError(f"loss must be one of {sorted(LOSSES)}, got {spec!r}")
