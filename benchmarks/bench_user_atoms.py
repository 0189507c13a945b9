"""User-declared atoms on the fast path (issue 11): training 784-300-10 on the MNIST digits and
per-block comparisons with the CVXPY formulation.

The atoms are those of ``examples/user_atoms.py``: ``steep_hard_sigmoid`` (Fenchel-Young,
Lipschitz constant 2), ``softplus_exact`` (a numeric Fenchel-Young declaration: no CVXPY),
``hard_sigmoid_joint`` (jointly convex, quadratic in u) and ``elastic_hard_sigmoid`` (jointly
convex, nonsmooth in u). Each is verified first (``cvxlift.verify``, which also certifies a user prox); the
built-in ReLU in the same form is the reference.

Part 1, training (``--m``, default 8,000 training digits; test on the 2,000 test digits):
``LiftedNetwork([784, 300, 10], atom, loss="cross_entropy", form=[form, "joint"], lam=1, rho)``
with ``solver="fast"``, ``--sweeps`` sweeps, ``fast_options={"w_step": {"max_iter": --inner}}``
and the X-step schedule ``--xstep`` (default ``cyclic``: the hidden X-step, then the output
step) for every atom alike. ``cvxlift.cvxsolve.solve`` is replaced by a counter during the fit, so
"CVXPY blocks" counts every block that went to CVXPY. Sweep time: median over the sweeps after
the first (timed between callbacks, everything ``fit`` does included). "monotone": the
objective history never rises; "rejected": ``len(block_info_["rejected"])``.

Part 2, blocks at ``--block-m`` (default 1,000) data points, as ``bench_blocks.py``: a hidden
layer of p = 300 inputs; the W-step (q = 300) and the X-step into the simplex output layer
(q = 10) of each atom, fast solver (median of ``--repeat``) against the CVXPY problem built
from the atom's own expressions (build + solve, one run in a child process killed after
``--timeout`` s). "gap" is ``(F_fast - F_cvxpy) / |F_cvxpy|`` with both objectives evaluated by
the exact numpy divergences (negative: the fast solution is better).

Run (one BLAS thread, as every benchmark here):
    OPENBLAS_NUM_THREADS=1 OMP_NUM_THREADS=1 python benchmarks/bench_user_atoms.py
Options: --m 8000 --sweeps 6 --inner 20 --rho 8 --xstep cyclic --block-m 1000 --repeat 3 --timeout 300
--skip-train --skip-blocks
--rejected (also train ``omega``, which verify rejects) --only NAME [NAME ...] --selected-only (blocks: no
"admm, not selected" rows) --kinds w x (blocks: W- and/or X-steps)
"""

import argparse
import os
import platform
import runpy
import statistics
import sys
import time
import warnings

import cvxpy as cp
import numpy as np

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)
sys.path.insert(0, ROOT)
sys.path.insert(0, HERE)

from _timing import timed  # noqa: E402
from bench_blocks import bias, cvx_run  # noqa: E402

import cvxlift  # noqa: E402
from cvxlift import cvxsolve, fast  # noqa: E402

DATA = os.path.join(ROOT, "..", "shared", "data", "mnist10k.npz")
_NS = runpy.run_path(os.path.join(ROOT, "examples", "user_atoms.py"), run_name="user_atoms")
USER = dict(_NS["ATOMS"], **_NS["REJECTED"])
#: (atom, form) trained, with the built-in reference of the same form.
CASES = [
    ("steep_hard_sigmoid", "fenchel"),
    ("softplus_exact", "fenchel"),
    ("relu", "fenchel"),
    ("hard_sigmoid_joint", "joint"),
    ("elastic_hard_sigmoid", "joint"),
    ("relu", "joint"),
]
#: Trained with ``--rejected``: an atom verify rejects (its ``zero`` row), to show why.
REJECTED = [("omega", "joint")]


def atom(name):
    return USER[name]() if name in USER else cvxlift.get_divergence(name)


def load(m):
    if not os.path.exists(DATA):
        sys.exit(f"bench_user_atoms: data file {DATA} not found")
    d = np.load(DATA, allow_pickle=False)
    tr = np.flatnonzero(d["is_test"] == 0)[:m]
    te = np.flatnonzero(d["is_test"] == 1)
    onehot = np.eye(10)
    return (
        d["images"][tr].T / 255.0,
        onehot[:, d["labels"][tr]],
        d["images"][te].T / 255.0,
        onehot[:, d["labels"][te]],
    )


def certified(d):
    """Verify a user atom (which certifies its numpy prox); the built-ins need nothing."""
    if not hasattr(d, "declared_facts"):
        return True, 0.0
    report = cvxlift.verify(d)
    return report.passed, report.seconds


def train(name, form, X, Y, Xt, Yt, args):
    d = atom(name)
    ok, vsec = certified(d)
    calls = []
    real_solve = cvxsolve.solve

    def counting_solve(problem, *a, **k):
        calls.append(k.get("block", "?"))
        return real_solve(problem, *a, **k)

    net = cvxlift.LiftedNetwork(
        [784, args.hidden, 10], d, loss="cross_entropy", form=[form, "joint"], lam=1.0, rho=args.rho, random_state=0
    )
    marks = [time.perf_counter()]

    def callback(net_, sweep, obj):
        marks.append(time.perf_counter())

    cvxsolve.solve = counting_solve
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            net.fit(
                X,
                Y,
                solver="fast",
                max_iter=args.sweeps,
                tol=0,
                callback=callback,
                xstep=args.xstep,
                fast_options={"w_step": {"max_iter": args.inner}},
            )
    finally:
        cvxsolve.solve = real_solve
    sweeps = np.diff(marks)
    h = np.asarray(net.history_)
    monotone = bool(np.all(np.diff(h) <= 1e-12 * np.maximum(1.0, np.abs(h[:-1]))))
    solvers = {k: v.solver.split("/")[1] for k, v in net.block_info_.items() if hasattr(v, "solver")}
    return dict(
        atom=name,
        form=form,
        verified=ok,
        verify_s=vsec,
        sweep=statistics.median(sweeps[1:]) if sweeps.size > 1 else sweeps[0],
        first=sweeps[0],
        cvxpy=len(calls),
        monotone=monotone,
        rejected=len(net.block_info_.get("rejected", [])),
        objective=h[-1],
        acc=net.score(Xt, Yt),
        solvers=solvers,
    )


def pinned(value):
    """A CVXPY variable fixed to ``value`` by an equality constraint: the data enter the problem
    without Parameters (a user's ``indicator`` on parameters alone, or a nonlinear expression of
    them, makes CVXPY's parameter canonicalisation ask for tens of GiB at m = 200) and without
    constants inside ``indicator`` (which CVXPY cannot canonicalise)."""
    v = cp.Variable(np.shape(value))
    return v, [v == value]


def block_cases(name, form, m, rng, X0, alternatives=True):
    """(label, run_fast, result getter, CVXPY builder, CVXPY getter, objective, problem class)."""
    d = atom(name)
    certified(d)
    simplex = cvxlift.Simplex()
    lam, rho = 1.0, 1e-3
    W0 = rng.normal(size=(300, 784)) / np.sqrt(784)
    b0 = 0.1 * rng.normal(size=300)
    U0 = W0 @ X0 + b0[:, None]
    X1 = d.forward(U0 + 0.3 * rng.normal(size=U0.shape))  # states of the atom's layer
    Wh = rng.normal(size=(300, 300)) / np.sqrt(300)
    bh = 0.1 * rng.normal(size=300)
    Z2 = d.forward(Wh @ X1 + bh[:, None] + 0.3 * rng.normal(size=(300, m)))
    W10 = rng.normal(size=(10, 300)) / np.sqrt(300)
    b10 = 0.1 * rng.normal(size=10)
    X2 = simplex.forward(W10 @ X1 + b10[:, None] + 0.3 * rng.normal(size=(10, m)))
    out = []

    def run_w():
        return fast.w_step(X1, Z2, d, form, lam, rho)

    def build_w():
        W, b = cp.Variable((300, 300)), cp.Variable(300)
        U = W @ X1 + bias(b, m)
        if form == "fenchel":  # Phi(Z) is a constant: D = Phi*(U) - <U, Z> + const
            obj = lam * (d.phi_star(U) - d.coupling(U, Z2)) + rho * cp.sum_squares(W)
            return cp.Problem(cp.Minimize(obj)), (W, b)
        Zp, fix = pinned(Z2)
        obj = lam * d.divergence(U, Zp, form) + rho * cp.sum_squares(W)
        return cp.Problem(cp.Minimize(obj), fix), (W, b)

    out.append(
        (
            f"W-step p=300 q=300 {name} {form}",
            run_w,
            lambda r: (r[0], r[1]),
            build_w,
            lambda v: (v[0].value, v[1].value),
            lambda res: fast.w_objective(X1, Z2, res[0], res[1], d, form, lam, rho),
            d.problem_class(form),
            d.has_dsl(form),
        )
    )
    props = fast.atom_props(d, form)
    if alternatives and fast.select("w_step", atom=props).name != "admm" and props.u_prox in ("exact", "numeric"):
        # the other W-step that applies (a nonsmooth-capable one), for comparison
        def run_admm():
            return fast.w_step(X1, Z2, d, form, lam, rho, method="admm", tol=1e-9, max_iter=2000, evaluate=False)

        out.append(
            (
                f"W-step p=300 q=300 {name} {form} (admm, not selected)",
                run_admm,
                lambda r: (r[0], r[1]),
                None,
                None,
                lambda res: fast.w_objective(X1, Z2, res[0], res[1], d, form, lam, rho),
                None,
                False,
            )
        )
    pb = fast.XStepProblem(U0, W10, b10, X2, d, form, simplex, "joint", lam, lam)

    def run_x():
        return fast.x_step(U0, W10, b10, X2, d, form, simplex, "joint", lam, lam)

    def build_x():
        Z = cp.Variable((300, m))
        Xp, fix = pinned(X2)
        if form == "fenchel":  # Phi*(U0) is a constant: D = Phi(Z) - <U0, Z> + const
            prev = d.phi(Z) - d.coupling(U0, Z)
        else:
            Up, fix_u = pinned(U0)
            prev, fix = d.divergence(Up, Z, form), fix + fix_u
        obj = lam * prev + lam * simplex.divergence(W10 @ Z + bias(b10, m), Xp, "joint")
        return cp.Problem(cp.Minimize(obj), fix), Z

    out.append(
        (
            f"X-step p=300 {name} {form} -> Simplex joint (q=10)",
            run_x,
            lambda r: r[0],
            build_x,
            lambda v: v.value,
            pb.objective,
            cvxsolve.combine_classes(d.problem_class(form), "QP"),
            d.has_dsl(form),
        )
    )
    return out


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--m", type=int, default=8000)
    ap.add_argument("--hidden", type=int, default=300)
    ap.add_argument("--sweeps", type=int, default=6)
    ap.add_argument("--inner", type=int, default=20, help="iterations of an iterative W-step per sweep")
    ap.add_argument("--rho", type=float, default=8.0)
    ap.add_argument(
        "--xstep",
        choices=("cyclic", "auto", "joint"),
        default="cyclic",
        help="fit's X-step schedule (cyclic: the hidden X-step, then the output step)",
    )
    ap.add_argument("--block-m", type=int, default=1000)
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument("--timeout", type=float, default=300.0)
    ap.add_argument("--skip-train", action="store_true")
    ap.add_argument("--skip-blocks", action="store_true")
    ap.add_argument(
        "--selected-only", action="store_true", help="blocks: only the selected solvers (no 'admm, not selected' rows)"
    )
    ap.add_argument("--kinds", nargs="+", choices=("w", "x"), default=["w", "x"], help="blocks: W- and/or X-steps")
    ap.add_argument("--only", nargs="*", default=[], help="run only the atoms whose name contains one of these")
    ap.add_argument("--rejected", action="store_true", help="also train the atoms verify rejects (no blocks)")
    args = ap.parse_args(argv)
    print(
        f"# user atoms on the fast path -- {platform.processor() or platform.machine()}, {os.cpu_count()} CPUs, "
        f"numpy {np.__version__}, cvxpy {cp.__version__}; load average {os.getloadavg()[0]:.2f}; "
        f"OPENBLAS_NUM_THREADS={os.environ.get('OPENBLAS_NUM_THREADS')}"
    )
    print(f"# command: python benchmarks/bench_user_atoms.py {' '.join(argv if argv is not None else sys.argv[1:])}")
    cases = [
        c for c in CASES + (REJECTED if args.rejected else []) if not args.only or any(o in c[0] for o in args.only)
    ]
    if not args.skip_train:
        X, Y, Xt, Yt = load(args.m)
        print(f"\n## training 784-{args.hidden}-10 on {X.shape[1]} digits, {args.sweeps} sweeps, test on {Xt.shape[1]}")
        print(
            "| atom | form | verify | solver per block | sweep | vs ReLU | CVXPY blocks | monotone | rejected | "
            "objective | test accuracy |"
        )
        print("|---|---|---|---|---|---|---|---|---|---|---|")
        rows = []
        for name, form in cases:
            rows.append(train(name, form, X, Y, Xt, Yt, args))
            print(f"# trained {name} ({form}): sweep {rows[-1]['sweep']:.2f} s", file=sys.stderr, flush=True)
        ref = {r["form"]: r["sweep"] for r in rows if r["atom"] == "relu"}
        for r in rows:
            blocks = ", ".join(f"{k} {v}" for k, v in sorted(r["solvers"].items()))
            vs = f"{r['sweep'] / ref[r['form']]:.2f}x" if r["form"] in ref else "-"
            ver = (
                "built-in"
                if r["atom"] == "relu"
                else ("PASSED" if r["verified"] else "**FAILED**") + f" ({r['verify_s']:.0f} s)"
            )
            print(
                f"| {r['atom']} | {r['form']} | {ver} | {blocks} | {r['sweep']:.2f} s | {vs} | {r['cvxpy']} | "
                f"{r['monotone']} | {r['rejected']} | {r['objective']:.6g} | {r['acc']:.4f} |",
                flush=True,
            )
    if not args.skip_blocks:
        m = args.block_m
        rng = np.random.default_rng(0)
        d0 = np.load(DATA, allow_pickle=False)
        X0 = d0["images"][np.flatnonzero(d0["is_test"] == 0)[:m]].T / 255.0
        print(
            f"\n## blocks at m = {m} (fast: median of {args.repeat}; CVXPY: build + solve, killed after "
            f"{args.timeout:.0f} s)"
        )
        print("| block | fast | CVXPY (solver) | ratio | gap | fast solver, iterations, certificate |")
        print("|---|---|---|---|---|---|")
        for name, form in cases:
            if name == "relu" or (name, form) in REJECTED:
                continue
            for label, run_fast, get, build, get_cvx, objective, pclass, dsl in block_cases(
                name, form, m, rng, X0, alternatives=not args.selected_only
            ):
                if label[0].lower() not in args.kinds:
                    continue
                tf, res = timed(run_fast, args.repeat)
                info = res[-1]
                F_fast = objective(get(res))
                if build is None:
                    cvx, ratio, gap = "(see the row above)", "-", "-"
                elif not dsl:
                    cvx, ratio, gap = "n/a (no CVXPY declaration)", "n/a", "n/a"
                else:
                    out = cvx_run(build, pclass, get_cvx, objective, args.timeout)
                    if out is None:
                        cvx, ratio, gap = f"> {args.timeout:.0f} s (killed)", f"> {args.timeout / tf:.0f}x", "-"
                    elif np.isnan(out[0]):
                        cvx, ratio, gap = out[2], "-", "-"
                    else:
                        cvx = f"{out[0]:.3g} s ({out[2]})"
                        ratio = f"**{out[0] / tf:.0f}x**"
                        gap = f"{(F_fast - out[1]) / abs(out[1]):+.1e}"
                print(
                    f"| {label} | {tf:.4f} s | {cvx} | {ratio} | {gap} | {info.solver.split('/')[1]}, "
                    f"{info.iterations}, {info.certificate:.1e} |",
                    flush=True,
                )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
