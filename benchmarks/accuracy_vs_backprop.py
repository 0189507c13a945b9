"""The lifted model alone vs plain backprop (mini-batch SGD), side by side, on MNIST.

Trains on the 8,000 training digits of ``mnist10k.npz`` and reports test accuracy on the
2,000 test digits, and wall time, mean +- std over seeds, for:

* cvxlift's lifted network alone (``solver="fast"``), in each variant of :data:`VARIANTS`
  (prediction by the forward rule unless the variant says ``rule="lifted"``);
* PyTorch mini-batch SGD (batch 100, constant learning rate, 17 epochs, Xavier
  initialisation, softmax cross-entropy, rho = 1e-3): the learning rate is the best of
  {0.01, 0.1} on a validation split (the last 1,000 training rows held out; chosen once, on
  the first seed), then training uses all 8,000 rows.

"time to SGD acc" is the wall time at which a lifted variant's test accuracy (evaluated
after every sweep, evaluation time excluded) first reaches the SGD baseline's mean final
accuracy, and the same for SGD itself (per epoch); "-" when never reached.

Run:  python benchmarks/accuracy_vs_backprop.py [--seeds 3] [--arch 300 300-100] [--variants NAME ...]
      [--data PATH] [--out-md FILE]
Needs torch (``pip install cvxlift[torch]``) for the SGD rows (skipped with a note without it).
"""
import argparse
import os
import platform
import sys
import time

import numpy as np

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.dirname(HERE))

import cvxlift  # noqa: E402

DATA = os.path.join(os.path.dirname(HERE), "..", "shared", "data", "mnist10k.npz")

#: name -> (network keyword arguments, fit keyword arguments, prediction rule, note)
VARIANTS = {
    "paper": (dict(loss="cross_entropy", lam=1.0, rho=1e-3), dict(max_iter=5), ("forward", "lifted"),
              "joint forms, CE + simplex, lam 1, rho 1e-3, 5 sweeps"),
    "squared loss": (dict(loss="squared", lam=1.0, rho=1e-3), dict(max_iter=5), ("forward",),
                     "identity output, squared loss to one-hot"),
    "per-layer lam (10, 1)": (dict(loss="cross_entropy", lam="10,1", rho=1e-3), dict(max_iter=5), ("forward",),
                              "hidden penalties 10x the output's"),
    "continuation": (dict(loss="cross_entropy", lam=0.1, rho=1e-3), dict(max_iter=8, lam_growth=2.0),
                     ("forward",), "lam 0.1, x2 after each sweep, 8 sweeps"),
    "weight decay": (dict(loss="cross_entropy", lam=1.0, rho=8.0), dict(max_iter=5), ("forward",),
                     "joint forms, rho 8 (= 1e-3 per sample)"),
    "fenchel_hidden": (dict(loss="cross_entropy", lam=1.0, rho=8.0, form="fenchel_hidden"),
                       dict(max_iter=10, fast_options={"w_step": {"max_iter": 20}}), ("forward", "lifted"),
                       "Fenchel-Young hidden layers, rho 8, 10 sweeps, 20 MM iterations per W-step"),
    "fenchel_hidden, rho 1e-3": (dict(loss="cross_entropy", lam=1.0, rho=1e-3, form="fenchel_hidden"),
                                 dict(max_iter=10, fast_options={"w_step": {"max_iter": 20}}), ("forward",),
                                 "as above without weight decay"),
    "fenchel_hidden + early stopping": (dict(loss="cross_entropy", lam=1.0, rho=8.0, form="fenchel_hidden"),
                                        dict(max_iter=15, early_stopping=True, n_iter_no_change=2,
                                             fast_options={"w_step": {"max_iter": 20}}), ("forward",),
                                        "validation: last 1,000 training rows; up to 15 sweeps"),
}


def load(path):
    if not os.path.exists(path):
        sys.exit(f"accuracy_vs_backprop: data file {path} not found (pass --data)")
    d = np.load(path, allow_pickle=False)
    tr, te = d["is_test"] == 0, d["is_test"] == 1
    return (d["images"][tr] / 255.0, d["labels"][tr].astype(int), d["images"][te] / 255.0,
            d["labels"][te].astype(int))


def lifted_run(arch, variant, seed, Xtr, ytr, Xte, yte):
    """Train one variant; return ``{rule: accuracy}``, the training wall time (evaluation
    excluded) and the curve ``[(time, forward accuracy)]`` after every sweep."""
    net_kw, fit_kw, rules, _ = VARIANTS[variant]
    net_kw, fit_kw = dict(net_kw), dict(fit_kw)
    sizes = [784, *arch, 10]
    if isinstance(net_kw["lam"], str):
        hidden, out = (float(v) for v in net_kw["lam"].split(","))
        net_kw["lam"] = [hidden] * len(arch) + [out]
    Y = np.eye(10)[:, ytr]
    X = Xtr.T
    if fit_kw.get("early_stopping"):
        X, Y = X[:, :-1000], Y[:, :-1000]
        fit_kw["validation_data"] = (Xtr[-1000:].T, np.eye(10)[:, ytr[-1000:]])
    net = cvxlift.LiftedNetwork(sizes, "relu", random_state=seed, **net_kw)
    curve, evaluation = [], [0.0]
    t0 = time.perf_counter()

    def cb(net, sweep, obj):
        e0 = time.perf_counter()
        acc = float(np.mean(net.predict(Xte.T).argmax(0) == yte))
        curve.append((e0 - t0 - evaluation[0], acc))
        evaluation[0] += time.perf_counter() - e0

    net.fit(X, Y, solver="fast", tol=0, callback=cb, **fit_kw)
    wall = time.perf_counter() - t0 - evaluation[0]
    accs = {}
    for rule in rules:
        accs[rule] = float(np.mean(net.predict(Xte.T, rule=rule, solver="fast").argmax(0) == yte))
    return accs, wall, curve


def sgd_runs(arch, seeds, Xtr, ytr, Xte, yte):
    from cvxlift import baselines

    sizes = [784, *arch, 10]
    val = {}
    for lr in (0.01, 0.1):
        model = baselines.make_mlp(sizes, init="xavier", seed=seeds[0])
        res = baselines.sgd_train(model, Xtr[:-1000], ytr[:-1000], Xtr[-1000:], ytr[-1000:], lr=lr, seed=seeds[0])
        val[lr] = res["test_accuracy"][-1]
    lr = max(val, key=val.get)
    runs = []
    for seed in seeds:
        model = baselines.make_mlp(sizes, init="xavier", seed=seed)
        runs.append(baselines.sgd_train(model, Xtr, ytr, Xte, yte, lr=lr, seed=seed))
    return lr, val, runs


def first_time(curve, target):
    for t, a in curve:
        if a >= target:
            return t
    return None


def fmt_ms(values, digits=3):
    v = np.asarray(values, float)
    return f"{v.mean():.{digits}f} ± {v.std():.{digits}f}"


def fmt_t(times):
    ok = [t for t in times if t is not None]
    if not ok:
        return "-"
    s = f"{np.mean(ok):.1f} s"
    return s if len(ok) == len(times) else f"{s} ({len(ok)}/{len(times)})"


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--seeds", type=int, default=3)
    ap.add_argument("--arch", nargs="+", default=["300", "300-100"])
    ap.add_argument("--sgd-seeds", type=int, default=None, help="seeds of the SGD baseline (default: --seeds)")
    ap.add_argument("--variants", nargs="+", default=list(VARIANTS))
    ap.add_argument("--data", default=DATA)
    ap.add_argument("--out-md", default=None, help="also write the table to this file")
    args = ap.parse_args(argv)
    unknown = [v for v in args.variants if v not in VARIANTS]
    if unknown:
        sys.exit(f"unknown variants {unknown}; choose from {list(VARIANTS)}")
    Xtr, ytr, Xte, yte = load(args.data)
    seeds = list(range(args.seeds))
    lines = [f"Machine: {platform.processor() or platform.machine()}, {os.cpu_count()} CPUs, numpy {np.__version__}; "
             f"load average at start {os.getloadavg()[0]:.1f}.",
             f"Command: `python benchmarks/accuracy_vs_backprop.py {' '.join(argv if argv is not None else sys.argv[1:])}`",
             ""]
    for arch_s in args.arch:
        arch = [int(a) for a in arch_s.split("-")]
        name = "784-" + arch_s + "-10"
        try:
            import torch  # noqa: F401
            lr, val, runs = sgd_runs(arch, list(range(args.sgd_seeds or args.seeds)), Xtr, ytr, Xte, yte)
            sgd_acc = [r["test_accuracy"][-1] for r in runs]
            target = float(np.mean(sgd_acc))
            sgd_wall = [r["time"][-1] for r in runs]
            sgd_tt = [first_time(list(zip(r["time"][1:], r["test_accuracy"][1:])), target) for r in runs]
        except ImportError:
            lr, target, runs = None, None, []
        rows = [f"### {name}", "", "| model | test accuracy | wall time | time to SGD acc | note |", "|---|---|---|---|---|"]
        if runs:
            rows.append(f"| SGD, Xavier, lr {lr} (val: {', '.join(f'{k}: {v:.3f}' for k, v in val.items())}) | "
                        f"{fmt_ms(sgd_acc)} | {np.mean(sgd_wall):.1f} s | {fmt_t(sgd_tt)} | 17 epochs, batch 100 |")
        else:
            rows.append("| SGD | (torch not installed) | | | |")
        print("\n".join(rows), flush=True)
        for variant in args.variants:
            accs, walls, tts = {}, [], []
            for seed in seeds:
                acc, wall, curve = lifted_run(arch, variant, seed, Xtr, ytr, Xte, yte)
                for rule, a in acc.items():
                    accs.setdefault(rule, []).append(a)
                walls.append(wall)
                tts.append(first_time(curve, target) if target is not None else None)
            for rule, a in accs.items():
                row = (f"| lifted: {variant}, rule {rule} | {fmt_ms(a)} | {np.mean(walls):.1f} s | "
                       f"{fmt_t(tts) if rule == 'forward' else ''} | {VARIANTS[variant][3]} |")
                rows.append(row)
                print(row, flush=True)
        lines += rows + [""]
    if args.out_md:
        with open(args.out_md, "w") as fh:
            fh.write("\n".join(lines) + "\n")
    return lines


if __name__ == "__main__":
    main()
