r"""The (W, b)-step: :math:`\min_{W,b}\ \lambda D(WA + b\mathbf 1^T, Z) + \rho\|W\|_F^2`.

Both solvers centre the data first: with :math:`\bar a = A\mathbf 1/m`,
:math:`A_c = A - \bar a\mathbf 1^T` and :math:`c = b + W\bar a`,
:math:`WA + b\mathbf 1^T = WA_c + c\mathbf 1^T` and :math:`A_c\mathbf 1 = 0`, so the
Gram matrix of :math:`[A_c; \mathbf 1^T]` is block diagonal,
:math:`\mathrm{diag}(A_cA_c^T, m)`: the unpenalised bias decouples, the factorisation is
:math:`p \times p` (instead of :math:`(p+1)\times(p+1)`) and better conditioned (no large
mean column). :math:`b = c - W\bar a` at the end.

``ridge`` (``D`` is :math:`\mu\|u - z\|^2 + g(z)` in ``u``)
    exact: :math:`W (A_cA_c^T + \tfrac{\rho}{\lambda\mu} I) = Z A_c^T`,
    :math:`c = Z\mathbf 1/m`; one Cholesky factor shared by all output rows.
``majorize`` (``D`` smooth in ``u``, :math:`\nabla_u D` :math:`L_u`-Lipschitz)
    accelerated majorisation-minimisation: the objective is majorised at every point by
    the quadratic with Hessian :math:`H = \lambda L_u [A_c;\mathbf 1^T][A_c;\mathbf 1^T]^T
    + 2\rho\,\mathrm{diag}(1, \dots, 1, 0)`; each iteration is one gradient (two GEMMs)
    and one solve with the one Cholesky factor of ``H``; Nesterov momentum in the
    ``H``-metric with gradient-based adaptive restart.

Certificate (both): the gradient of the objective at the returned point, in the original
coordinates :math:`(W, b)`, relative to the linear term's scale:
:math:`\|\nabla F\|_F / (1 + \kappa\lambda\|Z[A;\mathbf 1^T]^T\|_F)`, with
:math:`\kappa = 2\mu` (ridge) or 1 (majorize).
"""
import time

import numpy as np

from ..exceptions import ValidationError
from ._common import FLOPS, as_matrix, as_vector, mm, positive, spd_factor
from .registry import NoFastSolver, atom_props, register, select  # noqa: F401  (re-exported)
from .result import BlockResult


def _u_rows(d, Z, W0):
    """Length of the pre-activation columns ``u = W A + b`` (rows of ``W``)."""
    n_out = Z.shape[0]
    if W0 is not None:
        n_u = np.asarray(W0).shape[0]
    else:
        n_u = n_out
    if d.out_dim(n_u) != n_out:
        raise ValidationError(
            f"{d!r} maps pre-activations of length {n_u} to length {d.out_dim(n_u)}, but Z has {n_out} "
            "rows; pass W0 to fix the number of rows of W"
        )
    return n_u


def w_objective(A, Z, W, b, d, form, lam, rho):
    r""":math:`\lambda \sum D(WA + b 1^T, Z) + \rho \|W\|_F^2` (exact numpy values)."""
    U = mm(W, A) + b[:, None]
    return float(lam * np.sum(d.divergence_value(U, Z, form)) + rho * np.sum(W * W))


def w_step(A, Z, d, form, lam, rho, W0=None, b0=None, tol=1e-10, max_iter=5000, evaluate=True):
    r"""Solve the (W, b)-block :math:`\min_{W,b} \lambda D(WA + b1^T, Z) + \rho\|W\|_F^2`.

    Parameters
    ----------
    A : (p, m) array
        Layer input (one column per data point).
    Z : (q, m) array
        Layer state (target of the divergence).
    d : Divergence
    form : {"fenchel", "joint"} or None
    lam, rho : float > 0
    W0, b0 : arrays, optional
        Warm start (used by the iterative solver).
    tol : float
        Bound on the relative gradient certificate.
    max_iter : int
        Iterations of the iterative solver.
    evaluate : bool
        Evaluate the block objective at the solution for ``info.objective`` (one more
        product :math:`WA`); ``False`` leaves it NaN (the network evaluates its own objective).

    Returns
    -------
    W : (q, p) array, b : (q,) array, info : BlockResult

    Raises
    ------
    NoFastSolver
        When ``D`` is nonsmooth in ``u`` (e.g. max-pooling, the joint leaky ReLU).
    """
    t0 = time.perf_counter()
    form = d.check_form(form)
    props = atom_props(d, form)
    cand = select("w_step", atom=props)
    lam = positive(lam, "lam")
    rho = positive(rho, "rho")
    A = as_matrix(A, "A")
    p, m = A.shape
    Z = as_matrix(Z, "Z", cols=m)
    n_u = _u_rows(d, Z, W0)
    W0 = None if W0 is None else as_matrix(W0, "W0", rows=n_u, cols=p)
    b0 = None if b0 is None else as_vector(b0, "b0", n_u)
    W, b, it, cert, conv = cand.solver(A, Z, d, form, lam, rho, props, W0, b0, tol, int(max_iter))
    obj = w_objective(A, Z, W, b, d, form, lam, rho) if evaluate else float("nan")
    return W, b, BlockResult(it, float(cert), bool(conv), time.perf_counter() - t0, obj, cand.label)


def _centre(A):
    abar = A.mean(axis=1)
    Ac = A - abar[:, None]
    return abar, Ac


def _scale(Z, ZAc, abar):
    r""":math:`\|Z[A; 1^T]^T\|_F` from :math:`Z A_c^T` (since :math:`A = A_c + \bar a 1^T`)."""
    zsum = Z.sum(axis=1)
    ZA = ZAc + np.outer(zsum, abar)
    return float(np.sqrt(np.sum(ZA * ZA) + np.sum(zsum * zsum)))


def _grad_norm(gW, gc, abar):
    """Norm of the gradient in (W, b) from the gradient in the centred (W, c)."""
    gWo = gW + np.outer(gc, abar)
    return float(np.sqrt(np.sum(gWo * gWo) + np.sum(gc * gc)))


@register("w_step", "ridge", lambda atom: atom.u_quadratic is not None,
          "D = mu ||u - z||^2 + g(z) in u (z_quadratic with the joint form, or the 'real' domain)")
def _ridge(A, Z, d, form, lam, rho, props, W0, b0, tol, max_iter):
    mu = props.u_quadratic
    p, m = A.shape
    abar, Ac = _centre(A)
    G = mm(Ac, Ac.T)
    G[np.diag_indices(p)] += rho / (lam * mu)
    ZAc = mm(Z, Ac.T)
    solve = spd_factor(G)
    W = solve(ZAc.T).T
    FLOPS[0] += p ** 3 / 3.0 + 2.0 * W.shape[0] * p * p   # Cholesky and the two triangular solves
    c = Z.mean(axis=1)
    b = c - W @ abar
    # gradient / (2 lam mu): W G - Z Ac^T for W (the bias gradient is zero by construction)
    k = 2.0 * lam * mu
    gW = k * (mm(W, G) - ZAc)
    cert = _grad_norm(gW, np.zeros(W.shape[0]), abar) / (1.0 + k * _scale(Z, ZAc, abar))
    return W, b, 0, cert, bool(cert <= max(tol, 1e3 * np.finfo(float).eps))


@register("w_step", "majorize", lambda atom: atom.u_lipschitz is not None and atom.u_lipschitz > 0,
          "D smooth in u (u_lipschitz not None)")
def _majorize(A, Z, d, form, lam, rho, props, W0, b0, tol, max_iter):
    Lu = props.u_lipschitz
    p, m = A.shape
    q = Z.shape[0] if W0 is None else W0.shape[0]
    abar, Ac = _centre(A)
    HW = (lam * Lu) * mm(Ac, Ac.T)
    HW[np.diag_indices(p)] += 2.0 * rho
    solve = spd_factor(HW)
    hc = lam * Lu * m
    scale = 1.0 + lam * _scale(Z, mm(Z, Ac.T), abar)

    W = np.zeros((q, p)) if W0 is None else W0.copy()
    b = np.zeros(q) if b0 is None else b0.copy()
    c = b + W @ abar
    Wy, cy = W, c
    theta = 1.0
    cert = np.inf
    it = 0
    while True:
        U = mm(Wy, Ac)
        U += cy[:, None]
        Gu = d.u_gradient(U, Z, form)
        gW = lam * mm(Gu, Ac.T)
        gW += 2.0 * rho * Wy
        gc = lam * Gu.sum(axis=1)
        cert = _grad_norm(gW, gc, abar) / scale
        if cert <= tol or it >= max_iter:
            break
        it += 1
        Wn = Wy - solve(gW.T).T
        FLOPS[0] += 2.0 * q * p * p
        cn = cy - gc / hc
        # gradient-based adaptive restart
        if np.sum(gW * (Wn - W)) + np.dot(gc, cn - c) > 0:
            theta_n, beta = 1.0, 0.0
        else:
            theta_n = 0.5 * (1.0 + np.sqrt(1.0 + 4.0 * theta * theta))
            beta = (theta - 1.0) / theta_n
        Wy = Wn + beta * (Wn - W)
        cy = cn + beta * (cn - c)
        W, c, theta = Wn, cn, theta_n
    # (Wy, cy) is the point whose gradient was certified
    return Wy, cy - Wy @ abar, it, cert, bool(cert <= tol)


__all__ = ["w_step", "w_objective", "NoFastSolver"]
