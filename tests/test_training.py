"""The training engine (cvxlift.training): schedule, guard, interrupts, warm start, fallbacks,
penalty continuation without recompilation, and the same engine under every door."""

import warnings

import numpy as np
import pytest

import cvxlift
from cvxlift import LiftedNetwork, assembly
from cvxlift.exceptions import BlockMemoryError, FastPathFallbackWarning, NoFastSolver
from cvxlift.training import (
    BCD,
    Callback,
    CvxpyBackend,
    FastBackend,
    PrintSweeps,
    ProgressBar,
    Scores,
    compiled_blocks,
    fit_options,
)

RNG = np.random.default_rng(3)
X = RNG.normal(size=(4, 40))
Y = np.tanh(X[:2] - X[2:])


def _net(**kw):
    kw.setdefault("random_state", 0)
    return LiftedNetwork([4, 6, 2], "relu", **kw)


# ---------------------------------------------------------------------------- compilation
@pytest.mark.parametrize("xstep", ["joint", "cyclic"])
def test_continuation_compiles_each_cvxpy_block_once(xstep):
    net = _net(form="joint")
    before = assembly.Block.built
    net.fit(X, Y, solver="cvxpy", xstep=xstep, max_iter=5, tol=0, lam_growth=3.0, lam_max=1e3)
    kinds = {k[0] for k in compiled_blocks(net)}
    built = assembly.Block.built - before
    # W-steps of both layers, the output step (initialisation) and one X-step block per schedule
    expected = {"joint": {"w_step", "output_step", "joint_x_step"}, "cyclic": {"w_step", "output_step", "x_step"}}
    assert kinds == expected[xstep]
    assert built == len(compiled_blocks(net)) == (4 if xstep == "joint" else 4)
    assert net.history_blocks_.count("lam") == 5
    assert np.isclose(net.history_[-1], net.objective(X, Y), rtol=1e-12)
    # the compiled blocks saw the latest penalties: a refit at those penalties builds nothing new
    before = assembly.Block.built
    net.fit(X, Y, solver="cvxpy", xstep=xstep, max_iter=1, warm_start=True)
    assert assembly.Block.built == before


def test_continuation_matches_a_fresh_compile_at_each_penalty():
    """The Parameter penalties give the same solution as blocks built at those penalties."""
    net = _net(form="joint", lam=2.0, rho=0.5).init_weights()
    states = net.forward(X)
    blk = net.block("w_step", 0, X.shape[1])
    for lam, rho in [(2.0, 0.5), (7.0, 0.1), (0.3, 3.0)]:
        blk.set_penalties(lam=lam, rho=rho)
        blk.set(X, states[0])
        blk.solve(accuracy="tight")
        W1, b1 = blk.result()
        fresh = assembly.WStep(net.activations_[0], "joint", 4, 6, X.shape[1])
        fresh.set_penalties(lam=lam, rho=rho)
        fresh.set(X, states[0])
        fresh.solve(accuracy="tight")
        W2, b2 = fresh.result()
        np.testing.assert_allclose(W1, W2, atol=1e-6)
        np.testing.assert_allclose(b1, b2, atol=1e-6)


# ---------------------------------------------------------------------------- schedule and guard
def test_history_is_monotone_and_named_per_block_on_both_backends():
    for solver in ("cvxpy", "fast"):
        net = _net(form="fenchel_hidden").fit(X, Y, solver=solver, max_iter=3, tol=0)
        h = np.asarray(net.history_)
        assert np.all(np.diff(h) <= 1e-12 * np.maximum(1, np.abs(h[:-1])))
        assert net.history_blocks_[:5] == ["init", "W0", "W1", "X1", "output"]


class _RiseBackend(FastBackend):
    """A backend whose X-step returns a worse point: the guard must reject it."""

    def x_step(self, net, l, U0, Zn, Z0=None):
        Z, info = super().x_step(net, l, U0, Zn, Z0)
        return Z + 10.0, info


def test_guard_rejects_a_rising_update_and_names_it():
    net = _net(form="fenchel_hidden").init_weights()
    run = BCD(_RiseBackend(), max_iter=2, tol=0, xstep="cyclic").fit(net, X, Y)
    assert run.block_info["rejected"] == ["X1", "X1"]
    h = np.asarray(run.history)
    assert np.all(np.diff(h) <= 1e-12 * np.abs(h[:-1]))


# ---------------------------------------------------------------------------- interrupts, warm start
class _InterruptOnSecondXStep(FastBackend):
    def __init__(self):
        super().__init__()
        self.calls = 0

    def x_step(self, net, l, U0, Zn, Z0=None):
        self.calls += 1
        if self.calls == 2:
            raise KeyboardInterrupt
        return super().x_step(net, l, U0, Zn, Z0)


def test_interrupt_mid_sweep_restores_the_last_complete_sweep():
    ref = _net(form="fenchel_hidden").fit(X, Y, solver="fast", max_iter=1, tol=0, xstep="cyclic")
    net = _net(form="fenchel_hidden").init_weights()
    with pytest.warns(UserWarning, match="last complete sweep"):
        run = BCD(_InterruptOnSecondXStep(), max_iter=5, tol=0, xstep="cyclic").fit(net, X, Y)
    assert run.interrupted and run.n_iter == 1
    # weights, states and history are those after sweep 1 (not the W-steps of sweep 2)
    for a, b in zip(net.weights_ + net.states_, ref.weights_ + ref.states_):
        np.testing.assert_array_equal(a, b)
    assert run.history == ref.history_
    assert np.isclose(run.history[-1], net.objective(X, Y), rtol=1e-12)


def test_estimator_interrupt_keeps_the_last_complete_sweep(monkeypatch):
    pytest.importorskip("sklearn")
    calls = {"n": 0}
    original = FastBackend.output_step

    def flaky(self, net, U0, Yc, Z0=None):
        calls["n"] += 1
        if calls["n"] == 3:  # initialisation, sweep 1, then sweep 2: interrupted
            raise KeyboardInterrupt
        return original(self, net, U0, Yc, Z0)

    monkeypatch.setattr(FastBackend, "output_step", flaky)
    Xr, yr = X.T, (X[0] > 0).astype(int)
    clf = cvxlift.LiftedMLPClassifier(hidden_layer_sizes=(5,), max_iter=5, random_state=0)
    with pytest.warns(UserWarning, match="interrupted"):
        clf.fit(Xr, yr)
    assert clf.interrupted_ and clf.n_iter_ == 1 and len(clf.loss_curve_) == 1
    np.testing.assert_allclose(clf.network_.history_[-1], clf.loss_curve_[-1])


def test_warm_start_keeps_weights_whatever_m():
    net = _net(form="fenchel_hidden").fit(X, Y, solver="fast", max_iter=2)
    W = [w.copy() for w in net.weights_]
    net.fit(X[:, :10], Y[:, :10], solver="fast", max_iter=0, warm_start=True)
    for a, b in zip(net.weights_, W):
        np.testing.assert_array_equal(a, b)
    assert net.states_[0].shape == (6, 10)  # states rebuilt from the weights
    # user-set weights survive a warm start too
    other = _net(form="fenchel_hidden").init_weights(random_state=5)
    net2 = _net(form="fenchel_hidden").set_weights(other.weights_, other.biases_)
    net2.fit(X, Y, solver="fast", max_iter=0, warm_start=True)
    np.testing.assert_array_equal(net2.weights_[0], other.weights_[0])
    # without warm start the weights are drawn afresh (random_state)
    net2.fit(X, Y, solver="fast", max_iter=0)
    np.testing.assert_array_equal(net2.weights_[0], _net().init_weights().weights_[0])


# ---------------------------------------------------------------------------- fallbacks
def _maxpool_net():
    """A first layer whose W-step has no fast solver: a user-declared vector atom (the projection
    onto the simplex, jointly convex) without a numpy u-prox. (Max-pooling, used here before,
    now has one: the ADMM W-step through its u-prox.)"""
    import cvxpy as cp

    from cvxlift.divergences.base import domain_indicator
    from cvxlift.numeric import project_simplex

    vec = cvxlift.declare_divergence(
        "simplex_no_uprox",
        forward=project_simplex,
        elementwise=False,
        verify_dim=3,
        joint=lambda u, z: cp.sum_squares(z - u) + domain_indicator([z >= 0, cp.sum(z, axis=0) == 1]),
    )
    return LiftedNetwork([4, 3, 2], [vec, "identity"], random_state=0)


def test_fast_fallback_warns_once_per_block_and_is_recorded():
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        net = _maxpool_net().fit(X, Y, solver="fast", max_iter=3, tol=0)
    msgs = [str(w.message) for w in caught if issubclass(w.category, FastPathFallbackWarning)]
    assert len(msgs) == len(set(m.split(":")[0] for m in msgs))  # once per block
    assert any(m.startswith("layer 0, W-step: solved with CVXPY") for m in msgs)
    assert "needs" in msgs[0]  # the missing property is named
    assert net.block_info_["W0"].fallback and net.block_info_["W0"].solver


def test_fast_fallback_error_option():
    with pytest.raises(NoFastSolver, match=r"layer 0, W-step: .*fallback='error'"):
        _maxpool_net().fit(X, Y, solver="fast", max_iter=1, fallback="error")
    with pytest.raises(cvxlift.ValidationError, match="fallback"):
        _net().fit(X, Y, solver="fast", fallback="maybe")


def test_cvxpy_memory_error_names_block_and_columns(monkeypatch):
    def boom(self, *a, **k):
        raise MemoryError("Unable to allocate 45.8 GiB for an array")

    monkeypatch.setattr(assembly.Block, "solve", boom)
    with pytest.raises(BlockMemoryError) as info:
        _net().fit(X, Y, solver="cvxpy", max_iter=1)
    msg = str(info.value)
    assert "output step" in msg and "40 columns" in msg and "45.8 GiB" in msg and "solver='fast'" in msg


# ---------------------------------------------------------------------------- options and callbacks
@pytest.mark.parametrize(
    "kw,word",
    [
        (dict(fast_options={"w_step": {"max_itr": 3}}), "unknown option"),
        (dict(fast_options={"w_step": {"max_iter": -5}}), "positive integer"),
        (dict(fast_options={"w_step": {"tol": float("nan")}}), "tol"),
        (dict(max_iter=-5), "max_iter"),
        (dict(tol=float("nan")), "tol"),
        (dict(warm_start=1), "warm_start"),
        (dict(callbacks=[print]), "Callback"),
        (dict(bogus=1), "unknown keyword"),
    ],
)
def test_fit_options_are_checked_at_the_door(kw, word):
    with pytest.raises(cvxlift.ValidationError, match=word):
        fit_options(**kw)


def test_print_and_progress_callbacks_read_the_runs_scores(capsys):
    lines, updates = [], []

    class Bar:
        def update(self, n, **post):
            updates.append(post)

    net = _net(form="fenchel_hidden")
    net.fit(X, Y, solver="fast", max_iter=2, tol=0, callbacks=[PrintSweeps(write=lines.append), ProgressBar(Bar())])
    assert len(lines) == 2 and lines[0].startswith("sweep 1: lifted objective")
    assert f"train score {net.train_scores_[0]:.4f}" in lines[0]
    assert [u["objective"] for u in updates] == net.loss_curve_


def test_scores_computed_once_per_sweep_in_the_estimator(monkeypatch):
    pytest.importorskip("sklearn")
    seen = []
    original = Scores.on_sweep_end

    def spy(self, run, sweep, objective):
        seen.append(sweep)
        return original(self, run, sweep, objective)

    monkeypatch.setattr(Scores, "on_sweep_end", spy)
    clf = cvxlift.LiftedMLPClassifier(hidden_layer_sizes=(5,), max_iter=3, tol=0, random_state=0)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        clf.fit(X.T, (X[0] > 0).astype(int))
    assert seen == list(range(clf.n_iter_))


def test_engine_rejects_foreign_callbacks_and_backends():
    with pytest.raises(TypeError, match="Backend"):
        BCD(object())
    with pytest.raises(TypeError, match="Callback"):
        BCD(CvxpyBackend(), callbacks=[lambda *a: None])
    assert issubclass(Scores, Callback)


def test_cross_entropy_without_a_simplex_output_warns():
    with pytest.warns(UserWarning, match="Simplex output"):
        LiftedNetwork([4, 5, 3], ["relu", "identity"], loss="cross_entropy")


def test_cvxpy_w_step_too_large_is_refused_before_compiling():
    net = LiftedNetwork([784, 300, 10], "relu", random_state=0).init_weights()
    A = np.zeros((784, 2000))
    before = assembly.Block.built
    with pytest.raises(BlockMemoryError, match=r"layer 0, W-step: .*2000 columns .*GiB.*solver='fast'"):
        CvxpyBackend().w_step(net, 0, A, np.zeros((300, 2000)))
    assert assembly.Block.built == before


@pytest.mark.parametrize("acts", [["relu", "relu", "identity"], ["clipped", "relu", "identity"]])
def test_same_trajectory_on_both_backends_with_default_options(acts):
    """Default options: the same schedule (one joint X-step per sweep for jointly convex forms) on
    both backends, so the histories and weights agree to 1e-8 relative. (With a cross-entropy
    output the CVXPY exponential-cone solves agree only to ~1e-6: their solvers' accuracy.)"""
    rng = np.random.default_rng(3)
    Xs = rng.normal(size=(4, 40))
    Ys = np.tanh(Xs[:2] - Xs[2:])
    a = LiftedNetwork([4, 6, 5, 2], acts, random_state=0).fit(Xs, Ys, solver="cvxpy", max_iter=4, tol=0)
    b = LiftedNetwork([4, 6, 5, 2], acts, random_state=0).fit(Xs, Ys, solver="fast", max_iter=4, tol=0)
    assert a.history_blocks_ == b.history_blocks_
    assert "X (joint)" in a.history_blocks_ and "X1" not in a.history_blocks_
    np.testing.assert_allclose(b.history_, a.history_, rtol=1e-8)
    for wa, wb in zip(a.weights_ + a.biases_, b.weights_ + b.biases_):
        np.testing.assert_allclose(wb, wa, rtol=1e-8, atol=1e-8 * max(1.0, np.max(np.abs(wa))))


def test_inertia_moves_are_recorded_and_every_block_step_is_still_guarded():
    net = _net(form="fenchel_hidden")
    net.fit(X, Y, solver="fast", max_iter=4, tol=0, inertia=0.8)
    names, h = net.history_blocks_, np.asarray(net.history_)
    assert names.count("inertia") == 3  # every sweep but the first
    assert names[names.index("inertia") - 1] == "W1"  # right after the W-steps
    for i in range(1, len(h)):
        if names[i] != "inertia":
            assert h[i] <= h[i - 1] + 1e-12 * max(1.0, abs(h[i - 1])), (i, names[i])
    assert np.isclose(h[-1], net.objective(X, Y), rtol=1e-12)
    with pytest.raises(cvxlift.ValidationError, match="inertia"):
        _net().fit(X, Y, inertia=1.0)


def test_inertia_is_the_documented_extrapolation():
    """In sweep 2 the X-step sees W + beta (W - W_prev), W this sweep's W-step result and W_prev the
    previous sweep's."""
    beta = 0.5
    w_results, x_seen = [], []

    class Spy(FastBackend):
        def w_step(self, net_, l, A, Z):
            W, b, info = super().w_step(net_, l, A, Z)
            w_results.append((l, W, b))
            return W, b, info

        def x_step(self, net_, l, U0, Zn, Z0=None):
            x_seen.append([w.copy() for w in net_.weights_])
            return super().x_step(net_, l, U0, Zn, Z0)

    net = _net(form="fenchel_hidden").init_weights()
    run = BCD(Spy(), max_iter=2, tol=0, xstep="cyclic", inertia=beta).fit(net, X, Y)
    assert "rejected" not in run.block_info  # every W-step was accepted, so W_l is its result
    (_, W0a, _), (_, W1a, _), (_, W0b, _), (_, W1b, _) = w_results
    np.testing.assert_allclose(x_seen[1][0], W0b + beta * (W0b - W0a), rtol=1e-15)
    np.testing.assert_allclose(x_seen[1][1], W1b + beta * (W1b - W1a), rtol=1e-15)
    np.testing.assert_array_equal(x_seen[0][0], W0a)  # no move in the first sweep


def test_first_layer_gram_is_computed_once_per_fit():
    net = _net(form="fenchel_hidden").init_weights()
    backend = FastBackend()
    BCD(backend, max_iter=4, tol=0, xstep="cyclic").fit(net, X, Y)
    cache = backend.w_step_caches[0]
    assert cache.misses == 1 and cache.hits == 3
