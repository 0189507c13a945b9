r"""Accelerated proximal gradient over every hidden state of a chain.

Applies when (:func:`applies`) the first layer's z-side has a prox (every atom: ``prox_z``),
every later hidden layer is :math:`\mu_l\|z - u\|^2 + I_{C_l}(z)` (``u_quadratic``, any domain
with a projection, the simplex included) -- or, for the prediction, any Fenchel-Young form
:math:`\Phi_l(z) + \Phi_l^*(u) - u^Tz` -- and the envelope of the last layer is smooth
(``u_lipschitz``; a jointly convex last layer, or a Fenchel-Young one in the prediction,
whose envelope is 0). With :math:`Q` the quadratic and :math:`Y` the Fenchel-Young layers
after the first, the split is

.. math:: f(x) = \sum_{l\in Q} a_l\|x_{l+1} - u_l\|^2
          + \sum_{l\in Y} \lambda_l\big(\Phi_l^*(u_l) - u_l^Tx_{l+1}\big) + E(u_L),\qquad
          g(x) = \lambda_0D_0(u_0, x_1) + \sum_{l\in Q} I_{C_l}(x_{l+1}) + \sum_{l\in Y}\lambda_l\Phi_l(x_{l+1}),

:math:`u_l = W_lx_l + b_l`, and one step per layer from a block-diagonal majoriser of :math:`\nabla^2 f`: the term
:math:`a\|z - Wx - b\|^2` has Hessian :math:`2a[I, -W; -W^T, W^TW] \preceq 4a\,\mathrm{diag}(I, W^TW)`,
a Fenchel-Young term :math:`\lambda(\Phi^*(Wx + b) - (Wx + b)^Tz)` (its :math:`\lambda\Phi(z)` goes to
the prox) at most :math:`\lambda\,\mathrm{diag}(L_\phi W^TW + \|W\|I, \|W\|I)`, and :math:`E(Wx + b)`
at most :math:`L_E W^TW`. Per-column momentum, adaptive restart, certificate (a bound on
:math:`\mathrm{dist}(0, \partial F)` relative to :math:`1 + \|\nabla f\|`) and freezing come from
:func:`~cvxlift.fast._common.fista`.

Without a Fenchel-Young layer after the first the problem is convex and the certificate
bounds the distance to the minimiser; with one, it is biconvex and the certificate is one of
stationarity (every block is then optimal given the others, each block problem being
convex). The caller keeps the forward pass wherever the result would be worse.
"""

import math

import numpy as np

from .. import arrays as ax
from ._common import TINY, Columns, fista, spectral_norm_sq
from .chain import envelope_structure


def applies(layers, loss=None, fenchel=True):
    """``True`` for the chains this solver handles (module docstring); ``fenchel=False`` admits
    the jointly convex ones only."""
    if len(layers) < 2:
        return False
    if not all(middle_ok(p, fenchel) for p in layers[1:-1]):
        return False
    return envelope_structure(layers[-1], loss)[0]


def middle_ok(p, fenchel=True):
    r"""A layer after the first: :math:`\mu\|z - u\|^2 + I_C(z)` (``u_quadratic``, any projectable
    ``C``), or, with ``fenchel``, any Fenchel-Young form (smooth :math:`\Phi^*`, prox of
    :math:`\Phi`; the chain is then biconvex, not convex)."""
    if p.u_quadratic is not None:
        return p.domain is not None
    return fenchel and p.form == "fenchel" and p.u_lipschitz is not None


def zprox(d, form, U, V, t):
    """The atom's z-prox :meth:`~cvxlift.divergences.Divergence.prox_z` without its input checks
    (called once per iteration on arrays this module built)."""
    return d.prox_phi(V + t * U, t) if form == "fenchel" else d.prox_joint(U, V, t)


def solve(pb, hidden0, tol, max_iter, cols=None, stall=False):
    """FISTA from ``hidden0`` on the columns ``cols`` (all by default); ``stall``: stop columns
    stalled at the rounding floor (:func:`~cvxlift.fast._common.fista`).

    Returns ``(hidden states, certificate per column, iterations)``.
    """
    n = pb.n
    L = n - 1
    W, b, divs, lams = pb.weights, pb.biases, pb.divs, pb.lams
    U0 = pb.U0 if cols is None else pb.U0[:, cols]
    env = pb.envelope if cols is None else pb.envelope.sub(cols)
    sizes = [S.shape[0] for S in hidden0]
    off = [0]
    for n_rows in sizes:
        off.append(off[-1] + int(n_rows))
    xp = ax.namespace(U0)
    quad = [l for l in range(1, L) if pb.props[l].u_quadratic is not None]
    a = [lams[l] * pb.props[l].u_quadratic if l in quad else 0.0 for l in range(L)]
    nW = [None] + [spectral_norm_sq(W[l]) for l in range(1, n)]
    Lb = []
    for l in range(1, n):  # block x_l
        if l >= 2 and (l - 1) in quad:  # x_l is the z-end of a quadratic term
            from_prev = 4.0 * a[l - 1]
        elif l >= 2:  # ... of a Fenchel-Young term: -lam u^T z
            from_prev = lams[l - 1] * math.sqrt(nW[l - 1])
        else:
            from_prev = 0.0
        if l == L:
            from_next = env.lipschitz * nW[l]
        elif l in quad:
            from_next = 4.0 * a[l] * nW[l]
        else:  # lam (Phi*(W x + b) - (W x + b)^T z)
            from_next = lams[l] * (pb.props[l].u_lipschitz * nW[l] + math.sqrt(nW[l]))
        Lb.append(max(from_prev + from_next, TINY) * (1.0 + 1e-12))
    Lrow = np.repeat(Lb, sizes)  # per-row step sizes (fista moves them to the device)
    store = Columns(U0=U0)
    d0, f0, lam0 = divs[0], pb.forms[0], lams[0]

    def blocks(Z):
        return [Z[off[i] : off[i + 1]] for i in range(L)]

    def current_env():
        return env if env.Y is None or store.idx is None else env.sub(store.idx)

    def grad(Z):
        Xs = blocks(Z)
        G = xp.zeros_like(Z)
        Gs = blocks(G)
        for l in range(1, L):
            U = W[l] @ Xs[l - 1] + b[l][:, None]
            if l in quad:  # a_l ||x_{l+1} - u_l||^2
                R = Xs[l] - U
                R *= 2.0 * a[l]
                Gs[l] += R
                Gs[l - 1] -= W[l].T @ R
            else:  # lam_l (Phi*(u_l) - u_l^T x_{l+1})
                Gs[l] -= lams[l] * U
                Gs[l - 1] += W[l].T @ (lams[l] * (divs[l].forward(U) - Xs[l]))
        e = current_env()
        UL = W[L] @ Xs[-1] + b[L][:, None]
        Gs[-1] += W[L].T @ e.grad(UL, e.state(UL))
        return G

    def prox(V, t):
        out = xp.empty_like(V)
        scalar = getattr(t, "ndim", 0) == 0
        tt = t if scalar else t[off[0] : off[1]]
        out[off[0] : off[1]] = zprox(d0, f0, store["U0"], V[off[0] : off[1]], tt * lam0)
        for l in range(1, L):
            V_l = V[off[l] : off[l + 1]]
            if l in quad:
                out[off[l] : off[l + 1]] = divs[l].project_domain(V_l)
            else:  # prox of t lam_l Phi_l
                tl = t if scalar else t[off[l] : off[l + 1]]
                out[off[l] : off[l + 1]] = divs[l].prox_phi(V_l, tl * lams[l])
        return out

    start = [ax.asarray(h, like=U0, dtype=xp.float64) for h in hidden0]
    if pb.props[0].domain is not None:
        start[0] = d0.project_domain(start[0])
    for l in quad:
        start[l] = divs[l].project_domain(start[l])
    Z0 = xp.concat(start, axis=0)
    Z, cert, it = fista(grad, prox, Z0, Lrow, tol, max_iter, store, stall=stall)
    return [ax.contiguous(S) for S in blocks(Z)], cert, it


__all__ = ["applies", "solve"]
