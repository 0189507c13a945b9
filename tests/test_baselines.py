"""cvxlift.baselines: the PyTorch SGD baselines of the paper's Table 1."""

import numpy as np
import pytest

torch = pytest.importorskip("torch")

from cvxlift import LiftedNetwork  # noqa: E402
from cvxlift.baselines import make_mlp, sgd_train, time_to_accuracy, tune_learning_rate, tuned_sgd  # noqa: E402

RNG = np.random.default_rng(0)
CENTERS = RNG.normal(size=(3, 6)) * 2.0


def _blobs(m, seed):
    rng = np.random.default_rng(seed)
    y = rng.integers(0, 3, m)
    return CENTERS[y] + rng.normal(size=(m, 6)), y


@pytest.fixture(autouse=True, scope="module")
def _one_torch_thread():
    # tiny problems: one intra-op thread avoids thread start-up and spinning on a busy machine
    old = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(old)


XTR, YTR = _blobs(240, 1)
XTE, YTE = _blobs(120, 2)


@pytest.mark.parametrize("init", ["normal", "xavier"])
def test_same_seed_same_run(init):
    runs = []
    for _ in range(2):
        model = make_mlp([6, 8, 3], init=init, seed=3)
        res = sgd_train(model, XTR, YTR, XTE, YTE, epochs=3, batch_size=20, lr=0.05, seed=5)
        runs.append((res, [p.detach().clone() for p in model.parameters()]))
    (r1, p1), (r2, p2) = runs
    assert r1["test_accuracy"] == r2["test_accuracy"]
    assert r1["train_loss"] == r2["train_loss"]
    for a, b in zip(p1, p2):
        assert torch.equal(a, b)
    # a different seed gives a different run
    other = make_mlp([6, 8, 3], init=init, seed=4)
    assert not torch.equal(other[0].weight, make_mlp([6, 8, 3], init=init, seed=3)[0].weight)


def test_init_conventions():
    m = make_mlp([6, 8, 5, 3], init="normal", seed=0, normal_std=0.5, bias_init=0.1)
    lins = [mod for mod in m if isinstance(mod, torch.nn.Linear)]
    assert [tuple(l.weight.shape) for l in lins] == [(8, 6), (5, 8), (3, 5)]
    assert all(torch.all(l.bias == 0.1) for l in lins)
    assert isinstance(m[-1], torch.nn.Linear)  # logits out, no final ReLU
    x = make_mlp([400, 300, 3], init="xavier", seed=0)[0].weight
    assert float(x.detach().abs().max()) <= np.sqrt(6.0 / 700) + 1e-6


def test_loss_decreases_and_learns():
    model = make_mlp([6, 8, 3], init="xavier", seed=0)
    res = sgd_train(model, XTR, YTR, XTE, YTE, epochs=8, batch_size=20, lr=0.1, seed=0)
    assert len(res["test_accuracy"]) == 9 and len(res["time"]) == 9 and len(res["train_loss"]) == 8
    assert res["train_loss"][-1] < 0.5 * res["train_loss"][0]
    assert res["test_accuracy"][-1] > 0.9
    assert res["time"][0] == 0.0 and np.all(np.diff(res["time"]) >= 0)
    assert res["diverged"] is None
    assert res["weight_decay"] == pytest.approx(2e-3)  # rho = 1e-3 -> weight_decay = 2 rho


def test_rho_is_weight_decay_on_weights_only():
    # one full-batch step: the data gradient is taken at the initial point, so the penalty
    # rho ||W||^2 changes the weights by exactly lr * 2 rho W0 and leaves the biases alone
    lr, rho = 0.1, 0.5
    W0 = make_mlp([6, 8, 3], seed=0)[0].weight.detach().clone()
    out = []
    for r in (0.0, rho):
        model = make_mlp([6, 8, 3], seed=0)
        sgd_train(model, XTR, YTR, XTE, YTE, epochs=1, batch_size=len(YTR), lr=lr, rho=r, seed=0)
        out.append(model)
    assert torch.allclose(out[0][0].bias, out[1][0].bias, atol=1e-7)
    assert torch.allclose(out[0][0].weight - out[1][0].weight, lr * 2 * rho * W0, atol=1e-6)


def test_target_time_recorded():
    model = make_mlp([6, 8, 3], init="xavier", seed=0)
    res = sgd_train(model, XTR, YTR, XTE, YTE, epochs=6, batch_size=20, lr=0.1, seed=0, target_accuracy=0.8)
    acc, t = res["test_accuracy"], res["time"]
    first = next(i for i, a in enumerate(acc) if a >= 0.8)
    assert res["time_to_target"] == t[first]
    assert (
        sgd_train(make_mlp([6, 8, 3], seed=0), XTR, YTR, XTE, YTE, epochs=1, lr=0.1, target_accuracy=1.01)[
            "time_to_target"
        ]
        is None
    )
    assert time_to_accuracy([0.1, 0.5, 0.9], [0.0, 1.0, 2.0], 0.5) == 1.0
    assert time_to_accuracy([0.1, 0.5], [0.0, 1.0], None) is None


def test_eval_every_curve_and_time_to_target():
    model = make_mlp([6, 8, 3], init="xavier", seed=0)
    res = sgd_train(
        model, XTR, YTR, XTE, YTE, epochs=3, batch_size=20, lr=0.1, seed=0, eval_every=4, target_accuracy=0.8
    )
    t, a = zip(*res["curve"])
    # 12 batches per epoch: evaluations after batches 4 and 8 inside each epoch, and at its end
    assert len(res["curve"]) == 1 + 3 * 3
    assert np.all(np.diff(t) >= 0) and t[0] == 0.0
    assert [a[3 * k] for k in range(4)] == res["test_accuracy"] and [t[3 * k] for k in range(4)] == res["time"]
    first = next(i for i, v in enumerate(a) if v >= 0.8)
    assert res["time_to_target"] == t[first] and t[first] <= res["time"][-1]
    # the same run without the extra evaluations: the same weights (evaluation does not touch them)
    other = make_mlp([6, 8, 3], init="xavier", seed=0)
    sgd_train(other, XTR, YTR, XTE, YTE, epochs=3, batch_size=20, lr=0.1, seed=0)
    assert all(torch.equal(p, q) for p, q in zip(model.parameters(), other.parameters()))
    with pytest.raises(ValueError, match="eval_every"):
        sgd_train(make_mlp([6, 8, 3]), XTR, YTR, XTE, YTE, epochs=1, eval_every=0)


def test_tune_learning_rate_picks_the_best_validation_score():
    best, scores = tune_learning_rate(
        [6, 8, 3], XTR[:180], YTR[:180], XTR[180:], YTR[180:], lrs=(1e-4, 0.1, 0.5), epochs=3, batch_size=20
    )
    assert set(scores) == {1e-4, 0.1, 0.5}
    assert scores[best] == max(scores.values())
    assert scores[1e-4] < scores[best]  # 1e-4 barely moves in 3 epochs
    with pytest.raises(ValueError, match="lrs"):
        tune_learning_rate([6, 8, 3], XTR, YTR, XTE, YTE, lrs=(0.1, -1.0))


def test_tuned_sgd_tunes_on_the_tail_then_trains_on_all_rows():
    res = tuned_sgd([6, 8, 3], XTR, YTR, XTE, YTE, lrs=(1e-4, 0.1), val_rows=60, epochs=3, batch_size=20, seed=2)
    best, scores = tune_learning_rate(
        [6, 8, 3], XTR[:-60], YTR[:-60], XTR[-60:], YTR[-60:], lrs=(1e-4, 0.1), epochs=3, batch_size=20, seed=2
    )
    assert res["lr"] == best and res["lr_scores"] == scores
    again = sgd_train(make_mlp([6, 8, 3], seed=2), XTR, YTR, XTE, YTE, epochs=3, batch_size=20, lr=best, seed=2)
    assert again["test_accuracy"] == res["test_accuracy"]
    fixed = tuned_sgd([6, 8, 3], XTR, YTR, XTE, YTE, lr=0.05, epochs=1, batch_size=20)
    assert fixed["lr"] == 0.05 and fixed["lr_scores"] == {}
    with pytest.raises(ValueError, match="val_rows"):
        tuned_sgd([6, 8, 3], XTR, YTR, XTE, YTE, val_rows=len(YTR))


def test_divergence_is_flagged():
    model = make_mlp([6, 8, 3], init="normal", seed=0, normal_std=30.0)
    res = sgd_train(model, XTR * 1e3, YTR, XTE, YTE, epochs=3, batch_size=20, lr=1e3, seed=0)
    assert res["diverged"] is not None
    assert len(res["test_accuracy"]) == 4


@pytest.mark.parametrize("dtype,tol", [(torch.float64, 1e-10), (torch.float32, 1e-5)])
def test_lifted_init_reproduces_forward_pass(dtype, tol):
    X = XTR[:50].T  # columns for the lifted network
    Y = np.eye(3)[YTR[:50]].T
    net = LiftedNetwork([6, 7, 5, 3], activations="relu", loss="cross_entropy", lam=1.0, rho=1e-3, random_state=0).fit(
        X, Y, solver="fast", max_iter=2
    )
    model = make_mlp(net.sizes, init=(net.weights_, net.biases_), dtype=dtype)
    with torch.no_grad():
        logits = model(torch.as_tensor(X.T, dtype=dtype)).numpy()
    states = net.forward(X)
    ref = net.preactivation(net.n_layers - 1, states[-2])  # W_L X_L + b_L, the logits
    scale = max(1.0, float(np.abs(ref).max()))
    assert np.max(np.abs(logits.T - ref)) <= tol * scale
    assert np.array_equal(logits.argmax(1), net.predict(X).argmax(0))
    with pytest.raises(ValueError):
        make_mlp([6, 7, 3], init=(net.weights_[:2], net.biases_[:2]))


def test_missing_torch_message(monkeypatch):
    import sys

    monkeypatch.setitem(sys.modules, "torch", None)  # import torch now raises ImportError
    with pytest.raises(ImportError, match=r"pip install cvxlift\[torch\]"):
        make_mlp([6, 8, 3])
