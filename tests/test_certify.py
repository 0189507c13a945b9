"""``cvxlift.certify`` and ``cvxlift.register_solver``: a correct hand-written prox and block
solver pass (the prox is recorded as certified, the solver is registered and picked by
``select``); a prox with a typo, a prox wrong only at t = 1e9 and a block solver off by a small
amount are refused, with the worst instance named."""

import cvxpy as cp
import numpy as np
import pytest

import cvxlift
from cvxlift import CertificationError, ValidationError, fast
from cvxlift.divergences.base import domain_indicator
from cvxlift.fast.registry import is_certified, register


def _soft(w, k):
    return np.sign(w) * np.maximum(np.abs(w) - k, 0.0)


def soft_threshold(name, prox):
    """Phi(z) = z^2/2 + |z| (forward: soft thresholding at 1); its prox is soft(w, t) / (1 + t)."""
    return cvxlift.declare_divergence(
        name,
        phi=lambda z: 0.5 * cp.sum_squares(z) + cp.norm1(z),
        phi_star=lambda u: 0.5 * cp.sum_squares(cp.pos(cp.abs(u) - 1)),
        forward=lambda u: _soft(u, 1.0),
        phi_value=lambda z: np.sum(0.5 * z**2 + np.abs(z), axis=0),
        phi_star_value=lambda u: np.sum(0.5 * np.maximum(np.abs(u) - 1, 0) ** 2, axis=0),
        prox_phi=prox,
        kinks=(-1.0, 1.0),
    )


# ------------------------------------------------------------------------------ proxes
def test_correct_prox_is_certified_over_t_from_1e_minus_6_to_1e9():
    d = soft_threshold("soft_certify_ok", lambda w, t: _soft(w, t) / (1 + t))
    assert not is_certified(d, "fenchel")
    rep = cvxlift.certify(d)
    assert rep.passed, str(rep)
    assert rep.kind == "prox" and rep.certified == ["fenchel"]
    assert [r.instance for r in rep.results] == [f"fenchel t={10.0**k:.0e}" for k in range(-6, 10)]
    assert max(r.distance for r in rep.results) <= d.argmin_tol
    assert is_certified(d, "fenchel")
    assert "PASSED" in str(rep)


def test_prox_with_a_typo_is_refused():
    d = soft_threshold("soft_certify_typo", lambda w, t: _soft(w, t) / (1 + 2 * t))  # typo: 2 t
    rep = cvxlift.certify(d)
    assert not rep.passed and rep.certified == []
    assert not is_certified(d, "fenchel")
    assert len(rep.failed()) >= 10  # wrong at almost every t
    text = str(rep)
    assert "FAILED" in text and "worst instance: fenchel t=" in text and "prox_z" in text and "CVXPY" in text


def test_prox_wrong_only_at_t_1e9_is_refused():
    """A prox that takes a shortcut for huge t: right at t <= 1e8 (so at the t in {0.1, 1, 10}
    that ``verify`` checks), wrong at t = 1e9."""

    def prox(w, t):
        if np.max(t) > 1e8:
            return w / (1 + t)  # forgot the threshold
        return _soft(w, t) / (1 + t)

    d = soft_threshold("soft_certify_big_t", prox)
    rep = cvxlift.certify(d)
    assert not rep.passed and not is_certified(d, "fenchel")
    assert [r.instance for r in rep.failed()] == ["fenchel t=1e+09"]
    assert rep.worst.instance == "fenchel t=1e+09"
    assert rep.worst.worst.startswith("t=1e+09")
    assert str(rep).splitlines()[-1].startswith("worst instance: fenchel t=1e+09")


def test_jointly_convex_user_prox_is_certified():
    d = cvxlift.declare_divergence(
        "relu_certify_joint",
        joint=lambda u, z: cp.sum_squares(z - u) + domain_indicator([z >= 0]),
        forward=lambda u: np.maximum(u, 0.0),
        joint_value=lambda u, z: np.where((z >= -1e-9).all(axis=0), np.sum((z - u) ** 2, axis=0), np.inf),
        prox_joint=lambda U, V, t: np.maximum((2 * t * U + V) / (2 * t + 1), 0.0),
    )
    rep = cvxlift.certify(d)
    assert rep.passed and rep.certified == ["joint"] and is_certified(d, "joint"), str(rep)


# ------------------------------------------------------------------------------ block solvers
def ce_nonneg(U0, Y, d, form, lam, loss):
    """Cross-entropy output step for a ``mu ||z - u||^2`` on ``z >= 0`` atom, in closed form per
    entry: the root of ``z^2 - u z - c = 0``, ``c = y / (2 lam mu)`` (``max(u, 0)`` where ``y = 0``)."""
    mu = d.z_quadratic(form)[0]
    C = Y / (2.0 * lam * mu)
    r = np.sqrt(U0 * U0 + 4.0 * C)
    neg = U0 < 0
    return np.where(neg, 2.0 * C / np.where(neg, r - U0, 1.0), 0.5 * (U0 + r))


def ce_applies(atom, loss):
    return loss == "cross_entropy" and atom.domain == "nonneg"


RELU = [(cvxlift.ReLU(), "joint"), (cvxlift.ReLU(), "fenchel")]


@pytest.fixture
def cleanup():
    """Disable the candidates a test registers (the registry has no removal): a later
    ``select`` must not see them."""
    added = []
    yield added
    for kind, name in added:
        register(kind, name, lambda **props: False, "disabled after its test")(lambda *a, **k: None)


def test_correct_block_solver_is_certified_registered_and_selected(cleanup):
    assert not any(
        c.predicate(atom=fast.atom_props(cvxlift.ReLU(), "joint"), loss="cross_entropy")
        for c in fast.candidates("output_step")
    )  # no built-in solver for this block
    cleanup.append(("output_step", "ce_nonneg_test"))
    rep = cvxlift.register_solver(
        "output_step",
        "ce_nonneg_test",
        ce_nonneg,
        applies=ce_applies,
        needs="cross-entropy with a nonnegative quadratic z-side",
        atoms=RELU,
    )
    assert rep.passed and len(rep.results) == 12, str(rep)  # 2 forms x 3 lam x (one-hot, soft labels)
    assert all(r.report.row("distance Z").passed is not False for r in rep.results)
    props = fast.atom_props(cvxlift.ReLU(), "joint")
    assert fast.select("output_step", atom=props, loss="cross_entropy").name == "ce_nonneg_test"
    rng = np.random.default_rng(0)
    U0, Y = rng.normal(size=(4, 9)), np.eye(4)[:, rng.integers(4, size=9)]
    Z, info = fast.output_step(U0, Y, cvxlift.ReLU(), "joint", 0.5, "cross_entropy")
    assert info.solver == "output_step/ce_nonneg_test"
    assert info.converged and info.certificate <= 1e-9  # the block's residual at its answer
    assert np.array_equal(Z, ce_nonneg(U0, Y, cvxlift.ReLU(), "joint", 0.5, "cross_entropy"))
    # the squared loss still goes to the built-in solver
    assert fast.select("output_step", atom=props, loss="squared").name == "squared_prox"


def test_block_solver_off_by_a_small_amount_is_refused():
    def off(U0, Y, d, form, lam, loss):
        return ce_nonneg(U0, Y, d, form, lam, loss) * (1 + 1e-4)

    with pytest.raises(
        CertificationError,
        match=r"output_step solver 'ce_nonneg_off' refused: 12 of 12 .*worst: "
        r"cross_entropy:ReLU\(\)",
    ) as exc:
        cvxlift.register_solver("output_step", "ce_nonneg_off", off, applies=ce_applies, atoms=RELU)
    assert "ce_nonneg_off" not in [c.name for c in fast.candidates("output_step")]
    rep = exc.value.report
    assert not rep.passed and rep.worst.report.worst.name in ("distance Z", "residual")
    # the objective moves only to second order: the distance and the residual catch the error
    assert all(r.report.row("residual").passed is False for r in rep.results)


def ridge(A, Z, d, form, lam, rho):
    """A hand-written ridge W-step (D = mu ||u - z||^2 + g(z) in u): normal equations with the bias."""
    mu = d.z_quadratic(form)[0]
    p, m = A.shape
    Ab = np.vstack([A, np.ones((1, m))])
    G = Ab @ Ab.T
    G[np.arange(p), np.arange(p)] += rho / (lam * mu)
    Wb = np.linalg.solve(G, Ab @ Z.T).T
    return Wb[:, :p], Wb[:, p]


def test_hand_written_w_step_on_the_builtin_battery():
    rep = cvxlift.certify(ridge, "w_step", applies=lambda atom: atom.u_quadratic is not None)
    assert rep.passed and len(rep.results) == 30, str(rep)  # 5 (atom, form) cases x 3 ratios x 2 inputs

    def ridge_off(A, Z, d, form, lam, rho):
        W, b = ridge(A, Z, d, form, lam, rho)
        return W * (1 + 1e-4), b

    bad = cvxlift.certify(ridge_off, "w_step", applies=lambda atom: atom.u_quadratic is not None)
    assert not bad.passed and len(bad.failed()) == 30
    assert "worst instance:" in str(bad)


def test_registration_errors(cleanup):
    with pytest.raises(CertificationError, match="no battery instance satisfies applies"):
        cvxlift.register_solver("w_step", "never", ridge, applies=lambda atom: False)
    with pytest.raises(ValidationError, match="kind must be one of"):
        cvxlift.register_solver("u_step", "x", ridge, applies=lambda atom: True)
    with pytest.raises(ValidationError, match="kind must be one of"):
        cvxlift.certify(ridge)
    with pytest.raises(ValidationError, match="applies must take the keyword arguments"):
        cvxlift.certify(ridge, "w_step", applies=lambda layers: True)

    def broken(A, Z, d, form, lam, rho):
        raise ValueError("not implemented for this shape")

    rep = cvxlift.certify(broken, "w_step", applies=lambda atom: atom.u_quadratic is not None and atom.mu == 0.5)
    assert not rep.passed and "the solver failed: ValueError: not implemented" in rep.worst.worst

    def transposed(A, Z, d, form, lam, rho):
        W, b = ridge(A, Z, d, form, lam, rho)
        return W.T, b

    rep = cvxlift.certify(transposed, "w_step", applies=lambda atom: atom.u_quadratic is not None and atom.mu == 0.5)
    assert not rep.passed and "the solver's answer: candidate W must have shape" in rep.worst.worst


def joint_lbfgs(U0, Y, weights, biases, divs, forms, lams, loss):
    """The joint X-step of jointly convex box-domain atoms (mu ||z - u||^2 on a box) with the
    squared loss, by L-BFGS-B on all states at once; the boxes come from ``project_domain``."""
    from scipy.optimize import minimize

    m, n = U0.shape[1], len(divs)
    mus = [d.z_quadratic(f)[0] for d, f in zip(divs, forms)]
    shapes = [(d.out_dim(W.shape[0]), m) for d, W in zip(divs, weights)]
    cut = np.cumsum([0] + [a * b for a, b in shapes])

    def split(x):
        return [x[cut[i] : cut[i + 1]].reshape(shapes[i]) for i in range(n)]

    def fg(x):
        S = split(x)
        f, G = np.sum((S[-1] - Y) ** 2), [np.zeros(s) for s in shapes]
        G[-1] += 2 * (S[-1] - Y)
        for l in range(n):
            U = U0 if l == 0 else weights[l] @ S[l - 1] + biases[l][:, None]
            R = S[l] - U
            f += lams[l] * mus[l] * np.sum(R**2)
            G[l] += 2 * lams[l] * mus[l] * R
            if l > 0:
                G[l - 1] -= 2 * lams[l] * mus[l] * weights[l].T @ R
        return f, np.concatenate([g.ravel() for g in G])

    bounds = []
    for d, (k, _) in zip(divs, shapes):
        lo, hi = d.project_domain(np.array([[-np.inf], [np.inf]])).ravel()
        bounds += [(None if np.isinf(lo) else lo, None if np.isinf(hi) else hi)] * (k * m)
    x0 = np.concatenate([d.project_domain(np.zeros(s)).ravel() for d, s in zip(divs, shapes)])
    res = minimize(
        fg,
        x0,
        jac=True,
        method="L-BFGS-B",
        bounds=bounds,
        options=dict(maxiter=50000, maxcor=30, ftol=1e-15, gtol=1e-12),
    )
    return split(res.x)


def joint_applies(layers, loss):
    return loss == "squared" and all(a.form == "joint" and a.domain in ("real", "nonneg", "box") for a in layers)


def test_hand_written_joint_x_step_on_the_builtin_battery():
    memo = {}

    def solver(*args):
        key = args[0].tobytes()
        if key not in memo:
            memo[key] = joint_lbfgs(*args)
        return [S.copy() for S in memo[key]]

    rep = cvxlift.certify(solver, "joint_x_step", applies=joint_applies)
    assert rep.passed and len(rep.results) == 6, str(rep)  # 3 networks x 2 penalty profiles

    def joint_off(*args):
        states = solver(*args)
        states[0] = states[0] + 1e-3
        return states

    bad = cvxlift.certify(joint_off, "joint_x_step", applies=joint_applies)
    assert not bad.passed and len(bad.failed()) == 6, str(bad)
    # the moved state is named; where it leaves its box (clipped), the objective is infinite
    assert all(r.report.row("distance X1").passed is False for r in bad.results)
    assert all("objective gap = inf" in r.worst or "X1" in r.worst for r in bad.results)


def x_linear(U0, W, b, Znext, d_prev, f_prev, d_next, f_next, lam_prev, lam_next):
    """The X-step when both terms are quadratic: (a I + B W^T W) Z = a U0 + B W^T (Znext - b)."""
    a = lam_prev * d_prev.z_quadratic(f_prev)[0]
    B = lam_next * fast.atom_props(d_next, f_next).u_quadratic
    M = a * np.eye(W.shape[1]) + B * W.T @ W
    return np.linalg.solve(M, a * U0 + B * W.T @ (Znext - b[:, None]))


def x_linear_applies(prev, next, q=None):
    return prev.domain == "real" and next.u_quadratic is not None


def test_registered_x_step_runs_through_the_fast_path(cleanup):
    """The registry calls a registered solver through its own convention: ``fast.x_step(...,
    method=name)`` runs the user's solver and reports its residual as the certificate."""
    cleanup.append(("x_step", "linear_by_hand"))
    rep = cvxlift.register_solver("x_step", "linear_by_hand", x_linear, applies=x_linear_applies)
    assert rep.passed and len(rep.results) == 4, str(rep)
    inst = [i for i in cvxlift.battery.instances("x_step") if x_linear_applies(**i.props())][0]
    Z, info = fast.x_step(*inst.args, method="linear_by_hand")
    assert info.solver == "x_step/linear_by_hand" and info.converged and info.certificate <= 1e-9
    assert inst.check(Z).passed
    # the built-in solver stays first where both apply
    assert fast.x_step(*inst.args)[1].solver != "x_step/linear_by_hand"
