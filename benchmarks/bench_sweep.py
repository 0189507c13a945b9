"""One block-coordinate-descent sweep of 784-300-10 on the MNIST training digits: achieved
GFLOP/s of its matrix products against numpy's own GEMM rate, measured in the same run.

The network: ReLU hidden layer (jointly convex form), simplex output layer with
cross-entropy (paper eq. 15), lambda = 1, rho = 1e-3, ``solver="fast"``. Sweep 1 starts
from the forward pass of the random initialisation; the next ``--repeat`` sweeps of the same
``fit`` are timed (between callbacks: everything ``fit`` does per sweep, the objective checks
and the training score included) and the median is reported. Flops are those of the matrix products the sweep performs (``2 n k m`` for an
``n x k`` by ``k x m`` product), counted by :data:`cvxlift.fast._common.FLOPS` in the fast
solvers and in the network's cached pre-activations (objective checks included);
elementwise work (projections, bisections, line searches' divergences) is not counted,
so the rate understates the work done. The GEMM reference is the median rate of numpy
products of the sweep's two largest shapes (784 x m by m x 784, and 300 x 784 by 784 x m).

Run:  python benchmarks/bench_sweep.py [--m 8000] [--hidden 300] [--repeat 3] [--data PATH]
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

import cvxlift  # noqa: E402
from cvxlift.fast import _common  # noqa: E402

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


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--m", type=int, default=8000)
    ap.add_argument("--hidden", type=int, default=300)
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument("--data", default=DATA)
    args = ap.parse_args(argv)
    X, Y = load(args.data, args.m)
    m = X.shape[1]
    print(f"# one BCD sweep, 784-{args.hidden}-10, m = {m}; {platform.processor() or platform.machine()}, "
          f"{os.cpu_count()} CPUs, numpy {np.__version__}; load average {os.getloadavg()[0]:.2f}")
    print(f"# command: python benchmarks/bench_sweep.py {' '.join(argv if argv is not None else sys.argv[1:])}")
    rng = np.random.default_rng(0)
    before = gemm_rate([(784, m, 784), (args.hidden, 784, m)], args.repeat, rng)
    net = cvxlift.LiftedNetwork([784, args.hidden, 10], "relu", loss="cross_entropy", lam=1.0, rho=1e-3,
                                random_state=0)
    marks = []

    def callback(net_, sweep, obj):
        marks.append((time.perf_counter(), _common.FLOPS[0],
                      {k: v for k, v in net_.block_info_.items() if hasattr(v, "seconds")}))

    marks.append((time.perf_counter(), _common.FLOPS[0], {}))
    net.fit(X, Y, solver="fast", max_iter=1 + args.repeat, tol=0, callback=callback)
    # sweep k runs between marks k and k + 1; sweep 1 (from the initialisation) is not timed
    rows = [(marks[k + 1][0] - marks[k][0], marks[k + 1][1] - marks[k][1], marks[k + 1][2])
            for k in range(1, len(marks) - 1)]
    after = gemm_rate([(784, m, 784), (args.hidden, 784, m)], args.repeat, rng)
    gemm = statistics.median(before + after)
    dt, flops, info = sorted(rows, key=lambda r: r[0])[len(rows) // 2]
    rate = flops / dt / 1e9
    print(f"numpy GEMM (median of {len(before + after)} products of the sweep's shapes): {gemm:.1f} GFLOP/s "
          f"(before {', '.join(f'{r:.1f}' for r in before)}; after {', '.join(f'{r:.1f}' for r in after)})")
    print(f"sweep (median of {args.repeat}): {dt:.2f} s, {flops / 1e9:.2f} GFLOP of matrix products -> "
          f"{rate:.1f} GFLOP/s = {100 * rate / gemm:.0f}% of GEMM")
    for k, v in info.items():
        print(f"  {k:7s} {v.solver:28s} {v.seconds:7.3f} s  iterations {v.iterations}")
    return rate / gemm


if __name__ == "__main__":
    main()
