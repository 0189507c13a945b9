r"""The hidden-layer X-step (paper eq. 13):

.. math:: \min_Z\ \lambda_{prev} D_{prev}(U_0, Z) + \lambda_{next} D_{next}(WZ + b\mathbf 1^T, Z_{next}).

Separable over columns. Solvers (tried in this order by the registry):

``linear`` (``D_prev`` is :math:`\mu_p\|z - u\|^2` on the whole space and ``D_next`` is
:math:`\mu_n\|u - z\|^2 + g(z)` in ``u``)
    exact: :math:`(a I + B W^TW) Z = a U_0 + B W^T(Z_{next} - b\mathbf 1^T)` with
    :math:`a = \lambda_{prev}\mu_p`, :math:`B = \lambda_{next}\mu_n`; one Cholesky factor.
``fista`` (``D_next`` smooth in ``u``)
    accelerated proximal gradient on :math:`f(Z) = \lambda_{next} D_{next}(WZ + b, Z_{next})`
    (gradient :math:`W^T \lambda_{next}\nabla_u D_{next}`, Lipschitz
    :math:`\lambda_{next} L_u \|W\|_2^2`) and :math:`g(Z) = \lambda_{prev} D_{prev}(U_0, Z)`
    through the atom's exact z-prox (``prox_z``). Where ``D_next`` is quadratic in ``u``
    the gradient is :math:`QZ - R` with :math:`Q = 2\lambda_{next}\mu_n W^TW` and
    :math:`R = 2\lambda_{next}\mu_n W^T(Z_{next} - b)` precomputed: one GEMM per iteration.
    Per-column momentum and restart; a column stops when its certificate (a bound on the
    distance of 0 to the subdifferential, relative to :math:`1 + \|\nabla f\|`) is below
    ``tol`` and is then dropped from the products (see :func:`~cvxlift.fast._common.fista`).
"""
import time

import numpy as np

from ..exceptions import ValidationError
from ._common import Columns, as_matrix, as_vector, colnorm, fista, max_eig_psd, positive, spd_factor
from .registry import atom_props, register, select
from .result import BlockResult


class XStepProblem:
    """The data of one X-step, with its gradient, prox and objective."""

    def __init__(self, U0, W, b, Znext, d_prev, f_prev, d_next, f_next, lam_prev, lam_next):
        self.d_prev, self.d_next = d_prev, d_next
        self.f_prev, self.f_next = d_prev.check_form(f_prev), d_next.check_form(f_next)
        self.prev = atom_props(d_prev, self.f_prev)
        self.next = atom_props(d_next, self.f_next)
        self.lam_prev = positive(lam_prev, "lam_prev")
        self.lam_next = positive(lam_next, "lam_next")
        self.U0 = as_matrix(U0, "U0")
        m = self.U0.shape[1]
        self.p = d_prev.out_dim(self.U0.shape[0])
        self.W = as_matrix(W, "W", cols=self.p)
        q = self.W.shape[0]
        self.b = as_vector(b, "b", q)
        self.Znext = as_matrix(Znext, "Znext", rows=d_next.out_dim(q), cols=m)
        self.m = m

    # ------------------------------------------------------------------ pieces
    def objective(self, Z):
        Un = self.W @ Z + self.b[:, None]
        return float(self.lam_prev * np.sum(self.d_prev.divergence_value(self.U0, Z, self.f_prev))
                     + self.lam_next * np.sum(self.d_next.divergence_value(Un, self.Znext, self.f_next)))

    def setup_gradient(self):
        """Precompute what the gradient needs; return ``(L, cols)``."""
        W = self.W
        WtW = W.T @ W
        mu_n = self.next.u_quadratic
        if mu_n is not None:
            k = 2.0 * self.lam_next * mu_n
            self.Q = k * WtW
            R = k * (W.T @ (self.Znext - self.b[:, None]))
            L = max_eig_psd(self.Q)
            self.cols = Columns(U0=self.U0, R=R, Znext=None)
        else:
            self.Q = None
            L = self.lam_next * self.next.u_lipschitz * max_eig_psd(WtW)
            self.cols = Columns(U0=self.U0, R=None, Znext=self.Znext)
        return L * (1.0 + 1e-12)

    def grad(self, Y):
        if self.Q is not None:
            G = self.Q @ Y
            G -= self.cols["R"]
            return G
        Un = self.W @ Y
        Un += self.b[:, None]
        Gu = self.d_next.u_gradient(Un, self.cols["Znext"], self.f_next)
        return self.lam_next * (self.W.T @ Gu)

    def prox(self, V, t):
        return self.d_prev.prox_z(self.cols["U0"], V, t * self.lam_prev, self.f_prev)

    def residual(self, Z):
        """Relative fixed-point residual per column,
        :math:`\\|Z - \\mathrm{prox}_{tg}(Z - t\\nabla f(Z))\\| / (t(1 + \\|\\nabla f(Z)\\|))`."""
        if self.next.u_lipschitz is None:
            raise ValueError("residual needs D_next smooth in u")
        L = self.setup_gradient()
        if L <= 0:
            return colnorm(Z - self.d_prev.forward(self.U0)) * np.inf
        t = 1.0 / L
        G = self.grad(Z)
        P = self.prox(Z - t * G, t)
        return colnorm(Z - P) / (t * (1.0 + colnorm(G)))


def x_step(U0, W, b, Znext, d_prev, f_prev, d_next, f_next, lam_prev, lam_next, Z0=None, tol=1e-9,
           max_iter=20000):
    """Solve the hidden-layer X-step (paper eq. 13) for all columns at once.

    Parameters
    ----------
    U0 : (n, m) array
        Pre-activation of the previous layer, :math:`W_{l-1}X_{l-1} + b_{l-1}\\mathbf 1^T`.
    W : (q, p) array, b : (q,) array
        Weights of the next layer.
    Znext : (q', m) array
        Next state :math:`X_{l+1}`.
    d_prev, f_prev, d_next, f_next
        Divergences (and forms) of the previous and the next layer.
    lam_prev, lam_next : float > 0
    Z0 : (p, m) array, optional
        Warm start (default ``d_prev.forward(U0)``).
    tol : float
        Bound on every column's relative certificate.
    max_iter : int

    Returns
    -------
    Z : (p, m) array, info : BlockResult (``certificate``: the largest column's)

    Raises
    ------
    NoFastSolver
        When ``D_next`` is nonsmooth in ``u``.
    """
    t0 = time.perf_counter()
    pb = XStepProblem(U0, W, b, Znext, d_prev, f_prev, d_next, f_next, lam_prev, lam_next)
    cand = select("x_step", prev=pb.prev, next=pb.next)
    if Z0 is not None:
        Z0 = as_matrix(Z0, "Z0", rows=pb.p, cols=pb.m)
    Z, it, cert, conv = cand.solver(pb, Z0, tol, int(max_iter))
    obj = pb.objective(Z)
    return Z, BlockResult(it, float(cert), bool(conv), time.perf_counter() - t0, obj, cand.label)


@register("x_step", "linear",
          lambda prev, next: prev.domain == "real" and prev.u_quadratic is not None and next.u_quadratic is not None,
          "D_prev quadratic in z on the whole space and D_next quadratic in u")
def _linear(pb, Z0, tol, max_iter):
    a = pb.lam_prev * pb.prev.mu
    B = pb.lam_next * pb.next.u_quadratic
    M = B * (pb.W.T @ pb.W)
    M[np.diag_indices(pb.p)] += a
    rhs = a * pb.U0 + B * (pb.W.T @ (pb.Znext - pb.b[:, None]))
    Z = spd_factor(M)(rhs)
    cert = float(np.max(colnorm(M @ Z - rhs) / (1.0 + colnorm(rhs)), initial=0.0))
    return Z, 0, cert, bool(cert <= max(tol, 1e3 * np.finfo(float).eps))


class Spectral:
    r"""Spectral factorisation of :math:`Q = c\,W^TW = V\,\mathrm{diag}(s)\,V^T` (``V``: ``p x k``,
    :math:`k = \min(q, p)`), for products with ``Q`` and solves with :math:`Q + \sigma I`
    (one :math:`\sigma` per column). With :math:`q < p/2` it works through the thin SVD of
    ``W``: every product costs :math:`2kpm` instead of :math:`p^2m`."""

    def __init__(self, W, c):
        q, p = W.shape
        self.p = p
        self.low_rank = 2 * q < p
        if self.low_rank:
            _, sv, Vt = np.linalg.svd(W, full_matrices=False)
            self.V = np.ascontiguousarray(Vt.T)
            self.s = c * sv * sv
            self.Q = None
        else:
            self.Q = c * (W.T @ W)
            ev, V = np.linalg.eigh(self.Q)
            self.s = np.maximum(ev, 0.0)
            self.V = V
        self.L = float(self.s.max(initial=0.0))

    def matvec(self, Y):
        if self.Q is not None:
            return self.Q @ Y
        return self.V @ (self.s[:, None] * (self.V.T @ Y))

    def solve_shift(self, X, sigma):
        """:math:`(Q + \sigma_j I)^{-1} x_j` for every column ``j``."""
        VX = self.V.T @ X
        if self.low_rank:
            coef = 1.0 / (self.s[:, None] + sigma[None, :]) - 1.0 / sigma[None, :]
            return X / sigma[None, :] + self.V @ (coef * VX)
        return self.V @ (VX / (self.s[:, None] + sigma[None, :]))


def admm(pb, Z0, tol, max_iter, sp=None, R=None, check_every=5, alpha=1.6):
    r"""ADMM (over-relaxed, scaled form) for :math:`\min_z \tfrac12 z^TQz - r^Tz + g(z)`, with
    the split :math:`z = y`: the z-update is a solve with :math:`Q + \sigma I` (spectral
    factors shared by all columns, one :math:`\sigma` per column, so adapting it costs
    nothing), the y-update is the atom's prox with :math:`t = 1/\sigma`.

    Certificate for ``y``: :math:`y = \mathrm{prox}_{g/\sigma}(v)` gives
    :math:`\sigma(v - y) = \sigma w \in \partial g(y)`, so :math:`\|Qy - r + \sigma w\|`
    bounds the distance of 0 to :math:`\partial F(y)`; relative to :math:`1 + \|Qy - r\|`
    as for FISTA. Checked every ``check_every`` iterations; :math:`\sigma` is rebalanced
    (OSQP's rule, per column) at checks spaced geometrically, so that it settles.
    """
    if sp is None:
        k = 2.0 * pb.lam_next * pb.next.u_quadratic
        sp = Spectral(pb.W, k)
        R = k * (pb.W.T @ (pb.Znext - pb.b[:, None]))
    cols = Columns(U0=pb.U0, R=R)
    m = pb.m
    mu_g = pb.lam_prev * (2.0 * pb.prev.mu if pb.prev.mu is not None else 1.0)
    sigma0 = np.sqrt(max(sp.L, mu_g) * mu_g)
    sigma = np.full(m, sigma0)
    Y = np.array(Z0, dtype=np.float64, copy=True)
    Yout = Y.copy()
    cert = np.full(m, np.inf)
    G = sp.matvec(Y) - R
    Wd = -G / sigma[None, :]          # scaled dual: sigma * w in dg(y) at a solution
    idx = np.arange(m)
    it = 0
    last_res = np.full(m, np.inf)
    while idx.size and it < max_iter:
        it += 1
        Rs = cols["R"]
        rhs = Rs + sigma * (Y - Wd)
        Zs = sp.solve_shift(rhs, sigma)
        Zh = alpha * Zs + (1.0 - alpha) * Y
        V = Zh + Wd
        Yn = pb.d_prev.prox_z(cols["U0"], V, pb.lam_prev / sigma[None, :], pb.f_prev)
        Wn = V - Yn
        if it % check_every and it != max_iter:
            Y, Wd = Yn, Wn
            continue
        # OSQP's residuals (x = Zs, z = Yn, dual = sigma * Wn); Q Zs = rhs - sigma Zs for free
        QZ = rhs - sigma * Zs
        Lam = sigma * Wn
        rp = colnorm(Zs - Yn) / np.maximum(np.maximum(colnorm(Zs), colnorm(Yn)), 1e-300)
        rd = colnorm(QZ - Rs + Lam) / np.maximum(np.maximum(colnorm(QZ), colnorm(Lam)),
                                                  np.maximum(colnorm(Rs), 1e-300))
        G = sp.matvec(Yn) - Rs
        nG = colnorm(G)
        res = colnorm(G + Lam) / (1.0 + nG)
        done = res <= tol
        ratio = np.sqrt(np.clip(rp / np.maximum(rd, 1e-300), 1e-6, 1e6))
        upd = (ratio > 5.0) | (ratio < 0.2)
        new_sigma = np.clip(np.where(upd, sigma * ratio, sigma), 1e-8 * sigma0, 1e8 * sigma0)
        Wd = Wn * (sigma / new_sigma)[None, :]
        sigma = new_sigma
        Y = Yn
        last_res = res
        if done.any():
            Yout[:, idx[done]] = Y[:, done]
            cert[idx[done]] = res[done]
            keep = ~done
            idx = idx[keep]
            Y, Wd, sigma, last_res = Y[:, keep], Wd[:, keep], sigma[keep], last_res[keep]
            cols.set_active(idx)
    if idx.size:
        Yout[:, idx] = Y
        cert[idx] = last_res
    c = float(np.max(cert, initial=0.0))
    return Yout, it, c, bool(c <= tol)


@register("x_step", "admm", lambda prev, next: next.u_quadratic is not None,
          "D_next quadratic in u (u_quadratic); D_prev through its z-prox")
def _admm(pb, Z0, tol, max_iter):
    if Z0 is None:
        Z0 = pb.d_prev.forward(pb.U0)
    return admm(pb, Z0, tol, max_iter)


@register("x_step", "fista", lambda prev, next: next.u_lipschitz is not None,
          "D_next smooth in u (u_lipschitz not None); D_prev through its z-prox")
def _fista(pb, Z0, tol, max_iter):
    if Z0 is None:
        Z0 = pb.d_prev.forward(pb.U0)
    L = pb.setup_gradient()
    if not L > 0:  # W = 0: the next layer does not depend on Z
        return pb.d_prev.forward(pb.U0), 0, 0.0, True
    Z, cert, it = fista(pb.grad, pb.prox, Z0, L, tol, max_iter, pb.cols)
    c = float(np.max(cert, initial=0.0))
    return Z, it, c, bool(c <= tol)


__all__ = ["x_step", "XStepProblem"]

_ = ValidationError
