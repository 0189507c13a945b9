r"""Projected Newton with exact active-set solves for a chain that is quadratic between layers.

Applies when (see :func:`applies`) the first layer's z-side is :math:`\mu_0\|z - u_0\|^2 + I_{C_0}(z)`
(either form: :math:`u_0` is fixed), every middle layer is :math:`\mu_l\|z - u\|^2 + I_{C_l}(z)` in
both arguments (``u_quadratic``), every :math:`C_l` is a box, and the last layer's envelope
:math:`E` has a known generalised Hessian :math:`K = c(I - \partial x^\star)` (module
:mod:`cvxlift.fast.chain`). With :math:`a_l = \lambda_l\mu_l` each column then minimises

.. math:: f(x) = \sum_{l=0}^{L-1} a_l\|x_{l+1} - W_lx_l - b_l\|^2 + E(W_Lx_L + b_L)
          \quad\text{s.t.}\quad x_l \in C_{l-1},

whose Hessian is :math:`H = H_0 + P^TW_L^TKW_LP` (:math:`P` picks :math:`x_L`): :math:`H_0` is
block tridiagonal, **the same for every column**, and positive definite (:math:`a_0 > 0`
anchors the chain), and the column's part is of rank at most :math:`q` (the output width).
So :math:`H_0^{-1}` is formed once (one Cholesky factor of an :math:`n_h\times n_h` matrix,
:math:`n_h` the total hidden width) and every column's :math:`H^{-1}` follows by Woodbury,
:math:`H^{-1} = H_0^{-1} - B\,C\,B^T` with :math:`B = H_0^{-1}P^TW_L^T`,
:math:`Q = W_LPB` and :math:`C = K(I + QK)^{-1}` (a :math:`q\times q` solve per column).

Iteration (Bertsekas' projected Newton with a zero activity threshold). With the gradient
:math:`g`, the *binding* set :math:`A` holds the entries at a bound of their box whose
gradient points out of it. The direction fixes them and takes the exact Newton step on the
rest: :math:`d = -H^{-1}(g - E_A^T\nu)` with :math:`E_Ad = 0`, i.e.
:math:`(H^{-1})_{AA}\,\nu = (H^{-1}g)_A` -- a dense :math:`|A|\times|A|` system per column,
gathered from :math:`H_0^{-1}` (columns are grouped by :math:`|A|` so that the batched
solves are padded little). The step is :math:`x^+ = \Pi_C(x + \alpha d)`, with
:math:`\alpha = 1, \tfrac12, \dots` until the Armijo condition
:math:`f(x^+) \le f(x) + \sigma g^T(x^+ - x)` holds, per column.

Certificate (per column): the KKT residual :math:`r = \mathrm{dist}(0, \nabla f(x) + N_C(x))`,
computed exactly entry by entry (at a lower bound the normal cone is :math:`(-\infty, 0]`, so the
entry's residual is :math:`\max(-g_i, 0)`; at an upper bound :math:`\max(g_i, 0)`; inside
:math:`|g_i|`; the bounds are the atom's projections of :math:`\mp\infty`), relative to
:math:`1 + \|\nabla f(x)\|`. Since :math:`H \succeq H_0 \succeq \mu I` with
:math:`\mu = \lambda_{\min}(H_0)`, the objective is :math:`\mu`-strongly convex, so
:math:`\|x - x^\star\| \le r/\mu` and :math:`F(x) - F^\star \le r^2/(2\mu)`
(:func:`solve` returns the distance bound per column).
"""

import numpy as np

from .. import arrays as ax
from ._common import TINY
from .chain import BOX, colsq, envelope_structure, relative

#: Largest output width for which the per-column Woodbury update is used (``q x q`` solves).
NEWTON_MAX_Q = 64
#: Largest total hidden width :math:`n_h` (the dense inverse has :math:`n_h^2` entries).
NEWTON_MAX_HIDDEN = 3000
#: Armijo parameter and largest number of step halvings.
ARMIJO, MAX_HALVINGS = 1e-4, 30
#: Budget of the batched Schur systems (entries of ``|A|^2`` times columns per chunk).
SCHUR_BUDGET = 4_000_000


def applies(layers, loss=None):
    """``True`` when the chain has the structure this solver needs (module docstring).

    ``layers``: the :class:`~cvxlift.fast.AtomProps` of the L+1 layers. The sizes are checked
    by :func:`fits`.
    """
    if len(layers) < 2 or layers[0].domain not in BOX:
        return False
    if not all(middle_ok(p) for p in layers[1:-1]):
        return False
    return envelope_structure(layers[-1], loss)[1]


def fits(layers, widths, loss=None):
    r"""``True`` when the sizes suit this solver: at most :data:`NEWTON_MAX_HIDDEN` hidden units,
    and an output of at most :data:`NEWTON_MAX_Q` rows where its Hessian varies by column.
    ``widths``: the sizes of the states :math:`x_1, \dots, x_{L+1}`."""
    constant = envelope_structure(layers[-1], loss)[2]
    return (constant or widths[-1] <= NEWTON_MAX_Q) and sum(widths[:-1]) <= NEWTON_MAX_HIDDEN


def middle_ok(p):
    r"""A layer after the first that this solver handles: :math:`\mu\|z - u\|^2 + I_C(z)` in both
    arguments (``u_quadratic``) with ``C`` a box."""
    return p.domain in BOX and p.u_quadratic is not None


class _Operator:
    """The column-independent part: :math:`H_0^{-1}` and the Woodbury pieces."""

    def __init__(self, pb):
        n = pb.n
        self.L = n - 1
        p = pb.sizes[:-1]
        self.off = [0]
        for rows in p:
            self.off.append(self.off[-1] + int(rows))
        nh = self.off[-1]
        self.nh = nh
        xp = self.xp = pb.xp
        like = pb.U0
        dev = ax.device_of(like)

        def zeros(shape):
            return xp.zeros(shape, dtype=xp.float64, device=dev)

        a = [pb.lams[0] * pb.props[0].mu] + [pb.lams[l] * pb.props[l].u_quadratic for l in range(1, n - 1)]
        self.a = a
        env = pb.envelope
        H0 = zeros((nh, nh))
        for l in range(1, n):  # block of x_l
            i = self.block(l)
            H0[i, i] += 2.0 * a[l - 1] * ax.eye(xp, p[l - 1], like)
            if l < n - 1:
                W = pb.weights[l]
                H0[i, i] += 2.0 * a[l] * (W.T @ W)
                j = self.block(l + 1)
                H0[i, j] = -2.0 * a[l] * W.T
                H0[j, i] = -2.0 * a[l] * W
        WL = pb.weights[-1]
        self.woodbury = env.constant_theta is None
        if not self.woodbury:  # K = c (1 - theta) I for every column
            kc = env.c * (1.0 - env.constant_theta)
            if kc:
                iL = self.block(n - 1)
                H0[iL, iL] += kc * (WL.T @ WL)
        # positive definite in exact arithmetic: Cholesky, or an eigen-factorisation under rounding
        Hi = ax.cho_factor(H0)(ax.eye(xp, nh, like))
        Hi = 0.5 * (Hi + Hi.T)
        self.mu = 1.0 / max(ax.max_eigvalsh(Hi), TINY)
        # padded copies: index nh is a dummy entry (zero row and column)
        self.Hp = zeros((nh + 1, nh + 1))
        self.Hp[:nh, :nh] = Hi
        self.Hi = self.Hp[:nh, :nh]
        self.Hflat = xp.reshape(self.Hp, (-1,))
        if self.woodbury:
            self.B = Hi[:, self.block(n - 1)] @ WL.T  # nh x q
            self.Q = WL @ self.B[self.block(n - 1)]  # q x q
            self.Bp = xp.concat([self.B, zeros((1, self.B.shape[1]))], axis=0)

    def block(self, l):
        """Rows of :math:`x_l` (``l = 1..L``) in the stacked hidden vector."""
        return slice(self.off[l - 1], self.off[l])

    def column_part(self, env, UL, P):
        """Per column :math:`C = K(I + QK)^{-1}` (``(k, q, q)``), or ``None`` when ``K`` is constant."""
        if not self.woodbury:
            return None
        xp = self.xp
        delta = env.hessian(UL, P).T  # (k, q)
        k, q = delta.shape
        eye = ax.eye(xp, q, delta)
        Dz = delta[:, :, None] * eye[None]
        if env.simplex:
            s = xp.sum(delta, axis=1)
            Dz = Dz - delta[:, :, None] * delta[:, None, :] / xp.where(s > 0, s, 1.0)[:, None, None]
        K = env.c * (eye[None] - Dz)
        C = xp.linalg.solve(eye[None] + K @ self.Q[None], K)  # (I + KQ)^{-1} K = K (I + QK)^{-1}
        return 0.5 * (C + xp.permute_dims(C, (0, 2, 1)))

    def apply_inverse(self, C, G):
        """:math:`H^{-1}G` column by column."""
        out = self.Hi @ G
        if C is not None:
            out -= self.B @ ax.einsum("kij,jk->ik", C, self.B.T @ G)
        return out

    def direction(self, C, G, A):
        r"""The Newton direction with the entries in ``A`` fixed: :math:`-H^{-1}(g - E_A^T\nu)`."""
        xp = self.xp
        V = self.apply_inverse(C, G)
        na = xp.sum(xp.astype(A, xp.int64), axis=0)
        if not bool(xp.any(na > 0)):
            return -V
        nh, k = G.shape
        dev = ax.device_of(G)
        cols_nz, rows_nz = xp.nonzero(A.T)  # binding entries, column by column
        first = xp.cumulative_sum(na) - na
        M = xp.zeros((nh + 1, k), dtype=xp.float64, device=dev)
        Mflat = xp.reshape(M, (-1,))  # a view: writes land in M
        Vflat = xp.reshape(xp.concat([V, xp.zeros((1, k), dtype=xp.float64, device=dev)], axis=0), (-1,))
        order = xp.argsort(na, stable=True)
        # the chunking is bookkeeping on k integers: on the host
        sizes = np.asarray(ax.to_numpy(na[order]), dtype=np.int64)
        start = int(np.searchsorted(sizes, 1))
        n1 = nh + 1
        n_nz = rows_nz.shape[0]
        while start < k:
            # the widest chunk of columns (sorted by |A|) whose padded systems fit the budget
            cost = np.arange(1, k - start + 1) * sizes[start:].astype(np.float64) ** 2
            width = max(1, int(np.searchsorted(cost, SCHUR_BUDGET, side="right")))
            cols = order[start : start + width]
            amax = int(sizes[start : start + width].max())
            J = xp.arange(amax, device=dev)
            valid = J[None, :] < na[cols][:, None]
            pos = xp.clip(first[cols][:, None] + J[None, :], None, n_nz - 1)
            idx = xp.where(valid, rows_nz[pos], nh)  # (c, amax), padded with nh
            S = self.Hflat[idx[:, :, None] * n1 + idx[:, None, :]]
            if C is not None:
                BA = self.Bp[idx]
                S -= BA @ C[cols] @ xp.permute_dims(BA, (0, 2, 1))
            diag = xp.reshape(S, (cols.shape[0], -1))  # a view of S
            diag[:, :: amax + 1] += xp.astype(~valid, xp.float64)  # identity on the padding
            rhs = Vflat[idx * k + cols[:, None]]
            nu = xp.linalg.solve(S, rhs[:, :, None])[:, :, 0]
            Mflat[idx * k + cols[:, None]] = nu  # padding lands in row nh
            start += cols.shape[0]
        return -(V - self.apply_inverse(C, M[:nh]))


class _State:
    r"""Iterate of the active columns: stacked hidden states, residuals :math:`x_{l+1} - u_l`,
    pre-activations :math:`u_1, \dots, u_L`, envelope state, objective."""

    def __init__(self, Z, R, U, P, F):
        self.Z, self.R, self.U, self.P, self.F = Z, R, U, P, F

    @property
    def UL(self):
        return self.U[-1]

    def take(self, keep):
        return _State(
            self.Z[:, keep], [r[:, keep] for r in self.R], [u[:, keep] for u in self.U], self.P[:, keep], self.F[keep]
        )

    def put(self, mask, other):
        self.Z[:, mask] = other.Z
        for r, s in zip(self.R + self.U, other.R + other.U):
            r[:, mask] = s
        self.P[:, mask], self.F[mask] = other.P, other.F


def solve(pb, hidden0, tol, max_iter, stats=None):
    """Run the projected Newton method from the hidden states ``hidden0``.

    Returns ``(hidden states, certificate per column, iterations, distance bound per column)``;
    a dict ``stats`` receives ``"column_iterations"`` (Newton steps summed over the columns).
    """
    op = _Operator(pb)
    L = op.L
    divs = pb.divs
    m = pb.m
    blocks = [op.block(l) for l in range(1, L + 1)]
    a = op.a

    def evaluate(Z, U0, env):
        R, Us, U = [], [], U0
        for l in range(1, L + 1):
            R.append(Z[blocks[l - 1]] - U)
            U = pb.pre(l, Z[blocks[l - 1]])
            Us.append(U)
        P = env.state(U)
        F = sum(a[l] * colsq(R[l]) for l in range(L)) + env.value(U, P)
        return _State(Z, R, Us, P, F)

    def gradient(st, env):
        G = xp.empty_like(st.Z)
        for l in range(1, L + 1):
            G[blocks[l - 1]] = (2.0 * a[l - 1]) * st.R[l - 1]
        for l in range(1, L):
            G[blocks[l - 1]] -= (2.0 * a[l]) * (pb.weights[l].T @ st.R[l])
        G[blocks[L - 1]] += pb.weights[L].T @ env.grad(st.UL, st.P)
        return G

    def project(Z):
        for l in range(1, L + 1):
            Z[blocks[l - 1]] = divs[l - 1].project_domain(Z[blocks[l - 1]])
        return Z

    # the bounds of every entry's box, from the atoms' own projections of -inf and +inf
    xp = pb.xp
    dev = ax.device_of(pb.U0)

    def full(shape, v, dtype=None):
        return xp.full(shape, v, dtype=xp.float64 if dtype is None else dtype, device=dev)

    LO = xp.concat(
        [divs[l - 1].project_domain(full((b.stop - b.start, 1), -xp.inf)) for l, b in zip(range(1, L + 1), blocks)],
        axis=0,
    )
    HI = xp.concat(
        [divs[l - 1].project_domain(full((b.stop - b.start, 1), xp.inf)) for l, b in zip(range(1, L + 1), blocks)],
        axis=0,
    )

    def kkt(Z, G):
        """Certificate, residual norm and binding set (module docstring)."""
        lo, hi = Z <= LO, Z >= HI  # Z is in its box: at a bound exactly
        pos = G > 0
        Rz = xp.abs(G)
        Rz[lo & pos] = 0.0
        Rz[hi & ~pos] = 0.0
        A = (lo & pos) | (hi & (G < 0))
        return relative(Rz, G), colsq(Rz) ** 0.5, A

    Zall = project(xp.concat([ax.asarray(h, like=pb.U0, dtype=xp.float64) for h in hidden0], axis=0))
    cert = full(m, xp.inf)
    resid = full(m, xp.inf)
    out = ax.copy(Zall)
    idx = xp.arange(m, device=dev)
    env = pb.envelope
    U0 = pb.U0
    st = evaluate(Zall, U0, env)
    it = work = 0
    stuck = xp.zeros(m, dtype=xp.bool, device=dev)  # columns whose last line search failed: a fixed point
    while True:
        G = gradient(st, env)
        c, r, A = kkt(st.Z, G)
        done = c <= tol
        n_done = int(xp.sum(xp.astype(done, xp.int64)))
        if n_done == idx.shape[0] or n_done >= max(1, idx.shape[0] // 10) or bool(xp.any(stuck)) or it >= max_iter:
            # the same point gives the same direction: a stuck column leaves with its certificate
            fin = (done | stuck) if it < max_iter else xp.ones_like(done)
            out[:, idx[fin]] = st.Z[:, fin]
            cert[idx[fin]], resid[idx[fin]] = c[fin], r[fin]
            keep = ~fin
            if not bool(xp.any(keep)):
                break
            idx = idx[keep]
            st, G, A, done = st.take(keep), G[:, keep], A[:, keep], done[keep]
            U0 = pb.U0[:, idx]
            env = pb.envelope.sub(idx)
        it += 1
        work += idx.shape[0]
        Cc = op.column_part(env, st.UL, st.P)
        D = op.direction(Cc, G, A)
        D[A] = 0.0  # exactly: the binding entries stay at their bound
        D[:, done] = 0.0  # converged columns waiting to retire
        step = full(idx.shape[0], 1.0)
        todo = xp.arange(idx.shape[0], device=dev)
        for _ in range(MAX_HALVINGS + 1):
            Zt = project(st.Z[:, todo] + step[todo] * D[:, todo])
            trial = evaluate(Zt, U0[:, todo], env.sub(todo) if env.Y is not None else env)
            slope = ax.coldot(G[:, todo], Zt - st.Z[:, todo])
            F0 = st.F[todo]
            ok = trial.F <= F0 + ARMIJO * slope + 16.0 * np.finfo(float).eps * xp.abs(F0)
            ok = ok | done[todo]
            if bool(xp.all(ok)) and todo.shape[0] == idx.shape[0]:  # every column takes the full step: no copies
                st = trial
                break
            if bool(xp.any(ok)):
                mask = xp.zeros(idx.shape[0], dtype=xp.bool, device=dev)
                mask[todo[ok]] = True
                st.put(mask, trial.take(ok))
            todo = todo[~ok]
            if not todo.shape[0]:
                break
            step[todo] *= 0.5
        else:  # every halving failed for the columns left in todo: they keep their point and stop
            stuck = xp.zeros(idx.shape[0], dtype=xp.bool, device=dev)
            stuck[todo] = True
            continue
        stuck = xp.zeros(idx.shape[0], dtype=xp.bool, device=dev)
    if stats is not None:
        stats["column_iterations"] = work
    dist = resid / op.mu
    hidden = [ax.contiguous(out[b]) for b in blocks]
    return hidden, cert, it, dist


__all__ = ["NEWTON_MAX_HIDDEN", "NEWTON_MAX_Q", "applies", "solve"]
