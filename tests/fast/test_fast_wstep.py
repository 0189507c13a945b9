"""Certification of the fast W-step against the CVXPY formulation of the same block.

min_{W,b} lam * D(W A + b 1^T, Z) + rho ||W||_F^2, CVXPY built from ``d.divergence``.
Iterates: W is unique (rho > 0 makes the problem strongly convex in W), b too for the ridge
solver; both compared to ITER_RTOL. For the approximate ``Sin`` atom the CVXPY Phi* is a
tangent under-estimate with error <= phi_star_error per entry, so the CVXPY minimiser is
suboptimal for the exact objective by at most lam * q * m * phi_star_error (the slack) and
||W_cvx - W*||_F <= sqrt(slack / rho).
"""
import numpy as np
import pytest

import cvxpy as cp
from cvxlift import fast
from fast_helpers import ATOMS, approx_errors, assert_close, assert_objectives, bias, cvx_solve, ill_conditioned, param, seed_of

CASES = [
    ("relu", "joint"), ("relu", "fenchel"), ("leaky_relu", "fenchel"), ("clipped", "joint"),
    ("clipped", "fenchel"), ("sigmoid", "fenchel"), ("tanh", "fenchel"), ("identity", "fenchel"),
    ("identity", "joint"), ("simplex", "joint"), ("simplex", "fenchel"), ("sin", "fenchel"),
]


@pytest.mark.parametrize("shape", ["well", "ill"])
@pytest.mark.parametrize("ratio", [0.1, 1.0, 10.0])
@pytest.mark.parametrize("name,form", CASES)
def test_w_step_matches_cvxpy(name, form, ratio, shape):
    d = ATOMS[name]
    rng = np.random.default_rng(seed_of(name, form, ratio, shape))
    if shape == "well":
        p, q, m = 6, 4, 25
        A = rng.normal(size=(p, m))
    else:  # input with singular values 1e-3 .. 1e2 and a large mean
        p, q, m = 8, 3, 30
        A = ill_conditioned(rng, p, m) + 5.0
    Z = d.forward(2.0 * rng.normal(size=(q, m)))
    lam, rho = ratio, 1.0

    W, b, info = fast.w_step(A, Z, d, form, lam, rho)
    expected = "w_step/ridge" if (form == "joint" or name == "identity") else "w_step/majorize"
    assert info.solver == expected
    assert info.converged and info.certificate <= 1e-10

    Wv, bv = cp.Variable((q, p)), cp.Variable(q)
    obj = lam * d.divergence(Wv @ A + bias(bv, m), param(Z), form) + rho * cp.sum_squares(Wv)
    cvx_solve(cp.Problem(cp.Minimize(obj)), d.problem_class(form))
    F_cvx = fast.w_objective(A, Z, Wv.value, bv.value, d, form, lam, rho)
    _, star_err = approx_errors(d)
    slack = lam * q * m * star_err
    assert_objectives(info.objective, F_cvx, slack, what=f"{d!r} {form}")
    assert np.isclose(info.objective, fast.w_objective(A, Z, W, b, d, form, lam, rho))
    tol = None if slack == 0 else np.sqrt(slack / rho) + 1e-5 * (1 + np.linalg.norm(Wv.value))
    assert_close(W, Wv.value, tol, what="W")
    if info.solver == "w_step/ridge":
        assert_close(b, bv.value, what="b")
