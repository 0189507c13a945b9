"""Training lifted networks: one block-coordinate-descent engine over pluggable block solvers.

- :class:`BCD`: the sweep, the monotone accept/undo guard, interrupts, callbacks;
- backends (:class:`Backend`): :class:`CvxpyBackend` (the assembled CVXPY blocks, compiled once
  per shape, penalties as Parameters) and :class:`FastBackend` (the registry of hand-coded
  solvers, with a CVXPY fallback per block that warns or raises);
- callbacks (:class:`Callback`): :class:`Scores`, :class:`EarlyStopping`,
  :class:`PenaltyContinuation`, :class:`PrintSweeps`, :class:`ProgressBar`,
  :class:`FunctionCallback`;
- :func:`fit_options`: the declarative table of :meth:`cvxlift.LiftedNetwork.fit`'s keywords.

:meth:`cvxlift.LiftedNetwork.fit`, the scikit-learn estimators and the ``cvxlift`` command
all train through :class:`BCD`.
"""

from .backend import Backend, CvxpyInfo
from .callbacks import Callback, EarlyStopping, FunctionCallback, PenaltyContinuation, PrintSweeps, ProgressBar, Scores
from .cvxpy_backend import CvxpyBackend, compiled_blocks
from .engine import BCD, SCHEDULES
from .fast_backend import FALLBACKS, FastBackend
from .options import FIT_OPTIONS, fit_options

__all__ = [
    "BCD",
    "SCHEDULES",
    "Backend",
    "CvxpyInfo",
    "CvxpyBackend",
    "FastBackend",
    "FALLBACKS",
    "compiled_blocks",
    "Callback",
    "Scores",
    "EarlyStopping",
    "PenaltyContinuation",
    "PrintSweeps",
    "ProgressBar",
    "FunctionCallback",
    "FIT_OPTIONS",
    "fit_options",
    "make_backend",
]


def make_backend(solver="cvxpy", cvxpy_solver=None, fast_options=None, fallback="warn"):
    """The backend that ``fit(solver=...)`` names.

    Parameters
    ----------
    solver : {"cvxpy", "fast"}
    cvxpy_solver : str, optional
        Pin the CVXPY solver (of every CVXPY block, fallbacks included).
    fast_options : dict, optional
        Options of the fast solvers by block kind.
    fallback : {"warn", "error"}
        What a block without a fast solver does under ``solver="fast"``.

    Returns
    -------
    Backend
    """
    cvx = CvxpyBackend(solver=cvxpy_solver)
    if solver == "fast":
        return FastBackend(options=fast_options, fallback=fallback, cvxpy=cvx)
    return cvx
