"""Certification of the fast W-step against the CVXPY formulation of the same block.

min_{W,b} lam * D(W A + b 1^T, Z) + rho ||W||_F^2: the instances come from
``cvxlift.battery`` and the reference is ``cvxlift.reference`` (the block assembled by
``cvxlift.assembly`` from ``d.divergence``, solved tightly). Iterates: W is unique (rho > 0
makes the problem strongly convex in W), b too for the ridge solver; both compared to
ITER_RTOL. For the approximate ``Sin`` atom the CVXPY Phi* is a tangent under-estimate with
error <= phi_star_error per entry, so the CVXPY minimiser is suboptimal for the exact
objective by at most lam * q * m * phi_star_error (the slack) and
||W_cvx - W*||_F <= sqrt(slack / rho); the reference's check allows exactly that.
"""
import numpy as np
import pytest

from cvxlift import battery, fast
from fast_helpers import assert_check

INSTANCES = battery.instances("w_step")


@pytest.mark.parametrize("inst", INSTANCES, ids=[i.id for i in INSTANCES])
def test_w_step_matches_cvxpy(inst):
    A, Z, d, form, lam, rho = inst.args
    name = inst.meta["atom"]

    W, b, info = fast.w_step(*inst.args)
    expected = "w_step/ridge" if (form == "joint" or name == "identity") else "w_step/majorize"
    assert info.solver == expected
    assert info.converged and info.certificate <= 1e-10

    ref = inst.reference()
    rep = ref.check((W, b, info))
    assert_check(rep, ref, (W, b), what=f"{d!r} {form}")
    assert np.isclose(info.objective, fast.w_objective(A, Z, W, b, d, form, lam, rho))
    assert np.isclose(rep.objective, info.objective)
    assert rep.row("distance W").passed      # W is unique (rho > 0)
    if info.solver == "w_step/ridge":
        assert rep.row("distance b").passed  # and so is b where D is quadratic in u
