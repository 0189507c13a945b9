r"""
# Every atom: its divergence and its argmin

Each atom of cvxlift pairs an activation $\phi$ with a divergence $D(u, z)$ whose minimiser
over $z$ is $\phi(u)$. This page draws every built-in atom in every form it has, with
[`cvxlift.plotting.plot_divergence`](../../api.md#cvxlift.plotting.plot_divergence)
(the function behind `cvxlift plot`):

* **left**: $z \mapsto D(u, z)$ for four inputs $u$; a dot at the numeric minimiser, a cross at
  the claim `forward(u)`. A thick bar along the bottom of a curve would mean that the
  minimiser is not unique (see the [errata page](plot_02_errata.md)).
* **right**: $\arg\min_z D(u, z)$ for 201 inputs on a line (dots) against the claimed
  activation $\phi(u)$ (grey line), with the largest scaled gap
  $|\arg\min - \phi(u)| / \max(1, |u|)$ in the title.

The argmin is **computed, not assumed**: one CVXPY problem
$\min_Z \sum_j D(u_j, z_j)$ over all 205 inputs at once (the columns are independent), built
from the atom's own declaration ($\Phi(z) - \langle u, z\rangle$ for the Fenchel-Young form,
the joint expression otherwise) and solved to tight accuracy. `forward` only supplies the
claim it is compared with.

Vector atoms are drawn on a line through their input space: the simplex with $k = 2$,
$u = (s/2, -s/2)$ and $z = (t, 1 - t)$; max-pooling on one block, $u = (s, 1)$.
"""

# %%
# ## Rectifiers
#
# ReLU has both forms. Fenchel-Young: $D(u, z) = \tfrac12 z^2 + \tfrac12 (u)_+^2 - uz$ on
# $z \ge 0$, which is zero at its minimiser; joint: $\|z - u\|^2$ on $z \ge 0$ (paper eq. 5),
# whose minimum value is $(u)_-^2$, not zero.
import sys

import matplotlib.pyplot as plt

import cvxlift
from cvxlift.plotting import plot_divergence

gaps = []  # (atom, form, largest scaled gap, solver) for the summary at the end


def draw(*specs):
    """One pyplot figure (so that the gallery shows it), one row per ``(atom, form)`` in ``specs``,
    each row drawn by ``plot_divergence``."""
    fig = plt.figure(figsize=(10, 3.9 * len(specs)), layout="constrained")
    rows = fig.subfigures(len(specs), 1) if len(specs) > 1 else [fig]
    for row, (atom, form) in zip(rows, specs):
        curves = plot_divergence(atom, form=form, figure=row).cvxlift_curves
        gaps.append((curves.atom, curves.form, curves.max_error, curves.solver))


draw(("relu", "fenchel"), ("relu", "joint"))

# %%
# **Figure 1.** ReLU, Fenchel-Young form (top) and jointly convex form (bottom): the
# divergence for four inputs with its minimiser (dot) on the claim (cross), and the CVXPY
# argmin over $u \in [-4, 4]$ on top of $\max(u, 0)$. The joint curves do not reach zero for
# $u < 0$: their minimum is $u^2$ at $z = 0$.
# *Commands:* each row, `cvxlift plot relu --form fenchel` and `cvxlift plot relu --form joint`
# (each writes `relu-divergence.png`; `--out FILE` chooses the name); the whole figure,
# `python examples/gallery/plot_01_atoms.py OUT` (writes every figure of this page to the
# folder `OUT`, this one as `plot_01_atoms-1.png`).

# %%
# Leaky ReLU (slope $\alpha = 0.01$ for $u < 0$): Fenchel-Young
# $\Phi(z) = \tfrac12 (z)_+^2 + \tfrac1{2\alpha}(z)_-^2$ (paper eq. 8), and the corrected joint
# form $\|z - u\|^2$ on $z \ge \alpha u$ (the paper prints $z \ge u/\alpha$, see the errata page).
draw(("leaky_relu", "fenchel"), ("leaky_relu", "joint"))

# %%
# **Figure 2.** Leaky ReLU ($\alpha = 0.01$), Fenchel-Young form (top) and corrected joint form
# (bottom); both argmins follow $\max(u, 0.01u)$ over the whole line.
# *Commands:* `cvxlift plot leaky_relu --form fenchel` and `cvxlift plot leaky_relu --form joint`
# (rows); `python examples/gallery/plot_01_atoms.py OUT` (figure, `plot_01_atoms-2.png`).

# %%
# ## Clipped units
#
# `Clipped(l, h)` clips to $[l, h]$ (hard tanh by default; `Clipped(0, 1)` is the hard
# sigmoid): $\Phi(z) = \tfrac12 z^2$ on $[l, h]$.
draw(("clipped", "fenchel"), (cvxlift.Clipped(0.0, 1.0), "joint"))

# %%
# **Figure 3.** Hard tanh `Clipped()` in the Fenchel-Young form (top) and hard sigmoid
# `Clipped(0, 1)` in the joint form (bottom): each curve is finite only on the box, and the
# minimiser sticks to its end once $u$ leaves it.
# *Commands:* `cvxlift plot clipped --form fenchel` (top row; the hard sigmoid has no
# registered name); `python examples/gallery/plot_01_atoms.py OUT` (figure, `plot_01_atoms-3.png`).

# %%
# ## Entropy atoms
#
# Sigmoid: $\Phi(z) = z\log z + (1 - z)\log(1 - z)$ on $[0, 1]$, $\Phi^*(u) = \log(1 + e^u)$;
# tanh: the same entropy shifted to $[-1, 1]$. Fenchel-Young form only (exponential cone,
# solved by Clarabel).
draw(("sigmoid", None), ("tanh", None))

# %%
# **Figure 4.** Sigmoid (top) and tanh (bottom): the binary-entropy divergences are smooth and
# strictly convex in $z$, and their CVXPY argmins follow $1/(1 + e^{-u})$ and $\tanh u$ to
# about $10^{-6}$ (interior-point accuracy).
# *Commands:* `cvxlift plot sigmoid` and `cvxlift plot tanh` (rows);
# `python examples/gallery/plot_01_atoms.py OUT` (figure, `plot_01_atoms-4.png`).

# %%
# ## Sine
#
# $\Phi(z) = z\arcsin z + \sqrt{1 - z^2} - 1$ on $[-1, 1]$. CVXPY has no $\arcsin$, so the
# declaration is a DCP approximation with 64 affine pieces; its argmin is within
# `Sin().argmin_error_bound` of the exact one. The divergence realises the *clipped* sine
# $\sin(\mathrm{clip}(u, -\pi/2, \pi/2))$, not $\sin u$ on the whole line (errata page).
print(f"Sin(): argmin error bound of the 64-piece approximation: {cvxlift.Sin().argmin_error_bound:.2e}")
draw(("sin", None))

# %%
# **Figure 5.** The sine divergence: the argmin follows the clipped sine over $[-4, 4]$, and the
# gap in the title (about $5 \cdot 10^{-3}$) is the piecewise-affine approximation of $\Phi$,
# within the printed bound.
# *Command:* `cvxlift plot sin` (also `plot_01_atoms-5.png` from
# `python examples/gallery/plot_01_atoms.py OUT`).

# %%
# ## Vector atoms
#
# The simplex atom projects each column onto the probability simplex. With $k = 2$ the
# projection of $u = (s/2, -s/2)$ is $z = (t, 1 - t)$ with $t = \mathrm{clip}((1 + s)/2, 0, 1)$,
# a hard sigmoid of $s$. Max-pooling takes the maximum of each block; on one block
# $u = (s, 1)$ its value is $\max(s, 1)$.
draw(("simplex", "fenchel"), ("maxpool", None))

# %%
# **Figure 6.** Simplex, Fenchel-Young form, drawn along $u = (s/2, -s/2)$ with
# $z = (t, 1 - t)$ (top), and max-pooling (`pool_size=2`, hinge weight $c = 2$) on one block
# $u = (s, 1)$ (bottom): the argmins follow $\mathrm{clip}((1 + s)/2, 0, 1)$ and
# $\max(s, 1)$; the max-pool divergence is piecewise linear in $z$ with a unique minimiser.
# *Commands:* `cvxlift plot simplex` and `cvxlift plot maxpool` (rows);
# `python examples/gallery/plot_01_atoms.py OUT` (figure, `plot_01_atoms-6.png`).

# %%
# ## Identity
#
# The linear output layer: $\tfrac12 (z - u)^2$ (Fenchel-Young) or $(z - u)^2$ (joint).
draw(("identity", "joint"))

# %%
# **Figure 7.** Identity, joint form: parabolas centred at $u$, and the argmin on the
# diagonal. *Command:* `cvxlift plot identity --form joint` (also `plot_01_atoms-7.png` from
# `python examples/gallery/plot_01_atoms.py OUT`).

# %%
# ## Summary
#
# The largest scaled gap between the CVXPY argmin and `forward` over each line, next to the
# tolerance that `cvxlift verify` applies to the same comparison (`argmin_tol`).
print(f"{'atom':34s} {'form':8s} {'gap':>9s} {'verify tol':>10s}  solver")
for atom, form, gap, solver in gaps:
    print(f"{atom!r:34s} {form:8s} {gap:9.1e} {atom.argmin_tol:10.1e}  {solver}")
    assert gap <= atom.argmin_tol, (atom, form, gap)

# %%
# Every gap is below the tolerance `verify` uses for the same comparison. Run as a script
# with a folder argument, this page writes each of its figures to that folder as a PNG
# (`python examples/gallery/plot_01_atoms.py OUT` makes `OUT/plot_01_atoms-1.png` to
# `-7.png`, numbered as on this page).
if len(sys.argv) > 1:
    for k, num in enumerate(plt.get_fignums(), 1):
        plt.figure(num).savefig(f"{sys.argv[1]}/plot_01_atoms-{k}.png", dpi=110)
