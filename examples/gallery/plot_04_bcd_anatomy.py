r"""
# Anatomy of one BCD sweep on MNIST digits

One sweep of block-coordinate descent for a lifted 784-32-10 network (the paper's model: ReLU
hidden layer in the jointly convex form, cross-entropy with a simplex output layer) on 200 real MNIST digits from
the sample that ships with cvxlift (`cvxlift.datasets.load_mnist_sample`, no download).
Every block of the sweep is solved twice from the same state: by the hand-coded fast
solver that `fit(solver="fast")` uses (`cvxlift.fast`), and by the block's CVXPY problem.
For each block: how much it
lowers the lifted objective (10), how long each solver takes, and how far apart the two
solutions' objectives are.

The blocks of a sweep, in the order `fit` runs them, with $U_l = W_lX_l + b_l\mathbf 1^\top$:

| block | problem | fast solver |
|---|---|---|
| W0, W1 | $\min_{W,b}\ \lambda D(WX_l + b\mathbf 1^\top, X_{l+1}) + \rho\|W\|_F^2$ | ridge, one Cholesky factor |
| X1 | $\min_Z\ \lambda D_0(U_0, Z) + \lambda D_1(W_1Z + b_1\mathbf 1^\top, X_2)$ (eq. 13) | dual Newton |
| output | $\min_Z\ \mathcal L(Y, Z) + \lambda D_1(U_1, Z)$ (eq. 14/15) | bisection (Appendix A) |
"""

# %%
# ## The network and its state
#
# One fast sweep first (`fit(..., max_iter=1, xstep="cyclic")`: the block schedule of this page),
# so that the sweep below starts from a realistic state rather than from the initialisation.
import sys
import time
import warnings

import cvxpy as cp
import matplotlib.pyplot as plt
import numpy as np

import cvxlift
from cvxlift import fast
from cvxlift.cvxsolve import solve
from cvxlift.datasets import load_mnist_sample

m, hidden = 200, 32
X, Y = load_mnist_sample("train", as_columns=True)
X, Y = X[:, :m], Y[:, :m]
net = cvxlift.LiftedNetwork(
    [784, hidden, 10], "relu", loss="cross_entropy", lam=1.0, rho=1.0, form="joint", random_state=0
)
net.fit(X, Y, solver="fast", max_iter=1, xstep="cyclic")
print(f"{X.shape[1]} digits, forms {net.forms_}; objective after one sweep {net.history_[-1]:.6g}")

# %%
# ## One sweep, block by block
#
# The sweep updates W0, W1, X1 and the output state in turn (Gauss-Seidel). Each block is
# solved from the state left by the previous one, fast and CVXPY; the fast solution is
# kept, as in `fit`. The objective is evaluated by `net.objective(X, Y, states=...)` with the
# block's solution in place.
#
# The X- and output steps use the network's compiled CVXPY blocks, `net.block(kind, l, m)`,
# the problems `fit(solver="cvxpy")` solves. The W-steps are written out below with the
# same atom expressions but with the layer input as a constant: the compiled W0 block is a
# DPP problem whose input $X_0$ is a Parameter, and for 784 inputs CVXPY expands it into a
# dense parameter tensor that does not fit in memory (with 300 digits,
# `net.block("w_step", 0, 300).solve()` asked numpy for a 25,122 x 260,321 array, 48.7 GiB).


def objective_with(W=None, states=None):
    """The lifted objective with the weights of layer ``W[0]`` replaced by ``W[1:]``."""
    saved = list(net.weights_), list(net.biases_)
    if W is not None:
        l, Wl, bl = W
        net.weights_[l], net.biases_[l] = Wl, bl
    try:
        return net.objective(X, Y, states=states)
    finally:
        net.weights_, net.biases_ = saved


def timed(fn, repeat=1):
    best = np.inf
    for _ in range(repeat):
        t0 = time.perf_counter()
        out = fn()
        best = min(best, time.perf_counter() - t0)
    return out, best


def cvxpy_block(kind, l, setter):
    """Build, fill and solve the network's CVXPY block; the time includes the compilation."""

    def run():
        blk = net.block(kind, l, m)
        setter(blk)
        blk.solve()
        return blk.result()

    return run


def cvxpy_w_step(l, A, Z):
    """The W-step of layer ``l`` as a CVXPY problem with the layer input ``A`` as a constant."""

    def run():
        d, form = net.activations_[l], net.forms_[l]
        W, b = cp.Variable((net.u_dims_[l], A.shape[0])), cp.Variable(net.u_dims_[l])
        U = W @ A + cp.reshape(b, (b.shape[0], 1), order="F") @ np.ones((1, A.shape[1]))
        Zp = cp.Parameter(Z.shape, value=Z)  # a Parameter: the domain of z is then not re-checked
        D = d.phi_star(U) - cp.sum(cp.multiply(U, Zp)) if form == "fenchel" else d.joint(U, Zp)
        problem = cp.Problem(cp.Minimize(net.lam_[l] * D + net.rho_[l] * cp.sum_squares(W)))
        solve(problem, d.problem_class(form), block=f"W{l}")
        return W.value, b.value

    return run


rows = []
start = net.objective(X, Y)
act, forms, lam, rho = net.activations_, net.forms_, net.lam_, net.rho_
with warnings.catch_warnings():
    warnings.simplefilter("ignore")
    for l in range(2):  # W-steps
        A, Z = (X if l == 0 else net.states_[0]), net.states_[l]
        before = net.objective(X, Y)
        (Wf, bf, info), t_fast = timed(
            lambda: fast.w_step(A, Z, act[l], forms[l], lam[l], rho[l], W0=net.weights_[l], b0=net.biases_[l]), repeat=3
        )
        (Wc, bc), t_cvx = timed(cvxpy_w_step(l, A, Z))
        f_fast, f_cvx = objective_with((l, Wf, bf)), objective_with((l, Wc, bc))
        rows.append((f"W{l}", info.solver, before, f_fast, f_cvx, t_fast, t_cvx))
        net.weights_[l], net.biases_[l] = Wf, bf
    # X-step of the hidden layer
    before = net.objective(X, Y)
    U0 = net.preactivation(0, X)
    (Zf, info), t_fast = timed(
        lambda: fast.x_step(
            U0,
            net.weights_[1],
            net.biases_[1],
            net.states_[1],
            act[0],
            forms[0],
            act[1],
            forms[1],
            lam[0],
            lam[1],
            Z0=net.states_[0],
        ),
        repeat=3,
    )
    Zc, t_cvx = timed(
        cvxpy_block("x_step", 1, lambda blk: blk.set(U0, net.weights_[1], net.biases_[1], net.states_[1]))
    )
    f_fast = objective_with(states=[Zf, net.states_[1]])
    f_cvx = objective_with(states=[Zc, net.states_[1]])
    rows.append(("X1", info.solver, before, f_fast, f_cvx, t_fast, t_cvx))
    net.states_[0] = Zf
    # output step
    before = net.objective(X, Y)
    U1 = net.preactivation(1, net.states_[0])
    (Zf, info), t_fast = timed(lambda: fast.output_step(U1, Y, act[1], forms[1], lam[1], "cross_entropy"), repeat=3)
    Zc, t_cvx = timed(cvxpy_block("output_step", None, lambda blk: blk.set(U1, Y)))
    f_fast = objective_with(states=[net.states_[0], Zf])
    f_cvx = objective_with(states=[net.states_[0], Zc])
    rows.append(("output", info.solver, before, f_fast, f_cvx, t_fast, t_cvx))
    net.states_[1] = Zf

print(
    f"{'block':7s} {'fast solver':28s} {'decrease':>10s} {'fast (s)':>9s} {'CVXPY (s)':>9s} "
    f"{'speed-up':>8s} {'obj. fast - CVXPY':>18s}"
)
for name, solver, before, f_fast, f_cvx, t_fast, t_cvx in rows:
    print(
        f"{name:7s} {solver:28s} {before - f_fast:10.4g} {t_fast:9.4f} {t_cvx:9.3f} "
        f"{t_cvx / t_fast:7.0f}x {(f_fast - f_cvx) / abs(f_cvx):+18.1e}"
    )
print(f"sweep: objective {start:.6g} -> {rows[-1][3]:.6g}")

# %%
# The last column is the relative gap between the objectives reached by the two solvers
# (negative: the fast solver's point is the better one). The fast solvers stop on a
# certificate (a relative gradient or fixed-point residual); the CVXPY blocks stop at the
# solver's default tolerances.
#
# ## The same sweep, as `fit` records it
#
# `fit` keeps the lifted objective after every block in `history_`; a second fast sweep
# from the same starting point records the same sequence of blocks (with `xstep="cyclic"`,
# this page's schedule: a jointly convex network's default is one joint X-step per sweep).
check = cvxlift.LiftedNetwork(
    [784, hidden, 10], "relu", loss="cross_entropy", lam=1.0, rho=1.0, form="joint", random_state=0
)
check.fit(X, Y, solver="fast", max_iter=2, tol=0.0, xstep="cyclic")  # this page's block schedule
recorded = dict(zip(check.history_blocks_[5:], check.history_[5:]))
print("fit(max_iter=2), second sweep:", ", ".join(f"{k} {v:.6g}" for k, v in recorded.items()))
print("this page's sweep:            ", ", ".join(f"{r[0]} {r[3]:.6g}" for r in rows))
for name, solver, before, f_fast, *_ in rows:
    assert abs(recorded[name] - f_fast) <= 1e-6 * abs(f_fast), (name, recorded[name], f_fast)

fig, (ax_dec, ax_time) = plt.subplots(1, 2, figsize=(11, 3.9), layout="constrained")
names = [r[0] for r in rows]
pos = np.arange(len(rows))
ax_dec.bar(pos - 0.2, [r[2] - r[3] for r in rows], width=0.4, label="fast", color="tab:blue")
ax_dec.bar(pos + 0.2, [r[2] - r[4] for r in rows], width=0.4, label="CVXPY", color="tab:orange")
ax_dec.set_yscale("log")
ax_dec.set_xticks(pos, names)
ax_dec.set_ylabel("decrease of the lifted objective")
ax_dec.set_title("what each block gains", fontsize=10)
ax_dec.legend(fontsize=8)
ax_time.bar(pos - 0.2, [r[5] for r in rows], width=0.4, label="fast (best of 3)", color="tab:blue")
ax_time.bar(pos + 0.2, [r[6] for r in rows], width=0.4, label="CVXPY (build + solve)", color="tab:orange")
for p, r in zip(pos, rows):
    ax_time.annotate(f"{r[6] / r[5]:.0f}x", (p + 0.2, r[6]), ha="center", va="bottom", fontsize=8)
ax_time.set_yscale("log")
ax_time.set_xticks(pos, names)
ax_time.set_ylabel("seconds")
ax_time.set_title("what each block costs (speed-up over the bar)", fontsize=10)
ax_time.legend(fontsize=8, loc="upper left")
for ax in (ax_dec, ax_time):
    ax.grid(True, axis="y", alpha=0.3, which="both")

# %%
# **Figure 1.** One BCD sweep of a lifted 784-32-10 network on 200 built-in MNIST digits,
# block by block. Left: the decrease of the lifted objective that each block's solution
# brings, fast solver and CVXPY (the two bars agree to the solvers' tolerances). Right: the
# time of each block, fast solver (best of three runs) and CVXPY (building and solving the
# block's problem, one run), with the speed-up over each pair. Times are from the machine
# that built these pages and vary with its load; `cvxlift bench` times the same blocks from
# the command line. *Command:* `python examples/gallery/plot_04_bcd_anatomy.py OUT` (writes
# the figure to the folder `OUT` as `plot_04_bcd_anatomy-1.png`).

# %%
# Run as a script with a folder argument, this page writes its figure there.
if len(sys.argv) > 1:
    for k, num in enumerate(plt.get_fignums(), 1):
        plt.figure(num).savefig(f"{sys.argv[1]}/plot_04_bcd_anatomy-{k}.png", dpi=110)
