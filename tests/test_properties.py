"""Property tests (hypothesis) over random small lifted networks.

Networks: sizes 2..6, one or two hidden layers; hidden atoms relu, leaky_relu, clipped,
sigmoid, tanh, maxpool (pool size 2: a max-pool layer's input length is always a multiple
of it), identity; each layer's form drawn among the forms its atom has; squared loss (any
atom at the output) or cross-entropy (simplex output); lam and rho per layer, log-uniform
in [1e-2, 1e2]; m = 1..8 data points.

(a) every block step of both training paths leaves the lifted objective non-increasing:
    ``np.diff(history_) <= TOL_MONOTONE * max(1, |history_[0]|)`` with TOL_MONOTONE = 1e-9;
(b) the fast block solvers and the DSL (CVXPY) blocks reach the same objective on the same
    data: ``|f_fast - f_dsl| <= TOL_AGREE * max(1, |f_dsl|)`` with TOL_AGREE = 1e-6, the
    objectives evaluated exactly in numpy. The DSL blocks are solved with
    ``accuracy="tight"``: with the solvers' default tolerances the DSL solution can be
    ~1e-6 (relative) above the exact optimum (the thorough run found a cross-entropy output
    step, simplex output, lam = 100, at 1.08e-6; 7.6e-9 with "tight");
(c) the same ``random_state`` gives bit-identical weights, states and histories.

Profiles (``tests/conftest.py``): ``default`` (what ``python -m pytest`` runs: few,
derandomised examples) and ``thorough`` (``--hypothesis-profile=thorough``, 1000 examples).
"""

import os
import warnings
from dataclasses import dataclass, field

import numpy as np
import pytest

hypothesis = pytest.importorskip("hypothesis")
from hypothesis import given, note  # noqa: E402
from hypothesis import strategies as st  # noqa: E402

import cvxlift  # noqa: E402
from cvxlift import LiftedNetwork, fast  # noqa: E402
from cvxlift.fast.output import loss_value  # noqa: E402
from cvxlift.fast.xstep import XStepProblem  # noqa: E402
from cvxlift.training import CvxpyBackend  # noqa: E402

pytestmark = pytest.mark.properties

#: With ``CVXLIFT_PROPERTY_LOG=<file>`` every example run appends one line (test name) to the
#: file, so a long ``thorough`` run that is stopped early still tells how many cases it ran.
_LOG = os.environ.get("CVXLIFT_PROPERTY_LOG")


def _count(test):
    if _LOG:
        with open(_LOG, "a") as fh:
            fh.write(test + "\n")


TOL_MONOTONE = 1e-9
TOL_AGREE = 1e-6

ATOM_NAMES = ("relu", "leaky_relu", "clipped", "sigmoid", "tanh", "maxpool", "identity")


@st.composite
def atoms(draw):
    name = draw(st.sampled_from(ATOM_NAMES))
    if name == "leaky_relu":
        return cvxlift.LeakyReLU(draw(st.sampled_from([0.01, 0.1, 0.5])))
    if name == "clipped":
        return draw(st.sampled_from([cvxlift.Clipped(-1.0, 1.0), cvxlift.Clipped(0.0, 1.0)]))
    if name == "maxpool":
        return cvxlift.MaxPool(2)
    return cvxlift.get_divergence(name)


log_uniform = st.floats(-2.0, 2.0).map(lambda e: float(10.0**e))


@dataclass
class Config:
    sizes: list
    activations: list
    forms: list
    loss: str
    lam: list
    rho: list
    m: int
    seed: int
    X: np.ndarray = field(repr=False, default=None)
    Y: np.ndarray = field(repr=False, default=None)

    def net(self, random_state=None):
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", UserWarning)
            return LiftedNetwork(
                self.sizes,
                self.activations,
                loss=self.loss,
                lam=self.lam,
                rho=self.rho,
                form=self.forms,
                random_state=self.seed if random_state is None else random_state,
            )


@st.composite
def configs(draw):
    n_hidden = draw(st.integers(1, 2))
    sizes = [draw(st.integers(2, 6)) for _ in range(n_hidden + 2)]
    loss = draw(st.sampled_from(["squared", "cross_entropy"]))
    acts = [draw(atoms()) for _ in range(n_hidden)]
    acts.append(cvxlift.Simplex() if loss == "cross_entropy" else draw(atoms()))
    forms = [draw(st.sampled_from(d.forms)) for d in acts]
    L1 = n_hidden + 1
    lam = [draw(log_uniform) for _ in range(L1)]
    rho = [draw(log_uniform) for _ in range(L1)]
    m = draw(st.integers(1, 8))
    seed = draw(st.integers(0, 2**16))
    cfg = Config(sizes, acts, forms, loss, lam, rho, m, seed)
    rng = np.random.default_rng(seed)
    cfg.X = rng.normal(size=(sizes[0], m))
    if loss == "cross_entropy":
        cfg.Y = np.eye(sizes[-1])[:, rng.integers(0, sizes[-1], m)]
    else:
        cfg.Y = rng.normal(size=(sizes[-1], m))
    return cfg


def _quiet_fit(net, cfg, **kw):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)  # inaccurate-solver notices
        return net.fit(cfg.X, cfg.Y, **kw)


# ---------------------------------------------------------------------------- (a)
@pytest.mark.parametrize("solver", ["fast", "cvxpy"])
@given(cfg=configs(), max_iter=st.integers(1, 2))
def test_every_block_step_is_non_increasing(solver, cfg, max_iter):
    _count(f"test_every_block_step_is_non_increasing[{solver}]")
    note(repr(cfg))
    net = _quiet_fit(cfg.net(), cfg, solver=solver, max_iter=max_iter)
    h = np.asarray(net.history_)
    note(f"history {h.tolist()} blocks {net.history_blocks_}")
    assert np.all(np.isfinite(h))
    assert np.all(np.diff(h) <= TOL_MONOTONE * max(1.0, abs(h[0])))
    assert len(h) == len(net.history_blocks_)
    for W, b in zip(net.weights_, net.biases_):
        assert np.all(np.isfinite(W)) and np.all(np.isfinite(b))
    # the recorded history ends at the objective of the returned iterate
    assert net.objective(cfg.X, cfg.Y) == pytest.approx(h[-1], rel=1e-12, abs=1e-12)


# ---------------------------------------------------------------------------- (b)
def _uncertified(kind, info):
    """An iterative solver that ran out of its budget must say so (``converged`` False, its
    certificate above its tolerance); its point is then not a claim to compare with the DSL."""
    if info.converged:
        return False
    assert info.iterations > 0 and not info.certificate <= info.tol, (kind, info)
    note(f"{kind}: {info.solver} uncertified after {info.iterations} iterations ({info.certificate:.2g})")
    return True


def _agree(kind, f_fast, f_dsl, status):
    scale = max(1.0, abs(f_dsl))
    assert np.isfinite(f_fast), (kind, f_fast)
    assert np.isfinite(f_dsl), (kind, f_dsl, status)
    assert abs(f_fast - f_dsl) <= TOL_AGREE * scale, (kind, f_fast, f_dsl, status)


@given(cfg=configs())
def test_fast_and_dsl_blocks_agree(cfg):
    _count("test_fast_and_dsl_blocks_agree")
    note(repr(cfg))
    net = cfg.net().init_weights()
    # states off the network's graph but inside every atom's domain: another network's forward pass
    states = cfg.net(random_state=cfg.seed + 1).init_weights().forward(cfg.X)
    inputs = [cfg.X] + states[:-1]
    L1 = net.n_layers
    checked = []
    for l in range(L1):  # W-steps
        d, f, lam, rho = net.activations_[l], net.forms_[l], net.lam_[l], net.rho_[l]
        A, Z = inputs[l], states[l]
        try:
            W, b, info = fast.w_step(A, Z, d, f, lam, rho, W0=net.weights_[l], b0=net.biases_[l])
        except fast.NoFastSolver:
            continue
        if _uncertified(f"W{l}", info):
            continue
        blk = net.block("w_step", l, cfg.m)
        blk.set(A, Z)
        st_ = blk.solve(accuracy="tight", allow_inaccurate=True)
        Wd, bd = blk.result()
        _agree(
            f"W{l}",
            fast.w_objective(A, Z, W, b, d, f, lam, rho),
            fast.w_objective(A, Z, Wd, bd, d, f, lam, rho),
            st_.attempts,
        )
        checked.append(f"W{l}")
    for l in range(1, L1):  # hidden X-steps
        U0 = net.preactivation(l - 1, inputs[l - 1])
        args = (
            U0,
            net.weights_[l],
            net.biases_[l],
            states[l],
            net.activations_[l - 1],
            net.forms_[l - 1],
            net.activations_[l],
            net.forms_[l],
            net.lam_[l - 1],
            net.lam_[l],
        )
        try:
            Z, info = fast.x_step(*args, Z0=states[l - 1])
        except fast.NoFastSolver:
            continue
        if _uncertified(f"X{l}", info):
            continue
        pb = XStepProblem(*args)
        blk = net.block("x_step", l, cfg.m)
        blk.set(U0, net.weights_[l], net.biases_[l], states[l])
        st_ = blk.solve(accuracy="tight", allow_inaccurate=True)
        Zd = CvxpyBackend.project_state(net, l - 1, blk.result())
        _agree(f"X{l}", pb.objective(Z), pb.objective(Zd), st_.attempts)
        checked.append(f"X{l}")
    # output step
    d, f, lam = net.activations_[-1], net.forms_[-1], net.lam_[-1]
    U0 = net.preactivation(L1 - 1, inputs[L1 - 1])
    try:
        Z, info = fast.output_step(U0, cfg.Y, d, f, lam, cfg.loss)
    except fast.NoFastSolver:
        Z = None
    if Z is not None:
        blk = net.block("output_step", None, cfg.m)
        blk.set(U0, cfg.Y)
        st_ = blk.solve(accuracy="tight", allow_inaccurate=True)
        Zd = CvxpyBackend.project_state(net, L1 - 1, blk.result())

        def obj(Zo):
            return loss_value(cfg.Y, Zo, cfg.loss) + lam * float(np.sum(d.divergence_value(U0, Zo, f)))

        _agree("output", obj(Z), obj(Zd), st_.attempts)
        checked.append("output")
    note(f"checked {checked}")


# ---------------------------------------------------------------------------- (c)
@given(cfg=configs(), solver=st.sampled_from(["fast", "cvxpy"]))
def test_same_random_state_same_result(cfg, solver):
    _count("test_same_random_state_same_result")
    note(repr(cfg))
    a = _quiet_fit(cfg.net(), cfg, solver=solver, max_iter=1)
    b = _quiet_fit(cfg.net(), cfg, solver=solver, max_iter=1)
    assert a.history_ == b.history_
    for x, y in zip(a.weights_ + a.biases_ + a.states_, b.weights_ + b.biases_ + b.states_):
        np.testing.assert_array_equal(x, y)
    np.testing.assert_array_equal(a.predict(cfg.X), b.predict(cfg.X))
