"""Certification of the fast hidden-layer X-step (paper eq. 13) against CVXPY.

min_Z lam_prev D_prev(U0, Z) + lam_next D_next(W Z + b 1^T, Znext): the instances come from
``cvxlift.battery`` and the reference is ``cvxlift.reference`` (the block assembled by
``cvxlift.assembly`` from ``d.divergence``, solved tightly). Every D_prev here is strongly
convex in z with modulus >= 1 (Phi'' >= 1, or mu ||z - u||^2 with 2 mu >= 1), so the block is
lam_prev-strongly convex and the minimiser is unique: iterates are compared to ITER_RTOL. For
the approximate ``Sin`` atom the CVXPY minimiser is suboptimal for the exact objective by at
most the slack lam_prev p m phi_error (as D_prev) + lam_next q m phi_star_error (as D_next),
hence ||Z_cvx - Z*||_F <= sqrt(2 slack / mu) (mu the block's modulus); the reference's check
allows exactly that.
"""

import numpy as np
import pytest
from fast_helpers import ATOMS, assert_check, from_lib, to_lib

from cvxlift import battery, fast

INSTANCES = battery.instances("x_step")


def _instance(rng, shape, d_prev, d_next):
    """A random X-step instance of the battery's shapes (``W, b, U0, Znext``)."""
    return battery.x_step_data(rng, shape, d_prev, d_next)


@pytest.mark.parametrize("inst", INSTANCES, ids=[i.id for i in INSTANCES])
def test_x_step_matches_cvxpy(inst, lib):
    """Every applicable solver against the CVXPY solution, on numpy arrays and on torch tensors."""
    U0, W, b, Znext, dp, fp, dn, fn, lam_prev, lam_next = inst.args
    args = to_lib(inst.args, lib)

    props = inst.props()
    methods = [c.name for c in fast.candidates("x_step") if c.predicate(**props)]
    results = [fast.x_step(*args, method=k) for k in methods]
    results = [(from_lib(Z, lib), info) for Z, info in results]
    for Z, info in results:
        assert info.converged and info.certificate <= 1e-9, info

    ref = inst.reference()
    for Z, info in results:  # every applicable registered solver against the same reference
        rep = ref.check(Z)
        assert_check(rep, ref, Z, what=f"{info.solver}: {inst.id}", known_unique=("Z",))
        assert np.isclose(rep.objective, info.objective, rtol=1e-12, atol=1e-12)


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
