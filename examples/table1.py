"""Reproduce the paper's Table 1 and Figure 1 (section 7.1) on an MNIST sample.

For each architecture, train a lifted network by block-coordinate descent (BCD,
``solver="fast"``; ReLU hidden layers, cross-entropy loss with a simplex output layer,
``rho = 1e-3``) and report

* "lifted model alone": the test accuracy of its forward prediction rule;
* NN[Normal], NN[Xavier], NN[Lifted]: a standard ReLU network trained by plain
  mini-batch SGD (batch 100, constant learning rate, 17 epochs, softmax cross-entropy,
  ``rho = 1e-3``) from a normal initialisation (N(0, 0.1), the paper's sigma^2 = 0.1,
  biases 0.1), Xavier/Glorot-uniform (biases 0.1), or the lifted network's weights and
  biases;

as mean +- standard deviation over seeds, plus wall times: the BCD (lifted
initialisation) time and, for SGD from each initialisation, the time to reach the mean
final test accuracy of the Xavier runs. Figure 1: test accuracy vs epoch (mean and
2-sigma bands over seeds) for the three initialisations, one panel per architecture.

Hyper-parameters are chosen on a validation split of the TRAINING rows only (1,000 of
the 8,000; the test rows are never used for a choice): ``lambda`` and the number of BCD
sweeps by a grid search on the first architecture (``--lams`` x 1..``--search-sweeps``
sweeps, best validation accuracy of the forward rule; skip it with ``--lam`` and
``--sweeps``), then one SGD learning rate from ``--lrs`` (best mean validation accuracy
over the three initialisations; skip it with ``--lr``).

The independent (architecture, seed) runs go to ``--jobs`` worker processes, each with
``--threads`` BLAS/torch threads (defaults 2 and 1, for a shared 2-core machine).
``--replot JSON`` re-renders the markdown section and the figure from an ``--out-json``
dump without training.

Usage (from the repository root)::

    python examples/table1.py                       # full run, writes docs/table1.{md,png}
    python examples/table1.py --quick               # smoke test, writes to the temp dir
    python examples/table1.py PATH/TO/mnist10k.npz --lam 0.01 --sweeps 1 --lr 0.1  # no searches

The data file holds ``images`` (uint8, m x 784), ``labels`` and ``is_test``; the default
path is ``../shared/data/mnist10k.npz`` relative to the repository root.
"""

import argparse
import json
import os
import platform
import shlex
import sys
import tempfile
import time


def _preset_threads(argv):
    """``--threads N`` must take effect before numpy loads its BLAS: read it from argv here."""
    n = "1"
    for i, v in enumerate(argv):
        if v == "--threads" and i + 1 < len(argv):
            n = argv[i + 1]
        elif v.startswith("--threads="):
            n = v.split("=", 1)[1]
    if n.strip() not in ("", "0"):
        for var in ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS"):
            os.environ[var] = n.strip()


if __name__ == "__main__":
    _preset_threads(sys.argv[1:])

import numpy as np  # noqa: E402

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, ROOT)

from cvxlift import LiftedNetwork  # noqa: E402

DEFAULT_DATA = os.path.join("..", "shared", "data", "mnist10k.npz")
ARCHS = ["784-300-10", "784-300-100-10", "784-500-150-10", "784-500-200-100-10", "784-400-200-100-50-10"]
INITS = ["normal", "xavier", "lifted"]
INIT_LABEL = {"normal": "NN[Normal]", "xavier": "NN[Xavier]", "lifted": "NN[Lifted]"}
BEGIN = "<!-- BEGIN examples/table1.py output -->"
END = "<!-- END examples/table1.py output -->"


def log(*a):
    print(f"[{time.strftime('%H:%M:%S')}]", *a, flush=True)


def parse_args(argv=None):
    p = argparse.ArgumentParser(
        description=__doc__.split("\n\n")[0], formatter_class=argparse.RawDescriptionHelpFormatter
    )
    p.add_argument(
        "data", nargs="?", default=None, help=f"the .npz file (default {DEFAULT_DATA}, relative to the repository root)"
    )
    p.add_argument("--seeds", type=int, default=None, help="seeds per cell (default 5; --quick: 2)")
    p.add_argument(
        "--sweeps",
        type=int,
        default=None,
        help="BCD sweeps (default: chosen by the lambda search, the number of sweeps <= "
        "--search-sweeps with the best validation accuracy; with --lam: 1)",
    )
    p.add_argument("--lam", type=float, default=None, help="skip the lambda search and use this value")
    p.add_argument("--lams", default="0.01,0.1,1,10", help="lambda grid of the search (default 0.01,0.1,1,10)")
    p.add_argument(
        "--search-sweeps",
        type=int,
        default=None,
        help="BCD sweeps of each lambda-search run; the validation accuracy is recorded after "
        "each sweep (default 3; --quick: 1; at least --sweeps)",
    )
    p.add_argument("--lr", type=float, default=None, help="skip the learning-rate search and use this value")
    p.add_argument("--lrs", default="0.01,0.1", help="learning-rate grid (default 0.01,0.1)")
    p.add_argument("--epochs", type=int, default=17)
    p.add_argument("--batch-size", type=int, default=100)
    p.add_argument("--rho", type=float, default=1e-3)
    p.add_argument(
        "--val-rows", type=int, default=1000, help="training rows held out for the lambda/lr searches (default 1000)"
    )
    p.add_argument(
        "--max-train", type=int, default=None, help="use only the first N training rows (default all; --quick: 2000)"
    )
    p.add_argument(
        "--archs",
        default=None,
        help="comma-separated architectures like 784-300-10 (default: the paper's five; --quick: the first two)",
    )
    p.add_argument(
        "--threads",
        type=int,
        default=1,
        help="BLAS threads (OPENBLAS/OMP/MKL_NUM_THREADS, set before numpy is imported when run "
        "as a script) and torch.set_num_threads (default 1: on the loaded 2-core machine one "
        "thread was 2x (BCD) to 30x (SGD) faster than two); 0 leaves the defaults",
    )
    p.add_argument(
        "--jobs",
        type=int,
        default=2,
        help="worker processes for the independent runs (default 2, the number of cores here); "
        "1 runs everything in this process",
    )
    p.add_argument(
        "--quick", action="store_true", help="smoke test: 2 seeds, 2 architectures, 1 sweep, 2,000 training rows"
    )
    p.add_argument(
        "--out-md",
        default=None,
        help="markdown file whose generated section is (re)written (default docs/table1.md; "
        "--quick: table1-quick.md in the temp dir)",
    )
    p.add_argument(
        "--section",
        default=None,
        help="name of the generated section of --out-md (default: the unnamed one), so that "
        "several runs can live in one file",
    )
    p.add_argument("--out-png", default=None, help="Figure 1 (default docs/table1.png; --quick: temp dir)")
    p.add_argument("--out-json", default=None, help="also dump every raw result to this JSON file")
    p.add_argument(
        "--replot",
        default=None,
        metavar="JSON",
        help="no training: rewrite the markdown section (--out-md, --section) and redraw Figure 1 "
        "(--out-png) from a --out-json dump of an earlier run",
    )
    a = p.parse_args(argv)
    q = a.quick
    a.seeds = a.seeds if a.seeds is not None else (2 if q else 5)
    a.sweeps_given = a.sweeps is not None
    a.search_sweeps = a.search_sweeps if a.search_sweeps is not None else (1 if q else 3)
    a.sweeps = a.sweeps if a.sweeps is not None else (1 if (q or a.lam is not None) else 0)
    a.search_sweeps = max(a.search_sweeps, a.sweeps)
    a.max_train = a.max_train if a.max_train is not None else (2000 if q else None)
    a.archs = a.archs.split(",") if a.archs else (ARCHS[:2] if q else ARCHS)
    tmp = tempfile.gettempdir()
    a.out_md = a.out_md or (os.path.join(tmp, "table1-quick.md") if q else os.path.join(ROOT, "docs", "table1.md"))
    a.out_png = a.out_png or (os.path.join(tmp, "table1-quick.png") if q else os.path.join(ROOT, "docs", "table1.png"))
    a.lams = [float(v) for v in a.lams.split(",")]
    a.lrs = [float(v) for v in a.lrs.split(",")]
    if a.seeds < 1 or a.search_sweeps < 1 or a.epochs < 1 or (a.sweeps_given and a.sweeps < 1):
        p.error("--seeds, --sweeps, --search-sweeps and --epochs must be positive")
    return a


def load_data(path, max_train=None):
    if path is None:
        path = os.path.join(ROOT, DEFAULT_DATA)
    if not os.path.isfile(path):
        sys.exit(
            f"error: data file not found: {os.path.abspath(path)}\n"
            f"Pass the path of mnist10k.npz (arrays images (m, 784) uint8, labels, is_test) as the first "
            f"argument; the default is {DEFAULT_DATA} relative to the repository root."
        )
    with np.load(path) as d:
        missing = {"images", "labels", "is_test"} - set(d.files)
        if missing:
            sys.exit(f"error: {path} lacks the arrays {sorted(missing)} (has {d.files})")
        X = d["images"].astype(np.float64) / 255.0
        y = d["labels"].astype(np.int64)
        test = d["is_test"].astype(bool)
    Xtr, ytr, Xte, yte = X[~test], y[~test], X[test], y[test]
    if max_train is not None:
        Xtr, ytr = Xtr[:max_train], ytr[:max_train]
    return os.path.abspath(path), Xtr, ytr, Xte, yte


def onehot(y):
    return np.eye(10)[y].T


def sizes_of(arch):
    return [int(s) for s in arch.split("-")]


def fit_lifted(arch, lam, rho, sweeps, seed, Xtr, ytr, evals=(), snapshot=False):
    """BCD (``solver="fast"``) on the rows of ``Xtr`` (passed to cvxlift as columns).

    ``evals``: (name, X, y) triples whose forward-rule accuracy is recorded after each sweep
    (``snapshot``: also a copy of the weights); the callback runs inside ``fit``, so its time
    is measured and subtracted from the returned BCD seconds."""
    net = LiftedNetwork(sizes_of(arch), activations="relu", loss="cross_entropy", lam=lam, rho=rho, random_state=seed)
    per_sweep = []
    eval_time = [0.0]

    def cb(n, sweep, obj):
        t = time.perf_counter()
        row = {"sweep": sweep + 1, "objective": obj}
        for name, X, y in evals:
            row[name] = lifted_accuracy(n, X, y)
        if snapshot:
            row["weights"] = [w.copy() for w in n.weights_]
            row["biases"] = [b.copy() for b in n.biases_]
        per_sweep.append(row)
        eval_time[0] += time.perf_counter() - t
        return False

    t0 = time.perf_counter()
    net.fit(Xtr.T, onehot(ytr), solver="fast", max_iter=sweeps, tol=0.0, callback=cb)
    seconds = time.perf_counter() - t0 - eval_time[0]
    return net, seconds, per_sweep


def lifted_accuracy(net, X, y):
    return float(np.mean(net.predict(X.T).argmax(0) == y))


def mean_std(v):
    v = np.asarray(v, dtype=float)
    return float(np.mean(v)), float(np.std(v, ddof=1)) if v.size > 1 else float("nan")


def fmt(v, digits=3):
    m, s = mean_std(v)
    return f"{m:.{digits}f} ± {s:.{digits}f}" if np.isfinite(s) else f"{m:.{digits}f}"


# ---- worker side: every task reads the data set once per process ------------------------------
_D = {}


def _init_worker(data, max_train, val_rows, threads):
    import torch

    if threads > 0:
        torch.set_num_threads(threads)
    path, Xtr, ytr, Xte, yte = load_data(data, max_train)
    # validation split of the training rows (for the lambda and lr searches only)
    perm = np.random.default_rng(12345).permutation(len(ytr))
    val, fit_rows = perm[:val_rows], perm[val_rows:]
    _D.update(
        path=path, Xtr=Xtr, ytr=ytr, Xte=Xte, yte=yte, Xf=Xtr[fit_rows], yf=ytr[fit_rows], Xv=Xtr[val], yv=ytr[val]
    )


def _task_lam(arch, lam, rho, sweeps):
    net, sec, hist = fit_lifted(
        arch, lam, rho, sweeps, 0, _D["Xf"], _D["yf"], [("val", _D["Xv"], _D["yv"])], snapshot=True
    )
    return {
        "lam": lam,
        "seconds": sec,
        "val_by_sweep": [h["val"] for h in hist],
        "weights_by_sweep": [h["weights"] for h in hist],
        "biases_by_sweep": [h["biases"] for h in hist],
    }


def _task_lr(arch, lr, init, weights, biases, epochs, batch_size, rho):
    from cvxlift import baselines

    init_arg = (weights, biases) if init == "lifted" else init
    model = baselines.make_mlp(sizes_of(arch), init=init_arg, seed=0)
    res = baselines.sgd_train(
        model, _D["Xf"], _D["yf"], _D["Xv"], _D["yv"], epochs=epochs, batch_size=batch_size, lr=lr, rho=rho, seed=0
    )
    return {"lr": lr, "init": init, "val": res["test_accuracy"][-1], "diverged": res["diverged"]}


def _task_main(arch, seed, lam, lr, sweeps, epochs, batch_size, rho):
    """One cell of the design: BCD with ``random_state=seed``, then SGD from the three inits."""
    from cvxlift import baselines

    net, sec, hist = fit_lifted(arch, lam, rho, sweeps, seed, _D["Xtr"], _D["ytr"], [("test", _D["Xte"], _D["yte"])])
    out = {
        "arch": arch,
        "seed": seed,
        "lifted_acc": hist[-1]["test"],
        "bcd_seconds": sec,
        "bcd_history": hist,
        "sgd": {},
    }
    for init in INITS:
        init_arg = (net.weights_, net.biases_) if init == "lifted" else init
        model = baselines.make_mlp(sizes_of(arch), init=init_arg, seed=seed)
        out["sgd"][init] = baselines.sgd_train(
            model,
            _D["Xtr"],
            _D["ytr"],
            _D["Xte"],
            _D["yte"],
            epochs=epochs,
            batch_size=batch_size,
            lr=lr,
            rho=rho,
            seed=seed,
        )
    return out


def _run(pool, fn, items, on_done):
    """Run ``fn(*item)`` for every item (in ``pool`` if given); results in the order of ``items``."""
    if pool is None:
        out = []
        for it in items:
            out.append(fn(*it))
            on_done(out[-1])
        return out
    from concurrent.futures import as_completed

    futs = {pool.submit(fn, *it): k for k, it in enumerate(items)}
    out = [None] * len(items)
    for f in as_completed(futs):
        out[futs[f]] = f.result()
        on_done(out[futs[f]])
    return out


def replot(a):
    """Redraw Figure 1 and rewrite the markdown section from a ``--out-json`` dump (no training)."""
    with open(a.replot) as f:
        dump = json.load(f)
    info, results = dump["info"], dump["results"]
    for k in ("seeds", "batch_size", "epochs", "archs", "sweeps", "sweeps_given", "search_sweeps", "rho"):
        setattr(a, k, info["args"][k])
    info["rendered_from"] = a.replot
    md = render_markdown(a, info, results)
    print("\n" + md)
    write_section(a.out_md, md, a.section)
    plot(a, results, a.out_png, info["lr"])
    log(f"rewrote {a.out_md} and redrew {a.out_png} from {a.replot}")


def main(argv=None):
    a = parse_args(argv)
    if a.replot:
        return replot(a)
    t_start = time.perf_counter()
    load0 = os.getloadavg()
    from cvxlift import baselines

    try:
        import torch
    except ImportError:
        sys.exit("error: this script needs PyTorch: pip install cvxlift[torch]")
    init_args = (a.data, a.max_train, a.val_rows, a.threads)
    _init_worker(*init_args)  # also checks the data file before any work starts
    log(
        f"data {_D['path']}: {len(_D['ytr'])} training rows, {len(_D['yte'])} test rows; archs {a.archs}; "
        f"seeds {a.seeds}; sweeps {a.sweeps if a.sweeps else 'from the search'}; {a.jobs} worker process(es)"
    )
    pool = None
    if a.jobs > 1:
        import multiprocessing
        from concurrent.futures import ProcessPoolExecutor

        pool = ProcessPoolExecutor(
            max_workers=a.jobs,
            mp_context=multiprocessing.get_context("spawn"),
            initializer=_init_worker,
            initargs=init_args,
        )
    search_arch = a.archs[0]
    phases = {}

    # ---- lambda search -------------------------------------------------------------------
    t = time.perf_counter()
    lam_rows = []
    if a.lam is None:
        lam_rows = _run(
            pool,
            _task_lam,
            [(search_arch, lam, a.rho, a.search_sweeps) for lam in a.lams],
            lambda r: log(
                f"lambda search {search_arch} lam={r['lam']:g}: val accuracy by sweep "
                f"{[round(v, 4) for v in r['val_by_sweep']]} ({r['seconds']:.1f} s)"
            ),
        )
        # best validation accuracy over (lambda, number of sweeps <= --search-sweeps)
        best, best_k = max(
            (
                (r, k)
                for r in lam_rows
                for k in range(len(r["val_by_sweep"]))
                if not (a.sweeps_given and k + 1 != a.sweeps)
            ),
            key=lambda rk: rk[0]["val_by_sweep"][rk[1]],
        )
        lam, lam_source = best["lam"], "search"
        if not a.sweeps_given:
            a.sweeps = best_k + 1
    else:
        lam, lam_source, best = a.lam, "--lam", None
    phases["lambda search"] = time.perf_counter() - t
    log(f"lambda = {lam:g} ({lam_source})")

    # ---- learning-rate search ---------------------------------------------------------------
    t = time.perf_counter()
    lr_rows = []
    if a.lr is None:
        if best is None:
            best = _task_lam(search_arch, lam, a.rho, a.sweeps)
        best_k = min(a.sweeps, len(best["weights_by_sweep"])) - 1
        W, b = best["weights_by_sweep"][best_k], best["biases_by_sweep"][best_k]
        items = [(search_arch, lr, init, W, b, a.epochs, a.batch_size, a.rho) for lr in a.lrs for init in INITS]
        res = _run(
            pool,
            _task_lr,
            items,
            lambda r: log(f"lr search {search_arch} lr={r['lr']:g} {r['init']}: val accuracy {r['val']:.4f}"),
        )
        for lr in a.lrs:
            row = {"lr": lr}
            for r in res:
                if r["lr"] == lr:
                    row[r["init"]], row[r["init"] + "_diverged"] = r["val"], r["diverged"]
            row["mean"] = float(np.mean([row[i] for i in INITS]))
            lr_rows.append(row)
        lr, lr_source = max(lr_rows, key=lambda r: r["mean"])["lr"], "search"
    else:
        lr, lr_source = a.lr, "--lr"
    phases["lr search"] = time.perf_counter() - t
    log(f"learning rate = {lr:g} ({lr_source})")
    for row in lam_rows:
        row.pop("weights_by_sweep", None), row.pop("biases_by_sweep", None)

    # ---- main experiment ------------------------------------------------------------------------
    t = time.perf_counter()
    # largest architectures first (better load balance across worker processes)
    cells = sorted(
        [(arch, s) for arch in a.archs for s in range(a.seeds)],
        key=lambda c: (-sum(x * y for x, y in zip(sizes_of(c[0])[:-1], sizes_of(c[0])[1:])), c[1]),
    )

    def done(r):
        log(
            f"{r['arch']} seed {r['seed']}: lifted model {r['lifted_acc']:.4f} (BCD {r['bcd_seconds']:.1f} s, "
            f"test accuracy by sweep {[round(h['test'], 4) for h in r['bcd_history']]}); SGD final "
            + ", ".join(f"{i} {r['sgd'][i]['test_accuracy'][-1]:.4f} ({r['sgd'][i]['time'][-1]:.1f} s)" for i in INITS)
        )

    out = _run(
        pool, _task_main, [(arch, s, lam, lr, a.sweeps, a.epochs, a.batch_size, a.rho) for arch, s in cells], done
    )
    if pool is not None:
        pool.shutdown()
    results = {}
    for arch in a.archs:
        runs = sorted([r for r in out if r["arch"] == arch], key=lambda r: r["seed"])
        r = {
            "lifted_acc": [x["lifted_acc"] for x in runs],
            "bcd_seconds": [x["bcd_seconds"] for x in runs],
            "bcd_history": [x["bcd_history"] for x in runs],
            "sgd": {i: [x["sgd"][i] for x in runs] for i in INITS},
        }
        target = float(np.mean([res["test_accuracy"][-1] for res in r["sgd"]["xavier"]]))
        r["target"] = target
        r["time_to_target"] = {
            i: [baselines.time_to_accuracy(res["test_accuracy"], res["time"], target) for res in r["sgd"][i]]
            for i in INITS
        }
        results[arch] = r
    phases["main experiment"] = time.perf_counter() - t
    total = time.perf_counter() - t_start
    load1 = os.getloadavg()

    info = dict(
        command="python "
        + shlex.join([os.path.relpath(__file__, ROOT)] + (sys.argv[1:] if argv is None else list(argv))),
        processor=platform.processor() or platform.machine(),
        cpus=os.cpu_count(),
        python=platform.python_version(),
        numpy=np.__version__,
        torch=torch.__version__,
        torch_threads=torch.get_num_threads(),
        blas_threads=os.environ.get("OPENBLAS_NUM_THREADS", "default"),
        load_start=load0,
        load_end=load1,
        data=_D["path"],
        n_train=len(_D["ytr"]),
        n_test=len(_D["yte"]),
        n_fit=len(_D["yf"]),
        n_val=len(_D["yv"]),
        jobs=a.jobs,
        lam=lam,
        lam_source=lam_source,
        lam_rows=lam_rows,
        lr=lr,
        lr_source=lr_source,
        lr_rows=lr_rows,
        phases=phases,
        total_seconds=total,
        args={k: v for k, v in vars(a).items()},
        date=time.strftime("%Y-%m-%d %H:%M:%S %Z"),
    )
    md = render_markdown(a, info, results)
    print("\n" + md)
    write_section(a.out_md, md, a.section)
    plot(a, results, a.out_png, lr)
    if a.out_json:
        with open(a.out_json, "w") as f:
            json.dump({"info": info, "results": results}, f, indent=1, default=str)
    log(f"wrote {a.out_md} and {a.out_png}; total wall time {total:.0f} s")
    return info, results


def render_markdown(a, info, results):
    L = []
    L.append(
        f"Generated by `{info['command']}` on {info['date']} "
        f"(total wall time **{info['total_seconds']:.0f} s** = {info['total_seconds'] / 60:.1f} min)."
        + (
            f" Rendered from its JSON dump `{info['rendered_from']}` with `--replot`."
            if info.get("rendered_from")
            else ""
        )
    )
    L.append("")
    L.append(
        f"Machine: {info['cpus']} CPUs, processor `{info['processor']}`, Python {info['python']}, "
        f"numpy {info['numpy']}, torch {info['torch']} ({info['torch_threads']} torch thread(s), "
        f"OPENBLAS_NUM_THREADS={info['blas_threads']}; {info['jobs']} worker process(es) running the "
        f"independent runs concurrently); "
        f"load average at start {info['load_start'][0]:.1f}, at end {info['load_end'][0]:.1f} "
        f"(the machine is shared: wall times depend on the other jobs)."
    )
    L.append("")
    L.append(
        f"Data: `{info['data']}`: {info['n_train']} training rows, {info['n_test']} test rows. "
        f"Searches use {info['n_fit']} training rows and a validation split of {info['n_val']} "
        f"other training rows (never the test rows)."
    )
    L.append("")
    L.append(
        f"Settings: lambda = {info['lam']:g} ({info['lam_source']}), rho = {a.rho:g}, "
        f'{a.sweeps} BCD sweep(s) (`solver="fast"`), {a.seeds} seed(s)'
        + " (seed s: BCD from `random_state=s`, SGD initialisation and shuffling seeded with s)"
        + f"; SGD: batch {a.batch_size}, constant learning rate {info['lr']:g} ({info['lr_source']}), "
        f"{a.epochs} epochs, weight_decay = 2 rho = {2 * a.rho:g} on weight matrices."
    )
    L.append("")
    L.append("### Test accuracy (mean ± sample std over seeds)")
    L.append("")
    L.append("| Architecture | Lifted model alone | NN[Normal] | NN[Xavier] | NN[Lifted] |")
    L.append("|---|---|---|---|---|")
    for arch, r in results.items():
        cells = [fmt(r["lifted_acc"])] + [fmt([res["test_accuracy"][-1] for res in r["sgd"][i]]) for i in INITS]
        div = {i: sum(res["diverged"] is not None for res in r["sgd"][i]) for i in INITS}
        for j, i in enumerate(INITS):
            if div[i]:
                cells[j + 1] += f" ({div[i]} diverged)"
        L.append(f"| {arch} | " + " | ".join(cells) + " |")
    L.append("")
    marks = [e for e in (0, 1, 2, 5, 10) if e < a.epochs] + [a.epochs]
    L.append("### Test accuracy during SGD (mean over seeds; the data of Figure 1)")
    L.append("")
    L.append("| Architecture | initialisation | " + " | ".join(f"epoch {e}" for e in marks) + " |")
    L.append("|---|---|" + "---|" * len(marks))
    for arch, r in results.items():
        for i in INITS:
            m = np.mean([res["test_accuracy"] for res in r["sgd"][i]], axis=0)
            L.append(f"| {arch} | {INIT_LABEL[i]} | " + " | ".join(f"{m[e]:.3f}" for e in marks) + " |")
    L.append("")
    L.append("### Wall time (seconds, mean over seeds)")
    L.append("")
    L.append(
        "Target = the mean final test accuracy of the NN[Xavier] runs. SGD times count training only "
        "(test evaluation excluded) and are read at epoch ends (time 0 = the initialisation already "
        "reaches the target). For NN[Lifted] the BCD time is added in the last column. "
        '"k/n": runs that reached the target; means are over those runs.'
    )
    L.append("")
    L.append(f'"SGD {a.epochs} epochs" averages all SGD runs of the row, diverged ones (stopped early) included.')
    L.append("")
    L.append(
        f"| Architecture | target | BCD (lifted init) | SGD {a.epochs} epochs | NN[Normal] to target | "
        "NN[Xavier] to target | NN[Lifted] to target (SGD) | NN[Lifted] to target (BCD + SGD) |"
    )
    L.append("|---|---|---|---|---|---|---|---|")
    for arch, r in results.items():
        cells = [
            f"{r['target']:.3f}",
            f"{np.mean(r['bcd_seconds']):.1f}",
            f"{np.mean([res['time'][-1] for i in INITS for res in r['sgd'][i]]):.1f}",
        ]
        for i in INITS:
            cells.append(_reach(r["time_to_target"][i]))
        tt = [
            None if v is None else v + r["bcd_seconds"][s % len(r["bcd_seconds"])]
            for s, v in enumerate(r["time_to_target"]["lifted"])
        ]
        cells.append(_reach(tt))
        L.append(f"| {arch} | " + " | ".join(cells) + " |")
    L.append("")
    if info["lam_rows"]:
        L.append(
            f"### Lambda search ({a.archs[0]}, {a.search_sweeps} sweep(s), seed 0; "
            f"validation accuracy of the forward prediction after each sweep)"
        )
        L.append("")
        L.append(
            "| lambda | "
            + " | ".join(f"after sweep {k + 1}" for k in range(a.search_sweeps))
            + " | BCD time, all sweeps (s) |"
        )
        L.append("|---|" + "---|" * a.search_sweeps + "---|")
        for row in info["lam_rows"]:
            v = [f"{x:.4f}" for x in row["val_by_sweep"]] + ["-"] * (a.search_sweeps - len(row["val_by_sweep"]))
            L.append(f"| {row['lam']:g} | " + " | ".join(v) + f" | {row['seconds']:.1f} |")
        L.append("")
        L.append(
            f"Chosen: lambda = {info['lam']:g} and {a.sweeps} sweep(s) "
            + (
                "(best validation accuracy over lambda and the number of sweeps)"
                if not a.sweeps_given
                else f"(best validation accuracy over lambda at --sweeps {a.sweeps})"
            )
            + ", used for every architecture."
        )
        L.append("")
    if info["lr_rows"]:
        L.append(
            f"### Learning-rate search ({a.archs[0]}, {a.epochs} epochs, seed 0, lifted init from the "
            f"lambda = {info['lam']:g} search network; validation accuracy)"
        )
        L.append("")
        L.append("| lr | NN[Normal] | NN[Xavier] | NN[Lifted] | mean |")
        L.append("|---|---|---|---|---|")
        for row in info["lr_rows"]:
            L.append(
                f"| {row['lr']:g} | "
                + " | ".join(
                    f"{row[i]:.4f}" + (" (diverged)" if row[i + "_diverged"] is not None else "") for i in INITS
                )
                + f" | {row['mean']:.4f} |"
            )
        L.append("")
        L.append(f"Chosen: lr = {info['lr']:g} (best mean validation accuracy over the three initialisations).")
        L.append("")
    L.append("### Phases (wall time, s)")
    L.append("")
    L.append(" | ".join(f"{k}: {v:.0f}" for k, v in info["phases"].items()) + f" | total: {info['total_seconds']:.0f}")
    return "\n".join(L)


def _reach(times):
    ok = [v for v in times if v is not None]
    if not ok:
        return "not reached"
    return f"{np.mean(ok):.1f} ({len(ok)}/{len(times)})"


def write_section(path, md, section=None):
    begin, end = BEGIN, END
    if section:
        begin, end = BEGIN.replace(" -->", f" ({section}) -->"), END.replace(" -->", f" ({section}) -->")
    block = f"{begin}\n{md}\n{end}\n"
    d = os.path.dirname(os.path.abspath(path))
    os.makedirs(d, exist_ok=True)
    if os.path.isfile(path):
        text = open(path).read()
        if begin in text and end in text:
            head, rest = text.split(begin, 1)
            tail = rest.split(end, 1)[1].lstrip("\n")
            text = head + block + ("\n" + tail if tail else "")
        else:
            text = text.rstrip("\n") + "\n\n" + block
    else:
        text = "# Table 1 and Figure 1 on the MNIST sample\n\n" + block
    with open(path, "w") as f:
        f.write(text)


def plot(a, results, path, lr):
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    n = len(results)
    cols = min(n, 3)
    rows = (n + cols - 1) // cols
    fig, axes = plt.subplots(rows, cols, figsize=(5 * cols, 3.8 * rows), squeeze=False)
    colors = {"normal": "tab:blue", "xavier": "tab:orange", "lifted": "tab:green"}
    for ax, (arch, r) in zip(axes.flat, results.items()):
        shown = []
        for init in INITS:
            accs = np.array([res["test_accuracy"] for res in r["sgd"][init]])
            ep = np.arange(accs.shape[1])
            m = accs.mean(0)
            s = accs.std(0, ddof=1) if accs.shape[0] > 1 else np.zeros_like(m)
            ndiv = sum(res["diverged"] is not None for res in r["sgd"][init])
            label = INIT_LABEL[init] + (f" ({ndiv}/{len(accs)} diverged, acc. {m[-1]:.3f})" if ndiv else "")
            if ndiv < len(accs):
                shown.append(m[1])
                if init == "lifted":
                    shown.append(m[0])
            ax.plot(ep, m, color=colors[init], label=label)
            ax.fill_between(ep, m - 2 * s, m + 2 * s, color=colors[init], alpha=0.2)
        ax.axhline(np.mean(r["lifted_acc"]), color="tab:gray", ls="--", lw=1, label="lifted model alone")
        ax.set_title(arch)
        ax.set_xticks(range(0, a.epochs + 1, max(1, a.epochs // 8)))
        ax.set_xlabel("epoch")
        ax.set_ylabel("test accuracy")
        lo = min([0.8] + [v - 0.02 for v in shown])
        ax.set_ylim(max(0.0, lo), 1.0)
        ax.grid(alpha=0.3)
        ax.legend(loc="lower right", fontsize=8)
    for ax in list(axes.flat)[n:]:
        ax.axis("off")
    fig.suptitle(f"Test accuracy vs epoch (mean, ±2 std over {a.seeds} seeds; batch {a.batch_size}, lr {lr:g})")
    fig.tight_layout()
    os.makedirs(os.path.dirname(os.path.abspath(path)), exist_ok=True)
    fig.savefig(path, dpi=110)
    plt.close(fig)


if __name__ == "__main__":
    main()
