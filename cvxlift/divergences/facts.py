r"""Numerical checks of the structural facts the fast solvers rely on (numpy only).

Each check takes an atom, a form and input columns, and returns a :class:`FactCheck`.
``verify`` runs them on its input groups (one report row each); the fast path runs a quick
version (:func:`probe`) the first time it reads a *declared* fact of a user atom, so a
declared constant that is wrong stops training with a clear error instead of silently
breaking a solver's guarantee.

=================  ===========================================================================
fact               what is checked
=================  ===========================================================================
``lipschitz``      the slopes :math:`|f(x) - f(y)|/|x - y|` of ``forward`` (consecutive points of
                   a dense sorted sample, kinks included; random pairs for vector atoms) are at
                   most the declared constant (Fenchel-Young: :math:`\nabla_u D = f(u) - z`)
``u-gradient``     a declared joint :math:`\nabla_u D` against central differences of ``D``, and
                   its slopes along ``u`` against ``u_lipschitz``
``domain``         ``forward(u)`` lies in :math:`C`; the projection is one (idempotent, obtuse
                   angle with points of :math:`C`); :math:`\Phi < \infty` on :math:`C`; and, where
                   CVXPY can say, :math:`\Phi = \infty` off :math:`C`
``u-quadratic``    :math:`D(u_1, z) - D(u_2, z) = \mu(\|u_1 - z\|^2 - \|u_2 - z\|^2)`
``coupling``       :math:`D(u_1,z_1) + D(u_2,z_2) - D(u_1,z_2) - D(u_2,z_1) = -\kappa(u_1-u_2)^T(z_1-z_2)`
``elementwise``    ``forward`` and ``D`` act entry by entry (a column equals its entries taken alone)
``zero``           joint forms: :math:`D \ge 0`, :math:`D(u, \phi(u)) = 0` wherever
                   :math:`\phi(u) = u`, and somewhere (a divergence the lifted objective can
                   drive to 0; ``exp(-z) + exp(u - z) + z``, whose minimum over ``z`` is
                   :math:`1 + \mathrm{softplus}(u)`, fails)
=================  ===========================================================================
"""
from dataclasses import dataclass, field

import numpy as np

from ..exceptions import FormError

#: Relative slack on a declared Lipschitz constant (rounding in the difference quotients).
LIPSCHITZ_SLACK = 1e-6
#: Relative tolerance of the identities (u-quadratic, coupling, elementwise).
IDENTITY_TOL = 1e-8
#: Tolerance of the zero / nonnegativity checks, relative to ``1 + |u|^2``.
ZERO_TOL = 1e-8


def full(x):
    """``x`` to full precision (17 significant digits), for failure messages."""
    x = np.atleast_1d(np.asarray(x, dtype=float)).reshape(-1)
    body = ", ".join(repr(float(v)) for v in x[:8])
    return "[" + body + (", ...]" if x.size > 8 else "]")


@dataclass
class FactCheck:
    """Outcome of one fact check: ``ok``, the worst measured error, its tolerance, a detail
    line and the failing inputs (full precision)."""

    ok: bool
    error: float = float("nan")
    tol: float = float("nan")
    detail: str = ""
    failures: list = field(default_factory=list)
    available: bool = True


def _line_points(d, U):
    """Sorted distinct points for elementwise slope checks: the inputs, and each kink +- 1e-7."""
    pts = [np.ravel(U)]
    for k in getattr(d, "kinks", ()) or ():
        pts.append(k + np.array([-1e-3, -1e-7, 0.0, 1e-7, 1e-3]))
    x = np.unique(np.concatenate(pts))
    return x[np.isfinite(x)]


def check_lipschitz(d, U, L, rng=None):
    """The Lipschitz constant ``L`` of ``forward`` (``None``: report the measured slope only).

    Parameters
    ----------
    d : Divergence
    U : (n, m) ndarray
        Input columns.
    L : float or None
        Declared (or derived) constant.
    rng : numpy.random.Generator, optional
        For vector atoms (random pairs).

    Returns
    -------
    FactCheck
    """
    if d.elementwise:
        x = _line_points(d, U)
        x = x[np.abs(x) <= 1e4]
        f = np.asarray(d.forward(x[None, :]), dtype=float)[0]
        dx = np.diff(x)
        keep = dx > 1e-9 * (1.0 + np.abs(x[1:]))   # difference quotients above rounding
        with np.errstate(invalid="ignore", divide="ignore"):
            slope = np.abs(np.diff(f))[keep] / dx[keep]
        lo, hi = x[:-1][keep], x[1:][keep]
        where = [(s, a, b) for s, a, b in zip(slope, lo, hi)]
    else:
        rng = rng or np.random.default_rng(0)
        D = rng.normal(size=U.shape) * 1e-3 * (1.0 + np.abs(U))
        F0, F1 = d.forward(U), d.forward(U + D)
        slope = np.linalg.norm(F1 - F0, axis=0) / np.linalg.norm(D, axis=0)
        where = [(s, U[:, j], U[:, j] + D[:, j]) for j, s in enumerate(slope)]
    worst = float(np.max(slope, initial=0.0))
    if L is None:
        return FactCheck(True, worst, float("nan"),
                         f"not declared (measured slope {worst:.4g}): no solver that needs it is used")
    tol = L * (1.0 + LIPSCHITZ_SLACK) + 1e-12
    bad = sorted((w for w in where if w[0] > tol), key=lambda w: -w[0])[:5]
    fails = [f"forward has slope {float(s)!r} between u={full(a)} and u={full(b)} > declared {float(L)!r}"
             for s, a, b in bad]
    return FactCheck(not bad, worst, float(L), f"slopes of forward <= {L:g}", fails)


def check_u_gradient(d, form, U, Z, L):
    """A joint form's ``u_gradient`` against central differences of ``D``, and its
    Lipschitz constant ``L`` along ``u``.

    Parameters
    ----------
    d : Divergence
    form : str
    U, Z : ndarray
        Input columns and states (in the domain).
    L : float or None

    Returns
    -------
    FactCheck
    """
    try:
        G = d.u_gradient(U, Z, form)
    except FormError:
        return FactCheck(True, detail="D is not differentiable in u (no u_gradient): no solver that needs it is used")
    fails, worst = [], 0.0
    if d.elementwise:
        u, z = U.reshape(1, -1), Z.reshape(1, -1)
        h = 1e-5 * (1.0 + np.abs(u))
        Dp, Dm = d.divergence_value(u + h, z, form), d.divergence_value(u - h, z, form)
        fd = (Dp - Dm) / (2.0 * h[0])
        g = G.reshape(-1)
        ok = np.isfinite(fd)
        scale = 1.0 + np.abs(fd) + np.abs(g)
        err = np.where(ok, np.abs(g - fd) / scale, 0.0)
        worst = float(err.max(initial=0.0))
        for j in np.argsort(-err)[:3]:
            if err[j] > 1e-4:
                fails.append(f"u_gradient {g[j]!r} vs difference quotient {fd[j]!r} at u={full(u[0, j])}, "
                             f"z={full(z[0, j])}")
        if L is not None:
            Gp = d.u_gradient(u + 1e-3, z, form).reshape(-1)
            slope = np.abs(Gp - g) / 1e-3
            if slope.max(initial=0.0) > L * (1.0 + LIPSCHITZ_SLACK) + 1e-9:
                j = int(np.argmax(slope))
                fails.append(f"u_gradient has slope {slope[j]!r} along u at u={full(u[0, j])}, z={full(z[0, j])} "
                             f"> declared u_lipschitz {L!r}")
    return FactCheck(not fails, worst, 1e-4, "u_gradient == central differences of D"
                     + ("" if L is None else f"; slope <= {L:g}"), fails)


def check_domain(d, form, U, rng):
    """The z-domain: ``forward`` maps into it, its projection is one, and it is the domain
    of :math:`\\Phi` (finite on it; infinite off it where CVXPY can evaluate :math:`\\Phi`).

    Parameters
    ----------
    d : Divergence
    form : str
    U : ndarray
    rng : numpy.random.Generator

    Returns
    -------
    FactCheck
    """
    C = d.z_domain()
    fails, worst = [], 0.0
    F = d.forward(U)
    v = C.violation(F)
    worst = float(np.max(v, initial=0.0))
    for j in np.flatnonzero((v > 1e-9).any(axis=0))[:3]:
        fails.append(f"forward(u) = {full(F[:, j])} is outside the domain {C.describe()} at u={full(U[:, j])}")
    X = C.sample(rng, F.shape) + rng.normal(scale=0.5, size=F.shape) * rng.integers(0, 2, size=F.shape)
    P = C.project(X)
    PP = C.project(P)
    idem = np.abs(PP - P).max(axis=0) / (1.0 + np.abs(P).max(axis=0))
    S = C.sample(rng, F.shape)
    angle = np.einsum("ij,ij->j", X - P, S - P) / (1.0 + np.linalg.norm(X - P, axis=0) * np.linalg.norm(S - P, axis=0))
    for j in np.flatnonzero(idem > 1e-12)[:2]:
        fails.append(f"the projection is not idempotent at z={full(X[:, j])}")
    for j in np.flatnonzero(angle > 1e-9)[:2]:
        fails.append(f"the projection of z={full(X[:, j])} is not the nearest point of the domain "
                     f"(obtuse-angle condition fails against {full(S[:, j])})")
    worst = max(worst, float(idem.max(initial=0.0)), float(np.maximum(angle, 0).max(initial=0.0)))
    if form == "fenchel":
        inside = np.concatenate([S, F], axis=1)
        val = d.phi_value(inside)
        for j in np.flatnonzero(~np.isfinite(val))[:3]:
            fails.append(f"Phi is infinite at z={full(inside[:, j])}, inside the declared domain {C.describe()}: "
                         "declare the domain of Phi (domain=...)")
        out = C.outside(rng, F.shape)
        if out is not None and d.has_dsl(form):
            import cvxpy as cp

            for j in range(min(out.shape[1], 20)):
                try:
                    got = d.phi(cp.Constant(out[:, j])).value
                except Exception:   # noqa: BLE001 - an expression that cannot be evaluated there
                    got = None
                if got is not None and np.isfinite(got):
                    fails.append(f"Phi is finite ({float(got)!r}) at z={full(out[:, j])}, outside the declared domain "
                                 f"{C.describe()}: the domain is smaller than dom Phi")
                    break
    return FactCheck(not fails, worst, 1e-9, f"forward maps into {C.describe()}; projection checked", fails)


def _domain_states(d, rng, U):
    """States in the domain, paired with ``U``: ``forward`` of perturbed inputs and domain samples."""
    F = d.forward(U + rng.normal(scale=1.0, size=U.shape))
    S = d.z_domain().sample(rng, F.shape)
    pick = rng.integers(0, 2, size=F.shape[1]).astype(bool)
    return np.where(pick[None, :], F, S)


def check_u_quadratic(d, form, U, rng, mu):
    """:math:`D(u, z) = \\mu\\|u - z\\|^2 + g(z)` in ``u``.

    Parameters
    ----------
    d : Divergence
    form : str
    U : ndarray
    rng : numpy.random.Generator
    mu : float

    Returns
    -------
    FactCheck
    """
    Z = _domain_states(d, rng, U)
    U2 = U + rng.normal(scale=2.0, size=U.shape)
    lhs = d.divergence_value(U, Z, form) - d.divergence_value(U2, Z, form)
    rhs = mu * (np.sum((U - Z) ** 2, axis=0) - np.sum((U2 - Z) ** 2, axis=0))
    ok = np.isfinite(lhs)
    scale = 1.0 + np.abs(rhs) + np.sum(U ** 2 + U2 ** 2, axis=0)
    err = np.where(ok, np.abs(lhs - rhs) / scale, np.inf)
    fails = [f"D(u1, z) - D(u2, z) = {lhs[j]!r}, mu (|u1 - z|^2 - |u2 - z|^2) = {rhs[j]!r} at u1={full(U[:, j])}, "
             f"u2={full(U2[:, j])}, z={full(Z[:, j])}" for j in np.argsort(-err)[:3] if err[j] > IDENTITY_TOL]
    return FactCheck(not fails, float(err.max(initial=0.0)), IDENTITY_TOL, f"D = {mu:g} |u - z|^2 + g(z) in u", fails)


def check_coupling(d, form, U, rng, kappa):
    """The tilt structure :math:`D(u, z) = A(z) - \\kappa u^Tz + B(u)` by mixed differences.

    Parameters
    ----------
    d : Divergence
    form : str
    U : ndarray
    rng : numpy.random.Generator
    kappa : float

    Returns
    -------
    FactCheck
    """
    U2 = U + rng.normal(scale=2.0, size=U.shape)
    Z1 = _domain_states(d, rng, U)
    Z2 = _domain_states(d, rng, U2)
    dv = d.divergence_value
    with np.errstate(invalid="ignore"):
        mixed = dv(U, Z1, form) + dv(U2, Z2, form) - dv(U, Z2, form) - dv(U2, Z1, form)
    rhs = -kappa * np.einsum("ij,ij->j", U - U2, Z1 - Z2)
    scale = 1.0 + np.abs(rhs) + np.sum(U ** 2 + U2 ** 2 + Z1 ** 2 + Z2 ** 2, axis=0)
    err = np.where(np.isfinite(mixed), np.abs(mixed - rhs) / scale, np.inf)
    fails = [f"mixed difference {mixed[j]!r} != -kappa (u1 - u2)(z1 - z2) = {rhs[j]!r} at u1={full(U[:, j])}, "
             f"u2={full(U2[:, j])}, z1={full(Z1[:, j])}, z2={full(Z2[:, j])}"
             for j in np.argsort(-err)[:3] if err[j] > IDENTITY_TOL]
    return FactCheck(not fails, float(np.max(err, initial=0.0)), IDENTITY_TOL,
                     f"D = A(z) - {kappa:g} u.z + B(u)", fails)


def check_elementwise(d, form, U, rng):
    """``forward`` and ``D`` act entry by entry.

    Parameters
    ----------
    d : Divergence
    form : str
    U : ndarray
    rng : numpy.random.Generator

    Returns
    -------
    FactCheck
    """
    F = d.forward(U)
    Fe = np.asarray(d.forward(U.reshape(1, -1)), dtype=float).reshape(U.shape)
    err_f = np.abs(F - Fe).max(axis=0) / (1.0 + np.abs(F).max(axis=0))
    fails = [f"forward of the column u={full(U[:, j])} is {full(F[:, j])}, of its entries alone {full(Fe[:, j])}"
             for j in np.flatnonzero(err_f > 1e-12)[:3]]
    Z = _domain_states(d, rng, U)
    Dc = d.divergence_value(U, Z, form)
    De = np.asarray(d.divergence_value(U.reshape(1, -1), Z.reshape(1, -1), form)).reshape(U.shape).sum(axis=0)
    with np.errstate(invalid="ignore"):
        err_d = np.where(np.isfinite(Dc) & np.isfinite(De), np.abs(Dc - De) / (1.0 + np.abs(Dc)),
                         np.where(np.isinf(Dc) == np.isinf(De), 0.0, np.inf))
    fails += [f"D of the column is {Dc[j]!r}, the sum over its entries {De[j]!r} at u={full(U[:, j])}, z={full(Z[:, j])}"
              for j in np.flatnonzero(err_d > IDENTITY_TOL)[:3]]
    worst = max(float(err_f.max(initial=0.0)), float(err_d.max(initial=0.0)))
    return FactCheck(not fails, worst, IDENTITY_TOL, "forward and D act entry by entry", fails)


def check_zero(d, form, groups, rng):
    """Fenchel-Young: :math:`D \\ge 0` and :math:`D(u, \\phi(u)) = 0` for every ``u``. Joint:
    :math:`D \\ge 0`, :math:`D(u, \\phi(u)) = 0` wherever :math:`\\phi(u) = u`, and for some ``u``.

    Parameters
    ----------
    d : Divergence
    form : str
    groups : dict
        Name -> input columns.
    rng : numpy.random.Generator

    Returns
    -------
    FactCheck
    """
    fails, worst = [], 0.0
    zero_somewhere = False
    best = (np.inf, None)
    if form == "joint" and d.elementwise:
        fixed = fixed_points(d, np.concatenate([np.ravel(U) for U in groups.values()]))
        if fixed.size:
            groups = dict(groups, **{"fixed points": np.tile(fixed[None, :], (d.verify_dim(), 1))})
    for gname, U in groups.items():
        F = d.forward(U)
        scale = 1.0 + np.abs(U).max(axis=0) ** 2
        at = d.divergence_value(U, F, form)
        rel = at / scale
        Zr = _domain_states(d, rng, U)
        val = d.divergence_value(U, Zr, form) / scale
        neg = np.where(np.isfinite(val), np.maximum(-val, 0.0), 0.0)
        neg = np.maximum(neg, np.where(np.isfinite(rel), np.maximum(-rel, 0.0), 0.0))
        worst = max(worst, float(neg.max(initial=0.0)))
        for j in np.flatnonzero(neg > ZERO_TOL)[:2]:
            fails.append(f"D < 0: D(u, z) = {float(val[j] * scale[j])!r} at u={full(U[:, j])}, z={full(Zr[:, j])} "
                         f"({gname})")
        if form == "fenchel":
            must = np.ones(U.shape[1], dtype=bool)
        elif F.shape == U.shape:
            tol_fp = 1e-9 if gname == "fixed points" else 1e-12
            must = np.abs(F - U).max(axis=0) <= tol_fp * (1.0 + np.abs(U).max(axis=0))
        else:
            must = np.zeros(U.shape[1], dtype=bool)
        off = np.where(must & np.isfinite(rel), np.abs(rel), np.where(must, np.inf, 0.0))
        worst = max(worst, float(off.max(initial=0.0)))
        for j in np.flatnonzero(off > ZERO_TOL)[:3]:
            where = "" if form == "fenchel" else " (where forward(u) = u)"
            fails.append(f"D(u, forward(u)) = {float(at[j])!r} != 0 at u={full(U[:, j])}{where} ({gname})")
        finite = np.isfinite(rel)
        if finite.any():
            j = int(np.argmin(np.where(finite, np.abs(rel), np.inf)))
            if abs(rel[j]) < best[0]:
                best = (abs(rel[j]), (U[:, j], at[j]))
            zero_somewhere |= bool(abs(rel[j]) <= ZERO_TOL)
    if form == "joint" and not zero_somewhere:
        u, v = best[1] if best[1] is not None else (np.nan, np.nan)
        fails.append(f"D(u, forward(u)) is nowhere 0 on the inputs (smallest {float(v)!r} at u={full(u)}): min over z of "
                     "D(u, z) depends on u everywhere, so the lifted objective pulls every pre-activation (subtract "
                     "the u-only part, or use a divergence that is 0 on the graph)")
        worst = max(worst, best[0])
    fails = list(dict.fromkeys(fails))
    what = "D >= 0, D(u, forward(u)) = 0" if form == "fenchel" else \
        "D >= 0; D(u, forward(u)) = 0 where forward(u) = u, and somewhere"
    return FactCheck(not fails, worst, ZERO_TOL, what, fails)


def fixed_points(d, points, iters=80):
    r"""Roots of :math:`\phi(u) - u` of an elementwise atom between consecutive sorted
    ``points`` (sign changes, refined by bisection), so that ``zero`` checks
    :math:`D(u, \phi(u)) = 0` at isolated fixed points too.

    Parameters
    ----------
    d : Divergence
    points : ndarray

    Returns
    -------
    ndarray
        The fixed points found (at most 50).
    """
    x = np.unique(points[np.isfinite(points) & (np.abs(points) <= 1e4)])
    if x.size < 2:
        return x[:0]
    g = np.asarray(d.forward(x[None, :]), dtype=float)[0] - x
    change = np.flatnonzero((np.sign(g[:-1]) * np.sign(g[1:])) < 0)[:50]
    lo, hi = x[change], x[change + 1]
    glo = g[change]
    for _ in range(iters):
        mid = 0.5 * (lo + hi)
        gm = np.asarray(d.forward(mid[None, :]), dtype=float)[0] - mid
        left = np.sign(gm) == np.sign(glo)
        lo, hi = np.where(left, mid, lo), np.where(left, hi, mid)
        glo = np.where(left, gm, glo)
    return 0.5 * (lo + hi)


# ---------------------------------------------------------------------------- the fast path's probe
_PROBED = {}


def probe(d, form):
    """Check the *declared* facts of a user atom on a small sample, once per atom and form.

    Built-in atoms derive their facts (and ``verify`` checks them); an atom with
    ``declared_facts`` (see :class:`~cvxlift.divergences.custom.CustomDivergence`) is probed:
    ``lipschitz``, ``u_lipschitz`` / ``u_gradient``, ``u_quadratic``, ``coupling``,
    ``elementwise`` and that ``forward`` maps into the declared domain.

    Parameters
    ----------
    d : Divergence
    form : str

    Raises
    ------
    ValidationError
        A declared fact is false on the sample (the message names it and the inputs).
    """
    from ..exceptions import ValidationError

    facts_of = getattr(d, "declared_facts", None)
    if facts_of is None:
        return
    key = (type(d), tuple(sorted(d.get_params().items())), form)
    if key in _PROBED:
        return
    facts = facts_of(form)
    rng = np.random.default_rng(12345)
    n = d.verify_dim()
    s = float(getattr(d, "input_scale", 10.0))
    U = np.concatenate([rng.uniform(-s, s, size=(n, 200)), np.linspace(-1.2 * s, 1.2 * s, 801)[None, :].repeat(n, 0)],
                       axis=1)
    checks = []
    if facts.get("elementwise"):
        checks.append(("elementwise=True", check_elementwise(d, form, U[:, :60], rng)))
    if facts.get("lipschitz") is not None:
        checks.append((f"lipschitz={facts['lipschitz']!r}", check_lipschitz(d, U, facts["lipschitz"], rng)))
    if facts.get("domain") is not None:
        checks.append((f"domain={facts['domain']!r}", check_domain(d, "joint", U, rng)))
    if form == "joint":
        if facts.get("u_quadratic") is not None:
            checks.append((f"u_quadratic={facts['u_quadratic']!r}",
                           check_u_quadratic(d, form, U[:, :100], rng, facts["u_quadratic"])))
        if facts.get("coupling") is not None:
            checks.append((f"coupling={facts['coupling']!r}", check_coupling(d, form, U[:, :100], rng,
                                                                             facts["coupling"])))
        if facts.get("u_lipschitz") is not None:
            Z = _domain_states(d, rng, U[:, :100])
            checks.append((f"u_lipschitz={facts['u_lipschitz']!r}",
                           check_u_gradient(d, form, U[:, :100], Z, facts["u_lipschitz"])))
    for label, c in checks:
        if not c.ok:
            raise ValidationError(f"{d!r} (form={form!r}) declares {label}, which is false: {c.failures[0]}. "
                                  "Fix the declaration (cvxlift.verify reports every check)")
    _PROBED[key] = True
