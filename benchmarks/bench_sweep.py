"""One block-coordinate-descent sweep of 784-300-10 on the MNIST training digits: achieved
GFLOP/s of its matrix products against numpy's own GEMM rate, measured in the same run.

The network: the paper's joint form by default (ReLU hidden layer in the jointly convex form,
simplex output layer with cross-entropy, paper eq. 15), lambda = 1, rho = 1e-3, the fast
block solvers; ``--form fenchel_hidden`` takes the Fenchel-Young hidden layer (rho = 8, the
W-step capped at ``--w-iter`` iterations). Two drivers run the same sweep, side by side:

``fit``
    ``LiftedNetwork.fit(solver="fast", xstep=...)`` (``--xstep``, default ``cyclic``: the hidden
    X-steps and then the output step, the schedule of the driver; ``auto`` takes the joint X-step
    for a jointly convex network): everything ``fit`` does per sweep between two
    callbacks (objective checks and the training score included; the flops counted are the
    fast solvers' only, the training engine's own products are plain ``@``; the block times
    shown are those of the last sweep);
``cached``
    the benchmark driver ``_bcd.LiftedBCD``, which calls the fast blocks with one
    ``cvxlift.fast.WStepCache`` per layer: the input Gram matrix and its factorisations are
    computed once per run and each pre-activation once per change of its factors (what the
    training engine will do once it passes the cache), no objective checks.

Sweep 1 starts from the forward pass of the random initialisation; the next ``--repeat``
sweeps are timed and the median is reported. Flops are those of the matrix products the sweep
performs (``2 n k m`` for an ``n x k`` by ``k x m`` product, half for a Gram product, plus the
Cholesky factorisations and triangular solves), counted by ``cvxlift.fast.count_flops``;
elementwise work (projections, bisections, line searches' divergences) is not counted, so
the rate understates the work done. The GEMM reference is the median rate of numpy products
of the sweep's two largest shapes (300 x 8000 by 8000 x 784 and 300 x 784 by 784 x 8000),
measured before and after.

Run:  OPENBLAS_NUM_THREADS=1 python benchmarks/bench_sweep.py [--m 8000] [--hidden 300] [--repeat 3]
      [--form joint|fenchel_hidden] [--w-iter 10] [--xstep cyclic|auto|joint] [--data PATH]
"""

import argparse
import os
import platform
import statistics
import sys
import time

import numpy as np

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.dirname(HERE))
sys.path.insert(0, HERE)

from _bcd import LiftedBCD  # noqa: E402

import cvxlift  # noqa: E402
from cvxlift import fast  # noqa: E402

DATA = os.path.join(os.path.dirname(HERE), "..", "shared", "data", "mnist10k.npz")


def load(path, m):
    if not os.path.exists(path):
        sys.exit(f"bench_sweep: data file {path} not found (pass --data)")
    d = np.load(path, allow_pickle=False)
    tr = np.flatnonzero(d["is_test"] == 0)[:m]
    return d["images"][tr].T / 255.0, np.eye(10)[:, d["labels"][tr]]


def gemm_rate(shapes, repeat, rng):
    rates = []
    for n, k, m in shapes:
        A, B = rng.random((n, k)), rng.random((k, m))
        A @ B
        times = []
        for _ in range(repeat):
            t0 = time.perf_counter()
            A @ B
            times.append(time.perf_counter() - t0)
        rates.append(2.0 * n * k * m / statistics.median(times) / 1e9)
    return rates


def settings(form):
    if form == "joint":
        return dict(lam=1.0, rho=1e-3, form=None), "ReLU joint form, simplex output, cross-entropy, lambda 1, rho 1e-3"
    return (
        dict(lam=1.0, rho=8.0, form="fenchel_hidden"),
        "ReLU Fenchel-Young form, simplex output, cross-entropy, lambda 1, rho 8",
    )


def time_fit(X, Y, hidden, form, repeat, w_iter, xstep):
    kw, _ = settings(form)
    net = cvxlift.LiftedNetwork([784, hidden, 10], "relu", loss="cross_entropy", random_state=0, **kw)
    marks = []
    with fast.count_flops() as counter:

        def callback(net_, sweep, obj):
            marks.append((time.perf_counter(), counter.flops))

        marks.append((time.perf_counter(), counter.flops))
        net.fit(
            X,
            Y,
            solver="fast",
            max_iter=1 + repeat,
            tol=0,
            callback=callback,
            xstep=xstep,
            fast_options={"w_step": {"max_iter": w_iter}},
        )
    # the blocks' reports of the last sweep (fit keeps the last one of each block)
    info = {k: v for k, v in net.block_info_.items() if hasattr(v, "seconds")}
    # sweep k runs between marks k and k + 1; sweep 1 (from the initialisation) is not timed
    return [(marks[k + 1][0] - marks[k][0], marks[k + 1][1] - marks[k][1], info) for k in range(1, len(marks) - 1)]


def time_cached(X, Y, hidden, form, repeat, w_iter):
    kw, _ = settings(form)
    model = LiftedBCD([784, hidden, 10], seed=0, w_iter=w_iter, **kw)
    model.start(X, Y)
    rows = []
    for k in range(1 + repeat):
        with fast.count_flops() as counter:
            t0 = time.perf_counter()
            model.sweep(X, Y)
            dt = time.perf_counter() - t0
        if k:
            rows.append((dt, counter.flops, dict(model.info)))
    return rows


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--m", type=int, default=8000)
    ap.add_argument("--hidden", type=int, default=300)
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument("--form", choices=("joint", "fenchel_hidden"), default="joint")
    ap.add_argument("--w-iter", type=int, default=10, help="cap of an iterative W-step (Fenchel-Young form)")
    ap.add_argument(
        "--xstep",
        choices=("cyclic", "auto", "joint"),
        default="cyclic",
        help="fit's X-step schedule (cyclic: hidden X-steps then the output step, as the driver)",
    )
    ap.add_argument("--data", default=DATA)
    args = ap.parse_args(argv)
    X, Y = load(args.data, args.m)
    m = X.shape[1]
    _, what = settings(args.form)
    print(
        f"# one BCD sweep, 784-{args.hidden}-10, m = {m}, {what}; {platform.processor() or platform.machine()}, "
        f"{os.cpu_count()} CPUs, numpy {np.__version__}; load average {os.getloadavg()[0]:.2f}; "
        f"OPENBLAS_NUM_THREADS={os.environ.get('OPENBLAS_NUM_THREADS')}"
    )
    print(f"# command: python benchmarks/bench_sweep.py {' '.join(argv if argv is not None else sys.argv[1:])}")
    rng = np.random.default_rng(0)
    shapes = [(args.hidden, m, 784), (args.hidden, 784, m)]
    before = gemm_rate(shapes, args.repeat, rng)
    results = {
        "fit": time_fit(X, Y, args.hidden, args.form, args.repeat, args.w_iter, args.xstep),
        "cached": time_cached(X, Y, args.hidden, args.form, args.repeat, args.w_iter),
    }
    after = gemm_rate(shapes, args.repeat, rng)
    gemm = statistics.median(before + after)
    print(
        f"numpy GEMM (median of {len(before + after)} products of the sweep's shapes): {gemm:.1f} GFLOP/s "
        f"(before {', '.join(f'{r:.1f}' for r in before)}; after {', '.join(f'{r:.1f}' for r in after)})"
    )
    out = {}
    for name, rows in results.items():
        dt, flops, info = sorted(rows, key=lambda r: r[0])[len(rows) // 2]
        rate = flops / dt / 1e9
        out[name] = rate / gemm
        print(
            f"{name:7s} sweep (median of {len(rows)}): {dt:.3f} s, {flops / 1e9:.2f} GFLOP of matrix products -> "
            f"{rate:.1f} GFLOP/s = {100 * rate / gemm:.0f}% of GEMM"
        )
        for k, v in info.items():
            print(f"    {k:7s} {v.solver:34s} {v.seconds:7.3f} s  iterations {v.iterations}")
    return out


if __name__ == "__main__":
    main()
