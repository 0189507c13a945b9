"""Exact lifted prediction (paper eq. 12) on the 2,000 MNIST test digits, at two and three hidden
layers: the fast path vs a plain forward pass and vs the CVXPY problem, measured in the same run;
and the fast joint X-step vs the CVXPY block ``JointXStep``.

Each network is first trained briefly with ``solver="fast"`` on the 8,000 training digits
(``--sweeps`` sweeps, ReLU hidden layers, simplex output, cross-entropy), in the paper's form
(every layer jointly convex) and with ``form="fenchel_hidden"`` (Fenchel-Young hidden layers).
For each it reports

* ``forward``: the forward pass on the 2,000 test digits (median of ``--repeat`` runs);
* ``lifted, fast``: :func:`cvxlift.fast.lifted_predict` on the same digits (median), the
  solver the registry chose, the largest per-column certificate and the columns finished by
  a fallback method;
* ``CVXPY`` (jointly convex models only): ``predict(rule="lifted", solver="cvxpy")`` on the
  first ``--cvxpy-cols`` test digits (one run; the chunked ``Prediction`` block) against the
  fast solver on the same digits (median), and the relative gap of the objective (12),
  both evaluated with the atoms' exact numpy values;
* how many test digits the lifted and the forward rules classify differently, and both
  accuracies.

With Fenchel-Young hidden layers (12) is biconvex: there is no single CVXPY problem, and the
fast solver returns a certified stationary point (block-wise minimiser), see docs/fast-path.md.

Last, the joint X-step on the first ``--xstep-cols`` training digits of the trained
784-300-100-10 (paper form): :func:`cvxlift.fast.joint_x_step` (median) against the CVXPY block
``JointXStep`` solved chunk by chunk (one run; small chunks: with the default DPP budget,
63 columns per chunk, CVXPY asks for 29.5 GiB), with the objective gap.

Run:  OPENBLAS_NUM_THREADS=1 OMP_NUM_THREADS=1 python benchmarks/bench_predict.py \\
          [--sweeps 2] [--repeat 3] [--cvxpy-cols 200] [--xstep-cols 1000] [--archs 784-300-100-10 ...]
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

from _timing import timed  # noqa: E402

import cvxlift  # noqa: E402
from cvxlift import fast  # noqa: E402
from cvxlift.training.cvxpy_backend import CvxpyBackend  # noqa: E402

DATA = os.path.join(os.path.dirname(HERE), "..", "shared", "data", "mnist10k.npz")
ARCHS = ("784-300-100-10", "784-500-200-100-10")
FORMS = (("paper (joint forms)", None), ("fenchel_hidden", "fenchel_hidden"))


def lifted(net, X, **kw):
    return fast.lifted_predict(X, net.weights_, net.biases_, net.activations_, net.forms_, net.lam_, **kw)


def rel_gap(a, b):
    return (a - b) / max(abs(b), 1e-300)


def bench_prediction(net, Xt, yt, args):
    tf, states_f = timed(lambda: net.forward(Xt), args.repeat)
    tl, (Sl, info) = timed(lambda: lifted(net, Xt, evaluate=False), args.repeat)
    Pf, Pl = states_f[-1], Sl[-1]
    row = dict(
        forward=tf,
        fast=tl,
        info=info,
        disagree=int(np.sum(Pf.argmax(0) != Pl.argmax(0))),
        acc_f=float(np.mean(Pf.argmax(0) == yt)),
        acc_l=float(np.mean(Pl.argmax(0) == yt)),
    )
    if net.jointly_convex:  # (12) is one convex problem: the CVXPY reference on a subset
        Xs = Xt[:, : args.cvxpy_cols]
        ts, (Ss, _) = timed(lambda: lifted(net, Xs, evaluate=False), args.repeat)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            t0 = time.perf_counter()
            _, Sc = net.predict(Xs, rule="lifted", solver="cvxpy", return_states=True)
            tc = time.perf_counter() - t0
        gap = rel_gap(net.prediction_objective(Xs, Ss), net.prediction_objective(Xs, Sc))
        row.update(cvxpy=tc, fast_sub=ts, gap=gap)
    return row


def bench_joint_x_step(net, X, Y, chunk_budget):
    U0 = net.preactivation(0, X)
    args = (U0, Y, net.weights_, net.biases_, net.activations_, net.forms_, net.lam_, "cross_entropy")
    tf, (Sf, info) = timed(lambda: fast.joint_x_step(*args), 3)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        t0 = time.perf_counter()
        Sc, _ = CvxpyBackend(chunk_budget=chunk_budget).joint_x_step(net, U0, Y)
        tc = time.perf_counter() - t0
    from cvxlift.fast.chain import ChainProblem

    pb = ChainProblem(U0, net.weights_, net.biases_, net.activations_, net.forms_, net.lam_, loss="cross_entropy", Y=Y)
    return tf, tc, info, rel_gap(pb.objective(Sf), pb.objective(Sc))


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--sweeps", type=int, default=2)
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument("--cvxpy-cols", type=int, default=200)
    ap.add_argument("--xstep-cols", type=int, default=1000, help="0 skips the joint X-step comparison")
    ap.add_argument(
        "--xstep-chunk-budget",
        type=int,
        default=63000,
        help="DPP budget of the CVXPY JointXStep chunks (63000: 2 columns of 784-300-100-10; "
        "the default budget asks CVXPY for 29.5 GiB)",
    )
    ap.add_argument("--archs", nargs="+", default=list(ARCHS))
    ap.add_argument("--forms", nargs="+", default=[f[0] for f in FORMS], choices=[f[0] for f in FORMS])
    ap.add_argument("--data", default=DATA)
    args = ap.parse_args(argv)
    if not os.path.exists(args.data):
        sys.exit(f"bench_predict: data file {args.data} not found (pass --data)")
    d = np.load(args.data, allow_pickle=False)
    tr, te = d["is_test"] == 0, d["is_test"] == 1
    X, Y = d["images"][tr].T / 255.0, np.eye(10)[:, d["labels"][tr]]
    Xt, yt = d["images"][te].T / 255.0, d["labels"][te]
    print(
        f"# lifted prediction (12), {Xt.shape[1]} test digits; {platform.processor() or platform.machine()}, "
        f"{os.cpu_count()} CPUs, numpy {np.__version__}; load average {os.getloadavg()[0]:.2f}"
    )
    print(f"# command: python benchmarks/bench_predict.py {' '.join(argv if argv is not None else sys.argv[1:])}")
    print(
        "| architecture | model | forward | lifted, fast | fast / forward "
        f"| solver (max certificate, fallback columns) | CVXPY, {args.cvxpy_cols} digits | CVXPY / fast "
        "| objective gap | lifted != forward | accuracy forward / lifted |"
    )
    print("|---|---|---|---|---|---|---|---|---|---|---|")
    trained = {}
    for arch in args.archs:
        sizes = [int(s) for s in arch.split("-")]
        for label, form in FORMS:
            if label not in args.forms:
                continue
            net = cvxlift.LiftedNetwork(sizes, "relu", loss="cross_entropy", form=form, random_state=0)
            t0 = time.perf_counter()
            net.fit(X, Y, solver="fast", max_iter=args.sweeps, tol=0, fast_options={"w_step": {"max_iter": 20}})
            train = time.perf_counter() - t0
            trained[(arch, label)] = net
            r = bench_prediction(net, Xt, yt, args)
            info = r["info"]
            solver = f"{info.solver.split('/')[-1]} ({info.certificate:.1e}, {info.n_fallback})"
            if "cvxpy" in r:
                cvx = f"{r['cvxpy']:.2f} s | {r['cvxpy'] / r['fast_sub']:.0f}x | {r['gap']:+.1e}"
            else:
                cvx = "n/a (biconvex) | n/a | n/a"
            print(
                f"| {arch} | {label} | {r['forward']:.3f} s | {r['fast']:.3f} s "
                f"| **{r['fast'] / r['forward']:.1f}x** | {solver} | {cvx} | {r['disagree']} / {Xt.shape[1]} "
                f"| {r['acc_f']:.4f} / {r['acc_l']:.4f} |",
                flush=True,
            )
            print(f"#   trained in {train:.1f} s ({args.sweeps} sweeps)", flush=True)
    key = ("784-300-100-10", "paper (joint forms)")
    if args.xstep_cols and key in trained:
        m = args.xstep_cols
        tf, tc, info, gap = bench_joint_x_step(trained[key], X[:, :m], Y[:, :m], args.xstep_chunk_budget)
        print(
            f"\n# joint X-step, 784-300-100-10 (paper form), cross-entropy, m = {m} training digits; CVXPY in "
            f"chunks of DPP budget {args.xstep_chunk_budget}"
        )
        print(
            "| block | m | fast | CVXPY (JointXStep, chunked) | CVXPY / fast | objective gap "
            "| solver, iterations, max certificate |"
        )
        print("|---|---|---|---|---|---|---|")
        print(
            f"| joint X-step | {m} | {tf:.3f} s | {tc:.1f} s | **{tc / tf:.0f}x** | {gap:+.1e} | "
            f"{info.solver.split('/')[-1]}, {info.iterations}, {info.certificate:.1e} |",
            flush=True,
        )


if __name__ == "__main__":
    main()
