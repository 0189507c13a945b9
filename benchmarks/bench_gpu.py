"""Torch SGD against the lifted model, side by side in one process on one device (issue 14, item 3).

Data: the 8,000 MNIST training digits of ``../shared/data/mnist10k.npz`` (test: its 2,000 test
digits) and a larger version, the training digits tiled ``--tile`` times (default 8: 64,000
columns) with small pixel noise (normal, sd ``--noise``, clipped to [0, 1]).

Runs, per data size, network 784-``--hidden``-10:

``sgd b=B``
    torch SGD on a ``torch.nn`` MLP (ReLU, Xavier-uniform weights, zero biases, cross-entropy,
    batch ``B`` in ``--batches``, default 100 and 1000), learning rate the best of ``--lrs``
    (default 0.01, 0.1, 0.5) by accuracy on a validation split (the columns of the last 10% of
    the original digits, held out of every tile; ``--select-epochs`` epochs on the rest), then
    ``--epochs`` epochs (default 17) on all the columns;
``lifted paper``
    :class:`cvxlift.LiftedNetwork` in the paper's joint form (cross-entropy, simplex output,
    lam 1, rho 1e-3), ``--paper-sweeps`` sweeps of ``fit(solver="fast")`` on torch tensors on the
    device (the training engine's fast path keeps them there);
``lifted fenchel_hidden``
    ``form="fenchel_hidden"`` (rho 8), ``--fenchel-sweeps`` sweeps, ``--w-iter`` pncg iterations
    per W-step.

Each run records test accuracy after every epoch / sweep (evaluation time excluded from the
clock). Reported: final test accuracy, training wall time, and the wall time at which the run
first reaches the target: the final accuracy of the best SGD run on that data size.

``--device cuda`` (default: cuda if available; otherwise the script exits with a message unless
``--device cpu`` is given). ``--threads`` sets torch's (and BLAS's) thread count.

Run:  OPENBLAS_NUM_THREADS=1 python benchmarks/bench_gpu.py [--device cuda|cpu] [--hidden 300] [--tile 8]
      [--epochs 17] [--select-epochs 17] [--paper-sweeps 5] [--fenchel-sweeps 10] [--w-iter 10] [--data PATH]
"""

import argparse
import os
import platform
import sys
import time

import numpy as np

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.dirname(HERE))

DATA = os.path.join(os.path.dirname(HERE), "..", "shared", "data", "mnist10k.npz")


def load(path, tile, noise, seed=0):
    d = np.load(path, allow_pickle=False)
    tr, te = d["is_test"] == 0, d["is_test"] == 1
    Xtr, ytr = d["images"][tr] / 255.0, d["labels"][tr].astype(int)
    Xte, yte = d["images"][te] / 255.0, d["labels"][te].astype(int)
    rng = np.random.default_rng(seed)
    big = np.clip(np.tile(Xtr, (tile, 1)) + noise * rng.standard_normal((tile * Xtr.shape[0], Xtr.shape[1])), 0, 1)
    ids = np.arange(Xtr.shape[0])  # which original digit each column is (the validation split holds out digits)
    return (
        {f"{Xtr.shape[0]}": (Xtr, ytr, ids), f"{big.shape[0]}": (big, np.tile(ytr, tile), np.tile(ids, tile))},
        (Xte, yte),
    )


def sync(torch, dev):
    if dev.type == "cuda":
        torch.cuda.synchronize(dev)


def sgd(torch, dev, hidden, X, y, Xte, yte, batch, lr, epochs, seed, record=True):
    """Train an MLP by SGD; return [(seconds, test accuracy)] after each epoch."""
    torch.manual_seed(seed)
    model = torch.nn.Sequential(torch.nn.Linear(784, hidden), torch.nn.ReLU(), torch.nn.Linear(hidden, 10))
    for mod in model:
        if isinstance(mod, torch.nn.Linear):
            torch.nn.init.xavier_uniform_(mod.weight)
            torch.nn.init.zeros_(mod.bias)
    model = model.to(dev, torch.float32)
    opt = torch.optim.SGD(model.parameters(), lr=lr)
    lossf = torch.nn.CrossEntropyLoss()
    Xd = torch.as_tensor(X, dtype=torch.float32, device=dev)
    yd = torch.as_tensor(y, dtype=torch.long, device=dev)
    Xt = torch.as_tensor(Xte, dtype=torch.float32, device=dev)
    yt = torch.as_tensor(yte, dtype=torch.long, device=dev)
    gen = torch.Generator(device="cpu").manual_seed(seed)
    m = Xd.shape[0]
    curve, clock = [], 0.0
    for _ in range(epochs):
        sync(torch, dev)
        t0 = time.perf_counter()
        perm = torch.randperm(m, generator=gen).to(dev)
        for i in range(0, m, batch):
            idx = perm[i : i + batch]
            opt.zero_grad(set_to_none=True)
            lossf(model(Xd[idx]), yd[idx]).backward()
            opt.step()
        sync(torch, dev)
        clock += time.perf_counter() - t0
        if record:
            with torch.no_grad():
                acc = float((model(Xt).argmax(1) == yt).float().mean())
            curve.append((clock, acc))
    return curve, model


def pick_lr(torch, dev, hidden, X, y, ids, batch, lrs, epochs, seed):
    """The learning rate of best validation accuracy; validation: the columns of the last 10% of the
    original digits (in every tile of the tiled set, so that no validation digit is trained on)."""
    val = ids >= ids.max() + 1 - (ids.max() + 1) // 10
    scores = {}
    for lr in lrs:
        _, model = sgd(torch, dev, hidden, X[~val], y[~val], X[val], y[val], batch, lr, epochs, seed, record=False)
        with torch.no_grad():
            out = model(torch.as_tensor(X[val], dtype=torch.float32, device=dev)).argmax(1).cpu().numpy()
        scores[lr] = float(np.mean(out == y[val]))
    return max(scores, key=scores.get), scores


def lifted(torch, dev, hidden, X, y, Xte, yte, variant, args, seed):
    import cvxlift

    if variant == "paper":
        net = cvxlift.LiftedNetwork(
            [784, hidden, 10], "relu", loss="cross_entropy", lam=1.0, rho=1e-3, form="joint", random_state=seed
        )
        kw = dict(max_iter=args.paper_sweeps)
    else:
        net = cvxlift.LiftedNetwork(
            [784, hidden, 10], "relu", loss="cross_entropy", lam=1.0, rho=8.0, form="fenchel_hidden", random_state=seed
        )
        kw = dict(max_iter=args.fenchel_sweeps, fast_options={"w_step": {"max_iter": args.w_iter}})
    Xd = torch.as_tensor(np.ascontiguousarray(X.T), dtype=torch.float64, device=dev)
    Yd = torch.as_tensor(np.eye(10)[:, y], dtype=torch.float64, device=dev)
    Xt = torch.as_tensor(np.ascontiguousarray(Xte.T), dtype=torch.float64, device=dev)
    yt = torch.as_tensor(yte, device=dev)
    curve, spent = [], [0.0]
    sync(torch, dev)
    t0 = time.perf_counter()

    def cb(net_, sweep, obj):
        sync(torch, dev)
        e0 = time.perf_counter()
        acc = float((net_.predict(Xt).argmax(0) == yt).double().mean())
        curve.append((e0 - t0 - spent[0], acc))
        spent[0] += time.perf_counter() - e0

    net.fit(Xd, Yd, solver="fast", tol=0, callback=cb, **kw)
    assert isinstance(net.weights_[0], torch.Tensor) and net.weights_[0].device.type == dev.type
    return curve


def first_time(curve, target):
    for t, a in curve:
        if a >= target - 1e-12:
            return t
    return None


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--device", default=None)
    ap.add_argument("--hidden", type=int, default=300)
    ap.add_argument("--tile", type=int, default=8)
    ap.add_argument("--noise", type=float, default=0.02)
    ap.add_argument("--batches", nargs="+", type=int, default=[100, 1000])
    ap.add_argument("--lrs", nargs="+", type=float, default=[0.01, 0.1, 0.5])
    ap.add_argument("--epochs", type=int, default=17)
    ap.add_argument("--select-epochs", type=int, default=17)
    ap.add_argument("--paper-sweeps", type=int, default=5)
    ap.add_argument("--fenchel-sweeps", type=int, default=10)
    ap.add_argument("--w-iter", type=int, default=10)
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--data", default=DATA)
    args = ap.parse_args(argv)
    try:
        import torch
    except ImportError:
        sys.exit("bench_gpu: needs PyTorch (pip install torch)")
    if args.device is None:
        if not torch.cuda.is_available():
            sys.exit("bench_gpu: no CUDA device available; pass --device cpu to run the same comparison on the CPU")
        args.device = "cuda"
    dev = torch.device(args.device)
    if dev.type == "cuda" and not torch.cuda.is_available():
        sys.exit(f"bench_gpu: --device {args.device}: CUDA is not available")
    if not os.path.exists(args.data):
        sys.exit(f"bench_gpu: data file {args.data} not found (pass --data); skipped")
    torch.set_num_threads(args.threads)
    sets, (Xte, yte) = load(args.data, args.tile, args.noise)
    name = (
        torch.cuda.get_device_name(dev)
        if dev.type == "cuda"
        else f"{platform.processor() or 'cpu'}, {args.threads} thread(s)"
    )
    print(f"# device: {dev} ({name}); torch {torch.__version__}; 784-{args.hidden}-10; test: {len(yte)} digits")
    print(f"# args: {vars(args)}")
    print("| columns | run | lr (validation acc.) | test accuracy | train time (s) | time to target (s) |")
    print("|---|---|---|---|---|---|")
    for label, (X, y, ids) in sets.items():
        rows = []
        for b in args.batches:
            lr, scores = pick_lr(torch, dev, args.hidden, X, y, ids, b, args.lrs, args.select_epochs, args.seed)
            curve, _ = sgd(torch, dev, args.hidden, X, y, Xte, yte, b, lr, args.epochs, args.seed)
            val = ", ".join(f"{k:g}: {v:.3f}" for k, v in scores.items())
            rows.append((f"sgd b={b}", f"{lr:g} ({val})", curve))
        for variant in ("paper", "fenchel_hidden"):
            rows.append(
                (f"lifted {variant}", "-", lifted(torch, dev, args.hidden, X, y, Xte, yte, variant, args, args.seed))
            )
        target = max(c[-1][1] for name_, _, c in rows if name_.startswith("sgd"))
        for name_, lr, curve in rows:
            t = first_time(curve, target)
            print(
                f"| {label} | {name_} | {lr} | {curve[-1][1]:.4f} | {curve[-1][0]:.2f} | "
                f"{'not reached' if t is None else f'{t:.2f}'} |",
                flush=True,
            )
        print(f"| {label} | target (best SGD final accuracy) | | {target:.4f} | | |")


if __name__ == "__main__":
    main()
