"""Fast block solvers (numpy/scipy) for lifted networks, chosen by the atoms' properties.

The CVXPY formulation (:mod:`cvxlift.assembly`) is the reference; these kernels solve the
same block problems vectorised over all data points, sharing one factorisation or one
Gram matrix across columns, and stop on a certificate (see each module):

- :func:`w_step`: :math:`\\min_{W,b} \\lambda D(WA + b1^T, Z) + \\rho\\|W\\|_F^2` (with a per-layer
  :class:`WStepCache` across calls);
- :func:`x_step`: the hidden-layer X-step (paper eq. 13);
- :func:`output_step`: the output step (eq. 14/15, Appendix A);
- :func:`joint_x_step`: every state at once, with the loss (jointly convex networks);
- :func:`lifted_predict`: the lifted prediction rule (eq. 12);
- :mod:`cvxlift.fast.generic`: generic solvers for any atom with the right structure (a
  dual Newton X-step from the forward map, a primal-dual X-step and an ADMM W-step for atoms
  nonsmooth in ``u``), with the proximal maps of :mod:`cvxlift.fast.numeric_prox`.

:func:`count_flops` counts their matrix-product flops (benchmarks).

Each raises :class:`NoFastSolver` where no fast solver applies; :func:`select` says which
solver a block gets.
"""

from .registry import AtomProps, Candidate, NoFastSolver, atom_props, candidates, select  # noqa: I001
from .result import BlockResult
from .wstep import WStepCache, w_objective, w_step
from .xstep import XStepProblem, x_step
from .output import output_step
from ._common import FlopCounter, add_flops, count_flops
from .predict import lifted_predict, prediction_objective
from .jointx import joint_x_step
from . import generic  # noqa: F401,E402  (registers the generic candidates)

__all__ = [
    "AtomProps",
    "BlockResult",
    "Candidate",
    "FlopCounter",
    "NoFastSolver",
    "WStepCache",
    "XStepProblem",
    "add_flops",
    "atom_props",
    "candidates",
    "count_flops",
    "joint_x_step",
    "lifted_predict",
    "output_step",
    "prediction_objective",
    "select",
    "w_objective",
    "w_step",
    "x_step",
]
