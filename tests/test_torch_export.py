"""Export to PyTorch: cvxlift.torch_export.to_torch and the estimators' to_torch()."""

import io
import os
import subprocess
import sys
import warnings
from pathlib import Path

import numpy as np
import pytest

import cvxlift
from cvxlift import Clipped, CvxliftError, LeakyReLU, LiftedNetwork, MaxPool, NotFittedError, ValidationError
from cvxlift.numeric import project_simplex

ROOT = Path(__file__).resolve().parents[1]


def _env():
    return dict(os.environ, PYTHONPATH=os.pathsep.join(p for p in (str(ROOT), os.environ.get("PYTHONPATH")) if p))


def test_missing_torch_gives_install_hint():
    code = (
        "import sys\n"
        "class _NoTorch:\n"  # an import hook: torch cannot be imported (and is not in sys.modules)
        "    def find_spec(self, name, path=None, target=None):\n"
        "        if name == 'torch' or name.startswith('torch.'):\n"
        "            raise ImportError('No module named torch (blocked by the test)')\n"
        "sys.modules.pop('torch', None); sys.meta_path.insert(0, _NoTorch())\n"
        "import cvxlift\n"
        "from cvxlift.torch_export import to_torch\n"
        "net = cvxlift.LiftedNetwork([2, 3, 1]).init_weights(0)\n"
        "try:\n"
        "    to_torch(net)\n"
        "except ImportError as e:\n"
        "    assert 'pip install cvxlift[torch]' in str(e), str(e)\n"
        "else:\n"
        "    raise SystemExit('no ImportError')\n"
        "print('ok')\n"
    )
    proc = subprocess.run(
        [sys.executable, "-c", code], cwd=str(ROOT), env=_env(), capture_output=True, text=True, timeout=300
    )
    assert proc.returncode == 0 and "ok" in proc.stdout, proc.stdout + proc.stderr


torch = pytest.importorskip("torch")

from cvxlift import torch_export  # noqa: E402
from cvxlift.torch_export import NoTorchEquivalent, to_torch  # noqa: E402


def _random_network(activation, loss="squared", sizes=(5, 6, 4, 3), seed=0):
    """A network with random (non-trivial) weights and biases; no training needed."""
    net = LiftedNetwork(list(sizes), activation, loss=loss, random_state=seed).init_weights()
    rng = np.random.default_rng(seed + 1)
    net.set_weights([2.0 * W for W in net.weights_], [rng.normal(size=b.shape) for b in net.biases_])
    return net


def _torch_forward(module, X, dtype=torch.float64):
    with torch.no_grad():
        return module(torch.from_numpy(np.ascontiguousarray(X.T)).to(dtype)).to(torch.float64).numpy().T


ATOMS = [
    ("relu", "squared"),
    (LeakyReLU(0.2), "squared"),
    (Clipped(-0.5, 2.0), "squared"),
    ("sigmoid", "cross_entropy"),
    ("tanh", "squared"),
    ("sin", "cross_entropy"),
    (MaxPool(3), "squared"),
    ("identity", "cross_entropy"),
]


@pytest.mark.parametrize("activation, loss", ATOMS, ids=lambda v: str(v))
def test_torch_forward_matches_numpy_forward(activation, loss):
    net = _random_network(activation, loss)
    module = to_torch(net)
    X = np.random.default_rng(5).normal(scale=3.0, size=(5, 200))
    ref = net.forward(X)[-1]
    np.testing.assert_allclose(_torch_forward(module, X), ref, rtol=0, atol=1e-6 * max(1.0, np.abs(ref).max()))
    # structure: Linear + activation per layer, weights as in the network (float64)
    assert isinstance(module, torch.nn.Sequential) and len(module) == 2 * net.n_layers
    for l in range(net.n_layers):
        lin = module[2 * l]
        assert isinstance(lin, torch.nn.Linear) and lin.weight.dtype == torch.float64
        np.testing.assert_array_equal(lin.weight.detach().numpy(), net.weights_[l])
        np.testing.assert_array_equal(lin.bias.detach().numpy(), net.biases_[l])
    if loss == "cross_entropy":  # the simplex output: probabilities, not softmax
        out = _torch_forward(module, X)
        assert isinstance(module[-1], torch_export.SimplexProjection)
        np.testing.assert_allclose(out.sum(axis=0), 1.0, atol=1e-12)


def test_activation_table_entries():
    mods = {
        name: to_torch(_random_network(act), check=True)[1]
        for name, act in [
            ("relu", "relu"),
            ("leaky", LeakyReLU(0.3)),
            ("clip", Clipped(0.0, 1.0)),
            ("sig", "sigmoid"),
            ("tanh", "tanh"),
            ("id", "identity"),
            ("pool", MaxPool(2)),
            ("sin", "sin"),
        ]
    }
    assert isinstance(mods["relu"], torch.nn.ReLU)
    assert isinstance(mods["leaky"], torch.nn.LeakyReLU) and mods["leaky"].negative_slope == 0.3
    assert isinstance(mods["clip"], torch.nn.Hardtanh) and (mods["clip"].min_val, mods["clip"].max_val) == (0.0, 1.0)
    assert isinstance(mods["sig"], torch.nn.Sigmoid) and isinstance(mods["tanh"], torch.nn.Tanh)
    assert isinstance(mods["id"], torch.nn.Identity)
    assert isinstance(mods["pool"], torch_export.GroupMax) and mods["pool"].pool_size == 2
    assert isinstance(mods["sin"], torch_export.ClippedSine)


def test_float32_and_logits():
    net = _random_network("relu", "cross_entropy")
    X = np.random.default_rng(2).normal(size=(5, 50))
    m32 = to_torch(net, dtype=torch.float32)
    assert all(p.dtype == torch.float32 for p in m32.parameters())
    np.testing.assert_allclose(_torch_forward(m32, X, torch.float32), net.forward(X)[-1], atol=1e-5)
    logits = to_torch(net, output="logits")
    assert isinstance(logits[-1], torch.nn.Identity)
    states = net.forward(X)
    np.testing.assert_allclose(_torch_forward(logits, X), net.preactivation(net.n_layers - 1, states[-2]), atol=1e-10)


def test_simplex_projection_module_matches_numpy():
    rng = np.random.default_rng(3)
    V = np.concatenate(
        [
            rng.normal(scale=5.0, size=(7, 40)),
            np.zeros((7, 1)),
            np.full((7, 1), 1e6),
            np.r_[1.0, 1.0, np.zeros(5)][:, None],
            -np.arange(7.0)[:, None],
        ],
        axis=1,
    )
    proj = torch_export.SimplexProjection()
    got = proj(torch.from_numpy(V.T.copy())).numpy().T
    np.testing.assert_allclose(got, project_simplex(V), atol=1e-12)
    # batch dimensions in front are fine
    got3 = proj(torch.from_numpy(np.stack([V.T, -V.T]))).numpy()
    np.testing.assert_allclose(got3[1], project_simplex(-V).T, atol=1e-12)


def test_module_pickles():
    module = to_torch(_random_network(MaxPool(2), "cross_entropy"))
    buf = io.BytesIO()
    torch.save(module, buf)
    buf.seek(0)
    back = torch.load(buf, weights_only=False)
    X = np.random.default_rng(0).normal(size=(5, 10))
    np.testing.assert_array_equal(_torch_forward(back, X), _torch_forward(module, X))


def _soft(name, **kw):
    import cvxpy as cp

    return cvxlift.declare_divergence(
        name,
        phi=lambda z: 0.5 * cp.sum_squares(z) + cp.norm1(z),
        phi_star=lambda u: 0.5 * cp.sum_squares(cp.pos(cp.abs(u) - 1)),
        forward=lambda u: np.sign(u) * np.maximum(np.abs(u) - 1, 0),
        **kw,
    )


def test_atom_carries_its_torch_module():
    """A declared atom names its module (no side table); a wrong one is caught by the export check."""
    net = _random_network(_soft("soft_threshold_export_own", torch_module=lambda d: torch.nn.Softshrink(1.0)))
    X = np.random.default_rng(0).normal(scale=3.0, size=(5, 30))
    np.testing.assert_allclose(_torch_forward(to_torch(net), X), net.forward(X)[-1], atol=1e-10)
    wrong = _random_network(_soft("soft_threshold_export_wrong", torch_module=lambda d: torch.nn.Tanh()))
    with pytest.raises(CvxliftError, match="does not reproduce"):
        to_torch(wrong)
    to_torch(wrong, check=False)  # the check can be turned off
    # every built-in atom has its own module
    for name in cvxlift.available():
        atom = cvxlift.get_divergence(name)
        assert isinstance(atom.torch_module(), torch.nn.Module), name


def test_unmapped_atom_and_deprecated_factories(monkeypatch):
    soft = _soft("soft_threshold_export_test")
    net = _random_network(soft)
    with pytest.raises(NoTorchEquivalent, match="soft_threshold_export_test.*torch_module"):
        to_torch(net)
    assert isinstance(NoTorchEquivalent("x"), NotImplementedError)
    monkeypatch.setattr(torch_export, "TORCH_ACTIVATIONS", {})  # restored afterwards
    with pytest.warns(DeprecationWarning, match="torch_module"):
        torch_export.register_torch_activation("Soft-Threshold-Export-Test", lambda d: torch.nn.Softshrink(1.0))
    X = np.random.default_rng(0).normal(scale=3.0, size=(5, 30))
    np.testing.assert_allclose(_torch_forward(to_torch(net), X), net.forward(X)[-1], atol=1e-10)
    with pytest.warns(DeprecationWarning):
        torch_export.register_torch_activation("soft_threshold_export_test", lambda d: torch.nn.Tanh())
    with pytest.raises(CvxliftError, match="does not reproduce"):
        to_torch(net)
    with pytest.raises(ValidationError, match="factory"):
        torch_export.register_torch_activation("x", 3)


def test_bad_arguments():
    with pytest.raises(NotFittedError):
        to_torch(LiftedNetwork([2, 3, 1]))
    net = _random_network("relu")
    with pytest.raises(ValidationError, match="output"):
        to_torch(net, output="probabilities")
    with pytest.raises(ValidationError, match="dtype"):
        to_torch(net, dtype=torch.int64)
    with pytest.raises(ValidationError, match="LiftedNetwork"):
        to_torch("not a network")


def test_estimators_to_torch():
    pytest.importorskip("sklearn")
    from cvxlift.estimators import LiftedMLPClassifier, LiftedMLPRegressor

    rng = np.random.default_rng(0)
    X = rng.normal(size=(60, 4))
    y = (X[:, 0] + X[:, 1] > 0).astype(int) + (X[:, 2] > 1)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # ConvergenceWarning after 2 sweeps
        clf = LiftedMLPClassifier(hidden_layer_sizes=(6, 5), activation="clipped", max_iter=2, random_state=0).fit(X, y)
        reg = LiftedMLPRegressor(hidden_layer_sizes=(6,), max_iter=2, random_state=0).fit(X, X[:, 0] ** 2)
    m = clf.to_torch()
    with torch.no_grad():
        P = m(torch.from_numpy(X)).numpy()
    np.testing.assert_allclose(P, clf.predict_proba(X), atol=1e-9)
    assert m[0].weight.shape == (6, 4)
    np.testing.assert_array_equal(m[0].weight.detach().numpy(), clf.coefs_[0].T)
    assert isinstance(clf.to_torch(output="logits")[-1], torch.nn.Identity)
    with torch.no_grad():
        out = reg.to_torch(dtype=torch.float32)(torch.from_numpy(X).float()).numpy()
    np.testing.assert_allclose(out[:, 0], reg.predict(X), atol=1e-4)
