"""Solving CVXPY problems with a solver picked from the cones a problem needs.

Every solve checks its status. A solver that raises, reports ``optimal_inaccurate``,
reports a non-optimal status, or reports ``optimal`` without a finite value for every
variable is followed by the next solver of the preference list; when every solver has
failed, :class:`~cvxlift.exceptions.SolverError` names the block, each solver tried and
what it reported. With ``allow_inaccurate=True`` the first ``optimal_inaccurate`` solution
is used instead (re-computed if a later solver overwrote it). See ``docs/reliability.md``.

Preference lists (first installed one first):

=======  ==========================================
class    solvers
=======  ==========================================
``QP``   OSQP (polished), Clarabel, ECOS, SCS
``SOC``  Clarabel, ECOS, SCS
``EXP``  Clarabel, ECOS, SCS
=======  ==========================================

ECOS and Clarabel have been seen to report "infeasible" on feasible projection problems
with entries of size ``|u| >= 1e3``; that is why a QP goes to OSQP first and why every
failure falls through to the next solver.
"""

import time
import warnings
from dataclasses import dataclass, field

import cvxpy as cp
import numpy as np

from .exceptions import SolverError

PREFERENCE = {
    "QP": ("OSQP", "CLARABEL", "ECOS", "SCS"),
    "SOC": ("CLARABEL", "ECOS", "SCS"),
    "EXP": ("CLARABEL", "ECOS", "SCS"),
}
# The same order serves ``accuracy="tight"``: OSQP's polished solution is exact at kinks, where
# an interior-point method stops ~sqrt(tol) away (degenerate multipliers); an atom with many
# affine pieces (``Sin``) declares ``"SOC"`` so that Clarabel goes first for it.
_RANK = {"QP": 0, "SOC": 1, "EXP": 2}


def _osqp_polish_key():
    """OSQP 1.x renamed ``polish`` to ``polishing``."""
    try:
        import osqp

        major = int(str(getattr(osqp, "__version__", "0")).split(".")[0])
    except (ImportError, ValueError):
        major = 0
    return "polishing" if major >= 1 else "polish"


_POLISH = _osqp_polish_key()

SETTINGS = {
    "tight": {
        "OSQP": dict(eps_abs=1e-9, eps_rel=1e-9, max_iter=50000, **{_POLISH: True}),
        "CLARABEL": dict(tol_gap_abs=1e-10, tol_gap_rel=1e-10, tol_feas=1e-10, max_iter=400),
        "ECOS": dict(abstol=1e-10, reltol=1e-10, feastol=1e-10, max_iters=400),
        "SCS": dict(eps_abs=1e-10, eps_rel=1e-10, max_iters=50000),
    },
    "default": {
        "OSQP": dict(eps_abs=1e-8, eps_rel=1e-8, max_iter=200000, **{_POLISH: True}),
        "CLARABEL": dict(),
        "ECOS": dict(),
        "SCS": dict(eps_abs=1e-8, eps_rel=1e-8, max_iters=20000),
    },
}


def combine_classes(*classes):
    """The smallest problem class that holds every class given (``QP`` < ``SOC`` < ``EXP``)."""
    classes = [c for c in classes if c]
    if not classes:
        return "QP"
    for c in classes:
        if c not in _RANK:
            raise ValueError(f"unknown problem class {c!r}; expected one of {sorted(_RANK)}")
    return max(classes, key=_RANK.__getitem__)


def installed_solvers():
    return set(cp.installed_solvers())


@dataclass
class SolveInfo:
    """What one solve did: the solver that succeeded, its status, and every attempt."""

    solver: str
    status: str
    seconds: float
    attempts: list = field(default_factory=list)


def candidate_solvers(problem_class="QP", solver=None, accuracy="default"):
    """The solvers to try, in order. ``solver`` (a name) pins the choice."""
    have = installed_solvers()
    if solver is not None:
        name = str(solver).upper()
        if name not in have:
            raise SolverError(f"solver={solver!r} is not installed; installed solvers: {sorted(have)}")
        return [name]
    if problem_class not in PREFERENCE:
        raise ValueError(f"problem_class must be one of {sorted(PREFERENCE)}, got {problem_class!r}")
    names = [s for s in PREFERENCE[problem_class] if s in have]
    if not names:
        raise SolverError(
            f"no installed solver handles a {problem_class} problem; install one of "
            f"{list(PREFERENCE[problem_class])} (installed: {sorted(have)})"
        )
    return names


def solve(
    problem,
    problem_class="QP",
    solver=None,
    block="problem",
    accuracy="default",
    allow_inaccurate=False,
    solver_options=None,
):
    """Solve ``problem`` with the first solver of the preference list that succeeds.

    Parameters
    ----------
    problem : cvxpy.Problem
    problem_class : {"QP", "SOC", "EXP"}
        The cones the problem needs (atoms state theirs in ``Divergence.cones``).
    solver : str, optional
        Pin one solver; a name that is not installed raises :class:`SolverError`.
    block : str
        Names the block in error messages (e.g. ``"layer 1, X-step"``).
    accuracy : {"default", "tight"}
    allow_inaccurate : bool
        Accept ``optimal_inaccurate`` when no solver reaches ``optimal``.
    """
    if accuracy not in SETTINGS:
        raise ValueError(f"accuracy must be one of {sorted(SETTINGS)}, got {accuracy!r}")
    attempts = []
    inaccurate = None
    for name in candidate_solvers(problem_class, solver, accuracy):
        t0 = time.perf_counter()
        status = _attempt(problem, name, _options(accuracy, name, solver_options))
        dt = time.perf_counter() - t0
        attempts.append((name, status))
        if status == cp.OPTIMAL:
            return SolveInfo(name, status, dt, attempts)
        if status == cp.OPTIMAL_INACCURATE and inaccurate is None:
            inaccurate = (name, dt)
    if allow_inaccurate and inaccurate is not None:
        name, dt = inaccurate
        if attempts[-1] != (name, cp.OPTIMAL_INACCURATE):
            # a later solver overwrote the variables: solve again with the inaccurate one
            status = _attempt(problem, name, _options(accuracy, name, solver_options))
            attempts.append((name, status))
            if status not in (cp.OPTIMAL, cp.OPTIMAL_INACCURATE):
                tried = "; ".join(f"{n}: {s}" for n, s in attempts)
                raise SolverError(f"{block}: no solver reached an optimal solution ({tried})")
        return SolveInfo(name, problem.status, dt, attempts)
    tried = "; ".join(f"{n}: {s}" for n, s in attempts)
    raise SolverError(f"{block}: no solver reached an optimal solution ({tried})")


def _options(accuracy, name, solver_options):
    opts = dict(SETTINGS[accuracy].get(name, {}))
    if solver_options:
        opts.update(solver_options)
    return opts


def _attempt(problem, name, opts):
    """One solve; the status, or ``"error: <type>: <message>"`` when the solver raised.
    A status of ``optimal`` with a variable left without a finite value counts as an error
    (the caller would otherwise read ``None`` or NaN as the solution)."""
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", UserWarning)  # statuses are checked below
            problem.solve(solver=name, **opts)
        status = problem.status
    except (cp.error.SolverError, ValueError, ArithmeticError) as exc:
        return f"error: {type(exc).__name__}: {(str(exc).splitlines() or [''])[0][:200]}"
    if status in (cp.OPTIMAL, cp.OPTIMAL_INACCURATE):
        for v in problem.variables():
            if v.value is None or not np.all(np.isfinite(v.value)):
                return f"{status} but variable {v.name()} has no finite value"
    return status
