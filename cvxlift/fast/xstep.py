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

from ._common import (Columns, as_matrix, as_vector, colnorm, fista, max_eig_psd, mm, positive, spd_factor,
                      spectral_norm_sq)
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
        Un = mm(self.W, Z) + self.b[:, None]
        return float(self.lam_prev * np.sum(self.d_prev.divergence_value(self.U0, Z, self.f_prev))
                     + self.lam_next * np.sum(self.d_next.divergence_value(Un, self.Znext, self.f_next)))

    def setup_gradient(self):
        """Precompute what the gradient needs; return a Lipschitz constant ``L`` of it."""
        W = self.W
        q, p = W.shape
        mu_n = self.next.u_quadratic
        self.Q = None
        self.k = None
        if mu_n is not None:
            # f(Z) = lam mu ||W Z + b - Znext||^2: gradient k W^T W Z - R, R precomputed
            k = 2.0 * self.lam_next * mu_n
            R = k * mm(W.T, self.Znext - self.b[:, None])
            if 2 * q < p:   # low rank: W^T (W Z) costs 2qpm < p^2 m
                self.k = k
                L = k * spectral_norm_sq(W)
            else:
                self.Q = k * (W.T @ W)
                L = max_eig_psd(self.Q)
            self.cols = Columns(U0=self.U0, R=R, Znext=None)
        else:
            L = self.lam_next * self.next.u_lipschitz * spectral_norm_sq(W)
            self.cols = Columns(U0=self.U0, R=None, Znext=self.Znext)
        return L * (1.0 + 1e-12)

    def grad(self, Y):
        if self.Q is not None:
            G = mm(self.Q, Y)
            G -= self.cols["R"]
            return G
        if self.k is not None:
            G = mm(self.W.T, self.k * mm(self.W, Y))
            G -= self.cols["R"]
            return G
        Un = mm(self.W, Y)
        Un += self.b[:, None]
        Gu = self.d_next.u_gradient(Un, self.cols["Znext"], self.f_next)
        return self.lam_next * mm(self.W.T, Gu)

    def prox(self, V, t):
        return self.d_prev.prox_z(self.cols["U0"], V, t * self.lam_prev, self.f_prev)

    def residual(self, Z):
        """Relative fixed-point residual per column,
        :math:`\\|Z - \\mathrm{prox}_{tg}(Z - t\\nabla f(Z))\\| / (t(1 + \\|\\nabla f(Z)\\|))`."""
        if self.next.u_lipschitz is None:
            raise ValueError("residual needs D_next smooth in u")
        L = self.setup_gradient()
        if L <= 0:
            return colnorm(Z - self.d_prev.forward(self.U0))   # f constant: the argmin of g
        t = 1.0 / L
        G = self.grad(Z)
        P = self.prox(Z - t * G, t)
        return colnorm(Z - P) / (t * (1.0 + colnorm(G)))


def x_step(U0, W, b, Znext, d_prev, f_prev, d_next, f_next, lam_prev, lam_next, Z0=None, tol=1e-9,
           max_iter=20000, method=None, evaluate=True):
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
    method : str, optional
        Name of a registered candidate to use instead of the first that applies (for
        comparisons; it must apply to the atoms).
    evaluate : bool
        Evaluate the block objective for ``info.objective`` (``False``: NaN).

    Returns
    -------
    Z : (p, m) array, info : BlockResult (``certificate``: the largest column's)

    Raises
    ------
    NoFastSolver
        When ``D_next`` is nonsmooth in ``u``.
    """
    t0 = time.perf_counter()
    if isinstance(max_iter, bool) or not isinstance(max_iter, (int, np.integer)) or max_iter < 0:
        raise ValidationError(f"max_iter must be a non-negative integer, got {max_iter!r}")
    pb = XStepProblem(U0, W, b, Znext, d_prev, f_prev, d_next, f_next, lam_prev, lam_next)
    cand = select("x_step", method=method, prev=pb.prev, next=pb.next, q=pb.W.shape[0])
    if Z0 is not None:
        Z0 = as_matrix(Z0, "Z0", rows=pb.p, cols=pb.m)
    Z, it, cert, conv = cand.solver(pb, Z0, tol, int(max_iter))
    obj = pb.objective(Z) if evaluate else float("nan")
    return Z, BlockResult(it, float(cert), bool(conv), time.perf_counter() - t0, obj, cand.label)


@register("x_step", "linear",
          lambda prev, next, q=None: prev.domain == "real" and next.u_quadratic is not None,
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


#: Largest next-layer width ``q`` for which ``dual_newton`` is used (its iteration costs
#: :math:`O(q^2 p m)`); wider layers go to ``fista``.
DUAL_MAX_Q = 40
#: Armijo parameter and largest number of step halvings of ``dual_newton``'s line search.
ARMIJO, MAX_HALVINGS = 1e-4, 40
ELEMENTWISE_DOMAINS = ("real", "nonneg", "box")


@register("x_step", "dual_newton",
          lambda prev, next, q=None: (prev.domain in ELEMENTWISE_DOMAINS and next.u_quadratic is not None
                                      and (q is None or q <= DUAL_MAX_Q)),
          "D_prev = mu ||z - u||^2 + I_C(z) with C a box (elementwise projection), D_next quadratic in u, "
          "and a next layer of at most DUAL_MAX_Q = 40 rows")
def _dual_newton(pb, Z0, tol, max_iter):
    r"""Semismooth Newton on the dual, one :math:`q`-vector per column.

    With :math:`a = \lambda_{prev}\mu_p`, :math:`B = \lambda_{next}\mu_n`, :math:`c = z_{next} - b`,
    each column solves :math:`\min_{z \in C} a\|z - u\|^2 + B\|Wz - c\|^2`. Writing
    :math:`B\|v\|^2 = \max_y y^Tv - \|y\|^2/(4B)` gives the concave dual

    .. math:: h(y) = a\|z(y) - u\|^2 + y^T(Wz(y) - c) - \|y\|^2/(4B),\qquad
              z(y) = \Pi_C(u - W^Ty/(2a)),

    with :math:`\nabla h(y) = Wz(y) - c - y/(2B)` and generalised Hessian
    :math:`-(W\,\mathrm{diag}(\delta)\,W^T/(2a) + I/(2B))`, :math:`\delta` the indicator of
    the coordinates where :math:`\Pi_C` is the identity. The :math:`q \times q` Hessians of
    all columns come from one product :math:`(W \odot W)^T\delta` (a
    :math:`q^2 \times p` by :math:`p \times m` GEMM). Steps are damped by an Armijo line
    search on :math:`h`, per column. A column stops when its duality gap
    :math:`P(z(y)) - h(y)` is at most ``tol`` :math:`(1 + |P|)`: a certificate, since
    :math:`h(y) \le P^\star \le P(z(y))`.
    """
    q, p = pb.W.shape
    a = pb.lam_prev * pb.prev.mu
    B = pb.lam_next * pb.next.u_quadratic
    W = pb.W
    proj = pb.d_prev.project_domain
    full_domain = pb.prev.domain == "real"
    U = pb.U0
    C = pb.Znext - pb.b[:, None]
    m = U.shape[1]
    s = 1.0 / (2.0 * a)
    WW = (W[:, None, :] * W[None, :, :]).reshape(q * q, p)
    eye = np.eye(q) / (2.0 * B)
    Z0 = pb.d_prev.forward(U) if Z0 is None else Z0
    Y = (2.0 * B) * (mm(W, Z0) - C)

    def evaluate(Uc, Cc, Yc):
        V = Uc - s * mm(W.T, Yc)
        Z = proj(V)
        R = mm(W, Z) - Cc
        dz = a * colsum_sq(Z - Uc)
        h = dz + np.einsum("ij,ij->j", Yc, R) - colsum_sq(Yc) / (4.0 * B)
        return V, Z, R, dz, h

    Zout = np.empty((p, m))
    cert = np.full(m, np.inf)
    idx = np.arange(m)
    Uc, Cc = U, C
    V, Z, R, dz, h = evaluate(Uc, Cc, Y)
    it = 0
    while True:
        P = dz + B * colsum_sq(R)
        gap = np.maximum(P - h, 0.0) / (1.0 + np.abs(P))
        done = gap <= tol
        # converged columns leave the active set (a gather of every array): when all, or at
        # least a tenth of them, are done; until then they ride along, frozen in Zout
        if done.all() or done.sum() >= max(1, idx.size // 10):
            Zout[:, idx[done]] = Z[:, done]
            cert[idx[done]] = gap[done]
            keep = ~done
            idx = idx[keep]
            if not idx.size:
                break
            Uc, Cc, Y, V, Z, R, dz, h = (Uc[:, keep], Cc[:, keep], Y[:, keep], V[:, keep], Z[:, keep],
                                         R[:, keep], dz[keep], h[keep])
            gap, done = gap[keep], done[keep]
        if it >= max_iter or done.all():
            Zout[:, idx] = Z
            cert[idx] = gap
            break
        it += 1
        F = R - Y / (2.0 * B)
        if full_domain:
            H = np.broadcast_to((WW.sum(axis=1) * s).reshape(q, q), (idx.size, q, q)) + eye
        else:
            delta = (Z == V).astype(np.float64)
            H = mm(WW, delta).T.reshape(-1, q, q) * s + eye
        step = np.linalg.solve(H, F.T[:, :, None])[:, :, 0].T
        slope = np.einsum("ij,ij->j", F, step)
        # full Newton step on every column first (no gathers): usually all are accepted
        step[:, done] = 0.0                              # converged columns waiting to retire
        Yt = Y + step
        Vt, Zt, Rt, dzt, ht = evaluate(Uc, Cc, Yt)
        ok = (ht >= h + ARMIJO * slope) | done
        if ok.all():
            Y, V, Z, R, dz, h = Yt, Vt, Zt, Rt, dzt, ht
            continue
        Y[:, ok], V[:, ok], Z[:, ok], R[:, ok] = Yt[:, ok], Vt[:, ok], Zt[:, ok], Rt[:, ok]
        dz[ok], h[ok] = dzt[ok], ht[ok]
        todo = np.flatnonzero(~ok)
        t = np.full(idx.size, 0.5)
        for _ in range(MAX_HALVINGS):
            Yt = Y[:, todo] + t[todo] * step[:, todo]
            Vt, Zt, Rt, dzt, ht = evaluate(Uc[:, todo], Cc[:, todo], Yt)
            ok = ht >= h[todo] + ARMIJO * t[todo] * slope[todo]
            sel = todo[ok]
            Y[:, sel], V[:, sel], Z[:, sel], R[:, sel] = Yt[:, ok], Vt[:, ok], Zt[:, ok], Rt[:, ok]
            dz[sel], h[sel] = dzt[ok], ht[ok]
            todo = todo[~ok]
            if not todo.size:
                break
            t[todo] *= 0.5
        # a column whose line search failed is at the dual optimum to rounding: the gap test decides
    c = float(np.max(cert, initial=0.0))
    return Zout, it, c, bool(c <= tol)


def colsum_sq(A):
    return np.einsum("ij,ij->j", A, A)


@register("x_step", "fista", lambda prev, next, q=None: next.u_lipschitz is not None and prev.prox == "exact",
          "D_next smooth in u (u_lipschitz not None); D_prev through its exact z-prox (prox='exact')")
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

