"""The reference-solution API (``cvxlift.reference``) on every block kind and on a user-declared
atom: a correct candidate (a fast solver's answer, or an independent solver's) passes; a
deliberately wrong one fails, and the report names the worst violation and where it is."""

import cvxpy as cp
import numpy as np
import pytest
from scipy.optimize import minimize

import cvxlift
from cvxlift import NotFittedError, ValidationError, fast
from cvxlift.reference import ITER_RTOL, OBJ_RTOL, RESIDUAL_TOL


@pytest.fixture(scope="module")
def relu_net():
    """A 5-6-4-3 network, jointly convex ReLU layers, identity output, squared loss, forward states."""
    rng = np.random.default_rng(0)
    net = cvxlift.LiftedNetwork(
        [5, 6, 4, 3], activations="relu", loss="squared", lam=[1.0, 2.0, 3.0], rho=0.1, form="joint", random_state=0
    ).init_weights()
    X, Y = rng.normal(size=(5, 20)), rng.normal(size=(3, 20))
    return net, X, Y, net.forward(X)


def _soft(w, k):
    return np.sign(w) * np.maximum(np.abs(w) - k, 0.0)


def soft_threshold(name="soft_threshold_ref", prox=None):
    """A user-declared Fenchel-Young atom: Phi(z) = z^2/2 + |z|, forward = soft thresholding at 1."""
    return cvxlift.declare_divergence(
        name,
        phi=lambda z: 0.5 * cp.sum_squares(z) + cp.norm1(z),
        phi_star=lambda u: 0.5 * cp.sum_squares(cp.pos(cp.abs(u) - 1)),
        forward=lambda u: _soft(u, 1.0),
        phi_value=lambda z: np.sum(0.5 * z**2 + np.abs(z), axis=0),
        phi_star_value=lambda u: np.sum(0.5 * np.maximum(np.abs(u) - 1, 0) ** 2, axis=0),
        prox_phi=prox or (lambda w, t: _soft(w, t) / (1 + t)),
        kinks=(-1.0, 1.0),
        lipschitz=1.0,  # of forward: declared (never a default), checked by the fast path and verify
    )


def _perturb(sol, part, entry, delta):
    """A copy of a reference solution with one entry of one part moved by ``delta``."""
    if isinstance(sol, tuple):
        out = tuple(np.array(a) for a in sol)
    elif isinstance(sol, list):
        out = [np.array(a) for a in sol]
    else:
        out = np.array(sol)
        out[entry] += delta
        return out
    out[part][entry] += delta
    return out


def _assert_pass(rep):
    assert rep.passed and bool(rep), str(rep)
    assert "PASSED" in str(rep)
    assert rep.row("objective gap").tol == OBJ_RTOL
    assert rep.row("residual").passed, str(rep)  # every block here has a residual
    assert rep.row("residual").value <= RESIDUAL_TOL


def _assert_fail(rep, name, where):
    """The check failed, the row ``name`` failed at ``where``, and the report names its worst violation."""
    text = str(rep)
    assert not rep.passed and not bool(rep), text
    assert "FAILED" in text and "worst violation:" in text, text
    row = rep.row(name)
    assert row.passed is False and row.where == where, text
    assert rep.worst.passed is False
    worst_line = text.splitlines()[-1]
    assert rep.worst.name in worst_line and rep.worst.where in worst_line


# ------------------------------------------------------------------------------ every block kind
@pytest.mark.parametrize("l", [0, 1, 2])
def test_w_step_reference(relu_net, l):
    net, X, Y, S = relu_net
    ref = cvxlift.reference(net, X, Y, block=f"W{l}", states=S)
    assert ref.kind == "w_step" and ref.status == "optimal"
    inputs = [X] + S[:-1]
    W, b, info = fast.w_step(inputs[l], S[l], net.activations_[l], net.forms_[l], net.lam_[l], net.rho_[l])
    rep = ref.check((W, b, info))
    _assert_pass(rep)
    assert rep.row("distance W").passed and rep.row("distance b").passed  # ridge: W and b unique
    assert abs(rep.objective - info.objective) <= 1e-12 * abs(info.objective)
    wrong = _perturb((W, b), 0, (1, 2), 1e-3)
    _assert_fail(ref.check(wrong), "distance W", "W[1, 2]")


@pytest.mark.parametrize("l", [1, 2])
def test_x_step_reference(relu_net, l):
    net, X, Y, S = relu_net
    ref = cvxlift.reference(net, X, Y, block=f"X{l}", states=S)
    A, F, lam, Wt, bt = net.activations_, net.forms_, net.lam_, net.weights_, net.biases_
    prev = X if l == 1 else S[l - 2]
    U0 = Wt[l - 1] @ prev + bt[l - 1][:, None]
    Z, info = fast.x_step(U0, Wt[l], bt[l], S[l], A[l - 1], F[l - 1], A[l], F[l], lam[l - 1], lam[l])
    _assert_pass(ref.check((Z, info)))
    wrong = _perturb(Z, None, (2, 7), 0.01)
    rep = ref.check(wrong)
    _assert_fail(rep, "distance Z", "Z[2, 7]")
    assert rep.row("residual").where == "column 7" and rep.row("objective gap").where == "column 7"


def test_output_reference(relu_net):
    net, X, Y, S = relu_net
    ref = cvxlift.reference(net, X, Y, block="output", states=S)
    U0 = net.weights_[2] @ S[1] + net.biases_[2][:, None]
    Z, info = fast.output_step(U0, Y, net.activations_[2], net.forms_[2], net.lam_[2], "squared")
    _assert_pass(ref.check(Z))
    # a small error (1e-4 relative) moves the objective only to second order: the distance and
    # the residual catch it
    wrong = Z * (1 + 1e-4)
    rep = ref.check(wrong)
    assert rep.row("objective gap").passed
    assert not rep.passed and not rep.row("distance Z").passed and not rep.row("residual").passed
    assert "worst violation:" in str(rep)


def _joint_by_lbfgs(net, X, Y):
    """The joint X-step of the 5-6-4-3 joint ReLU network by L-BFGS-B (an independent solver):
    a bound-constrained QP in (X1, X2, X3)."""
    (W0, W1, W2), (b0, b1, b2), (l1, l2, l3) = net.weights_, net.biases_, net.lam_
    U0, m = W0 @ X + b0[:, None], X.shape[1]
    shapes = [(6, m), (4, m), (3, m)]
    cut = np.cumsum([0] + [a * b for a, b in shapes])

    def split(x):
        return [x[cut[i] : cut[i + 1]].reshape(shapes[i]) for i in range(3)]

    def fg(x):
        X1, X2, X3 = split(x)
        r1, r2, r3, r4 = X1 - U0, X2 - W1 @ X1 - b1[:, None], X3 - W2 @ X2 - b2[:, None], X3 - Y
        f = l1 * np.sum(r1**2) + l2 * np.sum(r2**2) + l3 * np.sum(r3**2) + np.sum(r4**2)
        g = [2 * l1 * r1 - 2 * l2 * W1.T @ r2, 2 * l2 * r2 - 2 * l3 * W2.T @ r3, 2 * l3 * r3 + 2 * r4]
        return f, np.concatenate([a.ravel() for a in g])

    x0 = np.concatenate([s.ravel() for s in net.forward(X)])
    bounds = [(0, None)] * int(cut[2]) + [(None, None)] * int(cut[3] - cut[2])
    res = minimize(
        fg,
        x0,
        jac=True,
        method="L-BFGS-B",
        bounds=bounds,
        options=dict(maxiter=20000, maxcor=30, ftol=1e-16, gtol=1e-13),
    )
    return split(res.x)


def test_joint_reference(relu_net):
    net, X, Y, S = relu_net
    ref = cvxlift.reference(net, X, Y, block="joint")
    assert ref.kind == "joint_x_step" and len(ref.solution) == 3
    _assert_pass(ref.check(_joint_by_lbfgs(net, X, Y)))
    wrong = _perturb(ref.solution, 1, (3, 5), 0.01)
    rep = ref.check(wrong)
    _assert_fail(rep, "distance X2", "X2[3, 5]")
    assert rep.row("residual").where.startswith("X") and rep.row("residual").where.endswith("column 5")


def test_predict_reference(relu_net):
    net, X, Y, S = relu_net
    ref = cvxlift.reference(net, X, block="predict")
    states, info = fast.lifted_predict(X, net.weights_, net.biases_, net.activations_, net.forms_, net.lam_)
    _assert_pass(ref.check((states, info)))
    wrong = _perturb(states, 0, (4, 11), -0.05)
    _assert_fail(ref.check(wrong), "distance X1", "X1[4, 11]")
    # the prediction agrees with the network's own CVXPY lifted rule
    assert np.allclose(net.predict(X, rule="lifted"), ref.solution[-1], atol=1e-6)


# ------------------------------------------------------------------------------ a user-declared atom
@pytest.fixture(scope="module")
def soft_net():
    rng = np.random.default_rng(1)
    net = cvxlift.LiftedNetwork(
        [4, 5, 3],
        activations=[soft_threshold(), "identity"],
        loss="squared",
        lam=[1.0, 2.0],
        rho=0.1,
        form=["fenchel", "joint"],
        random_state=1,
    ).init_weights()
    net.weights_[0] *= 3.0  # pre-activations on both sides of the kinks at +-1
    X, Y = rng.normal(size=(4, 15)), rng.normal(size=(3, 15))
    # states off the forward pass (on it, a Fenchel-Young X-step is solved by the forward state)
    states = [S + 0.5 * rng.normal(size=S.shape) for S in net.forward(X)]
    return net, X, Y, states


def test_user_atom_w_step_reference(soft_net):
    net, X, Y, S = soft_net
    ref = cvxlift.reference(net, X, Y, block="W0", states=S)
    W, b, info = fast.w_step(X, S[0], net.activations_[0], "fenchel", net.lam_[0], net.rho_[0])
    assert info.solver == "w_step/pncg"
    rep = ref.check((W, b))
    _assert_pass(rep)
    assert rep.row("distance b").passed is None  # b is not unique: D is not strongly convex in u
    assert "not unique" in rep.row("distance b").detail
    _assert_fail(ref.check(_perturb((W, b), 0, (3, 0), 1e-3)), "distance W", "W[3, 0]")


def test_user_atom_x_step_and_output_reference(soft_net):
    net, X, Y, S = soft_net
    d = net.activations_[0]
    U0 = net.weights_[0] @ X + net.biases_[0][:, None]
    ref = cvxlift.reference(net, X, Y, block="X1", states=S)
    Z, info = fast.x_step(
        U0, net.weights_[1], net.biases_[1], S[1], d, "fenchel", net.activations_[1], "joint", net.lam_[0], net.lam_[1]
    )
    assert ref.objective > 0.1 and np.abs(Z - d.forward(U0)).max() > 0.1  # not the forward state
    _assert_pass(ref.check(Z))
    rep = ref.check(_perturb(Z, None, (0, 9), 0.02))
    _assert_fail(rep, "distance Z", "Z[0, 9]")
    assert rep.row("residual").where == "column 9"

    out = cvxlift.reference(net, X, Y, block="output", states=S)
    Zo, _ = fast.output_step(
        net.weights_[1] @ S[0] + net.biases_[1][:, None], Y, net.activations_[1], "joint", net.lam_[1], "squared"
    )
    _assert_pass(out.check(Zo))


def test_user_atom_with_a_wrong_prox_fails_the_residual(soft_net):
    """The residual uses the atom's numpy prox: a candidate that is right is flagged when the
    atom's prox is wrong (which is why ``certify`` checks the prox first)."""
    net, X, Y, S = soft_net
    wrong = soft_threshold("soft_bad", lambda w, t: w / (1 + t))
    # an uncertified numpy prox is not used (the prox derived from forward is); record it as
    # certified to see what a wrong prox in use does to the residual
    fast.registry.mark_certified(wrong, "fenchel", "prox")
    bad = cvxlift.LiftedNetwork(
        [4, 5, 3], activations=[wrong, "identity"], loss="squared", lam=[1.0, 2.0], rho=0.1, form=["fenchel", "joint"]
    )
    bad.set_weights(net.weights_, net.biases_)
    ref = cvxlift.reference(bad, X, Y, block="X1", states=S)
    good = cvxlift.reference(net, X, Y, block="X1", states=S)
    rep = ref.check(good.solution)
    assert rep.row("distance Z").passed and rep.row("objective gap").passed
    assert rep.row("residual").passed is False


# ------------------------------------------------------------------------------ errors
def test_atom_without_cvxpy_declaration_raises_a_clear_error():
    # a Fenchel-Young declaration without Phi* is refused at once; a numeric one (no CVXPY at all)
    # is an atom whose CVXPY blocks are unavailable
    with pytest.raises(ValidationError, match="phi_star"):
        cvxlift.declare_divergence(
            "soft_nostar", phi=lambda z: 0.5 * cp.sum_squares(z) + cp.norm1(z), forward=lambda u: _soft(u, 1.0)
        )
    numeric = cvxlift.declare_divergence(
        "soft_numeric",
        forward=lambda u: _soft(u, 1.0),
        phi_value=lambda z: np.sum(0.5 * z**2 + np.abs(z), axis=0),
        phi_star_value=lambda u: np.sum(0.5 * np.maximum(np.abs(u) - 1, 0) ** 2, axis=0),
    )
    net = cvxlift.LiftedNetwork(
        [3, 4, 2], activations=[numeric, "identity"], form=["fenchel", "joint"], random_state=0
    ).init_weights()
    X = np.random.default_rng(0).normal(size=(3, 5))
    with pytest.raises(ValidationError, match=r"W0: the block cannot be assembled in CVXPY.*without phi"):  # noqa
        cvxlift.reference(net, X, block="W0")


def test_bad_input(relu_net):
    net, X, Y, S = relu_net
    with pytest.raises(ValidationError, match=r"block must be one of \['W0', 'W1', 'W2', 'X1', 'X2', 'output'"):
        cvxlift.reference(net, X, Y, block="W3")
    with pytest.raises(ValidationError, match="needs the targets Y"):
        cvxlift.reference(net, X, block="output")
    with pytest.raises(ValidationError, match="X must have 5 rows"):
        cvxlift.reference(net, X[:4], Y, block="W0")
    with pytest.raises(NotFittedError):
        cvxlift.reference(cvxlift.LiftedNetwork([5, 3]), X, block="W0")
    ref = cvxlift.reference(net, X, Y, block="X1", states=S)
    with pytest.raises(ValidationError, match=r"candidate Z must have shape \(6, 20\)"):
        ref.check(S[0].T)
    fy = cvxlift.LiftedNetwork([5, 6, 3], activations="relu", form="fenchel").init_weights()
    with pytest.raises(ValidationError, match="not convex"):
        cvxlift.reference(fy, X, block="predict")


def test_block_reference_from_pieces():
    """The same reference from the arguments of the fast function (as the battery uses it)."""
    rng = np.random.default_rng(3)
    A, Z = rng.normal(size=(4, 12)), np.maximum(rng.normal(size=(3, 12)), 0)
    d = cvxlift.ReLU()
    ref = cvxlift.block_reference("w_step", A, Z, d, "fenchel", 2.0, 0.5)
    W, b, info = fast.w_step(A, Z, d, "fenchel", 2.0, 0.5)
    rep = ref.check((W, b))
    assert rep.passed, str(rep)
    assert rep.row("distance W").tol == ITER_RTOL
    assert abs(ref.objective_of((W, b)) - info.objective) <= 1e-12 * abs(info.objective)
