r"""Proximal maps of elementwise atoms from the forward map or from numeric values alone.

Two kernels, vectorised over every entry of an array (no Python loop over entries, never a
CVXPY solve):

:func:`tilt_prox` (exact, from ``forward`` alone)
    For a divergence with the *tilt structure*
    :math:`D(u, z) = A(z) - \kappa\,uz + B(u)` (every Fenchel-Young form, :math:`\kappa = 1`;
    a jointly convex :math:`\mu(z - u)^2 + g(z)`, :math:`\kappa = 2\mu`) the map
    :math:`f = ` ``forward`` is :math:`f(u) = \nabla A^*(\kappa u)`, and the z-prox

    .. math:: \arg\min_z D(u, z) + \frac{(z - v)^2}{2t} = \mathrm{prox}_{tA}(v + t\kappa u)

    is :math:`z = f(r)` where :math:`r` is the root of the strictly increasing
    :math:`G(r) = t\kappa r + f(r) - w`, :math:`w = v + t\kappa u` (optimality
    :math:`w - z \in t\,\partial A(z)` with :math:`z = \nabla A^*(s)`, :math:`s = \kappa r`).
    :math:`G` has slope :math:`\ge t\kappa`, so one evaluation at :math:`r_0 = w/(t\kappa)`,
    where :math:`G(r_0) = f(r_0)`, brackets the root in
    :math:`[r_0 - f(r_0)/(t\kappa), r_0]` (or the mirror interval). The root is found by a
    safeguarded regula falsi (Illinois) with bisection fallback; an entry stops when
    :math:`G(r)` is zero to rounding or the bracket has stopped shrinking in floating point.
    :math:`z = f(r)` lies in the range of ``forward``, hence in the domain.

:func:`minimize_scalar` (values only)
    Brent's bounded minimisation (golden section with parabolic steps, as
    ``scipy.optimize.fminbound``) of a convex function of one variable per entry, for the
    z-prox of a jointly convex atom without the tilt structure and for the u-prox
    :math:`\arg\min_u D(u, z) + (u - w)^2/(2t)`. Values :math:`+\infty` (outside the
    domain) are allowed. Accuracy: the minimiser to about :math:`\sqrt{\varepsilon}|x|
    \approx 1.5\cdot 10^{-8}|x|` where the minimum is smooth (no method that sees values only
    does better: the objective is flat to rounding there), to rounding at a kink.
"""

import numpy as np

EPS = np.finfo(float).eps
SQRT_EPS = np.sqrt(2.2e-16)
GOLDEN = 0.5 * (3.0 - np.sqrt(5.0))


def _entry_call(f, X):
    """``f`` applied to the entries of ``X`` as one row (elementwise maps accept any column length)."""
    shape = X.shape
    return np.asarray(f(X.reshape(1, -1)), dtype=float).reshape(shape)


def tilt_prox(forward, V, t, kappa=1.0, lipschitz=None, max_iter=200):
    r"""The z-prox of an elementwise atom with the tilt structure, from ``forward`` alone.

    Solves :math:`\min_z A(z) + (z - w)^2/(2t)` entrywise where
    :math:`\nabla A^*(s) = f(s/\kappa)` (see the module docstring). The root is sought
    in :math:`z`: :math:`H(z) = z - f((w - z)/(t\kappa))` is increasing with slope in
    :math:`[1, 1 + L/(t\kappa)]` (:math:`L` a Lipschitz constant of :math:`f`), and
    :math:`z_0 = f(w/(t\kappa + L))` (exact when :math:`f` is linear with slope
    :math:`L`) brackets it in :math:`[z_0 - H(z_0), z_0]` (or the mirror interval).

    Parameters
    ----------
    forward : callable
        The atom's elementwise map :math:`f`, numpy, applied to a ``(1, N)`` row.
    V : ndarray
        The point :math:`w` (for :math:`\mathrm{prox}_z(u, v, t)` pass :math:`v + t\kappa u`).
    t : float or ndarray
        Positive step, broadcastable to ``V``.
    kappa : float
        The coupling :math:`\kappa > 0`.
    lipschitz : float, optional
        A Lipschitz constant of :math:`f` (a better first guess and a tighter bracket; not
        needed for correctness).
    max_iter : int
        Iterations of the safeguarded root finder (each one evaluation of ``forward``).

    Returns
    -------
    ndarray
        :math:`z`, the shape of ``V``.
    """
    W, T = np.broadcast_arrays(np.asarray(V, dtype=float), np.asarray(t, dtype=float))
    shape = W.shape
    w = np.ascontiguousarray(W, dtype=float).reshape(-1)
    s = np.ascontiguousarray(T, dtype=float).reshape(-1) * float(kappa)
    known = lipschitz is not None and np.isfinite(lipschitz) and lipschitz > 0
    L = float(lipschitz) if known else 1.0

    def H(z, idx):
        return z - _entry_call(forward, (w[idx] - z) / s[idx])

    everything = np.arange(w.size)
    z0 = _entry_call(forward, w / (s + L))
    H0 = H(z0, everything)
    z = z0.copy()
    active = np.flatnonzero(H0 != 0.0)
    if not active.size:
        return z.reshape(shape)
    z0, H0 = z0[active], H0[active]
    pos = H0 > 0
    far = z0 - H0  # H(far) <= 0 <= H(z0) (or the mirror)
    if known:
        near = z0 - H0 / (1.0 + L / s[active])  # slope <= 1 + L/s: the root is beyond it
        Hn = H(near, active)
        use = np.where(pos, Hn >= 0, Hn <= 0)  # near still on z0's side: a tighter bracket
        z0 = np.where(use, near, z0)
        H0 = np.where(use, Hn, H0)
    Hf = H(far, active)
    a = np.where(pos, far, z0)
    b = np.where(pos, z0, far)
    Ga = np.minimum(np.where(pos, Hf, H0), 0.0)
    Gb = np.maximum(np.where(pos, H0, Hf), 0.0)
    best = np.where(-Ga <= Gb, a, b)
    done = (Ga == 0.0) | (Gb == 0.0)
    side = np.zeros(active.size)
    stall = np.zeros(active.size, dtype=np.int8)
    idx = active
    out = np.empty(active.size)
    pos_in = np.arange(active.size)  # where each live entry goes in ``out``
    for _ in range(max_iter):
        if done.any() and (done.all() or done.sum() >= max(1, idx.size // 8)):
            out[pos_in[done]] = best[done]
            keep = ~done
            if not keep.any():
                idx = idx[:0]
                break
            idx, pos_in = idx[keep], pos_in[keep]
            a, b, Ga, Gb, best, side, stall, done = (
                a[keep],
                b[keep],
                Ga[keep],
                Gb[keep],
                best[keep],
                side[keep],
                stall[keep],
                done[keep],
            )
        with np.errstate(invalid="ignore", divide="ignore"):
            x = (a * Gb - b * Ga) / (Gb - Ga)
        bis = ~((x > a) & (x < b)) | (stall >= 2)
        x = np.where(bis, 0.5 * (a + b), x)
        x = np.where(done, best, x)
        fx = _entry_call(forward, (w[idx] - x) / s[idx])
        Gx = x - fx
        root = np.abs(Gx) <= 4.0 * EPS * (np.abs(x) + np.abs(fx))
        left = (Gx < 0) & ~root & ~done
        right = (Gx > 0) & ~root & ~done
        Gb = np.where(left & (side < 0), 0.5 * Gb, Gb)  # Illinois: halve the end kept twice
        Ga = np.where(right & (side > 0), 0.5 * Ga, Ga)
        width = b - a
        a = np.where(left, x, a)
        Ga = np.where(left, Gx, Ga)
        b = np.where(right, x, b)
        Gb = np.where(right, Gx, Gb)
        side = np.where(left, -1.0, np.where(right, 1.0, side))
        stall = np.where(bis, 0, np.where(b - a > 0.5 * width, stall + 1, 0)).astype(np.int8)
        best = np.where(done, best, np.where(root, x, np.where(-Ga <= Gb, a, b)))
        mid = 0.5 * (a + b)
        done = done | root | (mid <= a) | (mid >= b)
    if idx.size:
        out[pos_in] = best
    z[active] = out
    return z.reshape(shape)


def minimize_scalar(h, a, b, max_iter=500, xatol=0.0):
    r"""Brent's bounded minimisation of a convex scalar function per entry, vectorised.

    Parameters
    ----------
    h : callable
        ``h(x, idx) -> values``: the function of the flat entries ``idx`` at the points
        ``x`` (1-D arrays of the same length), convex in each entry on ``[a, b]``;
        ``+inf`` is allowed outside a sub-interval.
    a, b : ndarray
        Bounds, ``a <= b`` entrywise, same shape; the minimiser lies in ``[a, b]``.
    max_iter : int
        Most function evaluations per entry.
    xatol : float or ndarray
        Absolute tolerance added to the relative :math:`\sqrt\varepsilon|x|`.

    Returns
    -------
    ndarray
        The minimiser per entry (``a`` where ``a == b``).
    """
    a = np.array(a, dtype=float, copy=True)
    b = np.array(b, dtype=float, copy=True)
    a, b = np.broadcast_arrays(a, b)
    shape = a.shape
    a = a.reshape(-1).copy()
    b = b.reshape(-1).copy()
    xat = np.broadcast_to(np.asarray(xatol, dtype=float), shape).reshape(-1) + 1e-300

    def H(x, idx):
        return np.asarray(h(x, idx), dtype=float)

    n = a.size
    fulc = a + GOLDEN * (b - a)
    nfc = fulc.copy()
    xf = fulc.copy()
    rat = np.zeros(n)
    e = np.zeros(n)
    all_idx = np.arange(n)
    fx = H(xf, all_idx)
    ffulc = fx.copy()
    fnfc = fx.copy()
    xm = 0.5 * (a + b)
    tol1 = SQRT_EPS * np.abs(xf) + xat / 3.0
    tol2 = 2.0 * tol1
    live = np.flatnonzero(np.abs(xf - xm) > (tol2 - 0.5 * (b - a)))
    it = 0
    while live.size and it < max_iter:
        it += 1
        A, B = a[live], b[live]
        XF, FX = xf[live], fx[live]
        NFC, FNFC, FULC, FFULC = nfc[live], fnfc[live], fulc[live], ffulc[live]
        E, RAT = e[live], rat[live]
        T1, T2, XM = tol1[live], tol2[live], xm[live]
        with np.errstate(invalid="ignore", over="ignore"):
            r = (XF - NFC) * (FX - FFULC)
            q = (XF - FULC) * (FX - FNFC)
            p = (XF - FULC) * q - (XF - NFC) * r
            q = 2.0 * (q - r)
        p = np.where(q > 0.0, -p, p)
        q = np.abs(q)
        try_par = np.abs(E) > T1
        r_old = E
        E = np.where(try_par, RAT, E)
        with np.errstate(invalid="ignore", over="ignore"):
            accept = try_par & (np.abs(p) < np.abs(0.5 * q * r_old)) & (p > q * (A - XF)) & (p < q * (B - XF))
        with np.errstate(invalid="ignore", divide="ignore"):
            par = np.where(accept, p / np.where(q == 0, 1.0, q), 0.0)
        xpar = XF + par
        near = accept & (((xpar - A) < T2) | ((B - xpar) < T2))
        si_m = np.sign(XM - XF) + ((XM - XF) == 0)
        par = np.where(near, T1 * si_m, par)
        golden = ~accept
        eg = np.where(XF >= XM, A - XF, B - XF)
        E = np.where(golden, eg, E)
        RAT = np.where(golden, GOLDEN * eg, par)
        si = np.sign(RAT) + (RAT == 0)
        x = XF + si * np.maximum(np.abs(RAT), T1)
        fu = H(x, live)
        better = fu <= FX
        # fu <= fx: x becomes the best point
        A = np.where(better & (x >= XF), XF, A)
        B = np.where(better & (x < XF), XF, B)
        # fu > fx: x bounds the bracket
        A = np.where(~better & (x < XF), x, A)
        B = np.where(~better & (x >= XF), x, B)
        c1 = ~better & ((fu <= FNFC) | (NFC == XF))
        c2 = ~better & ~c1 & ((fu <= FFULC) | (FULC == XF) | (FULC == NFC))
        nFULC = np.where(better | c1, NFC, np.where(c2, x, FULC))
        nFFULC = np.where(better | c1, FNFC, np.where(c2, fu, FFULC))
        nNFC = np.where(better, XF, np.where(c1, x, NFC))
        nFNFC = np.where(better, FX, np.where(c1, fu, FNFC))
        XF = np.where(better, x, XF)
        FX = np.where(better, fu, FX)
        a[live], b[live] = A, B
        xf[live], fx[live] = XF, FX
        nfc[live], fnfc[live], fulc[live], ffulc[live] = nNFC, nFNFC, nFULC, nFFULC
        e[live], rat[live] = E, RAT
        xm[live] = 0.5 * (A + B)
        tol1[live] = SQRT_EPS * np.abs(XF) + xat[live] / 3.0
        tol2[live] = 2.0 * tol1[live]
        still = np.abs(xf[live] - xm[live]) > (tol2[live] - 0.5 * (b[live] - a[live]))
        live = live[still]
    return xf.reshape(shape)


def fd_derivative(f, R, upper=None):
    r"""Central-difference derivative of an elementwise non-decreasing map, clipped to
    :math:`[0, \text{upper}]`.

    Parameters
    ----------
    f : callable
        Elementwise map (numpy).
    R : ndarray
        Points.
    upper : float, optional
        A Lipschitz constant of ``f`` (the derivative is clipped to it).

    Returns
    -------
    ndarray
        :math:`(f(r + h) - f(r - h)) / (2h)`, :math:`h = 10^{-6}(1 + |r|)`.
    """
    R = np.asarray(R, dtype=float)
    h = 1e-6 * (1.0 + np.abs(R))
    d = (_entry_call(f, R + h) - _entry_call(f, R - h)) / (2.0 * h)
    d = np.maximum(d, 0.0)
    if upper is not None and np.isfinite(upper):
        d = np.minimum(d, float(upper))
    return d


def bracket_minimum(h, x0, step, max_expand=200):
    r"""A bracket ``[lo, hi]`` around the minimiser of a convex scalar function per entry,
    found by geometric expansion from ``x0``.

    Parameters
    ----------
    h : callable
        ``h(x, idx) -> values`` for the flat entries ``idx`` at points ``x``.
    x0 : ndarray
        Starting points (flat), where ``h`` is finite.
    step : ndarray
        First step per entry (positive).
    max_expand : int

    Returns
    -------
    lo, hi : ndarray
        Flat bounds with the minimiser in ``[lo, hi]``.
    """
    x0 = np.asarray(x0, dtype=float).reshape(-1)
    step = np.broadcast_to(np.asarray(step, dtype=float).reshape(-1), x0.shape).copy()
    idx = np.arange(x0.size)
    f0 = h(x0, idx)
    fp = h(x0 + step, idx)
    fm = h(x0 - step, idx)
    lo = x0 - step
    hi = x0 + step
    right = fp < f0
    left = ~right & (fm < f0)
    # expand to the right: lo = previous point, hi = next until h goes up
    for direction, sel in ((1.0, right), (-1.0, left)):
        live = np.flatnonzero(sel)
        prev = x0[live].copy()
        cur = x0[live] + direction * step[live]
        fcur = (fp if direction > 0 else fm)[live]
        st = step[live].copy()
        for _ in range(max_expand):
            if not live.size:
                break
            st *= 2.0
            nxt = cur + direction * st
            fn = h(nxt, live)
            up = ~(fn < fcur)
            if direction > 0:
                lo[live[up]] = prev[up]
                hi[live[up]] = nxt[up]
            else:
                hi[live[up]] = prev[up]
                lo[live[up]] = nxt[up]
            keep = ~up
            live, prev, cur, fcur, st = live[keep], cur[keep], nxt[keep], fn[keep], st[keep]
        if live.size:  # never went up: unbounded below within the expansion range
            lo[live] = np.nan
            hi[live] = np.nan
    return lo, hi


def _entry_values(d, U, Z):
    """``D(u, z)`` per entry of an elementwise joint atom (each entry as its own column)."""
    return np.asarray(d.joint_value(np.reshape(U, (1, -1)), np.reshape(Z, (1, -1))), dtype=float).reshape(-1)


def joint_prox_values(d, U, V, t):
    r"""The z-prox :math:`\arg\min_z D(u, z) + (z - v)^2/(2t)` of an elementwise joint atom
    from its values alone (:func:`minimize_scalar` between :math:`\phi(u)` and :math:`\Pi_C(v)`,
    which holds the minimiser: on the domain :math:`C` the sum of two convex functions of one
    variable is minimised between their minimisers).

    Parameters
    ----------
    d : Divergence
        Elementwise, with a joint form.
    U, V : ndarray
        Same shape.
    t : float or ndarray

    Returns
    -------
    ndarray
    """
    U, V, T = np.broadcast_arrays(np.asarray(U, float), np.asarray(V, float), np.asarray(t, float))
    shape = U.shape
    u, v, tt = U.reshape(-1), V.reshape(-1), T.reshape(-1)
    F = _entry_call(d._forward, u)

    def h(x, idx):
        with np.errstate(invalid="ignore", over="ignore"):
            return _entry_values(d, u[idx], x) + (x - v[idx]) ** 2 / (2.0 * tt[idx])

    Pv = np.asarray(d.project_domain(v[None, :]), dtype=float)[0]  # on C the minimiser is between F and P(v)
    Z = minimize_scalar(h, np.minimum(F, Pv), np.maximum(F, Pv))
    bad = ~np.isfinite(h(Z, np.arange(Z.size)))
    if bad.any():  # a feasible set thinner than the search could see: the atom's own argmin is feasible
        Z[bad] = F[bad]
    return Z.reshape(shape)


def u_prox_values(d, Z, W, t):
    r"""The u-prox :math:`\arg\min_u D(u, z) + (u - w)^2/(2t)` of an elementwise joint atom
    from its values alone: a bracket by geometric expansion from :math:`w`
    (:func:`bracket_minimum`), then :func:`minimize_scalar`.

    Parameters
    ----------
    d : Divergence
        Elementwise, with a joint form finite at :math:`u = w` (or at :math:`u = z`).
    Z, W : ndarray
        States and prox centres, same shape.
    t : float or ndarray

    Returns
    -------
    ndarray

    Raises
    ------
    ValueError
        Where :math:`D(\cdot, z)` is infinite at both starting points tried.
    """
    Z, W, T = np.broadcast_arrays(np.asarray(Z, float), np.asarray(W, float), np.asarray(t, float))
    shape = W.shape
    z, w, tt = Z.reshape(-1), W.reshape(-1), T.reshape(-1)

    def h(x, idx):
        with np.errstate(invalid="ignore", over="ignore"):
            return _entry_values(d, x, z[idx]) + (x - w[idx]) ** 2 / (2.0 * tt[idx])

    everything = np.arange(w.size)
    x0 = w.copy()
    bad = ~np.isfinite(h(x0, everything))
    if bad.any():
        x0[bad] = z[bad]
        still = bad.copy()
        still[bad] = ~np.isfinite(h(x0[bad], everything[bad]))
        if still.any():
            raise ValueError(
                f"{d!r}: D(u, z) is infinite at u = w and at u = z for {int(still.sum())} entries; "
                "the u-prox needs a finite starting point (declare prox_u)"
            )
    step = np.maximum(np.sqrt(tt), 1e-3) * (1.0 + np.abs(x0)) * 1e-2
    lo, hi = bracket_minimum(h, x0, step)
    if np.isnan(lo).any():
        raise ValueError(f"{d!r}: D(., z) + (u - w)^2/(2t) has no minimiser (unbounded below?)")
    return minimize_scalar(h, lo, hi).reshape(shape)
