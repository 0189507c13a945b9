r"""``verify``: numerical certification of a divergence atom.

For each form of the atom it checks (one report row each; see ``docs/verify.md``)

``dcp``
    the CVXPY pieces are convex (``phi``, ``phi_star``; ``joint`` jointly) and the z-block
    :math:`\min_z D(u, z)` and u-block :math:`\min_u D(u, z)` are DCP and DPP. A piece that is
    not convex is a FAIL naming it and its curvature (the rows that would solve CVXPY problems
    are then skipped, not crashed).
``argmin``
    the minimiser of :math:`D(u, \cdot)` equals ``forward(u)`` on random inputs, a dense grid,
    edge cases (0, kinks +- 1e-9, ties, domain boundaries) and :math:`|u| = 10^3, 10^6`:
    the CVXPY minimiser, or for a numeric declaration a numeric 1-D minimisation.
    Error: :math:`|z - \phi(u)|_\infty / \max(1, |u|_\infty)` per column.
``unique``
    the minimisers of :math:`D(u, z) \pm \varepsilon\, c^T z` (random signs, :math:`\varepsilon =
    10^{-6}`) agree to ``unique_tol``.
``fenchel-young`` (Fenchel-Young form) / ``zero`` (joint form)
    :math:`D \ge 0`; :math:`D(u, \phi(u)) = 0` for every ``u`` (Fenchel-Young) or, for the joint
    form, wherever :math:`\phi(u) = u` and for some ``u`` (:func:`cvxlift.divergences.facts.check_zero`).
``values``
    the CVXPY expressions evaluate to the numpy values, and the optimal value of the z-block
    is 0 (Fenchel-Young) or ``joint_value(u, forward(u))``.
``prox``, ``prox-u``
    the proximal maps the fast path uses, :math:`\arg\min_z D(u, z) + \|z - v\|^2/(2t)` and
    :math:`\arg\min_u D(u, z) + \|u - w\|^2/(2t)`, against the CVXPY solution (or a numeric
    1-D minimisation) for :math:`t` from :math:`10^{-6}` to :math:`10^9`. A user-written numpy
    prox that passes is certified (:func:`cvxlift.fast.registry.mark_certified`): the fast
    path uses it from then on.
``lipschitz``, ``u-gradient``, ``domain``, ``elementwise``, ``u-quadratic``, ``coupling``
    each fact a fast solver relies on (:mod:`cvxlift.divergences.facts`), derived or declared;
    a declared constant that is too small fails.

Rows that cannot apply are marked ``n/a`` (e.g. the CVXPY rows of a numeric declaration),
rows skipped because an earlier row failed ``skip``; both say why. Every failure is a FAIL row
with a message, never an exception; failing inputs are printed to full precision.

Solves use tight tolerances and check their status; a solve that fails on large inputs is
retried on rescaled inputs for positively homogeneous atoms, and otherwise reported.
"""

import importlib
import importlib.util
import math
import os
import sys
import time
from dataclasses import dataclass, field

import cvxpy as cp
import numpy as np

from . import cvxsolve
from .divergences import facts, get_divergence
from .divergences.base import Divergence
from .exceptions import CvxliftError, FormError, SolverError, UnknownAtomError, ValidationError

LARGE = (1e3, 1e6)
#: Steps ``t`` at which the proximal maps are checked.
PROX_STEPS = (1e-6, 1e-3, 1.0, 1e3, 1e9)


@dataclass
class Check:
    """One line of a verification report.

    Attributes
    ----------
    form, name : str
    passed : bool
    error, tol : float
    detail : str
    failures : list of str
    status : str
        ``"run"``, ``"n/a"`` (cannot apply; passed) or ``"skip"`` (an earlier row failed).
    """

    form: str
    name: str
    passed: bool
    error: float = float("nan")
    tol: float = float("nan")
    detail: str = ""
    failures: list = field(default_factory=list)
    status: str = "run"


@dataclass
class VerifyReport:
    """Result of :func:`verify`: one :class:`Check` per (form, check).

    Truthy when every check passed; ``str(report)`` is :meth:`table`.

    Attributes
    ----------
    divergence : Divergence
        The atom that was verified.
    checks : list of Check
        One row per (form, check), in the order they ran.
    seconds : float
        Wall time of the verification, in seconds.
    passed : bool
        ``True`` when every check passed (a property).
    """

    divergence: object
    checks: list
    seconds: float = 0.0

    @property
    def passed(self):
        return all(c.passed for c in self.checks)

    def __bool__(self):
        return self.passed

    def failed(self):
        """The checks that did not pass.

        Returns
        -------
        list of Check
            The rows with ``passed`` false, in report order (empty when the atom passed).
        """
        return [c for c in self.checks if not c.passed]

    def error(self, name, form=None):
        """Largest error of the named check (over forms, or for one form).

        Parameters
        ----------
        name : str
            The check's name, as in the ``check`` column of :meth:`table`.
        form : {"fenchel", "joint"}, optional
            Restrict to this form; default: the maximum over every form.

        Returns
        -------
        float
            The maximum of the rows' ``error`` ignoring NaN; NaN when no such row measured one.
        """
        errs = [c.error for c in self.checks if c.name == name and (form is None or c.form == form)]
        errs = [e for e in errs if not math.isnan(e)]
        return max(errs) if errs else float("nan")

    def table(self):
        """The report as text: one line per check, then the failing inputs.

        Returns
        -------
        str
            A header (atom, PASSED/FAILED, seconds), one line per check (form, check, result,
            max error, tolerance, detail), then up to five failing inputs per failed check.
        """
        rows = [("form", "check", "result", "max error", "tol", "detail")]
        for c in self.checks:
            result = c.status if c.status != "run" else ("pass" if c.passed else "FAIL")
            if c.status == "skip" and not c.passed:
                result = "FAIL"
            rows.append(
                (
                    c.form,
                    c.name,
                    result,
                    "-" if math.isnan(c.error) else f"{c.error:.2e}",
                    "-" if math.isnan(c.tol) else f"{c.tol:.0e}",
                    c.detail,
                )
            )
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


_fmt = facts.full


def _na(form, name, why, status="n/a", passed=True):
    return Check(form, name, passed, detail=why, status=status)


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
        self.problem = None
        self.reduced = None
        if form == "fenchel":
            try:
                self.problem = cp.Problem(cp.Minimize(d.divergence(self.u, self.z, form) + extra))
            except FormError:  # no CVXPY Phi*: the reduced block only
                self.problem = None
            # Phi*(u) is constant in z: without it the block is better scaled at |u| >> 1
            self.reduced = cp.Problem(cp.Minimize(d.phi(self.z) - d.coupling(self.u, self.z) + extra))
        else:
            self.problem = cp.Problem(cp.Minimize(d.divergence(self.u, self.z, form) + extra))
        self.pclass = cvxsolve.combine_classes(d.problem_class(form), "QP")

    def solve(self, U, C=None, s=0.0, allow_inaccurate=False):
        self.u.value = U
        self.c.value = np.zeros(self.c.shape) if C is None else C
        self.s.value = s
        block = f"verify {self.form} z-block"
        try:
            if self.problem is not None:
                cvxsolve.solve(
                    self.problem,
                    self.pclass,
                    solver=self.solver,
                    block=block,
                    accuracy="tight",
                    allow_inaccurate=allow_inaccurate,
                )
                return np.array(self.z.value), float(self.problem.value)
        except SolverError:
            if self.reduced is None:
                raise
        cvxsolve.solve(
            self.reduced,
            self.pclass,
            solver=self.solver,
            block=block + " (Phi* dropped)",
            accuracy="tight",
            allow_inaccurate=allow_inaccurate,
        )
        return np.array(self.z.value), float(self.reduced.value + np.sum(self.d.phi_star_value(U)))


class _UBlock:
    """``min_u D(u, z) + <c, u> + s ||u||^2`` with Parameters z, c, s (the u-prox: ``c = -w/t``,
    ``s = 1/(2t)``; written so that the problem is DPP)."""

    def __init__(self, d, form, n, m, solver):
        k = d.out_dim(n)
        self.d, self.form, self.solver = d, form, solver
        self.zp = cp.Parameter((k, m), name="z")
        self.c = cp.Parameter((n, m), name="c")
        self.s = cp.Parameter(nonneg=True, name="s")
        self.u = cp.Variable((n, m), name="u")
        if form == "fenchel":
            obj = d.phi_star(self.u) - d.coupling(self.u, self.zp)
        else:
            obj = d.joint(self.u, self.zp)
        extra = cp.sum(cp.multiply(self.c, self.u)) + self.s * cp.sum_squares(self.u)
        self.problem = cp.Problem(cp.Minimize(obj + extra))
        self.pclass = cvxsolve.combine_classes(d.problem_class(form), "QP")

    def solve(self, Z, Wc, t):
        """``argmin_u D(u, z) + ||u - w||^2/(2t)`` (``t = inf``: ``argmin_u D(u, z)``)."""
        self.zp.value, self.c.value, self.s.value = Z, -Wc / t, 1.0 / (2.0 * t)
        cvxsolve.solve(
            self.problem,
            self.pclass,
            solver=self.solver,
            block=f"verify {self.form} u-block",
            accuracy="tight",
            allow_inaccurate=True,
        )
        return np.array(self.u.value)


def _scaled_err(Z, F, U):
    scale = np.maximum(1.0, np.abs(U).max(axis=0))
    return np.abs(Z - F).max(axis=0) / scale


def solver_can_take(solver, problem_class):
    """``True`` when the pinned ``solver`` handles problems of ``problem_class``.

    Parameters
    ----------
    solver : str
    problem_class : {"QP", "SOC", "EXP"}

    Returns
    -------
    bool
    """
    return str(solver).upper() in cvxsolve.PREFERENCE[problem_class]


def verify(
    divergence, forms=None, n_random=200, n_grid=2001, seed=0, solver=None, large=LARGE, unique_tol=1e-3, verbose=False
):
    """Check every claim a divergence atom makes; return a :class:`VerifyReport`.

    Parameters
    ----------
    divergence : Divergence or str
        An atom instance, a class or a registered name.
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
    verbose : bool
        Print a line per form as it finishes.

    Returns
    -------
    VerifyReport
        One :class:`Check` per (form, check); truthy when all passed, ``str()`` gives the table.

    Raises
    ------
    SolverError
        The pinned solver is not installed, or cannot take the atom's problems (e.g. OSQP
        and an exponential-cone atom): that is not a property of the atom.
    """
    t0 = time.perf_counter()
    d = get_divergence(divergence)
    forms = list(d.forms) if forms is None else [d.check_form(f) for f in forms]
    if solver is not None:
        cvxsolve.candidate_solvers(solver=solver)  # a missing solver is an error, not a failed check
        for form in forms:
            pclass = cvxsolve.combine_classes(d.problem_class(form), "QP")
            if d.has_dsl(form) and not solver_can_take(solver, pclass):
                raise SolverError(
                    f"solver={solver!r} cannot solve {pclass} problems, which the {form!r} form of {d!r} needs; "
                    f"solvers for {pclass}: {', '.join(cvxsolve.PREFERENCE[pclass])}"
                )
    rng = np.random.default_rng(seed)
    n = d.verify_dim()

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
        checks.extend(_form_checks(d, form, groups, rng, solver, unique_tol))
        if verbose:
            print(f"{d!r} {form}: done")
    return VerifyReport(d, checks, time.perf_counter() - t0)


def _guard(form, name, fn, *args):
    """Run one check; an unexpected exception becomes a FAIL row (never a traceback)."""
    try:
        return fn(*args)
    except (KeyboardInterrupt, SystemExit):
        raise
    except Exception as exc:  # noqa: BLE001 - a user declaration can raise anything
        msg = " ".join(str(exc).split())[:300]
        return Check(
            form,
            name,
            False,
            detail=f"could not be checked: {type(exc).__name__}: {msg}",
            failures=[f"{type(exc).__name__}: {msg}"],
        )


def _form_checks(d, form, groups, rng, solver, unique_tol):
    out = []
    dcp = _guard(form, "dcp", _check_dcp, d, form)
    out.append(dcp)
    z_dsl = dcp.passed and dcp.status == "run"  # the z-block exists in CVXPY and is DCP
    full_dsl = z_dsl and d.has_dsl(form)  # the u-block too
    skip = "skipped: the CVXPY declaration is not DCP (see the dcp row)"

    def unavailable(name, why):
        if not dcp.passed:
            return _na(form, name, skip, "skip", passed=False)
        return _na(form, name, why)

    if z_dsl:
        out.extend(
            _guard_many(form, ("argmin", "unique"), _check_argmin_unique, d, form, groups, rng, solver, unique_tol)
        )
    elif dcp.passed and d.elementwise:
        out.extend(_guard_many(form, ("argmin", "unique"), _check_argmin_numeric, d, form, groups, rng, unique_tol))
    else:
        why = "n/a: a vector atom without CVXPY expressions has no reference minimiser"
        out += [unavailable("argmin", why), unavailable("unique", why)]
    name = "fenchel-young" if form == "fenchel" else "zero"
    preimage = _cvx_zero_preimage(d, form, solver) if form == "joint" and full_dsl and not d.elementwise else None
    out.append(
        _guard(
            form,
            name,
            _fact_row,
            form,
            name,
            lambda *a: facts.check_zero(*a, zero_preimage=preimage),
            d,
            form,
            groups,
            rng,
        )
    )
    if z_dsl:
        out.append(_guard(form, "values", _check_values, d, form, groups, rng))
    else:
        out.append(unavailable("values", "n/a: no CVXPY expressions (numeric declaration)"))
    if dcp.passed:
        out.append(_guard(form, "prox", _check_prox, d, form, rng, solver, z_dsl))
        out.append(_guard(form, "prox-u", _check_prox_u, d, form, rng, solver, full_dsl))
    else:
        out += [unavailable("prox", ""), unavailable("prox-u", "")]
    out.extend(_fact_rows(d, form, groups, rng))
    return out


def _guard_many(form, names, fn, *args):
    try:
        return fn(*args)
    except (KeyboardInterrupt, SystemExit):
        raise
    except Exception as exc:  # noqa: BLE001
        msg = " ".join(str(exc).split())[:300]
        return [Check(form, nm, False, detail=f"could not be checked: {type(exc).__name__}: {msg}") for nm in names]


def _has_z_dsl(d, form):
    """The z-block exists in CVXPY (Fenchel-Young: ``phi`` alone is enough)."""
    if d.has_dsl(form):
        return True
    if form != "fenchel":
        return False
    try:
        d.phi(cp.Variable((d.out_dim(d.verify_dim()), 1)))
        return True
    except (FormError, NotImplementedError):
        return False


# ---------------------------------------------------------------------------- dcp
_PIECES = {"fenchel": (("phi", "Phi(z)"), ("phi_star", "Phi*(u)")), "joint": (("joint", "D(u, z)"),)}


def _check_dcp(d, form):
    n = d.verify_dim()
    k = d.out_dim(n)
    m = 3
    if not _has_z_dsl(d, form):
        return Check(form, "dcp", True, detail="n/a: numeric declaration (no CVXPY expressions)", status="n/a")
    notes, fails = [], []
    ok = True
    for piece, label in _PIECES[form]:
        try:
            if piece == "phi":
                expr = d.phi(cp.Variable((k, m)))
            elif piece == "phi_star":
                expr = d.phi_star(cp.Variable((n, m)))
            else:
                expr = d.joint(cp.Variable((n, m)), cp.Variable((k, m)))
        except FormError:
            notes.append(f"{piece}: not declared in CVXPY (that block has no CVXPY formulation)")
            continue
        except Exception as exc:  # noqa: BLE001 - a user callable failing on a CVXPY variable
            ok = False
            fails.append(
                f"{piece} could not be built on a CVXPY variable: {type(exc).__name__}: "
                f"{' '.join(str(exc).split())[:200]}"
            )
            continue
        if not isinstance(expr, cp.Expression) or expr.size != 1:
            ok = False
            fails.append(
                f"{piece} must return a scalar CVXPY expression (the sum over entries); got "
                f"{type(expr).__name__} of shape {getattr(expr, 'shape', '?')}"
            )
            continue
        if not expr.is_convex():
            ok = False
            curv = expr.curvature.lower()
            what = "concave" if curv == "concave" else f"of {curv} curvature"
            fails.append(
                f"{piece} ({label}) is {what} by CVXPY's DCP rules; it must be convex"
                + (" jointly in (u, z)" if piece == "joint" else "")
            )
    if ok:
        up, zv = cp.Parameter((n, m)), cp.Variable((k, m))
        uv, zp = cp.Variable((n, m)), cp.Parameter((k, m))
        for label, build in (
            (
                "the z-block min_z D(u, z)",
                lambda: d.divergence(up, zv, form) if d.has_dsl(form) else d.phi(zv) - d.coupling(up, zv),
            ),
            ("the u-block min_u D(u, z)", lambda: d.divergence(uv, zp, form)),
        ):
            try:
                prob = cp.Problem(cp.Minimize(build()))
            except FormError:
                continue
            if not prob.is_dcp(dpp=True):
                ok = False
                fails.append(f"{label} is not DCP and DPP (u and z as CVXPY parameters)")
    detail = "z- and u-blocks DCP and DPP" if ok else "the declaration is not DCP"
    if notes:
        detail += "; " + "; ".join(notes)
    return Check(form, "dcp", ok, detail=detail, failures=fails)


# ---------------------------------------------------------------------------- argmin and uniqueness
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


def _argmin_rows(form, results, tol, unique_tol, groups, how):
    worst, worst_u = 0.0, 0.0
    fails, ufails, notes = [], [], []
    ok = uok = True
    for gname, res in results.items():
        if isinstance(res, str):
            ok = uok = False
            notes.append(f"{gname}: {res}")
            continue
        U, Z, F, Zp, Zm = res
        err = _scaled_err(Z, F, U)
        worst = max(worst, float(err.max()))
        for j in np.argsort(-err)[:5]:
            if err[j] > tol:
                ok = False
                fails.append(f"u={_fmt(U[:, j])} ({gname}): argmin={_fmt(Z[:, j])}, forward={_fmt(F[:, j])}")
        if Zp is None:
            continue
        spread = _scaled_err(Zp, Zm, U)
        worst_u = max(worst_u, float(spread.max()))
        for j in np.argsort(-spread)[:5]:
            if spread[j] > unique_tol:
                uok = False
                ufails.append(f"u={_fmt(U[:, j])} ({gname}): minimisers from {_fmt(Zm[:, j])} to {_fmt(Zp[:, j])}")
    n_inputs = sum(U.shape[1] for U in groups.values())
    detail = f"{n_inputs} inputs ({', '.join(groups)}){how}"
    if notes:
        detail += "; " + "; ".join(notes)
    return [
        Check(form, "argmin", ok, worst, tol, detail, fails),
        Check(
            form, "unique", uok, worst_u, unique_tol, "tilted minimisers agree" if uok else "argmin not unique", ufails
        ),
    ]


def _check_argmin_unique(d, form, groups, rng, solver, unique_tol):
    blocks = {}
    results = {}
    for gname, U in groups.items():
        F = d.forward(U)
        try:
            Z, _ = _solve_group(blocks, d, form, U, solver)
        except SolverError as exc:
            results[gname] = str(exc)
            continue
        eps = 1e-6  # absolute: the slope margins of piecewise-linear atoms do not grow with |u|
        C = rng.choice([-1.0, 1.0], size=F.shape) * eps
        try:
            Zp, _ = _solve_group(blocks, d, form, U, solver, C)
            Zm, _ = _solve_group(blocks, d, form, U, solver, -C)
        except SolverError as exc:
            results[gname] = f"(tilted) {exc}"
            continue
        results[gname] = (U, Z, F, Zp, Zm)
    return _argmin_rows(form, results, d.argmin_tol, unique_tol, groups, "")


def _numeric_minimiser(d, form, U, tilt=None):
    """``argmin_z D(u, z) + tilt z`` per entry of an elementwise atom, by numeric 1-D minimisation."""
    from .fast.numeric_prox import bracket_minimum, minimize_scalar

    u = U.reshape(-1)
    F = np.asarray(d.forward(u[None, :]), dtype=float)[0]
    g = np.zeros_like(u) if tilt is None else tilt.reshape(-1)

    def h(x, idx):
        with np.errstate(invalid="ignore", over="ignore"):
            return (
                np.asarray(d.divergence_value(u[idx][None, :], x[None, :], form), dtype=float).reshape(-1) + g[idx] * x
            )

    P = d.z_domain().project(F[None, :])[0]
    step = 1e-3 * (1.0 + np.abs(P))
    lo, hi = bracket_minimum(h, P, step)
    bad = np.isnan(lo)
    lo, hi = np.where(bad, P, lo), np.where(bad, P, hi)
    return minimize_scalar(h, lo, hi).reshape(U.shape), bad.reshape(U.shape)


def _check_argmin_numeric(d, form, groups, rng, unique_tol):
    results = {}
    for gname, U in groups.items():
        F = d.forward(U)
        Z, bad = _numeric_minimiser(d, form, U)
        if bad.any():
            results[gname] = f"D(u, .) has no minimiser at u={_fmt(U[bad][:3])}"
            continue
        C = rng.choice([-1.0, 1.0], size=F.shape) * 1e-6
        Zp, _ = _numeric_minimiser(d, form, U, C)
        Zm, _ = _numeric_minimiser(d, form, U, -C)
        results[gname] = (U, Z, F, Zp, Zm)
    return _argmin_rows(
        form, results, max(d.argmin_tol, 1e-6), unique_tol, groups, " by numeric 1-D minimisation (no CVXPY)"
    )


def _cvx_zero_preimage(d, form, solver):
    """``Z -> (argmin_u D(u, z), min values)`` per column, by the CVXPY u-block (vector atoms)."""

    def solve(Z):
        k, m = Z.shape
        blk = _UBlock(d, form, d.in_dim(k), m, solver)
        U = blk.solve(Z, np.zeros((d.in_dim(k), m)), np.inf)
        return U, np.asarray(d.divergence_value(U, Z, form), dtype=float)

    return solve


# ---------------------------------------------------------------------------- values
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
    Zr = d.forward(U + rng.normal(scale=1.0, size=U.shape))
    scale = 1.0 + np.abs(U).max(axis=0) ** 2
    pairs = []
    for j in range(U.shape[1]):
        u, z = U[:, j], Zr[:, j]
        if form == "fenchel":
            pairs.append(("phi", d.phi(cp.Constant(z)), d.phi_value(z), scale[j], u, z))
            try:
                pairs.append(("phi_star", d.phi_star(cp.Constant(u)), d.phi_star_value(u), scale[j], u, z))
            except FormError:
                notes.append("phi_star has no CVXPY expression: Phi* checked through the optimal value only")
        else:
            pairs.append(("joint", d.joint(cp.Constant(u), cp.Constant(z)), d.joint_value(u, z), scale[j], u, z))
    skipped = set()
    for label, expr, ref, sc, u, z in pairs:
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
            at = (
                f"z={_fmt(z)}"
                if label == "phi"
                else f"u={_fmt(u)}"
                if label == "phi_star"
                else f"u={_fmt(u)}, z={_fmt(z)}"
            )
            fails.append(f"{label} at {at}: CVXPY value {got!r} vs numpy {ref!r}")
    notes = sorted(set(notes))
    if skipped:
        notes.append(f"{', '.join(sorted(skipped))} checked through the optimal value only (auxiliary variables)")
    blk = _ZBlock(d, form, U.shape[0], U.shape[1], None)
    try:
        _, val = blk.solve(U)
        expected = 0.0 if form == "fenchel" else float(np.sum(d.joint_value(U, F)))
        err = abs(val - expected) / float(np.sum(scale))
        worst = max(worst, err)
        if err > tol:
            ok = False
            what = "Phi and Phi* are not conjugate" if form == "fenchel" else "joint_value(u, forward(u))"
            fails.append(f"optimal value of min_z D(u, z) is {val!r}, expected {expected!r} ({what})")
    except SolverError as exc:
        ok = False
        notes.append(str(exc))
    return Check(form, "values", ok, worst, tol, "; ".join(notes) or "CVXPY == numpy", fails)


# ---------------------------------------------------------------------------- proximal maps
def _prox_reference(d, form, U, V, t, blk, side):
    """The reference prox at step ``t``: CVXPY (``blk``) or numeric 1-D minimisation."""
    if blk is not None:
        if side == "z":
            # an inaccurate reference is fine: the comparison falls back on the objectives
            Z, _ = blk.solve(U, -V / t, 1.0 / (2 * t), allow_inaccurate=True)
            return Z
        return blk.solve(U, V, t)
    from .fast.numeric_prox import bracket_minimum, minimize_scalar

    u, v = U.reshape(-1), V.reshape(-1)

    def h(x, idx):
        with np.errstate(invalid="ignore", over="ignore"):
            if side == "z":
                val = d.divergence_value(u[idx][None, :], x[None, :], form)
            else:
                val = d.divergence_value(x[None, :], u[idx][None, :], form)
            return np.asarray(val, dtype=float).reshape(-1) + (x - v[idx]) ** 2 / (2.0 * t)

    start = d.z_domain().project(v[None, :])[0] if side == "z" else v
    lo, hi = bracket_minimum(h, start, 1e-3 * (1.0 + np.abs(start)) * max(1.0, math.sqrt(t)))
    return minimize_scalar(h, lo, hi).reshape(V.shape)


def _prox_errors(d, form, side, A, X, Ref, P, t, tol):
    """Per-column error of a prox ``P`` against the reference ``Ref``: the scaled distance, or 0
    where it exceeds ``tol`` but ``P`` is at least as good for the prox objective (a reference
    solve of a nearly flat problem, at large ``t``, is less accurate than the prox; a wrong prox
    is worse). Also returns whether the objectives decided a column."""
    err = _scaled_err(Ref, P, np.concatenate([A, X], axis=0))

    def obj(Y):
        with np.errstate(invalid="ignore", over="ignore"):
            val = d.divergence_value(A, Y, form) if side == "z" else d.divergence_value(Y, A, form)
            return np.asarray(val, dtype=float) + np.sum((Y - X) ** 2, axis=0) / (2.0 * t)

    fp, fr = obj(P), obj(Ref)
    as_good = np.isfinite(fp) & (fp <= fr + 1e-9 * (1.0 + np.abs(fr)))
    by_obj = as_good & (err > tol)
    return np.where(by_obj, 0.0, err), bool(np.any(by_obj))


def _check_prox(d, form, rng, solver, dsl):
    n = d.verify_dim()
    m = 40
    user = getattr(d, "declared_prox", lambda f, side="z": None)(form)
    if not dsl and not d.elementwise:
        return _na(form, "prox", "n/a: a vector atom without CVXPY expressions has no reference prox")
    kind = "user numpy prox" if user is not None else f"{d.prox_kind(form) or 'no'} prox_z"
    if user is None and d.prox_kind(form) in (None, "dsl"):
        return _na(form, "prox", "n/a: no numpy prox (each prox is a CVXPY solve of the whole array)")
    tol = d.argmin_tol
    if user is None and d.prox_kind(form) == "numeric":
        tol = max(tol, 1e-6)
    U = d.sample_inputs(rng, n, m)
    V = d.forward(d.sample_inputs(rng, n, m)) + rng.normal(scale=0.5, size=(d.out_dim(n), m))
    blk = _ZBlock(d, form, n, m, solver) if dsl else None
    ok, worst, fails, by_obj = True, 0.0, [], False
    for t in PROX_STEPS:
        try:
            Z = _prox_reference(d, form, U, V, t, blk, "z")
        except SolverError as exc:
            return Check(form, "prox", False, detail=f"the reference solve failed at t={t!r}: {exc}")
        P = d.declared_prox_z(U, V, t, form) if user is not None else d.prox_z(U, V, t, form)
        err, better = _prox_errors(d, form, "z", U, V, Z, P, t, tol)
        by_obj = by_obj or better
        worst = max(worst, float(err.max()))
        for j in np.flatnonzero(err > tol)[:3]:
            ok = False
            fails.append(
                f"t={t!r}, u={_fmt(U[:, j])}, v={_fmt(V[:, j])}: reference {_fmt(Z[:, j])}, {kind} {_fmt(P[:, j])}"
            )
    ref = "CVXPY" if dsl else "numeric 1-D minimisation"
    detail = f"{kind} == {ref}, t from 1e-6 to 1e9" + (
        " (objectives where the reference is less accurate)" if by_obj else ""
    )
    if user is not None and ok:
        from .fast.registry import mark_certified

        mark_certified(d, form, "prox")
        detail += " (certified: the fast path uses it)"
    return Check(form, "prox", ok, worst, tol, detail, fails)


def _check_prox_u(d, form, rng, solver, dsl):
    user = getattr(d, "declared_prox", lambda f, side="z": None)(form, "u")
    kind = d.u_prox_kind(form)
    if user is None and kind in (None, "dsl"):
        return _na(form, "prox-u", "n/a: no u-prox (the W-step needs D smooth in u or a u-prox)")
    if not dsl and not d.elementwise:
        return _na(form, "prox-u", "n/a: no reference (no CVXPY expressions, not elementwise)")
    n = d.verify_dim()
    m = 40
    tol = d.argmin_tol if (user is not None or kind == "exact") else max(d.argmin_tol, 1e-6)
    Zs = d.forward(d.sample_inputs(rng, n, m))
    Wc = d.sample_inputs(rng, n, m)
    blk = _UBlock(d, form, n, m, solver) if dsl else None
    ok, worst, fails, by_obj = True, 0.0, [], False
    label = "user numpy prox_u" if user is not None else f"{kind} prox_u"
    for t in PROX_STEPS:
        try:
            Uref = _prox_reference(d, form, Zs, Wc, t, blk, "u")
        except SolverError as exc:
            return Check(form, "prox-u", False, detail=f"the reference solve failed at t={t!r}: {exc}")
        P = np.asarray(user(Zs, Wc, t), dtype=float) if user is not None else d.prox_u(Zs, Wc, t, form)
        err, better = _prox_errors(d, form, "u", Zs, Wc, Uref, P, t, tol)
        by_obj = by_obj or better
        worst = max(worst, float(err.max()))
        for j in np.flatnonzero(err > tol)[:3]:
            ok = False
            fails.append(
                f"t={t!r}, z={_fmt(Zs[:, j])}, w={_fmt(Wc[:, j])}: reference {_fmt(Uref[:, j])}, "
                f"{label} {_fmt(P[:, j])}"
            )
    detail = f"{label} == {'CVXPY' if dsl else 'numeric 1-D minimisation'}, t from 1e-6 to 1e9" + (
        " (objectives where the reference is less accurate)" if by_obj else ""
    )
    if user is not None and ok:
        from .fast.registry import mark_certified

        mark_certified(d, form, "prox_u")
        detail += " (certified)"
    return Check(form, "prox-u", ok, worst, tol, detail, fails)


# ---------------------------------------------------------------------------- facts
def _fact_row(form, name, fn, *args):
    c = fn(*args)
    return Check(form, name, c.ok, c.error, c.tol, c.detail, c.failures, "run" if c.available else "n/a")


def _declared(d, form, key):
    facts_of = getattr(d, "declared_facts", None)
    return None if facts_of is None else facts_of(form).get(key)


def _source(d, form, key):
    return "declared" if _declared(d, form, key) is not None else "derived"


def _fact_rows(d, form, groups, rng):
    out = []
    U = np.concatenate([groups["random"], groups["edge"], groups.get("grid", groups["random"])], axis=1)
    Us = U[:, :: max(1, U.shape[1] // 300)]
    if form == "fenchel":
        L = d.u_lipschitz(form)
        row = _guard(form, "lipschitz", _fact_row, form, "lipschitz", facts.check_lipschitz, d, U, L, rng)
        if L is not None:
            row.detail += f" ({_source(d, form, 'lipschitz')})"
        out.append(row)
    else:
        L = d.u_lipschitz(form)
        Z = facts._domain_states(d, rng, Us)
        row = _guard(form, "u-gradient", _fact_row, form, "u-gradient", facts.check_u_gradient, d, form, Us, Z, L)
        out.append(row)
    row = _guard(form, "domain", _fact_row, form, "domain", facts.check_domain, d, form, Us, rng)
    row.detail += f" ({_source(d, form, 'domain')})"
    out.append(row)
    if d.elementwise:
        out.append(
            _guard(
                form, "elementwise", _fact_row, form, "elementwise", facts.check_elementwise, d, form, Us[:, :200], rng
            )
        )
    mu = d.u_quadratic(form)
    if mu is not None:
        row = _guard(
            form, "u-quadratic", _fact_row, form, "u-quadratic", facts.check_u_quadratic, d, form, Us[:, :200], rng, mu
        )
        row.detail += f" ({_source(d, form, 'u_quadratic')})"
        out.append(row)
    kappa = d.coupling_scale(form)
    if form == "joint" and kappa is not None:
        row = _guard(
            form, "coupling", _fact_row, form, "coupling", facts.check_coupling, d, form, Us[:, :200], rng, kappa
        )
        row.detail += f" ({_source(d, form, 'coupling')})"
        out.append(row)
    return out


# ---------------------------------------------------------------------------- loading a user's atom
def load_atom(spec):
    """The divergence atom named by ``spec``.

    Parameters
    ----------
    spec : str
        ``"PATH.py:NAME"`` (attribute ``NAME`` of the Python file ``PATH.py``, which is
        run), ``"module:NAME"`` (attribute of an importable module), or a registered name.
        The attribute may be an atom, a :class:`Divergence` subclass (instantiated without
        arguments) or a function of no arguments returning an atom.

    Returns
    -------
    Divergence

    Raises
    ------
    UnknownAtomError
        A registered name that does not exist.
    ValidationError
        A file or module that cannot be loaded, a missing attribute, or an attribute that
        is not an atom (the message says which).
    """
    if not isinstance(spec, str) or not spec:
        raise ValidationError(f"an atom is named by 'PATH.py:NAME', 'module:NAME' or a registered name; got {spec!r}")
    if ":" not in spec or (len(spec) > 1 and spec[1] == ":" and spec.count(":") == 1 and spec.endswith(".py")):
        if spec.endswith(".py"):
            raise ValidationError(f"{spec!r}: name the atom in the file as PATH.py:NAME")
        return get_divergence(spec)
    where, _, attr = spec.rpartition(":")
    if not attr.isidentifier():
        raise ValidationError(f"{spec!r}: {attr!r} is not a Python name (expected PATH.py:NAME or module:NAME)")
    if where.endswith(".py") or os.sep in where or "/" in where:
        path = os.path.abspath(where)
        if not os.path.isfile(path):
            raise ValidationError(f"{spec!r}: no such file {where!r}")
        mod_name = f"_cvxlift_user_atom_{abs(hash(path))}"
        try:
            mspec = importlib.util.spec_from_file_location(mod_name, path)
            module = importlib.util.module_from_spec(mspec)
            sys.modules[mod_name] = module
            mspec.loader.exec_module(module)
        except Exception as exc:  # noqa: BLE001 - the user's file
            sys.modules.pop(mod_name, None)
            raise ValidationError(
                f"{spec!r}: running {where!r} failed: {type(exc).__name__}: {' '.join(str(exc).split())[:300]}"
            ) from None
        label = where
    else:
        try:
            module = importlib.import_module(where)
        except Exception as exc:  # noqa: BLE001 - the user's module
            raise ValidationError(
                f"{spec!r}: importing module {where!r} failed: {type(exc).__name__}: {' '.join(str(exc).split())[:300]}"
            ) from None
        label = f"module {where!r}"
    if not hasattr(module, attr):
        names = sorted(
            k
            for k, v in vars(module).items()
            if isinstance(v, Divergence) or isinstance(v, type) and issubclass(v, Divergence) and v is not Divergence
        )
        hint = f"; atoms there: {', '.join(names)}" if names else ""
        raise ValidationError(f"{spec!r}: {label} has no attribute {attr!r}{hint}")
    obj = getattr(module, attr)
    if isinstance(obj, type) and issubclass(obj, Divergence):
        try:
            obj = obj()
        except CvxliftError:
            raise
        except Exception as exc:  # noqa: BLE001
            raise ValidationError(f"{spec!r}: {attr}() failed: {type(exc).__name__}: {exc}") from None
    elif callable(obj) and not isinstance(obj, Divergence):
        try:
            obj = obj()
        except CvxliftError:
            raise
        except Exception as exc:  # noqa: BLE001
            raise ValidationError(f"{spec!r}: calling {attr}() failed: {type(exc).__name__}: {exc}") from None
    if not isinstance(obj, Divergence):
        raise ValidationError(
            f"{spec!r}: {attr} is a {type(obj).__name__}, not a divergence atom "
            "(declare one with cvxlift.declare_divergence)"
        )
    return obj


__all__ = ["Check", "VerifyReport", "verify", "load_atom", "solver_can_take", "PROX_STEPS", "UnknownAtomError"]
