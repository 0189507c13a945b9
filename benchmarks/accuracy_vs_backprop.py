"""The lifted model alone vs plain backprop (mini-batch SGD), side by side, on MNIST.

Trains on the 8,000 training digits of ``mnist10k.npz`` and reports test accuracy on the
2,000 test digits, and wall time, mean +- std over seeds, for:

* the SGD baseline, the same for every comparison (``cvxlift.baselines.tuned_sgd``): PyTorch
  mini-batch SGD (constant learning rate, no momentum, 17 epochs, Xavier initialisation,
  softmax cross-entropy, weight decay 2e-3 = 2 rho with rho = 1e-3 per sample), with batch 100
  and with batch 1000; the learning rate is the best of {0.01, 0.1, 0.5} on a validation split
  (the last 1,000 training rows held out; tuned once, on seed 0), then training uses all
  8,000 rows. One torch thread.
* cvxlift's lifted network alone, in each variant of :data:`VARIANTS`: ``LiftedNetwork.fit``
  (``solver="fast"``; kind ``fit``) or the benchmark driver ``_bcd.LiftedBCD`` (kind ``bcd``:
  the same sweep through the fast blocks with a per-layer ``WStepCache`` and per-layer penalty
  schedules, see ``_bcd.py``). Prediction by the forward rule unless the variant says
  ``rule="lifted"``.

"time to SGD acc" is the training wall time at which a model's test accuracy (evaluated after
every sweep / epoch, evaluation time excluded) first reaches the batch-100 SGD baseline's mean
final accuracy; "-" when never reached (in how many seeds it was, when not all).

Run:  OMP_NUM_THREADS=1 OPENBLAS_NUM_THREADS=1 python benchmarks/accuracy_vs_backprop.py [--seeds 3]
      [--arch 300 300-100] [--variants NAME ...] [--batches 100 1000] [--data PATH] [--out-md FILE]
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
sys.path.insert(0, HERE)

from _bcd import LiftedBCD, run  # noqa: E402

import cvxlift  # noqa: E402

DATA = os.path.join(os.path.dirname(HERE), "..", "shared", "data", "mnist10k.npz")


def _per_layer(hidden, output, deeper=None):
    """``rho`` (or ``lam``) per layer: ``hidden`` for the first hidden layer, ``deeper`` (default
    ``hidden``) for the later hidden layers, ``output`` for the output layer."""
    return lambda arch: [hidden] + [hidden if deeper is None else deeper] * (len(arch) - 1) + [output]


#: name -> (kind, network keyword arguments, fit / driver keyword arguments, prediction rules, note).
#: A callable keyword value is called with the hidden sizes (per-layer values).
VARIANTS = {
    "paper": (
        "fit",
        dict(loss="cross_entropy", lam=1.0, rho=1e-3),
        dict(max_iter=5),
        ("forward", "lifted"),
        "joint forms, CE + simplex, lam 1, rho 1e-3, 5 sweeps",
    ),
    "fenchel_hidden": (
        "fit",
        dict(loss="cross_entropy", lam=1.0, rho=8.0, form="fenchel_hidden"),
        dict(max_iter=10, fast_options={"w_step": {"max_iter": 10}}),
        ("forward", "lifted"),
        "Fenchel-Young hidden layers, rho 8, 10 sweeps, 10 pncg iterations per W-step",
    ),
    "fenchel_hidden, cached": (
        "bcd",
        dict(lam=1.0, rho=8.0, form="fenchel_hidden"),
        dict(sweeps=10, w_iter=10),
        ("forward",),
        "as above through the driver: WStepCache, pre-activations reused",
    ),
    "per-layer rho": (
        "bcd",
        dict(lam=1.0, rho=_per_layer(4.0, 0.5), form="fenchel_hidden"),
        dict(sweeps=16, w_iter=3),
        ("forward",),
        "rho 4 on the hidden layers, 0.5 on the output layer, 3 pncg iterations, 16 sweeps",
    ),
    "per-layer rho + inertia": (
        "bcd",
        dict(lam=1.0, rho=_per_layer(4.0, 0.5, deeper=2.0), form="fenchel_hidden"),
        dict(sweeps=32, w_iter=3, extrapolate=0.8),
        ("forward",),
        "as above (rho 2 on later hidden layers), weights extrapolated by 0.8 x "
        "their last change after each sweep's W-steps, 32 sweeps",
    ),
    "per-layer rho + inertia (fit)": (
        "fit",
        dict(loss="cross_entropy", lam=1.0, rho=_per_layer(4.0, 0.5, deeper=2.0), form="fenchel_hidden"),
        dict(max_iter=32, inertia=0.8, fast_options={"w_step": {"max_iter": 3}}),
        ("forward",),
        "the same recipe through LiftedNetwork.fit (the training engine: its "
        "inertia option and per-layer W-step caches)",
    ),
}


def load(path):
    if not os.path.exists(path):
        sys.exit(f"accuracy_vs_backprop: data file {path} not found (pass --data)")
    d = np.load(path, allow_pickle=False)
    tr, te = d["is_test"] == 0, d["is_test"] == 1
    return (d["images"][tr] / 255.0, d["labels"][tr].astype(int), d["images"][te] / 255.0, d["labels"][te].astype(int))


def _lams(lam, arch):
    return [float(lam)] * (len(arch) + 1) if np.ndim(lam) == 0 else [float(v) for v in lam]


def lifted_run(arch, variant, seed, Xtr, ytr, Xte, yte):
    """Train one variant; return ``{rule: accuracy}``, the training wall time (evaluation
    excluded) and the curve ``[(time, forward accuracy)]`` after every sweep."""
    kind, net_kw, run_kw, rules, _ = VARIANTS[variant]
    net_kw, run_kw = dict(net_kw), dict(run_kw)
    sizes = [784, *arch, 10]
    Y = np.eye(10)[:, ytr]
    X = Xtr.T

    def acc(net, rule="forward"):
        return float(np.mean(net.predict(Xte.T, rule=rule, solver="fast").argmax(0) == yte))

    net_kw = {k: (v(arch) if callable(v) else v) for k, v in net_kw.items()}
    if kind == "bcd":
        lam = _lams(net_kw.pop("lam"), arch)
        model = LiftedBCD(
            sizes,
            lam=lam,
            seed=seed,
            w_iter=run_kw.get("w_iter", 10),
            extrapolate=run_kw.get("extrapolate", 0.0),
            **net_kw,
        )
        sched = run_kw.get("schedule")
        curve = run(
            model,
            X,
            Y,
            run_kw["sweeps"],
            evaluate=lambda mdl: acc(mdl.net),
            lam_schedule=None if sched is None else sched(lam),
        )
        net, wall = model.net, curve[-1][0]
    else:
        net = cvxlift.LiftedNetwork(sizes, "relu", random_state=seed, **net_kw)
        curve, evaluation = [], [0.0]
        t0 = time.perf_counter()

        def cb(net_, sweep, obj):
            e0 = time.perf_counter()
            a = acc(net_)
            curve.append((e0 - t0 - evaluation[0], a))
            evaluation[0] += time.perf_counter() - e0

        net.fit(X, Y, solver="fast", tol=0, callback=cb, **run_kw)
        wall = time.perf_counter() - t0 - evaluation[0]
    return {rule: acc(net, rule) for rule in rules}, wall, curve


def sgd_runs(arch, seeds, batch, Xtr, ytr, Xte, yte):
    from cvxlift import baselines

    sizes = [784, *arch, 10]
    first = baselines.tuned_sgd(sizes, Xtr, ytr, Xte, yte, batch_size=batch, seed=seeds[0])
    runs = [first] + [
        baselines.tuned_sgd(sizes, Xtr, ytr, Xte, yte, batch_size=batch, seed=s, lr=first["lr"]) for s in seeds[1:]
    ]
    return first["lr"], first["lr_scores"], runs


def first_time(curve, target):
    for t, a in curve:
        if a >= target:
            return t
    return None


def fmt_ms(values, digits=4):
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
    ap.add_argument("--batches", nargs="+", type=int, default=[100, 1000], help="SGD batch sizes")
    ap.add_argument("--data", default=DATA)
    ap.add_argument("--out-md", default=None, help="also write the tables to this file")
    args = ap.parse_args(argv)
    unknown = [v for v in args.variants if v not in VARIANTS]
    if unknown:
        sys.exit(f"unknown variants {unknown}; choose from {list(VARIANTS)}")
    Xtr, ytr, Xte, yte = load(args.data)
    seeds = list(range(args.seeds))
    try:
        import torch

        torch.set_num_threads(1)
    except ImportError:
        torch = None
    lines = [
        f"Machine: {platform.processor() or platform.machine()}, {os.cpu_count()} CPUs, numpy {np.__version__}; "
        f"load average at start {os.getloadavg()[0]:.1f}.",
        f"Command: `python benchmarks/accuracy_vs_backprop.py {' '.join(argv if argv is not None else sys.argv[1:])}`",
        "",
    ]
    for arch_s in args.arch:
        arch = [int(a) for a in arch_s.split("-")]
        rows = [
            f"### 784-{arch_s}-10",
            "",
            "| model | test accuracy | wall time | time to SGD acc | note |",
            "|---|---|---|---|---|",
        ]
        print("\n".join(rows), flush=True)
        target = None
        if torch is None:
            rows.append("| SGD | (torch not installed) | | | |")
        for batch in args.batches if torch is not None else []:
            lr, scores, runs = sgd_runs(arch, seeds, batch, Xtr, ytr, Xte, yte)
            accs = [r["test_accuracy"][-1] for r in runs]
            if target is None:
                target = float(np.mean(accs))
            walls = [r["time"][-1] for r in runs]
            tts = [first_time(list(zip(r["time"][1:], r["test_accuracy"][1:])), target) for r in runs]
            val = ", ".join(f"{k}: {v:.3f}" for k, v in scores.items())
            row = (
                f"| SGD, batch {batch}, lr {lr} (validation: {val}) | {fmt_ms(accs)} | {np.mean(walls):.1f} s | "
                f"{fmt_t(tts)} | 17 epochs, weight decay 2e-3 |"
            )
            rows.append(row)
            print(row, flush=True)
        for variant in args.variants:
            accs, walls, tts = {}, [], []
            for seed in seeds:
                acc, wall, curve = lifted_run(arch, variant, seed, Xtr, ytr, Xte, yte)
                for rule, a in acc.items():
                    accs.setdefault(rule, []).append(a)
                walls.append(wall)
                tts.append(first_time(curve, target) if target is not None else None)
            for rule, a in accs.items():
                row = (
                    f"| lifted: {variant}, rule {rule} | {fmt_ms(a)} | {np.mean(walls):.1f} s | "
                    f"{fmt_t(tts) if rule == 'forward' else ''} | {VARIANTS[variant][4]} |"
                )
                rows.append(row)
                print(row, flush=True)
        lines += rows + [""]
    if args.out_md:
        with open(args.out_md, "w") as fh:
            fh.write("\n".join(lines) + "\n")
    return lines


if __name__ == "__main__":
    main()
