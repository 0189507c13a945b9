"""``cvxlift.verify``: the report, its checks, its arguments."""

import math

import numpy as np
import pytest

import cvxlift
from cvxlift import FormError, Identity, ReLU, Sigmoid, VerifyReport

FAST = dict(n_grid=401, n_random=100)
CHECKS_FENCHEL = [
    "dcp",
    "argmin",
    "unique",
    "fenchel-young",
    "values",
    "prox",
    "prox-u",
    "lipschitz",
    "domain",
    "elementwise",
    "u-quadratic",
]
CHECKS_JOINT = [
    "dcp",
    "argmin",
    "unique",
    "zero",
    "values",
    "prox",
    "prox-u",
    "u-gradient",
    "domain",
    "elementwise",
    "u-quadratic",
    "coupling",
]


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
        phi=Identity().phi,
        phi_star=Identity().phi_star,
        phi_value=Identity().phi_value,
        phi_star_value=Identity().phi_star_value,
        prox_phi=Identity().prox_phi,
    )
    r = cvxlift.verify(wrong, n_grid=101, n_random=20)
    assert not r.passed
    assert {c.name for c in r.failed()} >= {"argmin", "fenchel-young"}
    table = r.table()
    assert "FAILED" in table and "fenchel/argmin failed at u=[-" in table


# ---------------------------------------------------------------------- issue 11: verify completes the picture
import re  # noqa: E402
from pathlib import Path  # noqa: E402

import cvxpy as cp  # noqa: E402
from cvxpy.transforms import indicator  # noqa: E402

from cvxlift import cli  # noqa: E402
from cvxlift.verify import PROX_STEPS, load_atom  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
SMALL = dict(n_grid=101, n_random=30, large=())


def _row(report, name, form=None):
    (c,) = [c for c in report.checks if c.name == name and (form is None or c.form == form)]
    return c


def _relu_like(name, **kw):
    return cvxlift.declare_divergence(
        name,
        forward=lambda U: np.maximum(U, 0),
        phi=lambda z: 0.5 * cp.sum_squares(z) + indicator([z >= 0]),
        phi_star=lambda u: 0.5 * cp.sum_squares(cp.pos(u)),
        phi_value=lambda Z: np.sum(0.5 * Z**2, axis=0),
        phi_star_value=lambda U: np.sum(0.5 * np.maximum(U, 0) ** 2, axis=0),
        domain="nonneg",
        lipschitz=1.0,
        homogeneous=True,
        **kw,
    )


def test_joint_softplus_not_zero_at_its_argmin_fails():
    """Before: verify passed exp(-z) + exp(u - z) + z, whose minimum over z is 1 + softplus(u)."""
    bad = cvxlift.declare_divergence(
        "softplus_joint_bad",
        forward=lambda U: np.logaddexp(0, U),
        joint=lambda u, z: cp.sum(cp.exp(-z) + cp.exp(u - z) + z),
        problem_class="EXP",
        kinks=(),
    )
    report = cvxlift.verify(bad, n_grid=51, n_random=10, large=())
    zero = _row(report, "zero")
    assert not report.passed and not zero.passed
    assert any("no state the activation produces costs 0" in f for f in zero.failures)
    # the built-in joint forms pass the same row (zero where forward(u) = u)
    assert _row(cvxlift.verify("relu", forms=["joint"], **SMALL), "zero").passed


def test_concave_phi_is_a_fail_row_in_the_users_terms():
    """Before: a raw DCPError traceback naming verify's internal variables."""
    conc = cvxlift.declare_divergence(
        "concave_phi", forward=lambda U: U, phi=lambda z: -cp.sum_squares(z), phi_star=lambda u: 0.5 * cp.sum_squares(u)
    )
    report = cvxlift.verify(conc, **SMALL)  # no exception
    dcp = _row(report, "dcp")
    assert not dcp.passed and dcp.failures == ["phi (Phi(z)) is concave by CVXPY's DCP rules; it must be convex"]
    for name in ("argmin", "unique", "values", "prox", "prox-u"):
        assert _row(report, name).status == "skip" and not _row(report, name).passed
    assert "Parameter" not in report.table() and "param" not in report.table()


def test_a_callable_that_raises_is_a_fail_row():
    def boom(z):
        raise TypeError("my bug")

    report = cvxlift.verify(
        cvxlift.declare_divergence("boom", forward=lambda U: U, phi=boom, phi_star=lambda u: cp.sum_squares(u)), **SMALL
    )
    dcp = _row(report, "dcp")
    assert not dcp.passed and "phi could not be built" in dcp.failures[0] and "my bug" in dcp.failures[0]


def test_prox_is_checked_from_1e_minus_6_to_1e9():
    """Before: only t in {0.1, 1, 10}; a prox wrong for t > 1e6 passed."""
    assert min(PROX_STEPS) == 1e-6 and max(PROX_STEPS) == 1e9

    def prox(w, t):
        return np.where(t > 1e6, w, np.maximum(w / (1 + t), 0))

    report = cvxlift.verify(_relu_like("relu_bad_prox", prox_phi=prox), **SMALL)
    row = _row(report, "prox")
    assert not row.passed
    assert all(f.startswith("t=1000000000.0") for f in row.failures)


def test_failing_inputs_are_printed_to_full_precision():
    wrong = cvxlift.declare_divergence(
        "identity_claim_fp",
        forward=lambda U: U,
        phi=lambda z: 0.5 * cp.sum_squares(z) + indicator([z >= 0]),
        phi_star=lambda u: 0.5 * cp.sum_squares(cp.pos(u)),
        homogeneous=True,
    )
    report = cvxlift.verify(wrong, **SMALL)
    fails = _row(report, "argmin").failures
    assert any(re.search(r"u=\[-\d+\.\d{12,}", f) for f in fails), fails  # repr of the float, not 6 digits


def test_a_solver_that_cannot_take_the_problem_is_not_a_failed_atom(capsys):
    with pytest.raises(cvxlift.SolverError, match="cannot solve EXP"):
        cvxlift.verify("sigmoid", solver="osqp", n_grid=11, n_random=5)
    assert cli.main(["verify", "sigmoid", "--solver", "osqp", "--n-grid", "11", "--n-random", "5"]) == 2
    err = capsys.readouterr().err
    assert "cannot solve EXP" in err and "Traceback" not in err


ATOM_FILE = """
import numpy as np, cvxpy as cp, cvxlift
from cvxpy.transforms import indicator
good = cvxlift.declare_divergence("file_relu", forward=lambda U: np.maximum(U, 0),
    phi=lambda z: 0.5 * cp.sum_squares(z) + indicator([z >= 0]), phi_star=lambda u: 0.5 * cp.sum_squares(cp.pos(u)),
    domain="nonneg", lipschitz=1.0, homogeneous=True)
bad = cvxlift.declare_divergence("file_identity_claim", forward=lambda U: U,
    phi=lambda z: 0.5 * cp.sum_squares(z) + indicator([z >= 0]), phi_star=lambda u: 0.5 * cp.sum_squares(cp.pos(u)),
    homogeneous=True)
not_an_atom = 3
"""


def test_load_atom_from_a_file_a_module_or_a_name(tmp_path, monkeypatch):
    path = tmp_path / "my_atoms.py"
    path.write_text(ATOM_FILE)
    assert repr(load_atom(f"{path}:good")) == "declare_divergence('file_relu')"
    monkeypatch.syspath_prepend(str(tmp_path))
    assert repr(load_atom("my_atoms:bad")) == "declare_divergence('file_identity_claim')"
    assert load_atom("relu") == cvxlift.ReLU()
    assert isinstance(load_atom("cvxlift:ReLU"), cvxlift.ReLU)  # a class is instantiated
    for spec, words in [
        (f"{path}:nope", "no attribute 'nope'.*atoms there: bad, good"),
        (f"{path}:not_an_atom", "not a divergence atom"),
        (f"{tmp_path / 'missing.py'}:x", "no such file"),
        ("no_such_module_xyz:x", "importing module 'no_such_module_xyz' failed"),
        (str(path), "PATH.py:NAME"),
    ]:
        with pytest.raises(cvxlift.ValidationError, match=words):
            load_atom(spec)
    with pytest.raises(cvxlift.UnknownAtomError):
        load_atom("no_such_atom")


def test_cli_verifies_a_users_atom(tmp_path, monkeypatch, capsys):
    """Before: `cvxlift verify file.py` and `module:attr` both exited 2."""
    (tmp_path / "my_atoms.py").write_text(ATOM_FILE)
    monkeypatch.chdir(tmp_path)
    monkeypatch.syspath_prepend(str(tmp_path))
    args = ["--n-grid", "51", "--n-random", "10"]
    assert cli.main(["verify", "my_atoms.py:good", *args]) == 0
    assert "all 1 atoms PASSED" in capsys.readouterr().out
    assert cli.main(["verify", "my_atoms:bad", *args]) == 1
    assert "FAILED: my_atoms:bad" in capsys.readouterr().out
    assert cli.main(["verify", "my_atoms.py:nope", *args]) == 2
    err = capsys.readouterr().err
    assert "no attribute 'nope'" in err and "Traceback" not in err
    assert cli.main(["verify", "no_such_module_xyz:atom", *args]) == 2
    assert "importing module" in capsys.readouterr().err
