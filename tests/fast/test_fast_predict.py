"""Certification of the fast lifted prediction rule (paper eq. 12, loss minimised out) against
CVXPY, at one, two and three hidden layers, for every registered candidate that applies, plus
the registry's refusals (NoFastSolver).

The reference is ``cvxlift.reference`` (the block ``Prediction`` assembled by
``cvxlift.assembly`` from the atoms' own expressions, solved tightly), on the instances of
``cvxlift.battery`` and on the networks below (deeper ones, and every first-layer atom: ReLU,
leaky ReLU, clipped, sigmoid, max-pool, in either form). Where the first layer's z-side is
strongly convex (every atom but max-pooling) and the later layers are ``mu||z - u||^2 + I_C``,
the problem is strongly convex in the states (``X_0`` is fixed and anchors the chain), so
iterates are compared too.

With a Fenchel-Young layer after the first the problem is biconvex, not one convex problem;
the fast solvers return a block-wise minimiser, checked block by block against the CVXPY
X-steps, and no worse than the forward pass.
"""

import cvxpy as cp
import numpy as np
import pytest
from fast_helpers import ATOMS, assert_check, assert_close, assert_objectives, from_lib, seed_of, to_lib

from cvxlift import LeakyReLU, MaxPool, battery, fast
from cvxlift.reference import block_reference

TOL = 1e-9
LEAKY = LeakyReLU(0.1)
POOL = MaxPool(2)

INSTANCES = battery.instances("lifted_predict")
JOINT = [i for i in INSTANCES if i.meta["lams"] != "fy"]
FY_FIRST = [i for i in INSTANCES if i.meta["lams"] == "fy"]


def _atom(spec):
    """``"relu"`` / ``"relu:fenchel"`` / ``"maxpool"`` -> (atom, form)."""
    name, _, form = spec.partition(":")
    atom = {"leaky": LEAKY, "maxpool": POOL}.get(name) or ATOMS[name]
    return atom, form or "joint"


#: name -> (layer specs, state sizes, lambdas). The first layer's input is fixed, so its form
#: is free; the later layers are jointly convex (a Fenchel-Young last layer: its minimum over
#: the last state is 0 for every input).
NETS = {
    # two hidden layers
    "relu-relu-simplex": (["relu", "relu", "simplex"], [5, 6, 4, 3], [1.0, 1.0, 1.0]),
    "relu-relu-simplex-up": (["relu", "relu", "simplex"], [5, 6, 4, 3], [0.1, 1.0, 10.0]),
    "clipped-relu-identity-down": (["clipped", "relu", "identity"], [5, 6, 4, 3], [10.0, 1.0, 0.1]),
    "relu:fenchel-clipped-relu:fenchel": (["relu:fenchel", "clipped", "relu:fenchel"], [5, 6, 4, 3], [1.0, 2.0, 1.0]),
    "leaky-relu-simplex": (["leaky", "relu", "simplex"], [5, 6, 4, 3], [1.0, 1.0, 1.0]),
    "leaky:fenchel-relu-identity": (["leaky:fenchel", "relu", "identity"], [5, 6, 4, 3], [1.0, 3.0, 1.0]),
    "maxpool-relu-simplex": (["maxpool", "relu", "simplex"], [5, 4, 5, 3], [1.0, 1.0, 2.0]),
    "sigmoid:fenchel-relu-simplex": (["sigmoid:fenchel", "relu", "simplex"], [5, 6, 4, 3], [1.0, 1.0, 1.0]),
    # three hidden layers
    "relu-relu-relu-simplex": (["relu", "relu", "relu", "simplex"], [6, 7, 5, 4, 3], [1.0, 1.0, 1.0, 1.0]),
    "clipped-relu-clipped-identity": (
        ["clipped", "relu", "clipped", "identity"],
        [6, 7, 5, 4, 3],
        [0.5, 1.0, 2.0, 4.0],
    ),
    "relu:fenchel-relu-relu-simplex": (
        ["relu:fenchel", "relu", "relu", "simplex"],
        [6, 7, 5, 4, 3],
        [2.0, 1.0, 0.5, 1.0],
    ),
}
BICONVEX = {
    "relu-relu:fenchel-simplex": (["relu", "relu:fenchel", "simplex"], [5, 6, 4, 3], [1.0, 1.0, 3.0]),
    "relu-sigmoid:fenchel-relu-identity": (
        ["relu", "sigmoid:fenchel", "relu", "identity"],
        [5, 6, 5, 4, 3],
        [1.0, 2.0, 1.0, 1.0],
    ),
}
#: first-layer atoms whose z-side is not mu||z - u||^2 + I_C: the first-order solver (their prox)
FIRST_ORDER_FIRST = ("maxpool", "leaky", "sigmoid")


def network(specs, sizes, lams, seed, m=12):
    """``(X, weights, biases, divs, forms, lams)``: the arguments of :func:`fast.lifted_predict`."""
    rng = np.random.default_rng(seed)
    divs, forms = (list(t) for t in zip(*(_atom(s) for s in specs)))
    Ws = [1.5 * rng.normal(size=(d.in_dim(sizes[l + 1]), sizes[l])) / np.sqrt(sizes[l]) for l, d in enumerate(divs)]
    bs = [0.5 * rng.normal(size=W.shape[0]) for W in Ws]
    return rng.normal(size=(sizes[0], m)), Ws, bs, divs, forms, list(lams)


def forward(X, Ws, bs, divs):
    states, prev = [], X
    for W, b, d in zip(Ws, bs, divs):
        prev = d.forward(W @ prev + b[:, None])
        states.append(prev)
    return states


def _fast(args, **kw):
    return fast.lifted_predict(*args, tol=TOL, **kw)


def _applicable(args):
    X, Ws, bs, divs, forms, lams = args
    layers = tuple(fast.atom_props(d, f) for d, f in zip(divs, forms))
    return [c.name for c in fast.candidates("lifted_predict") if c.predicate(layers=layers)]


def reference_states(args):
    """The states of (12) from the CVXPY reference. A Fenchel-Young last layer is zero at its
    minimiser ``x_{L+1} = phi(u_L)`` for every ``u_L`` (and its bilinear term is not DCP), so then
    the network without it is solved and ``x_{L+1}`` appended."""
    X, Ws, bs, divs, forms, lams = args
    if forms[-1] != "fenchel":
        ref = block_reference("lifted_predict", *args)
        return ref.solution, ref
    ref = block_reference("lifted_predict", X, Ws[:-1], bs[:-1], divs[:-1], forms[:-1], lams[:-1])
    states = list(ref.solution)
    return states + [divs[-1].forward(Ws[-1] @ states[-1] + bs[-1][:, None])], None


# ------------------------------------------------------------------ the battery
@pytest.mark.parametrize("inst", JOINT, ids=[i.id for i in JOINT])
def test_lifted_predict_matches_cvxpy_on_the_battery(inst, lib):
    """Every applicable solver against the CVXPY solution, on numpy arrays and on torch tensors."""
    divs = inst.args[3]
    first = "leaky" if isinstance(divs[0], LeakyReLU) else ""
    expected = "joint" if first else "dual_newton" if len(divs) == 2 else "newton"
    methods = [k for k in _applicable(inst.args) if k != "bcd"]
    assert methods[0] == expected, methods
    ref = inst.reference()
    for k in methods:  # every applicable registered solver against the same reference
        states, info = fast.lifted_predict(*to_lib(inst.args, lib), method=k)
        states = from_lib(states, lib)
        assert info.converged and np.all(info.certificates <= TOL), info
        rep = ref.check(states)
        assert_check(
            rep, ref, states, what=f"{inst.id} ({info.solver})", known_unique=[f"X{l + 1}" for l in range(len(states))]
        )
        assert np.isclose(rep.objective, info.objective)
    assert fast.lifted_predict(*inst.args)[1].solver == f"lifted_predict/{expected}"


@pytest.mark.parametrize("inst", FY_FIRST, ids=[i.id for i in FY_FIRST])
def test_dual_newton_prediction_with_a_fenchel_young_first_layer_matches_cvxpy(inst, lib):
    """With one hidden layer the input is fixed, so (12) is convex in the states for either
    form of the first layer: ``dual_newton`` (and ``newton``) against CVXPY."""
    ref = inst.reference()
    for k in ("dual_newton", "newton"):
        states, info = fast.lifted_predict(*to_lib(inst.args, lib), method=k)
        states = from_lib(states, lib)
        assert info.converged and info.certificate <= 1e-9, info
        rep = ref.check(states)
        assert_check(rep, ref, states, what=f"{inst.id} ({k})")
        assert np.isclose(rep.objective, info.objective)
        assert rep.row("distance X1").passed
    assert fast.lifted_predict(*inst.args)[1].solver == "lifted_predict/dual_newton"


# ------------------------------------------------------------------ deeper networks, every first layer
@pytest.mark.parametrize("name", list(NETS))
def test_lifted_predict_matches_cvxpy(name):
    specs, sizes, lams = NETS[name]
    args = network(specs, sizes, lams, seed_of(name))
    X, Ws, bs, divs, forms, _ = args
    m = X.shape[1]
    ref_states, ref = reference_states(args)
    F_cvx = fast.prediction_objective(X, ref_states, Ws, bs, divs, forms, lams)
    first = specs[0].split(":")[0]
    expected = "joint" if first in FIRST_ORDER_FIRST else "newton"
    methods = [k for k in _applicable(args) if k != "bcd"]
    assert methods and methods[0] == expected, methods
    for k in methods:  # every applicable registered solver against the same reference
        states, info = _fast(args, method=k)
        assert info.converged and info.certificate <= TOL, info
        assert info.certificates.shape == (m,) and np.all(info.certificates <= TOL)
        assert info.n_uncertified == 0
        assert_objectives(info.objective, F_cvx, what=f"{name} ({info.solver})")
        if first != "maxpool":  # strongly convex: the iterates are unique
            for l, (S, R) in enumerate(zip(states, ref_states)):
                assert_close(S, R, what=f"{name}: X_{l + 1} ({info.solver})")
        if ref is not None:
            assert ref.check(states).row("objective gap").passed
    assert _fast(args)[1].solver == f"lifted_predict/{expected}"


def test_newton_certificate_bounds_the_distance_to_cvxpy():
    """The Newton certificate is a KKT residual; with strong convexity modulus mu = lambda_min(H_0)
    it bounds ||x - x*|| <= r / mu. Checked against the CVXPY reference after one Newton step
    (not converged: the bound is not vacuous)."""
    from cvxlift.fast import chain, chain_newton

    specs, sizes, lams = NETS["relu-relu-relu-simplex"]
    args = network(specs, sizes, lams, 7, m=20)
    X, Ws, bs, divs, forms, _ = args
    pb = chain.ChainProblem(Ws[0] @ X + bs[0][:, None], Ws, bs, divs, forms, lams)
    hidden, cert, it, dist = chain_newton.solve(pb, pb.forward()[:-1], 1e-4, 1)  # one Newton step only
    ref = np.vstack(reference_states(args)[0][:-1])
    err = np.linalg.norm(np.vstack(hidden) - ref, axis=0)
    assert np.any(dist > 1e-3)
    assert np.all(err <= dist + 1e-6), (err, dist)


def test_unconverged_columns_are_finished_by_a_slower_method():
    """One Newton iteration leaves columns above tol: they are finished by ``joint`` on those
    columns only, reported in ``n_fallback``, and the result is certified."""
    specs, sizes, lams = NETS["relu-relu-simplex-up"]
    args = network(specs, sizes, lams, 11, m=30)
    states, info = _fast(args, method="newton", max_iter=1)
    assert info.n_fallback > 0 and info.fallback == "lifted_predict/joint"
    assert info.converged and np.all(info.certificates <= TOL)
    best, _ = _fast(args)
    for S, B in zip(states, best):
        assert_close(S, B, tol=1e-6 * (1 + np.linalg.norm(B)))


def test_sizes_too_large_for_newton_go_to_the_next_candidate(monkeypatch):
    """The registry's predicates see the atoms' structure only; the sizes are checked apart: an
    output wider than NEWTON_MAX_Q (with a Hessian that varies by column) skips ``newton``."""
    from cvxlift.fast import chain_newton

    specs, sizes, lams = NETS["relu-relu-relu-simplex"]
    args = network(specs, sizes, lams, 3)
    assert _fast(args)[1].solver == "lifted_predict/newton"
    monkeypatch.setattr(chain_newton, "NEWTON_MAX_Q", 2)
    states, info = _fast(args)
    assert info.solver == "lifted_predict/joint" and info.converged
    with pytest.raises(fast.NoFastSolver, match="sizes"):
        _fast(args, method="newton")


def test_warm_start_is_never_lost(monkeypatch):
    """A column of ``Z0`` with a lower objective than the solver's result is kept: a candidate
    that returns worse points (registered for this test only) cannot lose the warm start."""
    from cvxlift.fast import registry

    def worse(net, Z0, tol, max_iter, inner_tol, inner_max_iter):
        return [S + 0.5 for S in Z0], 0, np.zeros(net.X.shape[1]), True

    bad = registry.Candidate("lifted_predict", "worse", lambda layers: True, worse, "nothing")
    monkeypatch.setitem(registry._CANDIDATES, "lifted_predict", registry.candidates("lifted_predict") + [bad])
    specs, sizes, lams = NETS["relu-relu-simplex"]
    args = network(specs, sizes, lams, 5)
    best, _ = _fast(args)
    states, info = _fast(args, Z0=best, method="worse")
    for S, B in zip(states, best):
        np.testing.assert_array_equal(S, B)
    assert not info.converged and np.all(np.isinf(info.certificates))  # not certified: said so


@pytest.mark.parametrize("name", list(BICONVEX))
def test_biconvex_prediction_is_blockwise_optimal(name):
    """Fenchel-Young layers after the first: ``joint`` (and ``bcd``) return a block-wise minimiser
    (every hidden block's CVXPY X-step cannot improve it) no worse than the forward pass."""
    specs, sizes, lams = BICONVEX[name]
    args = network(specs, sizes, lams, seed_of(name), m=8)
    X, Ws, bs, divs, forms, _ = args
    methods = _applicable(args)
    assert methods == ["joint", "bcd"]
    assert _fast(args)[1].solver == "lifted_predict/joint"
    obj = fast.prediction_objective
    F_forward = obj(X, forward(X, Ws, bs, divs), Ws, bs, divs, forms, lams)
    for k in methods:
        states, info = _fast(args, method=k, max_iter=2000)
        assert info.converged, info
        F = obj(X, states, Ws, bs, divs, forms, lams)
        assert F <= F_forward + 1e-12
        for l in range(1, len(divs)):  # block X_l, the others fixed
            prev = X if l == 1 else states[l - 2]
            U0 = Ws[l - 1] @ prev + bs[l - 1][:, None]
            ref = block_reference(
                "x_step",
                U0,
                Ws[l],
                bs[l],
                states[l],
                divs[l - 1],
                forms[l - 1],
                divs[l],
                forms[l],
                lams[l - 1],
                lams[l],
            )
            trial = list(states)
            trial[l - 1] = ref.solution
            assert_objectives(F, obj(X, trial, Ws, bs, divs, forms, lams), what=f"{name} ({k}): block X_{l}")
        last = divs[-1].forward(Ws[-1] @ states[-2] + bs[-1][:, None])
        np.testing.assert_allclose(states[-1], last, atol=1e-12)


def test_lifted_predict_fenchel_is_forward_pass():
    args = network(["sigmoid:fenchel", "relu:fenchel", "simplex:fenchel"], [5, 6, 4, 3], [1.0, 2.0, 3.0], 3)
    X, Ws, bs, divs, forms, lams = args
    states, info = _fast(args)
    assert info.solver == "lifted_predict/forward" and info.iterations == 0
    for S, F in zip(states, forward(X, Ws, bs, divs)):
        np.testing.assert_array_equal(S, F)
    assert abs(info.objective) <= 1e-12  # the minimum: every Fenchel-Young divergence is >= 0


# ------------------------------------------------------------------ registry refusals
NONSMOOTH = [(POOL, "joint"), (LEAKY, "joint")]


@pytest.mark.parametrize("d,form", NONSMOOTH, ids=["maxpool", "leaky_relu-joint"])
def test_nonsmooth_u_after_the_first_layer(d, form):
    """A layer whose divergence is nonsmooth (max-pool) or constrained (z >= alpha u) in u: its
    W-step and the X-step before it go to the generic solvers through its u-prox (ADMM and the
    primal-dual X-step, compared with CVXPY in tests/fast/test_fast_generic.py); as a later layer
    the prediction and the joint X-step have no fast solver. (As the first layer, whose input is
    fixed, it is handled: see ``maxpool-relu-simplex`` and ``leaky-relu-simplex``.)"""
    rng = np.random.default_rng(0)
    m, p, n_u = 6, 4, 4
    k = d.out_dim(n_u)
    A = rng.normal(size=(p, m))
    Z = d.forward(rng.normal(size=(n_u, m)))
    assert fast.w_step(A, Z, d, form, 1.0, 1.0, W0=np.zeros((n_u, p)))[2].solver == "w_step/admm"
    assert (
        fast.x_step(
            rng.normal(size=(p, m)),
            rng.normal(size=(n_u, p)),
            np.zeros(n_u),
            rng.normal(size=(k, m)),
            ATOMS["relu"],
            "joint",
            d,
            form,
            1.0,
            1.0,
        )[1].solver
        == "x_step/pdhg"
    )
    # (bcd runs FISTA X-steps: the refusal comes from selecting it; predict.py's _bcd_ok could
    # check method="fista" up front to name lifted_predict)
    with pytest.raises(fast.NoFastSolver, match="lifted_predict|method 'fista' does not apply"):
        fast.lifted_predict(
            rng.normal(size=(3, m)),
            [rng.normal(size=(p, 3)), rng.normal(size=(n_u, p))],
            [np.zeros(p), np.zeros(n_u)],
            [ATOMS["relu"], d],
            ["joint", form],
            [1.0, 1.0],
        )
    with pytest.raises(fast.NoFastSolver, match="joint_x_step"):
        fast.joint_x_step(
            rng.normal(size=(p, m)),
            rng.normal(size=(k, m)),
            [None, rng.normal(size=(n_u, p))],
            [None, np.zeros(n_u)],
            [ATOMS["relu"], d],
            ["joint", form],
            [1.0, 1.0],
            "squared",
        )
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
        lipschitz=1.0,  # declared (never a silent default), checked by the fast path's probe and verify
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
    # the chain solvers: the same structure, the same choice
    simplex_j = fast.atom_props(ATOMS["simplex"], "joint")
    layers = (relu_j, relu_j, simplex_j)
    assert fast.select("lifted_predict", layers=layers).label == "lifted_predict/newton"
    assert fast.select("lifted_predict", layers=(props,) + layers[1:]).label == "lifted_predict/joint"
    assert (
        fast.select("lifted_predict", layers=(relu_j, props, simplex_j)).label == "lifted_predict/joint"
    )  # a Fenchel-Young layer after the first: biconvex
    assert fast.select("joint_x_step", layers=layers, loss="cross_entropy").label == "joint_x_step/newton"
