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

from .. import arrays as ax
from ..exceptions import ValidationError
from ._common import (
    Columns,
    as_matrix,
    as_vector,
    colnorm,
    fista,
    iteration_budget,
    max_eig_psd,
    mm,
    positive,
    spd_factor,
    spectral_norm_sq,
)
from .registry import atom_props, register, select
from .result import BlockResult


class XStepProblem:
    """The data of one X-step, with its gradient, prox and objective."""

    def __init__(self, U0, W, b, Znext, d_prev, f_prev, d_next, f_next, lam_prev, lam_next):
        self.f_prev, self.f_next = d_prev.check_form(f_prev), d_next.check_form(f_next)
        self.prev = atom_props(d_prev, self.f_prev)
        self.next = atom_props(d_next, self.f_next)
        self.lam_prev = positive(lam_prev, "lam_prev")
        self.lam_next = positive(lam_next, "lam_next")
        self.U0 = as_matrix(U0, "U0")
        like = self.U0
        # atoms without array-API code are called through numpy (cvxlift.arrays.native)
        self.d_prev, self.d_next = ax.native(d_prev, like), ax.native(d_next, like)
        self.xp = ax.namespace(like)
        m = self.U0.shape[1]
        self.p = d_prev.out_dim(self.U0.shape[0])
        self.W = ax.asarray(as_matrix(W, "W", cols=self.p), like=like)
        q = self.W.shape[0]
        self.b = ax.asarray(as_vector(b, "b", q), like=like)
        self.Znext = ax.asarray(as_matrix(Znext, "Znext", rows=d_next.out_dim(q), cols=m), like=like)
        self.m = m

    # ------------------------------------------------------------------ pieces
    def objective(self, Z):
        Un = mm(self.W, Z) + self.b[:, None]
        xp = self.xp
        return float(
            self.lam_prev * float(xp.sum(self.d_prev.divergence_value(self.U0, Z, self.f_prev)))
            + self.lam_next * float(xp.sum(self.d_next.divergence_value(Un, self.Znext, self.f_next)))
        )

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
            if 2 * q < p:  # low rank: W^T (W Z) costs 2qpm < p^2 m
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
            return colnorm(Z - self.d_prev.forward(self.U0))  # f constant: the argmin of g
        t = 1.0 / L
        G = self.grad(Z)
        P = self.prox(Z - t * G, t)
        return colnorm(Z - P) / (t * (1.0 + colnorm(G)))


def x_step(
    U0,
    W,
    b,
    Znext,
    d_prev,
    f_prev,
    d_next,
    f_next,
    lam_prev,
    lam_next,
    Z0=None,
    tol=1e-9,
    max_iter=None,
    method=None,
    evaluate=True,
):
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
    max_iter : int, optional
        Iteration budget (default :func:`~cvxlift.fast._common.iteration_budget` of the selected
        method for ``p + q`` unknowns per column); a solve that reaches it returns its
        certificate with ``converged=False``.
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
    if max_iter is not None and (
        isinstance(max_iter, bool) or not isinstance(max_iter, (int, np.integer)) or max_iter < 0
    ):
        raise ValidationError(f"max_iter must be None or a non-negative integer, got {max_iter!r}")
    pb = XStepProblem(U0, W, b, Znext, d_prev, f_prev, d_next, f_next, lam_prev, lam_next)
    cand = select("x_step", method=method, prev=pb.prev, next=pb.next, q=pb.W.shape[0])
    if Z0 is not None:
        Z0 = ax.asarray(as_matrix(Z0, "Z0", rows=pb.p, cols=pb.m), like=pb.U0)
    if max_iter is None:
        max_iter = iteration_budget(getattr(cand.solver, "budget", "newton"), pb.p + pb.W.shape[0], pb.m)
    if getattr(cand.solver, "numpy_only", False) and ax.is_foreign(pb.U0):
        # a numpy-only solver (cvxlift.fast.generic): the block through numpy, the states back
        pbn = XStepProblem(
            *(ax.to_numpy(a) for a in (pb.U0, pb.W, pb.b, pb.Znext)), d_prev, f_prev, d_next, f_next, lam_prev, lam_next
        )
        Z, it, cert, conv = cand.solver(pbn, ax.to_numpy(Z0), tol, int(max_iter))
        Z = ax.asarray(Z, like=pb.U0)
    else:
        Z, it, cert, conv = cand.solver(pb, Z0, tol, int(max_iter))
    obj = pb.objective(Z) if evaluate else float("nan")
    return Z, BlockResult(it, float(cert), bool(conv), time.perf_counter() - t0, obj, cand.label)


@register(
    "x_step",
    "linear",
    lambda prev, next, q=None: prev.domain == "real" and next.u_quadratic is not None,
    "D_prev quadratic in z on the whole space and D_next quadratic in u",
)
def _linear(pb, Z0, tol, max_iter):
    a = pb.lam_prev * pb.prev.mu
    B = pb.lam_next * pb.next.u_quadratic
    M = B * (pb.W.T @ pb.W) + a * ax.eye(pb.xp, pb.p, pb.W)
    rhs = a * pb.U0 + B * (pb.W.T @ (pb.Znext - pb.b[:, None]))
    Z = spd_factor(M)(rhs)
    cert = ax.amax(colnorm(M @ Z - rhs) / (1.0 + colnorm(rhs)))
    return Z, 0, cert, bool(cert <= max(tol, 1e3 * np.finfo(float).eps))


#: Largest next-layer width ``q`` for which ``dual_newton`` is used (its iteration costs
#: :math:`O(q^2 p m)`); wider layers go to ``fista``.
DUAL_MAX_Q = 40
#: Armijo parameter and largest number of step halvings of ``dual_newton``'s line search.
ARMIJO, MAX_HALVINGS = 1e-4, 40
ELEMENTWISE_DOMAINS = ("real", "nonneg", "box")


@register(
    "x_step",
    "dual_newton",
    lambda prev, next, q=None: (
        prev.domain in ELEMENTWISE_DOMAINS and next.u_quadratic is not None and (q is None or q <= DUAL_MAX_Q)
    ),
    "D_prev = mu ||z - u||^2 + I_C(z) with C a box (elementwise projection), D_next quadratic in u, "
    "and a next layer of at most DUAL_MAX_Q = 40 rows",
)
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
    a = pb.lam_prev * pb.prev.mu
    proj = pb.d_prev.project_domain
    uu = colsum_sq(pb.U0)

    def value(U, Z, cols):
        # a ||z - u||^2 = a (z.z - 2 z.u + u.u) without a p x m temporary; its rounding error
        # (eps (z.z + u.u)) enters P and h alike and cancels in the gap P - h
        return a * (colsum_sq(Z) - 2.0 * colsum_sq2(Z, U) + (uu if cols is None else uu[cols]))

    def curvature(V, Z, out=None):
        if not ax.is_numpy(Z):
            return pb.xp.astype(Z == V, pb.xp.float64)
        if out is None or out.shape != Z.shape:
            out = np.empty(Z.shape)
        return np.equal(Z, V, out=out, casting="unsafe")

    return dual_newton_core(
        pb, Z0, tol, max_iter, 1.0 / (2.0 * a), proj, value, None if pb.prev.domain == "real" else curvature
    )


#: Relative step of the one-sided difference quotient that ``dual_newton_fenchel`` takes for
#: the derivative of ``forward`` (about the square root of the machine epsilon).
FD_STEP = 2.0**-26
#: ``dual_newton_fenchel`` stops at a duality gap this factor below ``tol``.
FENCHEL_GAP_FACTOR = 1e-3


@register(
    "x_step",
    "dual_newton_fenchel",
    lambda prev, next, q=None: (
        prev.form == "fenchel"
        and prev.u_lipschitz is not None
        and prev.u_lipschitz > 0
        and prev.domain != "simplex"
        and next.u_quadratic is not None
        and (q is None or q <= DUAL_MAX_Q)
    ),
    "D_prev in the Fenchel-Young form with a Lipschitz forward map (u_lipschitz not None) that is not "
    "the simplex projection, D_next quadratic in u, and a next layer of at most DUAL_MAX_Q = 40 rows",
)
def _dual_newton_fenchel(pb, Z0, tol, max_iter):
    r"""Newton on the dual of each column for a Fenchel-Young previous layer (sigmoid, tanh, sine, ...).

    With :math:`D_{prev}(u, z) = \Phi(z) + \Phi^*(u) - u^Tz` the inner minimisation has a closed
    form, :math:`\arg\min_z \lambda_{prev}D_{prev}(u, z) + y^TWz = \nabla\Phi^*(v) =`
    ``forward(v)`` with :math:`v = u - W^Ty/\lambda_{prev}`, so each column's concave dual is

    .. math:: h(y) = \lambda_{prev} D_{prev}(u, z(y)) + y^T(Wz(y) - c) - \|y\|^2/(4B),\qquad
              z(y) = \mathrm{forward}(u - W^Ty/\lambda_{prev}),

    smooth (``forward`` is Lipschitz), with :math:`\nabla h = Wz(y) - c - y/(2B)` and Hessian
    :math:`-(W J W^T/\lambda_{prev} + I/(2B))`, :math:`J` the Jacobian of ``forward`` at
    :math:`v`. For an elementwise atom :math:`J = \mathrm{diag}(\phi'(v))`, taken as a one-sided
    difference quotient of ``forward`` (relative step ``FD_STEP``, clipped to
    :math:`[0, L_u]`) and assembled for all columns by the GEMM of ``dual_newton``; for an atom
    that is not elementwise :math:`J` is replaced by its bound :math:`L_u I` (majorisation steps,
    linear convergence: the simplex, whose z-side is quadratic, goes to ``fista`` instead). Either way the step is
    an ascent direction and an Armijo search on :math:`h` safeguards it: the derivative only
    affects the speed. Certificate: the duality gap :math:`P(z(y)) - h(y) \le` ``tol``
    :math:`(1 + |P|)` per column, with :math:`P` and :math:`h` from the atom's exact values
    (``divergence_value``); the iteration goes on to ``FENCHEL_GAP_FACTOR * tol`` (one or two
    more steps), since a gap of ``tol`` bounds the iterate's error only by about
    :math:`\sqrt{tol}`.
    """
    d = pb.d_prev
    lam_p = pb.lam_prev
    L = pb.prev.u_lipschitz
    forward = d.forward
    phi_star_u = d.phi_star_value(pb.U0)  # constant per column, for |P| in the relative gap

    def value(U, Z, cols):
        # lam_p D(u, z) = lam_p (Phi(z) + Phi*(u) - u.z), Phi*(u) precomputed; U holds the columns `cols`
        return lam_p * (d.phi_value(Z) + (phi_star_u if cols is None else phi_star_u[cols]) - colsum_sq2(U, Z))

    xp = pb.xp

    def curvature(V, Z, out=None):
        Vh = V + FD_STEP * (1.0 + xp.abs(V))
        h = Vh - V  # the step actually taken (exact in floating point)
        return xp.clip((forward(Vh) - Z) / h, 0.0, L)

    elementwise = bool(getattr(d, "elementwise", False))
    # the gap is driven FENCHEL_GAP_FACTOR below tol: with a difference-quotient Hessian the last
    # steps converge superlinearly, not quadratically, and a gap of tol (1 + |P|) alone leaves an
    # iterate error of sqrt(tol); one more iteration or two put it at rounding level
    # (a column whose line search stalls -- the dual optimum to rounding -- stops at tol: with
    # lam_prev = 1e6 the gap's rounding floor can sit above tol * FENCHEL_GAP_FACTOR)
    Z, it, c, _ = dual_newton_core(
        pb,
        Z0,
        tol * FENCHEL_GAP_FACTOR,
        max_iter,
        1.0 / lam_p,
        forward,
        value,
        curvature if elementwise else None,
        const_curvature=L,
        stall_tol=tol,
    )
    return Z, it, c, bool(c <= tol)


def colsum_sq2(A, B):
    """Column dot products of ``A`` and ``B``."""
    return ax.coldot(A, B)


def dual_newton_core(pb, Z0, tol, max_iter, s, zmap, value, curvature, const_curvature=1.0, stall_tol=None):
    r"""The dual Newton iteration shared by ``dual_newton``, ``dual_newton_fenchel`` and
    ``tilt_newton`` (:mod:`cvxlift.fast.generic`).

    ``z(y) = zmap(u - s W^T y)``; ``value(U, Z, cols)`` is :math:`\lambda_{prev} D_{prev}(u, z)`
    per column (up to a per-column constant) for the columns ``cols`` of the block (``None``:
    all); ``curvature(V, Z)`` the diagonal of the Jacobian of ``zmap`` at ``V`` (``p x m``), or
    ``None`` for the constant ``const_curvature`` (a full domain, or a bound). A column stops at
    a relative duality gap ``tol``, or (``stall_tol`` given) at ``stall_tol`` once its line search
    found no ascent step (the dual optimum to rounding).
    """
    q, p = pb.W.shape
    B = pb.lam_next * pb.next.u_quadratic
    W = pb.W
    U = pb.U0
    C = pb.Znext - pb.b[:, None]
    m = U.shape[1]
    xp = pb.xp
    dev = ax.device_of(U)
    WW = xp.reshape(W[:, None, :] * W[None, :, :], (q * q, p))
    eye = ax.eye(xp, q, U) / (2.0 * B)
    Z0 = zmap(U) if Z0 is None else Z0
    Y = (2.0 * B) * (mm(W, Z0) - C)
    WT = W.T

    def evaluate(Uc, Cc, Yc, cols, out=None):
        # V = u - s W^T y, written into `out` (a p x m buffer reused across iterations)
        V = mm(WT, Yc * (-s), out=out if out is not None and out.shape == Uc.shape else None)
        V += Uc
        Z = zmap(V)
        R = mm(W, Z)
        R -= Cc
        dz = value(Uc, Z, cols)
        h = dz + colsum_sq2(Yc, R) - colsum_sq(Yc) / (4.0 * B)
        return V, Z, R, dz, h

    Zout = xp.empty((p, m), dtype=xp.float64, device=dev)
    cert = xp.full(m, xp.inf, dtype=xp.float64, device=dev)
    idx = xp.arange(m, device=dev)
    Uc, Cc = U, C
    V, Z, R, dz, h = evaluate(Uc, Cc, Y, None)
    spare = xp.empty_like(V)  # the trial's V buffer
    dbuf = None  # the curvature buffer
    stalled = xp.zeros(m, dtype=xp.bool, device=dev)
    it = 0
    while True:
        P = dz + B * colsum_sq(R)
        with ax.errstate(xp, invalid="ignore"):
            gap = xp.where(xp.isfinite(P) & xp.isfinite(h), xp.maximum(P - h, 0.0) / (1.0 + xp.abs(P)), xp.inf)
        done = gap <= tol
        if stall_tol is not None:
            done = done | (stalled & (gap <= stall_tol))
        n_done = int(xp.sum(xp.astype(done, xp.int64)))
        all_done = n_done == idx.shape[0]
        # converged columns leave the active set (a gather of every array): when all, or at
        # least a tenth of them, are done; until then they ride along, frozen in Zout
        if all_done and idx.shape[0] == m:  # every column at once: no gathers
            Zout, cert = Z, gap
            break
        if all_done or n_done >= max(1, idx.shape[0] // 10):
            Zout[:, idx[done]] = Z[:, done]
            cert[idx[done]] = gap[done]
            keep = ~done
            idx = idx[keep]
            if not idx.shape[0]:
                break
            Uc, Cc, Y, V, Z, R, dz, h = (
                Uc[:, keep],
                Cc[:, keep],
                Y[:, keep],
                V[:, keep],
                Z[:, keep],
                R[:, keep],
                dz[keep],
                h[keep],
            )
            gap, done, stalled = gap[keep], done[keep], stalled[keep]
            all_done = False
            spare, dbuf = xp.empty_like(V), None
        if it >= max_iter or all_done:
            Zout[:, idx] = Z
            cert[idx] = gap
            break
        it += 1
        F = R - Y / (2.0 * B)
        if curvature is None:
            H = (
                xp.broadcast_to(xp.reshape(xp.sum(WW, axis=1) * (s * const_curvature), (q, q)), (idx.shape[0], q, q))
                + eye
            )
        else:
            dbuf = curvature(V, Z, out=dbuf)
            H = xp.reshape(mm(WW, dbuf).T, (-1, q, q))
            H *= s
            H += eye
        step = xp.linalg.solve(H, F.T[:, :, None])[:, :, 0].T
        slope = ax.coldot(F, step)
        # full Newton step on every column first (no gathers): usually all are accepted
        step[:, done] = 0.0  # converged columns waiting to retire
        Yt = Y + step
        cols = None if idx.shape[0] == m else idx
        Vt, Zt, Rt, dzt, ht = evaluate(Uc, Cc, Yt, cols, out=spare)
        ok = (ht >= h + ARMIJO * slope) | done
        if bool(xp.all(ok)):
            spare = V
            Y, V, Z, R, dz, h = Yt, Vt, Zt, Rt, dzt, ht
            continue
        # keep the trial arrays and copy back the (few) rejected columns
        todo = xp.nonzero(~ok)[0]
        Yt[:, todo], Vt[:, todo], Zt[:, todo], Rt[:, todo] = Y[:, todo], V[:, todo], Z[:, todo], R[:, todo]
        dzt[todo], ht[todo] = dz[todo], h[todo]
        spare = V
        Y, V, Z, R, dz, h = Yt, Vt, Zt, Rt, dzt, ht
        t = xp.full(idx.shape[0], 0.5, dtype=xp.float64, device=dev)
        for _ in range(MAX_HALVINGS):
            Yt = Y[:, todo] + t[todo] * step[:, todo]
            Vt, Zt, Rt, dzt, ht = evaluate(Uc[:, todo], Cc[:, todo], Yt, idx[todo])
            ok = ht >= h[todo] + ARMIJO * t[todo] * slope[todo]
            sel = todo[ok]
            Y[:, sel], V[:, sel], Z[:, sel], R[:, sel] = Yt[:, ok], Vt[:, ok], Zt[:, ok], Rt[:, ok]
            dz[sel], h[sel] = dzt[ok], ht[ok]
            todo = todo[~ok]
            if not todo.shape[0]:
                break
            t[todo] *= 0.5
        # a column whose line search failed is at the dual optimum to rounding: the gap test decides
        stalled[todo] = True
    c = ax.amax(cert)
    return Zout, it, c, bool(c <= tol)


def colsum_sq(A):
    """Squared norm of each column."""
    return ax.coldot(A, A)


def mark(**attributes):
    """A decorator that sets ``attributes`` on a block solver, read by ``x_step`` and ``w_step``:
    ``budget="first_order"`` (a first-order method: the ``"first_order"``
    :func:`~cvxlift.fast._common.iteration_budget` by default, others ``"newton"``) and
    ``numpy_only=True`` (written for numpy arrays only: a torch/cupy block runs on numpy copies,
    with the user's atoms rather than their array bridges, and comes back in the input's library).

    Parameters
    ----------
    **attributes
        Attribute names and values.

    Returns
    -------
    callable
        The decorator (it returns the solver itself).
    """

    def decorate(solver):
        for name, value in attributes.items():
            setattr(solver, name, value)
        return solver

    return decorate


#: Marks of :func:`mark`: a first-order method; a numpy-only solver.
first_order = mark(budget="first_order")
numpy_only = mark(numpy_only=True)


@register(
    "x_step",
    "fista",
    lambda prev, next, q=None: next.u_lipschitz is not None and prev.prox == "exact",
    "D_next smooth in u (u_lipschitz not None); D_prev through its exact z-prox (prox='exact')",
)
@first_order
def _fista(pb, Z0, tol, max_iter):
    if Z0 is None:
        Z0 = pb.d_prev.forward(pb.U0)
    L = pb.setup_gradient()
    if not L > 0:  # W = 0: the next layer does not depend on Z
        return pb.d_prev.forward(pb.U0), 0, 0.0, True
    Z, cert, it = fista(pb.grad, pb.prox, Z0, L, tol, max_iter, pb.cols)
    c = ax.amax(cert)
    return Z, it, c, bool(c <= tol)


__all__ = ["x_step", "XStepProblem"]
