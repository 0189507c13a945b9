"""Certification of the fast W-step against the CVXPY formulation of the same block.

min_{W,b} lam * D(W A + b 1^T, Z) + rho ||W||_F^2, CVXPY built from ``d.divergence``.
Every registered candidate that applies to the atom (``ridge``, ``pncg``, ``majorize``) runs
against the same CVXPY solution. Iterates: W is unique (rho > 0 makes the problem strongly
convex in W), b too for the ridge solver; both compared to ITER_RTOL. For the approximate
``Sin`` atom the CVXPY Phi* is a tangent under-estimate with error <= phi_star_error per
entry, so the CVXPY minimiser is suboptimal for the exact objective by at most
lam * q * m * phi_star_error (the slack) and ||W_cvx - W*||_F <= sqrt(slack / rho).
"""
import numpy as np
import pytest

import cvxpy as cp
from cvxlift import fast
from cvxlift.exceptions import ValidationError
from fast_helpers import ATOMS, approx_errors, assert_close, assert_objectives, bias, cvx_solve, ill_conditioned, param, seed_of

CASES = [
    ("relu", "joint"), ("relu", "fenchel"), ("leaky_relu", "fenchel"), ("clipped", "joint"),
    ("clipped", "fenchel"), ("sigmoid", "fenchel"), ("tanh", "fenchel"), ("identity", "fenchel"),
    ("identity", "joint"), ("simplex", "joint"), ("simplex", "fenchel"), ("sin", "fenchel"),
]


def _instance(name, ratio, shape):
    d = ATOMS[name]
    rng = np.random.default_rng(seed_of(name, ratio, shape))
    if shape == "well":
        p, q, m = 6, 4, 25
        A = rng.normal(size=(p, m))
    else:  # input with singular values 1e-3 .. 1e2 and a large mean
        p, q, m = 8, 3, 30
        A = ill_conditioned(rng, p, m) + 5.0
    Z = d.forward(2.0 * rng.normal(size=(q, m)))
    return A, Z


def _methods(d, form):
    props = fast.atom_props(d, form)
    return [c.name for c in fast.candidates("w_step") if c.predicate(atom=props)]


@pytest.mark.parametrize("shape", ["well", "ill"])
@pytest.mark.parametrize("ratio", [0.1, 1.0, 10.0])
@pytest.mark.parametrize("name,form", CASES)
def test_w_step_matches_cvxpy(name, form, ratio, shape):
    d = ATOMS[name]
    A, Z = _instance(name, ratio, shape)
    (p, m), q = A.shape, Z.shape[0]
    lam, rho = ratio, 1.0

    methods = _methods(d, form)
    expected = ["ridge"] if (form == "joint" or name == "identity") else ["pncg", "majorize"]
    assert methods[: len(expected)] == expected
    results = {k: fast.w_step(A, Z, d, form, lam, rho, method=k) for k in methods}
    W, b, info = fast.w_step(A, Z, d, form, lam, rho)
    assert info.solver == f"w_step/{methods[0]}"   # the default is the first candidate that applies

    Wv, bv = cp.Variable((q, p)), cp.Variable(q)
    obj = lam * d.divergence(Wv @ A + bias(bv, m), param(Z), form) + rho * cp.sum_squares(Wv)
    cvx_solve(cp.Problem(cp.Minimize(obj)), d.problem_class(form))
    F_cvx = fast.w_objective(A, Z, Wv.value, bv.value, d, form, lam, rho)
    _, star_err = approx_errors(d)
    slack = lam * q * m * star_err
    tol = None if slack == 0 else np.sqrt(slack / rho) + 1e-5 * (1 + np.linalg.norm(Wv.value))
    for k, (W, b, info) in results.items():
        assert info.solver == f"w_step/{k}"
        assert info.converged and info.certificate <= 1e-10, info
        assert_objectives(info.objective, F_cvx, slack, what=f"{k}: {d!r} {form}")
        assert np.isclose(info.objective, fast.w_objective(A, Z, W, b, d, form, lam, rho))
        assert_close(W, Wv.value, tol, what=f"W ({k})")
        if k == "ridge":
            assert_close(b, bv.value, what="b")


@pytest.mark.parametrize("name,form", [("relu", "fenchel"), ("sigmoid", "fenchel"), ("sin", "fenchel"),
                                       ("relu", "joint")])
def test_w_step_solvers_agree_on_a_larger_block(name, form):
    """Larger than the CVXPY instances (p = 30, q = 12, m = 400, input rows on scales 0.1 to 10, some
    constant, small rho): every candidate reaches the same point (the block is strongly convex),
    ``pncg`` (the default for the Fenchel-Young forms) in at most half the iterations of ``majorize``."""
    d = ATOMS[name]
    rng = np.random.default_rng(seed_of("large", name, form))
    p, q, m = 30, 12, 400
    A = rng.random((p, m)) * (rng.random((p, 1)) < 0.8) * np.logspace(-1, 1, p)[:, None]
    Z = d.forward(rng.normal(size=(q, p)) @ A / 2 + rng.normal(size=(q, m)))
    out = {k: fast.w_step(A, Z, d, form, 1.0, 0.05, method=k, max_iter=20000) for k in _methods(d, form)}
    ref = next(iter(out.values()))
    for k, (W, b, info) in out.items():
        assert info.converged, (k, info)
        assert_close(W, ref[0], 1e-5 * (1 + np.linalg.norm(ref[0])), what=f"W ({k})")   # cert 1e-10, rho 0.05
        assert abs(info.objective - ref[2].objective) <= 1e-9 * abs(ref[2].objective)
    if form == "fenchel":
        assert 2 * out["pncg"][2].iterations <= out["majorize"][2].iterations


def test_w_step_cache():
    """The cache keeps the input's Gram matrix and factors while A is the same object, gives the
    same answers as no cache, and recomputes for a new object or an in-place change."""
    d = ATOMS["relu"]
    rng = np.random.default_rng(3)
    A = rng.normal(size=(7, 50))
    Z1, Z2 = d.forward(rng.normal(size=(5, 50))), d.forward(rng.normal(size=(5, 50)))
    cache = fast.WStepCache()
    for form in ("joint", "fenchel"):
        for Z, lam in ((Z1, 1.0), (Z2, 2.0)):
            W, b, info = fast.w_step(A, Z, d, form, lam, 0.5, cache=cache)
            W0, b0, info0 = fast.w_step(A, Z, d, form, lam, 0.5)
            assert np.array_equal(W, W0) and np.array_equal(b, b0)
            assert info.objective == pytest.approx(info0.objective, rel=1e-14)
    assert (cache.misses, cache.hits) == (1, 3)
    # the pre-activation of the returned solution (pncg forms it): W A + b
    U = cache.preactivation(W, b)
    assert U is not None and np.allclose(U, W @ A + b[:, None], rtol=1e-12, atol=1e-12)
    assert cache.preactivation(W.copy(), b) is None
    # a new object with the same values: recomputed (identity is the key)
    fast.w_step(A.copy(), Z1, d, "joint", 1.0, 0.5, cache=cache)
    assert cache.misses == 2
    # an in-place change of the bound object is caught by the fingerprint
    B = A.copy()
    fast.w_step(B, Z1, d, "joint", 1.0, 0.5, cache=cache)
    B *= 2.0
    Wb, _, _ = fast.w_step(B, Z1, d, "joint", 1.0, 0.5, cache=cache)
    Wn, _, _ = fast.w_step(B.copy(), Z1, d, "joint", 1.0, 0.5)
    assert cache.misses == 4 and np.allclose(Wb, Wn, rtol=1e-12)
    # ... also when the cache holds a converted copy (an integer input)
    K = rng.integers(-3, 4, size=(7, 50))
    fast.w_step(K, Z1, d, "joint", 1.0, 0.5, cache=cache)
    K[0, 0] += 5
    Wk, _, _ = fast.w_step(K, Z1, d, "joint", 1.0, 0.5, cache=cache)
    assert cache.misses == 6 and np.allclose(Wk, fast.w_step(K.astype(float), Z1, d, "joint", 1.0, 0.5)[0])
    with pytest.raises(ValidationError, match="cache"):
        fast.w_step(A, Z1, d, "joint", 1.0, 0.5, cache={})


def test_w_step_method_must_apply():
    A, Z = _instance("relu", 1.0, "well")
    with pytest.raises(fast.NoFastSolver, match="does not apply"):
        fast.w_step(A, Z, ATOMS["relu"], "fenchel", 1.0, 1.0, method="ridge")   # not quadratic in u
    with pytest.raises(fast.NoFastSolver):
        fast.w_step(A, Z, ATOMS["leaky_relu"], "joint", 1.0, 1.0)               # nonsmooth in u
    with pytest.raises(ValidationError, match="method must be one of"):
        fast.w_step(A, Z, ATOMS["relu"], "fenchel", 1.0, 1.0, method="newton")
    with pytest.raises(ValidationError, match="max_iter"):
        fast.w_step(A, Z, ATOMS["relu"], "fenchel", 1.0, 1.0, max_iter=-1)
