"""One lifted training run through the benchmark driver, with test and training accuracy and the
lifted objective after every sweep: the tool behind the accuracy exploration in
``docs/benchmarks.md`` (784-300-10 and 784-300-100-10 on the 8,000 MNIST training digits,
Fenchel-Young ReLU hidden layers, simplex output, cross-entropy).

Run:  OPENBLAS_NUM_THREADS=1 python benchmarks/explore_lifted.py [--arch 300] [--lam 1] [--rho 4,0.5]
      [--sweeps 24] [--w-iter 3] [--extrapolate 0.8] [--grow G,CAP] [--seed 0] [--data PATH]

``--lam`` and ``--rho`` take one value or one per layer; ``--grow G,CAP`` multiplies the hidden
layers' lambda by G after every sweep up to CAP (continuation); ``--extrapolate`` is the inertia
of ``_bcd.LiftedBCD``. Times exclude the evaluation.
"""

import argparse
import os
import sys

import numpy as np

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.dirname(HERE))
sys.path.insert(0, HERE)

from _bcd import LiftedBCD, run  # noqa: E402

DATA = os.path.join(os.path.dirname(HERE), "..", "shared", "data", "mnist10k.npz")


def per_layer(text, n):
    values = [float(v) for v in text.split(",")]
    if len(values) not in (1, n):
        sys.exit(f"explore_lifted: give one value or {n} (one per layer), got {text!r}")
    return values * n if len(values) == 1 else values


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--arch", default="300")
    ap.add_argument("--lam", default="1")
    ap.add_argument("--rho", default="4,0.5")
    ap.add_argument("--sweeps", type=int, default=24)
    ap.add_argument("--w-iter", type=int, default=3)
    ap.add_argument("--extrapolate", type=float, default=0.0)
    ap.add_argument("--grow", default="")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--data", default=DATA)
    args = ap.parse_args(argv)
    if not os.path.exists(args.data):
        sys.exit(f"explore_lifted: data file {args.data} not found (pass --data)")
    d = np.load(args.data, allow_pickle=False)
    tr, te = d["is_test"] == 0, d["is_test"] == 1
    X, Y = d["images"][tr].T / 255.0, np.eye(10)[:, d["labels"][tr]]
    Xt, yt = d["images"][te].T / 255.0, d["labels"][te]
    arch = [int(v) for v in args.arch.split("-")]
    n = len(arch) + 1
    lam, rho = per_layer(args.lam, n), per_layer(args.rho, n)
    model = LiftedBCD(
        [784, *arch, 10], lam=lam, rho=rho, seed=args.seed, w_iter=args.w_iter, extrapolate=args.extrapolate
    )
    schedule = None
    if args.grow:
        g, cap = (float(v) for v in args.grow.split(","))
        schedule = lambda k: [min(v * g**k, cap) for v in lam[:-1]] + [lam[-1]]  # noqa: E731
    print(f"# command: python benchmarks/explore_lifted.py {' '.join(argv if argv is not None else sys.argv[1:])}")
    print("| sweep | seconds | test accuracy | train accuracy | objective |")
    print("|---|---|---|---|---|")
    ytr = np.argmax(Y, axis=0)

    def evaluate(mdl):
        return mdl.accuracy(Xt, yt), mdl.accuracy(X, ytr), mdl.net.objective(X, Y, mdl.states)

    def show(k, clock, value):
        print(f"| {k} | {clock:.1f} | {value[0]:.4f} | {value[1]:.4f} | {value[2]:.6g} |", flush=True)

    curve = run(model, X, Y, args.sweeps, evaluate=evaluate, lam_schedule=schedule, report=show)
    best = max(range(len(curve)), key=lambda k: curve[k][1][0])
    print(f"final test accuracy {curve[-1][1][0]:.4f}; best {curve[best][1][0]:.4f} after sweep {best + 1}")


if __name__ == "__main__":
    main()
