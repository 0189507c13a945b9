r"""The joint X-step: every state of a jointly convex network at once, with the loss.

.. math:: \min_{X_1, \dots, X_{L+1}}\ \mathcal L(Y, X_{L+1})
          + \lambda_0 D_0(U_0, X_1) + \sum_{l=1}^{L} \lambda_l D_l(W_lX_l + b_l\mathbf 1^T, X_{l+1}),

with :math:`U_0 = W_0X_0 + b_0\mathbf 1^T` fixed (the CVXPY block
:class:`cvxlift.assembly.JointXStep`). It separates over columns and, within a column, is a
chain over the layers (:mod:`cvxlift.fast.chain`); the last state is minimised out by the
output step (:func:`~cvxlift.fast.output_step`'s solvers), leaving its envelope.

Solvers (registry kind ``"joint_x_step"``, tried in this order):

``output`` (no hidden layer)
    the output step itself.
``newton`` (hidden layers :math:`\mu\|z - u\|^2 + I_C(z)` with box domains, the first in
either form; a jointly convex last layer :math:`\mu\|z - u\|^2 + I_C(z)`: squared loss with a
box or the simplex, cross-entropy with the simplex)
    projected Newton with exact active-set solves (:mod:`cvxlift.fast.chain_newton`).
``fista`` (hidden layers after the first quadratic in ``u``, any projectable domain; a
jointly convex last layer smooth in ``u``)
    accelerated proximal gradient (:mod:`cvxlift.fast.chain_first_order`).

Columns that ``newton`` leaves above ``tol`` are finished by ``fista`` on those columns only
(``info.n_fallback``); no column is ever returned with a larger objective than its warm
start ``Z0``.
"""

import time

import numpy as np

from .. import arrays as ax
from ..exceptions import ValidationError
from . import chain_first_order, chain_newton
from ._common import iteration_budget
from .chain import LOSSES, ChainProblem, choose, worse_columns
from .registry import register
from .result import BlockResult

#: Largest number of iterations the finishing solver (``fista``) may spend on the columns
#: ``newton`` left (the default is :func:`~cvxlift.fast._common.iteration_budget`, at most this).
FINISH_MAX_ITER = 20000
#: Default number of Newton iterations.
NEWTON_MAX_ITER = 100


def joint_x_step(
    U0,
    Y,
    weights,
    biases,
    divs,
    forms,
    lams,
    loss,
    Z0=None,
    tol=1e-9,
    max_iter=None,
    method=None,
    evaluate=True,
    finish=True,
):
    r"""Solve the joint X-step for all columns at once (module docstring).

    Parameters
    ----------
    U0 : (n_u0, m) array
        The first pre-activation :math:`W_0X_0 + b_0\mathbf 1^T` (fixed).
    Y : (p_{L+1}, m) array
        Targets.
    weights, biases : sequences of the L+1 layers' :math:`W_l`, :math:`b_l`
        ``weights[0]`` and ``biases[0]`` are not used (``U0`` is given); pass the network's
        lists as they are.
    divs, forms : the L+1 layers' divergences and forms
    lams : L+1 positive numbers; ``lams[l]`` multiplies :math:`D_l`
    loss : {"squared", "cross_entropy"} (or an object with that ``name``)
    Z0 : list of L+1 arrays, optional
        Warm start (default: the forward pass from ``U0``). Every column of the result has
        an objective at most that of its column of ``Z0``.
    tol : float
        Bound on every column's certificate (a KKT residual relative to
        :math:`1 + \|\nabla f\|`).
    max_iter : int, optional
        Iterations of the selected method (default: :data:`NEWTON_MAX_ITER` Newton
        iterations for ``newton``, :func:`~cvxlift.fast._common.iteration_budget` for ``fista``);
        a solve that reaches it returns its certificates with ``converged=False``.
    method : str, optional
        Name of a registered candidate to use instead of the first that applies.
    evaluate : bool
        Evaluate the objective at the result for ``info.objective`` (``False``: NaN).
    finish : bool
        Finish the columns the selected method leaves above ``tol`` with ``fista``
        (``False``: return them as they are, reported in ``info.certificates`` and
        ``info.converged``; an inexact step for block-coordinate descent, still never worse
        than ``Z0``).

    Returns
    -------
    states : list of L+1 arrays :math:`X_1, \dots, X_{L+1}`, info : BlockResult
        ``info.certificates`` per column; ``info.n_fallback`` columns finished by ``fista``.

    Raises
    ------
    NoFastSolver
        When no candidate applies (a form that is not jointly convex after the first
        layer, a max-pool or jointly convex leaky ReLU layer after the first, a
        cross-entropy loss without a simplex output).
    """
    t0 = time.perf_counter()
    if max_iter is not None and (
        isinstance(max_iter, bool) or not isinstance(max_iter, (int, np.integer)) or max_iter < 0
    ):
        raise ValidationError(f"max_iter must be None or a non-negative integer, got {max_iter!r}")
    name = getattr(loss, "name", loss)
    if name not in LOSSES:
        raise ValidationError(f"loss must be one of {LOSSES}, got {loss!r}")
    pb = ChainProblem(U0, weights, biases, divs, forms, lams, loss=name, Y=Y)
    cand = choose(
        "joint_x_step",
        method,
        {"layers": pb.props, "loss": name},
        {"newton": lambda: chain_newton.fits(pb.props, pb.sizes, name)},
    )
    if Z0 is not None:
        Z0 = pb.check_states(Z0)
    n_unknowns = sum(pb.sizes[:-1]) or 1
    if max_iter is None:
        max_iter = iteration_budget("first_order", n_unknowns, pb.m) if cand.name == "fista" else NEWTON_MAX_ITER
    states, it, certs = cand.solver(pb, Z0, tol, int(max_iter))
    n_fallback, fallback = 0, ""
    xp = pb.xp
    bad = xp.nonzero(certs > tol)[0]
    if finish and bad.shape[0] and cand.name != "fista" and chain_first_order.applies(pb.props, name, fenchel=False):
        budget = min(FINISH_MAX_ITER, iteration_budget("first_order", n_unknowns, bad.shape[0]))
        hidden, c2, it2 = chain_first_order.solve(
            pb, [S[:, bad] for S in states[:-1]], tol, budget, cols=bad, stall=True
        )
        last = pb.envelope.sub(bad).state(pb.pre(pb.n - 1, hidden[-1]))
        states = [ax.copy(S) for S in states]
        for S, T in zip(states, hidden + [last]):
            S[:, bad] = T
        certs = ax.copy(certs)
        certs[bad] = c2
        it += it2
        n_fallback, fallback = int(bad.shape[0]), "joint_x_step/fista"
    if Z0 is not None:
        worse = worse_columns(pb.objective_columns(states), pb.objective_columns(Z0))
        if worse.shape[0]:
            states = [ax.copy(S) for S in states]
            for S, T in zip(states, Z0):
                S[:, worse] = T[:, worse]
            certs = ax.copy(certs)
            certs[worse] = float("inf")
    cert = ax.amax(certs)
    obj = pb.objective(states) if evaluate else float("nan")
    # the per-column certificates are reported as numpy (metadata, on the host)
    return states, BlockResult(
        it,
        cert,
        bool(cert <= tol),
        time.perf_counter() - t0,
        obj,
        cand.label,
        certificates=ax.to_numpy(certs),
        n_fallback=n_fallback,
        fallback=fallback,
        tol=float(tol),
    )


def _start(pb, Z0):
    return pb.forward()[:-1] if Z0 is None else Z0[:-1]


@register("joint_x_step", "output", lambda layers, loss=None: len(layers) == 1, "no hidden layer (the output step)")
def _output(pb, Z0, tol, max_iter):
    Z = pb.envelope.state(pb.U0)
    return [Z], 0, pb.xp.zeros(pb.m, dtype=pb.xp.float64, device=ax.device_of(Z))


def _newton_ok(layers, loss=None):
    return chain_newton.applies(layers, loss)


@register(
    "joint_x_step",
    "newton",
    _newton_ok,
    "hidden layers mu||z - u||^2 + I_C(z) with C a box (the first in either form, the others jointly "
    "convex) and a jointly convex last layer mu||z - u||^2 + I_C(z) (squared loss: C a box or the simplex; "
    "cross-entropy: the simplex)",
)
def _newton(pb, Z0, tol, max_iter):
    hidden, cert, it, _ = chain_newton.solve(pb, _start(pb, Z0), tol, max_iter)
    return pb.complete(hidden), it, cert


@register(
    "joint_x_step",
    "fista",
    lambda layers, loss=None: chain_first_order.applies(layers, loss, fenchel=False),
    "hidden layers after the first quadratic in u (u_quadratic) and a jointly convex last layer smooth in u "
    "with a fast output step",
)
def _fista(pb, Z0, tol, max_iter):
    hidden, cert, it = chain_first_order.solve(pb, _start(pb, Z0), tol, max_iter)
    return pb.complete(hidden), it, cert


__all__ = ["joint_x_step"]
