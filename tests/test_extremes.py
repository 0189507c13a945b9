"""Extreme but valid inputs: training finishes with finite weights or raises a clear error.

Scenarios: penalties ``lam``/``rho`` at 1e-6 and 1e6 (and mixed), features scaled by 1e-3
and 1e3, duplicated and constant data points (columns) and features (rows), all-zero data,
one data point (m = 1). Each is trained on tiny networks (a ReLU network, a Fenchel-Young
sigmoid network, a cross-entropy network with a simplex output) by both paths
(``solver="fast"`` and ``solver="cvxpy"``) for 2 sweeps. The outcome must be either

* a fitted network whose weights, biases, states and history are finite, with a
  non-increasing history, or
* a :class:`cvxlift.CvxliftError` (e.g. :class:`cvxlift.SolverError` naming the block),

never NaN/inf weights, another exception, or a hang (each fit runs under an alarm).
"""

import time
import warnings

import numpy as np
import pytest
from limits import time_limit

import cvxlift
from cvxlift import LiftedNetwork

#: wall-clock limit of one 2-sweep fit of a tiny network (a hang fails the test)
LIMIT_S = 60

RNG = np.random.default_rng(11)
X0 = RNG.normal(size=(3, 6))
Y0 = np.tanh(X0[:2] + X0[1:])
LABELS = np.array([0, 1, 0, 1, 1, 0])


def _dup_cols(X):
    return np.repeat(X[:, :2], 3, axis=1)


def _const_rows(X):
    X = X.copy()
    X[1] = 2.5
    return X


def _dup_rows(X):
    X = X.copy()
    X[2] = X[0]
    return X


# name: (network keyword overrides, transform of X, transform of the column index set)
SCENARIOS = {
    "lam-1e-6": (dict(lam=1e-6), None, None),
    "lam-1e6": (dict(lam=1e6), None, None),
    "rho-1e-6": (dict(rho=1e-6), None, None),
    "rho-1e6": (dict(rho=1e6), None, None),
    "lam-1e6-rho-1e-6": (dict(lam=1e6, rho=1e-6), None, None),
    "lam-1e-6-rho-1e6": (dict(lam=1e-6, rho=1e6), None, None),
    "X-times-1e-3": ({}, lambda X: 1e-3 * X, None),
    "X-times-1e3": ({}, lambda X: 1e3 * X, None),
    "duplicated-columns": ({}, _dup_cols, "dup"),
    "constant-columns": ({}, lambda X: np.repeat(X[:, :1], X.shape[1], axis=1), "const"),
    "constant-row": ({}, _const_rows, None),
    "duplicated-rows": ({}, _dup_rows, None),
    "all-zero-X": ({}, np.zeros_like, None),
    "one-data-point": ({}, lambda X: X[:, :1], "one"),
}

NETS = {
    "relu": dict(sizes=[3, 4, 2], activations="relu"),
    "sigmoid-fenchel": dict(sizes=[3, 4, 2], activations=["sigmoid", "identity"]),
    "simplex-ce": dict(sizes=[3, 4, 2], activations=["relu", "simplex"], loss="cross_entropy"),
}


def _targets(net_name, cols):
    if NETS[net_name].get("loss") == "cross_entropy":
        Y = np.eye(2)[:, LABELS]
    else:
        Y = Y0
    if cols == "dup":
        return np.repeat(Y[:, :2], 3, axis=1)
    if cols == "const":
        return np.repeat(Y[:, :1], Y.shape[1], axis=1)
    if cols == "one":
        return Y[:, :1]
    return Y


@pytest.mark.parametrize("solver", ["fast", "cvxpy"])
@pytest.mark.parametrize("net_name", sorted(NETS))
@pytest.mark.parametrize("scenario", list(SCENARIOS))
def test_extreme_inputs_train_to_finite_weights_or_fail_clearly(scenario, net_name, solver):
    overrides, fx, cols = SCENARIOS[scenario]
    X = fx(X0) if fx is not None else X0
    Y = _targets(net_name, cols)
    kw = dict(NETS[net_name], lam=1.0, rho=1e-2, random_state=0)
    kw.update(overrides)
    net = LiftedNetwork(**kw)
    t0 = time.perf_counter()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)  # inaccurate-solver notices are allowed
        try:
            with time_limit(LIMIT_S):
                net.fit(X, Y, solver=solver, max_iter=2)
        except cvxlift.CvxliftError as exc:  # a clear error is an allowed outcome
            msg = str(exc)
            assert msg and any(k in msg for k in ("W-step", "X-step", "output step", "must", "solver")), msg
            return
    elapsed = time.perf_counter() - t0
    h = np.asarray(net.history_)
    assert np.all(np.isfinite(h)), h
    assert np.all(np.diff(h) <= 1e-9 * max(1.0, abs(h[0]))), h
    for arr in net.weights_ + net.biases_ + net.states_:
        assert np.all(np.isfinite(arr)), (scenario, net_name, solver)
    P = net.predict(X)
    assert P.shape == Y.shape and np.all(np.isfinite(P))
    assert elapsed < LIMIT_S
