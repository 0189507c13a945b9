r"""Reference solutions of a lifted network's blocks, and checks of candidate solutions.

:func:`reference` builds one block of a network (a W-step, a hidden X-step, the output
step, the joint X-step or the lifted prediction (12)) with :mod:`cvxlift.assembly` (the
one CVXPY formulation of every block), solves it with tight solver tolerances, and returns
a :class:`BlockReference`. :meth:`BlockReference.check` then grades a candidate solution
(a student's numpy solver, a user's fast solver, a built-in one) with three quantities:

**objective gap**
    :math:`F(\text{candidate}) - F(\text{reference})`, both evaluated exactly in numpy
    (the atoms' ``divergence_value``, the loss's ``value``), relative to
    :math:`|F(\text{reference})| + 10^{-4}`. Passes when
    :math:`-(\epsilon + s) \le F - F_{ref} \le \epsilon` with
    :math:`\epsilon = 10^{-6}|F_{ref}| + 10^{-10}` and :math:`s` the slack of an atom
    whose CVXPY expression is an approximation (``Sin``; 0 otherwise).
**distance to the reference iterate**
    :math:`\|x - x_{ref}\|_F / (1 + \|x_{ref}\|_F)` for every variable of the block where
    the block is strongly convex in it (so the minimiser is unique); ``n/a`` with the
    reason where it is not. Tolerance :math:`10^{-5}`, plus
    :math:`\sqrt{2s/\mu}` for an approximate atom (:math:`\mu` the modulus).
**optimality residual**
    a measure of the candidate's own optimality computed in numpy from the atoms' pieces,
    independent of the reference: the relative gradient norm for the W-step, the relative
    prox-gradient fixed-point residual
    :math:`L\|z - p\| / (1 + \|\nabla f(z)\| + L\|z\|)`,
    :math:`p = \mathrm{prox}_{g/L}(z - \nabla f(z)/L)`, per column for the state blocks
    (``g`` the z-side of the previous layer, through the atom's exact ``prox_z``: meaningful
    for nonsmooth atoms and domain constraints).
    Tolerance :math:`10^{-6}`. See ``docs/reference.md`` for each block.

:func:`block_reference` does the same for a block given by its pieces, with the
arguments of the :mod:`cvxlift.fast` function of that block (the certification battery,
:mod:`cvxlift.battery`, and :func:`cvxlift.certify` use it).
"""

import math
import re
import time
from dataclasses import dataclass

import numpy as np
from scipy.special import xlogy

from . import assembly, cvxsolve
from .exceptions import CvxliftError, FormError, NotFittedError, SolverError, ValidationError
from .losses import get_loss
from .validation import check_matrix

#: Objective agreement (relative to ``|F_ref|``): ``F`` may exceed ``F_ref`` by at most this.
OBJ_RTOL = 1e-6
#: Absolute floor of the objective comparison (objectives near 0).
OBJ_ATOL = 1e-10
#: Iterate agreement where the minimiser is unique: ``||x - x_ref||_F <= ITER_RTOL (1 + ||x_ref||_F)``.
ITER_RTOL = 1e-5
#: Largest accepted optimality residual (relative; see each block).
RESIDUAL_TOL = 1e-6

#: Block kinds, named as the :mod:`cvxlift.fast` functions (``"joint_x_step"``: every state
#: at once, with the loss).
KINDS = ("w_step", "x_step", "output_step", "joint_x_step", "lifted_predict")

_BLOCK_RE = re.compile(r"^(W|X)(\d+)$")


# ---------------------------------------------------------------------------------- reports
@dataclass
class Measure:
    """One row of a :class:`CheckReport`.

    Attributes
    ----------
    name : str
        ``"objective gap"``, ``"distance W"``, ``"distance X2"``, ``"residual"``, ...
    value : float
        The measured relative value (NaN when not checked).
    tol : float
        Its tolerance (NaN when not checked).
    passed : bool or None
        ``None`` when the quantity is not checked (``detail`` says why).
    where : str
        Where the worst violation is (``"column 7"``, ``"W[2, 3]"``, ``"X2[0, 4]"``).
    detail : str
        The numbers behind the value, or why it is not checked.
    """

    name: str
    value: float = float("nan")
    tol: float = float("nan")
    passed: object = None
    where: str = ""
    detail: str = ""

    @property
    def severity(self):
        """``value / tol`` (infinite for a non-finite value); 0 when not checked."""
        if self.passed is None:
            return 0.0
        if not math.isfinite(self.value):
            return math.inf
        return abs(self.value) / self.tol if self.tol > 0 else (0.0 if self.value == 0 else math.inf)

    def describe(self):
        """One line: the quantity, its value against the tolerance, where, and the detail.

        Returns
        -------
        str
        """
        if self.passed is None:
            return f"{self.name}: not checked ({self.detail})"
        rel = "<=" if self.passed else ">"
        where = f" at {self.where}" if self.where else ""
        detail = f" ({self.detail})" if self.detail else ""
        return f"{self.name} = {self.value:.3g} {rel} {self.tol:.3g}{where}{detail}"


@dataclass
class CheckReport:
    """What :meth:`BlockReference.check` found: one :class:`Measure` per quantity.

    Attributes
    ----------
    block : str
        The block's name (``"W0"``, ``"X1"``, ``"output"``, ``"joint"``, ``"predict"``, or
        the kind for a block given by pieces).
    kind : str
        One of :data:`KINDS`.
    rows : list of Measure
        ``objective gap``, one ``distance`` row per variable, ``residual``.
    objective, reference_objective : float
        Exact numpy objectives of the candidate and of the reference.
    """

    block: str
    kind: str
    rows: list
    objective: float
    reference_objective: float
    reference_solver: str = ""
    reference_status: str = ""

    @property
    def passed(self):
        """``True`` when no checked quantity failed."""
        return all(r.passed is not False for r in self.rows)

    def __bool__(self):
        return self.passed

    @property
    def worst(self):
        """The failed row with the largest ``value / tol`` (or, when every row passed, the row
        closest to its tolerance)."""
        checked = [r for r in self.rows if r.passed is not None]
        if not checked:
            return None
        failed = [r for r in checked if not r.passed]
        return max(failed or checked, key=lambda r: r.severity)

    def row(self, name):
        """The row called ``name``.

        Parameters
        ----------
        name : str
            ``"objective gap"``, ``"distance W"``, ``"distance X2"``, ``"residual"``, ...

        Returns
        -------
        Measure

        Raises
        ------
        KeyError
            When the report has no such row.
        """
        for r in self.rows:
            if r.name == name:
                return r
        raise KeyError(name)

    @property
    def gap(self):
        """``objective - reference_objective``."""
        return self.objective - self.reference_objective

    def table(self):
        """The report as text: a header, one line per row, and the worst violation.

        Returns
        -------
        str
        """
        head = (
            f"check of {self.block} ({self.kind}) against the CVXPY reference "
            f"({self.reference_solver}, {self.reference_status}): {'PASSED' if self.passed else 'FAILED'}"
        )
        rows = [("quantity", "value", "tol", "result", "where", "detail")]
        for r in self.rows:
            if r.passed is None:
                rows.append((r.name, "-", "-", "n/a", "", r.detail))
            else:
                rows.append(
                    (r.name, f"{r.value:.3e}", f"{r.tol:.1e}", "pass" if r.passed else "FAIL", r.where, r.detail)
                )
        widths = [max(len(x[i]) for x in rows) for i in range(5)]
        lines = [head]
        for x in rows:
            lines.append("  " + "  ".join(x[i].ljust(widths[i]) for i in range(5)) + "  " + x[5])
        w = self.worst
        if w is not None:
            label = "worst violation" if not self.passed else "closest to its tolerance"
            lines.append(f"{label}: {w.describe()}")
        return "\n".join(lines)

    def __str__(self):
        return self.table()


# ---------------------------------------------------------------------------------- helpers
def _fmt(x):
    return f"{x:.6g}"


def _approx_error(d, side):
    """Per-entry error of an approximate atom's CVXPY expression on the z-side (``Phi``) or
    the u-side (``Phi*``); 0 for exact atoms."""
    if not getattr(d, "approximate", False):
        return 0.0
    phi_err = float(getattr(d, "phi_error", 0.0))
    if side == "z":
        return phi_err
    return float(getattr(d, "phi_star_error", phi_err))


def _z_modulus(d, form):
    r"""Strong-convexity modulus of :math:`z \mapsto D(u, z)`, or ``None`` when not known.

    ``z_quadratic`` atoms: :math:`2\mu`. Fenchel-Young form: :math:`1/L` with :math:`L` the
    Lipschitz constant of ``forward`` (:math:`\nabla\Phi^*` is :math:`L`-Lipschitz exactly when
    :math:`\Phi` is :math:`1/L`-strongly convex)."""
    zq = None
    try:
        zq = d.z_quadratic(form)
    except (CvxliftError, NotImplementedError):
        zq = None
    if zq is not None:
        return 2.0 * float(zq[0])
    if form == "fenchel":
        L = getattr(d, "lipschitz", None)  # None: not known (never a default)
        L = float("nan") if L is None else float(L)
        if math.isfinite(L) and L > 0:
            return 1.0 / L
    return None


def _u_lipschitz(d, form):
    from .fast import atom_props

    return atom_props(d, form).u_lipschitz


def _colnorm(A):
    return np.sqrt(np.einsum("ij,ij->j", A, A))


def _as_candidate(candidate):
    """Drop a trailing :class:`~cvxlift.fast.BlockResult` (the output of a fast solver)."""
    from .fast import BlockResult

    if isinstance(candidate, tuple) and candidate and isinstance(candidate[-1], BlockResult):
        candidate = candidate[:-1]
        if len(candidate) == 1:
            candidate = candidate[0]
    return candidate


def _cand_matrix(a, name, shape):
    """A candidate array: the shape is checked, NaN/inf are kept (they fail the checks)."""
    try:
        arr = np.asarray(a, dtype=float)
    except (TypeError, ValueError):
        raise ValidationError(
            f"candidate {name} must be a numeric array of shape {shape}, got {type(a).__name__}"
        ) from None
    if arr.shape != tuple(shape):
        raise ValidationError(f"candidate {name} must have shape {tuple(shape)}, got {arr.shape}")
    return arr


def _argmax_entry(D):
    i = np.unravel_index(int(np.nanargmax(np.where(np.isfinite(D), D, np.inf))), D.shape)
    return tuple(int(x) for x in i)


def solve_tight(blk, solver=None):
    """Solve a compiled :mod:`cvxlift.assembly` block with tight tolerances.

    Each installed solver of the block's class is tried for ``optimal`` (SCS, slow at tight
    tolerances, last); ``optimal_inaccurate`` is accepted only when none reaches it.

    Parameters
    ----------
    blk : cvxlift.assembly.Block
    solver : str, optional
        Pin one solver (then ``optimal_inaccurate`` is accepted).

    Returns
    -------
    cvxlift.cvxsolve.SolveInfo
    """
    if solver is not None:
        return blk.solve(solver=solver, accuracy="tight", allow_inaccurate=True)
    names = cvxsolve.candidate_solvers(blk.problem_class, accuracy="tight")
    first = [n for n in names if n != "SCS"] or list(names)
    rest = [n for n in names if n not in first]
    errors = []
    for allow in (False, True):
        for n in first:
            try:
                return blk.solve(solver=n, accuracy="tight", allow_inaccurate=allow)
            except SolverError as exc:
                errors.append(str(exc))
    for n in rest:
        try:
            return blk.solve(solver=n, accuracy="tight", allow_inaccurate=True)
        except SolverError as exc:
            errors.append(str(exc))
    raise SolverError(f"{blk.name}: no reference solution ({'; '.join(errors)})")


def _build(name, make):
    """Build a CVXPY block; a missing or non-convex declaration raises a clear error."""
    try:
        blk = make()
    except CvxliftError as exc:
        if not isinstance(exc, FormError):
            raise
        raise ValidationError(f"{name}: the block cannot be assembled in CVXPY ({exc})") from exc
    except Exception as exc:  # a user atom whose CVXPY declaration is missing or cannot be built
        raise ValidationError(
            f"{name}: the block cannot be assembled in CVXPY ({type(exc).__name__}: {exc}); a reference "
            "solution needs each atom's CVXPY declaration (phi and phi_star for the Fenchel-Young form, joint "
            "for the jointly convex form)"
        ) from exc
    if not blk.problem.is_dcp():
        raise ValidationError(
            f"{name}: the assembled block is not convex (not DCP), so it has no reference "
            "solution; every layer after the first must use the jointly convex form here"
        )
    return blk


def _solve_columns(name, make, setter, m, cost, solver):
    """Solve a column-separable block chunk by chunk (bounded DPP tensor, as the network does)."""
    c = assembly.chunk_size(m, cost)
    blk = _build(name, lambda: make(c))
    outs, infos = [], []
    for start in range(0, m, c):
        cols = np.arange(start, min(start + c, m))
        padded = np.concatenate([cols, np.full(c - cols.size, cols[-1])]) if cols.size < c else cols
        setter(blk, padded)
        infos.append(solve_tight(blk, solver))
        res = blk.result()
        outs.append([r[:, : cols.size] for r in res] if isinstance(res, list) else res[:, : cols.size])
    if isinstance(outs[0], list):
        sol = [np.concatenate([o[j] for o in outs], axis=1) for j in range(len(outs[0]))]
    else:
        sol = np.concatenate(outs, axis=1)
    return sol, infos


def _loss_cols(loss, Y, Z):
    """The loss per column (``inf`` where cross-entropy is undefined)."""
    if loss.name == "squared":
        return np.sum((Z - Y) ** 2, axis=0)
    bad = ((Y > 0) & (Z <= 0)).any(axis=0)
    vals = -np.sum(xlogy(Y, np.where(Y > 0, Z, 1.0)), axis=0)
    return np.where(bad, np.inf, vals)


# ---------------------------------------------------------------------------------- blocks
class _Block:
    """The numpy side of one block: objective, residual, variables (no CVXPY)."""

    kind = ""
    #: number of columns (data points)
    m = 0

    def objective(self, cand):
        """``(total, per-column values or None)``."""
        raise NotImplementedError

    def parts(self, cand):
        """``[(label, array), ...]``: the variables compared with the reference."""
        raise NotImplementedError

    def unique(self):
        """``{label: (modulus or None, reason)}``: modulus of strong convexity in each variable
        (``None``: not known to be unique)."""
        raise NotImplementedError

    def residual(self, cand):
        """``(value, where)`` of the optimality residual, or a string saying why there is none."""
        raise NotImplementedError

    def normalize(self, cand):
        raise NotImplementedError

    slack = 0.0


def _positive(x, name):
    try:
        v = float(x)
    except (TypeError, ValueError):
        raise ValidationError(f"{name} must be a positive finite number, got {x!r}") from None
    if not (math.isfinite(v) and v > 0):
        raise ValidationError(f"{name} must be a positive finite number, got {x!r}")
    return v


class _W(_Block):
    r"""W-step :math:`\min_{W,b} \lambda D(WA + b\mathbf 1^T, Z) + \rho\|W\|_F^2`."""

    kind = "w_step"

    def __init__(self, A, Z, d, form, lam, rho):
        self.d, self.form = d, d.check_form(form)
        self.lam, self.rho = _positive(lam, "lam"), _positive(rho, "rho")
        self.A = check_matrix(A, "A")
        self.p, self.m = self.A.shape
        self.Z = check_matrix(Z, "Z")
        if self.Z.shape[1] != self.m:
            raise ValidationError(f"Z must have {self.m} columns (as A), got shape {self.Z.shape}")
        self.k = self.Z.shape[0]
        self.n_u = d.in_dim(self.k)
        if d.out_dim(self.n_u) != self.k:
            raise ValidationError(f"{d!r} cannot produce columns of length {self.k} (Z has shape {self.Z.shape})")
        self.slack = self.lam * self.n_u * self.m * _approx_error(d, "u")

    def solve(self, solver, name):
        def make():
            blk = assembly.WStep(self.d, self.form, self.p, self.k, self.m, name=name)
            blk.set_penalties(lam=self.lam, rho=self.rho)
            blk.set(self.A, self.Z)
            return blk

        blk = _build(name, make)
        info = solve_tight(blk, solver)
        W, b = blk.result()
        return (W, b), [info]

    def normalize(self, cand):
        cand = _as_candidate(cand)
        if not isinstance(cand, (tuple, list)) or len(cand) != 2:
            raise ValidationError("candidate of a W-step must be a pair (W, b)")
        W = _cand_matrix(cand[0], "W", (self.n_u, self.p))
        b = _cand_matrix(np.reshape(cand[1], -1) if np.size(cand[1]) == self.n_u else cand[1], "b", (self.n_u,))
        return W, b

    def objective(self, cand):
        W, b = cand
        U = W @ self.A + b[:, None]
        with np.errstate(all="ignore"):
            cols = self.lam * self.d.divergence_value(U, self.Z, self.form)
            return float(np.sum(cols) + self.rho * np.sum(W * W)), None

    def parts(self, cand):
        return [("W", cand[0]), ("b", cand[1])]

    def unique(self):
        from .fast import atom_props

        uq = atom_props(self.d, self.form).u_quadratic
        b = (
            (2.0 * self.lam * uq * self.m, "")
            if uq is not None
            else (None, "b is not unique in general: D is not strongly convex in u")
        )
        return {"W": (2.0 * self.rho, ""), "b": b}

    def residual(self, cand):
        Lu = _u_lipschitz(self.d, self.form)
        if Lu is None:
            return "D is nonsmooth in u: no gradient residual (the objective gap and the distance decide)"
        W, b = cand
        U = W @ self.A + b[:, None]
        with np.errstate(all="ignore"):
            G = self.lam * self.d.u_gradient(U, self.Z, self.form)
            gW = G @ self.A.T + 2.0 * self.rho * W
            gb = G.sum(axis=1)
            rows = np.sqrt(np.sum(gW * gW, axis=1) + gb * gb)
            ZA = self.Z @ np.vstack([self.A, np.ones((1, self.m))]).T
            scale = 1.0 + Lu * self.lam * float(np.linalg.norm(ZA))
            value = float(np.sqrt(np.sum(rows * rows))) / scale
        i = int(np.nanargmax(np.where(np.isfinite(rows), rows, np.inf)))
        return value, f"row {i} of (W, b)"


class _X(_Block):
    r"""Hidden X-step (13): :math:`\min_Z \lambda_{p} D_{p}(U_0, Z) + \lambda_{n} D_{n}(WZ + b, Z_{n})`."""

    kind = "x_step"

    def __init__(self, U0, W, b, Znext, d_prev, f_prev, d_next, f_next, lam_prev, lam_next):
        from .fast import XStepProblem

        self.pb = XStepProblem(U0, W, b, Znext, d_prev, f_prev, d_next, f_next, lam_prev, lam_next)
        pb = self.pb
        self.p, self.m, self.q = pb.p, pb.m, pb.W.shape[0]
        self.slack = pb.lam_prev * self.p * self.m * _approx_error(
            d_prev, "z"
        ) + pb.lam_next * self.q * self.m * _approx_error(d_next, "u")

    def solve(self, solver, name):
        pb = self.pb

        def make(c):
            blk = assembly.XStep(pb.d_prev, pb.f_prev, pb.d_next, pb.f_next, self.p, pb.Znext.shape[0], c, name=name)
            blk.set_penalties(lam_prev=pb.lam_prev, lam_next=pb.lam_next)
            return blk

        def setter(blk, cols):
            blk.set(pb.U0[:, cols], pb.W, pb.b, pb.Znext[:, cols])

        cost = self.q * self.p + pb.U0.shape[0] + pb.Znext.shape[0]
        return _solve_columns(name, make, setter, self.m, cost, solver)

    def normalize(self, cand):
        return _cand_matrix(_as_candidate(cand), "Z", (self.p, self.m))

    def objective(self, Z):
        pb = self.pb
        with np.errstate(all="ignore"):
            cols = pb.lam_prev * pb.d_prev.divergence_value(
                pb.U0, Z, pb.f_prev
            ) + pb.lam_next * pb.d_next.divergence_value(pb.W @ Z + pb.b[:, None], pb.Znext, pb.f_next)
        return float(np.sum(cols)), cols

    def parts(self, Z):
        return [("Z", Z)]

    def unique(self):
        mod = _z_modulus(self.pb.d_prev, self.pb.f_prev)
        if mod is None:
            return {"Z": (None, "the block is not known to be strongly convex in Z: the minimiser may not be unique")}
        return {"Z": (self.pb.lam_prev * mod, "")}

    def residual(self, Z):
        return _xstep_residual(self.pb, Z, "")


def _xstep_residual(pb, Z, label):
    r"""Relative prox-gradient fixed-point residual of an X-step, per column, maximised:
    :math:`L\|z - p\| / (1 + \|\nabla f(z)\| + L\|z\|)` with
    :math:`p = \mathrm{prox}_{g/L}(z - \nabla f(z)/L)`, ``f`` the next layer's term (smooth in
    ``u``), ``g`` the previous layer's z-side (through the atom's exact ``prox_z``) and ``L``
    the Lipschitz constant of :math:`\nabla f` (:meth:`~cvxlift.fast.XStepProblem.setup_gradient`)."""
    if pb.next.u_lipschitz is None:
        return (
            f"{label + ': ' if label else ''}the next layer's divergence is nonsmooth in u: no prox-gradient "
            "residual (the objective gap and the distance decide)"
        )
    with np.errstate(all="ignore"):
        L = pb.setup_gradient()
        if not L > 0:  # f is constant: the minimiser of g is forward(U0)
            F = pb.d_prev.forward(pb.U0)
            r = _colnorm(Z - F) / (1.0 + _colnorm(F))
        else:
            G = pb.grad(Z)
            P = pb.prox(Z - G / L, 1.0 / L)
            r = L * _colnorm(Z - P) / (1.0 + _colnorm(G) + L * _colnorm(Z))
    r = np.where(np.isnan(r), np.inf, r)
    j = int(np.argmax(r))
    return float(r[j]), (f"{label} column {j}" if label else f"column {j}")


def _output_residual(d, form, lam, loss, U0, Y, Z):
    r"""Relative prox-gradient residual of :math:`\min_Z \mathcal L(Y, Z) + \lambda D(U_0, Z)`
    per column: :math:`\|z - p\| / (t + t\|\nabla\mathcal L(z)\| + \|z\|)` with
    :math:`p = \mathrm{prox}_{t\lambda D(U_0,\cdot)}(z - t\nabla\mathcal L(z))`, :math:`t = 1/2`
    (squared loss: then :math:`p` is the exact solution) or :math:`t = 1/\lambda` (cross-entropy,
    whose gradient is :math:`-y/z`; ``inf`` where :math:`z \le 0 < y`)."""
    with np.errstate(all="ignore"):
        if loss.name == "squared":
            t = 0.5
            G = 2.0 * (Z - Y)
        else:
            t = 1.0 / lam
            G = np.where(Y > 0, -Y / np.where(Z > 0, Z, np.nan), 0.0)
        bad = ~np.isfinite(G).all(axis=0)
        G = np.where(np.isfinite(G), G, 0.0)
        P = d.prox_z(U0, Z - t * G, t * lam, form)
        r = _colnorm(Z - P) / (t + t * _colnorm(G) + _colnorm(Z))
    r = np.where(bad | np.isnan(r), np.inf, r)
    return r


class _Output(_Block):
    r"""Output step (14/15): :math:`\min_Z \mathcal L(Y, Z) + \lambda D(U_0, Z)`."""

    kind = "output_step"

    def __init__(self, U0, Y, d, form, lam, loss):
        self.d, self.form = d, d.check_form(form)
        self.loss = get_loss(getattr(loss, "name", loss))
        self.lam = _positive(lam, "lam")
        self.U0 = check_matrix(U0, "U0")
        self.m = self.U0.shape[1]
        self.k = d.out_dim(self.U0.shape[0])
        self.Y = check_matrix(Y, "Y", shape=(self.k, self.m))
        if self.loss.name == "cross_entropy" and np.any(self.Y < 0):
            raise ValidationError("Y: cross-entropy targets must be non-negative")
        self.slack = self.lam * self.k * self.m * _approx_error(d, "z")

    def solve(self, solver, name):
        def make(c):
            blk = assembly.OutputStep(self.d, self.form, self.loss, self.k, c, name=name)
            blk.set_penalties(lam=self.lam)
            return blk

        def setter(blk, cols):
            blk.set(self.U0[:, cols], self.Y[:, cols])

        return _solve_columns(name, make, setter, self.m, self.U0.shape[0] + 2 * self.k, solver)

    def normalize(self, cand):
        return _cand_matrix(_as_candidate(cand), "Z", (self.k, self.m))

    def objective(self, Z):
        with np.errstate(all="ignore"):
            cols = _loss_cols(self.loss, self.Y, Z) + self.lam * self.d.divergence_value(self.U0, Z, self.form)
        return float(np.sum(cols)), cols

    def parts(self, Z):
        return [("Z", Z)]

    def unique(self):
        mz = _z_modulus(self.d, self.form)
        if self.loss.name == "squared":
            return {"Z": (2.0 + self.lam * (mz or 0.0), "")}
        if mz is None:
            return {"Z": (None, "the block is not known to be strongly convex in Z: the minimiser may not be unique")}
        return {"Z": (self.lam * mz, "")}

    def residual(self, Z):
        r = _output_residual(self.d, self.form, self.lam, self.loss, self.U0, self.Y, Z)
        j = int(np.argmax(r))
        return float(r[j]), f"column {j}"


class _Chain(_Block):
    r"""Every state at once: the joint X-step (with the loss) or the lifted prediction (12).

    ``U0`` is the first layer's pre-activation :math:`W_0X_0 + b_0\mathbf 1^T` (data);
    ``weights[0]``/``biases[0]`` are not used past it."""

    def __init__(self, U0, weights, biases, divs, forms, lams, Y=None, loss=None):
        n = len(weights)
        if n == 0 or not (len(biases) == len(divs) == len(forms) == len(lams) == n):
            raise ValidationError("weights, biases, divs, forms and lams must have the same positive length")
        self.U0 = check_matrix(U0, "U0")
        self.m = self.U0.shape[1]
        self.divs = list(divs)
        self.forms = [d.check_form(f) for d, f in zip(divs, forms)]
        self.lams = [_positive(v, f"lams[{i}]") for i, v in enumerate(lams)]
        first = check_matrix(weights[0], "weights[0]")
        if first.shape[0] != self.U0.shape[0]:
            raise ValidationError(f"U0 must have {first.shape[0]} rows (as weights[0]), got shape {self.U0.shape}")
        self.weights, self.biases = (
            [first],
            [check_matrix(np.reshape(biases[0], (-1, 1)), "biases[0]", shape=(first.shape[0], 1))[:, 0]],
        )
        self.sizes = [first.shape[1], self.divs[0].out_dim(first.shape[0])]
        for l in range(1, n):
            W = check_matrix(weights[l], f"weights[{l}]")
            if W.shape[1] != self.sizes[-1]:
                raise ValidationError(f"weights[{l}] must have {self.sizes[-1]} columns, got shape {W.shape}")
            b = check_matrix(np.reshape(biases[l], (-1, 1)), f"biases[{l}]", shape=(W.shape[0], 1))[:, 0]
            self.weights.append(W)
            self.biases.append(b)
            self.sizes.append(self.divs[l].out_dim(W.shape[0]))
        self.n = n
        self.loss = None if loss is None else get_loss(getattr(loss, "name", loss))
        self.Y = None if Y is None else check_matrix(Y, "Y", shape=(self.sizes[-1], self.m))
        self.slack = sum(
            self.lams[l] * self.sizes[l + 1] * self.m * _approx_error(self.divs[l], "z")
            + (self.lams[l] * self.weights[l].shape[0] * self.m * _approx_error(self.divs[l], "u") if l >= 1 else 0.0)
            for l in range(n)
        )

    def pre(self, l, states):
        r""":math:`U_l = W_lX_l + b_l\mathbf 1^T` (``U0`` for ``l = 0``)."""
        if l == 0:
            return self.U0
        return self.weights[l] @ states[l - 1] + self.biases[l][:, None]

    def solve(self, solver, name):
        U0 = self.U0

        def make(c):
            if self.loss is not None:
                blk = assembly.JointXStep(self.divs, self.forms, self.loss, self.sizes, c, name=name)
            else:
                blk = assembly.Prediction(self.divs, self.forms, self.sizes, c, name=name)
            blk.set_penalties(lams=self.lams)
            return blk

        def setter(blk, cols):
            if self.loss is not None:
                blk.set(U0[:, cols], self.weights, self.biases, self.Y[:, cols])
            else:
                blk.set(U0[:, cols], self.weights, self.biases)

        cost = sum(self.weights[j].shape[0] * self.sizes[j] for j in range(1, self.n)) + U0.shape[0]
        return _solve_columns(name, make, setter, self.m, cost, solver)

    def normalize(self, cand):
        cand = _as_candidate(cand)
        if not isinstance(cand, (list, tuple)) or len(cand) != self.n:
            raise ValidationError(f"candidate must be a list of {self.n} states [X1, ..., X{self.n}]")
        return [_cand_matrix(S, f"X{l + 1}", (self.sizes[l + 1], self.m)) for l, S in enumerate(cand)]

    def objective(self, states):
        cols = np.zeros(self.m)
        with np.errstate(all="ignore"):
            for l, (d, f, lam, S) in enumerate(zip(self.divs, self.forms, self.lams, states)):
                cols = cols + lam * d.divergence_value(self.pre(l, states), S, f)
            if self.loss is not None:
                cols = cols + _loss_cols(self.loss, self.Y, states[-1])
        return float(np.sum(cols)), cols

    def parts(self, states):
        return [(f"X{l + 1}", S) for l, S in enumerate(states)]

    def unique(self):
        mods = [_z_modulus(d, f) for d, f in zip(self.divs, self.forms)]
        if self.loss is not None and self.loss.name == "squared" and mods[-1] is None:
            mods[-1] = 0.0  # the squared loss makes the last state strongly convex
        if any(mod is None for mod in mods):
            bad = [f"X{l + 1}" for l, mod in enumerate(mods) if mod is None]
            reason = f"D is not known to be strongly convex in {', '.join(bad)}: the minimiser may not be unique"
            return {f"X{l + 1}": (None, reason) for l in range(self.n)}
        # unique (each state is strongly convex given the previous one); the joint modulus is
        # not computed: nan means "unique, modulus unknown"
        return {f"X{l + 1}": (float("nan"), "") for l in range(self.n)}

    def residual(self, states):
        from .fast import XStepProblem

        best = None
        notes = []
        for l in range(1, self.n):  # hidden state X_l = states[l - 1]
            pb = XStepProblem(
                self.pre(l - 1, states),
                self.weights[l],
                self.biases[l],
                states[l],
                self.divs[l - 1],
                self.forms[l - 1],
                self.divs[l],
                self.forms[l],
                self.lams[l - 1],
                self.lams[l],
            )
            res = _xstep_residual(pb, states[l - 1], f"X{l}")
            if isinstance(res, str):
                notes.append(res)
                continue
            if best is None or not res[0] <= best[0]:
                best = res
        UL = self.pre(self.n - 1, states)
        dL, fL = self.divs[-1], self.forms[-1]
        if self.loss is not None:
            r = _output_residual(dL, fL, self.lams[-1], self.loss, UL, self.Y, states[-1])
        else:
            with np.errstate(all="ignore"):
                F = dL.forward(UL)
                r = _colnorm(states[-1] - F) / (1.0 + _colnorm(F))
            r = np.where(np.isnan(r), np.inf, r)
        j = int(np.argmax(r))
        last = (float(r[j]), f"X{self.n} column {j}")
        if best is None or not last[0] <= best[0]:
            best = last
        if notes:
            return "; ".join(notes)
        return best


class _Joint(_Chain):
    kind = "joint_x_step"

    def __init__(self, U0, Y, weights, biases, divs, forms, lams, loss):
        super().__init__(U0, weights, biases, divs, forms, lams, Y=Y, loss=loss)


class _Predict(_Chain):
    kind = "lifted_predict"

    def __init__(self, X, weights, biases, divs, forms, lams):
        X = check_matrix(X, "X")
        W0 = check_matrix(weights[0], "weights[0]")
        if W0.shape[1] != X.shape[0]:
            raise ValidationError(f"X must have {W0.shape[1]} rows (the columns of weights[0]), got shape {X.shape}")
        b0 = check_matrix(np.reshape(biases[0], (-1, 1)), "biases[0]", shape=(W0.shape[0], 1))
        super().__init__(W0 @ X + b0, weights, biases, divs, forms, lams)


_PROBLEMS = {"w_step": _W, "x_step": _X, "output_step": _Output, "joint_x_step": _Joint, "lifted_predict": _Predict}


def block_problem(kind, *args):
    """The numpy side of a block (objective, residual, variables), without CVXPY.

    Parameters
    ----------
    kind : str
        One of :data:`KINDS`.
    *args
        The positional arguments of the :mod:`cvxlift.fast` function of ``kind``.

    Returns
    -------
    object
        With ``objective(candidate)``, ``residual(candidate)``, ``normalize(candidate)``
        (used by :mod:`cvxlift.certify` to certify a registered solver's answers).
    """
    if kind not in _PROBLEMS:
        raise ValidationError(f"kind must be one of {KINDS}, got {kind!r}")
    try:
        return _PROBLEMS[kind](*args)
    except TypeError as exc:
        raise ValidationError(f"{kind}: wrong arguments ({exc}); give those of cvxlift.fast.{kind}") from None


# ---------------------------------------------------------------------------------- the reference
class BlockReference:
    r"""The tight CVXPY solution of one block, and the checks of candidate solutions.

    Made by :func:`reference` (a block of a network) or :func:`block_reference` (a block
    from its pieces). See the module docstring and ``docs/reference.md``.

    Attributes
    ----------
    block : str
        Name of the block (``"W0"``, ``"X1"``, ``"output"``, ``"joint"``, ``"predict"``, or
        the kind).
    kind : str
        One of :data:`KINDS`.
    solution
        The reference iterate, in the candidate's format: ``(W, b)`` for a W-step, the
        state ``Z`` for an X-step or the output step, the list of states
        ``[X_1, ..., X_{L+1}]`` for the joint X-step and the prediction.
    objective : float
        Exact numpy objective of the block at ``solution``.
    status : str
        CVXPY status: ``"optimal"``, or ``"optimal_inaccurate"`` when no solver reached
        ``optimal`` (then the iterates are not compared and only a candidate worse than
        the reference fails the objective check).
    solver : str
        The CVXPY solver used.
    seconds : float
        Time of the CVXPY solve(s).
    """

    def __init__(self, kind, args, block=None, solver=None):
        self.kind = kind
        self.block = block or kind
        self.problem = block_problem(kind, *args)
        t0 = time.perf_counter()
        solution, infos = self.problem.solve(solver, self.block)
        self.seconds = time.perf_counter() - t0
        self.solution = solution
        self.status = "optimal" if all(i.status == "optimal" for i in infos) else "optimal_inaccurate"
        self.solver = ",".join(sorted({i.solver for i in infos}))
        self.objective, _ = self.problem.objective(solution)
        self._ref_residual = None

    def __repr__(self):
        return (
            f"BlockReference({self.block!r}, kind={self.kind!r}, objective={self.objective:.10g}, "
            f"status={self.status!r}, solver={self.solver!r})"
        )

    def objective_of(self, candidate):
        """Exact numpy objective of the block at ``candidate``.

        Parameters
        ----------
        candidate
            In the format of :attr:`solution`.

        Returns
        -------
        float
        """
        return self.problem.objective(self.problem.normalize(candidate))[0]

    def residual_of(self, candidate):
        """The optimality residual at ``candidate`` (see ``docs/reference.md``).

        Parameters
        ----------
        candidate
            In the format of :attr:`solution`.

        Returns
        -------
        tuple or str
            ``(value, where)``, or a sentence saying why the block has no residual.
        """
        return self.problem.residual(self.problem.normalize(candidate))

    @property
    def reference_residual(self):
        """The optimality residual of the reference itself (for comparison)."""
        if self._ref_residual is None:
            self._ref_residual = self.problem.residual(self.solution)
        return self._ref_residual

    def check(self, candidate, obj_rtol=OBJ_RTOL, iter_rtol=ITER_RTOL, residual_tol=RESIDUAL_TOL):
        """Grade ``candidate`` against the reference.

        Parameters
        ----------
        candidate
            ``(W, b)`` (W-step), ``Z`` (X-step, output step) or ``[X_1, ..., X_{L+1}]``
            (joint X-step, prediction); a trailing :class:`~cvxlift.fast.BlockResult` (the
            output of a :mod:`cvxlift.fast` solver) is ignored.
        obj_rtol, iter_rtol, residual_tol : float
            Tolerances (defaults :data:`OBJ_RTOL`, :data:`ITER_RTOL`, :data:`RESIDUAL_TOL`).

        Returns
        -------
        CheckReport
            ``passed``, one row per quantity, and ``worst``.
        """
        pb = self.problem
        cand = pb.normalize(candidate)
        rows = [self._objective_row(cand, obj_rtol)]
        rows.extend(self._distance_rows(cand, iter_rtol))
        rows.append(self._residual_row(cand, residual_tol))
        return CheckReport(self.block, self.kind, rows, pb.objective(cand)[0], self.objective, self.solver, self.status)

    # ------------------------------------------------------------------ rows
    def _objective_row(self, cand, rtol):
        F, cols = self.problem.objective(cand)
        Fr = self.objective
        slack = self.problem.slack if self.status == "optimal" else math.inf
        tol_abs = rtol * abs(Fr) + OBJ_ATOL
        gap = F - Fr
        scale = abs(Fr) + OBJ_ATOL / rtol
        value = gap / scale if math.isfinite(gap) else math.inf
        passed = bool(-(tol_abs + slack) <= gap <= tol_abs)
        detail = f"objective {_fmt(F)} vs reference {_fmt(Fr)}"
        if slack and math.isfinite(slack):
            detail += f"; slack {slack:.3g} for the approximate CVXPY expression"
        where = ""
        if cols is not None:
            _, rcols = self.problem.objective(self.solution)
            with np.errstate(all="ignore"):
                excess = cols - rcols
            j = int(np.nanargmax(np.where(np.isfinite(excess), np.abs(excess), np.inf)))
            where = f"column {j}"
            detail += f"; column {j}: {_fmt(cols[j])} vs {_fmt(rcols[j])}"
        if gap < -(tol_abs + slack):
            detail += "; the candidate is better than the reference: the reference solve is inaccurate"
        return Measure("objective gap", value, rtol, passed, where, detail)

    def _distance_rows(self, cand, rtol):
        rows = []
        uniq = self.problem.unique()
        ref_parts = dict(self.problem.parts(self.solution))
        slack = self.problem.slack
        for label, arr in self.problem.parts(cand):
            name = f"distance {label}"
            mod, reason = uniq[label]
            if self.status != "optimal":
                rows.append(Measure(name, detail=f"not checked: the reference is {self.status}"))
                continue
            if mod is None:
                rows.append(Measure(name, detail=reason))
                continue
            R = np.asarray(ref_parts[label])
            nref = float(np.linalg.norm(R))
            extra = 0.0
            if slack > 0:
                if not (mod > 0):  # modulus unknown
                    rows.append(
                        Measure(
                            name,
                            detail="not checked: approximate CVXPY expression and no known strong-convexity modulus",
                        )
                    )
                    continue
                extra = math.sqrt(2.0 * slack / mod)
            with np.errstate(all="ignore"):
                D = np.abs(np.asarray(arr) - R)
                err = float(np.linalg.norm(arr - R))
            if not math.isfinite(err):
                err = math.inf
            value = err / (1.0 + nref)
            tol = rtol + extra / (1.0 + nref)
            idx = _argmax_entry(D) if D.size else ()
            if len(idx) == 2:
                where = f"{label}[{idx[0]}, {idx[1]}]"
            elif len(idx) == 1:
                where = f"{label}[{idx[0]}]"
            else:
                where = label
            detail = f"candidate {_fmt(float(np.asarray(arr)[idx]))}, reference {_fmt(float(R[idx]))}" if D.size else ""
            rows.append(Measure(name, value, tol, bool(value <= tol), where, detail))
        return rows

    def _residual_row(self, cand, tol):
        res = self.problem.residual(cand)
        if isinstance(res, str):
            return Measure("residual", detail=res)
        value, where = res
        ref = self.reference_residual
        detail = f"the reference's own: {ref[0]:.2g}" if not isinstance(ref, str) else ""
        return Measure("residual", value, tol, bool(value <= tol), where, detail)


def block_reference(kind, *args, block=None, solver=None):
    r"""Reference solution of a block given by its pieces.

    Parameters
    ----------
    kind : {"w_step", "x_step", "output_step", "joint_x_step", "lifted_predict"}
    *args
        The positional arguments of the :mod:`cvxlift.fast` function of ``kind``:

        - ``"w_step"``: ``A, Z, d, form, lam, rho``
        - ``"x_step"``: ``U0, W, b, Znext, d_prev, f_prev, d_next, f_next, lam_prev, lam_next``
        - ``"output_step"``: ``U0, Y, d, form, lam, loss``
        - ``"joint_x_step"``: ``U0, Y, weights, biases, divs, forms, lams, loss`` (``U0`` the first
          layer's pre-activation :math:`W_0X + b_0\mathbf 1^T`)
        - ``"lifted_predict"``: ``X, weights, biases, divs, forms, lams``
    block : str, optional
        Name shown in reports (default: ``kind``).
    solver : str, optional
        Pin a CVXPY solver (default: the tight preference list of :mod:`cvxlift.cvxsolve`).

    Returns
    -------
    BlockReference
    """
    return BlockReference(kind, args, block=block, solver=solver)


def _parse_block(net, block):
    L1 = net.n_layers
    names = [f"W{l}" for l in range(L1)] + [f"X{l}" for l in range(1, L1)] + ["output", "joint", "predict"]
    if isinstance(block, str):
        mt = _BLOCK_RE.match(block)
        if mt:
            l = int(mt.group(2))
            if mt.group(1) == "W" and 0 <= l < L1:
                return "w_step", l
            if mt.group(1) == "X" and 1 <= l < L1:
                return "x_step", l
        elif block in ("output", "joint", "predict"):
            return {"output": "output_step", "joint": "joint_x_step", "predict": "lifted_predict"}[block], None
    raise ValidationError(f"block must be one of {names} for this network, got {block!r}")


def reference(net, X, Y=None, block="W0", states=None, solver=None):
    r"""Reference solution of one block of a network, to check candidate solutions against.

    The block is assembled by :mod:`cvxlift.assembly` from the network's atoms, forms, loss,
    penalties (``lam_``, ``rho_``) and current weights, and solved with tight tolerances.

    Parameters
    ----------
    net : LiftedNetwork
        A network with weights (after ``fit`` or ``init_weights``).
    X : (n_0, m) array
        Inputs, one column per data point.
    Y : (n_{L+1}, m) array, optional
        Targets (needed by ``"output"`` and ``"joint"``).
    block : str
        ``"W<l>"``: the W-step of layer ``l`` (:math:`\min_{W_l,b_l}` with the states fixed);
        ``"X<l>"``: the X-step of hidden state :math:`X_l` (eq. 13); ``"output"``: the output
        step (eq. 14/15); ``"joint"``: every state at once with the loss (jointly convex
        forms); ``"predict"``: the lifted prediction (12) with the loss minimised out.
    states : list of arrays, optional
        The states :math:`[X_1, \dots, X_{L+1}]` that are data of the block (default:
        ``net.states_`` when it has ``m`` columns, else the forward pass).
    solver : str, optional
        Pin a CVXPY solver.

    Returns
    -------
    BlockReference
        Its ``solution`` is ``(W, b)`` for ``"W<l>"``, the state for ``"X<l>"`` and
        ``"output"``, the list of states for ``"joint"`` and ``"predict"``; ``check(candidate)``
        grades a candidate in the same format.

    Raises
    ------
    ValidationError
        For an unknown block, bad data, or a block that cannot be assembled in CVXPY (an atom
        without a CVXPY declaration, or a non-convex joint block).
    NotFittedError
        When the network has no weights.
    """
    if getattr(net, "weights_", None) is None:
        raise NotFittedError("this LiftedNetwork has no weights yet: call fit() or init_weights() first")
    kind, l = _parse_block(net, block)
    X = check_matrix(X, "X", rows=net.sizes[0])
    m = X.shape[1]
    if kind in ("output_step", "joint_x_step"):
        if Y is None:
            raise ValidationError(f"block {block!r} needs the targets Y")
        Y = net.loss_.check_targets(check_matrix(Y, "Y", shape=(net.sizes[-1], m)))
    if states is None:
        cur = getattr(net, "states_", None)
        if cur is not None and len(cur) == net.n_layers and cur[0].shape[1] == m:
            states = list(cur)
        else:
            states = net.forward(X)
    else:
        if len(states) != net.n_layers:
            raise ValidationError(
                f"states must hold {net.n_layers} arrays [X1, ..., X{net.n_layers}], got {len(states)}"
            )
        states = [check_matrix(S, f"states[{j}]", shape=(net.sizes[j + 1], m)) for j, S in enumerate(states)]
    A, F, lam, rho = net.activations_, net.forms_, list(net.lam_), list(net.rho_)
    Wt, bt = net.weights_, net.biases_
    inputs = [X] + states[:-1]
    if kind == "w_step":
        args = (inputs[l], states[l], A[l], F[l], lam[l], rho[l])
    elif kind == "x_step":
        U0 = Wt[l - 1] @ inputs[l - 1] + bt[l - 1][:, None]
        args = (U0, Wt[l], bt[l], states[l], A[l - 1], F[l - 1], A[l], F[l], lam[l - 1], lam[l])
    elif kind == "output_step":
        L = net.n_layers - 1
        U0 = Wt[L] @ inputs[L] + bt[L][:, None]
        args = (U0, Y, A[L], F[L], lam[L], net.loss_)
    elif kind == "joint_x_step":
        args = (Wt[0] @ X + bt[0][:, None], Y, Wt, bt, A, F, lam, net.loss_)
    else:
        args = (X, Wt, bt, A, F, lam)
    return BlockReference(kind, args, block=block, solver=solver)


__all__ = [
    "BlockReference",
    "CheckReport",
    "Measure",
    "block_reference",
    "reference",
    "OBJ_RTOL",
    "OBJ_ATOL",
    "ITER_RTOL",
    "RESIDUAL_TOL",
    "KINDS",
]
