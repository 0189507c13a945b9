"""Certification of the fast lifted prediction rule (paper eq. 12, loss minimised out) against
CVXPY, at two and three hidden layers, for every registered candidate that applies.

The reference is the CVXPY block :class:`cvxlift.assembly.Prediction` of a
:class:`~cvxlift.LiftedNetwork` with the same weights (one Variable per state, the atoms' own
expressions). Where the first layer's z-side is strongly convex (every atom but max-pooling)
and the later layers are ``mu||z - u||^2 + I_C`` the problem is strongly convex in the
states (``X_0`` is fixed and anchors the chain), so iterates are compared too.

With a Fenchel-Young layer after the first the problem is biconvex, not one convex problem;
the fast solver (``bcd``) returns a block-wise minimiser, checked block by block against the
CVXPY X-steps (:class:`cvxlift.assembly.XStep`), and no worse than the forward pass.
"""
import numpy as np
import pytest

import cvxpy as cp
from cvxlift import LeakyReLU, LiftedNetwork, MaxPool, fast
from fast_helpers import ATOMS, assert_close, assert_objectives, cvx_solve, seed_of

TOL = 1e-9
LEAKY = LeakyReLU(0.1)
POOL = MaxPool(2)


def _atom(spec):
    """``"relu"`` / ``"relu:fenchel"`` / ``"maxpool"`` -> (atom, form)."""
    name, _, form = spec.partition(":")
    atom = {"leaky": LEAKY, "maxpool": POOL}.get(name) or ATOMS[name]
    return atom, form or "joint"


#: name -> (layer specs, state sizes, lambdas). The first layer's input is fixed, so its form
#: is free; later layers are jointly convex unless the name says "biconvex".
NETS = {
    # two hidden layers
    "relu-relu-simplex": (["relu", "relu", "simplex"], [5, 6, 4, 3], [1.0, 1.0, 1.0]),
    "relu-relu-simplex-up": (["relu", "relu", "simplex"], [5, 6, 4, 3], [0.1, 1.0, 10.0]),
    "clipped-relu-identity-down": (["clipped", "relu", "identity"], [5, 6, 4, 3], [10.0, 1.0, 0.1]),
    "relu:fenchel-clipped-relu:fenchel": (["relu:fenchel", "clipped", "relu:fenchel"], [5, 6, 4, 3], [1.0, 2.0, 1.0]),
    "leaky-relu-simplex": (["leaky", "relu", "simplex"], [5, 6, 4, 3], [1.0, 1.0, 1.0]),
    "leaky:fenchel-relu-identity": (["leaky:fenchel", "relu", "identity"], [5, 6, 4, 3], [1.0, 3.0, 1.0]),
    "maxpool-relu-simplex": (["maxpool", "relu", "simplex"], [5, 4, 5, 3], [1.0, 1.0, 2.0]),
    "sigmoid:fenchel-relu-simplex": (["sigmoid:fenchel", "relu", "simplex"], [5, 6, 4, 3], [1.0, 1.0, 1.0]),
    # three hidden layers
    "relu-relu-relu-simplex": (["relu", "relu", "relu", "simplex"], [6, 7, 5, 4, 3], [1.0, 1.0, 1.0, 1.0]),
    "clipped-relu-clipped-identity": (["clipped", "relu", "clipped", "identity"], [6, 7, 5, 4, 3],
                                      [0.5, 1.0, 2.0, 4.0]),
    "relu:fenchel-relu-relu-simplex": (["relu:fenchel", "relu", "relu", "simplex"], [6, 7, 5, 4, 3],
                                       [2.0, 1.0, 0.5, 1.0]),
}
BICONVEX = {
    "relu-relu:fenchel-simplex": (["relu", "relu:fenchel", "simplex"], [5, 6, 4, 3], [1.0, 1.0, 3.0]),
    "relu-sigmoid:fenchel-relu-identity": (["relu", "sigmoid:fenchel", "relu", "identity"], [5, 6, 5, 4, 3],
                                           [1.0, 2.0, 1.0, 1.0]),
}
EXPECTED = {"maxpool": "joint", "leaky": "joint", "sigmoid": "joint"}


def network(specs, sizes, lams, seed, m=12):
    """A LiftedNetwork with random weights, and inputs ``X``."""
    rng = np.random.default_rng(seed)
    atoms, forms = zip(*(_atom(s) for s in specs))
    net = LiftedNetwork(sizes, list(atoms), form=list(forms), lam=lams, loss="squared", random_state=0)
    net.init_weights()
    for l in range(net.n_layers):
        net.weights_[l] = 1.5 * rng.normal(size=net.weights_[l].shape) / np.sqrt(sizes[l])
        net.biases_[l] = 0.5 * rng.normal(size=net.biases_[l].shape)
    return net, rng.normal(size=(sizes[0], m))


def cvxpy_prediction(net, X):
    """The states of (12) from the CVXPY block ``Prediction``. A Fenchel-Young last layer is
    zero at its minimiser ``x_{L+1} = phi(u_L)`` for every ``u_L`` (and its bilinear term is not
    DCP), so then the block of the network without it is solved and ``x_{L+1}`` appended."""
    target = net
    if net.forms_[-1] == "fenchel":
        target = LiftedNetwork(net.sizes[:-1], net.activations_[:-1], form=net.forms_[:-1], lam=net.lam_[:-1],
                               loss="squared")
        target.set_weights(net.weights_[:-1], net.biases_[:-1])
    blk = target.block("prediction", None, X.shape[1])
    blk.set(target, target.preactivation(0, X))
    cvx_solve(blk.problem, blk.problem_class)
    states = [target._clean(l, S) for l, S in enumerate(blk.result())]
    if target is not net:
        states.append(net.activations_[-1].forward(net.preactivation(net.n_layers - 1, states[-1])))
    return states


def _fast(net, X, **kw):
    return fast.lifted_predict(X, net.weights_, net.biases_, net.activations_, net.forms_, net.lam_, tol=TOL, **kw)


def _applicable(net):
    layers = tuple(fast.atom_props(d, f) for d, f in zip(net.activations_, net.forms_))
    widths = tuple(net.sizes[1:])
    return [c.name for c in fast.candidates("lifted_predict") if c.predicate(layers=layers, widths=widths)]


def _strongly_convex(specs):
    return not specs[0].startswith("maxpool")


@pytest.mark.parametrize("name", list(NETS))
def test_lifted_predict_matches_cvxpy(name):
    specs, sizes, lams = NETS[name]
    net, X = network(specs, sizes, lams, seed_of(name))
    m = X.shape[1]
    ref = cvxpy_prediction(net, X)
    F_cvx = net.prediction_objective(X, ref)
    first = specs[0].split(":")[0]
    expected = EXPECTED.get(first, "newton")
    methods = [k for k in _applicable(net) if k != "bcd"]
    assert methods and methods[0] == expected, methods
    for k in methods:   # every applicable registered solver against the same reference
        states, info = _fast(net, X, method=k)
        assert info.converged and info.certificate <= TOL, info
        assert info.certificates.shape == (m,) and np.all(info.certificates <= TOL)
        assert info.n_uncertified == 0
        assert_objectives(info.objective, F_cvx, what=f"{name} ({info.solver})")
        if _strongly_convex(specs):
            for l, (S, R) in enumerate(zip(states, ref)):
                assert_close(S, R, what=f"{name}: X_{l + 1} ({info.solver})")
    states, info = _fast(net, X)
    assert info.solver == f"lifted_predict/{expected}"


def test_newton_certificate_bounds_the_distance_to_cvxpy():
    """The Newton certificate is a KKT residual; with strong convexity modulus mu = lambda_min(H_0)
    it bounds ||x - x*|| <= r / mu. Checked against a tightly solved CVXPY reference at a
    deliberately loose tolerance (1e-4), where the bound is not vacuous."""
    from cvxlift.fast import chain, chain_newton

    specs, sizes, lams = NETS["relu-relu-relu-simplex"]
    net, X = network(specs, sizes, lams, 7, m=20)
    U0 = net.preactivation(0, X)
    pb = chain.ChainProblem(U0, net.weights_, net.biases_, net.activations_, net.forms_, net.lam_)
    hidden, cert, it, dist = chain_newton.solve(pb, pb.forward()[:-1], 1e-4, 1)   # one Newton step only
    ref = np.vstack(cvxpy_prediction(net, X)[:-1])
    err = np.linalg.norm(np.vstack(hidden) - ref, axis=0)
    assert np.any(dist > 1e-3)                       # not converged after one step: a real test
    assert np.all(err <= dist + 1e-6), (err, dist)


def test_unconverged_columns_are_finished_by_a_slower_method():
    """One Newton iteration leaves columns above tol: they are finished by ``joint`` on those
    columns only, reported in ``n_fallback``, and the result is certified."""
    specs, sizes, lams = NETS["relu-relu-simplex-up"]
    net, X = network(specs, sizes, lams, 11, m=30)
    states, info = _fast(net, X, method="newton", max_iter=1)
    assert info.n_fallback > 0 and info.fallback == "lifted_predict/joint"
    assert info.converged and np.all(info.certificates <= TOL)
    ref, _ = _fast(net, X)
    for S, R in zip(states, ref):
        assert_close(S, R, tol=1e-6 * (1 + np.linalg.norm(R)))


def test_warm_start_is_never_lost(monkeypatch):
    """A column of ``Z0`` with a lower objective than the solver's result is kept: a candidate
    that returns worse points (registered for this test only) cannot lose the warm start."""
    from cvxlift.fast import registry

    def worse(net, Z0, tol, max_iter, inner_tol, inner_max_iter):
        return [S + 0.5 for S in Z0], 0, np.zeros(net.X.shape[1]), True

    bad = registry.Candidate("lifted_predict", "worse", lambda layers, widths=None: True, worse, "nothing")
    monkeypatch.setitem(registry._CANDIDATES, "lifted_predict", registry.candidates("lifted_predict") + [bad])
    specs, sizes, lams = NETS["relu-relu-simplex"]
    net, X = network(specs, sizes, lams, 5)
    best, _ = _fast(net, X)
    states, info = _fast(net, X, Z0=best, method="worse")
    for S, B in zip(states, best):
        np.testing.assert_array_equal(S, B)
    assert not info.converged and np.all(np.isinf(info.certificates))   # not certified: said so


@pytest.mark.parametrize("name", list(BICONVEX))
def test_biconvex_prediction_is_blockwise_optimal(name):
    """Fenchel-Young layers after the first: ``bcd`` returns a block-wise minimiser (every hidden
    block's CVXPY X-step cannot improve it) no worse than the forward pass."""
    specs, sizes, lams = BICONVEX[name]
    net, X = network(specs, sizes, lams, seed_of(name), m=8)
    m = X.shape[1]
    methods = _applicable(net)
    assert methods == ["joint", "bcd"]
    assert _fast(net, X)[1].solver == "lifted_predict/joint"
    forward = net.prediction_objective(X, net.forward(X))
    for k in methods:
        states, info = _fast(net, X, method=k, max_iter=2000)
        assert info.converged, info
        F = net.prediction_objective(X, states)
        assert F <= forward + 1e-12
        for l in range(1, net.n_layers):              # block X_l, the others fixed
            prev = X if l == 1 else states[l - 2]
            blk = net.block("x_step", l, m)
            blk.set(net.preactivation(l - 1, prev), net.weights_[l], net.biases_[l], states[l])
            cvx_solve(blk.problem, blk.problem_class)
            trial = list(states)
            trial[l - 1] = net._clean(l - 1, blk.result())
            assert_objectives(F, net.prediction_objective(X, trial), what=f"{name} ({k}): block X_{l}")
        last = net.activations_[-1].forward(net.preactivation(net.n_layers - 1, states[-2]))
        np.testing.assert_allclose(states[-1], last, atol=1e-12)


def test_lifted_predict_fenchel_is_forward_pass():
    net, X = network(["sigmoid:fenchel", "relu:fenchel", "simplex:fenchel"], [5, 6, 4, 3], [1.0, 2.0, 3.0], 3)
    states, info = _fast(net, X)
    assert info.solver == "lifted_predict/forward" and info.iterations == 0
    for S, F in zip(states, net.forward(X)):
        np.testing.assert_array_equal(S, F)
    assert abs(info.objective) <= 1e-12   # the minimum: every Fenchel-Young divergence is >= 0


# ------------------------------------------------------------------ registry refusals
NONSMOOTH = [(POOL, "joint"), (LEAKY, "joint")]


@pytest.mark.parametrize("d,form", NONSMOOTH, ids=["maxpool", "leaky_relu-joint"])
def test_no_fast_solver_for_nonsmooth_u_after_the_first_layer(d, form):
    """A layer whose divergence is nonsmooth (max-pool) or constrained (z >= alpha u) in u has no
    fast solver once its input is a variable: as a later layer of the prediction, of the joint
    X-step, and as the next layer of an X-step. (As the first layer, whose input is fixed, it is
    handled: see ``maxpool-relu-simplex`` and ``leaky-relu-simplex``.)"""
    rng = np.random.default_rng(0)
    m, p, n_u = 6, 4, 4
    k = d.out_dim(n_u)
    with pytest.raises(fast.NoFastSolver, match=r"x_step.*" + type(d).__name__):
        fast.x_step(rng.normal(size=(p, m)), rng.normal(size=(n_u, p)), np.zeros(n_u), rng.normal(size=(k, m)),
                    ATOMS["relu"], "joint", d, form, 1.0, 1.0)
    with pytest.raises(fast.NoFastSolver, match="lifted_predict"):
        fast.lifted_predict(rng.normal(size=(3, m)), [rng.normal(size=(p, 3)), rng.normal(size=(n_u, p))],
                            [np.zeros(p), np.zeros(n_u)], [ATOMS["relu"], d], ["joint", form], [1.0, 1.0])
    with pytest.raises(fast.NoFastSolver, match="joint_x_step"):
        fast.joint_x_step(rng.normal(size=(p, m)), rng.normal(size=(k, m)), [None, rng.normal(size=(n_u, p))],
                          [None, np.zeros(n_u)], [ATOMS["relu"], d], ["joint", form], [1.0, 1.0], "squared")
    assert isinstance(fast.NoFastSolver("x"), NotImplementedError)


def test_no_fast_solver_for_cross_entropy_without_simplex():
    with pytest.raises(fast.NoFastSolver, match="output_step.*ReLU"):
        fast.output_step(np.zeros((3, 2)), np.eye(3)[:, :2], ATOMS["relu"], "joint", 1.0, "cross_entropy")


def test_selection_follows_atom_properties():
    """The registry decides from z_quadratic / u_lipschitz / domain only: a user atom with the
    same structure as a built-in one gets the same solver."""
    import cvxlift

    soft = cvxlift.declare_divergence(
        "soft_threshold_test",
        phi=lambda z: 0.5 * cp.sum_squares(z) + cp.norm1(z),
        phi_star=lambda u: 0.5 * cp.sum_squares(cp.pos(cp.abs(u) - 1)),
        forward=lambda u: np.sign(u) * np.maximum(np.abs(u) - 1, 0),
    )
    props = fast.atom_props(soft, "fenchel")
    assert props.z_quadratic is None and props.u_lipschitz == 1.0
    assert fast.select("w_step", atom=props).label == "w_step/majorize"
    assert fast.select("w_step", atom=fast.atom_props(ATOMS["relu"], "joint")).label == "w_step/ridge"
    # Fenchel-Young ReLU: D = 1/2||z-u||^2 - 1/2 dist(u, R+)^2 is not quadratic in u
    assert fast.atom_props(ATOMS["relu"], "fenchel").u_quadratic is None
    assert fast.atom_props(ATOMS["identity"], "fenchel").u_quadratic == 0.5
    relu_j = fast.atom_props(ATOMS["relu"], "joint")
    assert fast.select("x_step", prev=fast.atom_props(ATOMS["identity"], "joint"), next=relu_j).label == "x_step/linear"
    assert fast.select("x_step", prev=relu_j, next=props).label == "x_step/fista"
    # the chain solvers: the same structure, the same choice
    simplex_j = fast.atom_props(ATOMS["simplex"], "joint")
    layers = (relu_j, relu_j, simplex_j)
    assert fast.select("lifted_predict", layers=layers, widths=(5, 4, 3)).label == "lifted_predict/newton"
    assert fast.select("lifted_predict", layers=(props,) + layers[1:], widths=(5, 4, 3)).label == \
        "lifted_predict/joint"
    assert fast.select("joint_x_step", layers=layers, widths=(5, 4, 3), loss="cross_entropy").label == \
        "joint_x_step/newton"


@pytest.mark.parametrize("first,last", [("relu", "simplex"), ("clipped", "relu"), ("relu", "clipped")])
def test_dual_newton_prediction_with_a_fenchel_young_first_layer_matches_cvxpy(first, last):
    """With one hidden layer the input is fixed, so (12) is convex in the states for either
    form of the first layer: ``dual_newton`` (and ``newton``) against CVXPY."""
    net, X = network([f"{first}:fenchel", last], [5, 7, 4], [1.0, 3.0], seed_of(first, last, "fy"), m=15)
    ref = cvxpy_prediction(net, X)
    F_cvx = net.prediction_objective(X, ref)
    for k in ("dual_newton", "newton"):
        states, info = _fast(net, X, method=k)
        assert info.converged and info.certificate <= TOL, info
        assert_objectives(info.objective, F_cvx, what=f"{first} fenchel -> {last} joint ({k})")
        assert_close(states[0], ref[0], what=f"X_1 ({k})")
    assert _fast(net, X)[1].solver == "lifted_predict/dual_newton"
