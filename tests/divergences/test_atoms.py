"""The built-in divergence atoms: verify, forward maps, divergence values, prox, errors.

Reference values are textbook formulas or brute-force minimisations written here,
independent of the atoms' own numpy code and of CVXPY.
"""

import math
import re

import cvxpy as cp
import numpy as np
import pytest

import cvxlift
from cvxlift import (
    Clipped,
    FormError,
    Identity,
    LeakyReLU,
    MaxPool,
    ReLU,
    Sigmoid,
    Simplex,
    Sin,
    Tanh,
    UnknownAtomError,
    ValidationError,
)

#: Every elementwise built-in atom, with the map its divergence realises (textbook
#: formulas, written without reference to the atoms' code).
HALF_PI = 0.5 * math.pi


def _sigmoid(u):
    with np.errstate(over="ignore"):
        return 1.0 / (1.0 + np.exp(-u))


def _tanh(u):
    with np.errstate(over="ignore"):
        return 1.0 - 2.0 / (np.exp(2.0 * u) + 1.0)


ELEMENTWISE = {
    "relu": (ReLU(), lambda u: np.maximum(u, 0.0)),
    "leaky_relu": (LeakyReLU(), lambda u: np.where(u >= 0, u, 0.01 * u)),
    "leaky_relu_0.2": (LeakyReLU(0.2), lambda u: np.where(u >= 0, u, 0.2 * u)),
    "clipped": (Clipped(), lambda u: np.minimum(np.maximum(u, -1.0), 1.0)),
    "hard_sigmoid": (Clipped(0, 1), lambda u: np.minimum(np.maximum(u, 0.0), 1.0)),
    "sigmoid": (Sigmoid(), _sigmoid),
    "tanh": (Tanh(), _tanh),
    # the sine divergence realises the clipped sine (sine.py docstring), not sin on R
    "sin": (Sin(), lambda u: np.sin(np.minimum(np.maximum(u, -HALF_PI), HALF_PI))),
    "identity": (Identity(), lambda u: u),
}

FENCHEL_ATOMS = [
    ReLU(),
    LeakyReLU(),
    LeakyReLU(0.3),
    Clipped(),
    Clipped(0, 1),
    Sigmoid(),
    Tanh(),
    Simplex(),
    Sin(),
    Identity(),
]
JOINT_ATOMS = [ReLU(), LeakyReLU(), Clipped(), Simplex(), Identity(), MaxPool(2), MaxPool(3)]


def _line_inputs(atom):
    """The real line as the tests see it: a grid, zero, kinks +- tiny, 1e3 and 1e6."""
    kinks = np.asarray(getattr(atom, "kinks", ()) or (), dtype=float)
    pts = [
        np.linspace(-20, 20, 4001),
        [0.0],
        kinks,
        kinks - 1e-12,
        kinks + 1e-12,
        [-1e6, -1e3, -1.0, 1.0, 1e3, 1e6, -HALF_PI, HALF_PI],
    ]
    return np.unique(np.concatenate([np.ravel(p) for p in pts]))


def _columns(atom, rng, m, scale=3.0):
    """Random input columns of the length ``verify`` uses for ``atom``."""
    return rng.normal(scale=scale, size=(atom.verify_dim(), m))


# ---------------------------------------------------------------------- verify
@pytest.mark.parametrize("name", cvxlift.available())
def test_builtin_atom_passes_verify(name):
    atom = cvxlift.get_divergence(name)
    report = cvxlift.verify(atom, n_grid=401, n_random=100)
    assert report.passed, report.table()
    for form in atom.forms:
        err = report.error("argmin", form)
        assert err <= atom.argmin_tol, f"{name}/{form}: argmin error {err:.3g} > {atom.argmin_tol:.0e}"


# ---------------------------------------------------------------------- forward
@pytest.mark.parametrize("key", sorted(ELEMENTWISE))
def test_forward_matches_formula_on_the_whole_line(key):
    atom, formula = ELEMENTWISE[key]
    u = _line_inputs(atom)
    got = atom.forward(u)
    want = formula(u)
    assert got.shape == u.shape
    np.testing.assert_allclose(got, want, rtol=1e-12, atol=1e-15)
    # a 2-D input is mapped column by column, with the same values
    U = np.stack([u, -u], axis=1)
    np.testing.assert_allclose(atom.forward(U), formula(U), rtol=1e-12, atol=1e-15)


@pytest.mark.parametrize("key", sorted(ELEMENTWISE))
def test_forward_is_monotone_and_finite(key):
    """Every elementwise map here is the gradient of a convex function: non-decreasing."""
    atom, _ = ELEMENTWISE[key]
    u = _line_inputs(atom)
    z = atom.forward(u)
    assert np.all(np.isfinite(z))
    assert np.all(np.diff(z) >= 0)


def test_known_values_at_zero_and_kinks():
    assert ReLU().forward(np.array([0.0]))[0] == 0.0
    assert LeakyReLU(0.1).forward(np.array([-10.0]))[0] == pytest.approx(-1.0)
    assert Clipped(0, 1).forward(np.array([0.5, 1.0, 2.0])).tolist() == [0.5, 1.0, 1.0]
    assert Sigmoid().forward(np.array([0.0]))[0] == 0.5
    assert Tanh().forward(np.array([0.0]))[0] == 0.0
    assert Sin().forward(np.array([HALF_PI]))[0] == pytest.approx(1.0, abs=1e-15)
    np.testing.assert_array_equal(Sigmoid().forward(np.array([-1e6, 1e6])), [0.0, 1.0])
    np.testing.assert_array_equal(Tanh().forward(np.array([-1e6, 1e6])), [-1.0, 1.0])


def test_sin_is_the_clipped_sine_not_the_textbook_sine():
    """Documented erratum: beyond |u| = pi/2 the divergence pins z to sign(u)."""
    sin = Sin()
    inside = np.linspace(-HALF_PI, HALF_PI, 101)
    np.testing.assert_allclose(sin.forward(inside), np.sin(inside), atol=1e-15)
    assert sin.forward(np.array([3.0]))[0] == 1.0
    assert abs(sin.forward(np.array([3.0]))[0] - math.sin(3.0)) > 0.85
    np.testing.assert_array_equal(sin.forward(np.array([-1e6, -2.0, 2.0, 1e6])), [-1, -1, 1, 1])


def _project_simplex_bisection(v):
    """Simplex projection by bisection on the threshold tau of (v - tau)_+ (independent)."""
    lo, hi = v.min() - 1.0, v.max()
    for _ in range(200):
        tau = 0.5 * (lo + hi)
        if np.maximum(v - tau, 0).sum() > 1:
            lo = tau
        else:
            hi = tau
    return np.maximum(v - 0.5 * (lo + hi), 0)


def test_simplex_forward():
    sx = Simplex()
    np.testing.assert_allclose(sx.forward(np.zeros(4)), np.full(4, 0.25))
    np.testing.assert_allclose(sx.forward(np.array([10.0, 0, 0])), [1, 0, 0])
    np.testing.assert_allclose(sx.forward(np.array([1.0, 1.0, 0, 0])), [0.5, 0.5, 0, 0])
    rng = np.random.default_rng(1)
    U = rng.normal(scale=3, size=(5, 50))
    Z = sx.forward(U)
    assert Z.shape == U.shape
    assert np.all(Z >= 0)
    np.testing.assert_allclose(Z.sum(axis=0), 1.0, atol=1e-12)
    for j in range(U.shape[1]):
        np.testing.assert_allclose(Z[:, j], _project_simplex_bisection(U[:, j]), atol=1e-10)
    # shift invariance, also far out (|u| = 1e6)
    np.testing.assert_allclose(sx.forward(U + 1e6), Z, atol=1e-9)
    np.testing.assert_allclose(sx.forward(U - 1e3), Z, atol=1e-11)


@pytest.mark.parametrize("k", [1, 2, 3])
def test_maxpool_forward(k):
    rng = np.random.default_rng(k)
    U = rng.normal(size=(4 * k, 6))
    Z = MaxPool(k).forward(U)
    assert Z.shape == (4, 6)
    for j in range(4):
        np.testing.assert_array_equal(Z[j], U[j * k : (j + 1) * k].max(axis=0))
    assert MaxPool(2).forward(np.array([1.0, 3.0, -1e6, 1e6])).tolist() == [3.0, 1e6]
    assert MaxPool(2).forward(np.array([2.0, 2.0])).tolist() == [2.0]


# ---------------------------------------------------------------------- divergence values
@pytest.mark.parametrize("atom", FENCHEL_ATOMS, ids=repr)
def test_fenchel_young_nonnegative_and_zero_on_graph(atom):
    rng = np.random.default_rng(2)
    U = _columns(atom, rng, 500, scale=5.0)
    Zr = atom.forward(_columns(atom, rng, 500, scale=5.0))  # points of dom Phi
    Zr = np.concatenate([Zr, rng.normal(scale=5.0, size=Zr.shape)], axis=1)  # and anywhere
    Ur = np.concatenate([U, U], axis=1)
    scale = 1.0 + np.abs(Ur).max(axis=0) ** 2
    D = atom.divergence_value(Ur, Zr, "fenchel")
    assert np.all(D >= -1e-12 * scale)
    D0 = atom.divergence_value(U, atom.forward(U), "fenchel")
    np.testing.assert_allclose(D0 / scale[:500], 0.0, atol=1e-12)
    # large inputs
    big = np.concatenate([U[:, :5] * 1e3 / np.abs(U[:, :5]).max(), U[:, :5] * 1e6 / np.abs(U[:, :5]).max()], axis=1)
    Db = atom.divergence_value(big, atom.forward(big), "fenchel")
    np.testing.assert_allclose(Db / (1.0 + np.abs(big).max(axis=0) ** 2), 0.0, atol=1e-12)


@pytest.mark.parametrize("atom", FENCHEL_ATOMS + JOINT_ATOMS, ids=repr)
def test_forward_minimises_every_form(atom):
    """D(u, forward(u)) <= D(u, z) for random z, in every form."""
    rng = np.random.default_rng(3)
    U = _columns(atom, rng, 300)
    F = atom.forward(U)
    Z = F + rng.normal(scale=0.5, size=F.shape)
    Z = np.concatenate([Z, atom.forward(_columns(atom, rng, 300))], axis=1)
    Ur = np.concatenate([U, U], axis=1)
    Fr = np.concatenate([F, F], axis=1)
    for form in atom.forms:
        best = atom.divergence_value(Ur, Fr, form)
        other = atom.divergence_value(Ur, Z, form)
        assert np.all(np.isfinite(best))
        assert np.all(other >= best - 1e-12 * (1 + np.abs(best))), form


# ---------------------------------------------------------------------- prox
@pytest.mark.parametrize("atom", FENCHEL_ATOMS + JOINT_ATOMS, ids=repr)
def test_prox_tends_to_forward_as_t_grows(atom):
    """|prox_z(u, v, t) - forward(u)| <= |v - forward(u)| / t (D is 1-strongly convex or sharp in z)."""
    rng = np.random.default_rng(4)
    U = _columns(atom, rng, 200)
    F = atom.forward(U)
    V = F + rng.normal(scale=2.0, size=F.shape)
    gap = np.linalg.norm(V - F, axis=0)
    for form in atom.forms:
        for t in (1e2, 1e4, 1e8):
            P = atom.prox_z(U, V, t, form)
            err = np.linalg.norm(P - F, axis=0)
            bound = gap / t + 1e-12 * (1 + np.abs(U).max(axis=0))
            assert np.all(err <= bound), (form, t, float(np.max(err - bound)))


def _grid_argmin(f, lo, hi, n=1001, rounds=4):
    """Minimiser of a convex scalar function by repeated grid search (brute force)."""
    for _ in range(rounds):
        x = np.linspace(lo, hi, n)
        i = int(np.argmin(f(x)))
        lo, hi = x[max(i - 1, 0)], x[min(i + 1, n - 1)]
    return 0.5 * (lo + hi)


ELEMENTWISE_FORMS = [(key, form) for key in sorted(ELEMENTWISE) for form in ELEMENTWISE[key][0].forms]


@pytest.mark.parametrize("key,form", ELEMENTWISE_FORMS)
def test_prox_matches_brute_force_grid(key, form):
    """prox_z(u, v, t) = argmin_z D(u, z) + (z - v)^2 / (2t), by 1-D grid search (numpy only)."""
    atom, _ = ELEMENTWISE[key]
    kinks = list(getattr(atom, "kinks", ()) or ())
    us = sorted(set([-3.0, -0.7, 0.0, 0.4, 2.5, *kinks]))
    for u in us:
        f_u = float(atom.forward(np.array([u]))[0])
        for v in (-2.0, 0.0, 0.5, 3.0):
            for t in (0.1, 1.0, 10.0):

                def objective(z):
                    uu = np.full((1, z.size), u)
                    return atom.divergence_value(uu, z[None, :], form) + (z - v) ** 2 / (2 * t)

                # in 1-D the minimiser lies between the two minimisers forward(u) and v
                lo, hi = min(f_u, v) - 1e-3, max(f_u, v) + 1e-3
                want = _grid_argmin(objective, lo, hi)
                got = float(atom.prox_z(np.array([u]), np.array([v]), t, form)[0])
                assert got == pytest.approx(want, abs=1e-6), (u, v, t)


# ---------------------------------------------------------------------- structure
def test_problem_classes_and_forms():
    assert ReLU().problem_class("fenchel") == "QP"
    assert Sigmoid().problem_class() == "EXP"
    assert Tanh().problem_class() == "EXP"
    assert Sigmoid().forms == ("fenchel",)
    assert MaxPool().forms == ("joint",)
    assert MaxPool(3).out_dim(12) == 4
    for name in cvxlift.available():
        atom = cvxlift.get_divergence(name)
        for form in atom.forms:
            assert atom.problem_class(form) in ("QP", "SOC", "EXP")


@pytest.mark.parametrize("atom", FENCHEL_ATOMS + JOINT_ATOMS, ids=repr)
def test_divergence_is_dcp_in_each_block(atom):
    n = atom.verify_dim()
    k = atom.out_dim(n)
    for form in atom.forms:
        zb = cp.Problem(cp.Minimize(atom.divergence(cp.Parameter((n, 2)), cp.Variable((k, 2)), form)))
        ub = cp.Problem(cp.Minimize(atom.divergence(cp.Variable((n, 2)), cp.Parameter((k, 2)), form)))
        assert zb.is_dcp(dpp=True) and ub.is_dcp(dpp=True), form
        # an affine u (the W-step) is accepted too
        W = cp.Variable((n, n))
        wb = cp.Problem(cp.Minimize(atom.divergence(W @ np.ones((n, 2)), np.ones((k, 2)) * 0.1, form)))
        assert wb.is_dcp(), form


# ---------------------------------------------------------------------- errors
@pytest.mark.parametrize(
    "make,words",
    [
        (lambda: Clipped(1, 0), ("lower", "upper")),
        (lambda: Clipped(0, math.inf), ("lower", "upper")),
        (lambda: LeakyReLU(0), ("negative_slope",)),
        (lambda: LeakyReLU(1.5), ("negative_slope",)),
        (lambda: LeakyReLU(-0.1), ("negative_slope",)),
        (lambda: MaxPool(0), ("pool_size",)),
        (lambda: MaxPool(2.5), ("pool_size",)),
        (lambda: MaxPool(2, weight=0.5), ("weight",)),
        (lambda: Sin(1), ("n_pieces",)),
        (lambda: MaxPool(2).forward(np.ones((3, 2))), ("pool_size=2", "length 3")),
        (lambda: ReLU().forward(np.ones((2, 2, 2))), ("u", "3 dimensions")),
    ],
)
def test_invalid_arguments_name_the_argument(make, words):
    with pytest.raises(ValidationError) as info:
        make()
    for w in words:
        assert w in str(info.value)


def test_missing_form_raises_form_error_naming_the_form():
    u = np.ones((1, 2))
    with pytest.raises(FormError, match="'joint'") as info:
        Sigmoid().divergence(u, cp.Variable((1, 2)), form="joint")
    assert "fenchel" in str(info.value)
    with pytest.raises(FormError, match="'fenchel'"):
        MaxPool(2).divergence(np.ones((4, 1)), cp.Variable((2, 1)), form="fenchel")
    with pytest.raises(FormError, match="'joint'"):
        Tanh().prox_z(u, u, 1.0, form="joint")


def test_bogus_form_is_rejected():
    for call in (
        lambda: ReLU().divergence(np.ones(2), cp.Variable(2), form="bogus"),
        lambda: ReLU().divergence_value(np.ones(2), np.ones(2), form="bogus"),
        lambda: ReLU().problem_class("bogus"),
    ):
        with pytest.raises(FormError, match="bogus") as info:
            call()
        assert "form" in str(info.value)


def test_unknown_name_lists_known_names():
    with pytest.raises(UnknownAtomError) as info:
        cvxlift.get_divergence("nope")
    msg = str(info.value)
    assert "'nope'" in msg
    for name in cvxlift.available():
        assert name in msg
    assert isinstance(info.value, KeyError)  # still a KeyError for dict-like callers


def test_get_divergence_accepts_names_classes_instances_and_params():
    assert cvxlift.get_divergence("leaky-relu", negative_slope=0.1) == LeakyReLU(0.1)
    assert cvxlift.get_divergence(ReLU) == ReLU()
    relu = ReLU()
    assert cvxlift.get_divergence(relu) is relu
    with pytest.raises(ValidationError):
        cvxlift.get_divergence(3)


@pytest.mark.parametrize(
    "u_shape,z_shape,words",
    [
        ((3, 2), (3, 3), ("columns", "u.shape=(3, 2)", "z.shape=(3, 3)")),
        ((3,), (3, 1), ("u.shape=(3,)", "z.shape=(3, 1)")),
        ((3, 2), (4, 2), ("4 rows",)),
    ],
)
def test_divergence_shape_mismatch(u_shape, z_shape, words):
    with pytest.raises(ValidationError) as info:
        ReLU().divergence(np.ones(u_shape), cp.Variable(z_shape))
    for w in words:
        assert w in str(info.value)


def test_maxpool_divergence_needs_matching_output_rows():
    with pytest.raises(ValidationError, match=re.escape("length 4 to length 2")):
        MaxPool(2).divergence(np.ones((4, 1)), cp.Variable((3, 1)))
