"""What a fast block solve reports: :class:`BlockResult`."""
from dataclasses import dataclass


@dataclass
class BlockResult:
    """Outcome of one fast block solve.

    Attributes
    ----------
    iterations : int
        Iterations of the method (0 for a closed form; bisection halvings for the
        cross-entropy output step; sweeps for :func:`~cvxlift.fast.lifted_predict`).
    certificate : float
        The stopping certificate at the returned point (see each solver): a relative
        gradient norm, a relative fixed-point (prox-gradient) residual, or the
        constraint residual ``max |1^T z - 1|``. Smaller is better; 0 for exact forms.
    converged : bool
        ``certificate <= tol`` (or an exact method).
    seconds : float
        Wall-clock time of the solve.
    objective : float
        Value of the block objective at the returned point, evaluated with the atoms'
        exact numpy ``divergence_value``.
    solver : str
        Name of the registry candidate that ran (e.g. ``"w_step/ridge"``).
    """

    iterations: int
    certificate: float
    converged: bool
    seconds: float
    objective: float
    solver: str = ""
