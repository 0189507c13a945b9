"""Declared atoms (issue 11): what the fast path relies on is declared and checked, never a default.

Each test reproduces one failure a new user met with ``declare_divergence`` and fails on the
code before the fix (noted per test).
"""

import re
import time
from pathlib import Path

import cvxpy as cp
import numpy as np
import pytest
from cvxpy.transforms import indicator

import cvxlift
from cvxlift import FormError, ValidationError, fast
from cvxlift.fast import registry as fast_registry

ROOT = Path(__file__).resolve().parents[2]
SMALL = dict(n_grid=201, n_random=40)


def _steep(**kw):
    """clip(2u, 0, 1): Phi = z^2/4 on [0, 1], Phi* = huber(pos(u), 1/2); Lipschitz constant 2."""
    return cvxlift.declare_divergence(
        "steep_test",
        forward=lambda U: np.clip(2 * U, 0, 1),
        phi=lambda z: 0.25 * cp.sum_squares(z) + indicator([z >= 0, z <= 1]),
        phi_star=lambda u: cp.sum(cp.huber(cp.pos(u), 0.5)),
        phi_value=lambda Z: np.sum(0.25 * Z**2, axis=0),
        phi_star_value=lambda U: np.sum(np.where(U <= 0, 0.0, np.where(U <= 0.5, U**2, U - 0.25)), axis=0),
        kinks=(0.0, 0.5),
        **kw,
    )


def _row(report, name, form=None):
    (c,) = [c for c in report.checks if c.name == name and (form is None or c.form == form)]
    return c


# ---------------------------------------------------------------------- the Lipschitz constant
def test_undeclared_lipschitz_is_unknown_not_one():
    """Before: every user Fenchel-Young atom reported u_lipschitz = 1.0 (a class default)."""
    d = _steep(domain=(0, 1))
    assert d.u_lipschitz("fenchel") is None
    props = fast.atom_props(d, "fenchel")
    assert props.u_lipschitz is None
    # without the constant the majorise-minimise W-step does not apply; ADMM through the prox does
    assert fast.select("w_step", atom=props).name == "admm"
    assert fast.atom_props(_steep(domain=(0, 1), lipschitz=2.0), "fenchel").u_lipschitz == 2.0


def test_a_declared_constant_that_is_too_small_fails_verify_and_stops_the_fast_path():
    """Before: clip(2u, 0, 1) ran with L = 1; the W-step did not majorise and every update was rejected."""
    d = _steep(domain=(0, 1), lipschitz=1.0)
    with pytest.raises(ValidationError, match=r"lipschitz=1\.0.*slope 2\.0"):
        fast.atom_props(d, "fenchel")
    row = _row(cvxlift.verify(d, large=(), **SMALL), "lipschitz")
    assert not row.passed and row.error == pytest.approx(2.0, rel=1e-6)
    assert "slope 2.0" in row.failures[0] and "declared 1.0" in row.failures[0]


# ---------------------------------------------------------------------- the domain
def _half_sigmoid(**kw):
    """clip(u/2 + 1/2, 0, 1) with phi_value returning inf outside [0, 1] (the documented contract)."""

    def phi_value(Z):
        ok = ((Z >= 0) & (Z <= 1)).all(axis=0)
        return np.where(ok, np.sum(Z**2 - Z, axis=0), np.inf)

    return cvxlift.declare_divergence(
        "half_sigmoid_test",
        forward=lambda U: np.clip(U / 2 + 0.5, 0, 1),
        phi=lambda z: cp.sum_squares(z) - cp.sum(z) + indicator([z >= 0, z <= 1]),
        phi_star=lambda u: cp.sum(0.25 * cp.huber(u, 1) + 0.5 * u + 0.25),
        phi_value=phi_value,
        phi_star_value=lambda U: np.sum(np.where(U < -1, 0.0, np.where(U > 1, U, (U + 1) ** 2 / 4)), axis=0),
        lipschitz=0.5,
        kinks=(-1.0, 1.0),
        **kw,
    )


def test_declared_domain_absorbs_solver_excursions():
    d = _half_sigmoid(domain=(0, 1))
    Z = np.array([[-1e-22, 1 + 1e-12, 0.5, -1e-3]])
    val = d.phi_value(Z)
    np.testing.assert_allclose(val[:3], [0.0, 0.0, -0.25], atol=1e-12)
    assert val[3] == np.inf  # beyond the tolerance: outside
    np.testing.assert_array_equal(d.project_domain(Z), [[0.0, 1.0, 0.5, 0.0]])
    assert _half_sigmoid().phi_value(Z)[0] == np.inf  # without the declaration: the user's inf


def test_declared_domain_keeps_every_cvxpy_update():
    """Before: CVXPY states 1e-22 outside [0, 1] made the objective inf and 3 of 4 X-steps were rejected."""
    rng = np.random.default_rng(0)
    X, Y = rng.normal(size=(8, 60)), np.eye(3)[:, rng.integers(0, 3, 60)]
    net = cvxlift.LiftedNetwork(
        [8, 6, 3], [_half_sigmoid(domain=(0, 1)), "identity"], form=["fenchel", "joint"], random_state=0
    )
    net.fit(X, Y, solver="cvxpy", max_iter=3, tol=0)
    assert "rejected" not in net.block_info_
    assert np.all(np.diff(net.history_) <= 1e-12 * np.abs(net.history_[:-1]))


def test_undeclared_domain_fails_verify_with_the_fix_in_the_message():
    report = cvxlift.verify(_half_sigmoid(), large=(), **SMALL)
    row = _row(report, "domain")
    assert not row.passed and any("declare the domain" in f for f in row.failures)
    assert _row(cvxlift.verify(_half_sigmoid(domain=(0, 1)), large=(), **SMALL), "domain").passed


# ---------------------------------------------------------------------- declarations that were slow or wrong
def test_phi_without_phi_star_fails_at_once_naming_it():
    """Before: verify took 18 s to fail with a message that contradicted itself."""
    t0 = time.perf_counter()
    with pytest.raises(ValidationError, match="phi_star"):
        cvxlift.declare_divergence("nostar", forward=lambda U: U, phi=lambda z: 0.5 * cp.sum_squares(z))
    assert time.perf_counter() - t0 < 1.0


@pytest.mark.parametrize(
    "kwargs,word",
    [
        (dict(u_quadratic=1.0), "joint form"),
        (dict(lipschitz=-1.0), "lipschitz"),
        (dict(domain="cube"), "domain"),
        (dict(nonsense=1), "unknown option"),
    ],
)
def test_bad_options_name_the_option(kwargs, word):
    with pytest.raises(ValidationError, match=word):
        _steep(**kwargs)


def test_tutorial_default_argmin_tol_matches_the_code():
    """Before: the tutorial said 1e-6, the code used 1e-5."""
    text = (ROOT / "docs" / "tutorial-custom-divergence.md").read_text()
    (said,) = re.findall(r"`argmin_tol` \(default ([0-9e.-]+)\)", text)
    assert float(said) == cvxlift.divergences.custom.DEFAULT_ARGMIN_TOL == _steep().argmin_tol


# ---------------------------------------------------------------------- proximal maps
def test_prox_without_numpy_prox_is_derived_not_a_cvxpy_solve(monkeypatch):
    """Before: each prox of an atom without a numpy prox was a CVXPY solve (18.7 s against 0.23 s)."""
    d = _steep(domain=(0, 1), lipschitz=2.0)

    def no_solve(*a, **k):
        raise AssertionError("a CVXPY solve")

    monkeypatch.setattr(cvxlift.cvxsolve, "solve", no_solve)
    rng = np.random.default_rng(1)
    U, V = rng.normal(scale=3, size=(5, 40)), rng.normal(scale=3, size=(5, 40))
    for t in (1e-6, 1e-2, 1.0, 1e3, 1e9):
        # prox of t Phi at w = v + t u, Phi = z^2/4 on [0, 1]: clip(w / (1 + t/2), 0, 1)
        np.testing.assert_allclose(d.prox_z(U, V, t), np.clip((V + t * U) / (1 + t / 2), 0, 1), atol=1e-12)
    assert d.prox_kind("fenchel") == "exact"


def test_a_user_prox_is_used_only_once_certified():
    calls = []

    def prox(w, t):
        calls.append(t)
        return np.clip(w / (1 + t / 2), 0, 1)

    d = _steep(domain=(0, 1), lipschitz=2.0, prox_phi=prox)
    U, V = np.ones((1, 3)), np.zeros((1, 3))
    d.prox_z(U, V, 1.0)
    assert calls == [] and not fast_registry.is_certified(d, "fenchel")
    report = cvxlift.verify(d, large=(), **SMALL)
    assert report.passed, report.table()
    assert "certified" in _row(report, "prox").detail and fast_registry.is_certified(d, "fenchel")
    calls.clear()
    d.prox_z(U, V, 1.0)
    assert calls == [1.0]
    # a wrong user prox is not certified (and stays unused)
    bad = _steep(domain=(0, 1), lipschitz=2.0, prox_phi=lambda w, t: np.clip(w, 0, 1))
    assert not _row(cvxlift.verify(bad, large=(), **SMALL), "prox").passed
    assert not fast_registry.is_certified(bad, "fenchel")


# ---------------------------------------------------------------------- a numeric declaration
def test_numeric_declaration_is_verified_without_cvxpy(user_atoms):
    d = user_atoms["softplus_exact"]()
    report = cvxlift.verify(d, **SMALL)
    assert report.passed, report.table()
    for name in ("dcp", "values"):
        assert _row(report, name).status == "n/a"
    assert "numeric 1-D minimisation" in _row(report, "argmin").detail
    assert _row(report, "argmin").error < 1e-6
    with pytest.raises(FormError, match="solver='fast'"):
        d.phi(cp.Variable(3))
    # Phi(forward(u)) + Phi*(u) = u forward(u): the dilogarithm pieces are conjugate
    u = np.linspace(-30, 30, 601)[None, :]
    np.testing.assert_allclose(d.divergence_value(u, d.forward(u)), 0.0, atol=1e-12)
