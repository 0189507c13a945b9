"""Certification of the fast W-step against the CVXPY formulation of the same block.

min_{W,b} lam * D(W A + b 1^T, Z) + rho ||W||_F^2: the instances come from
``cvxlift.battery`` and the reference is ``cvxlift.reference`` (the block assembled by
``cvxlift.assembly`` from ``d.divergence``, solved tightly). Every registered candidate that
applies to the atom (``ridge``, ``pncg``, ``majorize``) runs against the same reference.
Iterates: W is unique (rho > 0 makes the problem strongly convex in W), b too for the ridge
solver; both compared to ITER_RTOL. For the approximate ``Sin`` atom the CVXPY Phi* is a
tangent under-estimate with error <= phi_star_error per entry, so the CVXPY minimiser is
suboptimal for the exact objective by at most lam * q * m * phi_star_error (the slack) and
||W_cvx - W*||_F <= sqrt(slack / rho); the reference's check allows exactly that.
"""

import numpy as np
import pytest
from fast_helpers import ATOMS, assert_check, assert_close, from_lib, seed_of, to_lib

from cvxlift import battery, fast
from cvxlift.exceptions import ValidationError

INSTANCES = battery.instances("w_step")


def _methods(d, form):
    props = fast.atom_props(d, form)
    return [c.name for c in fast.candidates("w_step") if c.predicate(atom=props)]


def _instance(name, seed=0):
    """A small well-conditioned W-step instance: ``A`` (6 x 25) and states of the atom."""
    rng = np.random.default_rng(seed_of("wstep", name, seed))
    return rng.normal(size=(6, 25)), ATOMS[name].forward(2.0 * rng.normal(size=(4, 25)))


@pytest.mark.parametrize("inst", INSTANCES, ids=[i.id for i in INSTANCES])
def test_w_step_matches_cvxpy(inst, lib):
    """Every applicable solver against the CVXPY solution, on numpy arrays and on torch tensors
    (the same reference; results come back in the input's library)."""
    A, Z, d, form, lam, rho = inst.args
    name = inst.meta["atom"]
    args = to_lib(inst.args, lib)

    methods = _methods(d, form)
    expected = ["ridge"] if (form == "joint" or name == "identity") else ["pncg", "majorize"]
    assert methods[: len(expected)] == expected
    W, b, info = fast.w_step(*args)
    assert info.solver == f"w_step/{methods[0]}"  # the default is the first candidate that applies

    ref = inst.reference()
    for k in methods:  # every applicable registered solver against the same reference
        W, b, info = fast.w_step(*args, method=k)
        W, b = from_lib((W, b), lib)
        assert info.solver == f"w_step/{k}"
        assert info.converged and info.certificate <= 1e-10, info
        rep = ref.check((W, b, info))
        assert_check(rep, ref, (W, b), what=f"{k}: {d!r} {form}")
        assert np.isclose(info.objective, fast.w_objective(A, Z, W, b, d, form, lam, rho))
        assert np.isclose(rep.objective, info.objective)
        assert rep.row("distance W").passed  # W is unique (rho > 0)
        if k == "ridge":
            assert rep.row("distance b").passed  # and so is b where D is quadratic in u


@pytest.mark.parametrize(
    "name,form", [("relu", "fenchel"), ("sigmoid", "fenchel"), ("sin", "fenchel"), ("relu", "joint")]
)
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
        assert_close(W, ref[0], 1e-5 * (1 + np.linalg.norm(ref[0])), what=f"W ({k})")  # cert 1e-10, rho 0.05
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
    A, Z = _instance("relu")
    with pytest.raises(fast.NoFastSolver, match="does not apply"):
        fast.w_step(A, Z, ATOMS["relu"], "fenchel", 1.0, 1.0, method="ridge")  # not quadratic in u
    with pytest.raises(fast.NoFastSolver, match="does not apply"):
        fast.w_step(A, Z, ATOMS["leaky_relu"], "joint", 1.0, 1.0, method="pncg")  # nonsmooth in u
    with pytest.raises(ValidationError, match="method must be one of"):
        fast.w_step(A, Z, ATOMS["relu"], "fenchel", 1.0, 1.0, method="newton")
    with pytest.raises(ValidationError, match="max_iter"):
        fast.w_step(A, Z, ATOMS["relu"], "fenchel", 1.0, 1.0, max_iter=-1)
