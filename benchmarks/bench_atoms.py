"""Sweeps of a small regression with each smooth hidden atom against ReLU, in one run.

A 10-100-1 lifted network (Fenchel-Young hidden layer, identity output, squared loss,
lambda 1, rho = 1e-3 per sample, the W-step capped at 20 iterations as in the estimators) on
200 random samples with 10 features (target: a sine of the first feature plus noise),
``--sweeps`` sweeps of ``fit(solver="fast")`` per hidden atom. For the smooth atoms (sigmoid,
tanh, sine) it also runs the X-step that they got before (``fista``, forced with
``fast_options={"x_step": {"method": "fista"}}``; for ReLU the former W-step, ``majorize``) and
times their prox, the safeguarded Newton
iteration against the bisection it replaces, on a 100 x 200 array at t = 1.

Run:  OPENBLAS_NUM_THREADS=1 python benchmarks/bench_atoms.py [--sweeps 200] [--m 200] [--hidden 100]
"""

import argparse
import os
import platform
import sys
import time

import numpy as np
from scipy.special import expit

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.dirname(HERE))

import cvxlift  # noqa: E402
from cvxlift.numeric import bisect_increasing  # noqa: E402

ATOMS = ("relu", "sigmoid", "tanh", "sin")

#: the bisections the Newton proxes replaced (entropy.py / sine.py before), for the timing only
BISECTION = {
    "sigmoid": lambda w, t: expit(bisect_increasing(lambda s: s + (expit(s) - w) / t, (w - 1) / t, w / t)),
    "tanh": lambda w, t: np.tanh(bisect_increasing(lambda s: s + (np.tanh(s) - w) / t, (w - 1) / t, (w + 1) / t)),
    "sin": lambda w, t: bisect_increasing(
        lambda z: np.arcsin(z) + (z - w) / t, np.full(w.shape, -1.0), np.full(w.shape, 1.0)
    ),
}


def fit_time(atom, X, Y, hidden, sweeps, x_method=None, w_method=None):
    m = X.shape[1]
    net = cvxlift.LiftedNetwork(
        [X.shape[0], hidden, 1], atom, loss="squared", lam=1.0, rho=1e-3 * m, form="fenchel_hidden", random_state=0
    )
    options = {"w_step": {"max_iter": 20}}
    if x_method:
        options["x_step"] = {"method": x_method}
    if w_method:
        options["w_step"]["method"] = w_method
    t0 = time.perf_counter()
    net.fit(X, Y, solver="fast", max_iter=sweeps, tol=0, fast_options=options)
    dt = time.perf_counter() - t0
    solvers = ", ".join(f"{k} {v.solver}" for k, v in sorted(net.block_info_.items()) if hasattr(v, "solver"))
    return dt, net.history_[-1], solvers


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--sweeps", type=int, default=200)
    ap.add_argument("--m", type=int, default=200)
    ap.add_argument("--hidden", type=int, default=100)
    ap.add_argument("--old-sweeps", type=int, default=20, help="sweeps of the runs with the former X-step (fista)")
    args = ap.parse_args(argv)
    rng = np.random.default_rng(0)
    X = rng.normal(size=(10, args.m))
    Y = np.sin(X[:1]) + 0.1 * rng.normal(size=(1, args.m))
    print(
        f"# 10-{args.hidden}-1 regression, m = {args.m}; {platform.processor() or platform.machine()}, "
        f"{os.cpu_count()} CPUs, numpy {np.__version__}; load average {os.getloadavg()[0]:.2f}"
    )
    print(f"# command: python benchmarks/bench_atoms.py {' '.join(argv if argv is not None else sys.argv[1:])}")
    print("| hidden atom | X-step | sweeps | seconds | per sweep | vs ReLU | final objective | solvers |")
    print("|---|---|---|---|---|---|---|---|")
    base = None
    for atom in ATOMS:
        dt, obj, solvers = fit_time(atom, X, Y, args.hidden, args.sweeps)
        per = dt / args.sweeps
        base = per if base is None else base
        print(
            f"| {atom} | default | {args.sweeps} | {dt:.2f} | {1e3 * per:.1f} ms | {per / base:.2f}x | {obj:.6g} | "
            f"{solvers} |",
            flush=True,
        )
        if atom == "relu":
            dt, obj, _ = fit_time(atom, X, Y, args.hidden, args.sweeps, w_method="majorize")
            per = dt / args.sweeps
            print(
                f"| {atom} | default, W-step majorize (before) | {args.sweeps} | {dt:.2f} | {1e3 * per:.1f} ms | "
                f"{per / base:.2f}x | {obj:.6g} | |",
                flush=True,
            )
        if atom != "relu" and args.old_sweeps:
            dt, obj, _ = fit_time(atom, X, Y, args.hidden, args.old_sweeps, x_method="fista")
            per = dt / args.old_sweeps
            print(
                f"| {atom} | fista (before) | {args.old_sweeps} | {dt:.2f} | {1e3 * per:.1f} ms | "
                f"{per / base:.2f}x | {obj:.6g} | |",
                flush=True,
            )
    print()
    print("| atom | prox, Newton | prox, bisection | ratio | max difference |")
    print("|---|---|---|---|---|")
    w = 3.0 * rng.normal(size=(args.hidden, args.m))
    for atom in ("sigmoid", "tanh", "sin"):
        d = cvxlift.divergences.get_divergence(atom)
        times = {}
        for name, fn in (("newton", d.prox_phi), ("bisection", BISECTION[atom])):
            fn(w, 1.0)
            t0 = time.perf_counter()
            for _ in range(5):
                z = fn(w, 1.0)
            times[name] = ((time.perf_counter() - t0) / 5, z)
        (tn, zn), (tb, zb) = times["newton"], times["bisection"]
        print(f"| {atom} | {1e3 * tn:.2f} ms | {1e3 * tb:.2f} ms | {tb / tn:.1f}x | {np.max(np.abs(zn - zb)):.1e} |")


if __name__ == "__main__":
    main()
