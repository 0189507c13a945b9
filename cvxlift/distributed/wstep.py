r"""The (W, b)-step over column chunks: the solvers of :func:`cvxlift.fast.w_step`, built from sums.

:math:`\min_{W,b}\ \lambda D(WA + b\mathbf 1^T, Z) + \rho\|W\|_F^2` needs the columns only
through sums over them. With :math:`\bar a = A\mathbf 1/m` and :math:`A_c = A - \bar a\mathbf 1^T`
(the centring of :mod:`cvxlift.fast.wstep`), the data enter as

- :math:`m` and :math:`A\mathbf 1` (one reduction; cached while ``A`` is the same array, e.g.
  the data ``X`` of the first layer);
- :math:`G = A_cA_c^T = \sum_k A_{c,k}A_{c,k}^T` (cached with them), :math:`ZA_c^T` and
  :math:`Z\mathbf 1` (one reduction);
- for the majorise-minimise solver, the gradient
  :math:`(\nabla_u D(W_yA_c + c_y\mathbf 1^T, Z)A_c^T,\ \nabla_u D(\cdot)\mathbf 1)` at each
  iteration (one reduction per iteration).

The :math:`p\times p` algebra (Cholesky factor, solves, momentum, certificates) runs on the
client, exactly as in :mod:`cvxlift.fast.wstep`: ``ridge`` solves
:math:`W(G + \tfrac{\rho}{\lambda\mu}I) = ZA_c^T`, :math:`c = Z\mathbf 1/m`; ``majorize`` runs
the accelerated majorisation-minimisation with the Hessian majoriser
:math:`\lambda L_u\,\mathrm{diag}(G, m) + 2\rho\,\mathrm{diag}(I, 0)`, Nesterov momentum and
gradient-based restart; both return :math:`b = c - W\bar a` and the same relative gradient
certificate. Only sums of rounding order differ from the in-memory solvers (tested to
:math:`10^{-10}`).
"""

import time

import numpy as np
from scipy import linalg

from .. import fast
from ..exceptions import NoFastSolver
from ..fast.wstep import default_max_iter, momentum_step
from . import kernels
from .chunks import blocks, compute, reduce_columns

__all__ = ["SOLVERS", "LayerInput", "select", "w_step"]


def _spd_solver(M):
    """``X -> M^{-1}X`` from a Cholesky factor, or from an eigen-factorisation when rounding
    makes Cholesky fail (as the in-memory solvers)."""
    try:
        cf = linalg.cho_factor(M, lower=False, check_finite=False)
        return lambda X: linalg.cho_solve(cf, X, check_finite=False)
    except linalg.LinAlgError:
        w, V = linalg.eigh(M, check_finite=False)
        w = np.maximum(w, np.finfo(float).eps * max(w.max(), 1e-300))
        return lambda X: V @ ((V.T @ X) / w[:, None])


def _scale(zsum, ZAc, abar):
    r""":math:`\|Z[A; \mathbf 1^T]^T\|_F` from :math:`ZA_c^T` and :math:`Z\mathbf 1`."""
    ZA = ZAc + np.outer(zsum, abar)
    return float(np.sqrt(np.sum(ZA * ZA) + np.sum(zsum * zsum)))


def _grad_norm(gW, gc, abar):
    """Norm of the gradient in (W, b) from the gradient in the centred (W, c)."""
    gWo = gW + np.outer(gc, abar)
    return float(np.sqrt(np.sum(gWo * gWo) + np.sum(gc * gc)))


class LayerInput:
    r"""The sums of one layer input ``A`` that do not depend on the target: :math:`m`,
    :math:`\bar a` and :math:`G = A_cA_c^T`, computed on first use.

    Parameters
    ----------
    A : dask array (p, m)
        Column-chunked layer input.
    """

    def __init__(self, A):
        self.A = A
        self.m = self.abar = self.G = None

    def means(self):
        """Compute :math:`m` and :math:`\\bar a` (one reduction) if not known yet."""
        if self.abar is None:
            ((m, s),) = compute(reduce_columns(kernels.column_sums, [self.A], name="column-sums"))
            self.m, self.abar = int(m), np.asarray(s, dtype=np.float64) / int(m)
        return self


def _products(inp, Z):
    """``(G, ZA_c^T, Z 1)`` in one reduction (``G`` from ``inp`` when known)."""
    inp.means()
    need_gram = inp.G is None
    ((G, ZAc, zsum),) = compute(
        reduce_columns(kernels.centred_products, [inp.A, Z], (inp.abar, need_gram), name="w-step-products")
    )
    if need_gram:
        inp.G = np.asarray(G, dtype=np.float64)
    return inp.G, np.asarray(ZAc, dtype=np.float64), np.asarray(zsum, dtype=np.float64)


def _ridge(inp, Z, d, form, lam, rho, props, W0, b0, tol, max_iter):
    mu = props.u_quadratic
    G0, ZAc, zsum = _products(inp, Z)
    p = G0.shape[0]
    G = G0.copy()
    G[np.diag_indices(p)] += rho / (lam * mu)
    W = _spd_solver(G)(ZAc.T).T
    c = zsum / inp.m
    b = c - W @ inp.abar
    k = 2.0 * lam * mu
    gW = k * (W @ G - ZAc)
    cert = _grad_norm(gW, np.zeros(W.shape[0]), inp.abar) / (1.0 + k * _scale(zsum, ZAc, inp.abar))
    return W, b, 0, cert, bool(cert <= max(tol, 1e3 * np.finfo(float).eps))


def _majorize(inp, Z, d, form, lam, rho, props, W0, b0, tol, max_iter):
    Lu = props.u_lipschitz
    G, ZAc, zsum = _products(inp, Z)
    p, m, abar = G.shape[0], inp.m, inp.abar
    q = Z.shape[0] if W0 is None else W0.shape[0]
    HW = (lam * Lu) * G
    HW[np.diag_indices(p)] += 2.0 * rho
    solve = _spd_solver(HW)
    hc = lam * Lu * m
    scale = 1.0 + lam * _scale(zsum, ZAc, abar)
    cols = [blocks(inp.A), blocks(Z)]  # the chunks, reduced once per iteration
    W = np.zeros((q, p)) if W0 is None else np.array(W0, dtype=np.float64)
    b = np.zeros(q) if b0 is None else np.array(b0, dtype=np.float64)
    c = b + W @ abar
    Wy, cy = W, c
    theta, cert, it = 1.0, np.inf, 0
    while True:
        ((GuA, gsum),) = compute(
            reduce_columns(kernels.majorize_partials, cols, (abar, Wy, cy, d, form), name="w-step-gradient")
        )
        gW = lam * np.asarray(GuA, dtype=np.float64)
        gW += 2.0 * rho * Wy
        gc = lam * np.asarray(gsum, dtype=np.float64)
        cert = _grad_norm(gW, gc, abar) / scale
        if cert <= tol or it >= max_iter:
            break
        it += 1
        Wn = Wy - solve(gW.T).T
        cn = cy - gc / hc
        Wy, cy, theta = momentum_step(W, c, Wn, cn, gW, gc, theta)
        W, c = Wn, cn
    return Wy, cy - Wy @ abar, it, cert, bool(cert <= tol)


#: The in-memory W-step candidates (registry names) that have a distributed counterpart.
SOLVERS = {"ridge": _ridge, "majorize": _majorize}


def select(d, form, method=None):
    """The W-step candidate for ``d`` in ``form`` and its distributed solver: ``method`` if
    given, else the first of the registry's candidates (in the registry's order) that applies
    to the atom's structure and has a distributed counterpart. Where the registry's first
    choice in memory has none (``pncg`` for a smooth ``D``), this is the next one that applies
    (``majorize``): the in-memory fit with ``fast_options={"w_step": {"method": "majorize"}}``
    is then the same fit.

    Parameters
    ----------
    d : Divergence
    form : str
    method : str, optional
        A registered W-step candidate with a distributed counterpart (``"ridge"``, ``"majorize"``).

    Returns
    -------
    (AtomProps, Candidate, callable)

    Raises
    ------
    NoFastSolver
        When no candidate that applies has a distributed counterpart (or ``method`` has none).
    """
    props = fast.atom_props(d, form)
    if method is not None:
        cand = fast.select("w_step", method=method, atom=props)  # a registered candidate that applies
        if cand.name not in SOLVERS:
            raise NoFastSolver(
                f"method {method!r} has no distributed counterpart (distributed W-steps: {sorted(SOLVERS)})"
            )
        return props, cand, SOLVERS[cand.name]
    for cand in fast.candidates("w_step"):
        if cand.name in SOLVERS and cand.predicate(atom=props):
            return props, cand, SOLVERS[cand.name]
    cand = fast.select("w_step", atom=props)  # raises NoFastSolver when none applies at all
    raise NoFastSolver(
        f"the W-step of {d!r} (form={form!r}) runs {cand.label} in memory, which has no "
        f"distributed counterpart (distributed W-steps: {sorted(SOLVERS)})"
    )


def w_step(inp, Z, d, form, lam, rho, W0=None, b0=None, tol=1e-10, max_iter=None, method=None):
    r"""Solve :math:`\min_{W,b} \lambda D(WA + b1^T, Z) + \rho\|W\|_F^2` from sums over chunks.

    Parameters
    ----------
    inp : LayerInput
        The layer input ``A`` (column-chunked) and its cached sums.
    Z : dask array (q, m)
        Layer state, chunked like ``A``.
    d, form : the layer's divergence and form
    lam, rho : float
    W0, b0 : arrays, optional
        Warm start of the iterative solver.
    tol, max_iter
        As :func:`cvxlift.fast.w_step`.
    method : str, optional
        The candidate to use (see :func:`select`).

    Returns
    -------
    W : (q, p) array, b : (q,) array, info : BlockResult
    """
    t0 = time.perf_counter()
    form = d.check_form(form)
    props, cand, solver = select(d, form, method)
    if max_iter is None:
        max_iter = default_max_iter(inp.A.shape[0])
    W, b, it, cert, conv = solver(inp, Z, d, form, float(lam), float(rho), props, W0, b0, float(tol), int(max_iter))
    return W, b, fast.BlockResult(it, float(cert), bool(conv), time.perf_counter() - t0, float("nan"), cand.label)
