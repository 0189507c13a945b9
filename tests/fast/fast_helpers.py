"""Shared pieces of the fast-solver certification tests.

The instances and the reference checks live in the package (one mechanism for the tests
and for ``cvxlift.certify``): :mod:`cvxlift.battery` holds the random and ill-conditioned
instances of every block, :mod:`cvxlift.reference` builds each block's CVXPY problem with
:mod:`cvxlift.assembly`, solves it tightly, and grades a candidate (objective gap,
distance to the reference iterate, optimality residual) with the tolerances below.

Constant data enter hand-written CVXPY problems as ``cp.Parameter`` values: CVXPY 1.x
cannot canonicalise ``indicator([Z >= 0])`` on a *constant* ``Z`` in a QP objective (an
``AttributeError`` in ``coeff_extractor``), while a Parameter works.
"""

import math

import cvxpy as cp
import numpy as np

from cvxlift import cvxsolve
from cvxlift.battery import ATOMS, ill_conditioned, seed_of  # noqa: F401  (re-exported for the tests)
from cvxlift.reference import ITER_RTOL, OBJ_ATOL, OBJ_RTOL  # noqa: F401  (the tolerances of the checks)


def param(value):
    P = cp.Parameter(np.shape(value))
    P.value = np.asarray(value, dtype=float)
    return P


def bias(b, m):
    return cp.reshape(b, (b.shape[0], 1), order="F") @ np.ones((1, m))


def cvx_solve(problem, problem_class, allow_inaccurate=False):
    info = cvxsolve.solve(problem, problem_class, accuracy="tight", allow_inaccurate=allow_inaccurate)
    return info


def approx_errors(d):
    """``(phi_error, phi_star_error)`` per entry of an approximate atom's DCP expressions (0 if exact)."""
    if not getattr(d, "approximate", False):
        return 0.0, 0.0
    return float(d.phi_error), float(getattr(d, "phi_star_error", d.phi_error))


def assert_objectives(F_fast, F_cvx, slack=0.0, what=""):
    """Fast not worse than CVXPY by more than OBJ_RTOL (relative); CVXPY not better than fast by
    more than OBJ_RTOL plus ``slack`` (the error of an approximate DCP expression)."""
    tol = OBJ_RTOL * abs(F_cvx) + OBJ_ATOL
    assert F_fast <= F_cvx + tol, f"{what}: fast objective {F_fast!r} worse than CVXPY {F_cvx!r}"
    assert F_cvx <= F_fast + tol + slack, (
        f"{what}: CVXPY objective {F_cvx!r} better than fast {F_fast!r} by more than {tol + slack:.3g}"
    )


def assert_close(A_fast, A_cvx, tol=None, what=""):
    A_fast, A_cvx = np.asarray(A_fast), np.asarray(A_cvx)
    err = float(np.linalg.norm(A_fast - A_cvx))
    bound = ITER_RTOL * (1.0 + float(np.linalg.norm(A_cvx))) if tol is None else tol
    assert err <= bound, f"{what}: ||fast - cvxpy|| = {err:.3g} > {bound:.3g}"


def sqrt_bound(x):
    return math.sqrt(max(x, 0.0))


def assert_check(rep, ref, candidate, what="", residual=True, known_unique=()):
    """``rep = ref.check(candidate)`` passed: the objective gap, every distance row and (with
    ``residual``) the optimality residual. A distance the reference cannot decide from the atoms'
    structure (``n/a``) is compared here, to ITER_RTOL, for the variables in ``known_unique``:
    e.g. the jointly convex leaky ReLU, ``||z - u||^2`` on ``z >= a u``, is 2-strongly convex in z
    without being ``z_quadratic``."""
    label = f"{what}\n{rep}"
    assert rep.row("objective gap").passed, label
    parts = dict(ref.problem.parts(ref.problem.normalize(candidate)))
    refs = dict(ref.problem.parts(ref.solution))
    for row in rep.rows:
        if not row.name.startswith("distance"):
            continue
        key = row.name.split(" ", 1)[1]
        if row.passed is None:
            if ref.status == "optimal" and key in known_unique:
                assert_close(parts[key], refs[key], what=f"{what} {key}")
        else:
            assert row.passed, label
    if residual:
        assert rep.row("residual").passed is not False, label


def to_lib(args, lib):
    """The numpy arrays in ``args`` (a tuple, list or dict of them) as arrays of ``lib``."""
    if lib == "numpy":
        return args
    import torch

    def conv(a):
        if isinstance(a, np.ndarray):
            return torch.from_numpy(np.array(a, dtype=np.float64))
        if isinstance(a, (list, tuple)) and any(isinstance(x, np.ndarray) for x in a):
            return type(a)(conv(x) for x in a)
        return a

    if isinstance(args, dict):
        return {k: conv(v) for k, v in args.items()}
    if isinstance(args, np.ndarray):
        return conv(args)
    return type(args)(conv(a) for a in args)


def from_lib(x, lib):
    """``x`` (an array or a tuple/list of arrays) as numpy, after checking it is an array of ``lib``
    (float64, on the CPU for torch)."""
    if isinstance(x, (list, tuple)):
        return type(x)(from_lib(a, lib) for a in x)
    if lib == "numpy":
        assert isinstance(x, np.ndarray), type(x)
        return x
    import torch

    assert isinstance(x, torch.Tensor), type(x)
    assert x.device.type == "cpu" and x.dtype == torch.float64, (x.device, x.dtype)
    return x.numpy()
