"""Exact lifted prediction (paper eq. 12) on the 2,000 MNIST test digits: the fast path vs
the CVXPY problem (DSL), and vs a plain forward pass, measured in the same run.

A 784-300-10 network is first trained with ``solver="fast"`` (``--sweeps`` sweeps) on the
8,000 training digits, in the paper's form (jointly convex ReLU hidden layer, simplex
output, cross-entropy; the ``joint`` fast solver) and with ``form="fenchel_hidden"``
(Fenchel-Young hidden layer; the ``bcd`` fast solver). For each it times ``forward``,
``predict(rule="lifted", solver="fast")`` and ``predict(rule="lifted", solver="cvxpy")``
(median of ``--repeat`` runs for the first two, one run for CVXPY), and reports the ratios
and the relative gap of the objective (12) between the fast and the CVXPY states. With a
Fenchel-Young hidden layer (12) is biconvex, not one convex problem: its CVXPY column is n/a.

Run:  python benchmarks/bench_predict.py [--sweeps 3] [--repeat 3] [--data PATH]
"""
import argparse
import os
import platform
import sys
import time
import warnings

import numpy as np

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.dirname(HERE))

import cvxlift  # noqa: E402
from _timing import timed  # noqa: E402

DATA = os.path.join(os.path.dirname(HERE), "..", "shared", "data", "mnist10k.npz")


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--sweeps", type=int, default=3)
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument("--data", default=DATA)
    args = ap.parse_args(argv)
    if not os.path.exists(args.data):
        sys.exit(f"bench_predict: data file {args.data} not found (pass --data)")
    d = np.load(args.data, allow_pickle=False)
    tr, te = d["is_test"] == 0, d["is_test"] == 1
    X, Y = d["images"][tr].T / 255.0, np.eye(10)[:, d["labels"][tr]]
    Xt, yt = d["images"][te].T / 255.0, d["labels"][te]
    print(f"# lifted prediction (12), 784-300-10, {Xt.shape[1]} test digits; {platform.processor() or platform.machine()}, "
          f"{os.cpu_count()} CPUs, numpy {np.__version__}; load average {os.getloadavg()[0]:.2f}")
    print(f"# command: python benchmarks/bench_predict.py {' '.join(argv if argv is not None else sys.argv[1:])}")
    print("| model | forward | lifted, fast | lifted, CVXPY | fast / forward | CVXPY / fast | objective gap | accuracy forward / lifted |")
    print("|---|---|---|---|---|---|---|---|")
    for label, form in (("paper (joint forms)", None), ("fenchel_hidden", "fenchel_hidden")):
        net = cvxlift.LiftedNetwork([784, 300, 10], "relu", loss="cross_entropy", lam=1.0, rho=8.0, form=form,
                                    random_state=0)
        net.fit(X, Y, solver="fast", max_iter=args.sweeps, tol=0, fast_options={"w_step": {"max_iter": 20}})
        tf, Pf = timed(lambda: net.predict(Xt), args.repeat)
        tl, (Pl, Sl) = timed(lambda: net.predict(Xt, rule="lifted", solver="fast", return_states=True), args.repeat)
        acc_f = np.mean(Pf.argmax(0) == yt)
        acc_l = np.mean(Pl.argmax(0) == yt)
        if net.jointly_convex:   # (12) is one convex problem: the CVXPY reference
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                t0 = time.perf_counter()
                Pc, Sc = net.predict(Xt, rule="lifted", solver="cvxpy", return_states=True)
                tc = time.perf_counter() - t0
            Fl, Fc = net.prediction_objective(Xt, Sl), net.prediction_objective(Xt, Sc)
            cvx = f"{tc:.1f} s | {tl / tf:.1f}x | {tc / tl:.0f}x | {(Fl - Fc) / max(abs(Fc), 1e-300):+.1e}"
        else:                    # biconvex: block-coordinate descent, no single CVXPY problem
            cvx = f"n/a (not every form joint) | {tl / tf:.1f}x | n/a | n/a"
        print(f"| {label} | {tf:.3f} s | {tl:.3f} s | {cvx} | {acc_f:.4f} / {acc_l:.4f} |", flush=True)


if __name__ == "__main__":
    main()
