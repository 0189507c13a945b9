r"""``verify``: numerical certification of a divergence atom.

For each form of the atom it checks

``dcp``
    the z-block :math:`\min_z D(u, z)` (u a Parameter) and the u-block
    :math:`\min_u D(u, z)` (z a Parameter) are DCP and DPP; the joint form is jointly DCP.
``argmin``
    the CVXPY argmin equals ``forward(u)`` on random inputs, on a dense grid, on edge
    cases (0, kinks +- 1e-9, ties, domain boundaries) and at :math:`|u| = 10^3, 10^6`.
    Error: :math:`|z - \phi(u)|_\infty / \max(1, |u|_\infty)` per column.
``unique``
    the argmin is unique: the minimisers of :math:`D(u, z) \pm \varepsilon\, c^T z`
    (random signs :math:`c`, :math:`\varepsilon = 10^{-6}`) agree to
    ``unique_tol``. A flat set of optimal points, or an unbounded one, fails.
``fenchel-young`` (Fenchel-Young form)
    :math:`D \ge 0` on random pairs, :math:`D(u, \phi(u)) = 0`, and the optimal value of
    the CVXPY z-block is 0 (so the CVXPY ``Phi`` and ``Phi*`` are conjugate).
``values``
    the CVXPY expressions evaluate to the numpy ``phi_value``/``phi_star_value``/
    ``joint_value`` (to the approximation error for approximate atoms), and the optimal
    value of the joint z-block equals ``joint_value(u, forward(u))``.
``prox``
    the numpy operator ``prox_z(u, v, t)`` equals the CVXPY solution of
    :math:`\min_z D(u, z) + \|z - v\|^2/(2t)` for :math:`t \in \{0.1, 1, 10\}`.

Solves use tight tolerances and check their status; a solve that fails on large inputs
is retried on rescaled inputs for positively homogeneous atoms, and otherwise reported.
"""
import math
import time
from dataclasses import dataclass, field

import cvxpy as cp
import numpy as np

from . import cvxsolve
from .divergences import get_divergence
from .exceptions import FormError, SolverError

LARGE = (1e3, 1e6)


@dataclass
class Check:
    """One line of a verification report."""

    form: str
    name: str
    passed: bool
    error: float = float("nan")
    tol: float = float("nan")
    detail: str = ""
    failures: list = field(default_factory=list)


@dataclass
class VerifyReport:
    """Result of :func:`verify`: one :class:`Check` per (form, check)."""

    divergence: object
    checks: list
    seconds: float = 0.0

    @property
    def passed(self):
        return all(c.passed for c in self.checks)

    def __bool__(self):
        return self.passed

    def failed(self):
        return [c for c in self.checks if not c.passed]

    def error(self, name, form=None):
        """Largest error of the named check (over forms, or for one form)."""
        errs = [c.error for c in self.checks if c.name == name and (form is None or c.form == form)]
        errs = [e for e in errs if not math.isnan(e)]
        return max(errs) if errs else float("nan")

    def table(self):
        rows = [("form", "check", "result", "max error", "tol", "detail")]
        for c in self.checks:
            rows.append((
                c.form, c.name, "pass" if c.passed else "FAIL",
                "-" if math.isnan(c.error) else f"{c.error:.2e}",
                "-" if math.isnan(c.tol) else f"{c.tol:.0e}",
                c.detail,
            ))
        widths = [max(len(r[i]) for r in rows) for i in range(5)]
        lines = [f"{self.divergence!r}: {'PASSED' if self.passed else 'FAILED'} ({self.seconds:.1f} s)"]
        for r in rows:
            lines.append("  " + "  ".join(r[i].ljust(widths[i]) for i in range(5)) + "  " + r[5])
        for c in self.failed():
            for f in c.failures[:5]:
                lines.append(f"    {c.form}/{c.name} failed at {f}")
        return "\n".join(lines)

    def __str__(self):
        return self.table()


def _fmt(col):
    col = np.atleast_1d(np.asarray(col, dtype=float))
    return "[" + ", ".join(f"{x:.6g}" for x in col[:8]) + (", ...]" if col.size > 8 else "]")


class _ZBlock:
    """``min_z D(u, z) + <c, z> + s ||z||^2`` with Parameters u, c, s: one compile per shape."""

    def __init__(self, d, form, n, m, solver):
        k = d.out_dim(n)
        self.d, self.form, self.solver = d, form, solver
        self.u = cp.Parameter((n, m), name="u")
        self.c = cp.Parameter((k, m), name="c")
        self.s = cp.Parameter(nonneg=True, name="s")
        self.z = cp.Variable((k, m), name="z")
        extra = cp.sum(cp.multiply(self.c, self.z)) + self.s * cp.sum_squares(self.z)
        try:
            self.problem = cp.Problem(cp.Minimize(d.divergence(self.u, self.z, form) + extra))
        except NotImplementedError:  # a user atom without phi_star: the reduced block only
            self.problem = None
        self.pclass = cvxsolve.combine_classes(d.problem_class(form), "QP")
        self.reduced = None
        if form == "fenchel":
            # Phi*(u) is constant in z: without it the block is better scaled at |u| >> 1
            self.reduced = cp.Problem(cp.Minimize(d.phi(self.z) - d.coupling(self.u, self.z) + extra))
        self.used_reduced = False

    def solve(self, U, C=None, s=0.0):
        self.u.value = U
        self.c.value = np.zeros(self.c.shape) if C is None else C
        self.s.value = s
        block = f"verify {self.form} z-block"
        try:
            if self.problem is not None:
                cvxsolve.solve(self.problem, self.pclass, solver=self.solver, block=block, accuracy="tight")
                return np.array(self.z.value), float(self.problem.value)
        except SolverError:
            if self.reduced is None:
                raise
        cvxsolve.solve(self.reduced, self.pclass, solver=self.solver, block=block + " (Phi* dropped)", accuracy="tight")
        self.used_reduced = True
        return np.array(self.z.value), float(self.reduced.value + np.sum(self.d.phi_star_value(U)))


def _scaled_err(Z, F, U):
    scale = np.maximum(1.0, np.abs(U).max(axis=0))
    return np.abs(Z - F).max(axis=0) / scale


def verify(divergence, forms=None, n_random=200, n_grid=2001, seed=0, solver=None,
           large=LARGE, unique_tol=1e-3, verbose=False):
    """Check every claim a divergence atom makes; return a :class:`VerifyReport`.

    Parameters
    ----------
    divergence : Divergence or str
        An atom instance or a registered name.
    forms : list of str, optional
        Forms to check (default: every form the atom has).
    n_random, n_grid : int
        Number of random input columns and of grid points (elementwise atoms).
    seed : int
        Seed of the random inputs (the report is reproducible).
    solver : str, optional
        Pin a CVXPY solver (default: picked from the atom's cones, with fallbacks).
    large : tuple of float
        Magnitudes of the large-input checks.
    unique_tol : float
        Largest spread of the tilted minimisers accepted as "unique".
    """
    t0 = time.perf_counter()
    d = get_divergence(divergence)
    if solver is not None:
        cvxsolve.candidate_solvers(solver=solver)  # a missing solver is an error, not a failed check
    forms = list(d.forms) if forms is None else [d.check_form(f) for f in forms]
    rng = np.random.default_rng(seed)
    n = d.verify_dim()
    k = d.out_dim(n)

    groups = {"random": d.sample_inputs(rng, n, n_random), "edge": d.edge_inputs(n)}
    if d.elementwise:
        s = 1.2 * d.input_scale
        groups["grid"] = np.linspace(-s, s, n_grid)[None, :].repeat(n, axis=0)
    for mag in large:
        base = d.sample_inputs(rng, n, 8)
        base = base / np.maximum(np.abs(base).max(axis=0), 1e-12)
        groups[f"|u|={mag:g}"] = np.concatenate([base, np.full((n, 1), 1.0), np.full((n, 1), -1.0)], axis=1) * mag

    checks = []
    for form in forms:
        checks.append(_check_dcp(d, form))
        checks.extend(_check_argmin_unique(d, form, groups, rng, solver, unique_tol))
        if form == "fenchel":
            checks.append(_check_fenchel_young(d, groups, rng))
        checks.append(_check_values(d, form, groups, rng))
        checks.append(_check_prox(d, form, rng, solver))
        if verbose:
            print(f"{d!r} {form}: done")
    return VerifyReport(d, checks, time.perf_counter() - t0)


def _check_dcp(d, form):
    n = d.verify_dim()
    k = d.out_dim(n)
    m = 3
    notes, ok = [], True
    up, zv = cp.Parameter((n, m)), cp.Variable((k, m))
    try:
        pz = cp.Problem(cp.Minimize(d.divergence(up, zv, form)))
        if not pz.is_dcp(dpp=True):
            ok = False
            notes.append("z-block not DCP/DPP")
    except FormError:
        raise
    except Exception as exc:  # a user atom whose expression cannot be built
        return Check(form, "dcp", False, detail=f"z-block could not be built: {exc}")
    uv, zp = cp.Variable((n, m)), cp.Parameter((k, m))
    try:
        pu = cp.Problem(cp.Minimize(d.divergence(uv, zp, form)))
        if not pu.is_dcp(dpp=True):
            ok = False
            notes.append("u-block not DCP/DPP")
    except NotImplementedError:
        notes.append("u-block: no phi_star given")
    except Exception as exc:
        ok = False
        notes.append(f"u-block could not be built: {exc}")
    if form == "joint":
        both = cp.Problem(cp.Minimize(d.divergence(cp.Variable((n, m)), cp.Variable((k, m)), form)))
        if not both.is_dcp():
            ok = False
            notes.append("not jointly DCP")
    return Check(form, "dcp", ok, detail="; ".join(notes) or "z- and u-blocks DCP and DPP")


def _solve_group(blocks, d, form, U, solver, C=None, s=0.0):
    """Solve one input group; rescale homogeneous atoms when the plain solve fails."""
    key = U.shape[1]
    if key not in blocks:
        blocks[key] = _ZBlock(d, form, U.shape[0], key, solver)
    blk = blocks[key]
    try:
        return blk.solve(U, C, s)
    except SolverError:
        if not d.homogeneous or s != 0.0:
            raise
        scale = float(np.abs(U).max()) or 1.0
        Z, val = blk.solve(U / scale, None if C is None else C / scale, s)
        return Z * scale, val * scale**2


def _check_argmin_unique(d, form, groups, rng, solver, unique_tol):
    blocks = {}
    worst, worst_u = 0.0, 0.0
    fails, ufails, notes = [], [], []
    ok = uok = True
    tol = d.argmin_tol
    for gname, U in groups.items():
        F = d.forward(U)
        try:
            Z, _ = _solve_group(blocks, d, form, U, solver)
        except SolverError as exc:
            ok = uok = False
            notes.append(f"{gname}: {exc}")
            continue
        err = _scaled_err(Z, F, U)
        worst = max(worst, float(err.max()))
        for j in np.argsort(-err)[:5]:
            if err[j] > tol:
                ok = False
                fails.append(f"u={_fmt(U[:, j])} ({gname}): argmin={_fmt(Z[:, j])}, forward={_fmt(F[:, j])}")
        # uniqueness by tilting
        eps = 1e-6  # absolute: the slope margins of piecewise-linear atoms do not grow with |u|
        C = rng.choice([-1.0, 1.0], size=F.shape) * eps
        try:
            Zp, _ = _solve_group(blocks, d, form, U, solver, C)
            Zm, _ = _solve_group(blocks, d, form, U, solver, -C)
        except SolverError as exc:
            uok = False
            notes.append(f"{gname} (tilted): {exc}")
            continue
        spread = _scaled_err(Zp, Zm, U)
        worst_u = max(worst_u, float(spread.max()))
        for j in np.argsort(-spread)[:5]:
            if spread[j] > unique_tol:
                uok = False
                ufails.append(f"u={_fmt(U[:, j])} ({gname}): minimisers from {_fmt(Zm[:, j])} to {_fmt(Zp[:, j])}")
    n_inputs = sum(U.shape[1] for U in groups.values())
    detail = f"{n_inputs} inputs ({', '.join(groups)})"
    if notes:
        detail += "; " + "; ".join(notes)
    return [
        Check(form, "argmin", ok, worst, tol, detail, fails),
        Check(form, "unique", uok, worst_u, unique_tol, "tilted minimisers agree" if uok else "argmin not unique", ufails),
    ]


def _domain_points(d, rng, U):
    """Points of the domain of Phi: forward of perturbed inputs."""
    return d.forward(U + rng.normal(scale=1.0, size=U.shape))


def _check_fenchel_young(d, groups, rng):
    ok, worst, fails = True, 0.0, []
    tol = 1e-8
    for gname, U in groups.items():
        F = d.forward(U)
        scale = 1.0 + np.abs(U).max(axis=0) ** 2
        zero = np.abs(d.divergence_value(U, F, "fenchel")) / scale
        worst = max(worst, float(zero.max()))
        for j in np.flatnonzero(zero > tol)[:3]:
            ok = False
            fails.append(f"D(u, forward(u)) = {zero[j] * scale[j]:.3g} at u={_fmt(U[:, j])}")
        Zr = _domain_points(d, rng, U)
        val = d.divergence_value(U, Zr, "fenchel") / scale
        neg = np.maximum(-val, 0.0)
        worst = max(worst, float(neg.max()))
        for j in np.flatnonzero(neg > tol)[:3]:
            ok = False
            fails.append(f"D(u, z) = {val[j] * scale[j]:.3g} < 0 at u={_fmt(U[:, j])}, z={_fmt(Zr[:, j])}")
    return Check("fenchel", "fenchel-young", ok, worst, tol, "D >= 0, D(u, forward(u)) = 0", fails)


def _expr_value(expr):
    v = expr.value
    return None if v is None else float(v)


def _check_values(d, form, groups, rng):
    ok, worst, fails, notes = True, 0.0, [], []
    approx = 0.0
    if d.approximate:
        approx = getattr(d, "phi_error", 0.0) + getattr(d, "phi_star_error", 0.0)
    tol = 1e-7 + approx
    U = np.concatenate([groups["random"], groups["edge"]], axis=1)
    F = d.forward(U)
    Zr = _domain_points(d, rng, U)
    scale = 1.0 + np.abs(U).max(axis=0) ** 2
    pairs = []
    for j in range(U.shape[1]):
        u, z = U[:, j], Zr[:, j]
        if form == "fenchel":
            pairs.append(("phi", d.phi(cp.Constant(z)), d.phi_value(z), scale[j]))
            try:
                pairs.append(("phi_star", d.phi_star(cp.Constant(u)), d.phi_star_value(u), scale[j]))
            except NotImplementedError:
                pass
        else:
            pairs.append(("joint", d.joint(cp.Constant(u), cp.Constant(z)), d.joint_value(u, z), scale[j]))
    skipped = set()
    for label, expr, ref, sc in pairs:
        got = _expr_value(expr)
        ref = float(np.ravel(ref)[0])
        if got is None:  # an expression with an auxiliary variable (e.g. Simplex.phi_star)
            skipped.add(label)
            continue
        if not math.isfinite(ref) and math.isfinite(got):
            # CVXPY's indicator accepts violations up to 1e-3: a point that close to the
            # boundary of the domain is inside for CVXPY and outside for numpy
            continue
        if not math.isfinite(got) and not math.isfinite(ref):
            err = 0.0
        elif not math.isfinite(got):
            err = float("inf")
        else:
            err = abs(got - ref) / sc
        worst = max(worst, err)
        if err > tol:
            ok = False
            fails.append(f"{label}: CVXPY value {got:.6g} vs numpy {float(ref):.6g}")
    if skipped:
        notes.append(f"{', '.join(sorted(skipped))} checked through the optimal value only (auxiliary variables)")
    # optimal value of the z-block
    blk = _ZBlock(d, form, U.shape[0], U.shape[1], None)
    try:
        _, val = blk.solve(U)
        expected = 0.0 if form == "fenchel" else float(np.sum(d.joint_value(U, F)))
        err = abs(val - expected) / float(np.sum(scale))
        worst = max(worst, err)
        if err > tol:
            ok = False
            fails.append(f"optimal value {val:.8g}, expected {expected:.8g}")
    except SolverError as exc:
        ok = False
        notes.append(str(exc))
    return Check(form, "values", ok, worst, tol, "; ".join(notes) or "CVXPY == numpy", fails)


def _check_prox(d, form, rng, solver):
    n = d.verify_dim()
    m = 60
    tol = d.argmin_tol
    ok, worst, fails = True, 0.0, []
    U = d.sample_inputs(rng, n, m)
    V = d.forward(d.sample_inputs(rng, n, m)) + rng.normal(scale=0.5, size=(d.out_dim(n), m))
    blk = _ZBlock(d, form, n, m, solver)
    for t in (0.1, 1.0, 10.0):
        try:
            Z, _ = blk.solve(U, -V / t, 1.0 / (2 * t))
        except SolverError as exc:
            return Check(form, "prox", False, detail=str(exc))
        P = d.prox_z(U, V, t, form)
        err = _scaled_err(Z, P, np.concatenate([U, V], axis=0))
        worst = max(worst, float(err.max()))
        for j in np.flatnonzero(err > tol)[:3]:
            ok = False
            fails.append(f"t={t}, u={_fmt(U[:, j])}, v={_fmt(V[:, j])}: CVXPY {_fmt(Z[:, j])}, numpy {_fmt(P[:, j])}")
    return Check(form, "prox", ok, worst, tol, "numpy prox_z == CVXPY, t in {0.1, 1, 10}", fails)
