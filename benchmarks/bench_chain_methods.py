"""Why the lifted prediction (12) uses projected Newton: the measurements behind the method table
of docs/fast-path.md, on a 784-300-100-10 network (paper form: jointly convex ReLU layers,
simplex output, cross-entropy; ``--sweeps`` training sweeps with ``solver="fast"`` on the 8,000
training digits) and the first ``--m`` test digits of ``../shared/data/mnist10k.npz``.

Reports, for the chain problem of those digits:

* iterations of the accelerated projected gradient (``joint``) to a 1e-9 certificate;
* Newton iterations per column of the projected Newton method (``newton``), from the forward
  pass and after ``k`` FISTA iterations;
* how many hidden entries of a column change between the forward pass's active set and the
  lifted solution's, and how many are binding;
* the condition number of the reduced Hessian :math:`H_{FF}` at the solution (a few columns), as
  is and with the masked exact inverse :math:`(H^{-1})_{FF}` as a preconditioner.

Run:  OPENBLAS_NUM_THREADS=1 OMP_NUM_THREADS=1 python benchmarks/bench_chain_methods.py [--m 200] [--sweeps 2]
"""

import argparse
import os
import sys

import numpy as np

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.dirname(HERE))

import cvxlift  # noqa: E402
from cvxlift.fast import chain, chain_first_order, chain_newton  # noqa: E402

DATA = os.path.join(os.path.dirname(HERE), "..", "shared", "data", "mnist10k.npz")


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--m", type=int, default=200)
    ap.add_argument("--sweeps", type=int, default=2)
    ap.add_argument("--arch", default="784-300-100-10")
    ap.add_argument("--data", default=DATA)
    args = ap.parse_args(argv)
    if not os.path.exists(args.data):
        sys.exit(f"bench_chain_methods: data file {args.data} not found (pass --data)")
    d = np.load(args.data, allow_pickle=False)
    tr, te = d["is_test"] == 0, d["is_test"] == 1
    X, Y = d["images"][tr].T / 255.0, np.eye(10)[:, d["labels"][tr]]
    Xt = d["images"][te].T[:, : args.m] / 255.0
    net = cvxlift.LiftedNetwork([int(s) for s in args.arch.split("-")], "relu", loss="cross_entropy", random_state=0)
    net.fit(X, Y, solver="fast", max_iter=args.sweeps, tol=0, fast_options={"w_step": {"max_iter": 20}})
    pb = chain.ChainProblem(net.preactivation(0, Xt), net.weights_, net.biases_, net.activations_, net.forms_, net.lam_)
    fwd = pb.forward()[:-1]
    print(f"# chain methods, {args.arch} (paper form, {args.sweeps} sweeps), {args.m} test digits")
    print(f"# command: python benchmarks/bench_chain_methods.py {' '.join(argv if argv is not None else sys.argv[1:])}")
    _, cert, it = chain_first_order.solve(pb, fwd, 1e-9, 20000)
    print(f"accelerated projected gradient (joint): {it} iterations, max certificate {cert.max():.1e}")
    for k in (0, 10, 30):
        start = fwd if k == 0 else chain_first_order.solve(pb, fwd, 1e-12, k)[0]
        stats = {}
        hidden, cert, it, _ = chain_newton.solve(pb, start, 1e-9, 100, stats=stats)
        print(
            f"projected Newton after {k:2d} FISTA iterations: {stats['column_iterations'] / args.m:.2f} "
            f"Newton iterations per column ({it} rounds), max certificate {cert.max():.1e}"
        )
    for l, (S, F) in enumerate(zip(hidden, fwd)):
        print(
            f"hidden layer {l + 1} ({S.shape[0]} units): {np.mean(np.sum((S > 0) != (F > 0), axis=0)):.1f} entries "
            f"per column change activity between the forward pass and (12); {np.mean(np.sum(S <= 0, axis=0)):.1f} "
            "binding"
        )
    op = chain_newton._Operator(pb)
    H0 = np.linalg.inv(op.Hi)
    Z = np.vstack(hidden)
    UL = pb.pre(pb.n - 1, hidden[-1])
    P = pb.envelope.state(UL)
    delta = pb.envelope.hessian(UL, P)
    iL = op.block(pb.n - 1)
    WL = net.weights_[-1]
    conds = []
    for j in range(min(6, args.m)):
        Dz = np.diag(delta[:, j])
        if pb.envelope.simplex and delta[:, j].sum() > 0:
            Dz -= np.outer(delta[:, j], delta[:, j]) / delta[:, j].sum()
        H = H0.copy()
        H[iL, iL] += WL.T @ (pb.envelope.c * (np.eye(WL.shape[0]) - Dz)) @ WL
        F = np.flatnonzero(Z[:, j] > 0)
        HF = H[np.ix_(F, F)]
        ev = np.linalg.eigvalsh(HF)
        em = np.sort(np.real(np.linalg.eigvals(np.linalg.inv(H)[np.ix_(F, F)] @ HF)))
        conds.append((ev[-1] / ev[0], em[-1] / em[0]))
    c = np.array(conds)
    print(
        f"condition number of H_FF: {c[:, 0].min():.0f} to {c[:, 0].max():.0f}; with the masked exact inverse "
        f"as preconditioner: {c[:, 1].min():.1f} to {c[:, 1].max():.1f}"
    )


if __name__ == "__main__":
    main()
