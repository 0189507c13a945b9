"""Vectorised numerical kernels shared by the atoms and the fast solvers.

All functions act on numpy arrays and are exact up to floating point.
"""

import numpy as np


def project_simplex(V, axis=0):
    r"""Euclidean projection of each column of ``V`` onto the probability simplex.

    .. math:: \Pi_\Delta(v) = \arg\min_{z \ge 0,\ \mathbf 1^T z = 1} \|z - v\|_2^2
              = (v - \tau \mathbf 1)_+,

    with :math:`\tau` found by the sort-based rule (Held et al.; Duchi et al. 2008),
    :math:`O(k \log k)` per column, vectorised over columns.
    """
    from . import arrays as ax

    if ax.is_foreign(V):  # torch/cupy: the same steps in their namespace, on their device
        V = ax.as_float64(V)
        xp = ax.namespace(V)
    else:
        V = np.asarray(V, dtype=float)
        xp = ax.NP
    if axis != 0:
        return xp.moveaxis(project_simplex(xp.moveaxis(V, axis, 0)), 0, axis)
    if V.ndim == 1:
        return project_simplex(V[:, None])[:, 0]
    k = V.shape[0]
    dev = ax.device_of(V)
    # shift by the column max for accuracy at |v| ~ 1e6 (projection is shift-equivariant)
    shift = xp.max(V, axis=0, keepdims=True)
    W = V - shift
    S = -xp.sort(-W, axis=0)
    css = xp.cumulative_sum(S, axis=0) - 1.0
    idx = xp.reshape(xp.arange(1, k + 1, device=dev), (-1, 1))
    cond = S - css / idx > 0
    # last index where cond holds (1-based)
    rho = k - xp.argmax(xp.astype(xp.flip(cond, axis=0), xp.int8), axis=0)
    tau = css[rho - 1, xp.arange(W.shape[1], device=dev)] / rho
    return xp.maximum(W - tau, 0.0)


def bisect_increasing(g, lo, hi, iters=200, xtol=0.0):
    """Root of an entrywise non-decreasing function ``g`` on the bracket ``[lo, hi]``.

    ``g(lo) <= 0 <= g(hi)`` is assumed entrywise (the callers build brackets for which
    it holds); where it does not, the nearer end of the bracket is returned, which is
    the minimiser of the corresponding convex scalar problem restricted to the bracket.
    Stops when the bracket has stopped shrinking in floating point (at most ``iters``
    halvings), so the result is exact to the last bit.
    """
    from . import arrays as ax

    if ax.is_foreign(lo) or ax.is_foreign(hi):  # torch/cupy: the same iteration in their namespace
        xp = ax.namespace(lo, hi)
        lo, hi = xp.broadcast_arrays(ax.as_float64(lo), ax.as_float64(hi))
    else:
        xp = np
        lo = np.array(lo, dtype=float, copy=True)
        hi = np.array(hi, dtype=float, copy=True)
        lo, hi = np.broadcast_arrays(lo, hi)
    lo = ax.copy(lo)
    hi = ax.copy(hi)
    for _ in range(iters):
        mid = 0.5 * (lo + hi)
        active = (mid > lo) & (mid < hi) & (hi - lo > xtol)
        if not bool(xp.any(active)):
            break
        gm = g(mid)
        pos = gm > 0
        hi = xp.where(active & pos, mid, hi)
        lo = xp.where(active & ~pos, mid, lo)
    return 0.5 * (lo + hi)


def newton_increasing(g, lo, hi, x0, max_iter=100, xtol=0.0):
    r"""Roots of an entrywise increasing function by Newton's method, safeguarded by bisection.

    Parameters
    ----------
    g : callable
        ``g(x, idx) -> (value, derivative)`` at the points ``x`` of the entries ``idx`` (flat
        indices into the broadcast shape of ``lo``, ``hi``, ``x0``; only the entries still
        searching are passed). ``value`` is non-decreasing in ``x``; a ``derivative`` that
        is not positive, or a Newton step that leaves the bracket, falls back to bisection.
    lo, hi : arrays
        A bracket: ``g(lo) <= 0 <= g(hi)`` entrywise (as for :func:`bisect_increasing`).
    x0 : array
        First guess (clipped into the bracket).
    max_iter : int
        Iterations; each at least halves the bracket or takes a Newton step inside it.
    xtol : float
        Absolute tolerance on the root, for roots near 0 where the relative one (four units in
        the last place) is out of reach of the rounding of ``g``.

    Returns
    -------
    array
        The roots, in the broadcast shape. Each iteration moves one end of the bracket to
        the iterate (by the sign of ``g``), takes the Newton step when it lands strictly
        inside the bracket and at least halves the step before the last (the progress test of
        Numerical Recipes' ``rtsafe``) and bisects otherwise; an entry stops when ``g`` is exactly 0,
        when a Newton step or the bracket is below four units in the last place of the iterate
        plus ``xtol``, or when the bracket has stopped shrinking in floating point. Typically 3 to 8 evaluations
        instead of the 50 to 60 of :func:`bisect_increasing`.
    """
    lo, hi, x = np.broadcast_arrays(
        np.asarray(lo, dtype=float), np.asarray(hi, dtype=float), np.asarray(x0, dtype=float)
    )
    shape = x.shape
    lo, hi = lo.reshape(-1).copy(), hi.reshape(-1).copy()
    x = np.clip(x.reshape(-1), lo, hi)
    out = x.copy()
    idx = np.arange(x.size)
    eps4 = 4.0 * np.finfo(float).eps
    dxold = np.full(x.size, np.inf)  # the step before the last (the rtsafe progress test)
    dx = np.full(x.size, np.inf)
    for _ in range(max_iter):
        if not idx.size:
            break
        val, der = g(x, idx)
        lo = np.where(val < 0, x, lo)
        hi = np.where(val > 0, x, hi)
        with np.errstate(divide="ignore", invalid="ignore", over="ignore"):
            xn = x - val / der
        # Newton where it lands inside the bracket and at least halves the step before the last
        inside = (xn > lo) & (xn < hi) & (der > 0)
        tol = eps4 * np.abs(x) + xtol
        # converged (to the rounding of g): a Newton step within the tolerance, kept if it stays
        # in the bracket (a step below one ulp leaves x where it is, on an end of the bracket)
        small = (der > 0) & (np.abs(xn - x) <= tol)
        xn = np.where(small & ~inside, x, xn)
        newton = small | (inside & (np.abs(xn - x) <= 0.5 * np.abs(dxold)))
        mid = 0.5 * (lo + hi)
        xn = np.where(newton, xn, mid)
        done = (val == 0) | small | (hi - lo <= tol) | ~((mid > lo) & (mid < hi))
        out[idx] = np.where(val == 0, x, xn)
        keep = ~done
        dxold, dx = dx[keep], np.abs(xn - x)[keep]
        idx, x, lo, hi = idx[keep], xn[keep], lo[keep], hi[keep]
    return out.reshape(shape)


def as_columns(a, name="u"):
    """Return ``a`` as a 2-D float array (one column per data point) and whether it was 1-D.
    A torch/cupy array stays in its library and on its device (float64)."""
    from . import arrays as ax

    a = ax.as_float64(a) if ax.is_foreign(a) else np.asarray(a, dtype=float)
    if a.ndim == 1:
        return a[:, None], True
    if a.ndim != 2:
        from .exceptions import ValidationError

        raise ValidationError(
            f"{name} must be a 1-D vector or a 2-D array with one column per data point; "
            f"got an array with {a.ndim} dimensions, shape {a.shape}"
        )
    return a, False
