"""Lifted training and prediction on column-chunked Dask arrays (cvxlift.distributed), on the
synchronous scheduler: the same answer as in memory (1e-10), the distributed W-steps against
cvxlift.fast.w_step, the doors (fit, predict, objective, score, estimators), bad input, and no
state matrix gathered on the client. The tests on a cluster of worker processes are in
tests/test_distributed_cluster.py."""

import subprocess
import sys
import warnings

import numpy as np
import pytest

from cvxlift import LiftedNetwork, fast
from cvxlift.exceptions import NoFastSolver, ValidationError

da = pytest.importorskip("dask.array")
dask = pytest.importorskip("dask")

from cvxlift.distributed import DaskBackend, is_dask  # noqa: E402
from cvxlift.distributed import wstep as dwstep  # noqa: E402
from cvxlift.training import BCD, ProgressBar  # noqa: E402

M, CHUNK = 263, 70  # 4 chunks; M is no size of the network (see the gather test)
RNG = np.random.default_rng(7)
X = RNG.normal(size=(8, M))
Y = np.tanh(X[:3] - X[3:6])
LABELS = RNG.integers(0, 3, M)
ONE_HOT = np.eye(3)[:, LABELS]


def rel(a, b):
    a, b = np.asarray(a, dtype=float), np.asarray(b, dtype=float)
    return float(np.max(np.abs(a - b)) / max(np.max(np.abs(b)), 1e-300))


def cols(A):
    return da.from_array(A, chunks=(A.shape[0], CHUNK))


@pytest.fixture(autouse=True)
def synchronous():
    with dask.config.set(scheduler="synchronous"):
        yield


def _pair(form, loss, **kw):
    kw = dict(form=form, loss=loss, random_state=0, lam=1.0, rho=0.1, **kw)
    return LiftedNetwork([8, 12, 3], "relu", **kw), LiftedNetwork([8, 12, 3], "relu", **kw)


def assert_same_fit(a, b, Xd, Yd, tol=1e-10):
    assert a.history_blocks_ == b.history_blocks_
    assert rel(b.history_, a.history_) < tol
    for Wa, Wb, ba, bb in zip(a.weights_, b.weights_, a.biases_, b.biases_):
        assert rel(Wb, Wa) < tol and rel(bb, ba) < 1e-9
    for Sa, Sb in zip(a.states_, b.states_):
        assert is_dask(Sb) and Sb.chunks[1] == Xd.chunks[1]
        assert rel(Sb.compute(), Sa) < tol
    assert rel(b.train_scores_, a.train_scores_) < tol
    assert b.block_info_.get("rejected") == a.block_info_.get("rejected")


# ---------------------------------------------------------------------------- the same answer
@pytest.mark.parametrize("form,loss", [(None, "squared"), ("fenchel_hidden", "cross_entropy")])
def test_dask_fit_matches_the_numpy_fit(form, loss):
    """The paper's joint form (ridge W-steps) and fenchel_hidden (majorise-minimise W-steps, one
    reduction per iteration: the in-memory default for a smooth D is pncg, which has no
    distributed counterpart, so both fits name the method), squared and cross-entropy losses."""
    T = Y if loss == "squared" else ONE_HOT
    a, b = _pair(form, loss)
    opts = {"w_step": {"max_iter": 30, **({"method": "majorize"} if form else {})}}
    a.fit(X, T, solver="fast", max_iter=3, tol=0, fast_options=opts)
    Xd, Td = cols(X), cols(T)
    b.fit(Xd, Td, solver="fast", max_iter=3, tol=0, fast_options=opts)
    assert_same_fit(a, b, Xd, Td)
    x = "X1" if "X1" in a.block_info_ else "X (joint)"  # the joint schedule where the fast path has one
    assert b.block_info_[x].chunks == 4 and b.block_info_[x].solver == a.block_info_[x].solver
    assert b.block_info_["W0"].solver == a.block_info_["W0"].solver
    assert b.block_info_["W0"].iterations == a.block_info_["W0"].iterations
    # the door's objective is one pass over the chunks
    assert rel(b.objective(Xd, Td), a.objective(X, T)) < 1e-10


def test_continuation_validation_scores_and_warm_start_match():
    a, b = _pair(None, "squared")
    Xv, Yv = X[:, :50], Y[:, :50]
    kw = dict(solver="fast", max_iter=3, tol=0, lam_growth=2.0, lam_max=3.0)
    a.fit(X, Y, validation_data=(Xv, Yv), **kw)
    Xd, Yd = cols(X), cols(Y)
    b.fit(Xd, Yd, validation_data=(cols(Xv), cols(Yv)), **kw)
    assert_same_fit(a, b, Xd, Yd)
    assert a.history_blocks_.count("lam") == 2 and rel(b.lam_path_, a.lam_path_) == 0
    assert rel(b.validation_scores_, a.validation_scores_) < 1e-10
    # warm start from the distributed states (and from in-memory states given to a Dask fit)
    a.fit(X, Y, solver="fast", max_iter=2, tol=0, warm_start=True)
    b.fit(Xd, Yd, solver="fast", max_iter=2, tol=0, warm_start=True)
    assert_same_fit(a, b, Xd, Yd)
    c = LiftedNetwork([8, 12, 3], "relu", random_state=0, lam=a.lam, rho=0.1)
    c.set_weights(a.weights_, a.biases_)
    c.lam_ = np.array(a.lam_)
    c.states_ = list(a.states_)
    c.fit(Xd, Yd, solver="fast", max_iter=1, tol=0, warm_start=True)
    assert c.states_[0].chunks[1] == Xd.chunks[1] and np.isfinite(c.history_[-1])


def test_inertia_matches_in_memory():
    """The engine's inertial move (weights on the client, the objective as sums over chunks)."""
    a, b = _pair(None, "squared")
    a.fit(X, Y, solver="fast", max_iter=3, tol=0, inertia=0.5)
    Xd, Yd = cols(X), cols(Y)
    b.fit(Xd, Yd, solver="fast", max_iter=3, tol=0, inertia=0.5)
    assert a.history_blocks_.count("inertia") == 2
    assert_same_fit(a, b, Xd, Yd)


def test_progress_bar_advances_once_per_sweep():
    class Bar:
        def __init__(self):
            self.posts = []

        def update(self, n=1, **post):
            self.posts.append(post["objective"])

    bar = Bar()
    net = LiftedNetwork([8, 12, 3], "relu", random_state=0)
    net.fit(cols(X), cols(Y), solver="fast", max_iter=2, tol=0, callbacks=[ProgressBar(bar)])
    assert bar.posts == net.loss_curve_ and len(bar.posts) == 2


# ---------------------------------------------------------------------------- W-steps from reductions
@pytest.mark.parametrize(
    "atom,form,label",
    [
        ("relu", "joint", "ridge"),
        ("relu", "fenchel", "majorize"),
        ("sigmoid", "fenchel", "majorize"),
        ("identity", "joint", "ridge"),
    ],
)
def test_distributed_w_step_certified_against_fast_w_step(atom, form, label):
    """The iteration over reductions is the in-memory solver's: same iterate to round-off, same
    iteration count, same certificate; warm start included."""
    from cvxlift import get_divergence

    d = get_divergence(atom)
    rng = np.random.default_rng(11)
    A = rng.normal(size=(5, M)) + 3.0  # a large mean: the centring matters
    Z = d.forward(rng.normal(size=(4, 5)) @ A + 0.3)
    W0, b0 = rng.normal(size=(4, 5)), rng.normal(size=4)
    for kw in ({}, {"W0": W0, "b0": b0}):
        W, b, info = fast.w_step(A, Z, d, form, 2.0, 0.5, tol=1e-7, max_iter=60, evaluate=False, method=label, **kw)
        Wd, bd, infod = dwstep.w_step(
            dwstep.LayerInput(cols(A)), cols(Z), d, form, 2.0, 0.5, tol=1e-7, max_iter=60, **kw
        )
        assert info.solver == infod.solver == f"w_step/{label}"
        assert infod.iterations == info.iterations and infod.converged == info.converged
        assert (info.iterations > 5) == (label == "majorize")
        assert rel(Wd, W) < 1e-10 and rel(bd, b) < 1e-10
        assert abs(infod.certificate - info.certificate) <= 1e-6 * max(info.certificate, 1e-12) + 1e-15


def test_distributed_w_step_choice_follows_the_registry():
    """The first candidate that applies and has a distributed counterpart; a named method must
    have one (pncg has none: refused before any work, naming it)."""
    from cvxlift import get_divergence

    relu = get_divergence("relu")
    assert [dwstep.select(relu, f)[1].name for f in ("joint", "fenchel")] == ["ridge", "majorize"]
    assert dwstep.select(relu, "joint", "majorize")[1].name == "majorize"
    with pytest.raises(NoFastSolver, match="'pncg' has no distributed counterpart"):
        dwstep.select(relu, "fenchel", "pncg")
    net = LiftedNetwork([8, 12, 3], "relu", form="fenchel_hidden", random_state=0)
    with pytest.raises(NoFastSolver, match="layer 0, W-step: no distributed solver"):
        net.fit(cols(X), cols(Y), solver="fast", max_iter=1, fast_options={"w_step": {"method": "pncg"}})


def test_layer_input_sums_are_cached_for_the_data():
    """The first layer's Gram matrix is computed once per fit (X does not change)."""
    calls = []
    backend = DaskBackend()
    original = dwstep.LayerInput.means

    def counting(self):
        calls.append(self.A)
        return original(self)

    dwstep.LayerInput.means = counting
    try:
        net = LiftedNetwork([8, 12, 3], "relu", random_state=0, rho=0.1)
        Xd = cols(X)
        BCD(backend, max_iter=3, tol=0).fit(net, Xd, cols(Y))
    finally:
        dwstep.LayerInput.means = original
    inputs = [backend._inputs[l] for l in range(2)]
    assert inputs[0].A is Xd and inputs[0].G is not None
    assert sum(a is Xd for a in calls) == 3  # looked up each sweep, computed on the first
    assert len({id(a) for a in calls if a is not Xd}) == 3  # the hidden state: new each sweep


# ---------------------------------------------------------------------------- prediction and doors
@pytest.mark.parametrize("form", [None, "fenchel_hidden"])
def test_predict_both_rules_objective_and_score_match(form):
    a, _ = _pair(form, "squared")
    a.fit(X, Y, solver="fast", max_iter=2, tol=0, fast_options={"w_step": {"max_iter": 20}})
    Xd = cols(X)
    out = a.predict(Xd)
    assert is_dask(out) and out.chunks[1] == Xd.chunks[1]
    assert rel(out.compute(), a.predict(X)) < 1e-12
    lifted, states = a.predict(Xd, rule="lifted", solver="fast", return_states=True)
    assert a.predict_info_.chunks == 4 and a.predict_info_.converged
    ref, ref_states = a.predict(X, rule="lifted", solver="fast", return_states=True)
    assert rel(lifted.compute(), ref) < 1e-9
    assert all(rel(S.compute(), R) < 1e-9 for S, R in zip(states, ref_states))
    assert [S.compute().shape for S in a.forward(Xd)] == [S.shape for S in a.forward(X)]
    assert abs(a.score(Xd, cols(Y)) - a.score(X, Y)) < 1e-12
    assert rel(a.objective(Xd, cols(Y), states=a.states_), a.objective(X, Y)) < 1e-12
    parts = a.objective(Xd, cols(Y), states=[cols(S) for S in a.states_], parts=True)[1]
    assert parts.keys() == a.objective(X, Y, parts=True)[1].keys()


def test_misaligned_chunks_and_numpy_targets_are_aligned():
    net, ref = _pair(None, "squared")
    Xd = da.from_array(X, chunks=(4, 50))  # rows split, other column chunks than Y
    net.fit(Xd, da.from_array(Y, chunks=(3, 90)), solver="fast", max_iter=2, tol=0)
    ref.fit(X, Y, solver="fast", max_iter=2, tol=0)
    assert rel(net.history_, ref.history_) < 1e-10
    net2, _ = _pair(None, "squared")
    net2.fit(Xd, Y, solver="fast", max_iter=2, tol=0)  # numpy targets: chunked like X
    assert rel(net2.history_, ref.history_) < 1e-10


# ---------------------------------------------------------------------------- estimators (rows)
def test_estimators_on_dask_rows_match_in_memory():
    """form="joint": ridge W-steps on both sides (the default fenchel_hidden runs pncg in memory,
    majorize on Dask: the same minimiser, other iterates; see the W-step tests)."""
    from cvxlift import LiftedMLPClassifier, LiftedMLPRegressor

    Xr = X.T * np.arange(1, 9)
    Xd = da.from_array(Xr, chunks=(CHUNK, 8))
    kw = dict(hidden_layer_sizes=(7,), max_iter=2, random_state=0, form="joint")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        clf = LiftedMLPClassifier(**kw).fit(Xr, LABELS)
        clf_d = LiftedMLPClassifier(**kw).fit(Xd, da.from_array(LABELS, chunks=CHUNK))
        reg = LiftedMLPRegressor(**kw).fit(Xr, Y.T)
        reg_d = LiftedMLPRegressor(**kw).fit(Xd, da.from_array(Y.T, chunks=(CHUNK, 3)))
    for e, ed in ((clf, clf_d), (reg, reg_d)):
        assert all(rel(c2, c1) < 1e-10 for c1, c2 in zip(e.coefs_, ed.coefs_))
        assert rel(ed.loss_curve_, e.loss_curve_) < 1e-10 and rel(ed.train_scores_, e.train_scores_) < 1e-10
        assert ed.network_.states_ is None and ed.n_features_in_ == 8
    assert np.array_equal(clf_d.classes_, clf.classes_)
    pred = clf_d.predict(Xd)
    assert is_dask(pred) and np.array_equal(pred.compute(), clf.predict(Xr))
    assert rel(clf_d.predict_proba(Xd).compute(), clf.predict_proba(Xr)) < 1e-10
    assert rel(reg_d.predict(Xd).compute(), reg.predict(Xr)) < 1e-10
    with pytest.raises(ValidationError, match="early_stopping"):
        LiftedMLPClassifier(early_stopping=True).fit(Xd, da.from_array(LABELS, chunks=CHUNK))


# ---------------------------------------------------------------------------- bad input
def test_bad_dask_input_is_refused_before_training():
    net = LiftedNetwork([8, 12, 3], "relu", random_state=0)
    Xd, Yd = cols(X), cols(Y)
    with pytest.raises(ValidationError, match="solver='fast'"):
        net.fit(Xd, Yd)  # solver="cvxpy" needs every column at once
    with pytest.raises(ValidationError, match="8 rows"):
        net.fit(cols(X[:5]), Yd, solver="fast")
    with pytest.raises(ValidationError, match="263 columns"):
        net.fit(Xd, cols(Y[:, :100]), solver="fast")
    bad = X.copy()
    bad[2, 200] = np.nan
    with pytest.raises(ValidationError, match="X contains NaN"):
        net.fit(cols(bad), Yd, solver="fast")
    with pytest.raises(ValidationError, match="sum to 1"):
        LiftedNetwork([8, 12, 3], "relu", loss="cross_entropy").fit(Xd, cols(ONE_HOT * 2), solver="fast")
    big = X.copy()
    big[5, 201] = 3e7  # beyond the network door's range, in the last chunk
    with pytest.raises(ValidationError, match=r"X has entries up to 3e\+07"):
        net.fit(cols(big), Yd, solver="fast")
    with pytest.raises(ValidationError, match=r"Y has entries up to 3e\+07"):
        net.fit(Xd, cols(big[3:6]), solver="fast")
    with pytest.raises(NoFastSolver, match=r"rho\[1\] = 0"):
        LiftedNetwork([8, 12, 3], "relu", rho=[0.1, 0.0]).fit(Xd, Yd, solver="fast")
    unknown = Xd[:, Xd[0] > 0]  # unknown chunk sizes
    with pytest.raises(ValidationError, match="unknown chunk sizes"):
        net.fit(unknown, Yd, solver="fast")
    with pytest.raises(NoFastSolver, match="layer 0, W-step"):
        LiftedNetwork([8, 12, 3], ["maxpool", "identity"]).fit(Xd, Yd, solver="fast")
    net.fit(X, Y, solver="fast", max_iter=1)
    with pytest.raises(ValidationError, match="solver='fast'"):
        net.predict(Xd, rule="lifted")


# ---------------------------------------------------------------------------- bounded client memory
def test_no_step_gathers_a_state_matrix_on_the_client(monkeypatch):
    """Everything that comes back to the client (dask.compute) is of the size of the network,
    never of the number of columns M."""
    seen = []
    compute = dask.compute

    def watching(*args, **kw):
        out = compute(*args, **kw)

        def walk(v):
            if isinstance(v, np.ndarray):
                seen.append(v.shape)
            elif isinstance(v, (tuple, list)):
                for x in v:
                    walk(x)

        walk(out)
        return out

    monkeypatch.setattr(dask, "compute", watching)
    for form in (None, "fenchel_hidden"):
        net = LiftedNetwork([8, 12, 3], "relu", random_state=0, form=form)
        net.fit(cols(X), cols(Y), solver="fast", max_iter=2, tol=0, fast_options={"w_step": {"max_iter": 5}})
        net.score(cols(X), cols(Y))
        net.predict(cols(X), rule="lifted", solver="fast")
    assert seen and all(M not in shape and np.prod(shape) < M for shape in seen), sorted(set(seen))


# ---------------------------------------------------------------------------- packaging
def test_distributed_package_imports_no_dask_until_used():
    code = (
        "import sys\nimport cvxlift, cvxlift.distributed\nfrom cvxlift.distributed import is_dask\n"
        "assert not is_dask(1.0) and 'dask' not in sys.modules\n"
        "cvxlift.LiftedNetwork([2, 3, 1]).init_weights().predict([[1.0], [2.0]])\n"
        "assert 'dask' not in sys.modules\nprint('ok')\n"
    )
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0 and proc.stdout.strip() == "ok", proc.stderr


def test_an_interrupt_keeps_the_last_complete_sweep():
    class Interrupts(DaskBackend):
        outputs = 0

        def output_step(self, net, U0, Y, Z0=None):
            Interrupts.outputs += 1
            if Interrupts.outputs == 3:  # initialisation, sweep 1, then sweep 2
                raise KeyboardInterrupt
            return super().output_step(net, U0, Y, Z0)

    net = LiftedNetwork([8, 12, 3], "relu", random_state=0)
    with pytest.warns(UserWarning, match="interrupted"):
        run = BCD(Interrupts(), max_iter=3, tol=0, xstep="cyclic").fit(net, cols(X), cols(Y))
    assert run.interrupted and run.n_iter == 1 and run.history[-1] == run.loss_curve[-1]
    ref = LiftedNetwork([8, 12, 3], "relu", random_state=0).fit(X, Y, solver="fast", max_iter=1, tol=0, xstep="cyclic")
    assert rel(net.weights_[0], ref.weights_[0]) < 1e-10 and rel(net.states_[0].compute(), ref.states_[0]) < 1e-10


def test_joint_x_step_schedule_matches_in_memory():
    """The joint schedule (paper's joint form) where cvxlift.fast has a joint X-step."""
    if getattr(fast, "joint_x_step", None) is None:
        pytest.skip("cvxlift.fast has no joint_x_step yet")
    a, b = _pair(None, "cross_entropy")
    a.fit(X, ONE_HOT, solver="fast", max_iter=2, tol=0, xstep="joint")
    assert "X (joint)" in a.history_blocks_
    b.fit(cols(X), cols(ONE_HOT), solver="fast", max_iter=2, tol=0, xstep="joint")
    assert_same_fit(a, b, cols(X), cols(ONE_HOT), tol=1e-9)
    assert b.block_info_["X (joint)"].chunks == 4
