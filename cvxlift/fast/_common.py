"""Helpers shared by the fast block solvers (array checks, spectral norms, FISTA engine, flop counting).

Everything here takes numpy arrays or the arrays of another array-API library (torch, cupy) and
returns arrays of the input's library on the input's device (see :mod:`cvxlift.arrays`).
"""

from contextlib import contextmanager

import numpy as np

from .. import arrays as ax
from ..exceptions import ValidationError
from ..validation import as_real_array

#: Smallest positive scale used in relative certificates.
TINY = 1e-300
#: A column whose steps stay below ``STALL_STEP`` relative to its point and whose certificate
#: has not fallen below ``STALL_GAIN`` times its best for ``STALL_ITERS`` iterations has stalled
#: at the rounding floor of its data (the noise of the gradient's products, large for data of
#: large magnitude): :func:`fista` stops it and reports its certificate (uncertified when above
#: ``tol``) instead of spinning to ``max_iter``.
STALL_STEP = 1e-10
STALL_GAIN = 0.99
STALL_ITERS = 1000


def iteration_budget(kind, n_unknowns, m=1, cap=None):
    r"""The default iteration budget of an iterative block solver, tied to the problem's size.

    ``"newton"``: :math:`200 + 20n` iterations (:math:`n` unknowns per column; a projected or dual
    Newton method converges in a few steps once its active set is right; the ill-conditioned
    instances of the battery need up to 175 for :math:`n = 10`), at most 2,000. ``"first_order"``: the
    iterations whose work :math:`n\,m` per iteration stays within :data:`WORK_BUDGET` entry
    updates, between 1,000 and 20,000 (accelerated methods need :math:`O(\sqrt\kappa)`
    iterations, whatever the size). A solver that reaches its budget stops and reports its
    certificate (``converged=False``): no block can spin.

    Parameters
    ----------
    kind : {"newton", "first_order"}
    n_unknowns : int
        Unknowns of one column's problem.
    m : int
        Columns solved together.
    cap : int, optional
        Another largest budget (default 2,000 for ``"newton"``, 20,000 for ``"first_order"``).

    Returns
    -------
    int
    """
    n = max(1, int(n_unknowns))
    if kind == "newton":
        return int(min(2000 if cap is None else cap, 200 + 20 * n))
    return int(min(20000 if cap is None else cap, max(1000, WORK_BUDGET // (n * max(1, int(m))))))


#: Entry updates a first-order block solver may spend by default (:func:`iteration_budget`).
WORK_BUDGET = 10**9


class FlopCounter:
    """Floating-point operations of the matrix products done through :func:`mm` (and the
    factorisations and solves the solvers report with :func:`add_flops`) while it is active.

    Attributes
    ----------
    flops : float
        ``2 n k m`` per ``n x k`` by ``k x m`` product (half for a Gram product ``A @ A.T``);
        elementwise work is not counted.
    """

    def __init__(self):
        self.flops = 0.0

    def __repr__(self):
        return f"FlopCounter(flops={self.flops:.6g})"


#: The counters of the enclosing :func:`count_flops` blocks (empty: nothing is counted).
_ACTIVE = []


@contextmanager
def count_flops():
    """Count the matrix-product flops of the fast solvers inside a ``with`` block.

    Benchmark instrumentation: outside such a block :func:`mm` costs one list test more
    than ``A @ B``. Blocks nest (each counter sees the products of its own block); the count
    is process-wide, not per thread.

    Returns
    -------
    FlopCounter
        Read its ``flops`` attribute inside or after the block.

    Examples
    --------
    >>> with count_flops() as c:
    ...     _ = mm(np.ones((2, 3)), np.ones((3, 4)))
    >>> c.flops
    48.0
    """
    counter = FlopCounter()
    _ACTIVE.append(counter)
    try:
        yield counter
    finally:
        _ACTIVE.remove(counter)


def add_flops(n):
    """Add ``n`` flops to every active :func:`count_flops` counter (e.g. a Cholesky factorisation)."""
    for c in _ACTIVE:
        c.flops += float(n)


def mm(A, B, out=None):
    """``A @ B``; inside :func:`count_flops` its ``2 n k m`` flops are counted (a Gram product
    ``A @ A.T``, which BLAS computes as a symmetric rank-k update, counts half).

    Parameters
    ----------
    A : (n, k) array
    B : (k, m) or (k,) array
    out : array, optional
        Where to write the product (a buffer reused across iterations saves the allocation;
        numpy only, ignored for other libraries).

    Returns
    -------
    array
        ``A @ B``.
    """
    if _ACTIVE:
        flops = 2.0 * A.shape[0] * A.shape[1] * (B.shape[1] if B.ndim == 2 else 1)
        if B.ndim == 2 and tuple(B.shape) == tuple(A.shape)[::-1] and ax.may_share_memory(A, B):
            flops /= 2.0
        add_flops(flops)
    if out is None or not ax.is_numpy(out):
        return A @ B
    return np.matmul(A, B, out=out)


def as_matrix(a, name, rows=None, cols=None):
    """``a`` as a 2-D float64 array, C- or Fortran-contiguous (BLAS takes either without a copy:
    the transpose of a row-major data set is not copied); check its shape and finiteness.
    A torch/cupy array stays in its library and on its device (as float64)."""
    if ax.is_foreign(a):
        return _as_matrix_xp(a, name, rows, cols)
    a = as_real_array(a, name)
    if a.ndim != 2:
        raise ValidationError(f"{name} must be a 2-D array (one column per data point); got shape {a.shape}")
    if rows is not None and a.shape[0] != rows:
        raise ValidationError(f"{name} must have {rows} rows; got shape {a.shape}")
    if cols is not None and a.shape[1] != cols:
        raise ValidationError(f"{name} must have {cols} columns; got shape {a.shape}")
    if not np.all(np.isfinite(a)):
        raise ValidationError(f"{name} must be finite")
    if a.flags.c_contiguous or a.flags.f_contiguous:
        return a
    return np.ascontiguousarray(a)


def _check_xp(a, name):
    xp = ax.namespace(a)
    if xp.isdtype(a.dtype, "complex floating"):
        raise ValidationError(f"{name} must be real; got a complex array (dtype {a.dtype})")
    if not xp.isdtype(a.dtype, ("real floating", "integral", "bool")):
        raise ValidationError(f"{name} must be a numeric array; got dtype {a.dtype}")
    return xp, ax.as_float64(a)


def _as_matrix_xp(a, name, rows, cols):
    return ax.check_matrix(a, name, rows=rows, cols=cols)


def as_vector(b, name, n):
    """``b`` as a finite float64 vector of length ``n`` (in its own array library)."""
    if ax.is_foreign(b):
        xp, b = _check_xp(b, name)
        b = xp.reshape(b, (-1,))
        if tuple(b.shape) != (n,):
            raise ValidationError(f"{name} must be a vector of length {n}; got shape {tuple(b.shape)}")
        if not bool(xp.all(xp.isfinite(b))):
            raise ValidationError(f"{name} must be finite")
        return b
    b = as_real_array(b, name).reshape(-1)
    if b.shape != (n,):
        raise ValidationError(f"{name} must be a vector of length {n}; got shape {b.shape}")
    if not np.all(np.isfinite(b)):
        raise ValidationError(f"{name} must be finite")
    return b


def positive(x, name):
    try:
        x = float(x)
    except (TypeError, ValueError):
        raise ValidationError(f"{name} must be a positive finite number, got {x!r}") from None
    if not (np.isfinite(x) and x > 0):
        raise ValidationError(f"{name} must be a positive finite number, got {x!r}")
    return x


def max_eig_psd(S):
    """Largest eigenvalue of a symmetric PSD matrix (exact, LAPACK), a Python float."""
    return ax.max_eigvalsh(S)


def spectral_norm_sq(W):
    """:math:`\\|W\\|_2^2` from the smaller Gram matrix."""
    q, p = W.shape
    S = W @ W.T if q <= p else W.T @ W
    return max_eig_psd(S)


def spd_factor(M):
    """Cholesky factor of a symmetric positive definite matrix, or an eigen-factorisation
    when rounding makes Cholesky fail. Returns a solver ``X -> M^{-1} X`` (:func:`cvxlift.arrays.cho_factor`)."""
    return ax.cho_factor(M)


def colnorm(A):
    """Euclidean norm of each column."""
    return ax.namespace(A).sqrt(ax.coldot(A, A))


class Columns:
    """Full per-column arrays and cached slices on the active columns."""

    def __init__(self, **arrays):
        self.full = arrays
        self.idx = None
        self.cache = {}

    def set_active(self, idx):
        self.idx = idx
        self.cache = {}

    def __getitem__(self, name):
        a = self.full[name]
        if a is None or self.idx is None:
            return a
        if name not in self.cache:
            self.cache[name] = a[:, self.idx]
        return self.cache[name]


def fista(grad, prox, Z0, L, tol, max_iter, cols, stall=False):
    r"""Accelerated proximal gradient, vectorised over independent columns.

    Minimises :math:`\sum_j f_j(z_j) + g_j(z_j)` where ``grad(Y)`` is :math:`\nabla f` on
    the active columns, ``prox(V, t)`` the prox of :math:`t g` on the active columns, and
    ``L`` a Lipschitz constant of every :math:`\nabla f_j` -- or a vector of per-row
    constants (``L_i``) of a block-diagonal majoriser :math:`\nabla^2 f \preceq \mathrm{diag}(L)`,
    in which case the steps are :math:`t_i = 1/L_i` (``prox`` then gets ``t`` as a column
    vector). Each column has its own momentum and its own gradient-based adaptive restart
    (O'Donoghue & Candes): the columns are independent problems.

    Certificate for the new point :math:`z^+ = \mathrm{prox}_{tg}(y - t\nabla f(y))`:
    :math:`(y - z^+)/t - \nabla f(y) \in \partial g(z^+)`, so
    :math:`\mathrm{dist}(0, \partial F(z^+)) \le \|\nabla f(z^+) - \nabla f(y)\| + \|(y - z^+)/t\|
    \le \max_i L_i \|y - z^+\| + \|(y - z^+)/t\|` (:math:`= 2\|y - z^+\|/t` for a scalar step),
    for free. A column stops when that bound, divided by :math:`1 + \|\nabla f(y)\|`, is at most
    ``tol``; it is then frozen and dropped from the products. With ``stall``, a column whose steps
    stay below :data:`STALL_STEP` relative to its point and whose certificate has not fallen by 1%
    for :data:`STALL_ITERS` iterations is frozen too (off by default: an ill-conditioned column
    can plateau that long and still converge; the joint X-step turns it on for the columns its
    projected Newton method left, which sit at that floor), with its certificate (above
    ``tol``: reported, not certified; this is the rounding floor of large data), and so is every
    column after ``max_iter`` iterations. ``cols`` (a :class:`Columns`) is told the active columns.

    Returns ``(Z, certificate per column, iterations)``.
    """
    xp = ax.namespace(Z0)
    Zout = ax.copy(ax.as_float64(Z0))
    dev = ax.device_of(Zout)
    m = Zout.shape[1]
    cert = xp.full(m, xp.inf, dtype=xp.float64, device=dev)
    if isinstance(L, (int, float, np.floating)) or getattr(L, "ndim", 1) == 0:
        t = 1.0 / float(L)
        Lmax = float(L)
        w2 = None
    else:
        Lv = xp.reshape(ax.asarray(L, like=Zout, dtype=xp.float64), (-1, 1))
        t = 1.0 / Lv
        Lmax = float(xp.max(Lv))
        w2 = (Lv * Lv)[:, 0]  # ||D / t||^2 = sum_i L_i^2 D_i^2
    idx = xp.arange(m, device=dev)
    cols.set_active(None)
    Z = ax.copy(Zout)
    Y = Z
    theta = xp.ones(m, dtype=xp.float64, device=dev)
    it = 0
    Zn = Z
    res = xp.full(m, xp.inf, dtype=xp.float64, device=dev)
    best = xp.full(m, xp.inf, dtype=xp.float64, device=dev)  # stall detection (STALL_ITERS)
    since = xp.zeros(m, dtype=xp.int64, device=dev)
    while idx.shape[0] and it < max_iter:
        it += 1
        G = grad(Y)
        V = G * (-t)
        V += Y
        Zn = prox(V, t)
        if ax.may_share_memory(Zn, V):  # a prox may return its argument
            Zn = ax.copy(Zn)
        D = ax.subtract(Y, Zn, out=V)
        nD = colnorm(D)
        nDt = nD / t if w2 is None else xp.sqrt(ax.coldot(D * w2[:, None], D))
        res = (nDt + Lmax * nD) / (1.0 + colnorm(G))
        better = res < STALL_GAIN * best
        since = xp.where(better, 0, since + 1)
        best = xp.where(better, res, best)
        done = res <= tol
        if stall:
            done = done | ((since >= STALL_ITERS) & (nD <= STALL_STEP * colnorm(Y)))
        if bool(xp.any(done)):
            Zout[:, idx[done]] = Zn[:, done]
            cert[idx[done]] = res[done]
            keep = ~done
            if not bool(xp.any(keep)):
                idx = idx[:0]
                break
            idx = idx[keep]
            Z, Zn, D, theta, res = Z[:, keep], Zn[:, keep], D[:, keep], theta[keep], res[keep]
            best, since = best[keep], since[keep]
            cols.set_active(idx)
        step = ax.subtract(Zn, Z, out=Z)  # Z is not needed any more
        restart = ax.coldot(D, step) > 0
        theta_n = 0.5 * (1.0 + xp.sqrt(1.0 + 4.0 * theta * theta))
        beta = xp.where(restart, 0.0, (theta - 1.0) / theta_n)
        theta = xp.where(restart, 1.0, theta_n)
        step *= beta
        step += Zn
        Y = step
        Z = Zn
    if idx.shape[0]:  # not converged: the last prox-gradient point, with its certificate
        Zout[:, idx] = Zn
        cert[idx] = res
    cols.set_active(None)
    return Zout, cert, it
