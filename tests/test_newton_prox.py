"""The safeguarded Newton root finder and the Newton proxes of Sigmoid, Tanh and Sin.

Reference: the vectorised bisection they replace (exact to the last bit by construction), on
steps t from 1e-9 to 1e9 and arguments far inside and far outside the domains.
"""

import numpy as np
import pytest
from scipy.special import expit

import cvxlift
from cvxlift.numeric import bisect_increasing, newton_increasing

RNG = np.random.default_rng(11)
W = np.concatenate([RNG.normal(scale=3.0, size=400), [-1e6, -50.0, -1.0, 0.0, 0.5, 1.0, 2.0, 50.0, 1e6]])
TS = [1e-9, 1e-3, 0.3, 1.0, 7.0, 1e3, 1e9]

BISECTION = {
    "sigmoid": lambda w, t: expit(bisect_increasing(lambda s: s + (expit(s) - w) / t, (w - 1) / t, w / t)),
    "tanh": lambda w, t: np.tanh(bisect_increasing(lambda s: s + (np.tanh(s) - w) / t, (w - 1) / t, (w + 1) / t)),
    "sin": lambda w, t: bisect_increasing(
        lambda z: np.arcsin(z) + (z - w) / t, np.full(w.shape, -1.0), np.full(w.shape, 1.0)
    ),
}


@pytest.mark.parametrize("name", ["sigmoid", "tanh", "sin"])
def test_newton_prox_matches_bisection(name):
    d = cvxlift.divergences.get_divergence(name)
    for t in TS:
        got = d.prox_phi(W, t)
        ref = BISECTION[name](W, t)
        assert np.max(np.abs(got - ref)) <= 4e-16 * max(1.0, np.max(np.abs(ref))), (name, t)
    # arrays of t (broadcast), and a 2-D argument
    T = np.array(TS)[:, None] * np.ones((1, W.size))
    got = d.prox_phi(np.broadcast_to(W, T.shape), T)
    assert got.shape == T.shape
    assert np.max(np.abs(got - BISECTION[name](np.broadcast_to(W, T.shape), T))) <= 4e-16


def test_newton_increasing_agrees_with_bisection_and_is_cheap():
    w = RNG.normal(scale=10.0, size=1000)
    calls = []

    def g(x, idx):
        calls.append(idx.size)
        return x**3 + x - w[idx], 3 * x**2 + 1

    lo, hi = np.full(w.shape, -30.0), np.full(w.shape, 30.0)
    root = newton_increasing(g, lo, hi, np.zeros_like(w), xtol=1e-15)
    ref = bisect_increasing(lambda x: x**3 + x - w, lo, hi)
    assert np.max(np.abs(root - ref)) <= 4e-15 * np.max(np.abs(ref)) + 1e-15
    assert len(calls) <= 15 and calls[-1] < w.size  # entries that are done stop being evaluated
    # no sign change in the bracket: the nearer end (as the bisection); a bad derivative bisects
    r = newton_increasing(lambda x, i: (x + 5.0, np.zeros_like(x)), np.zeros(3), np.ones(3), np.full(3, 0.5))
    assert np.allclose(r, 0.0, atol=1e-15)
    r = newton_increasing(lambda x, i: (x - 0.25, -np.ones_like(x)), np.zeros(2), np.ones(2), np.full(2, 0.9))
    assert np.allclose(r, 0.25, atol=1e-15)
