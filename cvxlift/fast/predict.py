r"""The lifted prediction rule (paper eq. 12) with the loss minimised out (:math:`y = x_{L+1}`):

.. math:: \min_{X_1, \dots, X_{L+1}} \sum_{l=0}^{L} \lambda_{l+1} D_l(W_lX_l + b_l\mathbf 1^T, X_{l+1}),
          \qquad X_0 = X.

Block-coordinate descent over the layers from the forward pass: hidden layers by
:func:`~cvxlift.fast.x_step` (warm-started), the last state in closed form,
:math:`X_{L+1} = \phi_L(W_LX_L + b_L)` (the argmin of :math:`D_L`, the only term that
involves it). Stops when every hidden block's fixed-point certificate, evaluated at the
current states after a sweep, is below ``tol``, or when a sweep lowers the objective by
less than ``tol`` (relative).

With Fenchel-Young forms everywhere the forward pass is already optimal (every
:math:`D_l \ge 0`, with :math:`D_l(u, \phi_l(u)) = 0`): it is returned at once.
"""
import time

import numpy as np

from ..exceptions import ValidationError
from ._common import TINY, as_matrix
from .registry import atom_props, select
from .result import BlockResult
from .xstep import XStepProblem, x_step


def prediction_objective(X, states, weights, biases, divs, forms, lams):
    r""":math:`\sum_l \lambda_{l+1} D_l(W_lX_l + b_l, X_{l+1})` with :math:`X_0 = X`."""
    total = 0.0
    prev = X
    for W, b, d, f, lam, S in zip(weights, biases, divs, forms, lams, states):
        total += lam * float(np.sum(d.divergence_value(W @ prev + b[:, None], S, f)))
        prev = S
    return total


def _forward(X, weights, biases, divs):
    states = []
    prev = X
    for W, b, d in zip(weights, biases, divs):
        prev = d.forward(W @ prev + np.asarray(b, float)[:, None])
        states.append(prev)
    return states


def lifted_predict(X, weights, biases, divs, forms, lams, Z0=None, tol=1e-9, max_iter=100, inner_tol=None,
                   inner_max_iter=20000):
    """States :math:`[X_1, \\dots, X_{L+1}]` of the lifted prediction rule for the columns of ``X``.

    Parameters
    ----------
    X : (n, m) array
    weights, biases : sequences of the L+1 layers' ``W_l`` (``(p_{l+1}, p_l)``) and ``b_l``
    divs, forms : the L+1 layers' divergences and forms
    lams : sequence of L+1 positive numbers; ``lams[l]`` multiplies ``D_l``
    Z0 : list of L+1 arrays, optional
        Initial states (default: the forward pass).
    tol : float
        Stopping tolerance (block certificates, relative objective decrease).
    max_iter : int
        Sweeps of block-coordinate descent.
    inner_tol, inner_max_iter
        Passed to :func:`~cvxlift.fast.x_step` (default ``inner_tol = tol``).

    Returns
    -------
    states : list of (p_{l+1}, m) arrays, info : BlockResult
        ``info.iterations`` counts sweeps; ``info.certificate`` is the largest hidden-block
        certificate after the last sweep.

    Raises
    ------
    NoFastSolver
        When a hidden layer's X-step has no fast solver.
    """
    t0 = time.perf_counter()
    n_layers = len(weights)
    if not (len(biases) == len(divs) == len(forms) == len(lams) == n_layers) or n_layers == 0:
        raise ValidationError("weights, biases, divs, forms and lams must have the same positive length")
    X = as_matrix(X, "X")
    weights = [as_matrix(W, f"weights[{l}]") for l, W in enumerate(weights)]
    biases = [np.asarray(b, dtype=float).reshape(-1) for b in biases]
    forms = [d.check_form(f) for d, f in zip(divs, forms)]
    lams = [float(v) for v in lams]
    inner_tol = tol if inner_tol is None else inner_tol

    def objective(states):
        return prediction_objective(X, states, weights, biases, divs, forms, lams)

    if all(f == "fenchel" for f in forms):
        states = _forward(X, weights, biases, divs)
        return states, BlockResult(0, 0.0, True, time.perf_counter() - t0, objective(states),
                                   "lifted_predict/forward")
    # every hidden block must have a fast X-step: fail before any work
    for l in range(1, n_layers):
        select("x_step", prev=atom_props(divs[l - 1], forms[l - 1]), next=atom_props(divs[l], forms[l]))

    if Z0 is None:
        states = _forward(X, weights, biases, divs)
    else:
        if len(Z0) != n_layers:
            raise ValidationError(f"Z0 must hold {n_layers} states")
        states = [as_matrix(S, f"Z0[{l}]", cols=X.shape[1]).copy() for l, S in enumerate(Z0)]

    def last(states):
        U = weights[-1] @ (states[-2] if n_layers > 1 else X) + biases[-1][:, None]
        return divs[-1].forward(U)

    def inputs(l):
        return X if l == 0 else states[l - 1]

    def block(l):
        """The X-step problem of state X_l (l = 1..L), i.e. states[l - 1]."""
        U0 = weights[l - 1] @ inputs(l - 1) + biases[l - 1][:, None]
        return (U0, weights[l], biases[l], states[l], divs[l - 1], forms[l - 1], divs[l], forms[l],
                lams[l - 1], lams[l])

    states[-1] = last(states)
    J = objective(states)
    cert = np.inf
    sweeps = 0
    converged = n_layers == 1
    while not converged and sweeps < max_iter:
        sweeps += 1
        for l in range(1, n_layers):
            states[l - 1], _ = x_step(*block(l), Z0=states[l - 1], tol=inner_tol, max_iter=inner_max_iter)
        states[-1] = last(states)
        Jn = objective(states)
        cert = max(float(np.max(XStepProblem(*block(l)).residual(states[l - 1]), initial=0.0))
                   for l in range(1, n_layers))
        decrease = J - Jn
        J = Jn
        if cert <= tol or decrease <= tol * max(abs(Jn), TINY):
            converged = True
    if n_layers == 1:
        cert = 0.0
    return states, BlockResult(sweeps, float(cert), bool(converged), time.perf_counter() - t0, J,
                               "lifted_predict/bcd")


__all__ = ["lifted_predict", "prediction_objective"]
