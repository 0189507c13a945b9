"""Certification of the fast joint X-step against the CVXPY block ``JointXStep`` (through
``cvxlift.reference``), at one, two and three hidden layers, both losses with their output atoms
(squared + Identity or Simplex, cross-entropy + Simplex), for every registered candidate that
applies: the instances of ``cvxlift.battery`` and the networks below (every first-layer atom).

min over X_1..X_{L+1} of loss(Y, X_{L+1}) + sum_l lam_l D_l(W_l X_l + b_l, X_{l+1}), U_0 fixed.
Every network here is strongly convex in the states (the first layer's z-side anchors the
chain) except with a max-pool first layer, so iterates are compared too.
"""

import numpy as np
import pytest
from fast_helpers import assert_check, assert_close, assert_objectives, from_lib, seed_of, to_lib
from test_fast_predict import network

from cvxlift import ValidationError, battery, fast
from cvxlift.fast.chain import ChainProblem
from cvxlift.reference import block_reference

TOL = 1e-9
INSTANCES = battery.instances("joint_x_step")

#: name -> (layer specs, sizes, lambdas, loss)
NETS = {
    "relu-relu-identity/squared": (["relu", "relu", "identity"], [5, 6, 4, 3], [1.0, 1.0, 1.0], "squared"),
    "clipped-relu-simplex/squared": (["clipped", "relu", "simplex"], [5, 6, 4, 3], [0.5, 1.0, 2.0], "squared"),
    "relu-relu-simplex/cross_entropy": (["relu", "relu", "simplex"], [5, 6, 4, 3], [1.0, 1.0, 1.0], "cross_entropy"),
    "relu-clipped-simplex/cross_entropy-down": (
        ["relu", "clipped", "simplex"],
        [5, 6, 4, 3],
        [10.0, 1.0, 0.1],
        "cross_entropy",
    ),
    "leaky-relu-identity/squared": (["leaky", "relu", "identity"], [5, 6, 4, 3], [1.0, 2.0, 1.0], "squared"),
    "maxpool-relu-simplex/cross_entropy": (
        ["maxpool", "relu", "simplex"],
        [5, 4, 5, 3],
        [1.0, 1.0, 1.0],
        "cross_entropy",
    ),
    "sigmoid:fenchel-relu-identity/squared": (
        ["sigmoid:fenchel", "relu", "identity"],
        [5, 6, 4, 3],
        [1.0, 1.0, 1.0],
        "squared",
    ),
    "relu-relu-relu-simplex/cross_entropy": (
        ["relu", "relu", "relu", "simplex"],
        [6, 7, 5, 4, 3],
        [1.0, 1.0, 1.0, 1.0],
        "cross_entropy",
    ),
    "relu:fenchel-clipped-relu-identity/squared": (
        ["relu:fenchel", "clipped", "relu", "identity"],
        [6, 7, 5, 4, 3],
        [2.0, 1.0, 0.5, 1.0],
        "squared",
    ),
}
FIRST_ORDER_FIRST = ("leaky", "maxpool", "sigmoid")


def instance(name, m=12):
    """``(U0, Y, weights, biases, divs, forms, lams, loss)``: the arguments of :func:`fast.joint_x_step`."""
    specs, sizes, lams, loss = NETS[name]
    X, Ws, bs, divs, forms, lams = network(specs, sizes, lams, seed_of(name), m=m)
    rng = np.random.default_rng(seed_of(name, "Y"))
    q = sizes[-1]
    Y = np.eye(q)[:, rng.integers(0, q, size=m)] if loss == "cross_entropy" else rng.normal(size=(q, m))
    return Ws[0] @ X + bs[0][:, None], Y, Ws, bs, divs, forms, lams, loss


def objective(args, states):
    U0, Y, Ws, bs, divs, forms, lams, loss = args
    return ChainProblem(U0, Ws, bs, divs, forms, lams, loss=loss, Y=Y).objective(states)


def _fast(args, **kw):
    return fast.joint_x_step(*args, tol=TOL, **kw)


def _applicable(args):
    U0, Y, Ws, bs, divs, forms, lams, loss = args
    layers = tuple(fast.atom_props(d, f) for d, f in zip(divs, forms))
    return [c.name for c in fast.candidates("joint_x_step") if c.predicate(layers=layers, loss=loss)]


@pytest.mark.parametrize("inst", INSTANCES, ids=[i.id for i in INSTANCES])
def test_joint_x_step_matches_cvxpy_on_the_battery(inst, lib):
    """Every applicable solver against the CVXPY solution, on numpy arrays and on torch tensors."""
    methods = _applicable(inst.args)
    assert methods, inst.id
    ref = inst.reference()
    for k in methods:
        states, info = fast.joint_x_step(*to_lib(inst.args, lib), method=k)
        states = from_lib(states, lib)
        assert info.converged and np.all(info.certificates <= TOL), info
        rep = ref.check(states)
        assert_check(
            rep, ref, states, what=f"{inst.id} ({info.solver})", known_unique=[f"X{l + 1}" for l in range(len(states))]
        )
        assert np.isclose(rep.objective, info.objective)


@pytest.mark.parametrize("name", list(NETS))
def test_joint_x_step_matches_cvxpy(name):
    args = instance(name)
    ref = block_reference("joint_x_step", *args)
    F_cvx = objective(args, ref.solution)
    methods = _applicable(args)
    first = NETS[name][0][0].split(":")[0]
    expected = "fista" if first in FIRST_ORDER_FIRST else "newton"
    assert methods[0] == expected, methods
    for k in methods:
        states, info = _fast(args, method=k)
        assert info.converged and np.all(info.certificates <= TOL), info
        assert abs(info.objective - objective(args, states)) <= 1e-12 * (1 + abs(info.objective))
        assert_objectives(info.objective, F_cvx, what=f"{name} ({info.solver})")
        assert ref.check(states).row("objective gap").passed
        if first != "maxpool":
            for l, (S, R) in enumerate(zip(states, ref.solution)):
                assert_close(S, R, what=f"{name}: X_{l + 1} ({info.solver})")
    assert _fast(args)[1].solver == f"joint_x_step/{expected}"


def test_joint_x_step_without_hidden_layers_is_the_output_step():
    X, Ws, bs, divs, forms, lams = network(["simplex"], [4, 3], [2.0], 1, m=9)
    U0 = Ws[0] @ X + bs[0][:, None]
    Y = np.eye(3)[:, np.arange(9) % 3]
    states, info = fast.joint_x_step(U0, Y, Ws, bs, divs, forms, lams, "cross_entropy")
    Z, _ = fast.output_step(U0, Y, divs[0], "joint", 2.0, "cross_entropy")
    assert info.solver == "joint_x_step/output"
    np.testing.assert_array_equal(states[0], Z)


def test_joint_x_step_finishes_uncertified_columns_and_keeps_the_warm_start():
    """Newton stopped after one iteration: the columns it left are finished by FISTA on those
    columns only (``n_fallback``); a warm start at the solution comes back unchanged or better."""
    args = instance("relu-relu-relu-simplex/cross_entropy", m=25)
    states, info = _fast(args, method="newton", max_iter=1)
    assert info.n_fallback > 0 and info.fallback == "joint_x_step/fista"
    assert info.converged and np.all(info.certificates <= TOL)
    best, _ = _fast(args)
    for S, B in zip(states, best):
        assert_close(S, B, tol=1e-6 * (1 + np.linalg.norm(B)))
    again, info2 = _fast(args, Z0=best)
    assert info2.iterations <= 1 and info2.objective <= objective(args, best) + 1e-12
    # an inexact step (no finishing): the uncertified columns are reported, none is worse than Z0
    start = [S.copy() for S in _fast(args, method="fista", max_iter=3)[0]]
    inexact, info3 = _fast(args, method="newton", max_iter=1, finish=False, Z0=start)
    assert info3.n_fallback == 0 and not info3.converged and info3.n_uncertified > 0
    assert info3.objective <= objective(args, start) + 1e-12


def test_joint_x_step_rejects_bad_input():
    args = instance("relu-relu-identity/squared")
    U0, Y, Ws, bs, divs, forms, lams, loss = args
    with pytest.raises(ValidationError, match="loss"):
        fast.joint_x_step(U0, Y, Ws, bs, divs, forms, lams, "hinge")
    with pytest.raises(ValidationError, match="Y"):
        fast.joint_x_step(U0, Y[:, :3], Ws, bs, divs, forms, lams, loss)
    with pytest.raises(ValidationError, match="max_iter"):
        _fast(args, max_iter=-1)
    with pytest.raises(ValidationError, match="Z0"):
        _fast(args, Z0=[np.zeros((6, 12))])
    with pytest.raises(fast.NoFastSolver, match="joint_x_step"):  # a biconvex layer after the first
        fast.joint_x_step(U0, Y, Ws, bs, divs, ["joint", "fenchel", "joint"], lams, loss)
