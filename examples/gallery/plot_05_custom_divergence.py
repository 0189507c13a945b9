r"""
# Tutorial: declare a divergence, check it, write its prox, certify it

`cvxlift.declare_divergence` turns a convex $\Phi$ written in CVXPY and a *claimed* forward
map into a full atom. This page builds one end to end, as a runnable script (the
[tutorial page](../../tutorial-custom-divergence.md) explains every argument): the maths,
the declaration, `verify`, a picture of the divergence, a wrong claim caught, and finally a
hand-written numpy proximal operator that `cvxlift.certify` checks against the CVXPY
solution of the same problem before the fast path may rely on it.

## The maths

Soft thresholding, $\phi(u) = \mathrm{sign}(u)\max(|u| - 1, 0)$, is the gradient of
$\Phi^*(u) = \tfrac12\max(|u| - 1, 0)^2$, whose conjugate is $\Phi(z) = \tfrac12 z^2 + |z|$. So the
Fenchel-Young divergence $D(u, z) = \Phi(z) + \Phi^*(u) - uz \ge 0$ vanishes exactly at
$z = \phi(u)$.
"""

# %%
# ## Declare it
#
# `phi` and `phi_star` are CVXPY expressions (summed over entries); `forward` is the claim;
# the numpy values make evaluation fast. No prox yet: without one, cvxlift solves each prox
# as a CVXPY problem (correct, slow).
import sys
import time

import cvxpy as cp
import matplotlib.pyplot as plt
import numpy as np

import cvxlift
from cvxlift.plotting import plot_divergence


def soft(x, k):
    return np.sign(x) * np.maximum(np.abs(x) - k, 0.0)


pieces = dict(
    phi=lambda z: 0.5 * cp.sum_squares(z) + cp.norm1(z),
    phi_star=lambda u: 0.5 * cp.sum_squares(cp.pos(cp.abs(u) - 1)),
    phi_value=lambda Z: np.sum(0.5 * Z**2 + np.abs(Z), axis=0),
    phi_star_value=lambda U: np.sum(0.5 * np.maximum(np.abs(U) - 1, 0) ** 2, axis=0),
    kinks=(-1.0, 1.0),
)
shrink = cvxlift.declare_divergence("shrink", forward=lambda U: soft(U, 1.0), **pieces)

# %%
# ## Verify it
#
# `verify` solves the CVXPY problem $\min_z D(u, z)$ on thousands of inputs (random, a grid,
# the kinks $\pm 1 \pm 10^{-9}$, $|u| = 10^3, 10^6$) and compares the minimiser with the claim;
# it also checks DCP, uniqueness, $D \ge 0$ with $D(u, \phi(u)) = 0$, and the numpy values.
report = cvxlift.verify(shrink)
print(report.table())
assert report.passed

# %%
# ## Look at it
fig = plt.figure(figsize=(10, 3.9), layout="constrained")
plot_divergence(shrink, figure=fig, u=[-2.5, -0.5, 1.5, 3.0])

# %%
# **Figure 1.** The declared soft-threshold divergence: $D(u, \cdot)$ for four inputs with the
# CVXPY minimiser (dot) on the claimed $\phi(u)$ (cross), and the CVXPY argmin over
# $u \in [-4, 4]$ on top of the claim; the dead zone $|u| \le 1$ maps to 0. *Command:*
# `python examples/gallery/plot_05_custom_divergence.py OUT` (writes this page's figures to the
# folder `OUT`, this one as `plot_05_custom_divergence-1.png`).

# %%
# ## A wrong claim is caught
#
# Keep the same $\Phi$ but claim the *hard* threshold $u\,\mathbf 1[|u| > 1]$: right on
# $|u| \le 1$, wrong beyond. `verify` fails it, and the picture shows where.
hard = cvxlift.declare_divergence("hard_threshold_claim", forward=lambda U: np.where(np.abs(U) > 1.0, U, 0.0), **pieces)
wrong = cvxlift.verify(hard)
print("\n".join(wrong.table().splitlines()[:9]))
assert not wrong.passed
fig = plt.figure(figsize=(10, 3.9), layout="constrained")
plot_divergence(hard, figure=fig, u=[-2.5, -0.5, 1.5, 3.0])

# %%
# **Figure 2.** The same divergence claiming the hard threshold: beyond $|u| = 1$ the CVXPY
# argmin (dots) is the soft threshold, one unit below the claim (grey), and the crosses sit
# away from the minima of their curves. *Command:*
# `python examples/gallery/plot_05_custom_divergence.py OUT` (`plot_05_custom_divergence-2.png`).

# %%
# ## Write a prox
#
# The fast solvers need the proximal map of $t\Phi$,
# $\mathrm{prox}_{t\Phi}(w) = \arg\min_z \Phi(z) + (z - w)^2/(2t)$. For
# $\Phi(z) = \tfrac12 z^2 + |z|$, setting the subgradient to zero gives
# $(1 + t) z + t\,\mathrm{sign}(z) = w$, i.e. $\mathrm{soft}(w, t)/(1 + t)$. A first attempt
# often forgets that the threshold scales with $t$:
fast_shrink = cvxlift.declare_divergence(
    "shrink_with_prox", forward=lambda U: soft(U, 1.0), prox_phi=lambda w, t: soft(w, t) / (1 + t), **pieces
)
typo = cvxlift.declare_divergence(
    "shrink_prox_typo", forward=lambda U: soft(U, 1.0), prox_phi=lambda w, t: soft(w, 1.0) / (1 + t), **pieces
)

rng = np.random.default_rng(0)
U, V = rng.normal(scale=3, size=(1, 2000)), rng.normal(scale=3, size=(1, 2000))
seconds = {}
for atom in (shrink, fast_shrink):
    t0 = time.perf_counter()
    P = atom.prox_z(U, V, 0.5)
    seconds[atom.name] = time.perf_counter() - t0
    print(f"{atom!r}: prox_z of 2000 columns at t = 0.5 in {seconds[atom.name]:.4f} s")
print(
    f"numpy prox / CVXPY fallback: {seconds['shrink'] / seconds['shrink_with_prox']:.0f}x faster; "
    f"largest difference {np.abs(shrink.prox_z(U, V, 0.5) - fast_shrink.prox_z(U, V, 0.5)).max():.1e}"
)

# %%
# Without `prox_phi`, each call of `prox_z` solves a CVXPY problem over the columns; the numpy
# prox is a closed form. Before the fast path may rely on it, it must agree with the CVXPY
# solution of the same problem, at every step size the solvers may use.
#
# ## Certify it
#
# `cvxlift.certify(atom)` solves $\min_z D(u, z) + \|z - v\|^2/(2t)$ with CVXPY for
# $t = 10^{-6}, \dots, 10^9$ on random inputs, the kinks, inputs on and off the map's graph
# and huge $|u|, |v|$, and compares the numpy prox with it column by column. A form that passes
# is recorded as certified.
good = cvxlift.certify(fast_shrink)
print(good)
assert good.passed
bad = cvxlift.certify(typo)
print("\n".join(str(bad).splitlines()[:4]))
print(str(bad).splitlines()[-1])
assert not bad.passed

# %%
# The typo passes at $t = 1$, where $\mathrm{soft}(w, 1)$ and $\mathrm{soft}(w, t)$ coincide,
# and fails at every other step size; `verify`'s prox row checks $t \in \{0.1, 1, 10\}$, while
# `certify` runs the whole range from $10^{-6}$ to $10^9$.
#
# Run as a script with a folder argument, this page writes its figures there.
if len(sys.argv) > 1:
    for k, num in enumerate(plt.get_fignums(), 1):
        plt.figure(num).savefig(f"{sys.argv[1]}/plot_05_custom_divergence-{k}.png", dpi=110)
