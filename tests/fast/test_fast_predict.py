"""Certification of the fast lifted prediction rule (paper eq. 12, loss minimised out) against
CVXPY with a Variable for every state, plus the registry's refusals (NoFastSolver).

CVXPY can pose the whole-network problem only when it is jointly convex (every form
"joint"); with Fenchel-Young forms the solver returns the forward pass, whose objective is
0 = the minimum (every D >= 0), which is checked directly. The jointly convex problems are
strongly convex in the states (X_0 is fixed and every D_l is mu||z - u||^2 + ..., so the
quadratic part is positive definite), so iterates are compared.
"""
import numpy as np
import pytest

import cvxpy as cp
from cvxlift import MaxPool, cvxsolve, fast
from fast_helpers import ATOMS, assert_close, assert_objectives, bias, cvx_solve, param, seed_of

NETS = {
    "relu-relu-simplex": (["relu", "relu", "simplex"], [5, 6, 4, 3]),
    "clipped-relu-identity": (["clipped", "relu", "identity"], [5, 6, 4, 3]),
    "relu-simplex": (["relu", "simplex"], [6, 7, 4]),          # -> dual_newton (and joint, bcd)
    "clipped-relu": (["clipped", "relu"], [6, 7, 4]),          # -> dual_newton, box last layer
    "identity-clipped-relu": (["identity", "clipped", "relu"], [4, 5, 5, 2]),
    "leaky-relu-simplex": (["leaky_relu", "relu", "simplex"], [5, 6, 4, 3]),   # -> bcd
}
LAMS = {"flat": [1.0, 1.0, 1.0], "up": [0.1, 1.0, 10.0], "down": [10.0, 1.0, 0.1]}
CASES = [(net, lams) for net in NETS for lams in LAMS if not (net.startswith("leaky") and lams == "up")]


def _network(rng, names, sizes, scale=1.0):
    divs = [ATOMS[n] for n in names]
    Ws = [scale * rng.normal(size=(sizes[i + 1], sizes[i])) / np.sqrt(sizes[i]) for i in range(len(names))]
    bs = [0.5 * rng.normal(size=sizes[i + 1]) for i in range(len(names))]
    return divs, Ws, bs


@pytest.mark.parametrize("net,lams", CASES)
def test_lifted_predict_matches_cvxpy(net, lams):
    names, sizes = NETS[net]
    rng = np.random.default_rng(seed_of(net, lams))
    divs, Ws, bs = _network(rng, names, sizes)
    lam = LAMS[lams][: len(names)]
    forms = ["joint"] * len(names)
    m = 15
    X = rng.normal(size=(sizes[0], m))

    states, info = fast.lifted_predict(X, Ws, bs, divs, forms, lam, max_iter=2000)
    expected = ("lifted_predict/bcd" if net.startswith("leaky") else
                "lifted_predict/dual_newton" if len(names) == 2 else "lifted_predict/joint")
    assert info.solver == expected
    if expected != "lifted_predict/bcd":
        assert info.converged and info.certificate <= 1e-9
    layers = tuple(fast.atom_props(d, f) for d, f in zip(divs, forms))
    others = [c.name for c in fast.candidates("lifted_predict")
              if c.predicate(layers=layers) and c.label != expected and c.name != "bcd"]
    runs = [(states, info)] + [fast.lifted_predict(X, Ws, bs, divs, forms, lam, max_iter=2000, method=k)
                               for k in others]

    Xs = [cp.Variable((sizes[i + 1], m)) for i in range(len(names))]
    obj, prev = 0, param(X)
    for l, d in enumerate(divs):
        obj = obj + lam[l] * d.divergence(Ws[l] @ prev + bias(cp.Constant(bs[l]), m), Xs[l], forms[l])
        prev = Xs[l]
    cvx_solve(cp.Problem(cp.Minimize(obj)), cvxsolve.combine_classes(*[d.problem_class(f) for d, f in zip(divs, forms)]))
    ref = [np.asarray(v.value) for v in Xs]
    F_cvx = fast.prediction_objective(X, ref, Ws, bs, divs, forms, lam)
    for states, info in runs:   # every applicable registered solver against the same reference
        assert_objectives(info.objective, F_cvx, what=f"{net} ({info.solver})")
        for l, (S, R) in enumerate(zip(states, ref)):
            assert_close(S, R, what=f"X_{l + 1} ({info.solver})")


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


@pytest.mark.parametrize("first,last", [("relu", "simplex"), ("clipped", "relu"), ("relu", "clipped")])
def test_dual_newton_prediction_with_a_fenchel_young_first_layer_matches_cvxpy(first, last):
    """With one hidden layer the input is fixed, so (12) is convex in the states for either
    form of the first layer: ``dual_newton`` against CVXPY."""
    rng = np.random.default_rng(seed_of(first, last, "fy"))
    sizes = [5, 7, 4]
    divs, Ws, bs = _network(rng, [first, last], sizes)
    forms, lam, m = ["fenchel", "joint"], [1.0, 3.0], 15
    X = rng.normal(size=(sizes[0], m))
    states, info = fast.lifted_predict(X, Ws, bs, divs, forms, lam)
    assert info.solver == "lifted_predict/dual_newton" and info.converged and info.certificate <= 1e-9
    Z1, Z2 = cp.Variable((sizes[1], m)), cp.Variable((sizes[2], m))
    U0 = Ws[0] @ X + bs[0][:, None]
    obj = lam[0] * divs[0].divergence(param(U0), Z1, forms[0]) + lam[1] * divs[1].divergence(
        Ws[1] @ Z1 + bias(cp.Constant(bs[1]), m), Z2, forms[1])
    cvx_solve(cp.Problem(cp.Minimize(obj)), cvxsolve.combine_classes(*[d.problem_class(f) for d, f in zip(divs, forms)]))
    F_cvx = fast.prediction_objective(X, [Z1.value, Z2.value], Ws, bs, divs, forms, lam)
    assert_objectives(info.objective, F_cvx, what=f"{first} fenchel -> {last} joint")
    assert_close(states[0], Z1.value, what="X_1")
