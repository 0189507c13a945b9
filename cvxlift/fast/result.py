"""What a fast block solve reports: :class:`BlockResult`."""

from dataclasses import dataclass, field
from typing import Optional

import numpy as np


@dataclass
class BlockResult:
    """Outcome of one fast block solve.

    Attributes
    ----------
    iterations : int
        Iterations of the method (0 for a closed form; bisection halvings for the
        cross-entropy output step; Newton iterations or sweeps for
        :func:`~cvxlift.fast.lifted_predict` and :func:`~cvxlift.fast.joint_x_step`).
    certificate : float
        The stopping certificate at the returned point (see each solver): a relative
        gradient norm, a relative fixed-point (prox-gradient) or KKT residual, a duality
        gap, or the constraint residual ``max |1^T z - 1|``. Smaller is better; 0 for exact
        forms. For the column-separable solvers, the largest column's.
    converged : bool
        ``certificate <= tol`` (or an exact method).
    seconds : float
        Wall-clock time of the solve.
    objective : float
        Value of the block objective at the returned point, evaluated with the atoms'
        exact numpy ``divergence_value``.
    solver : str
        Name of the registry candidate that ran (e.g. ``"w_step/ridge"``).
    certificates : ndarray or None
        Per-column certificates of a column-separable solve (``None`` where the solver
        certifies a whole block at once). A column whose certificate is above ``tol`` was
        not certified (``converged`` is then ``False``).
    n_fallback : int
        Columns that the selected solver left above ``tol`` and that a slower exact
        method (``fallback``) finished, warm-started at the selected solver's point.
    fallback : str
        Name of the candidate that finished those columns (``""`` if none was needed).
    tol : float
        The tolerance the certificates were held to (NaN where not recorded).
    """

    iterations: int
    certificate: float
    converged: bool
    seconds: float
    objective: float
    solver: str = ""
    certificates: Optional[np.ndarray] = field(default=None, repr=False, compare=False)
    n_fallback: int = 0
    fallback: str = ""
    tol: float = float("nan")

    @property
    def n_uncertified(self):
        """Columns whose certificate is above ``tol`` (0 where there are no per-column certificates)."""
        if self.certificates is None or not np.isfinite(self.tol):
            return 0
        return int(np.sum(~(self.certificates <= self.tol)))
