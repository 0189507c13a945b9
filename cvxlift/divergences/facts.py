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
``zero``           joint forms: :math:`D \ge 0`, and every state :math:`z = \phi(u)` costs nothing
                   at some pre-activation that produces it (:math:`\min_{u'} D(u', z) = 0` at
                   :math:`\phi(u^*) = z`); ``exp(-z) + exp(u - z) + z``, whose minimum over
                   ``z`` is :math:`1 + \mathrm{softplus}(u)`, fails
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
        keep = dx > 1e-9 * (1.0 + np.abs(x[1:]))  # difference quotients above rounding
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
        return FactCheck(
            True, worst, float("nan"), f"not declared (measured slope {worst:.4g}): no solver that needs it is used"
        )
    tol = L * (1.0 + LIPSCHITZ_SLACK) + 1e-12
    bad = sorted((w for w in where if w[0] > tol), key=lambda w: -w[0])[:5]
    fails = [
        f"forward has slope {float(s)!r} between u={full(a)} and u={full(b)} > declared {float(L)!r}" for s, a, b in bad
    ]
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
                fails.append(
                    f"u_gradient {g[j]!r} vs difference quotient {fd[j]!r} at u={full(u[0, j])}, z={full(z[0, j])}"
                )
        if L is not None:
            Gp = d.u_gradient(u + 1e-3, z, form).reshape(-1)
            slope = np.abs(Gp - g) / 1e-3
            if slope.max(initial=0.0) > L * (1.0 + LIPSCHITZ_SLACK) + 1e-9:
                j = int(np.argmax(slope))
                fails.append(
                    f"u_gradient has slope {slope[j]!r} along u at u={full(u[0, j])}, z={full(z[0, j])} "
                    f"> declared u_lipschitz {L!r}"
                )
    return FactCheck(
        not fails,
        worst,
        1e-4,
        "u_gradient == central differences of D" + ("" if L is None else f"; slope <= {L:g}"),
        fails,
    )


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
        fails.append(
            f"the projection of z={full(X[:, j])} is not the nearest point of the domain "
            f"(obtuse-angle condition fails against {full(S[:, j])})"
        )
    worst = max(worst, float(idem.max(initial=0.0)), float(np.maximum(angle, 0).max(initial=0.0)))
    if form == "fenchel":
        inside = np.concatenate([S, F], axis=1)
        val = d.phi_value(inside)
        for j in np.flatnonzero(~np.isfinite(val))[:3]:
            fails.append(
                f"Phi is infinite at z={full(inside[:, j])}, inside the declared domain {C.describe()}: "
                "declare the domain of Phi (domain=...)"
            )
        out = C.outside(rng, F.shape)
        if out is not None and d.has_dsl(form):
            import cvxpy as cp

            for j in range(min(out.shape[1], 20)):
                try:
                    got = d.phi(cp.Constant(out[:, j])).value
                except Exception:  # noqa: BLE001 - an expression that cannot be evaluated there
                    got = None
                if got is not None and np.isfinite(got):
                    fails.append(
                        f"Phi is finite ({float(got)!r}) at z={full(out[:, j])}, outside the declared domain "
                        f"{C.describe()}: the domain is smaller than dom Phi"
                    )
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
    scale = 1.0 + np.abs(rhs) + np.sum(U**2 + U2**2, axis=0)
    err = np.where(ok, np.abs(lhs - rhs) / scale, np.inf)
    fails = [
        f"D(u1, z) - D(u2, z) = {lhs[j]!r}, mu (|u1 - z|^2 - |u2 - z|^2) = {rhs[j]!r} at u1={full(U[:, j])}, "
        f"u2={full(U2[:, j])}, z={full(Z[:, j])}"
        for j in np.argsort(-err)[:3]
        if err[j] > IDENTITY_TOL
    ]
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
    scale = 1.0 + np.abs(rhs) + np.sum(U**2 + U2**2 + Z1**2 + Z2**2, axis=0)
    err = np.where(np.isfinite(mixed), np.abs(mixed - rhs) / scale, np.inf)
    fails = [
        f"mixed difference {mixed[j]!r} != -kappa (u1 - u2)(z1 - z2) = {rhs[j]!r} at u1={full(U[:, j])}, "
        f"u2={full(U2[:, j])}, z1={full(Z1[:, j])}, z2={full(Z2[:, j])}"
        for j in np.argsort(-err)[:3]
        if err[j] > IDENTITY_TOL
    ]
    return FactCheck(
        not fails, float(np.max(err, initial=0.0)), IDENTITY_TOL, f"D = A(z) - {kappa:g} u.z + B(u)", fails
    )


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
    fails = [
        f"forward of the column u={full(U[:, j])} is {full(F[:, j])}, of its entries alone {full(Fe[:, j])}"
        for j in np.flatnonzero(err_f > 1e-12)[:3]
    ]
    Z = _domain_states(d, rng, U)
    Dc = d.divergence_value(U, Z, form)
    De = np.asarray(d.divergence_value(U.reshape(1, -1), Z.reshape(1, -1), form)).reshape(U.shape).sum(axis=0)
    with np.errstate(invalid="ignore"):
        err_d = np.where(
            np.isfinite(Dc) & np.isfinite(De),
            np.abs(Dc - De) / (1.0 + np.abs(Dc)),
            np.where(np.isinf(Dc) == np.isinf(De), 0.0, np.inf),
        )
    fails += [
        f"D of the column is {float(Dc[j])!r}, the sum over its entries {float(De[j])!r} at u={full(U[:, j])}, "
        f"z={full(Z[:, j])}"
        for j in np.flatnonzero(err_d > IDENTITY_TOL)[:3]
    ]
    worst = max(float(err_f.max(initial=0.0)), float(err_d.max(initial=0.0)))
    return FactCheck(not fails, worst, IDENTITY_TOL, "forward and D act entry by entry", fails)


def check_zero(d, form, groups, rng, zero_preimage=None):
    r"""The divergence is zero on (a piece of) the graph of the activation.

    Fenchel-Young: :math:`D \ge 0` and :math:`D(u, \phi(u)) = 0` for every ``u``.

    Joint form: :math:`D \ge 0`, and the states that cost nothing are not a negligible set:
    for the states :math:`z = \phi(u)` of the random and grid inputs, the fraction with a
    zero-cost preimage (:math:`\min_{u'} D(u', z) = 0` at a :math:`u^*` with
    :math:`\phi(u^*) = z`) must be positive. A jointly convex :math:`D \ge 0` vanishes on a
    convex set, so it can be zero on the graph only where the activation is affine: the joint
    ReLU (every state: :math:`u^* = z`) and the joint leaky ReLU (the states :math:`z \ge 0`)
    pass; ``exp(-z) + exp(u - z) + z`` (minimum over ``u`` :math:`e^{-z} + z \ge 1` for every
    state) and the prox form :math:`\tfrac12(z - u)^2 + g(z)` of a smooth map (zero at one
    state only) fail -- in training they pull every pre-activation off the activation.

    Parameters
    ----------
    d : Divergence
    form : str
    groups : dict
        Name -> input columns.
    rng : numpy.random.Generator
    zero_preimage : callable, optional
        For vector atoms: ``Z -> (U*, min values)`` solving :math:`\min_u D(u, z)` per column
        (``verify`` passes its CVXPY u-block); without it vector joint atoms skip that part.

    Returns
    -------
    FactCheck
    """
    fails, worst, notes = [], 0.0, []
    n_zero = n_states = 0
    positive = []
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
            fails.append(
                f"D < 0: D(u, z) = {float(val[j] * scale[j])!r} at u={full(U[:, j])}, z={full(Zr[:, j])} ({gname})"
            )
        if form == "fenchel":
            off = np.where(np.isfinite(rel), np.abs(rel), np.inf)
            worst = max(worst, float(off.max(initial=0.0)))
            for j in np.flatnonzero(off > ZERO_TOL)[:3]:
                fails.append(f"D(u, forward(u)) = {float(at[j])!r} != 0 at u={full(U[:, j])} ({gname})")
            continue
        if gname not in ("random", "grid"):
            continue
        if d.elementwise:
            Us, Vs = _zero_preimage_numeric(d, form, U, F)
        elif zero_preimage is not None:
            Us, Vs = zero_preimage(F)
        else:
            notes.append("states not checked (a vector atom without CVXPY)")
            continue
        sz = 1.0 + np.abs(F).max(axis=0) ** 2
        with np.errstate(invalid="ignore"):
            back = np.abs(np.asarray(d.forward(Us), dtype=float) - F).max(axis=0) / (1.0 + np.abs(F).max(axis=0))
            err = np.where(np.isfinite(Vs), np.abs(Vs) / sz, np.inf)
        zero = (err <= ZERO_TOL) & (back <= 1e-5)
        n_zero += int(zero.sum())
        n_states += zero.size
        for j in np.flatnonzero(~zero)[:3]:
            positive.append((gname, U[:, j], F[:, j], Vs[j]))
    if form == "joint" and n_states:
        frac = n_zero / n_states
        notes.append(f"{frac:.0%} of {n_states} states (random, grid) cost 0 at a preimage")
        if n_zero == 0:
            worst = max(worst, 1.0)
            for gname, u, z, v in positive[:3]:
                how = "is not attained (D decreases without end)" if not np.isfinite(v) else f"= {float(v)!r} > 0"
                fails.append(
                    f"min over u of D(u, z) {how} for z = forward(u) = {full(z)} (u={full(u)}, {gname}): "
                    "no state the activation produces costs 0 at a pre-activation that produces it, so the "
                    "lifted objective pulls every pre-activation off the activation"
                )
    fails = list(dict.fromkeys(fails))
    what = "D >= 0, D(u, forward(u)) = 0" if form == "fenchel" else "D >= 0"
    if notes:
        what += "; " + "; ".join(sorted(set(notes)))
    return FactCheck(not fails, worst, ZERO_TOL, what, fails)


def _zero_preimage_numeric(d, form, U, F):
    r"""Per entry of an elementwise joint atom: :math:`u^* = \arg\min_{u'} D(u', z)` for
    :math:`z = \phi(u)`, starting from ``u`` (1-D minimisation), and the minimum (``inf`` where
    the search finds no minimiser)."""
    from ..fast.numeric_prox import bracket_minimum, minimize_scalar

    z = F.reshape(-1)
    x0 = U.reshape(-1).astype(float)

    def h(x, idx):
        with np.errstate(invalid="ignore", over="ignore"):
            return np.asarray(d.divergence_value(x[None, :], z[idx][None, :], form), dtype=float).reshape(-1)

    every = np.arange(z.size)
    v0 = h(x0, every)
    Us, Vs = x0.copy(), v0.copy()
    todo = np.flatnonzero(~(np.abs(v0) <= ZERO_TOL * (1.0 + z**2)))
    if todo.size:

        def hs(x, idx):
            return h(x, todo[idx])

        lo, hi = bracket_minimum(hs, x0[todo], 1e-2 * (1.0 + np.abs(x0[todo])), max_expand=60)
        ok = ~np.isnan(lo)
        xs = x0[todo].copy()
        if ok.any():
            sel = np.flatnonzero(ok)

            def hsel(x, idx):
                return h(x, todo[sel[idx]])

            xs[sel] = minimize_scalar(hsel, lo[sel], hi[sel])
        Us[todo] = xs
        Vs[todo] = np.where(ok, h(xs, todo), np.inf)
    return Us.reshape(U.shape), Vs.reshape(U.shape).sum(axis=0)


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
    U = np.concatenate(
        [rng.uniform(-s, s, size=(n, 200)), np.linspace(-1.2 * s, 1.2 * s, 801)[None, :].repeat(n, 0)], axis=1
    )
    checks = []
    if facts.get("elementwise"):
        checks.append(("elementwise=True", check_elementwise(d, form, U[:, :60], rng)))
    if facts.get("lipschitz") is not None:
        checks.append((f"lipschitz={facts['lipschitz']!r}", check_lipschitz(d, U, facts["lipschitz"], rng)))
    if facts.get("domain") is not None:
        checks.append((f"domain={facts['domain']!r}", check_domain(d, "joint", U, rng)))
    if form == "joint":
        if facts.get("u_quadratic") is not None:
            checks.append(
                (
                    f"u_quadratic={facts['u_quadratic']!r}",
                    check_u_quadratic(d, form, U[:, :100], rng, facts["u_quadratic"]),
                )
            )
        if facts.get("coupling") is not None:
            checks.append(
                (f"coupling={facts['coupling']!r}", check_coupling(d, form, U[:, :100], rng, facts["coupling"]))
            )
        if facts.get("u_lipschitz") is not None:
            Z = _domain_states(d, rng, U[:, :100])
            checks.append(
                (
                    f"u_lipschitz={facts['u_lipschitz']!r}",
                    check_u_gradient(d, form, U[:, :100], Z, facts["u_lipschitz"]),
                )
            )
    for label, c in checks:
        if not c.ok:
            raise ValidationError(
                f"{d!r} (form={form!r}) declares {label}, which is false: {c.failures[0]}. "
                "Fix the declaration (cvxlift.verify reports every check)"
            )
    _PROBED[key] = True
