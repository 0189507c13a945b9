r"""
# The paper's formulas that do not hold as printed

Three divergences of the paper, drawn as printed next to cvxlift's versions. Each printed
formula is declared as an atom with the paper's claim as its `forward`
([`cvxlift.declare_divergence`](../../tutorial-custom-divergence.md)), so the same picture
shows what the printed divergence really minimises at. The [errata](../../errata.md) list
these entries with the numbers `cvxlift verify` measures.
"""

# %%
# ## Max-pooling: a flat argmin
#
# The paper writes $\phi(u) = \arg\min_z \mathbf 1^\top z + \mathbf 1^\top (u - Ez)_+$ for
# the maximum of each block. Between the two largest entries of a block the slope in $z$ is
# $1 - 1 = 0$: every $z$ in $[\text{second largest}, \text{largest}]$ is a minimiser.
# `MaxPool(weight=1.0)` is the printed divergence; cvxlift's default puts weight $c = 2$ on the
# hinge, which makes the slope $1 - c < 0$ below the maximum and the minimiser unique.
import sys

import cvxpy as cp
import matplotlib.pyplot as plt
import numpy as np
from cvxpy.transforms import indicator

import cvxlift
from cvxlift.plotting import plot_divergence


def draw(printed, corrected):
    """One pyplot figure, two rows: ``plot_divergence(*printed)`` on top of ``plot_divergence(*corrected)``;
    each argument is ``(atom, keyword arguments)``. Returns the two rows' curves."""
    fig = plt.figure(figsize=(10, 7.8), layout="constrained")
    rows = fig.subfigures(2, 1)
    return [
        plot_divergence(atom, figure=row, **kw).cvxlift_curves for row, (atom, kw) in zip(rows, (printed, corrected))
    ]


paper_pool, fixed_pool = draw(
    (cvxlift.MaxPool(weight=1.0), dict(u=[-2.0, 3.0], title="as printed: MaxPool(weight=1.0), u = (s, 1)")),
    (cvxlift.MaxPool(), dict(u=[-2.0, 3.0], title="cvxlift: MaxPool() (weight c = 2), u = (s, 1)")),
)
for label, curves in (("printed", paper_pool), ("cvxlift", fixed_pool)):
    sample = curves.samples[1]
    flat, step = sample["flat"], np.diff(sample["t"]).max()
    print(
        f"{label:8s} u = (3, 1): minimisers on the grid (step {step:.3f}) fill [{flat[0]:.3f}, {flat[1]:.3f}]; "
        f"largest scaled gap argmin - max over the line: {curves.max_error:.2f}"
    )

# %%
# **Figure 1.** Max-pooling on one block $u = (s, 1)$, as printed (top) and with hinge weight
# 2 (bottom). Top: the divergence is flat between the two entries (thick bars: every grid
# point there is a minimiser; for $u = (3, 1)$ the whole interval $[1, 3]$), and the solver's
# argmin (dots) wanders inside the interval instead of following $\max(s, 1)$. Bottom: a
# unique minimiser at the maximum. *Command:*
# `python examples/gallery/plot_02_errata.py OUT` (writes this page's figures to the folder
# `OUT`, this one as `plot_02_errata-1.png`); the bottom panel alone: `cvxlift plot maxpool`.

# %%
# ## The sine on the whole line
#
# The paper states that $\Phi(z) = \int_0^z \arcsin$ on $[-1, 1]$ gives $\sin$. The
# stationarity condition $\arcsin z = u$ has a solution only for $|u| \le \pi/2$; beyond, the
# minimiser sits at the boundary $z = \mathrm{sign}(u)$. Below, the same divergence claims
# $\sin u$ (printed) and $\sin(\mathrm{clip}(u, -\pi/2, \pi/2))$ (cvxlift's `Sin`).
sin = cvxlift.Sin()
textbook = cvxlift.declare_divergence(
    "sin_as_printed",
    forward=np.sin,
    phi=sin.phi,
    phi_star=sin.phi_star,
    phi_value=sin.phi_value,
    phi_star_value=sin.phi_star_value,
    prox_phi=sin.prox_phi,
    problem_class="SOC",
    kinks=sin.kinks,
    argmin_tol=sin.argmin_tol,
)
line = 2 * np.pi
paper_sin, fixed_sin = draw(
    (textbook, dict(u_range=line, title="as printed: the sine divergence claiming sin(u)")),
    (sin, dict(u_range=line, title="cvxlift: Sin(), the clipped sine sin(clip(u, -pi/2, pi/2))")),
)
print(
    f"claim sin(u): largest scaled gap {paper_sin.max_error:.3f}; "
    f"clipped sine: {fixed_sin.max_error:.4f} (the 64-piece approximation of Phi)"
)

# %%
# **Figure 2.** The sine divergence over $u \in [-2\pi, 2\pi]$, claiming $\sin u$ (top) and the
# clipped sine (bottom). The CVXPY argmin (dots) is the same in both: it follows $\sin u$ on
# $[-\pi/2, \pi/2]$ and stays at $\pm 1$ beyond. *Command:*
# `python examples/gallery/plot_02_errata.py OUT`; the bottom panel alone:
# `cvxlift plot sin --range 6.2832`.

# %%
# ## Leaky ReLU's jointly convex form
#
# The paper's joint leaky ReLU is $\|z - u\|^2$ subject to $z \ge u/\alpha$, whose minimiser
# is $\max(u, u/\alpha)$: for $\alpha \in (0, 1)$ that has slope $1/\alpha > 1$ on $u > 0$,
# not the leaky ReLU. The constraint must be $z \ge \alpha u$. With $\alpha = 0.25$ (so that
# both slopes show on one scale):
a = 0.25
as_printed = cvxlift.declare_divergence(
    "leaky_relu_joint_as_printed",
    forward=lambda U: np.where(U >= 0, U, a * U),
    joint=lambda u, z: cp.sum_squares(z - u) + indicator([z >= u / a]),
    joint_value=lambda U, Z: np.where(
        (Z >= U / a - 1e-9 * (1 + np.abs(U / a))).all(axis=0), ((Z - U) ** 2).sum(axis=0), np.inf
    ),
    homogeneous=True,
)
paper_leaky, fixed_leaky = draw(
    (as_printed, dict(title=f"as printed: |z - u|^2 with z >= u/alpha, alpha = {a}")),
    (cvxlift.LeakyReLU(a), dict(form="joint", title=f"cvxlift: |z - u|^2 with z >= alpha u, alpha = {a}")),
)
s = paper_leaky.s
print(
    "printed form: argmin = max(u, u/alpha) to",
    f"{np.max(np.abs(paper_leaky.argmin - np.maximum(s, s / a))):.1e}; "
    f"cvxlift: argmin = max(u, alpha u) to {fixed_leaky.max_error:.1e}",
)

# %%
# **Figure 3.** Leaky ReLU's joint form with $\alpha = 0.25$: as printed (top; its argmin is
# $\max(u, 4u)$, four times the input for $u > 0$) and corrected (bottom; the argmin is
# $\max(u, u/4)$, the leaky ReLU). *Command:* `python examples/gallery/plot_02_errata.py OUT`;
# the corrected form with cvxlift's default slope 0.01: `cvxlift plot leaky_relu --form joint`.

# %%
# Run as a script with a folder argument, this page writes its figures there as PNG files
# (`plot_02_errata-1.png` to `-3.png`, numbered as on this page).
if len(sys.argv) > 1:
    for k, num in enumerate(plt.get_fignums(), 1):
        plt.figure(num).savefig(f"{sys.argv[1]}/plot_02_errata-{k}.png", dpi=110)
