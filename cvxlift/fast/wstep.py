r"""The (W, b)-step: :math:`\min_{W,b}\ \lambda D(WA + b\mathbf 1^T, Z) + \rho\|W\|_F^2`.

Every solver centres the data: with :math:`\bar a = A\mathbf 1/m`,
:math:`A_c = A - \bar a\mathbf 1^T` and :math:`c = b + W\bar a`,
:math:`WA + b\mathbf 1^T = WA_c + c\mathbf 1^T` and :math:`A_c\mathbf 1 = 0`, so the
Gram matrix of :math:`[A_c; \mathbf 1^T]` is block diagonal,
:math:`\mathrm{diag}(A_cA_c^T, m)`: the unpenalised bias decouples, the factorisation is
:math:`p \times p` (instead of :math:`(p+1)\times(p+1)`) and better conditioned (no large
mean column). :math:`b = c - W\bar a` at the end. Products with the data use :math:`A`
itself (:math:`WA_c + c\mathbf 1^T = WA + b\mathbf 1^T`, :math:`GA_c^T = GA^T - (G\mathbf 1)\bar a^T`):
:math:`A_c` is formed once, for its Gram matrix.

``ridge`` (``D`` is :math:`\mu\|u - z\|^2 + g(z)` in ``u``)
    exact: :math:`W (A_cA_c^T + \tfrac{\rho}{\lambda\mu} I) = Z A_c^T`,
    :math:`c = Z\mathbf 1/m`; one Cholesky factor shared by all output rows.
``pncg`` (``D`` smooth in ``u``: :math:`\nabla_u D` is :math:`L_u`-Lipschitz)
    preconditioned nonlinear conjugate gradients (Polak-Ribiere+, in its flexible form) with
    an exact line search. For an elementwise atom the problem separates over the rows
    :math:`(w_i, c_i)` of :math:`(W, c)`, and every row gets its own conjugate direction, step
    and preconditioner

    .. math:: M_i = \mathrm{diag}\big(\lambda L_u f_i\, A_cA_c^T + 2\rho I,\ \lambda L_u f_i\, m\big),

    applied through one eigendecomposition :math:`A_cA_c^T = V\Lambda V^T` shared by all rows
    (two :math:`q\times p\times p` products per iteration). :math:`f_i \in (0, 1]` is the
    fraction of the curvature bound :math:`L_u` that row :math:`i` has: for an atom whose
    ``u``-gradient is a projection (a box domain: ReLU, clipped), the fraction of its entries
    where the projection is the identity; afterwards the curvature measured by the line search
    along the last step. (With :math:`f_i = 1`, :math:`M_i` is the majoriser of ``majorize``.)
    The line search finds, per row, a step :math:`t` with
    :math:`|\varphi_i'(t)| \le 0.01|\varphi_i'(0)|` for :math:`\varphi_i(t) = F_i(x_i + td_i)`
    (convex, so this is an exact line search to two digits) by safeguarded secant steps on
    :math:`\varphi_i'`, which needs only :math:`\nabla_u D` on the line: each trial is
    elementwise work on :math:`U + t\,\Delta U`, no product with :math:`A`. One iteration is
    two products with :math:`A` (the gradient and :math:`\Delta U = \Delta W A_c +
    \Delta c\mathbf 1^T`), as one iteration of ``majorize``; on MNIST (784-300, 8,000 digits)
    it reaches the 1e-10 certificate in about 20 times fewer iterations. A non-elementwise
    atom (e.g. the simplex) couples the rows: one step ``t`` for all of them.
``majorize`` (``D`` smooth in ``u``)
    accelerated majorisation-minimisation: the objective is majorised at every point by
    the quadratic with Hessian :math:`H = \lambda L_u [A_c;\mathbf 1^T][A_c;\mathbf 1^T]^T
    + 2\rho\,\mathrm{diag}(1, \dots, 1, 0)`; each iteration is one gradient (two GEMMs)
    and one solve with the one Cholesky factor of ``H``; Nesterov momentum in the
    ``H``-metric with gradient-based adaptive restart. Kept for comparison (``method=``).

Certificate (all): the gradient of the objective at the returned point, in the original
coordinates :math:`(W, b)`, relative to the linear term's scale:
:math:`\|\nabla F\|_F / (1 + \kappa\lambda\|Z[A;\mathbf 1^T]^T\|_F)`, with
:math:`\kappa = 2\mu` (ridge) or 1 (pncg, majorize).

What depends only on the layer input :math:`A` (its mean, the Gram matrix
:math:`A_cA_c^T`, its eigendecomposition and Cholesky factors) can be kept across calls in a
:class:`WStepCache`: for the first layer, whose input is the data, it is computed once per fit.
"""

import math
import time

import numpy as np

from .. import arrays as ax
from ..exceptions import ValidationError
from ._common import TINY, add_flops, as_matrix, as_vector, iteration_budget, mm, positive, spd_factor
from .registry import NoFastSolver, atom_props, register, select  # noqa: F401  (re-exported)
from .result import BlockResult

#: Domains whose projection acts entry by entry (its Jacobian is a 0/1 diagonal).
BOX_DOMAINS = ("nonneg", "box")


class WStepCache:
    r"""What the W-step of one layer keeps from one call to the next: the quantities that
    depend only on the layer input :math:`A`.

    Pass one instance per layer as ``w_step(..., cache=...)`` on every call of a fit.
    It holds the input's mean :math:`\bar a`, the centred Gram matrix :math:`A_cA_c^T`
    (:math:`p^2 m` flops: for 784 x 8,000 inputs the largest product of a ridge W-step),
    its eigendecomposition (``pncg``'s preconditioner) and the Cholesky factor of
    :math:`A_cA_c^T + sI` for the last shift :math:`s` (``ridge``, ``majorize``; a new
    :math:`\lambda` or :math:`\rho` refactors, :math:`p^3/3` flops, but does not redo the Gram
    matrix), and the pre-activation :math:`WA + b\mathbf 1^T` of the last solution, which
    :meth:`preactivation` hands back.

    Contract: the cache is valid while the caller passes the **same array object** ``A``,
    not modified in place (the first layer's input ``X``). A different object, or a different
    shape, makes the next call recompute everything (correct, just not cached); a cheap
    fingerprint (a strided sample of the entries) also catches most in-place changes, but it
    is a guard, not a guarantee. Layers whose input is a state matrix that the X-steps
    replace every sweep gain nothing beyond the pre-activation. ``Z``, ``W0``, ``b0``,
    ``lam`` and ``rho`` may change freely between calls.

    Attributes
    ----------
    hits, misses : int
        Calls that found / did not find the input's Gram matrix in the cache.
    state : dict
        What a solver keeps for its next call with the same input, by solver name (``admm``:
        its penalty and scaled dual, a warm start); emptied with the rest when the input changes.
    """

    def __init__(self):
        self.hits = 0
        self.misses = 0
        self._reset(None, None)

    def _reset(self, src, key):
        self._src, self._key = src, key
        self._checked = None
        self.abar = None
        self.gram = None
        self._eig = None
        self._factor = (None, None)
        self._u = None
        self.state = {}

    @staticmethod
    def _fingerprint(A_in):
        """Shape and a sum of about 4,096 entries of the caller's array (in memory order)."""
        if ax.is_foreign(A_in):
            xp = ax.namespace(A_in)
            flat = xp.reshape(A_in, (-1,))
            step = max(1, flat.shape[0] // 4096)
            return tuple(A_in.shape), float(xp.sum(ax.as_float64(flat[::step])))
        A = np.asarray(A_in)
        flat = A.ravel(order="K")
        step = max(1, flat.size // 4096)
        return A.shape, float(np.sum(flat[::step], dtype=np.float64))

    def checked(self, A_in):
        """The checked array of the bound input if ``A_in`` is that input, unchanged (by its
        fingerprint), else ``None``: a hit skips the input checks and conversion.

        Parameters
        ----------
        A_in : array

        Returns
        -------
        (p, m) array or None
        """
        if self._src is not A_in or self.gram is None or self._fingerprint(A_in) != self._key:
            return None
        return self._checked

    def bind(self, A_in, A):
        """Use the cached input quantities if ``A_in`` is the array of the previous call;
        otherwise compute them for ``A`` (the checked float64 copy of ``A_in``).

        Parameters
        ----------
        A_in : array
            The input as the caller passed it (its identity is the cache key).
        A : (p, m) array
            ``A_in`` as a C-contiguous float64 array.

        Returns
        -------
        WStepCache
            ``self``.
        """
        key = self._fingerprint(A_in)
        if self._src is A_in and self._key == key and self.gram is not None:
            self.hits += 1
            return self
        self.misses += 1
        self._reset(A_in, key)
        self._checked = A
        self.abar = ax.namespace(A).mean(A, axis=1)
        Ac = A - self.abar[:, None]
        self.gram = mm(Ac, Ac.T)
        return self

    def eig(self):
        r""":math:`(\Lambda, V)` with :math:`A_cA_c^T = V\mathrm{diag}(\Lambda)V^T`, :math:`\Lambda \ge 0`."""
        if self._eig is None:
            lam, V = ax.eigh(self.gram)
            add_flops(9.0 * self.gram.shape[0] ** 3)
            self._eig = (ax.namespace(lam).maximum(lam, 0.0), V)
        return self._eig

    def factor(self, shift):
        r"""A solver ``X -> (A_cA_c^T + sI)^{-1} X`` for ``s = shift`` (cached for the last shift)."""
        if self._factor[0] != shift:
            G = self.gram + shift * ax.eye(ax.namespace(self.gram), self.gram.shape[0], self.gram)
            self._factor = (shift, spd_factor(G))
            add_flops(G.shape[0] ** 3 / 3.0)
        return self._factor[1]

    def store_preactivation(self, W, b, U):
        """Record :math:`U = WA + b\\mathbf 1^T` of the solution ``(W, b)`` just returned."""
        self._u = (W, b, U)

    def preactivation(self, W, b, A=None):
        """:math:`WA + b\\mathbf 1^T` for the bound input if ``(W, b)`` are the very arrays the
        last ``w_step`` returned (identity, not equality), else ``None``.

        Parameters
        ----------
        W : (q, p) array, b : (q,) array
        A : (p, m) array, optional
            When given, the product is returned only if ``A`` is the very input the cache is
            bound to (a layer whose input state was replaced since gets ``None``).

        Returns
        -------
        (q, m) array or None
        """
        if A is not None and A is not self._src:
            return None
        if self._u is not None and self._u[0] is W and self._u[1] is b:
            return self._u[2]
        return None


def _u_rows(d, Z, W0):
    """Length of the pre-activation columns ``u = W A + b`` (rows of ``W``)."""
    n_out = Z.shape[0]
    if W0 is not None:
        n_u = W0.shape[0] if hasattr(W0, "shape") else np.asarray(W0).shape[0]
    else:
        n_u = n_out
    if d.out_dim(n_u) != n_out:
        raise ValidationError(
            f"{d!r} maps pre-activations of length {n_u} to length {d.out_dim(n_u)}, but Z has {n_out} "
            "rows; pass W0 to fix the number of rows of W"
        )
    return n_u


def w_objective(A, Z, W, b, d, form, lam, rho, U=None):
    r""":math:`\lambda \sum D(WA + b 1^T, Z) + \rho \|W\|_F^2` (exact numpy values).

    Parameters
    ----------
    A : (p, m) array, Z : (q', m) array, W : (q, p) array, b : (q,) array
    d : Divergence
    form : {"fenchel", "joint"} or None
    lam, rho : float
    U : (q, m) array, optional
        :math:`WA + b\mathbf 1^T` if the caller has it (saves the product).

    Returns
    -------
    float
    """
    if U is None:
        U = mm(W, A) + b[:, None]
    xp = ax.namespace(U)
    d = ax.native(d, U)
    return float(lam * float(xp.sum(d.divergence_value(U, Z, form))) + rho * float(xp.sum(W * W)))


#: Largest default iteration budget of the iterative W-step solvers (the former fixed default).
W_STEP_MAX_ITER = 5000


def w_step(A, Z, d, form, lam, rho, W0=None, b0=None, tol=1e-10, max_iter=None, evaluate=True, method=None, cache=None):
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
        Warm start (used by the iterative solvers).
    tol : float
        Bound on the relative gradient certificate.
    max_iter : int, optional
        Iterations of the iterative solver (one iteration of ``pncg`` or ``majorize`` is two
        products with ``A``); default :func:`~cvxlift.fast._common.iteration_budget` for the
        ``p + 1`` unknowns of a row, ``200 + 20 (p + 1)``, at most :data:`W_STEP_MAX_ITER` (``admm``,
        a first-order method: the ``"first_order"`` budget of its :math:`q(p + 1)m` work per
        iteration, at most :data:`W_STEP_MAX_ITER`). A solve that reaches it returns its
        certificate with ``converged=False``.
    evaluate : bool
        Evaluate the block objective at the solution for ``info.objective`` (``False`` leaves
        it NaN: the network evaluates its own objective).
    method : str, optional
        Name of a registered candidate to use instead of the first that applies (for
        comparisons; it must apply to the atom).
    cache : WStepCache, optional
        Per-layer cache kept by the caller across calls (see :class:`WStepCache`): the
        input's Gram matrix and its factorisations are computed once while ``A`` is the same
        array, and ``cache.preactivation(W, b)`` returns :math:`WA + b1^T` of the returned
        solution when the solver formed it.

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
    cand = select("w_step", method=method, atom=props)
    lam = positive(lam, "lam")
    rho = positive(rho, "rho")
    if max_iter is not None and (
        isinstance(max_iter, bool) or not isinstance(max_iter, (int, np.integer)) or max_iter < 0
    ):
        raise ValidationError(f"max_iter must be None or a non-negative integer, got {max_iter!r}")
    if cache is not None and not isinstance(cache, WStepCache):
        raise ValidationError(f"cache must be None or a cvxlift.fast.WStepCache, got {type(cache).__name__}")
    A_in = A
    A = cache.checked(A_in) if cache is not None else None  # the bound input, already checked
    if A is None:
        A = as_matrix(A_in, "A")
    p, m = A.shape
    Z = as_matrix(Z, "Z", cols=m)
    n_u = _u_rows(d, Z, W0)
    if max_iter is None and getattr(cand.solver, "budget", None) == "first_order":
        # a first-order method (ADMM): as many iterations as WORK_BUDGET allows for its
        # n_u (p + 1) x m work per iteration, at most W_STEP_MAX_ITER
        max_iter = iteration_budget("first_order", n_u * (p + 1), m, cap=W_STEP_MAX_ITER)
    elif max_iter is None:
        max_iter = default_max_iter(p)
    W0 = None if W0 is None else ax.asarray(as_matrix(W0, "W0", rows=n_u, cols=p), like=A)
    b0 = None if b0 is None else ax.asarray(as_vector(b0, "b0", n_u), like=A)
    Z = ax.asarray(Z, like=A)
    if getattr(cand.solver, "numpy_only", False) and ax.is_foreign(A):
        # a numpy-only solver (cvxlift.fast.generic): the block through numpy, (W, b) back
        An = ax.to_numpy(A)
        W, b, it, cert, conv = cand.solver(
            An,
            ax.to_numpy(Z),
            d,
            form,
            lam,
            rho,
            props,
            ax.to_numpy(W0),
            ax.to_numpy(b0),
            tol,
            int(max_iter),
            layer=WStepCache().bind(An, An),
        )
        W, b = ax.asarray(W, like=A), ax.asarray(b, like=A)
        obj = w_objective(A, Z, W, b, ax.native(d, A), form, lam, rho) if evaluate else float("nan")
        return W, b, BlockResult(it, float(cert), bool(conv), time.perf_counter() - t0, obj, cand.label)
    d = ax.native(d, A)
    if getattr(cand.solver, "uses_cache", False):
        layer = (cache if cache is not None else WStepCache()).bind(A_in, A)
        W, b, it, cert, conv = cand.solver(A, Z, d, form, lam, rho, props, W0, b0, tol, int(max_iter), layer=layer)
        U = layer.preactivation(W, b)
    else:
        W, b, it, cert, conv = cand.solver(A, Z, d, form, lam, rho, props, W0, b0, tol, int(max_iter))
        U = None
    obj = w_objective(A, Z, W, b, d, form, lam, rho, U=U) if evaluate else float("nan")
    return W, b, BlockResult(it, float(cert), bool(conv), time.perf_counter() - t0, obj, cand.label)


def uses_cache(solver):
    """Mark a solver as taking the ``layer`` keyword (a bound :class:`WStepCache`)."""
    solver.uses_cache = True
    return solver


def _scale(ZA, zsum):
    r""":math:`\|Z[A; 1^T]^T\|_F` from :math:`ZA^T` and :math:`Z1`."""
    xp = ax.namespace(ZA)
    return math.sqrt(float(xp.sum(ZA * ZA)) + float(xp.sum(zsum * zsum)))


def _grad_norm(gW, gc, abar):
    """Norm of the gradient in (W, b) from the gradient in the centred (W, c)."""
    gWo = gW + gc[:, None] * abar[None, :]
    xp = ax.namespace(gWo)
    return math.sqrt(float(xp.sum(gWo * gWo)) + float(xp.sum(gc * gc)))


def _centred_product(G, A, abar):
    r""":math:`GA_c^T = GA^T - (G1)\bar a^T` and :math:`G1`."""
    gsum = ax.namespace(G).sum(G, axis=1)
    out = mm(G, A.T)
    out -= gsum[:, None] * abar[None, :]
    return out, gsum


@register(
    "w_step",
    "ridge",
    lambda atom: atom.u_quadratic is not None,
    "D = mu ||u - z||^2 + g(z) in u (z_quadratic with the joint form, or the 'real' domain)",
)
@uses_cache
def _ridge(A, Z, d, form, lam, rho, props, W0, b0, tol, max_iter, layer=None):
    mu = props.u_quadratic
    p, m = A.shape
    abar = layer.abar
    shift = rho / (lam * mu)
    ZAc, zsum = _centred_product(Z, A, abar)
    W = layer.factor(shift)(ZAc.T).T
    add_flops(2.0 * W.shape[0] * p * p)  # the two triangular solves
    b = zsum / m - W @ abar
    # gradient / (2 lam mu): W (G + shift I) - Z Ac^T for W (the bias gradient is zero by construction)
    k = 2.0 * lam * mu
    gW = mm(W, layer.gram)
    gW += shift * W
    gW -= ZAc
    gW *= k
    ZA = ZAc + zsum[:, None] * abar[None, :]
    cert = _grad_norm(gW, ax.namespace(W).zeros(W.shape[0], dtype=W.dtype, device=ax.device_of(W)), abar) / (
        1.0 + k * _scale(ZA, zsum)
    )
    return W, b, 0, cert, bool(cert <= max(tol, 1e3 * np.finfo(float).eps))


#: ``pncg``: line-search acceptance :math:`|\varphi'(t)| \le` LS_C2 :math:`|\varphi'(0)|`, at most
#: LS_MAX trials per iteration; smallest curvature fraction :math:`f_i`.
LS_C2, LS_MAX, F_MIN = 0.01, 12, 1e-3
#: ``pncg``: rows whose directional slope is below LS_FLOOR times the largest are not moved.
LS_FLOOR = 1e-12


def _rows_gradient(d, form, box, U, Z):
    """``grad_u D(U, Z)`` and, for a box domain, where the projection is the identity."""
    if form != "fenchel":
        return d.u_gradient(U, Z, form), None
    F = d.forward(U)
    mask = (F == U) if box else None
    if ax.may_share_memory(F, U):
        return F - Z, mask
    F -= Z
    return F, mask


def _line_search(phi, g0, t1, c2=LS_C2, max_trials=LS_MAX):
    r"""Approximately minimise convex functions :math:`\varphi_i(t)`, :math:`t \ge 0`, one per entry.

    ``phi(t, idx)`` returns :math:`(\varphi_i'(t_i), \varphi_i''(t_i))` for the entries ``idx``
    (the second derivative, a generalised one at a kink, may be ``None`` where unknown);
    ``g0`` holds :math:`\varphi_i'(0)` and ``t1 > 0`` the first trials. Each entry keeps a
    bracket of its minimiser and takes Newton steps (secant steps without
    :math:`\varphi''`: regula falsi with the Illinois modification once bracketed, at most 4x
    extrapolation before), bisecting when a step leaves the bracket, until
    :math:`|\varphi_i'(t)| \le c_2|\varphi_i'(0)|`. Only the entries still searching are
    evaluated. An entry with :math:`\varphi_i'(0) \ge 0`, or with a slope below ``LS_FLOOR`` times the
    largest (rounding level), gets ``t = 0``; one that does not meet
    the test within ``max_trials`` trials gets its largest trial with :math:`\varphi_i' < 0`
    (so :math:`\varphi_i(t) < \varphi_i(0)` by convexity).

    Returns
    -------
    t, phi'(t) : arrays like ``g0``
    trials : int
        Calls of ``phi``.
    """
    xp = ax.namespace(g0)
    dev = ax.device_of(g0)
    n = g0.shape[0]

    def full(v):
        return xp.full(n, v, dtype=xp.float64, device=dev)

    t = full(0.0)
    g = ax.copy(g0)
    lo, glo = full(0.0), ax.copy(g0)
    hi, ghi = full(xp.inf), full(xp.inf)
    side = full(0.0)  # Illinois: the end kept last (-1 lo, +1 hi)
    # entries whose slope is at rounding level next to the others' are left where they are
    idx = xp.nonzero(g0 < -LS_FLOOR * ax.amax(xp.abs(g0)))[0]
    tt = t1[idx]
    trials = 0
    while idx.shape[0] and trials < max_trials:
        gt, ht = phi(tt, idx)
        trials += 1
        t[idx], g[idx] = tt, gt
        ok = xp.abs(gt) <= c2 * xp.abs(g0[idx])
        if bool(xp.all(ok)):
            idx = idx[:0]
            break
        below, above = gt < 0, gt > 0
        lo_i = xp.where(below, tt, lo[idx])
        glo_i = xp.where(below, gt, glo[idx])
        hi_i = xp.where(above, tt, hi[idx])
        ghi_i = xp.where(above, gt, ghi[idx])
        lo[idx], glo[idx], hi[idx], ghi[idx] = lo_i, glo_i, hi_i, ghi_i
        bracket = xp.isfinite(hi_i)
        with ax.errstate(xp, divide="ignore", invalid="ignore", over="ignore"):
            if ht is not None:
                step = tt - gt / ht
                step = xp.where(ht > 0, step, xp.inf)
            else:
                s_i = side[idx]
                glo_w = xp.where(below & (s_i == -1.0), 0.5 * glo_i, glo_i)
                ghi_w = xp.where(above & (s_i == 1.0), 0.5 * ghi_i, ghi_i)
                falsi = lo_i - glo_w * (hi_i - lo_i) / (ghi_w - glo_w)
                secant = xp.where(gt > g0[idx], tt * g0[idx] / (g0[idx] - gt), xp.inf)
                step = xp.where(bracket, falsi, secant)
            # before a bracket: a Newton step forward (at most 4x), a secant step 1.5x to 4x
            step = xp.where(bracket, step, xp.clip(step, (1.5 if ht is None else 1.0) * tt, 4.0 * tt))
            step = xp.where(bracket | (step > tt), step, 2.0 * tt)
        inside = (step > lo_i) & (step < hi_i)
        step = xp.where(bracket & ~inside, 0.5 * (lo_i + hi_i), step)
        side[idx] = xp.where(below, -1.0, xp.where(above, 1.0, side[idx]))
        keep = ~ok
        idx, tt = idx[keep], step[keep]
    if idx.shape[0]:  # out of trials: the largest trial left of the minimiser
        over = g[idx] > 0
        t[idx] = xp.where(over, lo[idx], t[idx])
        g[idx] = xp.where(over, glo[idx], g[idx])
    return t, g, trials


def _smooth_in_u(atom):
    """The predicate of the majorising W-steps: D has a Lipschitz gradient in u."""
    return atom.u_lipschitz is not None and atom.u_lipschitz > 0


SMOOTH_IN_U = "D smooth in u (u_lipschitz not None)"


@register(
    "w_step",
    "pncg",
    _smooth_in_u,
    SMOOTH_IN_U,
)
@uses_cache
def _pncg(A, Z, d, form, lam, rho, props, W0, b0, tol, max_iter, layer=None):
    Lu = props.u_lipschitz
    p, m = A.shape
    q = Z.shape[0] if W0 is None else W0.shape[0]
    abar = layer.abar
    ev, V = layer.eig()
    rows = bool(getattr(d, "elementwise", False))  # the problem separates over the rows of W
    xp = ax.namespace(A)
    dev = ax.device_of(A)

    def full(n, v):
        return xp.full(n, v, dtype=xp.float64, device=dev)

    ZA = mm(Z, A.T)
    zsum = xp.sum(Z, axis=1)
    scale = 1.0 + lam * _scale(ZA, zsum)
    del ZA

    W = xp.zeros((q, p), dtype=xp.float64, device=dev) if W0 is None else ax.copy(W0)
    b = full(q, 0.0) if b0 is None else ax.copy(b0)
    c = b + W @ abar
    U = mm(W, A)
    U += b[:, None]

    fenchel = form == "fenchel"  # u-gradient forward(u) - z
    box = fenchel and props.domain in BOX_DOMAINS  # forward a projection: its Jacobian is F == U

    def grad_u(Uc):
        """``(grad_u D(U, Z), mask)``: ``mask`` (box atoms) where the projection is the identity."""
        return _rows_gradient(d, form, box, Uc, Z)

    P, mask = grad_u(U)
    # curvature fractions f_i: exact for a projection (box domain), else start from the bound
    f = xp.clip(xp.mean(xp.astype(mask, xp.float64), axis=1), F_MIN, 1.0) if box else full(q, 1.0)

    def precondition(RW, Rc):
        S = mm(RW, V)
        S /= (lam * Lu) * f[:, None] * ev[None, :] + 2.0 * rho
        return mm(S, V.T), Rc / ((lam * Lu * m) * f)

    it = 0
    dW = dc = None
    SW_prev = Sc_prev = rs_prev = None  # the previous preconditioned residual (conjugate directions)
    cert = math.inf
    while True:
        Gu = P
        Gu *= lam
        gW, gc = _centred_product(Gu, A, abar)
        gW += 2.0 * rho * W
        cert = _grad_norm(gW, gc, abar) / scale
        if cert <= tol or it >= max_iter:
            break
        it += 1
        SW, Sc = precondition(-gW, -gc)
        rs = -(ax.rowdot(gW, SW) + gc * Sc)  # r . M^-1 r per row, r = -g
        if dW is None:
            dW, dc = SW, Sc
        else:
            num = -(ax.rowdot(gW, SW - SW_prev) + gc * (Sc - Sc_prev))
            if rows:
                beta = xp.maximum(num / xp.maximum(rs_prev, TINY), 0.0)
            else:  # one vector: one conjugate direction
                beta = full(q, max(float(xp.sum(num)) / max(float(xp.sum(rs_prev)), TINY), 0.0))
            dW = SW + beta[:, None] * dW
            dc = Sc + beta * dc
        slope = ax.rowdot(gW, dW) + gc * dc
        reset = slope >= 0 if rows else xp.full(q, bool(xp.sum(slope) >= 0), device=dev)
        if bool(xp.any(reset)):
            dW[reset], dc[reset] = SW[reset], Sc[reset]
            slope = xp.where(reset, -rs, slope)
        SW_prev, Sc_prev, rs_prev = SW, Sc, rs
        dU = mm(dW, A)
        dU += (dc - dW @ abar)[:, None]
        du2 = ax.rowdot(dU, dU)
        wd, dd = ax.rowdot(W, dW), ax.rowdot(dW, dW)
        if box:  # the exact (generalised) curvature at t = 0: the first trial is a Newton step
            curv0 = lam * ax.rowdot(dU, dU, mask) + 2.0 * rho * dd
        else:  # the preconditioner's curvature d^T M d
            curv0 = (lam * Lu) * f * du2 + 2.0 * rho * dd

        if rows:
            # each trial keeps its u-gradient rows: those of the accepted steps are the next gradient's
            t_seen = full(q, math.nan)

            def phi(t, idx):
                if idx.shape[0] == q:
                    Ui, dUi, Zi = U, dU, Z
                else:  # the rows still searching
                    Ui, dUi, Zi = U[idx], dU[idx], Z[idx]
                V = Ui + t[:, None] * dUi
                if fenchel:
                    F = d.forward(V)
                    Mi = (F == V) if box else None
                    G = F - Zi
                else:
                    G, Mi = d.u_gradient(V, Zi, form), None
                P[idx] = G
                t_seen[idx] = t
                g = lam * ax.rowdot(dUi, G) + 2.0 * rho * (wd[idx] + t * dd[idx])
                if not box:
                    return g, None
                mask[idx] = Mi
                h = lam * ax.rowdot(dUi, dUi, Mi) + 2.0 * rho * dd[idx]
                return g, h

            t, gt, _ = _line_search(phi, slope, -slope / xp.maximum(curv0, TINY))
        else:

            def phi(t, idx):
                G = grad_u(U + t[0] * dU)[0]
                return full(1, float(lam * xp.sum(dU * G) + 2.0 * rho * (xp.sum(wd) + t[0] * xp.sum(dd)))), None

            tt, gtt, _ = _line_search(
                phi, full(1, float(xp.sum(slope))), full(1, -float(xp.sum(slope)) / max(float(xp.sum(curv0)), TINY))
            )
            t = full(q, float(tt[0]))
            # one vector: its sums stand for every row in the curvature update below
            gt, slope, dd, du2 = (full(q, float(v)) for v in (gtt[0], xp.sum(slope), xp.sum(dd), xp.sum(du2)))
        # curvature fraction seen along the step: (phi'(t) - phi'(0)) / t = d^T H d (secant)
        moved = (t > 0) & (du2 > 0)
        with ax.errstate(xp, divide="ignore", invalid="ignore"):
            fi = ((gt - slope) / t - 2.0 * rho * dd) / ((lam * Lu) * du2)
        f = xp.where(moved, xp.clip(fi, F_MIN, 1.0), f)
        W = W + t[:, None] * dW
        c = c + t * dc
        U += t[:, None] * dU
        if rows:  # P (and mask) hold the gradient at the last trial of each row: redo the others
            stale = xp.nonzero(~(t_seen == t))[0]
            if stale.shape[0] == q:
                P, mask = grad_u(U)
            elif stale.shape[0]:
                G, Mi = _rows_gradient(d, form, box, U[stale], Z[stale])
                P[stale] = G
                if box:
                    mask[stale] = Mi
        else:
            P, mask = grad_u(U)
    b = c - W @ abar
    layer.store_preactivation(W, b, U)
    return W, b, it, cert, bool(cert <= tol)


@register(
    "w_step",
    "majorize",
    _smooth_in_u,
    SMOOTH_IN_U,
)
@uses_cache
def _majorize(A, Z, d, form, lam, rho, props, W0, b0, tol, max_iter, layer=None):
    Lu = props.u_lipschitz
    p, m = A.shape
    q = Z.shape[0] if W0 is None else W0.shape[0]
    abar = layer.abar
    # H_W = lam Lu (Ac Ac^T + 2 rho / (lam Lu) I)
    factor = layer.factor(2.0 * rho / (lam * Lu))

    def solve(X):
        return factor(X) / (lam * Lu)

    hc = lam * Lu * m
    scale = 1.0 + lam * _scale(mm(Z, A.T), ax.namespace(Z).sum(Z, axis=1))

    xp = ax.namespace(A)
    W = xp.zeros((q, p), dtype=xp.float64, device=ax.device_of(A)) if W0 is None else ax.copy(W0)
    b = xp.zeros(q, dtype=xp.float64, device=ax.device_of(A)) if b0 is None else ax.copy(b0)
    c = b + W @ abar
    Wy, cy = W, c
    theta = 1.0
    cert = math.inf
    it = 0
    while True:
        U = mm(Wy, A)
        U += (cy - Wy @ abar)[:, None]
        Gu = d.u_gradient(U, Z, form)
        Gu *= lam
        gW, gc = _centred_product(Gu, A, abar)
        gW += 2.0 * rho * Wy
        cert = _grad_norm(gW, gc, abar) / scale
        if cert <= tol or it >= max_iter:
            break
        it += 1
        Wn = Wy - solve(gW.T).T
        add_flops(2.0 * q * p * p)
        cn = cy - gc / hc
        Wy, cy, theta = momentum_step(W, c, Wn, cn, gW, gc, theta)
        W, c = Wn, cn
    # (Wy, cy) is the point whose gradient was certified
    b = cy - Wy @ abar
    layer.store_preactivation(Wy, b, U)
    return Wy, b, it, cert, bool(cert <= tol)


def default_max_iter(p):
    """The default iteration budget of the iterative W-steps for a layer input of ``p`` rows:
    :math:`200 + 20(p + 1)`, at most :data:`W_STEP_MAX_ITER` (see ``iteration_budget``).

    Parameters
    ----------
    p : int
        Rows of the layer input ``A``.

    Returns
    -------
    int
    """
    return iteration_budget("newton", p + 1, cap=W_STEP_MAX_ITER)


def momentum_step(W, c, Wn, cn, gW, gc, theta):
    r"""The Nesterov momentum of ``majorize`` with gradient-based adaptive restart.

    From the previous iterate :math:`(W, c)`, the new one :math:`(W_n, c_n)` (a majoriser step
    from the extrapolated point, where the gradient :math:`(g_W, g_c)` was taken) and the
    momentum parameter :math:`\theta`: restart (:math:`\beta = 0`, :math:`\theta_n = 1`) when
    :math:`\langle g, x_n - x\rangle > 0`, else
    :math:`\theta_n = (1 + \sqrt{1 + 4\theta^2})/2`, :math:`\beta = (\theta - 1)/\theta_n`;
    the next extrapolated point is :math:`x_n + \beta(x_n - x)`.

    Parameters
    ----------
    W, Wn : (q, p) arrays
    c, cn : (q,) arrays
    gW : (q, p) array, gc : (q,) array
    theta : float

    Returns
    -------
    Wy : (q, p) array, cy : (q,) array, theta_n : float
    """
    xp = ax.namespace(W)
    if float(xp.sum(gW * (Wn - W))) + float(xp.sum(gc * (cn - c))) > 0:
        theta_n, beta = 1.0, 0.0
    else:
        theta_n = 0.5 * (1.0 + math.sqrt(1.0 + 4.0 * theta * theta))
        beta = (theta - 1.0) / theta_n
    return Wn + beta * (Wn - W), cn + beta * (cn - c), theta_n


__all__ = ["w_step", "w_objective", "default_max_iter", "momentum_step", "WStepCache", "NoFastSolver"]
