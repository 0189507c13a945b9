"""``cvxlift.verify``: the report, its checks, its arguments."""
import math

import numpy as np
import pytest

import cvxlift
from cvxlift import FormError, Identity, ReLU, Sigmoid, VerifyReport

FAST = dict(n_grid=401, n_random=100)
CHECKS_FENCHEL = ["dcp", "argmin", "unique", "fenchel-young", "values", "prox"]
CHECKS_JOINT = ["dcp", "argmin", "unique", "values", "prox"]


@pytest.fixture(scope="module")
def identity_report():
    return cvxlift.verify(Identity(), **FAST)


def test_report_lists_every_check_of_every_form(identity_report):
    r = identity_report
    assert isinstance(r, VerifyReport)
    assert [c.name for c in r.checks if c.form == "fenchel"] == CHECKS_FENCHEL
    assert [c.name for c in r.checks if c.form == "joint"] == CHECKS_JOINT
    assert r.passed and bool(r) and r.failed() == []
    assert r.seconds > 0


def test_report_errors_and_table(identity_report):
    r = identity_report
    assert r.error("argmin", "fenchel") <= Identity.argmin_tol
    assert r.error("argmin") == max(r.error("argmin", "fenchel"), r.error("argmin", "joint"))
    assert math.isnan(r.error("no-such-check"))
    table = r.table()
    assert table.splitlines()[0].startswith("Identity(): PASSED")
    for name in CHECKS_FENCHEL:
        assert name in table
    assert str(r) == table


def test_verify_accepts_a_name_and_a_subset_of_forms():
    r = cvxlift.verify("relu", forms=["joint"], **FAST)
    assert r.passed
    assert {c.form for c in r.checks} == {"joint"}
    assert repr(r.divergence) == "ReLU()"


def test_verify_checks_every_input_group():
    r = cvxlift.verify(ReLU(), forms=["fenchel"], n_grid=11, n_random=7)
    detail = [c for c in r.checks if c.name == "argmin"][0].detail
    for group in ("random", "edge", "grid", "|u|=1000", "|u|=1e+06"):
        assert group in detail
    # 7 random + 11 grid + 2 x (8 random directions + the constants +-|u|) + the edge inputs
    n_edge = ReLU().edge_inputs(1).shape[1]
    assert detail.startswith(f"{7 + 11 + 2 * 10 + n_edge} inputs")


def test_verify_rejects_a_form_the_atom_lacks():
    with pytest.raises(FormError, match="joint"):
        cvxlift.verify(Sigmoid(), forms=["joint"])
    with pytest.raises(FormError, match="bogus"):
        cvxlift.verify(ReLU(), forms=["bogus"])


def test_verify_unknown_name():
    with pytest.raises(cvxlift.UnknownAtomError, match="relu"):
        cvxlift.verify("nope")


def test_verify_is_reproducible():
    a = cvxlift.verify(ReLU(), forms=["joint"], n_grid=51, n_random=20, seed=3)
    b = cvxlift.verify(ReLU(), forms=["joint"], n_grid=51, n_random=20, seed=3)
    assert [c.detail for c in a.checks] == [c.detail for c in b.checks]
    assert a.error("argmin") == pytest.approx(b.error("argmin"), abs=1e-12)


def test_verify_with_a_pinned_solver():
    r = cvxlift.verify(ReLU(), forms=["joint"], solver="osqp", **FAST)
    assert r.passed, r.table()
    assert r.error("argmin") <= ReLU.argmin_tol


def test_verify_with_a_missing_solver_raises_and_says_why():
    with pytest.raises(cvxlift.SolverError, match="NOT_A_SOLVER.*installed"):
        cvxlift.verify(Identity(), forms=["joint"], solver="NOT_A_SOLVER", n_grid=11, n_random=5)


def test_failed_report_lists_the_failing_inputs():
    wrong = cvxlift.declare_divergence(
        "identity_claimed_relu",
        forward=lambda U: np.maximum(U, 0),
        phi=Identity().phi, phi_star=Identity().phi_star,
        phi_value=Identity().phi_value, phi_star_value=Identity().phi_star_value,
        prox_phi=Identity().prox_phi,
    )
    r = cvxlift.verify(wrong, n_grid=101, n_random=20)
    assert not r.passed
    assert {c.name for c in r.failed()} >= {"argmin", "fenchel-young"}
    table = r.table()
    assert "FAILED" in table and "fenchel/argmin failed at u=[-" in table
