"""LiftedNetwork: assembly, DSL training, prediction rules."""

import cvxpy as cp
import numpy as np
import pytest

import cvxlift
from cvxlift import LiftedNetwork
from cvxlift.training import CvxpyBackend

RNG = np.random.default_rng(0)
X = RNG.normal(size=(4, 24))
Y_REG = np.tanh(X[:3] + 0.5 * X[1:4])
Y_CLS = np.eye(3)[:, RNG.integers(0, 3, 24)]

# every atom, as a hidden layer (with an identity output) or as the output layer
CONFIGS = {
    "relu": dict(sizes=[4, 5, 3], activations=["relu", "identity"]),
    "leaky_relu": dict(sizes=[4, 5, 3], activations=[cvxlift.LeakyReLU(0.1), "identity"]),
    "clipped": dict(sizes=[4, 5, 3], activations=["clipped", "identity"]),
    "sigmoid": dict(sizes=[4, 5, 3], activations=["sigmoid", "identity"]),
    "tanh": dict(sizes=[4, 5, 3], activations=["relu", "tanh"]),
    "simplex": dict(sizes=[4, 5, 3], activations=["relu", "simplex"], loss="cross_entropy"),
    "simplex_fenchel": dict(sizes=[4, 5, 3], activations=["relu", "simplex"], loss="cross_entropy", form="fenchel"),
    "maxpool": dict(sizes=[4, 3, 3], activations=[cvxlift.MaxPool(2), "identity"]),
    "sin": dict(sizes=[4, 5, 3], activations=["sin", "identity"]),
    "identity": dict(sizes=[4, 5, 3], activations=["identity", "identity"]),
    "deep_mixed": dict(
        sizes=[4, 5, 4, 3], activations=["tanh", "relu", "identity"], form=["fenchel", "fenchel", "joint"]
    ),
}


def _targets(cfg):
    return Y_CLS if cfg.get("loss") == "cross_entropy" else Y_REG


@pytest.mark.parametrize("name", sorted(CONFIGS))
def test_dsl_training_never_raises_the_objective(name):
    cfg = CONFIGS[name]
    net = LiftedNetwork(lam=1.0, rho=0.01, random_state=0, **cfg).fit(X, _targets(cfg), max_iter=3)
    h = np.asarray(net.history_)
    assert np.all(np.isfinite(h))
    assert np.all(np.diff(h) <= 1e-12 * np.abs(h[:-1])), h
    assert h[-1] < h[0]  # training made progress
    assert net.objective(X, _targets(cfg)) == pytest.approx(h[-1], rel=1e-12)
    assert len(net.history_) == len(net.history_blocks_)


@pytest.mark.parametrize("name", sorted(CONFIGS))
def test_every_block_is_dpp(name):
    net = LiftedNetwork(random_state=0, **CONFIGS[name])
    for label, blk in net.problems(m=3).items():
        assert blk.is_dpp(), label


def test_blocks_are_compiled_once_and_cached():
    net = LiftedNetwork([4, 5, 3], "relu", random_state=0).fit(X, Y_REG, max_iter=2)
    blk = net.block("x_step", 1, CvxpyBackend().chunk(net, "x_step", 1, X.shape[1]))
    assert net.block("x_step", 1, blk.variables["Z"].shape[1]) is blk


def test_chunked_x_step_equals_one_chunk():
    net = LiftedNetwork([4, 6, 3], "relu", random_state=0).init_weights()
    states = net.forward(X)
    U0 = net.preactivation(0, X)
    whole, _ = CvxpyBackend().x_step(net, 1, U0, states[1])
    backend = CvxpyBackend(chunk_budget=6 * 3 * 5)  # chunks of a few columns, with a padded last chunk
    assert backend.chunk(net, "x_step", 1, X.shape[1]) < X.shape[1]
    chunked, info = backend.x_step(net, 1, U0, states[1])
    assert info.chunks > 1
    np.testing.assert_allclose(chunked, whole, atol=1e-6)


def test_joint_x_step_used_when_every_form_is_joint():
    net = LiftedNetwork([4, 5, 4, 3], "relu", form="joint", random_state=0)
    assert net.jointly_convex
    net.fit(X, Y_REG, max_iter=2)
    assert "X (joint)" in net.history_blocks_
    h = np.asarray(net.history_)
    assert np.all(np.diff(h) <= 1e-12 * np.abs(h[:-1]))


def test_maxpool_objective_stays_bounded():
    net = LiftedNetwork([4, 3, 3], [cvxlift.MaxPool(2), "identity"], rho=0.01, random_state=0)
    net.fit(X, Y_REG, max_iter=8)
    assert net.history_[-1] >= 0.0  # every term is >= 0 with the normalised max-pool divergence


def test_lifted_prediction_matches_hand_written_problem_12():
    """rule='lifted' against an independent CVXPY formulation of (12), 2 hidden ReLU layers."""
    lam = [1.0, 0.5, 2.0]
    net = LiftedNetwork([4, 5, 4, 2], ["relu", "relu", "identity"], form="joint", lam=lam, random_state=1)
    net.fit(X, Y_REG[:2], max_iter=2)
    W, b = net.weights_, net.biases_
    Xt = RNG.normal(size=(4, 7))
    x1, x2, x3 = cp.Variable((5, 7)), cp.Variable((4, 7)), cp.Variable((2, 7))
    col = lambda v: v[:, None] @ np.ones((1, 7))  # noqa: E731
    obj = (
        lam[0] * cp.sum_squares(x1 - W[0] @ Xt - col(b[0]))
        + lam[1] * cp.sum_squares(x2 - W[1] @ x1 - col(b[1]))
        + lam[2] * cp.sum_squares(x3 - W[2] @ x2 - col(b[2]))
    )
    cp.Problem(cp.Minimize(obj), [x1 >= 0, x2 >= 0]).solve(solver="CLARABEL")
    got = net.predict(Xt, rule="lifted")
    np.testing.assert_allclose(got, x3.value, atol=1e-5)


def test_lifted_equals_forward_for_fenchel_young_forms():
    """D >= 0 and D(u, phi(u)) = 0: the forward pass is the (unique) minimiser of (12)."""
    net = LiftedNetwork(
        [4, 5, 4, 3], ["sigmoid", "relu", "identity"], form="fenchel", lam=[1, 10, 0.1], random_state=0
    ).fit(X, Y_REG, max_iter=2)
    np.testing.assert_allclose(net.predict(X, rule="lifted"), net.predict(X), atol=1e-9)


def test_lifted_equals_forward_one_hidden_layer_joint_identity_output():
    """The joint identity output can be met exactly, so x_1 = relu(W_0 x + b_0)."""
    net = LiftedNetwork([4, 5, 3], ["relu", "identity"], form="joint", random_state=0).fit(X, Y_REG, max_iter=2)
    np.testing.assert_allclose(net.predict(X, rule="lifted"), net.predict(X), atol=1e-6)


def test_lifted_differs_from_forward_and_converges_as_lambda_ratio_vanishes():
    """With a joint ReLU after the first layer, min_z D(u, z) = ||min(u, 0)||^2 depends on u,
    so (12) pulls x_1 away from the forward pass; the pull scales with lam_2 / lam_1."""
    Xt = RNG.normal(size=(4, 30))
    gaps = []
    for ratio in (1.0, 1e-2, 1e-4):
        net = LiftedNetwork([4, 6, 3], ["relu", "relu"], form="joint", lam=[1.0, ratio], random_state=3).init_weights()
        net.biases_[1] -= 1.0  # make some outputs negative so that the last ReLU is active
        gaps.append(np.abs(net.predict(Xt, rule="lifted") - net.predict(Xt)).max())
    assert gaps[0] > 1e-3
    assert gaps[2] < gaps[1] < gaps[0]
    assert gaps[2] < 1e-3


def test_lifted_prediction_bcd_for_biconvex_forms_does_not_increase_objective():
    net = LiftedNetwork(
        [4, 5, 4, 3], ["relu", "tanh", "clipped"], form=["joint", "fenchel", "joint"], random_state=0
    ).init_weights()
    net.biases_[2] += 2.0
    out, states = net.predict(X, rule="lifted", return_states=True)
    h = net.predict_history_
    assert np.all(np.diff(h) <= 1e-12 * np.abs(np.asarray(h[:-1])))
    assert net.prediction_objective(X, states) <= net.prediction_objective(X, net.forward(X)) + 1e-12


@pytest.mark.parametrize(
    "kwargs, match",
    [
        (dict(sizes=[4]), "sizes"),
        (dict(sizes=[4, 0, 3]), r"sizes\[1\]"),
        (dict(sizes=[4, 5, 3], lam=0.0), "lam"),
        (dict(sizes=[4, 5, 3], lam=[1.0]), "lam"),
        (dict(sizes=[4, 5, 3], rho=-1), "rho"),
        (dict(sizes=[4, 5, 3], rho=float("nan")), "rho"),
        (dict(sizes=[4, 5, 3], activations="nope"), "unknown"),
        (dict(sizes=[4, 5, 3], activations=["relu"]), "one entry per layer"),
        (dict(sizes=[4, 5, 3], activations=["sigmoid", "identity"], form="joint"), "joint"),
        (dict(sizes=[4, 5, 3], loss="hinge"), "loss"),
    ],
)
def test_bad_descriptions_raise_clear_errors(kwargs, match):
    with pytest.raises(cvxlift.CvxliftError, match=match):
        LiftedNetwork(**kwargs)


def test_bad_data_raise_clear_errors():
    net = LiftedNetwork([4, 5, 3], "relu", random_state=0)
    with pytest.raises(cvxlift.ValidationError, match="X must have 4 rows"):
        net.fit(X[:3], Y_REG)
    with pytest.raises(cvxlift.ValidationError, match="same number of columns"):
        net.fit(X, Y_REG[:, :5])
    bad = X.copy()
    bad[0, 0] = np.nan
    with pytest.raises(cvxlift.ValidationError, match="NaN"):
        net.fit(bad, Y_REG)
    with pytest.raises(cvxlift.NotFittedError):
        net.predict(X)
    cls = LiftedNetwork([4, 5, 3], "relu", loss="cross_entropy")
    with pytest.raises(cvxlift.ValidationError, match="sum to 1"):
        cls.fit(X, Y_CLS * 2)
    net.fit(X, Y_REG, max_iter=1)
    with pytest.raises(cvxlift.ValidationError, match="rule"):
        net.predict(X, rule="backward")


def test_same_random_state_same_result():
    a = LiftedNetwork([4, 5, 3], "relu", random_state=7).fit(X, Y_REG, max_iter=2)
    b = LiftedNetwork([4, 5, 3], "relu", random_state=7).fit(X, Y_REG, max_iter=2)
    for wa, wb in zip(a.weights_, b.weights_):
        np.testing.assert_array_equal(wa, wb)


def test_callback_stops_training():
    calls = []
    net = LiftedNetwork([4, 5, 3], "relu", random_state=0)
    net.fit(X, Y_REG, max_iter=10, callback=lambda n, s, o: calls.append(o) or True)
    assert len(calls) == 1 and net.n_iter_ == 1


@pytest.mark.parametrize("name", ["relu", "simplex", "sigmoid", "deep_mixed", "maxpool"])
def test_fast_fit_matches_dsl_fit(name):
    """solver="fast" behind the same fit(): same objective trajectory as the DSL path (blocks
    without a fast solver, e.g. max-pool, fall back to CVXPY)."""
    cfg = CONFIGS[name]
    Y = _targets(cfg)
    a = LiftedNetwork(lam=1.0, rho=0.01, random_state=0, **cfg).fit(X, Y, max_iter=3, xstep="cyclic")
    b = LiftedNetwork(lam=1.0, rho=0.01, random_state=0, **cfg).fit(X, Y, max_iter=3, xstep="cyclic", solver="fast")
    hb = np.asarray(b.history_)
    assert np.all(np.diff(hb) <= 1e-12 * np.abs(hb[:-1]))
    assert b.history_[-1] == pytest.approx(a.history_[-1], rel=1e-4, abs=1e-6)
