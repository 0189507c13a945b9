r"""
# A two-dimensional toy problem: forward rule, lifted rule, and BCD block by block

Two interleaved half-moons in the plane, a lifted network with two hidden ReLU layers
(2-16-16-2, every layer in the paper's jointly convex form, cross-entropy with a simplex output
layer), trained by block-coordinate descent with the fast block solvers. Two ways to predict
with the trained weights:

* the **forward rule**, the plain network $x_{l+1} = \phi(W_l x_l + b_l)$ (paper eq. 2);
* the **lifted rule** (paper eq. 12): the states that minimise the divergence terms
  $\sum_l \lambda_{l+1} D_l(W_l x_l + b_l, x_{l+1})$ for the given input, a convex problem
  when every form is jointly convex (`net.predict(X, rule="lifted")`).
"""

# %%
# ## Data and training
#
# 300 points, labels 0 and 1, as columns (`X` is $2 \times m$, `Y` one-hot $2 \times m$).
# `fit` records the lifted objective after every block in `history_`, with the block's name
# in `history_blocks_`.
import sys

import matplotlib.pyplot as plt
import numpy as np

import cvxlift

rng = np.random.default_rng(0)
m = 300
angle = rng.uniform(0.0, np.pi, m)
labels = rng.integers(0, 2, m)
X = np.where(labels == 0, [np.cos(angle), np.sin(angle)], [1.0 - np.cos(angle), 0.5 - np.sin(angle)])
X = X + 0.15 * rng.normal(size=(2, m))
Y = np.eye(2)[labels].T

net = cvxlift.LiftedNetwork(
    [2, 16, 16, 2], "relu", loss="cross_entropy", lam=1.0, rho=1e-3, form="joint", random_state=0
)
net.fit(X, Y, solver="fast", max_iter=6, tol=0.0)
print("blocks of one sweep:", net.history_blocks_[1:7])
print(
    f"lifted objective: {net.history_[0]:.4g} at initialisation -> {net.history_[-1]:.4g} after "
    f"{net.n_iter_} sweeps; fast solvers used: "
    + ", ".join(f"{k}: {v.solver}" for k, v in net.block_info_.items() if hasattr(v, "solver"))
)

# %%
# ## Decision regions
#
# Both rules on a 60 x 45 grid of the plane. The lifted rule is solved with the fast
# solver; on 150 of the grid points it is checked against the CVXPY problem of eq. (12).
xs, ys = np.linspace(-1.6, 2.6, 60), np.linspace(-1.1, 1.6, 45)
G = np.stack(np.meshgrid(xs, ys)).reshape(2, -1)
P_forward = net.predict(G, rule="forward")
P_lifted = net.predict(G, rule="lifted", solver="fast")
check = slice(0, G.shape[1], 18)
P_cvxpy = net.predict(G[:, check], rule="lifted", solver="cvxpy")
print(
    f"lifted rule, fast vs CVXPY on {P_cvxpy.shape[1]} grid points: max |difference| "
    f"{np.abs(P_lifted[:, check] - P_cvxpy).max():.1e}"
)
assert np.abs(P_lifted[:, check] - P_cvxpy).max() < 1e-4
disagree = P_forward.argmax(0) != P_lifted.argmax(0)
train = {
    rule: float(np.mean(net.predict(X, rule=rule, solver="fast").argmax(0) == labels)) for rule in ("forward", "lifted")
}
print(
    f"the rules disagree on {disagree.mean():.1%} of the grid; training accuracy: forward "
    f"{train['forward']:.3f}, lifted {train['lifted']:.3f}"
)

fig, axes = plt.subplots(1, 3, figsize=(13, 3.9), layout="constrained", sharey=True)
panels = [
    ("forward rule (eq. 2)", P_forward[1]),
    ("lifted rule (eq. 12)", P_lifted[1]),
    ("lifted - forward, probability of class 1", P_lifted[1] - P_forward[1]),
]
for ax, (title, values) in zip(axes, panels):
    diff = title.startswith("lifted -")
    image = ax.contourf(
        xs,
        ys,
        values.reshape(ys.size, xs.size),
        levels=21,
        cmap="RdBu_r" if diff else "PuOr",
        vmin=-0.5 if diff else 0,
        vmax=0.5 if diff else 1,
    )
    if not diff:
        ax.contour(xs, ys, values.reshape(ys.size, xs.size), levels=[0.5], colors="black", linewidths=1.5)
    ax.scatter(*X, c=labels, cmap="coolwarm", s=9, edgecolors="white", linewidths=0.3)
    ax.set_title(title, fontsize=10)
    ax.set_xlabel("$x_1$")
    fig.colorbar(image, ax=ax, shrink=0.85)
axes[0].set_ylabel("$x_2$")

# %%
# **Figure 1.** Predicted probability of class 1 (the second output state) over the plane for
# the trained 2-16-16-2 network, forward rule (left) and lifted rule (middle), with the
# decision boundary (black, probability 1/2) and the training points; right: the difference,
# lifted minus forward. The lifted rule moves the hidden states away from the forward pass
# wherever that lowers the divergence terms, and the boundary shifts with them.
# *Command:* `python examples/gallery/plot_03_toy_2d.py OUT` (writes this page's figures to
# the folder `OUT` as `plot_03_toy_2d-1.png`, `-2.png`).

# %%
# ## The lifted objective, block by block
#
# Each sweep solves the W-steps of the three layers, the X-steps of the two hidden layers and
# the output step, each block exactly; a block update that would raise the objective is
# rejected, so the curve never goes up.
h = np.asarray(net.history_)
names = net.history_blocks_
assert np.all(np.diff(h) <= 1e-9 * np.abs(h[:-1])), "the lifted objective rose"
kinds = {"W": ("tab:blue", "W-step"), "X": ("tab:green", "X-step"), "o": ("tab:red", "output step")}
fig, ax = plt.subplots(figsize=(10, 3.9), layout="constrained")
ax.plot(range(len(h)), h, color="0.6", lw=1, zorder=1)
for kind, (colour, label) in kinds.items():
    idx = [i for i, n in enumerate(names) if n[0] == kind]
    ax.scatter(idx, h[idx], color=colour, s=22, label=label, zorder=2)
ax.scatter([0], h[:1], color="black", s=22, label="initialisation", zorder=2)
for sweep in range(1, net.n_iter_ + 1):
    ax.axvline(sweep * 6 + 0.5, color="0.85", lw=0.8, zorder=0)
ax.set_yscale("log")
ax.set_xlabel("block update (6 per sweep: W0, W1, W2, X1, X2, output)")
ax.set_ylabel("lifted objective (10)")
ax.set_title(f"{net.n_iter_} sweeps of block-coordinate descent, solver='fast'", fontsize=10)
ax.legend(fontsize=8)
ax.grid(True, alpha=0.3, which="both")
drops = {kind: float(sum(h[i - 1] - h[i] for i, n in enumerate(names) if n[0] == kind)) for kind in kinds}
print(
    "objective decrease by block kind over all sweeps: " + ", ".join(f"{kinds[k][1]} {v:.4g}" for k, v in drops.items())
)

# %%
# **Figure 2.** The lifted objective (log scale) after each block update of six sweeps on
# the toy problem (`net.history_`, labelled by `net.history_blocks_`): W-steps in blue,
# X-steps in green, the output step in red; grey lines separate the sweeps. Most of the
# decrease comes in the first sweep, from the W-steps that fit the weights to the
# initial states. *Command:* `python examples/gallery/plot_03_toy_2d.py OUT`.

# %%
# Run as a script with a folder argument, this page writes its figures there.
if len(sys.argv) > 1:
    for k, num in enumerate(plt.get_fignums(), 1):
        plt.figure(num).savefig(f"{sys.argv[1]}/plot_03_toy_2d-{k}.png", dpi=110)
