"""Certification of the generic fast solvers (``cvxlift/fast/generic.py``, ``numeric_prox.py``)
against the CVXPY formulation of the same block, on user-declared and built-in atoms; and
training with user atoms on ``solver="fast"`` without a CVXPY block (issue 11).
"""

import runpy
from pathlib import Path

import cvxpy as cp
import numpy as np
import pytest
from cvxpy.transforms import indicator
from fast_helpers import ATOMS, assert_close, assert_objectives, bias, cvx_solve, ill_conditioned, param, seed_of

import cvxlift
from cvxlift import cvxsolve, fast
from cvxlift.fast import registry

_NS = runpy.run_path(str(Path(__file__).resolve().parents[2] / "examples" / "user_atoms.py"), run_name="u")
USER = dict(_NS["ATOMS"], **_NS["REJECTED"])  # omega fails verify's zero row, but its solvers are fine


def _l1_hard_sigmoid():
    """|z - u| + I_[0,1](z): jointly convex, no tilt structure, no numpy prox (values-only prox)."""
    return cvxlift.declare_divergence(
        "l1_hard_sigmoid",
        forward=lambda U: np.clip(U, 0, 1),
        joint=lambda u, z: cp.sum(cp.abs(z - u)) + indicator([z >= 0, z <= 1]),
        joint_value=lambda U, Z: np.sum(np.abs(Z - U), axis=0),
        domain=(0, 1),
        kinks=(0.0, 1.0),
    )


def _atom(name):
    if name in USER:
        d = USER[name]()
        if name == "elastic_hard_sigmoid":  # its prox_u passes verify (test_user_atoms_pass_verify)
            registry.mark_certified(d, "joint", "prox_u")
        return d
    if name == "l1_hard_sigmoid":
        return _l1_hard_sigmoid()
    return ATOMS[name]


def _x_problem(rng, dp, dn, shape):
    if shape == "wide":
        p, q, m = 6, 4, 20
        W = rng.normal(size=(q, p))
    else:
        p, q, m = 6, 8, 15
        W = ill_conditioned(rng, q, p)
    return W, rng.normal(size=q), 2.0 * rng.normal(size=(p, m)), dn.forward(2.0 * rng.normal(size=(q, m)))


# (previous atom, next atom, the solver the registry selects); "!tilt_newton": forced (the
# Fenchel-Young atoms select dual_newton_fenchel, the same dual Newton core; tilt_newton applies
# to them too and is certified on them as well)
XCASES = [
    (("steep_hard_sigmoid", "fenchel"), ("relu", "joint"), "dual_newton_fenchel"),
    (("steep_hard_sigmoid", "fenchel"), ("relu", "joint"), "!tilt_newton"),
    (("steep_hard_sigmoid", "fenchel"), ("simplex", "joint"), "dual_newton_fenchel"),
    (("steep_hard_sigmoid", "fenchel"), ("simplex", "joint"), "!tilt_newton"),
    (("omega", "joint"), ("relu", "joint"), "tilt_newton"),
    (("hard_sigmoid_joint", "joint"), ("simplex", "joint"), "tilt_newton"),
    (("elastic_hard_sigmoid", "joint"), ("identity", "joint"), "tilt_newton"),
    (("sigmoid", "fenchel"), ("relu", "joint"), "!tilt_newton"),
    (("l1_hard_sigmoid", "joint"), ("relu", "joint"), "fista_numeric"),
    (("omega", "joint"), ("sigmoid", "fenchel"), "fista"),
]


def _xcases():
    # an ill-conditioned W needs thousands of FISTA iterations: through a root-finding or a
    # values-only prox that is minutes, so the FISTA cases take the well-conditioned instance only
    return [(a, b, m, s) for a, b, m in XCASES for s in (("wide", "ill") if "newton" in m else ("wide",))]


@pytest.mark.parametrize(
    "prev,nxt,method,shape", _xcases(), ids=[f"{a[0]}-{b[0]}-{m.lstrip('!')}-{s}" for a, b, m, s in _xcases()]
)
def test_generic_x_step_matches_cvxpy(prev, nxt, method, shape):
    (pn, fp), (nn, fn) = prev, nxt
    dp, dn = _atom(pn), _atom(nn)
    rng = np.random.default_rng(seed_of(prev, nxt, shape))
    W, b, U0, Znext = _x_problem(rng, dp, dn, shape)
    p, m = U0.shape
    lam_prev, lam_next = 1.0, 3.0
    forced = method.startswith("!")
    method = method.lstrip("!")
    Z, info = fast.x_step(U0, W, b, Znext, dp, fp, dn, fn, lam_prev, lam_next, method=method if forced else None)
    assert info.solver == f"x_step/{method}"
    tol = 1e-9 if method != "fista_numeric" else 1e-6
    assert info.converged and info.certificate <= tol, info
    Zv = cp.Variable((p, m))
    obj = lam_prev * dp.divergence(param(U0), Zv, fp) + lam_next * dn.divergence(W @ Zv + bias(b, m), param(Znext), fn)
    cvx_solve(
        cp.Problem(cp.Minimize(obj)),
        cvxsolve.combine_classes(dp.problem_class(fp), dn.problem_class(fn)),
        allow_inaccurate=True,
    )
    F_cvx = fast.XStepProblem(U0, W, b, Znext, dp, fp, dn, fn, lam_prev, lam_next).objective(Zv.value)
    assert_objectives(info.objective, F_cvx, what=f"{prev} -> {nxt}")
    if method != "fista_numeric":  # strongly convex in z: the minimiser is unique
        assert_close(Z, Zv.value, tol=1e-4 * (1 + np.linalg.norm(Zv.value)), what="Z")


WCASES = [("maxpool", "joint"), ("leaky_relu", "joint"), ("elastic_hard_sigmoid", "joint"), ("steep_nolip", "fenchel")]


@pytest.mark.parametrize("name,form", WCASES)
def test_admm_w_step_matches_cvxpy(name, form):
    """D nonsmooth in u (or without a known Lipschitz constant): ADMM through the u-prox."""
    if name == "steep_nolip":  # the steep hard sigmoid without its declared constant
        d = cvxlift.declare_divergence(
            "steep_nolip",
            forward=lambda U: np.clip(2 * U, 0, 1),
            phi=lambda z: 0.25 * cp.sum_squares(z) + indicator([z >= 0, z <= 1]),
            phi_star=lambda u: cp.sum(cp.huber(cp.pos(u), 0.5)),
            domain=(0, 1),
        )
    else:
        d = _atom(name) if name != "maxpool" else cvxlift.MaxPool(2)
    rng = np.random.default_rng(seed_of(name, form))
    p, q, m = 6, 4, 25
    A = ill_conditioned(rng, p, m) + 1.0
    n_u = d.in_dim(q)
    Z = d.forward(2.0 * rng.normal(size=(n_u, m)))
    lam, rho = 2.0, 0.5
    W, b, info = fast.w_step(A, Z, d, form, lam, rho, W0=np.zeros((n_u, p)), tol=1e-10, max_iter=20000)
    assert info.solver == "w_step/admm" and info.converged, info
    Wv, bv = cp.Variable((n_u, p)), cp.Variable(n_u)
    obj = lam * d.divergence(Wv @ A + bias(bv, m), param(Z), form) + rho * cp.sum_squares(Wv)
    cvx_solve(cp.Problem(cp.Minimize(obj)), d.problem_class(form))
    F_cvx = fast.w_objective(A, Z, Wv.value, bv.value, d, form, lam, rho)
    assert_objectives(info.objective, F_cvx, what=f"{d!r} {form}")
    assert_close(W, Wv.value, tol=1e-4 * (1 + np.linalg.norm(Wv.value)), what="W")


def test_admm_is_monotone_from_a_warm_start_with_few_iterations():
    d = cvxlift.LeakyReLU(0.1)
    rng = np.random.default_rng(3)
    A = rng.normal(size=(5, 40))
    Z = d.forward(rng.normal(size=(3, 40)))
    W0, b0 = rng.normal(size=(3, 5)), rng.normal(size=3)
    F0 = fast.w_objective(A, Z, W0, b0, d, "joint", 1.0, 0.1)
    for it in (1, 2, 5):
        _, _, info = fast.w_step(A, Z, d, "joint", 1.0, 0.1, W0=W0, b0=b0, max_iter=it)
        assert info.objective <= F0


def test_admm_keeps_its_dual_in_the_layer_cache():
    """The layer's WStepCache gives ADMM the Gram matrix and its factors and keeps ADMM's penalty
    and dual for the next W-step with the same input (a warm start: the same answer in fewer
    iterations); another input starts afresh."""
    d = cvxlift.LeakyReLU(0.1)
    rng = np.random.default_rng(4)
    A = rng.normal(size=(6, 60)) + 1.0
    Z = d.forward(rng.normal(size=(4, 60)))
    cache = fast.WStepCache()
    W1, b1, first = fast.w_step(A, Z, d, "joint", 1.0, 0.1, tol=1e-7, max_iter=5000, cache=cache)
    assert first.solver == "w_step/admm" and first.converged and "admm" in cache.state
    W2, b2, again = fast.w_step(A, Z, d, "joint", 1.0, 0.1, W0=W1, b0=b1, tol=1e-7, max_iter=5000, cache=cache)
    assert again.converged and again.iterations < first.iterations and cache.hits == 1
    assert abs(again.objective - first.objective) <= 1e-6 * abs(first.objective)
    fast.w_step(A.copy(), Z, d, "joint", 1.0, 0.1, max_iter=1, cache=cache)  # another array: rebound
    assert cache.misses == 2 and cache.state["admm"]["Y"].shape == Z.shape


@pytest.mark.parametrize(
    "name,form",
    [("steep_hard_sigmoid", "fenchel"), ("omega", "joint"), ("l1_hard_sigmoid", "joint"), ("sigmoid", "fenchel")],
)
def test_derived_and_numeric_prox_match_cvxpy(name, form):
    d = _atom(name)
    rng = np.random.default_rng(seed_of(name))
    U, V = rng.normal(scale=3, size=(1, 30)), rng.normal(scale=2, size=(1, 30))
    tol = 1e-6 if d.prox_kind(form) == "numeric" else 1e-7
    for t in (1e-6, 1.0, 1e9):
        z = cp.Variable(U.shape)
        obj = d.divergence(param(U), z, form) + cp.sum_squares(z - V) / (2 * t)
        cvx_solve(cp.Problem(cp.Minimize(obj)), d.problem_class(form), allow_inaccurate=True)
        P = d.prox_z(U, V, t, form)
        ref = np.asarray(z.value)
        with np.errstate(all="ignore"):
            fP = d.divergence_value(U, P, form) + (P - V) ** 2 / (2 * t)
            fR = d.divergence_value(U, ref, form) + (ref - V) ** 2 / (2 * t)
        close = np.abs(P - ref) <= tol * (1 + np.abs(ref))
        assert np.all(close | (fP <= fR + 1e-9 * (1 + np.abs(fR)))), (t, P, ref)


def test_no_fast_solver_names_the_block_and_the_missing_property():
    vec = cvxlift.declare_divergence(
        "vector_atom",
        forward=lambda U: U - U.mean(axis=0),
        joint=lambda u, z: cp.sum_squares(z - u),
        elementwise=False,
        verify_dim=3,
    )
    props = fast.atom_props(vec, "joint")
    with pytest.raises(fast.NoFastSolver) as exc:
        fast.select("x_step", block="X2", prev=props, next=fast.atom_props(ATOMS["relu"], "joint"))
    msg = str(exc.value)
    assert "block X2 (x_step)" in msg and "prox='dsl'" in msg and "elementwise=False" in msg
    assert "a vector atom" in msg and "certify" in msg


# ---------------------------------------------------------------------------- training
@pytest.mark.parametrize(
    "name,form",
    [
        ("steep_hard_sigmoid", "fenchel"),
        ("hard_sigmoid_joint", "joint"),
        ("elastic_hard_sigmoid", "joint"),
        ("softplus_exact", "fenchel"),
    ],
)
def test_user_atoms_train_on_the_fast_path_without_cvxpy(name, form, monkeypatch):
    """Before: a jointly convex user atom fell back to CVXPY under solver="fast" without a word, and
    a Fenchel-Young one ran with L = 1 (every first-layer update rejected)."""
    d = _atom(name)

    def no_cvxpy(*a, **k):
        raise AssertionError("a block went to CVXPY")

    monkeypatch.setattr(cvxsolve, "solve", no_cvxpy)
    rng = np.random.default_rng(0)
    X = rng.normal(size=(12, 150))
    Y = np.eye(4)[:, rng.integers(0, 4, 150)]
    net = cvxlift.LiftedNetwork(
        [12, 16, 4], [d, "simplex"], loss="cross_entropy", form=[form, "joint"], rho=0.1, random_state=0
    )
    net.fit(X, Y, solver="fast", max_iter=3, tol=0, fast_options={"w_step": {"max_iter": 50}})
    blocks = set(net.block_info_)
    # every block ran on the fast path: per layer, or the joint X-step (all forms jointly convex)
    assert {"W0", "W1"} <= blocks and ({"X1", "output"} <= blocks or "X (joint)" in blocks), blocks
    assert not any(getattr(v, "fallback", None) for v in net.block_info_.values())
    assert "rejected" not in net.block_info_
    h = np.asarray(net.history_)
    assert np.all(np.diff(h) <= 1e-12 * np.abs(h[:-1])) and h[-1] < h[0]


PDHG_CASES = [("elastic_hard_sigmoid", "joint"), ("leaky_relu", "joint"), ("maxpool", "joint")]


@pytest.mark.parametrize("name,form", PDHG_CASES)
def test_pdhg_x_step_with_a_next_layer_nonsmooth_in_u_matches_cvxpy(name, form):
    dn = cvxlift.MaxPool(2) if name == "maxpool" else _atom(name)
    dp = ATOMS["relu"]
    rng = np.random.default_rng(seed_of(name, "pdhg"))
    p, q, m = 6, 4, 20
    n_u = dn.in_dim(q)
    W, b = rng.normal(size=(n_u, p)) / 2, rng.normal(size=n_u)
    U0, Znext = 2.0 * rng.normal(size=(p, m)), dn.forward(2.0 * rng.normal(size=(n_u, m)))
    Z, info = fast.x_step(U0, W, b, Znext, dp, "joint", dn, form, 1.0, 2.0)
    assert info.solver == "x_step/pdhg" and info.converged, info
    Zv = cp.Variable((p, m))
    obj = dp.divergence(param(U0), Zv, "joint") + 2.0 * dn.divergence(W @ Zv + bias(b, m), param(Znext), form)
    cvx_solve(cp.Problem(cp.Minimize(obj)), "QP")
    F_cvx = fast.XStepProblem(U0, W, b, Znext, dp, "joint", dn, form, 1.0, 2.0).objective(Zv.value)
    assert_objectives(info.objective, F_cvx, what=f"relu -> {name}")
