r"""Certification of user-written numpy pieces against the DSL: :func:`certify`, :func:`register_solver`.

**A prox.** ``certify(atom)`` compares the atom's numpy z-prox
:math:`\mathrm{prox}_z(u, v, t) = \arg\min_z D(u, z) + \|z - v\|^2/(2t)` (its ``prox_phi`` /
``prox_joint``) with the CVXPY solution of the same problem built from the atom's own
expressions by :mod:`cvxlift.assembly` (the X-step block with an identity next layer:
:math:`\min_z r D(u, z) + \|sz - sv\|^2`, with :math:`r = 2t, s = 1` for :math:`t \le 1` and
:math:`r = 1, s = 1/\sqrt{2t}` for :math:`t > 1`, so that neither term is scaled away), for
:math:`t = 10^{-6}, 10^{-5}, \dots, 10^{9}`, on random inputs, the atom's kinks and domain
boundaries (``edge_inputs``, points on and outside the range of the map), and large
:math:`|u|, |v|` (:math:`10^3, 10^6`). A column passes when the scaled error
:math:`\|p - z\|_\infty / \max(1, \|u\|_\infty, \|v\|_\infty)` is at most the atom's
``argmin_tol``, or, where the CVXPY solve is the inaccurate one, when the prox objective
:math:`G` at the numpy answer :math:`p` is no larger than at CVXPY's (to rounding) and no
coordinate step of length :math:`h = \mathrm{tol}\cdot\max(1, |u|, |v|)` from :math:`p`
lowers it (for a scalar atom, convexity then puts the minimiser within :math:`h` of
:math:`p`). A form that passes is recorded with :func:`cvxlift.fast.registry.mark_certified`
(``part="prox"``).

**A block solver.** ``certify(solver, kind)`` runs a solver with the signature of the
:mod:`cvxlift.fast` function of ``kind`` on the battery (:mod:`cvxlift.battery`: the
instances the built-in solvers pass, or the same recipes around ``atoms``) where its
``applies`` predicate holds, and grades each answer with
:meth:`cvxlift.reference.BlockReference.check` (objective gap, distance, residual).
:func:`register_solver` certifies and, on success only, puts the solver into the fast
registry; a failing solver raises :class:`~cvxlift.exceptions.CertificationError`.
"""

import math
import time
from dataclasses import dataclass, field

import numpy as np

from . import assembly, battery
from .divergences import Divergence, get_divergence
from .divergences.identity import Identity
from .exceptions import CertificationError, CvxliftError, SolverError, ValidationError
from .reference import ITER_RTOL, KINDS, OBJ_RTOL, RESIDUAL_TOL, block_problem, solve_tight

#: The step sizes ``t`` of the prox certification: 1e-6, 1e-5, ..., 1e9.
T_VALUES = tuple(10.0**k for k in range(-6, 10))

#: Signatures of the solvers :func:`certify` and :func:`register_solver` accept, by kind.
SIGNATURES = {
    "w_step": "solver(A, Z, d, form, lam, rho) -> (W, b)",
    "x_step": "solver(U0, W, b, Znext, d_prev, f_prev, d_next, f_next, lam_prev, lam_next) -> Z",
    "output_step": "solver(U0, Y, d, form, lam, loss) -> Z",
    "joint_x_step": "solver(U0, Y, weights, biases, divs, forms, lams, loss) -> [X_1, ..., X_{L+1}]",
    "lifted_predict": "solver(X, weights, biases, divs, forms, lams) -> [X_1, ..., X_{L+1}]",
}


@dataclass
class InstanceResult:
    r"""The outcome of one certification instance.

    Attributes
    ----------
    instance : str
        The instance's name (for a prox: ``"<form> t=<t>"``).
    passed : bool
    objective_gap : float
        Relative objective gap (block: as in :class:`~cvxlift.reference.CheckReport`; prox:
        the largest :math:`(G(p) - G(z)) / (1 + |G(z)| + \max(1, |u|, |v|)^2)` over the
        columns, ``G`` the prox objective, ``p`` the numpy answer, ``z`` CVXPY's).
    distance : float
        Block: the largest relative distance row; prox: the largest scaled error.
    residual : float
        Block: the optimality residual (NaN where the block has none); prox: NaN.
    severity : float
        The largest ``value / tol`` of the instance's checks (> 1 fails).
    worst : str
        The worst quantity of the instance, where it is, and the numbers.
    report : CheckReport or None
        The block check (``None`` for a prox).
    """

    instance: str
    passed: bool
    objective_gap: float = float("nan")
    distance: float = float("nan")
    residual: float = float("nan")
    severity: float = 0.0
    worst: str = ""
    report: object = None


@dataclass
class CertifyReport:
    """What :func:`certify` found.

    Attributes
    ----------
    target : str
        What was certified (``"prox of ReLU() (fenchel)"``, ``"w_step solver my_ridge"``).
    kind : str
        ``"prox"`` or the block kind.
    results : list of InstanceResult
    seconds : float
    certified : list of str
        For a prox: the forms that passed (and were recorded with ``mark_certified``).
    """

    target: str
    kind: str
    results: list
    seconds: float = 0.0
    certified: list = field(default_factory=list)

    @property
    def passed(self):
        """``True`` when there was at least one instance and every instance passed."""
        return bool(self.results) and all(r.passed for r in self.results)

    def __bool__(self):
        return self.passed

    @property
    def worst(self):
        """The instance with the largest severity (a failed one when any failed)."""
        if not self.results:
            return None
        failed = [r for r in self.results if not r.passed]
        return max(failed or self.results, key=lambda r: r.severity)

    def failed(self):
        """The failed instances.

        Returns
        -------
        list of InstanceResult
        """
        return [r for r in self.results if not r.passed]

    def table(self, limit=10):
        """The report as text: a summary, the ``limit`` instances with the largest violations,
        and the worst instance.

        Parameters
        ----------
        limit : int

        Returns
        -------
        str
        """
        n, nf = len(self.results), len(self.failed())
        lines = [
            f"certify {self.target}: {'PASSED' if self.passed else 'FAILED'} "
            f"({n - nf}/{n} instances passed, {self.seconds:.1f} s)"
        ]
        if not self.results:
            lines.append("  no instance to certify on")
            return "\n".join(lines)
        rows = [("instance", "result", "objective gap", "distance", "residual")]
        shown = sorted(self.results, key=lambda r: -r.severity)[:limit]
        for r in shown:
            rows.append(
                (r.instance, "pass" if r.passed else "FAIL", _num(r.objective_gap), _num(r.distance), _num(r.residual))
            )
        widths = [max(len(x[i]) for x in rows) for i in range(5)]
        lines.append(f"  the {len(shown)} instances with the largest violations:")
        for x in rows:
            lines.append("  " + "  ".join(x[i].ljust(widths[i]) for i in range(5)))
        w = self.worst
        lines.append(f"worst instance: {w.instance}: {w.worst}")
        return "\n".join(lines)

    def __str__(self):
        return self.table()


def _num(x):
    return "-" if x is None or (isinstance(x, float) and math.isnan(x)) else f"{x:.2e}"


# ----------------------------------------------------------------------------------- prox
def _fmt(col):
    col = np.atleast_1d(np.asarray(col, dtype=float))
    return "[" + ", ".join(repr(float(x)) for x in col[:6]) + (", ...]" if col.size > 6 else "]")


def prox_inputs(d, seed=0):
    """The input columns of the prox certification.

    ``random``: the atom's ``sample_inputs`` and ``v`` near the range of the map;
    ``kinks``: ``u`` at the atom's ``edge_inputs`` (kinks, boundaries, ties) with ``v`` on the
    map's graph and at the same points; ``boundary``: ``v`` on and far outside the range of
    the map (saturation, domain boundaries); and :math:`|u|` and :math:`|v|` of
    :math:`10^3` and :math:`10^6` (groups ``|u|=1e+03``, ``|u|=1e+06``). Each group is solved as
    its own CVXPY problem: a solver's tolerances are relative to the whole problem, so columns
    of very different scales are not mixed.

    Parameters
    ----------
    d : Divergence
    seed : int

    Returns
    -------
    dict
        ``{group: (U, V)}``, ``U`` of ``d.verify_dim()`` rows, ``V`` of ``d.out_dim(...)`` rows.
    """
    rng = np.random.default_rng(seed)
    n = d.verify_dim()
    k = d.out_dim(n)
    s = float(d.input_scale)
    groups = {}
    U = d.sample_inputs(rng, n, 12)
    groups["random"] = (U, d.forward(d.sample_inputs(rng, n, 12)) + rng.normal(scale=0.5, size=(k, 12)))
    E = d.edge_inputs(n)
    FE = d.forward(E)
    if n == k:
        groups["kinks"] = (np.hstack([E, E]), np.hstack([FE, E]))
    else:
        groups["kinks"] = (np.hstack([E, E]), np.hstack([FE, FE + 1e-9]))
    sat = d.forward(np.hstack([np.full((n, 1), 10 * s), np.full((n, 1), -10 * s)]))
    Vb = np.hstack([sat, FE + 1e-9, FE - 1e-9, np.full((k, 1), 10 * s), np.full((k, 1), -10 * s)])
    groups["boundary"] = (d.sample_inputs(rng, n, Vb.shape[1]), Vb)
    for mag in (1e3, 1e6):  # one group per magnitude: a solver's tolerance is relative to the problem
        base = d.sample_inputs(rng, n, 4)
        base = base / np.maximum(np.abs(base).max(axis=0), 1e-12) * mag
        groups[f"|u|={mag:.0e}"] = (
            np.hstack([base, np.full((n, 1), mag), np.full((n, 1), -mag), d.sample_inputs(rng, n, 2)]),
            np.hstack(
                [
                    d.forward(base) + rng.normal(size=(k, 4)),
                    d.forward(np.full((n, 2), mag)),
                    np.full((k, 1), mag),
                    np.full((k, 1), -mag),
                ]
            ),
        )
    return groups


class _ProxProblem:
    r""":math:`\min_z D(u, z) + \|z - v\|^2/(2t)` for many columns, assembled once as the X-step
    block of a chain whose next layer is the identity (see the module docstring)."""

    def __init__(self, d, form, U, V):
        self.d, self.form = d, form
        self.U, self.V = U, V
        self.k = V.shape[0]
        try:
            self.blk = assembly.XStep(
                d, form, Identity(), "joint", self.k, self.k, U.shape[1], name=f"{d!r} prox ({form})"
            )
        except CvxliftError:
            raise
        except Exception as exc:  # a user atom whose CVXPY declaration is missing or cannot be built
            raise ValidationError(
                f"{d!r} ({form}): the CVXPY prox problem cannot be built ({type(exc).__name__}: "
                f"{exc}); certification needs the atom's CVXPY declaration (phi for the "
                "Fenchel-Young form, joint for the jointly convex form)"
            ) from exc

    def solve(self, t):
        if t <= 1.0:
            ratio, s = 2.0 * t, 1.0
        else:
            ratio, s = 1.0, 1.0 / math.sqrt(2.0 * t)
        self.blk.set_penalties(lam_prev=ratio, lam_next=1.0)
        self.blk.set(self.U, s * np.eye(self.k), np.zeros(self.k), s * self.V)
        info = solve_tight(self.blk)
        return np.asarray(self.blk.result()), info

    def objective(self, Z, t, cols=None):
        U, V = (self.U, self.V) if cols is None else (self.U[:, cols], self.V[:, cols])
        with np.errstate(all="ignore"):
            val = self.d.divergence_value(U, Z, self.form) + np.sum((Z - V) ** 2, axis=0) / (2.0 * t)
        return np.where(np.isnan(val), np.inf, val)

    def locally_minimal(self, P, t, cols, h, G, rnd):
        """Whether ``G(p +- h e_i) >= G(p) - rnd`` for every coordinate ``i`` of the columns ``cols``."""
        ok = np.ones(cols.size, dtype=bool)
        Pc = P[:, cols]
        for i in range(P.shape[0]):
            for sign in (1.0, -1.0):
                Q = Pc.copy()
                Q[i] += sign * h[cols]
                ok &= self.objective(Q, t, cols) >= G[cols] - rnd[cols]
        return ok


def _certify_prox_form(d, form, ts, seed):
    groups = prox_inputs(d, seed)
    problems = {g: _ProxProblem(d, form, U, V) for g, (U, V) in groups.items()}
    tol = float(d.argmin_tol)
    results = []
    for t in ts:
        label = f"{form} t={t:.0e}"
        worst, sev_max, err_max, gap_max, passed = None, 0.0, 0.0, -math.inf, True
        for g, pb in problems.items():
            res = _prox_group(d, form, pb, g, t, tol)
            if isinstance(res, str):
                worst, sev_max, passed = res, math.inf, False
                break
            ok, err, gap, sev, text = res
            passed &= ok
            err_max, gap_max = max(err_max, err), max(gap_max, gap)
            if worst is None or sev > sev_max:
                worst, sev_max = text, sev
        results.append(InstanceResult(label, passed, gap_max, err_max, float("nan"), sev_max, worst))
    return results


def _prox_group(d, form, pb, group, t, tol):
    """One input group at one ``t``: ``(passed, max error, max gap, severity, worst)`` or a failure text."""
    U, V = pb.U, pb.V
    try:
        Z, info = pb.solve(t)
    except SolverError as exc:
        return f"t={t:.0e}, {group} inputs: no CVXPY reference: {exc}"
    try:
        with np.errstate(all="ignore"):
            # a declared atom's fast path uses its numpy prox only once certified: test that prox
            P = np.asarray(getattr(d, "declared_prox_z", d.prox_z)(U, V, t, form), dtype=float)
        if P.shape != Z.shape:
            raise ValidationError(f"prox_z returned shape {P.shape}, expected {Z.shape}")
    except Exception as exc:  # noqa: BLE001  (the user's prox failed: a failed instance)
        return f"t={t:.0e}, {group} inputs: prox_z raised {type(exc).__name__}: {exc}"
    scale = np.maximum(1.0, np.maximum(np.abs(U).max(axis=0), np.abs(V).max(axis=0)))
    with np.errstate(all="ignore"):
        err = np.abs(P - Z).max(axis=0) / scale
    err = np.where(np.isnan(err), np.inf, err)
    GP, GZ = pb.objective(P, t), pb.objective(Z, t)
    with np.errstate(all="ignore"):  # relative to the size of D's terms (|u|^2 at large |u|)
        rel_gap = (GP - GZ) / (1.0 + np.abs(GZ) + scale**2)
    rel_gap = np.where(np.isfinite(GZ), rel_gap, np.where(np.isfinite(GP), -np.inf, 0.0))
    rel_gap = np.where(np.isnan(rel_gap), np.inf, rel_gap)
    # a column off the CVXPY point passes only when CVXPY is the inaccurate one: the numpy point
    # is no worse, and no step of h = tol * scale along a coordinate improves it (for a scalar
    # atom, convexity then puts the minimiser within h of the numpy point)
    rnd = 1e-12 * (1.0 + np.abs(GP) + scale**2)
    ok = ~(err > tol)
    if not ok.all():
        cols = np.flatnonzero(~ok)
        good = GP[cols] <= GZ[cols] + rnd[cols]
        ok[cols] = good & pb.locally_minimal(P, t, cols, tol * scale, GP, rnd)
    sev = np.where(ok, np.minimum(err / tol, 1.0), np.maximum(err / tol, 1.0 + np.maximum(rel_gap, 0.0)))
    j = int(np.argmax(sev))
    text = (
        f"t={t:.0e}, {group} input u={_fmt(U[:, j])}, v={_fmt(V[:, j])}: prox_z {_fmt(P[:, j])}, "
        f"CVXPY {_fmt(Z[:, j])} (scaled error {err[j]:.2e}, tol {tol:.0e}; prox objective "
        f"{GP[j]:.10g} vs CVXPY {GZ[j]:.10g})"
    )
    if ok[j] and err[j] > tol:
        text += "; CVXPY is the inaccurate one here: prox_z's point has the lower objective and is locally minimal"
    return bool(ok.all()), float(np.max(err)), float(np.max(rel_gap)), float(sev[j]), text


def _certify_prox(d, forms, ts, seed):
    from .fast.registry import mark_certified

    t0 = time.perf_counter()
    forms = list(d.forms) if forms is None else [d.check_form(f) for f in forms]
    results, certified = [], []
    for form in forms:
        res = _certify_prox_form(d, form, ts, seed)
        results.extend(res)
        if res and all(r.passed for r in res):
            mark_certified(d, form, "prox")
            certified.append(form)
    target = f"prox of {d!r} ({', '.join(forms)})"
    return CertifyReport(target, "prox", results, time.perf_counter() - t0, certified)


# ----------------------------------------------------------------------------------- block solvers
def _copy_args(args):
    """Fresh copies of the arrays of an instance (a solver may write into its inputs)."""
    out = []
    for a in args:
        if isinstance(a, np.ndarray):
            out.append(a.copy())
        elif isinstance(a, list) and a and isinstance(a[0], np.ndarray):
            out.append([x.copy() for x in a])
        else:
            out.append(a)
    return tuple(out)


def _instance_result(inst, rep):
    dist = [r.value for r in rep.rows if r.name.startswith("distance") and r.passed is not None]
    res = [r.value for r in rep.rows if r.name == "residual" and r.passed is not None]
    w = rep.worst
    return InstanceResult(
        inst.id,
        rep.passed,
        rep.row("objective gap").value,
        max(dist) if dist else float("nan"),
        res[0] if res else float("nan"),
        w.severity if w else 0.0,
        w.describe() if w else "",
        rep,
    )


def _select_instances(kind, applies, atoms):
    insts = battery.instances(kind, atoms)
    if applies is None:
        return insts
    out = []
    for inst in insts:
        try:
            ok = applies(**inst.props())
        except TypeError as exc:
            raise ValidationError(
                f"applies must take the keyword arguments of the {kind} registry predicates "
                f"({', '.join(inst.props())}): {exc}"
            ) from None
        if ok:
            out.append(inst)
    return out


def _certify_solver(solver, kind, applies, atoms, tolerances, label):
    t0 = time.perf_counter()
    results = []
    for inst in _select_instances(kind, applies, atoms):
        ref = inst.reference()  # (an error here is the battery's, not the solver's: it propagates)
        try:
            out = solver(*_copy_args(inst.args))
        except Exception as exc:  # noqa: BLE001  (whatever the user's solver raises fails the instance)
            results.append(
                InstanceResult(
                    inst.id, False, severity=math.inf, worst=f"the solver failed: {type(exc).__name__}: {exc}"
                )
            )
            continue
        try:
            rep = ref.check(out, **tolerances)
        except ValidationError as exc:  # an answer of the wrong shape or type
            results.append(InstanceResult(inst.id, False, severity=math.inf, worst=f"the solver's answer: {exc}"))
            continue
        results.append(_instance_result(inst, rep))
    return CertifyReport(label, kind, results, time.perf_counter() - t0)


def certify(
    target,
    kind=None,
    *,
    form=None,
    applies=None,
    atoms=None,
    ts=T_VALUES,
    seed=0,
    obj_rtol=OBJ_RTOL,
    iter_rtol=ITER_RTOL,
    residual_tol=RESIDUAL_TOL,
):
    r"""Certify a user's prox or block solver against the DSL.

    Parameters
    ----------
    target : Divergence, str, or callable
        An atom (instance or registered name): its numpy ``prox_z`` is certified in each form
        (or in ``form``) over ``ts``; each form that passes is recorded with
        :func:`cvxlift.fast.registry.mark_certified`. Or a block solver with the signature
        of the :mod:`cvxlift.fast` function of ``kind`` (see :data:`SIGNATURES`), returning
        the block's solution (a trailing :class:`~cvxlift.fast.BlockResult` is allowed).
    kind : {"w_step", "x_step", "output_step", "joint_x_step", "lifted_predict"}, optional
        The block of a solver (``None`` or ``"prox"`` for an atom).
    form : str or list of str, optional
        Prox: the form(s) to certify (default: every form of the atom).
    applies : callable, optional
        Solver: the registry predicate (keyword arguments as in
        :func:`cvxlift.fast.select`: ``atom``; ``prev``, ``next``, ``q``; ``atom``, ``loss``;
        ``layers`` (and ``loss`` for ``"joint_x_step"``)); only the instances where it holds
        are run (default: all).
    atoms : list of (Divergence, form), optional
        Solver: build the battery's recipes around these atoms (default: the built-in battery).
    ts : sequence of float
        Prox: the step sizes (default :data:`T_VALUES`, :math:`10^{-6}..10^9`).
    seed : int
        Prox: seed of the random inputs.
    obj_rtol, iter_rtol, residual_tol : float
        Solver: tolerances of :meth:`~cvxlift.reference.BlockReference.check`.

    Returns
    -------
    CertifyReport
        ``passed``, ``results`` (one :class:`InstanceResult` per instance: gaps, distance,
        residual, the worst quantity), ``worst``.
    """
    if isinstance(target, (Divergence, str)) or (isinstance(target, type) and issubclass(target, Divergence)):
        if kind not in (None, "prox"):
            raise ValidationError(f"kind must be None or 'prox' to certify an atom's prox, got {kind!r}")
        d = get_divergence(target)
        ts = [float(t) for t in ts]
        if not ts or not all(math.isfinite(t) and t > 0 for t in ts):
            raise ValidationError(f"ts must be positive finite step sizes, got {ts!r}")
        forms = [form] if isinstance(form, str) else form
        return _certify_prox(d, forms, ts, seed)
    if not callable(target):
        raise ValidationError(
            f"target must be a Divergence (to certify its prox) or a block solver (a callable), got {target!r}"
        )
    if kind not in KINDS:
        raise ValidationError(f"kind must be one of {KINDS} for a block solver, got {kind!r}")
    if applies is not None and not callable(applies):
        raise ValidationError(f"applies must be a predicate (callable) or None, got {applies!r}")
    tolerances = dict(obj_rtol=obj_rtol, iter_rtol=iter_rtol, residual_tol=residual_tol)
    name = getattr(target, "__name__", repr(target))
    return _certify_solver(target, kind, applies, atoms, tolerances, f"{kind} solver {name}")


# ----------------------------------------------------------------------------------- registration
def _unpack(out):
    """``(solution..., BlockResult or None)`` from a user solver's return value."""
    from .fast import BlockResult

    info = None
    if isinstance(out, tuple) and out and isinstance(out[-1], BlockResult):
        out, info = out[:-1], out[-1]
        if len(out) == 1:
            out = out[0]
    return out, info


def _finish(kind, args, sol, info, tol):
    """``(iterations, certificate, converged)`` for the registry: the certificate is the
    block's optimality residual at the answer (:mod:`cvxlift.reference`)."""
    res = block_problem(kind, *args).residual(sol)
    cert = float("nan") if isinstance(res, str) else float(res[0])
    it = int(getattr(info, "iterations", 0) or 0)
    converged = bool(cert <= max(tol, RESIDUAL_TOL)) if math.isfinite(cert) else isinstance(res, str)
    return it, cert, converged


def _adapter(kind, solver):
    """The registry's calling convention for ``kind`` around a solver with the public signature."""
    if kind == "w_step":

        def run(A, Z, d, form, lam, rho, props, W0, b0, tol, max_iter):
            args = (A, Z, d, form, lam, rho)
            (W, b), info = _unpack(solver(*args))
            W, b = np.asarray(W, dtype=float), np.asarray(b, dtype=float).reshape(-1)
            return (W, b) + _finish(kind, args, (W, b), info, tol)
    elif kind == "x_step":

        def run(pb, Z0, tol, max_iter):
            args = (pb.U0, pb.W, pb.b, pb.Znext, pb.d_prev, pb.f_prev, pb.d_next, pb.f_next, pb.lam_prev, pb.lam_next)
            Z, info = _unpack(solver(*args))
            Z = np.asarray(Z, dtype=float)
            return (Z,) + _finish(kind, args, Z, info, tol)
    elif kind == "output_step":
        state = {}

        def run(U0, Y, d, form, lam, props):
            args = (U0, Y, d, form, lam, state["loss"])
            Z, info = _unpack(solver(*args))
            Z = np.asarray(Z, dtype=float)
            return (Z,) + _finish(kind, args, Z, info, 0.0)

        run.state = state
    elif kind == "lifted_predict":

        def run(net, Z0, tol, max_iter, inner_tol, inner_max_iter):
            args = (net.X, net.weights, net.biases, net.divs, net.forms, net.lams)
            states, info = _unpack(solver(*args))
            states = [np.asarray(S, dtype=float) for S in states]
            return (states,) + _finish(kind, args, states, info, tol)
    else:  # joint_x_step: no internal convention yet; the public arguments

        def run(U0, Y, weights, biases, divs, forms, lams, loss):
            args = (U0, Y, weights, biases, divs, forms, lams, loss)
            states, info = _unpack(solver(*args))
            states = [np.asarray(S, dtype=float) for S in states]
            return (states,) + _finish(kind, args, states, info, 0.0)

    run.__name__ = getattr(solver, "__name__", "solver")
    run.user_solver = solver
    return run


def register_solver(
    kind, name, solver, applies, needs="", atoms=None, obj_rtol=OBJ_RTOL, iter_rtol=ITER_RTOL, residual_tol=RESIDUAL_TOL
):
    r"""Certify a user's block solver and, only if it passes, register it as a fast solver.

    The solver is run on the battery instances where ``applies`` holds (the built-in
    battery, or the recipes around ``atoms``) and graded by
    :meth:`~cvxlift.reference.BlockReference.check`. On success it becomes the registry
    candidate ``"<kind>/<name>"`` (after the built-in candidates: :func:`cvxlift.fast.select`
    picks it where no built-in solver applies, or by ``method=name``); its
    ``BlockResult.certificate`` is then the block's optimality residual at its answer.

    Parameters
    ----------
    kind : {"w_step", "x_step", "output_step", "joint_x_step", "lifted_predict"}
    name : str
        Registry name (a candidate of the same name is replaced).
    solver : callable
        Signature of the :mod:`cvxlift.fast` function of ``kind`` (see :data:`SIGNATURES`).
    applies : callable
        The registry predicate: keyword arguments ``atom`` (W-step); ``prev``, ``next``, ``q``
        (X-step); ``atom``, ``loss`` (output step); ``layers`` (prediction; and ``loss`` for
        the joint X-step), each an :class:`~cvxlift.fast.AtomProps`.
    needs : str
        What the solver needs, in words (shown when no solver applies).
    atoms : list of (Divergence, form), optional
        Certify on the recipes around these atoms instead of the built-in battery.
    obj_rtol, iter_rtol, residual_tol : float
        Tolerances of the checks.

    Returns
    -------
    CertifyReport

    Raises
    ------
    CertificationError
        When no battery instance satisfies ``applies``, or when an instance fails; the
        message names the worst instance, and ``exc.report`` holds the report.
    """
    from .fast.registry import register

    if kind not in KINDS:
        raise ValidationError(f"kind must be one of {KINDS}, got {kind!r}")
    if not isinstance(name, str) or not name:
        raise ValidationError(f"name must be a non-empty string, got {name!r}")
    if not callable(solver):
        raise ValidationError(f"solver must be a callable: {SIGNATURES[kind]}")
    if not callable(applies):
        raise ValidationError(f"applies must be a predicate on the atoms' properties, got {applies!r}")
    rep = certify(
        solver, kind, applies=applies, atoms=atoms, obj_rtol=obj_rtol, iter_rtol=iter_rtol, residual_tol=residual_tol
    )
    rep.target = f"{kind} solver {name!r}"
    if not rep.results:
        raise CertificationError(
            f"{kind} solver {name!r}: no battery instance satisfies applies, so nothing certifies it; pass "
            f"atoms=[(atom, form), ...] to build the battery around the atoms it is written for",
            report=rep,
        )
    if not rep.passed:
        w = rep.worst
        raise CertificationError(
            f"{kind} solver {name!r} refused: {len(rep.failed())} of {len(rep.results)} "
            f"battery instances failed; worst: {w.instance}: {w.worst}",
            report=rep,
        )
    run = _adapter(kind, solver)
    if kind == "output_step":
        # the registry calls output-step candidates without the loss: the predicate sees it
        # just before (select() calls the predicate, then the solver); keep it for the call
        def predicate(atom, loss):
            ok = bool(applies(atom=atom, loss=loss))
            if ok:
                run.state["loss"] = loss
            return ok
    else:
        predicate = applies
    register(kind, name, predicate, needs or f"certified user solver {name!r}")(run)
    return rep


__all__ = ["CertifyReport", "InstanceResult", "SIGNATURES", "T_VALUES", "certify", "prox_inputs", "register_solver"]
