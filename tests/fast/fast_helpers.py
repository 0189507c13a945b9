"""Shared pieces of the fast-solver certification tests: random instances, the CVXPY
formulations of each block built from the atoms' own expressions, and the tolerances.

Constant data enter the CVXPY problems as ``cp.Parameter`` values: CVXPY 1.x cannot
canonicalise ``indicator([Z >= 0])`` on a *constant* ``Z`` in a QP objective (an
``AttributeError`` in ``coeff_extractor``), while a Parameter works.
"""
import math

import cvxpy as cp
import numpy as np

import cvxlift
from cvxlift import cvxsolve

#: Objective agreement (relative): the fast solution must not be worse than CVXPY's by more.
OBJ_RTOL = 1e-6
#: Iterate agreement where the block is strongly convex: ||fast - cvxpy||_F <= ITER_RTOL (1 + ||cvxpy||_F).
ITER_RTOL = 1e-5
#: Absolute floor of the objective comparison (objectives near 0).
OBJ_ATOL = 1e-10


def ill_conditioned(rng, q, p, lo=-3.0, hi=2.0):
    """A ``q x p`` matrix with singular values ``logspace(lo, hi, min(q, p))``."""
    U, _ = np.linalg.qr(rng.normal(size=(q, q)))
    V, _ = np.linalg.qr(rng.normal(size=(p, p)))
    k = min(q, p)
    return U[:, :k] @ np.diag(np.logspace(lo, hi, k)) @ V[:, :k].T


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
    return float(d.phi_error), float(d.phi_star_error)


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


ATOMS = {
    "relu": cvxlift.ReLU(),
    "leaky_relu": cvxlift.LeakyReLU(0.1),
    "clipped": cvxlift.Clipped(),
    "sigmoid": cvxlift.Sigmoid(),
    "tanh": cvxlift.Tanh(),
    "identity": cvxlift.Identity(),
    "simplex": cvxlift.Simplex(),
    "sin": cvxlift.Sin(),
}


def seed_of(*parts):
    """A deterministic seed from the test parameters (``hash`` of a str is salted per process)."""
    import zlib

    return zlib.crc32(repr(parts).encode())
