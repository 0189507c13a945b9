"""User-declared divergences: ``declare_divergence`` and ``verify`` catching wrong claims."""

import re
import runpy
import subprocess
import sys
from pathlib import Path

import cvxpy as cp
import numpy as np
import pytest
from cvxpy.transforms import indicator

import cvxlift
from cvxlift import MaxPool, ValidationError, cvxsolve
from cvxlift.divergences import registry

ROOT = Path(__file__).resolve().parents[2]
EXAMPLE = ROOT / "examples" / "custom_divergence.py"
FAST = dict(n_grid=401, n_random=100)


@pytest.fixture
def example():
    """The example script's namespace (its functions), without running ``main``."""
    return runpy.run_path(str(EXAMPLE), run_name="example")


@pytest.fixture
def clean_registry(monkeypatch):
    """A private copy of the registry, restored after the test."""
    monkeypatch.setattr(registry, "_REGISTRY", dict(registry._REGISTRY))


def _failing_inputs(check):
    """The first entries of the ``u=[...]`` inputs listed by a failed check."""
    return [float(m.group(1).split(",")[0]) for m in (re.search(r"u=\[([^\]]*)\]", f) for f in check.failures) if m]


def _check(report, name):
    (check,) = [c for c in report.checks if c.name == name]
    return check


# ---------------------------------------------------------------------- a correct custom atom
def test_soft_threshold_from_callables_passes_verify(example):
    d = example["soft_threshold_divergence"]()
    report = cvxlift.verify(d, **FAST)
    assert report.passed, report.table()
    assert report.error("argmin") <= d.argmin_tol
    u = np.array([-3.0, -1.0, -0.5, 0.0, 0.5, 1.0, 3.0])
    np.testing.assert_allclose(d.forward(u), [-2, 0, 0, 0, 0, 0, 2])


def test_soft_threshold_prox_is_the_closed_form(example):
    """The given prox of t*Phi against the Fenchel-Young prox solved by CVXPY."""
    d = example["soft_threshold_divergence"]()
    rng = np.random.default_rng(0)
    W = rng.normal(scale=4, size=(1, 40))
    for t in (0.2, 1.0, 5.0):
        z = cp.Variable(W.shape)
        prob = cp.Problem(cp.Minimize(example["phi_cvx"](z) + cp.sum_squares(z - W) / (2 * t)))
        cvxsolve.solve(prob, "QP", accuracy="tight")
        np.testing.assert_allclose(d.prox_phi(W, t), z.value, atol=1e-8)


def test_registered_custom_atom_is_found_by_name(example, clean_registry):
    d = example["soft_threshold_divergence"](register=True)
    assert "soft_threshold" in cvxlift.available()
    # a declared atom is a class: the registry holds it, get_divergence gives an equal instance
    got = cvxlift.get_divergence("soft_threshold")
    assert got == d and type(got) is type(d) and cvxlift.divergences.registry.lookup("soft_threshold") is type(d)
    assert cvxlift.verify("soft_threshold", **FAST).passed


def test_example_script_runs():
    proc = subprocess.run([sys.executable, str(EXAMPLE)], capture_output=True, text=True, timeout=120, cwd=str(ROOT))
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "declare_divergence('soft_threshold'): PASSED" in proc.stdout
    assert "declare_divergence('hard_threshold_claim'): FAILED" in proc.stdout


# ---------------------------------------------------------------------- wrong claims are rejected
def test_rejects_forward_map_wrong_on_part_of_the_line():
    """Phi = z^2/2 + I(z >= 0) realises the ReLU; claimed as the identity it is wrong for u < 0."""
    d = cvxlift.declare_divergence(
        "relu_claimed_identity",
        forward=lambda U: U,
        phi=lambda z: 0.5 * cp.sum_squares(z) + indicator([z >= 0]),
        phi_star=lambda u: 0.5 * cp.sum_squares(cp.pos(u)),
        phi_value=lambda Z: np.where((Z >= 0).all(axis=0), np.sum(0.5 * Z**2, axis=0), np.inf),
        phi_star_value=lambda U: np.sum(0.5 * np.maximum(U, 0) ** 2, axis=0),
        prox_phi=lambda w, t: np.maximum(w / (1 + t), 0),
        homogeneous=True,
    )
    report = cvxlift.verify(d, **FAST)
    assert not report.passed
    argmin = _check(report, "argmin")
    assert not argmin.passed
    assert argmin.error >= 0.99  # |0 - u| / max(1, |u|) = 1 for u <= -1
    bad = _failing_inputs(argmin)
    assert bad and all(u < 0 for u in bad), argmin.failures
    assert "argmin" in report.table() and "FAILED" in report.table()


def _sign_divergence():
    """sign(u) = argmin_{|z| <= 1} -u z (paper, section 4): Phi = I([-1, 1]), Phi* = |u|."""
    return cvxlift.declare_divergence(
        "sign",
        forward=np.sign,
        phi=lambda z: indicator([z >= -1, z <= 1]),
        phi_star=lambda u: cp.norm1(u),
        phi_value=lambda Z: np.where((np.abs(Z) <= 1).all(axis=0), 0.0, np.inf),
        phi_star_value=lambda U: np.abs(U).sum(axis=0),
        prox_phi=lambda w, t: np.clip(w, -1, 1),
        homogeneous=True,
    )


def test_rejects_non_unique_argmin_sign_at_zero():
    report = cvxlift.verify(_sign_divergence(), **FAST)
    assert not report.passed
    unique = _check(report, "unique")
    assert not unique.passed
    assert unique.error >= 1.0  # minimisers spread over [-1, 1]
    bad = _failing_inputs(unique)
    assert 0.0 in bad, unique.failures
    assert all(abs(u) <= 1e-6 for u in bad), unique.failures  # only where the tilt beats |u|


def test_rejects_the_papers_maxpool_weight_one():
    """The printed max-pool divergence (c = 1) is flat between the two largest entries."""
    report = cvxlift.verify(MaxPool(2, weight=1.0), **FAST)
    unique = _check(report, "unique")
    assert not unique.passed
    assert unique.error > 0.1
    assert any("(edge)" in f for f in unique.failures)
    assert cvxlift.verify(MaxPool(2, weight=2.0), **FAST).passed


# ---------------------------------------------------------------------- declaration errors
@pytest.mark.parametrize(
    "kwargs,word",
    [
        (dict(name="", forward=np.sign, phi=lambda z: cp.sum_squares(z)), "name"),
        (dict(name="x", forward=3, phi=lambda z: cp.sum_squares(z)), "forward"),
        (dict(name="x", forward=np.sign), "phi"),
        (dict(name="x", forward=np.sign, phi=3), "phi"),
        (dict(name="x", forward=np.sign, phi=lambda z: z, joint="nope"), "joint"),
    ],
)
def test_declaration_errors_name_the_argument(kwargs, word):
    with pytest.raises(ValidationError, match=word):
        cvxlift.declare_divergence(**kwargs)


def test_custom_forms_follow_what_is_declared():
    d = cvxlift.declare_divergence("j", forward=lambda U: U, joint=lambda u, z: cp.sum_squares(z - u))
    assert d.forms == ("joint",)
    with pytest.raises(cvxlift.FormError, match="fenchel"):
        d.divergence(np.ones(2), cp.Variable(2), form="fenchel")
