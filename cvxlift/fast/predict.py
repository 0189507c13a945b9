r"""The lifted prediction rule (paper eq. 12) with the loss minimised out (:math:`y = x_{L+1}`):

.. math:: \min_{X_1, \dots, X_{L+1}} \sum_{l=0}^{L} \lambda_l D_l(W_lX_l + b_l\mathbf 1^T, X_{l+1}),
          \qquad X_0 = X

(``lams[l]`` multiplies :math:`D_l`; the paper writes :math:`\lambda_{l+1}`). The problem
separates over columns; within a column it is a chain over the layers
(:mod:`cvxlift.fast.chain`). Solvers (registry kind ``"lifted_predict"``, tried in this order):

``forward`` (every form Fenchel-Young)
    every :math:`D_l \ge 0` with :math:`D_l(u, \phi_l(u)) = 0`: the forward pass is a
    minimiser (objective 0); returned at once.
``dual_newton`` (one hidden layer with a box domain, jointly convex last layer)
    semismooth Newton on the :math:`q` dual unknowns of each column (below).
``newton`` (any depth; hidden layers quadratic between layers with box domains; last
layer with a known envelope Hessian)
    projected Newton with exact active-set solves from one shared inverse
    (:mod:`cvxlift.fast.chain_newton`).
``joint`` (any depth; hidden layers quadratic in ``u``; last layer smooth in ``u``)
    accelerated proximal gradient on all hidden states at once
    (:mod:`cvxlift.fast.chain_first_order`).
``bcd`` (every hidden X-step has a fast solver: the biconvex Fenchel-Young hidden layers)
    block-coordinate descent over the layers from the forward pass: hidden layers by
    :func:`~cvxlift.fast.x_step` (warm-started), the last state in closed form. Stops when
    every hidden block's fixed-point certificate, evaluated at the current states after a
    sweep, is at most ``tol``, or when a sweep lowers the objective by less than ``tol``
    (relative).

**Certificates and finishing.** ``dual_newton``, ``newton`` and ``joint`` certify every
column (``info.certificates``): a KKT residual relative to :math:`1 + \|\nabla f\|`. A column
whose certificate is above ``tol`` when the method stops is finished by the next exact
method that applies (``joint``, then ``bcd``), warm-started at its point, on those columns
only; ``info.n_fallback`` counts them and ``info.converged`` is ``False`` if any column is
still above ``tol``. Nothing is returned silently.

**Fenchel-Young hidden layers** (not jointly convex: :math:`\Phi^*(W_lx_l + b_l) - (W_lx_l + b_l)^Tx_{l+1}`
is bilinear in two variables). What is computed is a *block-wise minimiser* reached by
monotone descent from the forward pass: every hidden block is solved exactly in turn
(each block problem is convex) until no block can be improved (``bcd``'s certificate); the
objective never exceeds the forward pass's. It is a stationary point of (12), not
certified globally optimal (no convex certificate exists for the whole problem).
"""

import time

import numpy as np

from .. import arrays as ax
from ..exceptions import ValidationError
from . import chain_first_order, chain_newton
from ._common import TINY, as_matrix, as_vector
from .chain import ChainProblem, choose, worse_columns
from .registry import NoFastSolver, atom_props, register, select
from .result import BlockResult
from .xstep import XStepProblem, x_step

#: ``bcd`` stops without convergence once a sweep lowers the objective by less than this (relative)
#: and the certificate has not dropped by 10% for ``STALL_SWEEPS`` sweeps.
STALL, STALL_SWEEPS = 1e-15, 10


def prediction_objective(X, states, weights, biases, divs, forms, lams):
    r""":math:`\sum_l \lambda_{l+1} D_l(W_lX_l + b_l, X_{l+1})` with :math:`X_0 = X` (a float).

    Parameters
    ----------
    X : (n, m) array
    states : list of L+1 arrays
    weights, biases : the L+1 layers' ``W_l``, ``b_l``
    divs, forms : the L+1 layers' divergences and forms
    lams : L+1 positive numbers

    Returns
    -------
    float
    """
    xp = ax.namespace(X)
    like = X if ax.is_foreign(X) else None
    total = 0.0
    prev = X
    for W, b, d, f, lam, S in zip(weights, biases, divs, forms, lams, states):
        W, b, S = (ax.asarray(a, like=like, dtype=xp.float64) for a in (W, b, S))
        d = ax.native(d, X)
        total += lam * float(xp.sum(d.divergence_value(W @ prev + b[:, None], S, f)))
        prev = S
    return total


def _forward(X, weights, biases, divs):
    states = []
    prev = X
    for W, b, d in zip(weights, biases, divs):
        prev = d.forward(W @ prev + b[:, None])
        states.append(prev)
    return states


class _Net:
    """The data of one lifted prediction."""

    def __init__(self, X, weights, biases, divs, forms, lams):
        n = len(weights)
        if n == 0 or not (len(biases) == len(divs) == len(forms) == len(lams) == n):
            raise ValidationError("weights, biases, divs, forms and lams must have the same positive length")
        self.X = as_matrix(X, "X")
        like = self.X
        self.xp = ax.namespace(like)
        raw = list(divs)
        # atoms without array-API code are called through numpy (cvxlift.arrays.native)
        self.divs = [ax.native(d, like) for d in raw]
        self.weights, self.biases = [], []
        rows = self.X.shape[0]
        for l, (W, b, d) in enumerate(zip(weights, biases, self.divs)):
            W = ax.asarray(as_matrix(W, f"weights[{l}]"), like=like)
            if W.shape[1] != rows:
                what = "X" if l == 0 else f"the output of layer {l - 1}"
                raise ValidationError(
                    f"{what} has {rows} rows but weights[{l}] has shape {W.shape}: X must have {W.shape[1]} rows"
                    if l == 0
                    else f"weights[{l}] must have {rows} columns ({what}); got shape {W.shape}"
                )
            self.weights.append(W)
            self.biases.append(ax.asarray(as_vector(b, f"biases[{l}]", W.shape[0]), like=like))
            rows = d.out_dim(W.shape[0])
        self.forms = [d.check_form(f) for d, f in zip(raw, forms)]
        self.lams = [float(v) for v in lams]
        if any(not (np.isfinite(v) and v > 0) for v in self.lams):
            raise ValidationError(f"lams must be positive numbers, got {list(lams)}")
        self.n = n
        self.props = tuple(atom_props(d, f) for d, f in zip(raw, self.forms))
        self.widths = tuple(d.out_dim(W.shape[0]) for d, W in zip(self.divs, self.weights))
        self._chain = None

    @property
    def chain(self):
        """The :class:`~cvxlift.fast.chain.ChainProblem` of these columns (built once)."""
        if self._chain is None:
            U0 = self.weights[0] @ self.X + self.biases[0][:, None]
            self._chain = ChainProblem(U0, self.weights, self.biases, self.divs, self.forms, self.lams)
        return self._chain

    def sub(self, cols):
        """The same network on the columns ``cols``."""
        out = object.__new__(_Net)
        out.__dict__.update(self.__dict__)
        out.X = self.X[:, cols]
        out._chain = None
        return out

    def objective(self, states):
        return prediction_objective(self.X, states, self.weights, self.biases, self.divs, self.forms, self.lams)

    def last(self, XL):
        return self.divs[-1].forward(self.weights[-1] @ XL + self.biases[-1][:, None])


def lifted_predict(
    X,
    weights,
    biases,
    divs,
    forms,
    lams,
    Z0=None,
    tol=1e-9,
    max_iter=100,
    inner_tol=None,
    inner_max_iter=20000,
    method=None,
    evaluate=True,
):
    r"""States :math:`[X_1, \dots, X_{L+1}]` of the lifted prediction rule for the columns of ``X``.

    Minimises :math:`\sum_{l=0}^{L}\lambda_l D_l(W_lX_l + b_l\mathbf 1^T, X_{l+1})` with
    :math:`X_0 = X` over every state (module docstring).

    Parameters
    ----------
    X : (n, m) array
    weights, biases : sequences of the L+1 layers' ``W_l`` (``(p_{l+1}, p_l)``) and ``b_l``
    divs, forms : the L+1 layers' divergences and forms
    lams : sequence of L+1 positive numbers; ``lams[l]`` multiplies ``D_l``
    Z0 : list of L+1 arrays, optional
        Initial states (default: the forward pass). No column of the result has a larger
        objective than its column of ``Z0`` (where it would, ``Z0``'s column is returned).
    tol : float
        Bound on the certificates (per column for ``dual_newton``, ``newton`` and ``joint``;
        per block for ``bcd``).
    max_iter : int
        Newton iterations (``dual_newton``, ``newton``) or sweeps (``bcd``); ``joint`` runs
        at most ``inner_max_iter`` iterations.
    inner_tol, inner_max_iter
        Passed to :func:`~cvxlift.fast.x_step` by ``bcd`` (default ``inner_tol = tol``).
    method : str, optional
        Name of a registered candidate to use instead of the first that applies.
    evaluate : bool
        Evaluate the objective (12) at the result for ``info.objective`` (``False``: NaN).

    Returns
    -------
    states : list of (p_{l+1}, m) arrays, info : BlockResult
        ``info.certificate`` is the largest column's; ``info.certificates`` the per-column
        ones (``None`` for ``bcd`` and ``forward``); ``info.n_fallback`` the columns finished
        by a slower method (``info.fallback``).

    Raises
    ------
    NoFastSolver
        When no candidate applies (a hidden X-step without a fast solver).
    """
    t0 = time.perf_counter()
    net = _Net(X, weights, biases, divs, forms, lams)
    cand = choose("lifted_predict", method, {"layers": net.props}, _fits(net))
    if Z0 is not None:
        if len(Z0) != net.n:
            raise ValidationError(f"Z0 must hold {net.n} states")
        Z0 = [
            ax.asarray(as_matrix(S, f"Z0[{l}]", rows=net.widths[l], cols=net.X.shape[1]), like=net.X)
            for l, S in enumerate(Z0)
        ]
    inner_tol = tol if inner_tol is None else inner_tol
    args = (tol, int(max_iter), inner_tol, int(inner_max_iter))
    states, it, cert, conv = cand.solver(net, Z0, *args)
    xp = net.xp
    certs = None if isinstance(cert, (int, float)) or getattr(cert, "ndim", 0) == 0 else ax.as_float64(cert)
    n_fallback, fallback = 0, ""
    if certs is not None and bool(xp.any(certs > tol)):
        states, certs, n_fallback, fallback, it2 = _finish(net, states, certs, cand.name, *args)
        it += it2
    if Z0 is not None:
        states, certs = _no_worse(net, states, Z0, certs)
    elif not _convex(net.props):  # a stationary point of a biconvex problem: keep the forward pass if better
        states, certs = _no_worse(net, states, _forward(net.X, net.weights, net.biases, net.divs), certs)
    if certs is not None:
        cert = ax.amax(certs)
        conv = bool(cert <= tol)
    obj = net.objective(states) if evaluate else float("nan")
    # the per-column certificates are reported as numpy (metadata, on the host)
    return states, BlockResult(
        it,
        float(cert),
        bool(conv),
        time.perf_counter() - t0,
        obj,
        cand.label,
        certificates=ax.to_numpy(certs),
        n_fallback=n_fallback,
        fallback=fallback,
        tol=float(tol),
    )


#: Slower exact methods that finish the columns a solver leaves above ``tol``, in order.
FINISHERS = ("joint", "bcd")


def _finish(net, states, certs, name, tol, max_iter, inner_tol, inner_max_iter):
    """Re-solve the columns with ``certs > tol`` by the next applicable finisher, warm-started."""
    it = 0
    used = ""
    xp = net.xp
    n_bad = int(xp.sum(xp.astype(certs > tol, xp.int64)))
    states = [ax.copy(S) for S in states]
    for fin in FINISHERS:
        bad = xp.nonzero(certs > tol)[0]
        if not bad.shape[0]:
            break
        if fin == name:
            continue
        try:
            cand = choose("lifted_predict", fin, {"layers": net.props}, _fits(net))
        except NoFastSolver:
            continue
        new, it2, c2, _ = cand.solver(
            net.sub(bad), [S[:, bad] for S in states], tol, max_iter, inner_tol, inner_max_iter
        )
        it += it2
        for S, T in zip(states, new):
            S[:, bad] = T
        certs = ax.copy(certs)
        certs[bad] = ax.asarray(c2, like=certs) if not isinstance(c2, float) else c2
        used = cand.label
    return states, certs, n_bad, used, it


def _convex(layers):
    """``True`` when (12) is jointly convex in the states: every layer after the first is jointly
    convex, except a Fenchel-Young last layer (whose minimum over its state is 0 for every input)."""
    return all(p.form == "joint" or p.u_quadratic is not None for p in layers[1:-1])


def _fits(net):
    """Size checks of the candidates whose work per column grows fast with the widths."""
    return {
        "newton": lambda: chain_newton.fits(net.props, net.widths),
        "dual_newton": lambda: net.widths[-1] <= PREDICT_DUAL_MAX_Q,
    }


def _no_worse(net, states, Z0, certs):
    """Per column, keep ``Z0`` where the result's objective is larger (the warm start is never lost)."""
    worse = worse_columns(net.chain.objective_columns(states), net.chain.objective_columns(Z0))
    if worse.shape[0]:
        states = [ax.copy(S) for S in states]
        for S, T in zip(states, Z0):
            S[:, worse] = T[:, worse]
        if certs is not None:
            certs = ax.copy(certs)
            certs[worse] = float("inf")
    return states, certs


# ---------------------------------------------------------------------------------------- forward
@register(
    "lifted_predict",
    "forward",
    lambda layers: all(a.form == "fenchel" for a in layers),
    "every form Fenchel-Young (the forward pass is optimal)",
)
def _forward_solver(net, Z0, tol, max_iter, inner_tol, inner_max_iter):
    return _forward(net.X, net.weights, net.biases, net.divs), 0, 0.0, True


# ---------------------------------------------------------------------------------------- dual Newton
#: Largest output width for ``dual_newton`` (its iterations cost :math:`O(q^2 p m)`).
PREDICT_DUAL_MAX_Q = 40
_BOX = ("real", "nonneg", "box")


def _dual_newton_ok(layers):
    # the first layer's input is fixed: only its z-side matters (either form)
    return (
        len(layers) == 2
        and layers[0].domain in _BOX
        and layers[1].form == "joint"
        and layers[1].domain in _BOX + ("simplex",)
    )


@register(
    "lifted_predict",
    "dual_newton",
    _dual_newton_ok,
    "one hidden layer mu||z - u||^2 + I_C(z) + h(u) with C a box (either form), and a jointly convex "
    "last layer mu||x - v||^2 + I_C'(x) with C' a box or the simplex, of at most PREDICT_DUAL_MAX_Q = 40 rows",
)
def _dual_newton_predict(net, Z0, tol, max_iter, inner_tol, inner_max_iter):
    r"""Semismooth Newton on the optimality system of a one-hidden-layer prediction.

    With the last state minimised out, each column solves
    :math:`\min_{z\in C} a\|z - u\|^2 + g(Wz + b)`, :math:`a = \lambda_0\mu_0`,
    :math:`g(v) = B\,\mathrm{dist}(v, C')^2`, :math:`B = \lambda_1\mu_1`. With
    :math:`y = \nabla g(v) = 2B(v - \Pi_{C'}(v))` and :math:`z(y) = \Pi_C(u - W^Ty/(2a))`,
    :math:`z(y)` is optimal exactly when
    :math:`F(y) = y - 2B(I - \Pi_{C'})(Wz(y) + b) = 0`. Newton steps use the generalised
    Jacobian :math:`I + \tfrac{B}{a}(I - J_{C'})\,W\,\mathrm{diag}(\delta)\,W^T`
    (:math:`q\times q` per column; :math:`\delta` the free coordinates of :math:`\Pi_C`,
    :math:`J_{C'}` the Jacobian of :math:`\Pi_{C'}`: diagonal for a box,
    :math:`\mathrm{diag}(1_S) - 1_S1_S^T/|S|` on the simplex support :math:`S`), with an
    Armijo search on :math:`\|F\|^2`. A column stops when the KKT residual
    :math:`\|F(y)\| / (1 + \|y\|)` is at most ``tol``.
    """
    W0, W1 = net.weights
    b0, b1 = net.biases
    d0, d1 = net.divs
    a = net.lams[0] * net.props[0].mu
    B = net.lams[1] * net.props[1].mu
    q, p = W1.shape
    U = W0 @ net.X + b0[:, None]
    m = U.shape[1]
    xp = net.xp
    dev = ax.device_of(U)
    proj0, proj1 = d0.project_domain, d1.project_domain
    simplex = net.props[1].domain == "simplex"
    s = 1.0 / (2.0 * a)
    WW = xp.reshape(W1[:, None, :] * W1[None, :, :], (q * q, p))
    eye = ax.eye(xp, q, U)
    Zs = d0.forward(U) if Z0 is None else Z0[0]
    V = W1 @ Zs + b1[:, None]
    Y = 2.0 * B * (V - proj1(V))

    def evaluate(Uc, Yc):
        Vz = Uc - s * (W1.T @ Yc)
        Z = proj0(Vz)
        Vo = W1 @ Z + b1[:, None]
        P1 = proj1(Vo)
        F = Yc - 2.0 * B * (Vo - P1)
        return Vz, Z, P1, F

    states_z = xp.empty((p, m), dtype=xp.float64, device=dev)
    cert = xp.full(m, xp.inf, dtype=xp.float64, device=dev)
    idx = xp.arange(m, device=dev)
    Uc = U
    Vz, Z, P1, F = evaluate(Uc, Y)
    it = 0
    newton_max = min(int(max_iter), NEWTON_MAX_ITER)
    while True:
        nF = xp.sqrt(ax.coldot(F, F))
        res = nF / (1.0 + xp.sqrt(ax.coldot(Y, Y)))
        done = res <= tol
        n_done = int(xp.sum(xp.astype(done, xp.int64)))
        if n_done == idx.shape[0] or n_done >= max(1, idx.shape[0] // 10) or it >= newton_max:
            # retire converged columns (a gather of every array) in batches of a tenth at least
            fin = done if it < newton_max else xp.ones_like(done)
            states_z[:, idx[fin]] = Z[:, fin]
            cert[idx[fin]] = res[fin]
            keep = ~fin
            idx = idx[keep]
            if not idx.shape[0]:
                break
            Uc, Y, Vz, Z, P1, F = Uc[:, keep], Y[:, keep], Vz[:, keep], Z[:, keep], P1[:, keep], F[:, keep]
            nF = nF[keep]
            done = done[keep]
        it += 1
        delta = xp.astype(Z == Vz, xp.float64)
        H0 = xp.reshape((WW @ delta).T, (-1, q, q))  # W diag(delta) W^T, one per column
        if simplex:
            S = xp.astype(P1 > 0, xp.float64).T  # (k, q) support of the projection
            SH = ax.einsum("ki,kij->kj", S, H0) / xp.maximum(xp.sum(S, axis=1), 1.0)[:, None]
            Q = (1.0 - S)[:, :, None] * H0 + S[:, :, None] * SH[:, None, :]
        else:
            free = xp.astype(P1 == (W1 @ Z + b1[:, None]), xp.float64).T
            Q = (1.0 - free)[:, :, None] * H0
        J = eye + (2.0 * B * s) * Q
        step = -xp.linalg.solve(J, F.T[:, :, None])[:, :, 0].T
        theta = nF * nF
        # the full step on every column first (no gathers): usually all are accepted
        step[:, done] = 0.0  # converged columns waiting to retire
        Yt = Y + step
        Vt, Zt, Pt, Ft = evaluate(Uc, Yt)
        ok = (ax.coldot(Ft, Ft) <= (1.0 - 2e-4) * theta) | done
        if bool(xp.all(ok)):
            Y, Vz, Z, P1, F = Yt, Vt, Zt, Pt, Ft
            continue
        Y[:, ok], Vz[:, ok], Z[:, ok], P1[:, ok], F[:, ok] = Yt[:, ok], Vt[:, ok], Zt[:, ok], Pt[:, ok], Ft[:, ok]
        todo = xp.nonzero(~ok)[0]
        t = xp.full(idx.shape[0], 0.5, dtype=xp.float64, device=dev)
        for _ in range(40):
            Yt = Y[:, todo] + t[todo] * step[:, todo]
            Vt, Zt, Pt, Ft = evaluate(Uc[:, todo], Yt)
            ok = ax.coldot(Ft, Ft) <= (1.0 - 2e-4 * t[todo]) * theta[todo]
            sel = todo[ok]
            Y[:, sel], Vz[:, sel], Z[:, sel] = Yt[:, ok], Vt[:, ok], Zt[:, ok]
            P1[:, sel], F[:, sel] = Pt[:, ok], Ft[:, ok]
            todo = todo[~ok]
            if not todo.shape[0]:
                break
            t[todo] *= 0.5
    last = d1.forward(W1 @ states_z + b1[:, None])
    # columns left above tol (Newton stalled) are finished by the next method (lifted_predict)
    return [states_z, last], it, cert, bool(xp.all(cert <= tol))


#: Newton iterations of ``dual_newton`` before the stalled columns go to ``joint``.
NEWTON_MAX_ITER = 50


def _kkt_residual(net, Z, a, B, proj1):
    r""":math:`\|F(y)\| / (1 + \|y\|)` at :math:`y = \nabla g(WZ + b)` (see ``dual_newton``)."""
    W0, W1 = net.weights
    U = W0 @ net.X + net.biases[0][:, None]
    V = W1 @ Z + net.biases[1][:, None]
    Y = 2.0 * B * (V - proj1(V))
    Zy = net.divs[0].project_domain(U - (W1.T @ Y) / (2.0 * a))
    Vy = W1 @ Zy + net.biases[1][:, None]
    F = Y - 2.0 * B * (Vy - proj1(Vy))
    xp = net.xp
    return xp.sqrt(ax.coldot(F, F)) / (1.0 + xp.sqrt(ax.coldot(Y, Y)))


# ---------------------------------------------------------------------------------------- newton
@register(
    "lifted_predict",
    "newton",
    lambda layers: chain_newton.applies(layers),
    "hidden layers mu||z - u||^2 + I_C(z) with C a box (the first in either form, the others jointly convex) "
    "and a last layer whose envelope Hessian is known (Fenchel-Young, or mu||z - u||^2 + I_C(z) with C a box "
    "or the simplex); sizes checked apart (chain_newton.fits)",
)
def _newton(net, Z0, tol, max_iter, inner_tol, inner_max_iter):
    """Projected Newton with exact active-set solves (:mod:`cvxlift.fast.chain_newton`)."""
    pb = net.chain
    hidden0 = Z0[:-1] if Z0 is not None else pb.forward()[:-1]
    hidden, cert, it, _ = chain_newton.solve(pb, hidden0, tol, max_iter)
    return pb.complete(hidden), it, cert, bool(pb.xp.all(cert <= tol))


# ---------------------------------------------------------------------------------------- joint
@register(
    "lifted_predict",
    "joint",
    lambda layers: chain_first_order.applies(layers),
    "hidden layers after the first quadratic in u (u_quadratic), the last layer smooth in u (or Fenchel-Young)",
)
def _joint(net, Z0, tol, max_iter, inner_tol, inner_max_iter):
    """Accelerated proximal gradient on every hidden state (:mod:`cvxlift.fast.chain_first_order`)."""
    pb = net.chain
    hidden0 = Z0[:-1] if Z0 is not None else pb.forward()[:-1]
    hidden, cert, it = chain_first_order.solve(pb, hidden0, tol, inner_max_iter)
    return pb.complete(hidden), it, cert, bool(pb.xp.all(cert <= tol))


# ---------------------------------------------------------------------------------------- bcd
def _has_solver(kind, **props):
    try:
        select(kind, **props)
        return True
    except NoFastSolver:
        return False


def _bcd_ok(layers):
    return all(_has_solver("x_step", prev=layers[l - 1], next=layers[l]) for l in range(1, len(layers)))


@register("lifted_predict", "bcd", _bcd_ok, "a fast X-step for every hidden layer")
def _bcd(net, Z0, tol, max_iter, inner_tol, inner_max_iter):
    n = net.n
    W, b, divs, forms, lams = net.weights, net.biases, net.divs, net.forms, net.lams
    states = _forward(net.X, W, b, divs) if Z0 is None else [ax.copy(S) for S in Z0]
    if n == 1:
        return [net.last(net.X)], 0, 0.0, True

    def block(l):
        """The X-step problem of state X_l (l = 1..L), i.e. states[l - 1]."""
        inp = net.X if l == 1 else states[l - 2]
        U0 = W[l - 1] @ inp + b[l - 1][:, None]
        return (U0, W[l], b[l], states[l], divs[l - 1], forms[l - 1], divs[l], forms[l], lams[l - 1], lams[l])

    states[-1] = net.last(states[-2])
    J = net.objective(states)
    cert = best = np.inf
    sweeps = since = 0
    converged = False
    while not converged and sweeps < max_iter:
        sweeps += 1
        for l in range(1, n):
            # FISTA X-steps: their certificate is a fixed-point residual, the one bcd stops on
            states[l - 1], _ = x_step(
                *block(l), Z0=states[l - 1], tol=inner_tol, max_iter=inner_max_iter, method="fista"
            )
        states[-1] = net.last(states[-2])
        Jn = net.objective(states)
        cert = max(ax.amax(XStepProblem(*block(l)).residual(states[l - 1])) for l in range(1, n))
        decrease = J - Jn
        J = Jn
        converged = cert <= tol
        if cert < 0.9 * best:
            best, since = cert, 0
        else:
            since += 1
        if not converged and decrease <= STALL * max(abs(Jn), TINY) and since >= STALL_SWEEPS:
            break  # neither the objective nor the certificate moves: stalled
    return states, sweeps, cert, converged


__all__ = ["lifted_predict", "prediction_objective"]
