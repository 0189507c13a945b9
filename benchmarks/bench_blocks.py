"""Fast block solvers (cvxlift.fast) vs the CVXPY formulation of the same block.

A 784-300-10-like network on MNIST digits (``../shared/data/mnist10k.npz``): hidden layer of
p = 300 units, next layer of q = 10 (output) or q = 300 (a second hidden layer). For each
block and each m it times the fast solver (median of ``--repeat`` runs) and the CVXPY
problem built from the atoms' own expressions (build + solve, one run, default accuracy:
what the DSL path does), and reports the time ratio and the relative objective gap
``(F_fast - F_cvxpy) / |F_cvxpy|`` (both evaluated with the exact numpy divergences;
negative = the fast solution is better).

Run:  python benchmarks/bench_blocks.py [--m 100 1000] [--repeat 3] [--cvxpy-max-m 1000] [--timeout 300]

A CVXPY solve that runs past ``--timeout`` seconds is killed and reported as a lower
bound on the ratio (``>Nx``).

A plain script: not collected by pytest.
"""

import argparse
import multiprocessing as mp
import os
import platform
import sys
import time
import warnings

import cvxpy as cp
import numpy as np

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.dirname(HERE))

from _timing import timed  # noqa: E402

import cvxlift  # noqa: E402
from cvxlift import cvxsolve, fast  # noqa: E402
from cvxlift.fast.output import loss_value  # noqa: E402

DATA = os.path.join(os.path.dirname(HERE), "..", "shared", "data", "mnist10k.npz")


def load_digits(m, rng):
    if os.path.exists(DATA):
        d = np.load(DATA, allow_pickle=False)
        train = np.flatnonzero(d["is_test"] == 0)
        idx = rng.choice(train, size=m, replace=False)
        return d["images"][idx].T / 255.0, d["labels"][idx]
    return rng.random((784, m)), rng.integers(10, size=m)  # fallback: random pixels


def param(v):
    P = cp.Parameter(np.shape(v))
    P.value = v
    return P


def bias(b, m):
    return cp.reshape(b, (b.shape[0], 1), order="F") @ np.ones((1, m))


def cvx_run(build, pclass, get_cvx, objective, timeout):
    """Build and solve the CVXPY problem in a child process; ``None`` after ``timeout`` seconds."""
    ctx = mp.get_context("fork")
    recv, send = ctx.Pipe(duplex=False)

    def target():
        try:
            t0 = time.perf_counter()
            problem, var = build()
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                info = cvxsolve.solve(problem, pclass)
            dt = time.perf_counter() - t0
            send.send((dt, objective(get_cvx(var)), info.solver))
        except Exception as exc:  # report, do not hang
            send.send((float("nan"), float("nan"), f"error: {type(exc).__name__}: {exc}"[:80]))

    proc = ctx.Process(target=target)
    proc.start()
    out = recv.recv() if recv.poll(timeout) else None
    if proc.is_alive():
        proc.kill()
    proc.join()
    return out


def make_network(m, rng):
    X0, labels = load_digits(m, rng)
    W0 = rng.normal(size=(300, 784)) / np.sqrt(784)
    b0 = 0.1 * rng.normal(size=300)
    X1 = np.maximum(W0 @ X0 + b0[:, None], 0) + 0.05 * np.abs(rng.normal(size=(300, m)))
    W10 = rng.normal(size=(10, 300)) / np.sqrt(300)
    W300 = rng.normal(size=(300, 300)) / np.sqrt(300)
    b10, b300 = 0.1 * rng.normal(size=10), 0.1 * rng.normal(size=300)
    Y = np.eye(10)[:, labels]
    X2_10 = cvxlift.Simplex().forward(W10 @ X1 + b10[:, None] + 0.3 * rng.normal(size=(10, m)))
    X2_300 = np.maximum(W300 @ X1 + b300[:, None] + 0.3 * rng.normal(size=(300, m)), 0)
    return dict(X0=X0, W0=W0, b0=b0, X1=X1, W10=W10, b10=b10, W300=W300, b300=b300, Y=Y, X2_10=X2_10, X2_300=X2_300)


def blocks(net, m):
    relu, simplex = cvxlift.ReLU(), cvxlift.Simplex()
    U0 = net["W0"] @ net["X0"] + net["b0"][:, None]
    lam, rho = 1.0, 1e-3
    out = []

    # ---- W-steps: A = X1 (300 x m) -> q = 10 / 300; the Fenchel-Young one with each of its solvers
    for q, d, form, Z, method in (
        (10, simplex, "joint", net["X2_10"], None),
        (300, relu, "joint", net["X2_300"], None),
        (300, relu, "fenchel", net["X2_300"], "pncg"),
        (300, relu, "fenchel", net["X2_300"], "majorize"),
    ):
        A = net["X1"]

        def run_fast(A=A, Z=Z, d=d, form=form, method=method):
            return fast.w_step(A, Z, d, form, lam, rho, method=method)

        def build(A=A, Z=Z, d=d, form=form, q=q):
            W, b = cp.Variable((q, A.shape[0])), cp.Variable(q)
            obj = lam * d.divergence(W @ A + bias(b, m), param(Z), form) + rho * cp.sum_squares(W)
            return cp.Problem(cp.Minimize(obj)), (W, b)

        def objective(res, A=A, Z=Z, d=d, form=form):
            W, b = res
            return fast.w_objective(A, Z, W, b, d, form, lam, rho)

        out.append(
            (
                f"W-step p=300 q={q} {d!r} {form}" + (f" {method}" if method else ""),
                run_fast,
                lambda r: (r[0], r[1]),
                build,
                lambda v: (v[0].value, v[1].value),
                objective,
                d.problem_class(form),
            )
        )

    # ---- X-steps: Z = X1 (300 x m), prev ReLU (joint) or a smooth Fenchel-Young atom from U0,
    # next layer q = 10 / 300; the smooth ones with each solver that applies
    sigmoid = cvxlift.Sigmoid()
    for q, dp, fp, dn, fn, W, b, Zn, method in (
        (10, relu, "joint", simplex, "joint", net["W10"], net["b10"], net["X2_10"], None),
        (300, relu, "joint", relu, "joint", net["W300"], net["b300"], net["X2_300"], None),
        (10, sigmoid, "fenchel", simplex, "joint", net["W10"], net["b10"], net["X2_10"], "dual_newton_fenchel"),
        (10, sigmoid, "fenchel", simplex, "joint", net["W10"], net["b10"], net["X2_10"], "fista"),
    ):
        pb = fast.XStepProblem(U0, W, b, Zn, dp, fp, dn, fn, lam, lam)

        def run_fast(W=W, b=b, Zn=Zn, dp=dp, fp=fp, dn=dn, fn=fn, method=method):
            return fast.x_step(U0, W, b, Zn, dp, fp, dn, fn, lam, lam, method=method)

        def build(W=W, b=b, Zn=Zn, dp=dp, fp=fp, dn=dn, fn=fn):
            Z = cp.Variable((300, m))
            obj = lam * dp.divergence(param(U0), Z, fp) + lam * dn.divergence(W @ Z + bias(b, m), param(Zn), fn)
            return cp.Problem(cp.Minimize(obj)), Z

        pclass = cvxsolve.combine_classes(dp.problem_class(fp), dn.problem_class(fn))
        out.append(
            (
                f"X-step p=300 q={q} {dp!r} {fp} -> {dn!r} {fn}" + (f" {method}" if method else ""),
                run_fast,
                lambda r: r[0],
                build,
                lambda v: v.value,
                pb.objective,
                pclass,
            )
        )

    # ---- output steps: q = 10
    U2 = net["W10"] @ net["X1"] + net["b10"][:, None]
    Y = net["Y"]
    for loss, d, form in (("cross_entropy", simplex, "joint"), ("squared", relu, "joint")):

        def run_fast(loss=loss, d=d, form=form):
            return fast.output_step(U2, Y, d, form, lam, loss)

        def build(loss=loss, d=d, form=form):
            Z = cp.Variable((10, m))
            L = -cp.sum(cp.multiply(Y, cp.log(Z))) if loss == "cross_entropy" else cp.sum_squares(Z - Y)
            return cp.Problem(cp.Minimize(L + lam * d.divergence(param(U2), Z, form))), Z

        def objective(Z, loss=loss, d=d, form=form):
            Zc = np.maximum(Z, 1e-300) if loss == "cross_entropy" else Z
            return loss_value(Y, Zc, loss) + lam * float(np.sum(d.divergence_value(U2, Zc, form)))

        pclass = "EXP" if loss == "cross_entropy" else d.problem_class(form)
        out.append(
            (f"output q=10 {loss} {d!r} {form}", run_fast, lambda r: r[0], build, lambda v: v.value, objective, pclass)
        )
    return out


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--m", type=int, nargs="+", default=[100, 1000], help="numbers of data points")
    ap.add_argument("--repeat", type=int, default=3, help="fast-solver repeats (median)")
    ap.add_argument("--cvxpy-max-m", type=int, default=1000, help="skip CVXPY above this m")
    ap.add_argument("--timeout", type=float, default=300.0, help="seconds allowed to one CVXPY build + solve")
    ap.add_argument("--only", default="", help="run only blocks whose name contains this text")
    ap.add_argument("--seed", type=int, default=0)
    args = ap.parse_args(argv)

    print(
        f"# cvxlift.fast vs CVXPY -- {platform.processor() or platform.machine()}, {os.cpu_count()} CPUs, "
        f"python {platform.python_version()}, numpy {np.__version__}, cvxpy {cp.__version__}"
    )
    load = os.getloadavg()[0] if hasattr(os, "getloadavg") else float("nan")
    print(f"# load average at start: {load:.2f}; OPENBLAS_NUM_THREADS={os.environ.get('OPENBLAS_NUM_THREADS')}")
    print(f"# command: python benchmarks/bench_blocks.py {' '.join(argv if argv is not None else sys.argv[1:])}")
    header = f"{'block':52s} {'m':>5s} {'fast s':>9s} {'cvxpy s':>9s} {'ratio':>8s} {'gap':>10s}  solver / fast info"
    print(header)
    print("-" * len(header))
    for m in args.m:
        rng = np.random.default_rng(args.seed)
        net = make_network(m, rng)
        for name, run_fast, get, build, get_cvx, objective, pclass in blocks(net, m):
            if args.only and args.only not in name:
                continue
            tf, res = timed(run_fast, args.repeat)
            info = res[-1]
            F_fast = objective(get(res))
            out = cvx_run(build, pclass, get_cvx, objective, args.timeout) if m <= args.cvxpy_max_m else "skip"
            if out is None:
                ratio, gap, tcs, solver = (
                    f">{args.timeout / tf:7.0f}x",
                    f"{'-':>10s}",
                    f">{args.timeout:8.0f}",
                    "timeout",
                )
            elif out != "skip":
                tc, F_cvx, solver = out
                ratio = f"{tc / tf:8.0f}x"
                gap = f"{(F_fast - F_cvx) / abs(F_cvx):+10.1e}"
                tcs = f"{tc:9.3f}"
            else:
                ratio, gap, tcs, solver = f"{'-':>9s}", f"{'-':>10s}", f"{'-':>9s}", "-"
            print(
                f"{name:52s} {m:5d} {tf:9.4f} {tcs} {ratio} {gap}  {solver} / {info.solver} it={info.iterations} "
                f"cert={info.certificate:.1e}",
                flush=True,
            )


if __name__ == "__main__":
    main()
