r"""Generic fast block solvers: chosen by structure, for any atom with the right properties.

Registered as candidates of :mod:`cvxlift.fast.registry` (so built-in and user atoms alike
get them when their :class:`~cvxlift.fast.registry.AtomProps` fit; none looks at a name):

``x_step/tilt_newton`` (``D_prev`` elementwise with the tilt structure, ``D_next``
quadratic in ``u``, a next layer of at most ``DUAL_MAX_Q`` rows)
    The dual Newton method of ``x_step/dual_newton`` with the projection replaced by the
    forward map: for :math:`D_{prev}(u, z) = A(z) - \kappa uz + B(u)`,

    .. math:: \arg\min_z \lambda_{prev} D_{prev}(u, z) + y^T W z = \phi(u - W^Ty/(\kappa\lambda_{prev})),

    so each column's concave dual :math:`h(y) = \lambda_{prev} D_{prev}(u, z(y)) + y^T(Wz(y) - c)
    - \|y\|^2/(4B)` is evaluated exactly from ``forward`` and the atom's values (every
    Fenchel-Young atom: :math:`\kappa = 1`). The Hessian uses a central-difference derivative of
    ``forward`` (clipped to its Lipschitz constant when known): an approximation that only
    affects the speed, since steps are safeguarded by an Armijo search on :math:`h` and a column
    stops on its duality gap :math:`P(z(y)) - h(y) \le` ``tol`` :math:`(1 + |P|)`, a certificate.
``x_step/fista_numeric`` (``D_next`` smooth in ``u``; ``D_prev`` with a values-only prox)
    The accelerated proximal gradient of ``x_step/fista`` through the numeric prox
    (about 1e-8 accurate), with the certificate tolerance raised to ``NUMERIC_TOL``.
``x_step/pdhg`` (``D_next`` nonsmooth in ``u`` with a u-prox; ``D_prev`` with a z-prox)
    Chambolle-Pock's primal-dual method on :math:`\min_Z g(Z) + h(WZ)`,
    :math:`g = \lambda_{prev} D_{prev}(U_0, \cdot)` (its z-prox), :math:`h(V) = \lambda_{next}
    D_{next}(V + b, Z_{next})` (:math:`h^*` through Moreau's identity from the next atom's u-prox),
    steps :math:`\sigma = \tau = 0.99/\|W\|_2`. Columns are independent: each stops when its
    relative primal and dual residuals are below ``tol`` (certificate: the larger), and each
    column returns the better (by the exact objective) of its iterate and its warm start.
``w_step/admm`` (``D`` with a u-prox: nonsmooth in ``u`` allowed)
    ADMM on the split :math:`U = WA_c + c\mathbf 1^T`: the (W, c)-part is a ridge solve with one
    Cholesky factor of :math:`\sigma A_cA_c^T + 2\rho I` (refactored only when residual balancing
    changes :math:`\sigma`; the Gram matrix and the factor come from the layer's
    :class:`~cvxlift.fast.WStepCache`, which also keeps the penalty and the dual for the next
    W-step with the same input -- the first layer's, every sweep), the U-part the atom's elementwise
    u-prox
    :math:`\arg\min_U \lambda D(U, Z) + \tfrac\sigma2\|U - V\|^2`. Two products of the size of
    :math:`WA` per iteration. Stops when the relative primal and dual residuals are below
    ``tol`` (certificate: the larger of the two); returns the best point seen by the exact
    objective (never worse than the warm start).
"""

import numpy as np

from ._common import colnorm, fista, mm
from .numeric_prox import fd_derivative
from .registry import register
from .wstep import uses_cache
from .xstep import DUAL_MAX_Q, dual_newton_core, first_order, numpy_only

#: Certificate floor of the X-step through a values-only prox.
NUMERIC_TOL = 1e-6
#: ``tilt_newton`` iterates a column until its gap is ``TIGHTEN * tol`` (or until its line search
#: stalls with the gap below ``tol``): the gap bounds the objective error, the states' error only
#: by its square root, and one more Newton step costs little.
TIGHTEN = 1e-4
#: ADMM: residual ratio that triggers a change of the penalty, and how often it is checked.
BALANCE_RATIO, BALANCE_EVERY, MAX_CHANGES = 10.0, 5, 10**6
#: ADMM over-relaxation parameter (1: plain ADMM; 1.5-1.8 is usually faster).
RELAX = 1.6


# ---------------------------------------------------------------------------- X-step: tilt Newton
def _tilt_ok(prev, next, q=None):
    return (
        prev.coupling is not None
        and prev.elementwise
        and next.u_quadratic is not None
        and (q is None or q <= DUAL_MAX_Q)
    )


@register(
    "x_step",
    "tilt_newton",
    _tilt_ok,
    "D_prev elementwise with the tilt structure (coupling not None), D_next quadratic in u "
    f"(u_quadratic not None), and a next layer of at most DUAL_MAX_Q = {DUAL_MAX_Q} rows",
    before="fista",
)
@numpy_only
def _tilt_newton(pb, Z0, tol, max_iter):
    # the dual Newton iteration of x_step/dual_newton with z(y) = forward(u - W^T y / (kappa lam_prev)),
    # the atom's exact values and a central-difference derivative of forward
    d = pb.d_prev
    lam_p = pb.lam_prev
    lip = getattr(d, "lipschitz", None)

    def value(U, Z, cols):
        return lam_p * np.asarray(d.divergence_value(U, Z, pb.f_prev), dtype=float)

    def curvature(V, Z, out=None):
        return fd_derivative(d.forward, V, lip)

    Z, it, c, _ = dual_newton_core(
        pb,
        Z0,
        max(tol * TIGHTEN, 64.0 * np.finfo(float).eps),
        max_iter,
        1.0 / (pb.prev.coupling * lam_p),
        d.forward,
        value,
        curvature,
        stall_tol=tol,
    )
    return Z, it, c, bool(c <= tol)


# ---------------------------------------------------------------------------- X-step: FISTA, numeric prox
@register(
    "x_step",
    "fista_numeric",
    lambda prev, next, q=None: next.u_lipschitz is not None and prev.prox == "numeric",
    "D_next smooth in u (u_lipschitz not None) and D_prev with a values-only z-prox (prox='numeric')",
)
@first_order
@numpy_only
def _fista_numeric(pb, Z0, tol, max_iter):
    tol = max(tol, NUMERIC_TOL)
    if Z0 is None:
        Z0 = pb.d_prev.forward(pb.U0)
    L = pb.setup_gradient()
    if not L > 0:
        return pb.d_prev.forward(pb.U0), 0, 0.0, True
    Z, cert, it = fista(pb.grad, pb.prox, Z0, L, tol, max_iter, pb.cols)
    c = float(np.max(cert, initial=0.0))
    return Z, it, c, bool(c <= tol)


# ---------------------------------------------------------------------------- X-step: PDHG, D_next nonsmooth
#: Certificate floor of the primal-dual X-step (first-order, O(1/k)).
PDHG_TOL = 1e-8


@register(
    "x_step",
    "pdhg",
    lambda prev, next, q=None: (
        next.u_lipschitz is None and next.u_prox in ("exact", "numeric") and prev.prox in ("exact", "numeric")
    ),
    "D_next nonsmooth in u with a u-prox (u_prox 'exact' or 'numeric') and D_prev with a z-prox",
)
@first_order
@numpy_only
def _pdhg(pb, Z0, tol, max_iter):
    tol = max(tol, PDHG_TOL)
    W, b, Zn = pb.W, pb.b, pb.Znext
    dp, dn = pb.d_prev, pb.d_next
    lam_p, lam_n = pb.lam_prev, pb.lam_next
    U0 = pb.U0
    Zstart = dp.forward(U0) if Z0 is None else np.array(Z0, dtype=float)
    nW = float(np.sqrt(max(np.linalg.eigvalsh(W.T @ W).max(initial=0.0), 0.0)))
    if nW == 0.0:
        return dp.forward(U0), 0, 0.0, True
    sig = tau = 0.99 / nW
    m = U0.shape[1]
    Z = Zstart.copy()
    Zbar = Z.copy()
    Y = np.zeros((W.shape[0], m))
    idx = np.arange(m)
    out = Zstart.copy()
    cert = np.full(m, np.inf)
    it = 0
    bcol = b[:, None]
    while idx.size and it < max_iter:
        it += 1
        Uc, Znc = U0[:, idx], Zn[:, idx]
        # dual: prox of sigma h*, h(V) = lam_n D_next(V + b, Z_next)
        X = Y + sig * mm(W, Zbar)
        V = np.asarray(dn.prox_u(Znc, X / sig + bcol, lam_n / sig, pb.f_next), dtype=float) - bcol
        Yn = X - sig * V
        # primal: prox of tau g, g = lam_p D_prev(U0, .)
        Zn_ = np.asarray(dp.prox_z(Uc, Z - tau * mm(W.T, Yn), tau * lam_p, pb.f_prev), dtype=float)
        dZ, dY = Z - Zn_, Y - Yn
        pres = colnorm(dZ / tau - mm(W.T, dY))
        dres = colnorm(dY / sig - mm(W, dZ))
        scale = 1.0 + colnorm(mm(W.T, Yn)) + colnorm(Yn)
        res = np.maximum(pres, dres) / scale
        Zbar = 2.0 * Zn_ - Z
        Z, Y = Zn_, Yn
        done = res <= tol
        if done.any():
            out[:, idx[done]] = Z[:, done]
            cert[idx[done]] = res[done]
            keep = ~done
            idx, Z, Y, Zbar = idx[keep], Z[:, keep], Y[:, keep], Zbar[:, keep]
        elif it == max_iter:
            break
    if idx.size:
        out[:, idx] = Z
        cert[idx] = res[~done] if res.size else cert[idx]
    # per column: never worse than the warm start (the columns are independent problems)
    f_new, f_old = _column_objectives(pb, out), _column_objectives(pb, Zstart)
    worse = ~(f_new <= f_old)
    out[:, worse] = Zstart[:, worse]
    c = float(np.max(cert, initial=0.0))
    return out, it, c, bool(c <= tol)


def _column_objectives(pb, Z):
    with np.errstate(invalid="ignore", over="ignore"):
        Un = mm(pb.W, Z) + pb.b[:, None]
        return pb.lam_prev * np.asarray(
            pb.d_prev.divergence_value(pb.U0, Z, pb.f_prev), dtype=float
        ) + pb.lam_next * np.asarray(pb.d_next.divergence_value(Un, pb.Znext, pb.f_next), dtype=float)


# ---------------------------------------------------------------------------- W-step: ADMM
def _w_objective(A, Z, W, b, d, form, lam, rho):
    U = mm(W, A) + b[:, None]
    with np.errstate(invalid="ignore", over="ignore"):
        return float(lam * np.sum(d.divergence_value(U, Z, form)) + rho * np.sum(W * W))


@register(
    "w_step",
    "admm",
    lambda atom: atom.u_prox in ("exact", "numeric"),
    "a u-prox (u_prox 'exact' or 'numeric': an elementwise atom, or a certified numpy prox_u); D may be nonsmooth in u",
)
@uses_cache
@first_order
@numpy_only
def _admm(A, Z, d, form, lam, rho, props, W0, b0, tol, max_iter, layer):
    # layer: the WStepCache bound to A (its Gram matrix, the factors of G + sI, and ADMM's
    # penalty and dual from the last W-step with this input: a warm start only, since ADMM
    # converges from any dual)
    p, m = A.shape
    q = d.in_dim(Z.shape[0]) if W0 is None else W0.shape[0]
    abar = layer.abar
    Ac = A - abar[:, None]
    mem = layer.state.get("admm")
    G = layer.gram
    W = np.zeros((q, p)) if W0 is None else W0.copy()
    b = np.zeros(q) if b0 is None else b0.copy()
    best = (_w_objective(A, Z, W, b, d, form, lam, rho), W.copy(), b.copy())
    c = b + W @ abar
    U = mm(W, Ac) + c[:, None]
    T = mm(U, Ac.T)  # U Ac^T

    def factor(sig):
        # (sig G + 2 rho I)^{-1} X = (G + (2 rho / sig) I)^{-1} X / sig: the layer's cached factor
        inv = layer.factor(2.0 * rho / sig)
        return lambda X: inv(X) / sig

    if mem is not None and mem["Y"].shape == (q, m):
        # warm start of the dual and the penalty from the last W-step with this input
        sigma, Y = mem["sigma"], mem["Y"].copy()
        S = mm(Y, Ac.T)
        solve = factor(sigma)
    else:
        S = np.zeros((q, p))  # Y Ac^T (Y = 0)
        Y = np.zeros((q, m))
        # penalty: lam times the curvature of D in u (1 when unknown), times m / (mean diagonal of
        # the Gram matrix): a start above the best value, which residual balancing then halves
        # (measured: far fewer iterations than starting low)
        sigma = lam * (2.0 * props.u_quadratic if props.u_quadratic else 1.0)
        spread = float(np.trace(G)) / p if p else 0.0
        if spread > 1e-12 * m:  # centred data that vary (else only the bias is fitted)
            sigma *= min(max(m / spread, 1e-4), 1e4)
        solve = factor(sigma)
    tol_r = max(float(tol), 1e-12)
    it = 0
    changes = 0
    cert = np.inf
    while it < max_iter:
        it += 1
        # (W, c): ridge with the cached factor; W (sigma G + 2 rho I) = sigma (U - Y) Ac^T
        W = solve((sigma * (T - S)).T).T
        c = (U - Y).mean(axis=1)
        WA = mm(W, Ac)
        WA += c[:, None]
        WG = mm(W, G)
        # over-relaxation: the U- and dual updates see alpha (W Ac + c) + (1 - alpha) U
        Wh = RELAX * WA + (1.0 - RELAX) * U
        # U: elementwise u-prox of lam D(., Z) with step lam/sigma
        V = Wh + Y
        U_old_T = T
        U = np.asarray(d.prox_u(Z, V, lam / sigma, form), dtype=float)
        T = mm(U, Ac.T)
        Y += Wh - U
        S = S + RELAX * WG + (1.0 - RELAX) * U_old_T - T
        resid = WA - U
        r = float(np.linalg.norm(resid))
        sdual = sigma * float(np.linalg.norm(T - U_old_T))
        r_scale = max(float(np.linalg.norm(WA)), float(np.linalg.norm(U)), 1e-300)
        s_scale = max(sigma * float(np.linalg.norm(S)), 2.0 * rho * float(np.linalg.norm(W)), 1e-300)
        cert = max(r / r_scale, sdual / s_scale)
        if cert <= tol_r:
            break
        if it % BALANCE_EVERY == 0 and changes < MAX_CHANGES:
            ratio = (r / r_scale) / max(sdual / s_scale, 1e-300)
            if ratio > BALANCE_RATIO or ratio < 1.0 / BALANCE_RATIO:
                changes += 1
                k = 2.0 if ratio > BALANCE_RATIO else 0.5
                sigma *= k
                Y /= k
                S /= k
                solve = factor(sigma)
    bW = c - W @ abar
    F = _w_objective(A, Z, W, bW, d, form, lam, rho)
    if np.isfinite(F) and F <= best[0]:
        best = (F, W, bW)
    layer.state["admm"] = {"sigma": sigma, "Y": Y}
    return best[1], best[2], it, cert, bool(cert <= tol_r)


__all__ = ["NUMERIC_TOL"]
