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
    "paper (CE, joint, lam 1)": (dict(loss="cross_entropy", lam=1.0, rho=1e-3), dict(max_iter=5), "forward",
                                 "the paper's settings"),
    "paper, lifted rule (12)": (dict(loss="cross_entropy", lam=1.0, rho=1e-3), dict(max_iter=5), "lifted",
                                "same model, exact lifted prediction"),
    "squared loss": (dict(loss="squared", lam=1.0, rho=1e-3), dict(max_iter=5), "forward",
                     "identity output, squared loss"),
    "per-layer lam (10, 1)": (dict(loss="cross_entropy", lam=[10.0, 1.0], rho=1e-3), dict(max_iter=5), "forward",
                              "hidden penalty 10x the output's"),
    "weight decay rho 10": (dict(loss="cross_entropy", lam=1.0, rho=10.0), dict(max_iter=5), "forward",
                            "stronger ridge on W"),
    "continuation x2 from 0.1": (dict(loss="cross_entropy", lam=0.1, rho=1e-3), dict(max_iter=8, lam_growth=2.0),
                                 "forward", "lam multiplied by 2 after each sweep"),
    "Fenchel-Young hidden": (dict(loss="cross_entropy", lam=1.0, rho=1e-3, form="fenchel-hidden"),
                             dict(max_iter=5, fast_options={"w_step": {"max_iter": 30}}), "forward",
                             "FY ReLU hidden layers (no penalty on negative pre-activations), "
                             "W-step: 30 accelerated MM iterations"),
    "early stopping": (dict(loss="cross_entropy", lam=1.0, rho=1e-3), dict(max_iter=10, early_stopping=True,
                                                                            n_iter_no_change=2), "forward",
                       "validation split: last 1,000 training rows"),
}


def load(path):
    if not os.path.exists(path):
        sys.exit(f"accuracy_vs_backprop: data file {path} not found (pass --data)")
    d = np.load(path, allow_pickle=False)
    tr, te = d["is_test"] == 0, d["is_test"] == 1
    return (d["images"][tr] / 255.0, d["labels"][tr].astype(int), d["images"][te] / 255.0,
            d["labels"][te].astype(int))


def lifted_run(arch, variant, seed, Xtr, ytr, Xte, yte):
    net_kw, fit_kw, rule, _ = VARIANTS[variant]
    net_kw, fit_kw = dict(net_kw), dict(fit_kw)
    sizes = [784, *arch, 10]
    if net_kw.get("form") == "fenchel-hidden":
        net_kw["form"] = ["fenchel"] * len(arch) + ["joint"]
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
        acc = float(np.mean(net.predict(Xte.T, rule=rule, solver="fast").argmax(0) == yte))
        curve.append((e0 - t0 - evaluation[0], acc))
        evaluation[0] += time.perf_counter() - e0

    net.fit(X, Y, solver="fast", tol=0, callback=cb, **fit_kw)
    wall = time.perf_counter() - t0 - evaluation[0]
    acc = float(np.mean(net.predict(Xte.T, rule=rule, solver="fast").argmax(0) == yte))
    return acc, wall, curve


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
            lr, val, runs = sgd_runs(arch, seeds, Xtr, ytr, Xte, yte)
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
            accs, walls, tts = [], [], []
            for seed in seeds:
                acc, wall, curve = lifted_run(arch, variant, seed, Xtr, ytr, Xte, yte)
                accs.append(acc)
                walls.append(wall)
                tts.append(first_time(curve, target) if target is not None else None)
            row = (f"| lifted: {variant} | {fmt_ms(accs)} | {np.mean(walls):.1f} s | {fmt_t(tts)} | "
                   f"{VARIANTS[variant][3]} |")
            rows.append(row)
            print(row, flush=True)
        lines += rows + [""]
    if args.out_md:
        with open(args.out_md, "w") as fh:
            fh.write("\n".join(lines) + "\n")
    return lines


if __name__ == "__main__":
    main()
