"""Certification of the fast joint X-step against the CVXPY block :class:`cvxlift.assembly.JointXStep`
of a :class:`~cvxlift.LiftedNetwork` with the same weights, at two and three hidden layers, both
losses with their output atoms (squared + Identity or Simplex, cross-entropy + Simplex), for
every registered candidate that applies.

min over X_1..X_{L+1} of loss(Y, X_{L+1}) + sum_l lam_l D_l(W_l X_l + b_l, X_{l+1}), U_0 fixed.
Every network here is strongly convex in the states (the first layer's z-side anchors the
chain) except with a max-pool first layer, so iterates are compared too.
"""
import numpy as np
import pytest

from cvxlift import fast
from cvxlift.losses import get_loss
from fast_helpers import assert_close, assert_objectives, cvx_solve, seed_of
from test_fast_predict import network

TOL = 1e-9

#: name -> (layer specs, sizes, lambdas, loss)
NETS = {
    "relu-relu-identity/squared": (["relu", "relu", "identity"], [5, 6, 4, 3], [1.0, 1.0, 1.0], "squared"),
    "clipped-relu-simplex/squared": (["clipped", "relu", "simplex"], [5, 6, 4, 3], [0.5, 1.0, 2.0], "squared"),
    "relu-relu-simplex/cross_entropy": (["relu", "relu", "simplex"], [5, 6, 4, 3], [1.0, 1.0, 1.0],
                                        "cross_entropy"),
    "relu-clipped-simplex/cross_entropy-down": (["relu", "clipped", "simplex"], [5, 6, 4, 3], [10.0, 1.0, 0.1],
                                                "cross_entropy"),
    "leaky-relu-identity/squared": (["leaky", "relu", "identity"], [5, 6, 4, 3], [1.0, 2.0, 1.0], "squared"),
    "maxpool-relu-simplex/cross_entropy": (["maxpool", "relu", "simplex"], [5, 4, 5, 3], [1.0, 1.0, 1.0],
                                           "cross_entropy"),
    "sigmoid:fenchel-relu-identity/squared": (["sigmoid:fenchel", "relu", "identity"], [5, 6, 4, 3],
                                              [1.0, 1.0, 1.0], "squared"),
    "relu-relu-relu-simplex/cross_entropy": (["relu", "relu", "relu", "simplex"], [6, 7, 5, 4, 3],
                                             [1.0, 1.0, 1.0, 1.0], "cross_entropy"),
    "relu:fenchel-clipped-relu-identity/squared": (["relu:fenchel", "clipped", "relu", "identity"],
                                                   [6, 7, 5, 4, 3], [2.0, 1.0, 0.5, 1.0], "squared"),
}
FIRST_ORDER_FIRST = ("leaky", "maxpool", "sigmoid")


def targets(net, X, loss, seed):
    rng = np.random.default_rng(seed)
    m = X.shape[1]
    if loss == "cross_entropy":
        return np.eye(net.sizes[-1])[:, rng.integers(0, net.sizes[-1], size=m)]
    return rng.normal(size=(net.sizes[-1], m))


def instance(name, m=12):
    specs, sizes, lams, loss = NETS[name]
    net, X = network(specs, sizes, lams, seed_of(name), m=m)
    net.loss_ = get_loss(loss)                       # the CVXPY block reads the network's loss
    return net, X, targets(net, X, loss, seed_of(name, "Y")), loss


def cvxpy_joint_x_step(net, X, Y):
    blk = net.block("joint_x_step", None, X.shape[1])
    blk.set(net, net.preactivation(0, X), Y)
    cvx_solve(blk.problem, blk.problem_class)
    return [net._clean(l, S) for l, S in enumerate(blk.result())]


def _fast(net, X, Y, loss, **kw):
    return fast.joint_x_step(net.preactivation(0, X), Y, net.weights_, net.biases_, net.activations_, net.forms_,
                             net.lam_, loss, tol=TOL, **kw)


def objective(net, X, Y, states, loss):
    from cvxlift.fast.chain import ChainProblem

    pb = ChainProblem(net.preactivation(0, X), net.weights_, net.biases_, net.activations_, net.forms_, net.lam_,
                      loss=loss, Y=Y)
    return pb.objective(states)


def _applicable(net, loss):
    layers = tuple(fast.atom_props(d, f) for d, f in zip(net.activations_, net.forms_))
    return [c.name for c in fast.candidates("joint_x_step")
            if c.predicate(layers=layers, widths=tuple(net.sizes[1:]), loss=loss)]


@pytest.mark.parametrize("name", list(NETS))
def test_joint_x_step_matches_cvxpy(name):
    net, X, Y, loss = instance(name)
    ref = cvxpy_joint_x_step(net, X, Y)
    F_cvx = objective(net, X, Y, ref, loss)
    methods = _applicable(net, loss)
    first = NETS[name][0][0].split(":")[0]
    expected = "fista" if first in FIRST_ORDER_FIRST else "newton"
    assert methods[0] == expected, methods
    for k in methods:
        states, info = _fast(net, X, Y, loss, method=k)
        assert info.converged and np.all(info.certificates <= TOL), info
        assert abs(info.objective - objective(net, X, Y, states, loss)) <= 1e-12 * (1 + abs(info.objective))
        assert_objectives(info.objective, F_cvx, what=f"{name} ({info.solver})")
        if first != "maxpool":
            for l, (S, R) in enumerate(zip(states, ref)):
                assert_close(S, R, what=f"{name}: X_{l + 1} ({info.solver})")
    assert _fast(net, X, Y, loss)[1].solver == f"joint_x_step/{expected}"


def test_joint_x_step_without_hidden_layers_is_the_output_step():
    net, X = network(["simplex"], [4, 3], [2.0], 1, m=9)
    Y = targets(net, X, "cross_entropy", 2)
    states, info = _fast(net, X, Y, "cross_entropy")
    Z, _ = fast.output_step(net.preactivation(0, X), Y, net.activations_[0], "joint", 2.0, "cross_entropy")
    assert info.solver == "joint_x_step/output"
    np.testing.assert_array_equal(states[0], Z)


def test_joint_x_step_finishes_uncertified_columns_and_keeps_the_warm_start():
    """Newton stopped after one iteration: the columns it left are finished by FISTA on those
    columns only (``n_fallback``); a warm start at the solution comes back unchanged or better."""
    name = "relu-relu-relu-simplex/cross_entropy"
    net, X, Y, loss = instance(name, m=25)
    states, info = _fast(net, X, Y, loss, method="newton", max_iter=1)
    assert info.n_fallback > 0 and info.fallback == "joint_x_step/fista"
    assert info.converged and np.all(info.certificates <= TOL)
    best, _ = _fast(net, X, Y, loss)
    for S, B in zip(states, best):
        assert_close(S, B, tol=1e-6 * (1 + np.linalg.norm(B)))
    again, info2 = _fast(net, X, Y, loss, Z0=best)
    assert info2.iterations <= 1 and info2.objective <= objective(net, X, Y, best, loss) + 1e-12


def test_joint_x_step_rejects_bad_input():
    from cvxlift import ValidationError

    net, X, Y, loss = instance("relu-relu-identity/squared")
    with pytest.raises(ValidationError, match="loss"):
        _fast(net, X, Y, "hinge")
    with pytest.raises(ValidationError, match="Y"):
        _fast(net, X, Y[:, :3], loss)
    with pytest.raises(ValidationError, match="max_iter"):
        _fast(net, X, Y, loss, max_iter=-1)
    with pytest.raises(ValidationError, match="Z0"):
        _fast(net, X, Y, loss, Z0=[np.zeros((6, 12))])
    with pytest.raises(fast.NoFastSolver, match="joint_x_step"):   # a biconvex layer after the first
        fast.joint_x_step(net.preactivation(0, X), Y, net.weights_, net.biases_, net.activations_,
                          ["joint", "fenchel", "joint"], net.lam_, loss)
