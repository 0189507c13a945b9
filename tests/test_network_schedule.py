"""LiftedNetwork.fit: penalty continuation, scores per sweep, early stopping."""

import numpy as np
import pytest

import cvxlift
from cvxlift import LiftedNetwork

RNG = np.random.default_rng(1)
X = RNG.normal(size=(5, 60))
LABELS = (X[0] + X[1] > 0).astype(int) + (X[2] > 0.5)
Y = np.eye(3)[:, LABELS]
XV = RNG.normal(size=(5, 30))
YV = np.eye(3)[:, (XV[0] + XV[1] > 0).astype(int) + (XV[2] > 0.5)]


def _net(**kw):
    return LiftedNetwork(
        [5, 8, 3], "relu", loss="cross_entropy", lam=kw.pop("lam", 1.0), rho=1e-2, random_state=0, **kw
    )


@pytest.mark.parametrize("solver", ["fast", "cvxpy"])
def test_continuation_multiplies_lambda_and_is_monotone_between_changes(solver):
    net = _net().fit(X, Y, solver=solver, max_iter=3, lam_growth=2.0, tol=0)
    assert net.n_iter_ == 3
    np.testing.assert_allclose(net.lam_path_[0], [1.0, 1.0])
    np.testing.assert_allclose(net.lam_path_[2], [4.0, 4.0])
    np.testing.assert_allclose(net.lam_, [8.0, 8.0])
    h, names = np.asarray(net.history_), net.history_blocks_
    # non-increasing inside each stretch of fixed penalties
    for i in range(1, len(h)):
        if names[i] != "lam":
            assert h[i] <= h[i - 1] + 1e-12 * abs(h[i - 1]), (i, names[i])
    assert names.count("lam") == 3
    # the recorded objective is the objective at the current penalties
    assert np.isclose(net.history_[-1], net.objective(X, Y), rtol=1e-12)


def test_continuation_respects_lam_max_and_a_refit_starts_from_lam():
    net = _net().fit(X, Y, solver="fast", max_iter=4, lam_growth=10.0, lam_max=50.0, tol=0)
    np.testing.assert_allclose(net.lam_, [50.0, 50.0])
    net.fit(X, Y, solver="fast", max_iter=1)
    np.testing.assert_allclose(net.lam_path_[0], [1.0, 1.0])


def test_scores_recorded_per_sweep():
    net = _net().fit(X, Y, solver="fast", max_iter=3, tol=0, validation_data=(XV, YV))
    assert len(net.train_scores_) == len(net.validation_scores_) == len(net.loss_curve_) == net.n_iter_ == 3
    assert net.train_scores_[-1] == net.score(X, Y)
    assert net.validation_scores_[-1] == net.score(XV, YV)
    assert all(0.0 <= s <= 1.0 for s in net.train_scores_ + net.validation_scores_)


def test_early_stopping_restores_the_best_sweep():
    seen = []

    def cb(net, sweep, obj):
        seen.append([w.copy() for w in net.weights_])

    net = _net(lam=0.3).fit(
        X,
        Y,
        solver="fast",
        max_iter=12,
        tol=0,
        validation_data=(XV, YV),
        early_stopping=True,
        n_iter_no_change=2,
        callback=cb,
    )
    best = int(np.argmax(net.validation_scores_))
    assert net.best_iter_ == best + 1
    assert net.n_iter_ <= 12
    if net.n_iter_ < 12:  # it stopped early: the best score is n_iter_no_change sweeps back
        assert net.n_iter_ - net.best_iter_ == 2
    for w, wb in zip(net.weights_, seen[best]):
        np.testing.assert_array_equal(w, wb)
    assert net.score(XV, YV) == net.validation_scores_[best]


def test_squared_loss_score_is_r2():
    Yr = np.vstack([X[0] + X[1], X[2] - X[3]])
    net = LiftedNetwork([5, 8, 2], "relu", lam=1.0, rho=1e-3, random_state=0).fit(X, Yr, solver="fast", max_iter=5)
    P = net.predict(X)
    # scikit-learn's R^2: one per output (row), averaged
    r2 = np.mean(1 - np.sum((Yr - P) ** 2, axis=1) / np.sum((Yr - Yr.mean(axis=1, keepdims=True)) ** 2, axis=1))
    assert np.isclose(net.score(X, Yr), r2)
    assert net.train_scores_[-1] > 0.5


@pytest.mark.parametrize(
    "kwargs,match",
    [
        (dict(lam_growth=0.5), "lam_growth"),
        (dict(lam_growth=np.nan), "lam_growth"),
        (dict(lam_max=-1.0), "lam_max"),
        (dict(early_stopping=True), "validation_data"),
        (dict(validation_data=XV), "validation_data"),
        (dict(validation_data=(XV[:4], YV)), r"validation_data\[0\]"),
        (dict(validation_data=(XV, YV[:, :5])), "same number of columns"),
        (dict(validation_data=(XV, YV), n_iter_no_change=0), "n_iter_no_change"),
    ],
)
def test_bad_schedule_arguments(kwargs, match):
    with pytest.raises(cvxlift.ValidationError, match=match):
        _net().fit(X, Y, solver="fast", max_iter=1, **kwargs)


def test_fenchel_hidden_form_policy():
    net = LiftedNetwork([5, 6, 4, 3], "relu", loss="cross_entropy", form="fenchel_hidden")
    assert net.forms_ == ["fenchel", "fenchel", "joint"]
    net = LiftedNetwork([5, 6, 3], [cvxlift.MaxPool(2), "identity"], form="fenchel_hidden")
    assert net.forms_ == ["joint", "joint"]  # max-pooling has the joint form only


def test_fast_options_cap_the_w_step_and_keep_the_objective_monotone():
    net = _net(form="fenchel_hidden").fit(
        X, Y, solver="fast", max_iter=3, tol=0, fast_options={"w_step": {"max_iter": 2}}
    )
    assert net.block_info_["W0"].iterations <= 2
    h = np.asarray(net.history_)
    assert np.all(np.diff(h) <= 1e-12 * np.abs(h[:-1]))
    with pytest.raises(cvxlift.ValidationError, match="fast_options"):
        _net().fit(X, Y, solver="fast", max_iter=1, fast_options={"wstep": {}})
