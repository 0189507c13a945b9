"""Certification of the fast lifted prediction rule (paper eq. 12, loss minimised out) against
CVXPY with a Variable for every state, plus the registry's refusals (NoFastSolver).

The instances come from ``cvxlift.battery`` and the reference is ``cvxlift.reference`` (the
block assembled by ``cvxlift.assembly``, solved tightly). CVXPY can pose the whole-network
problem only when it is convex (every form after the first "joint"); with Fenchel-Young forms
the solver returns the forward pass, whose objective is 0 = the minimum (every D >= 0), which
is checked directly. The jointly convex problems are strongly convex in the states (X_0 is
fixed and every D_l is mu||z - u||^2 + ..., so the quadratic part is positive definite), so
iterates are compared.
"""
import numpy as np
import pytest

import cvxpy as cp
from cvxlift import MaxPool, battery, fast
from fast_helpers import ATOMS, assert_check

INSTANCES = battery.instances("lifted_predict")
JOINT = [i for i in INSTANCES if i.meta["lams"] != "fy"]
FY_FIRST = [i for i in INSTANCES if i.meta["lams"] == "fy"]


def _network(rng, names, sizes, scale=1.0):
    divs = [ATOMS[n] for n in names]
    Ws = [scale * rng.normal(size=(sizes[i + 1], sizes[i])) / np.sqrt(sizes[i]) for i in range(len(names))]
    bs = [0.5 * rng.normal(size=sizes[i + 1]) for i in range(len(names))]
    return divs, Ws, bs


@pytest.mark.parametrize("inst", JOINT, ids=[i.id for i in JOINT])
def test_lifted_predict_matches_cvxpy(inst):
    X, Ws, bs, divs, forms, lam = inst.args
    net = inst.meta["net"]

    states, info = fast.lifted_predict(*inst.args, max_iter=2000)
    expected = ("lifted_predict/bcd" if net.startswith("leaky") else
                "lifted_predict/dual_newton" if len(divs) == 2 else "lifted_predict/joint")
    assert info.solver == expected
    if expected != "lifted_predict/bcd":
        assert info.converged and info.certificate <= 1e-9
    layers = inst.props()["layers"]
    others = [c.name for c in fast.candidates("lifted_predict")
              if c.predicate(layers=layers) and c.label != expected and c.name != "bcd"]
    runs = [(states, info)] + [fast.lifted_predict(*inst.args, max_iter=2000, method=k) for k in others]

    ref = inst.reference()
    for states, info in runs:   # every applicable registered solver against the same reference
        rep = ref.check(states)
        # bcd stops on a stall, not on its certificate: its residual is not asserted
        assert_check(rep, ref, states, what=f"{net} ({info.solver})", residual=info.converged,
                     known_unique=[f"X{l + 1}" for l in range(len(states))])
        assert np.isclose(rep.objective, info.objective)


def test_lifted_predict_fenchel_is_forward_pass():
    rng = np.random.default_rng(3)
    divs, Ws, bs = _network(rng, ["sigmoid", "relu", "simplex"], [5, 6, 4, 3])
    X = rng.normal(size=(5, 10))
    states, info = fast.lifted_predict(X, Ws, bs, divs, ["fenchel"] * 3, [1.0, 2.0, 3.0])
    assert info.solver == "lifted_predict/forward" and info.iterations == 0
    prev = X
    for S, W, b, d in zip(states, Ws, bs, divs):
        prev = d.forward(W @ prev + b[:, None])
        np.testing.assert_array_equal(S, prev)
    assert abs(info.objective) <= 1e-12   # the minimum: every Fenchel-Young divergence is >= 0


# ------------------------------------------------------------------ registry refusals
NONSMOOTH = [(MaxPool(2), "joint"), (ATOMS["leaky_relu"], "joint")]


@pytest.mark.parametrize("d,form", NONSMOOTH, ids=["maxpool", "leaky_relu-joint"])
def test_no_fast_solver_for_nonsmooth_u(d, form):
    rng = np.random.default_rng(0)
    m, p = 6, 4
    n_u = 4
    k = d.out_dim(n_u)
    A = rng.normal(size=(p, m))
    Z = d.forward(rng.normal(size=(n_u, m)))
    with pytest.raises(fast.NoFastSolver, match=r"w_step.*" + type(d).__name__ + r".*form='joint'"):
        fast.w_step(A, Z, d, form, 1.0, 1.0, W0=np.zeros((n_u, p)))
    # as the next layer of an X-step
    with pytest.raises(fast.NoFastSolver, match=r"x_step.*" + type(d).__name__):
        fast.x_step(rng.normal(size=(p, m)), rng.normal(size=(n_u, p)), np.zeros(n_u), rng.normal(size=(k, m)),
                    ATOMS["relu"], "joint", d, form, 1.0, 1.0)
    # and in a network's lifted prediction
    with pytest.raises(fast.NoFastSolver, match="lifted_predict"):
        fast.lifted_predict(rng.normal(size=(3, m)), [rng.normal(size=(p, 3)), rng.normal(size=(n_u, p))],
                            [np.zeros(p), np.zeros(n_u)], [ATOMS["relu"], d], ["joint", form], [1.0, 1.0])
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
    assert fast.select("w_step", atom=props).label == "w_step/pncg"
    assert fast.select("w_step", atom=fast.atom_props(ATOMS["relu"], "joint")).label == "w_step/ridge"
    # Fenchel-Young ReLU: D = 1/2||z-u||^2 - 1/2 dist(u, R+)^2 is not quadratic in u
    assert fast.atom_props(ATOMS["relu"], "fenchel").u_quadratic is None
    assert fast.atom_props(ATOMS["identity"], "fenchel").u_quadratic == 0.5
    relu_j = fast.atom_props(ATOMS["relu"], "joint")
    assert fast.select("x_step", prev=fast.atom_props(ATOMS["identity"], "joint"), next=relu_j).label == "x_step/linear"
    assert fast.select("x_step", prev=relu_j, next=props).label == "x_step/fista"


@pytest.mark.parametrize("inst", FY_FIRST, ids=[i.id for i in FY_FIRST])
def test_dual_newton_prediction_with_a_fenchel_young_first_layer_matches_cvxpy(inst):
    """With one hidden layer the input is fixed, so (12) is convex in the states for either
    form of the first layer: ``dual_newton`` against CVXPY."""
    states, info = fast.lifted_predict(*inst.args)
    assert info.solver == "lifted_predict/dual_newton" and info.converged and info.certificate <= 1e-9
    ref = inst.reference()
    rep = ref.check(states)
    assert_check(rep, ref, states, what=f"{inst.id}")
    assert np.isclose(rep.objective, info.objective)
    assert rep.row("distance X1").passed
