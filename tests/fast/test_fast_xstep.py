"""Certification of the fast hidden-layer X-step (paper eq. 13) against CVXPY.

min_Z lam_prev D_prev(U0, Z) + lam_next D_next(W Z + b 1^T, Znext), CVXPY built from
``d.divergence``. Every D_prev here is strongly convex in z with modulus >= 1 (Phi'' >= 1,
or mu ||z - u||^2 with 2 mu >= 1), so the block is lam_prev-strongly convex and the
minimiser is unique: iterates are compared to ITER_RTOL. For the approximate ``Sin`` atom
the CVXPY minimiser is suboptimal for the exact objective by at most the slack
lam_prev p m phi_error (as D_prev) + lam_next q m phi_star_error (as D_next), hence
||Z_cvx - Z*||_F <= sqrt(2 slack / lam_prev).
"""
import numpy as np
import pytest

import cvxpy as cp
from cvxlift import cvxsolve, fast
from fast_helpers import (ATOMS, approx_errors, assert_close, assert_objectives, bias, cvx_solve, ill_conditioned,
                          param, seed_of)

PREV = [
    ("relu", "joint"), ("relu", "fenchel"), ("leaky_relu", "fenchel"), ("leaky_relu", "joint"),
    ("clipped", "joint"), ("clipped", "fenchel"), ("sigmoid", "fenchel"), ("tanh", "fenchel"),
    ("identity", "fenchel"), ("simplex", "joint"), ("simplex", "fenchel"), ("sin", "fenchel"),
]
NEXT = [
    ("relu", "joint"), ("sigmoid", "fenchel"), ("simplex", "fenchel"), ("identity", "joint"),
    ("tanh", "fenchel"), ("relu", "fenchel"), ("clipped", "fenchel"), ("leaky_relu", "fenchel"),
    ("simplex", "joint"), ("sin", "fenchel"), ("identity", "fenchel"), ("clipped", "joint"),
]
RATIOS = (0.1, 1.0, 10.0)
#: atoms whose prox is a bisection (expensive): ill-conditioned only at the mildest ratio
SLOW_PROX = {"sigmoid", "tanh", "sin"}


def _cases():
    cases = []
    for i, prev in enumerate(PREV):
        for j, ratio in enumerate(RATIOS):
            nxt = NEXT[(i + 5 * j) % len(NEXT)]
            exp_cone = {prev[0], nxt[0]} & {"sigmoid", "tanh"}
            if exp_cone and nxt[0] == "sin" or prev[0] == "sin" and nxt[0] in ("sigmoid", "tanh"):
                nxt = ("relu", "joint")  # exponential cone + 64-piece max-affine: CVXPY stalls
            cases.append((prev, nxt, ratio, "wide"))
            cases.append((prev, nxt, ratio, "tall"))
            if prev[0] not in SLOW_PROX or ratio == 0.1:
                cases.append((prev, nxt, ratio, "ill"))
    # the exact solver (identity prev, quadratic next) at an ill-conditioned W
    cases.append((("identity", "joint"), ("relu", "joint"), 10.0, "ill"))
    return cases


CASES = _cases()


def _instance(rng, shape, d_prev, d_next):
    if shape == "wide":
        p, q, m = 6, 4, 20
        W = rng.normal(size=(q, p))
    elif shape == "tall":
        p, q, m = 5, 8, 15
        W = rng.normal(size=(q, p)) / 2
    else:  # singular values 1e-3 .. 1e2
        p, q, m = 6, 8, 15
        W = ill_conditioned(rng, q, p)
    b = rng.normal(size=q)
    U0 = 2.0 * rng.normal(size=(p, m))
    Znext = d_next.forward(2.0 * rng.normal(size=(q, m)))
    return W, b, U0, Znext


@pytest.mark.parametrize("prev,nxt,ratio,shape", CASES,
                         ids=[f"{a[0]}-{a[1]}:{b[0]}-{b[1]}:r{r}:{s}" for a, b, r, s in CASES])
def test_x_step_matches_cvxpy(prev, nxt, ratio, shape):
    (pn, fp), (nn, fn) = prev, nxt
    dp, dn = ATOMS[pn], ATOMS[nn]
    rng = np.random.default_rng(seed_of(prev, nxt, ratio, shape))
    W, b, U0, Znext = _instance(rng, shape, dp, dn)
    p, m = U0.shape
    q = W.shape[0]
    lam_prev, lam_next = 1.0, ratio

    props = dict(prev=fast.atom_props(dp, fp), next=fast.atom_props(dn, fn))
    methods = [c.name for c in fast.candidates("x_step") if c.predicate(**props)]
    results = [fast.x_step(U0, W, b, Znext, dp, fp, dn, fn, lam_prev, lam_next, method=k) for k in methods]
    for Z, info in results:
        assert info.converged and info.certificate <= 1e-9, info
    Z, info = results[0]

    Zv = cp.Variable((p, m))
    obj = lam_prev * dp.divergence(param(U0), Zv, fp) + lam_next * dn.divergence(W @ Zv + bias(b, m), param(Znext), fn)
    cvx_solve(cp.Problem(cp.Minimize(obj)), cvxsolve.combine_classes(dp.problem_class(fp), dn.problem_class(fn)))
    pb = fast.XStepProblem(U0, W, b, Znext, dp, fp, dn, fn, lam_prev, lam_next)
    F_cvx = pb.objective(Zv.value)
    slack = lam_prev * p * m * approx_errors(dp)[0] + lam_next * q * m * approx_errors(dn)[1]
    assert_objectives(info.objective, F_cvx, slack, what=f"{prev} -> {nxt}")
    tol = None if slack == 0 else np.sqrt(2 * slack / lam_prev) + 1e-5 * (1 + np.linalg.norm(Zv.value))
    for Z, info in results:   # every applicable registered solver against the same reference
        assert_objectives(info.objective, F_cvx, slack, what=f"{info.solver}: {prev} -> {nxt}")
        assert_close(Z, Zv.value, tol, what=f"Z ({info.solver})")


def test_x_step_warm_start_and_certificate():
    """A warm start at the solution stops at once; the reported certificate bounds the
    fixed-point residual recomputed from scratch."""
    rng = np.random.default_rng(7)
    dp, dn = ATOMS["relu"], ATOMS["simplex"]
    W, b, U0, Znext = _instance(rng, "wide", dp, dn)
    Z, info = fast.x_step(U0, W, b, Znext, dp, "joint", dn, "joint", 1.0, 3.0)
    Z2, info2 = fast.x_step(U0, W, b, Znext, dp, "joint", dn, "joint", 1.0, 3.0, Z0=Z)
    assert info2.iterations <= 2 and info2.converged
    res = fast.XStepProblem(U0, W, b, Znext, dp, "joint", dn, "joint", 1.0, 3.0).residual(Z)
    assert res.max() <= 1e-9
