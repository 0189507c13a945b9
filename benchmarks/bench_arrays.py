"""Fit time per sweep on numpy arrays against torch CPU tensors, same network, same process.

784-``--hidden``-10 on the first ``--m`` MNIST training digits, ``LiftedNetwork.fit(solver="fast")``
for ``--sweeps`` sweeps, in the paper's joint form (cross-entropy, simplex output, lam 1,
rho 1e-3) and in ``form="fenchel_hidden"`` (rho 8, 10 pncg iterations per W-step); the data
given as numpy arrays, then as torch float64 CPU tensors (the fast solvers then run on torch).
Reported: the median wall time of sweeps 2.. (sweep 1 includes the first layer's Gram matrix),
the final objective of both (they agree to the solvers' tolerances), and the ratio.

Run:  OPENBLAS_NUM_THREADS=1 OMP_NUM_THREADS=1 python benchmarks/bench_arrays.py [--m 8000] [--hidden 300]
      [--sweeps 4] [--data PATH]
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

DATA = os.path.join(os.path.dirname(HERE), "..", "shared", "data", "mnist10k.npz")

FORMS = {
    "paper (joint)": (dict(lam=1.0, rho=1e-3, form="joint"), {}),
    "fenchel_hidden": (dict(lam=1.0, rho=8.0, form="fenchel_hidden"), {"w_step": {"max_iter": 10}}),
}


def per_sweep(sizes, X, Y, net_kw, fast_options, sweeps):
    stamps = []
    net = cvxlift.LiftedNetwork(sizes, "relu", loss="cross_entropy", random_state=0, **net_kw)
    t0 = time.perf_counter()
    net.fit(
        X,
        Y,
        solver="fast",
        tol=0,
        max_iter=sweeps,
        fast_options=fast_options,
        xstep="auto",
        callback=lambda n, s, o: stamps.append(time.perf_counter()),
    )
    times = np.diff([t0] + stamps)
    return float(statistics.median(times[1:])), float(net.history_[-1])


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--m", type=int, default=8000)
    ap.add_argument("--hidden", type=int, default=300)
    ap.add_argument("--sweeps", type=int, default=4)
    ap.add_argument("--data", default=DATA)
    args = ap.parse_args(argv)
    import torch

    torch.set_num_threads(1)
    if not os.path.exists(args.data):
        sys.exit(f"bench_arrays: data file {args.data} not found (pass --data)")
    d = np.load(args.data, allow_pickle=False)
    tr = np.flatnonzero(d["is_test"] == 0)[: args.m]
    X = np.ascontiguousarray(d["images"][tr].T / 255.0)
    Y = np.eye(10)[:, d["labels"][tr]]
    sizes = [784, args.hidden, 10]
    print(
        f"# 784-{args.hidden}-10, m = {X.shape[1]}, {args.sweeps} sweeps of fit(solver='fast'); "
        f"{platform.machine()}, numpy {np.__version__}, torch {torch.__version__}, one thread"
    )
    print("| form | numpy s/sweep | torch CPU s/sweep | torch / numpy | objective numpy | objective torch |")
    print("|---|---|---|---|---|---|")
    for name, (net_kw, opts) in FORMS.items():
        tn, on = per_sweep(sizes, X, Y, net_kw, opts, args.sweeps)
        tt, ot = per_sweep(sizes, torch.from_numpy(X), torch.from_numpy(Y), net_kw, opts, args.sweeps)
        print(f"| {name} | {tn:.3f} | {tt:.3f} | {tt / tn:.2f} | {on:.8g} | {ot:.8g} |", flush=True)


if __name__ == "__main__":
    main()
