"""The array namespace module (``cvxlift.arrays``) and the library/device round trip of fit, predict
and the estimators: numpy always, torch CPU where torch and array-api-compat are installed."""

import subprocess
import sys
import warnings

import numpy as np
import pytest

from cvxlift import LiftedMLPClassifier, LiftedMLPRegressor, LiftedNetwork, fast
from cvxlift import arrays as ax
from cvxlift.exceptions import NoFastSolver, ValidationError


def test_import_cvxlift_loads_neither_torch_nor_array_api_compat():
    code = (
        "import sys, numpy as np, cvxlift; from cvxlift import arrays, fast; "
        "W, b, info = fast.w_step(np.ones((3, 5)), np.ones((2, 5)), cvxlift.ReLU(), 'joint', 1.0, 1.0); "
        "assert arrays.namespace(W) is np; "
        "print('torch' in sys.modules, 'array_api_compat' in sys.modules)"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.split() == ["False", "False"]


def test_numpy_helpers():
    rng = np.random.default_rng(0)
    A = rng.normal(size=(5, 4))
    M = A @ A.T + np.eye(5)
    X = rng.normal(size=(5, 3))
    assert ax.namespace(A, None, 2.0) is np
    assert np.allclose(ax.cho_factor(M)(X), np.linalg.solve(M, X))
    assert np.isclose(ax.max_eigvalsh(M), np.linalg.eigvalsh(M)[-1])
    assert np.allclose(ax.coldot(A, A), np.sum(A * A, axis=0))
    assert np.allclose(ax.rowdot(A, A, A > 0), np.sum(A * A * (A > 0), axis=1))
    assert ax.amax(np.zeros(0), initial=-1.0) == -1.0
    assert ax.device_of(A) == "cpu" and ax.to_numpy(A) is A and ax.asarray(A) is A
    # a singular matrix: the eigen-factorisation fallback still solves on the range
    S = np.outer(A[:, 0], A[:, 0])
    assert np.all(np.isfinite(ax.cho_factor(S)(A[:, :1])))


def test_resolve_device_errors_name_the_argument():
    torch = ax.torch_or_none()
    if torch is None:
        with pytest.raises(ValidationError, match="needs PyTorch"):
            ax.resolve_device("cpu", "device")
        return
    assert ax.resolve_device("cpu").type == "cpu"
    with pytest.raises(ValidationError, match="device must be"):
        ax.resolve_device("tpu", "device")
    if not torch.cuda.is_available():
        with pytest.raises(ValidationError, match="CUDA is not available"):
            ax.resolve_device("cuda", "device")


# ------------------------------------------------------------------ torch
@pytest.fixture
def torch():
    pytest.importorskip("array_api_compat")
    return pytest.importorskip("torch")


def test_torch_helpers_match_numpy(torch):
    rng = np.random.default_rng(1)
    A = rng.normal(size=(6, 4))
    M = A @ A.T + np.eye(6)
    X = rng.normal(size=(6, 2))
    Mt, Xt = torch.from_numpy(M), torch.from_numpy(X)
    sol = ax.cho_factor(Mt)(Xt)
    assert isinstance(sol, torch.Tensor)
    assert np.allclose(sol.numpy(), np.linalg.solve(M, X))
    assert np.isclose(ax.max_eigvalsh(Mt), ax.max_eigvalsh(M))
    assert ax.namespace(Mt) is not np
    assert ax.asarray(X, like=Mt).dtype == torch.float64
    assert ax.same_place(Mt, Xt) and not ax.same_place(M, Xt)
    with pytest.raises(ValidationError, match="one array library"):
        ax.namespace(Mt, M)
    with pytest.raises(ValidationError, match="A must be a 2-D array"):
        ax.check_matrix(torch.ones(3), "A")


def test_bridge_and_native_atoms(torch):
    from cvxlift.divergences import ReLU, Sigmoid

    U = torch.from_numpy(np.random.default_rng(2).normal(size=(3, 4)))
    assert ax.native(ReLU(), U).__class__ is ReLU  # array_api = True: called directly
    bridged = ax.native(Sigmoid(), U)
    assert isinstance(bridged, ax.NumpyBridge)
    out = bridged.forward(U)
    assert isinstance(out, torch.Tensor) and np.allclose(out.numpy(), Sigmoid().forward(U.numpy()))


def test_torch_input_errors_name_the_argument(torch):
    with pytest.raises(ValidationError, match="A must be finite"):
        fast.w_step(
            torch.full((3, 4), float("nan"), dtype=torch.float64),
            torch.ones(2, 4),
            LiftedNetwork([3, 2]).activations_[0],
            "joint",
            1.0,
            1.0,
        )
    with pytest.raises(ValidationError, match="Z must have 4 columns"):
        fast.w_step(torch.ones(3, 4), torch.ones(2, 5), LiftedNetwork([3, 2]).activations_[0], "joint", 1.0, 1.0)


def _data(m=120, seed=0):
    rng = np.random.default_rng(seed)
    X = rng.normal(size=(6, m))
    y = (X[0] + 0.5 * X[1] > 0).astype(int)
    return X, np.eye(2)[:, y]


@pytest.mark.parametrize("form", ["joint", "fenchel_hidden"])
def test_fit_and_predict_keep_the_library(torch, form):
    X, Y = _data()
    a = LiftedNetwork([6, 5, 2], loss="cross_entropy", form=form, random_state=0).fit(X, Y, solver="fast", max_iter=3)
    b = LiftedNetwork([6, 5, 2], loss="cross_entropy", form=form, random_state=0).fit(
        torch.from_numpy(X), torch.from_numpy(Y), solver="fast", max_iter=3
    )
    assert all(isinstance(W, torch.Tensor) for W in b.weights_ + b.biases_ + b.states_)
    assert np.allclose(a.history_, b.history_, rtol=1e-6)
    assert np.allclose(a.weights_[0], b.weights_[0].numpy(), atol=1e-7)
    for rule in ("forward", "lifted"):
        P = b.predict(torch.from_numpy(X), rule=rule, solver="fast")
        assert isinstance(P, torch.Tensor)
        assert np.allclose(P.numpy(), a.predict(X, rule=rule, solver="fast"), atol=1e-6)
    assert isinstance(b.predict(X), np.ndarray)  # numpy in, numpy out


def test_objectives_and_cvxpy_prediction_of_a_torch_network(torch):
    X, Y = _data(m=30)
    net = LiftedNetwork([6, 5, 2], loss="cross_entropy", random_state=0).fit(
        torch.from_numpy(X), torch.from_numpy(Y), solver="fast", max_iter=2
    )
    host = [S.numpy() for S in net.states_]
    # the lifted objective (10) on tensors, on numpy, and as recorded by the engine
    assert net.objective(torch.from_numpy(X), torch.from_numpy(Y)) == pytest.approx(net.history_[-1], rel=1e-12)
    assert net.objective(X, Y, states=host) == pytest.approx(net.history_[-1], rel=1e-12)
    # the lifted prediction rule through CVXPY (numpy inside) agrees with the fast solver, as tensors
    P, S = net.predict(torch.from_numpy(X), rule="lifted", solver="cvxpy", return_states=True)
    Pf, Sf = net.predict(torch.from_numpy(X), rule="lifted", solver="fast", return_states=True)
    assert isinstance(P, torch.Tensor) and isinstance(S[0], torch.Tensor)
    assert net.prediction_objective(torch.from_numpy(X), S) == pytest.approx(
        net.prediction_objective(X, [T.numpy() for T in Sf]), rel=1e-5, abs=1e-8
    )
    assert all(isinstance(W, torch.Tensor) for W in net.weights_)  # the network stays where it was


def test_cvxpy_backend_converts_and_a_missing_fast_solver_is_an_error(torch):
    from cvxlift.divergences import MaxPool

    X, Y = _data(m=20)
    net = LiftedNetwork([6, 4, 2], loss="cross_entropy", random_state=0).fit(
        torch.from_numpy(X), torch.from_numpy(Y), solver="cvxpy", max_iter=1
    )
    assert isinstance(net.weights_[0], torch.Tensor)
    # max-pooling's W-step is ADMM through its u-prox (a numpy-only solver: run on numpy copies)
    pool = LiftedNetwork([6, 4, 2], activations=[MaxPool(2), "simplex"], loss="cross_entropy", random_state=0)
    pool.fit(torch.from_numpy(X), torch.from_numpy(Y), solver="fast", max_iter=1)
    assert isinstance(pool.weights_[0], torch.Tensor) and pool.block_info_["W0"].solver == "w_step/admm"
    # a vector atom without a u-prox has no fast W-step: CVXPY takes numpy data only
    import cvxpy as cp

    from cvxlift import declare_divergence
    from cvxlift.divergences.base import domain_indicator
    from cvxlift.numeric import project_simplex

    vec = declare_divergence(
        "simplex_no_uprox_torch",
        forward=project_simplex,
        elementwise=False,
        verify_dim=3,
        joint=lambda u, z: cp.sum_squares(z - u) + domain_indicator([z >= 0, cp.sum(z, axis=0) == 1]),
    )
    bad = LiftedNetwork([6, 4, 2], activations=[vec, "simplex"], loss="cross_entropy", random_state=0)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        with pytest.raises(NoFastSolver, match="numpy data only"):
            bad.fit(torch.from_numpy(X), torch.from_numpy(Y), solver="fast", max_iter=1)


def test_estimators_device_parameter(torch):
    X, Y = _data()
    Xr, y = X.T, Y[1].astype(int)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        a = LiftedMLPClassifier((5,), max_iter=3, random_state=0).fit(Xr, y)
        b = LiftedMLPClassifier((5,), max_iter=3, random_state=0, device="cpu").fit(Xr, y)
        c = LiftedMLPClassifier((5,), max_iter=3, random_state=0).fit(torch.from_numpy(Xr), torch.from_numpy(y))
        r = LiftedMLPRegressor((5,), max_iter=3, random_state=0).fit(torch.from_numpy(Xr), torch.from_numpy(X[0]))
    for est in (b, c):
        assert isinstance(est.network_.weights_[0], torch.Tensor)
        assert np.allclose(est.coefs_[0], a.coefs_[0], atol=1e-7)
    assert isinstance(c.predict_proba(torch.from_numpy(Xr)), torch.Tensor)
    assert np.array_equal(c.predict(torch.from_numpy(Xr)), a.predict(Xr))
    assert isinstance(r.predict(torch.from_numpy(Xr)), torch.Tensor)
    with pytest.raises(ValidationError, match="device"):
        LiftedMLPClassifier((5,), max_iter=1, device="tpu").fit(Xr, y)
    with pytest.raises(ValidationError, match="solver='fast'"):
        LiftedMLPClassifier((5,), max_iter=1, device="cpu", solver="cvxpy").fit(Xr, y)
    if not torch.cuda.is_available():
        with pytest.raises(ValidationError, match="CUDA is not available"):
            LiftedMLPClassifier((5,), max_iter=1, device="cuda").fit(Xr, y)


def test_numpy_before_2_1_through_the_compat_namespace(monkeypatch):
    """numpy < 2.1 lacks ``astype``, ``concat``, ... and the ``device=`` keyword: ``cvxlift.arrays``
    then hands the solvers numpy plus those functions. Forced here on the installed numpy, the fast
    blocks give the same results as with numpy itself."""
    from cvxlift.divergences import ReLU, Simplex

    rng = np.random.default_rng(3)
    A, Z = rng.normal(size=(5, 40)), np.maximum(rng.normal(size=(4, 40)), 0)
    W, b = rng.normal(size=(3, 4)), rng.normal(size=3)
    Y = np.eye(3)[:, rng.integers(0, 3, 40)]
    args = (A[:4], Y, [None, W], [None, b], [ReLU(), Simplex()], ["joint", "joint"], [1.0, 1.0], "cross_entropy")

    def run():
        return (
            fast.w_step(A, Z, ReLU(), "fenchel", 1.0, 0.1)[0],
            fast.joint_x_step(*args)[0][0],
            fast.x_step(A[:4], W, b, Y, ReLU(), "joint", Simplex(), "joint", 1.0, 1.0)[0],
        )

    plain = run()
    shim = ax.numpy_compat(force=True)
    assert shim is not np
    monkeypatch.setattr(ax, "NP", shim)
    assert ax.namespace(A) is shim
    for x, y in zip(run(), plain):
        assert isinstance(x, np.ndarray) and np.allclose(x, y, rtol=0, atol=1e-12)
