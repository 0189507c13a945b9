r"""Plots: training curves (``cvxlift demo``) and pictures of divergences (``cvxlift plot``).

Needs matplotlib (``pip install "cvxlift[plot]"``). matplotlib is imported inside the
functions, so importing this module (or ``cvxlift``) never pulls it in. The figures are
drawn with matplotlib's object-oriented API and the Agg canvas: no pyplot state and no
change of the user's backend (pass ``figure=plt.figure()`` to draw into a pyplot figure).

:func:`plot_divergence` draws an atom: :math:`D(u, \cdot)` for a few inputs with the
minimiser marked, and :math:`\arg\min_z D(u, z)` over a line of inputs, computed by CVXPY
from the atom's declaration, against the activation ``forward`` that the atom claims.
:func:`divergence_curves` returns the numbers drawn.
"""

from dataclasses import dataclass, field

from .exceptions import ValidationError

__all__ = ["plot_training", "plot_divergence", "divergence_curves", "DivergenceCurves", "matplotlib_available"]


def matplotlib_available():
    """True when matplotlib can be imported."""
    try:
        import matplotlib  # noqa: F401
    except ImportError:
        return False
    return True


def plot_training(objective, accuracy, path, title=None, dpi=110):
    """Write a two-panel PNG: the lifted objective per sweep and the test accuracy per sweep.

    Parameters
    ----------
    objective : sequence of float
        Lifted objective after each sweep; entry 0 is the objective at initialisation.
    accuracy : sequence of float
        Test accuracy (fraction in [0, 1]) after each sweep, entry 0 at initialisation.
    path : str or path-like
        Output file (PNG).
    title : str, optional
        Title of the figure.
    dpi : int, default 110
        Resolution of the PNG.

    Returns
    -------
    path
        ``path``, as given.

    Raises
    ------
    ImportError
        When matplotlib is not installed.
    """
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    fig = Figure(figsize=(9.0, 3.6), layout="constrained")
    FigureCanvasAgg(fig)
    ax_obj, ax_acc = fig.subplots(1, 2)
    sweeps = range(len(objective))
    ax_obj.plot(sweeps, objective, marker="o", color="tab:blue")
    if min(objective) > 0:
        ax_obj.set_yscale("log")
    ax_obj.set_xlabel("sweep")
    ax_obj.set_ylabel("lifted objective")
    ax_obj.set_title("lifted training objective")
    ax_obj.grid(True, alpha=0.3)
    ax_acc.plot(range(len(accuracy)), [100.0 * a for a in accuracy], marker="o", color="tab:green")
    ax_acc.set_xlabel("sweep")
    ax_acc.set_ylabel("test accuracy (%)")
    ax_acc.set_ylim(0, 100)
    ax_acc.set_title("test accuracy, forward prediction")
    ax_acc.grid(True, alpha=0.3)
    for ax in (ax_obj, ax_acc):
        ax.xaxis.get_major_locator().set_params(integer=True)
    if title:
        fig.suptitle(title)
    fig.savefig(path, dpi=dpi)
    return path


# ---------------------------------------------------------------------- divergence pictures
@dataclass
class DivergenceCurves:
    r"""The numbers behind :func:`plot_divergence` (see there for the geometry).

    Attributes
    ----------
    atom : Divergence
    form : str
        ``"fenchel"`` or ``"joint"``.
    slice : str
        What is drawn, in words: how the line parameter ``s`` gives the input column
        ``u(s)`` and how the coordinate ``t`` gives the state ``z(t)``.
    s : ndarray (n,)
        Points of the line.
    argmin : ndarray (n,)
        Coordinate ``t`` of :math:`\arg\min_z D(u(s), z)` at each point, from the atom's
        CVXPY problem solved to tight accuracy (not from ``forward``).
    claimed : ndarray (n,)
        The same coordinate of ``forward(u(s))``, the activation the atom claims.
    max_error : float
        :math:`\max_s |\text{argmin} - \text{claimed}| / \max(1, |s|)`.
    samples : list of dict
        One per sample input: ``s``, ``t`` (grid of the coordinate), ``D`` (divergence on
        the grid, finite values only), ``t_min`` and ``D_min`` (numeric minimiser and its
        value), ``t_claimed`` and ``D_claimed`` (the claim and the divergence there), and
        ``flat`` = ``(lo, hi)``, the grid points within ``1e-9 (1 + |D_min|)`` of the
        smallest grid value (a wide interval: the minimiser is not unique).
    solver : str
        The CVXPY solver that computed ``argmin``.
    u_label, z_label : str
        Axis labels: the line parameter and the coordinate of the state.
    """

    atom: object
    form: str
    slice: str
    s: object
    argmin: object
    claimed: object
    max_error: float
    samples: list = field(default_factory=list)
    solver: str = ""
    u_label: str = "u"
    z_label: str = "z"


class _Slice:
    """A one-dimensional picture of an atom: ``u(s)`` (input columns) and ``z(t)`` (states)."""

    def __init__(self, atom, form):
        import numpy as np

        self.np = np
        if atom.elementwise:
            self.n_in, self.k = 1, 1
            self.kind, self.text = "elementwise", "elementwise: u and z are scalars"
            self.u_label, self.z_label = "u", "z"
            return
        quad = atom.z_quadratic(form)
        if quad is not None and quad[1] == "simplex":
            self.n_in, self.k = 2, 2
            self.kind = "simplex"
            self.text = "k = 2: u = (s/2, -s/2), z = (t, 1 - t) on the simplex; t = first coordinate"
            self.u_label, self.z_label = "s, with u = (s/2, -s/2)", "t, with z = (t, 1 - t)"
            return
        n_in = _try_int(lambda: atom.in_dim(1))
        if n_in is not None and n_in > 1 and _try_int(lambda: atom.out_dim(n_in)) == 1:
            self.n_in, self.k = n_in, 1
            self.kind = "pool"
            rest = ", 0" * (n_in - 2)
            self.text = f"one block of {n_in} inputs: u = (s, 1{rest}), z scalar"
            self.u_label, self.z_label = f"s, with u = (s, 1{rest})", "z"
            return
        raise ValidationError(
            f"plot_divergence cannot draw {atom!r}: it draws elementwise atoms (u and z scalars), "
            "pooling atoms with one output per block (u = (s, 1, 0, ...), z scalar) and simplex-valued "
            "atoms (z_quadratic domain 'simplex'; k = 2, u = (s/2, -s/2), z = (t, 1 - t)); this atom is "
            "not elementwise, has no simplex domain and does not map in_dim(1) inputs to one output"
        )

    def u(self, s):
        """Input columns ``u(s)``, shape ``(n_in, len(s))``."""
        np = self.np
        s = np.asarray(s, dtype=float)
        if self.kind == "simplex":
            return np.stack([s / 2.0, -s / 2.0])
        U = np.zeros((self.n_in, s.size))
        U[0] = s
        if self.kind == "pool":
            U[1] = 1.0
        return U

    def z(self, t):
        """State columns ``z(t)``, shape ``(k, len(t))``."""
        np = self.np
        t = np.asarray(t, dtype=float)
        return np.stack([t, 1.0 - t]) if self.kind == "simplex" else t[None, :]

    def coordinate(self, Z):
        """The coordinate ``t`` of state columns ``Z``."""
        return self.np.asarray(Z, dtype=float)[0]


def _try_int(fn):
    try:
        return int(fn())
    except Exception:  # an atom that cannot answer the question is simply not of this kind
        return None


def _default_range(atom):
    import numpy as np

    kinks = [abs(float(k)) for k in getattr(atom, "kinks", ()) if np.isfinite(k)]
    return 4.0 if not kinks else max(4.0, 2.0 * max(kinks))


def _numeric_argmin(atom, form, U, label):
    r"""Columns of :math:`\arg\min_Z D(U, Z)` from the atom's CVXPY problem (one solve, all columns)."""
    import cvxpy as cp
    import numpy as np

    from .assembly import z_side
    from .cvxsolve import solve

    k = atom.out_dim(U.shape[0])
    Z = cp.Variable((k, U.shape[1]), name="z")
    try:
        objective = z_side(atom, form, cp.Constant(U), Z)
        problem = cp.Problem(cp.Minimize(objective))
        if not problem.is_dcp():
            raise ValidationError(
                f"{label}: the divergence is not convex in z as declared (not DCP), so it has no argmin to draw"
            )
    except (cp.error.DCPError, TypeError, AttributeError, NotImplementedError) as exc:
        raise ValidationError(
            f"{label}: cannot build the CVXPY problem min_z D(u, z) "
            f"({type(exc).__name__}: {' '.join(str(exc).split())})"
        ) from None
    info = solve(problem, atom.problem_class(form), block=f"{label}, argmin over z", accuracy="tight")
    return np.asarray(Z.value, dtype=float), info.solver


def divergence_curves(atom, form=None, u=None, u_range=None, n_line=201, n_grid=401):
    r"""Compute what :func:`plot_divergence` draws: :math:`D(u, \cdot)` for a few ``u`` and
    the argmin over a line of inputs against the claimed activation.

    The argmin is computed, not assumed: one CVXPY problem
    :math:`\min_Z \sum_j D(u_j, z_j)` over every input of the line at once (the columns
    are independent), solved to tight accuracy with the atom's own declaration
    (:math:`\Phi(z) - \langle u, z\rangle` for the Fenchel-Young form, the joint
    expression otherwise). ``forward`` only supplies the claim it is compared with.

    Parameters
    ----------
    atom : str, Divergence or Divergence subclass
        A registered name, a built-in or a user-declared atom
        (:func:`cvxlift.declare_divergence`).
    form : {None, "fenchel", "joint"}
        The divergence form; ``None``: the atom's default form.
    u : sequence of float, optional
        Line parameters ``s`` of the sample inputs whose :math:`D(u(s), \cdot)` is drawn
        (default: four points spread over the range).
    u_range : float or (float, float), optional
        The line, :math:`s \in [-r, r]` or ``[lo, hi]`` (default: ``r = max(4, 2 max|kink|)``).
    n_line : int
        Points of the line (default 201).
    n_grid : int
        Grid points of the coordinate ``t`` for each sample curve (default 401).

    Returns
    -------
    DivergenceCurves

    Raises
    ------
    ValidationError
        For an atom this function cannot draw (say what it draws), bad ranges, or a
        declaration that is not convex in ``z``.
    SolverError
        When no CVXPY solver solves the argmin problem.
    """
    import numpy as np

    from .divergences import get_divergence

    atom = get_divergence(atom)
    form = atom.check_form(form)
    geometry = _Slice(atom, form)
    lo, hi = _check_range(u_range if u_range is not None else _default_range(atom))
    for name, value, least in (("n_line", n_line, 3), ("n_grid", n_grid, 11)):
        if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < least:
            raise ValidationError(f"{name} must be an integer >= {least}, got {value!r}")
    if u is None:
        samples = np.round(lo + (hi - lo) * np.array([0.125, 0.375, 0.65, 0.9]), 2)
    else:
        samples = np.atleast_1d(np.asarray(u, dtype=float))
        if samples.ndim != 1 or samples.size < 1 or not np.all(np.isfinite(samples)):
            raise ValidationError(f"u must be a non-empty sequence of finite numbers (line parameters), got {u!r}")
    s = np.linspace(lo, hi, int(n_line))
    everything = np.concatenate([s, samples])
    U = geometry.u(everything)
    Zstar, solver = _numeric_argmin(atom, form, U, repr(atom))
    t_star = geometry.coordinate(Zstar)
    t_claim = geometry.coordinate(atom.forward(U))
    err = np.abs(t_star - t_claim) / np.maximum(1.0, np.abs(everything))
    curves = DivergenceCurves(
        atom=atom,
        form=form,
        slice=geometry.text,
        s=s,
        argmin=t_star[: s.size],
        claimed=t_claim[: s.size],
        max_error=float(np.max(err)),
        solver=solver,
        u_label=geometry.u_label,
        z_label=geometry.z_label,
    )
    for j, sj in enumerate(samples):
        i = s.size + j
        ts, tc = float(t_star[i]), float(t_claim[i])
        width = max(1.5, 0.6 * abs(ts - tc))
        grid = np.linspace(min(ts, tc) - width, max(ts, tc) + width, int(n_grid))
        grid = np.union1d(grid, [ts, tc])
        Ucol = geometry.u([sj])
        D = np.asarray(atom.divergence_value(np.repeat(Ucol, grid.size, axis=1), geometry.z(grid), form), float)
        ok = np.isfinite(D)
        d_star = float(atom.divergence_value(Ucol, geometry.z([ts]), form)[0])
        d_claim = float(atom.divergence_value(Ucol, geometry.z([tc]), form)[0])
        flat = (ts, ts)
        if ok.any():
            dmin = float(np.min(D[ok]))
            near = grid[ok][D[ok] <= dmin + 1e-9 * (1.0 + abs(dmin))]
            flat = (float(near.min()), float(near.max()))
        curves.samples.append(
            dict(s=float(sj), t=grid[ok], D=D[ok], t_min=ts, D_min=d_star, t_claimed=tc, D_claimed=d_claim, flat=flat)
        )
    return curves


def _check_range(r):
    import numpy as np

    try:
        arr = np.asarray(r, dtype=float)
    except (TypeError, ValueError):
        arr = np.array([np.nan])
    if arr.ndim == 0:
        lo, hi = -float(arr), float(arr)
    elif arr.shape == (2,):
        lo, hi = float(arr[0]), float(arr[1])
    else:
        lo = hi = float("nan")
    if not (np.isfinite(lo) and np.isfinite(hi) and lo < hi):
        raise ValidationError(f"u_range must be a positive number r (the line [-r, r]) or a pair lo < hi, got {r!r}")
    return lo, hi


def plot_divergence(
    atom, form=None, u=None, u_range=None, n_line=201, n_grid=401, figure=None, path=None, dpi=110, title=None
):
    r"""Draw an atom: :math:`D(u, \cdot)` for a few ``u`` with the minimiser marked, and the
    argmin over a whole line of inputs against the claimed activation ``forward``.

    Left panel: the divergence :math:`t \mapsto D(u(s), z(t))` for each sample ``s``; a dot
    at the numeric minimiser (CVXPY), a cross at the claim ``forward(u(s))``, and a thick
    bar along the bottom where the minimiser is not unique (grid points within
    :math:`10^{-9}` of the minimum). Right panel: :math:`\arg\min_z D(u(s), z)` over the
    line (dots, computed by one tight CVXPY solve, see :func:`divergence_curves`) and the
    claimed :math:`\phi(u(s))` (line); the title gives the largest scaled gap
    :math:`|\text{argmin} - \phi| / \max(1, |s|)`.

    Elementwise atoms are drawn on the real line (``u``, ``z`` scalars). Vector atoms:
    simplex-valued atoms with ``k = 2`` along :math:`u = (s/2, -s/2)`,
    :math:`z = (t, 1 - t)`; pooling atoms on one block, :math:`u = (s, 1, 0, \dots)`. Other
    vector atoms raise :class:`~cvxlift.exceptions.ValidationError` saying what is drawn.

    Parameters
    ----------
    atom, form, u, u_range, n_line, n_grid
        As in :func:`divergence_curves`.
    figure : matplotlib.figure.Figure, optional
        Draw into this figure (e.g. ``plt.figure()`` in a notebook); default: a new
        figure on the Agg canvas (no pyplot state touched).
    path : str or path-like or file object, optional
        Also save the figure there (format from the extension, PNG for a file object).
    dpi : int
        Resolution of the saved figure.
    title : str, optional
        Title of the figure (default: the atom and its form).

    Returns
    -------
    matplotlib.figure.Figure
        The figure; its artists carry ``gid`` values ``"curve-i"``, ``"minimiser-i"``,
        ``"claimed-i"``, ``"flat-i"`` (left) and ``"argmin"``, ``"forward"`` (right), and
        ``figure.cvxlift_curves`` holds the :class:`DivergenceCurves` drawn.

    Raises
    ------
    ImportError
        When matplotlib is not installed.
    """
    curves = divergence_curves(atom, form, u=u, u_range=u_range, n_line=n_line, n_grid=n_grid)
    if figure is None:
        from matplotlib.backends.backend_agg import FigureCanvasAgg
        from matplotlib.figure import Figure

        figure = Figure(figsize=(10.0, 3.9), layout="constrained")
        FigureCanvasAgg(figure)
    ax_d, ax_a = figure.subplots(1, 2)
    colours = ["tab:blue", "tab:orange", "tab:green", "tab:red", "tab:purple", "tab:brown"]
    for i, smp in enumerate(curves.samples):
        c = colours[i % len(colours)]
        ax_d.plot(smp["t"], smp["D"], color=c, lw=1.6, label=f"s = {smp['s']:g}", gid=f"curve-{i}")
        ax_d.plot([smp["t_min"]], [smp["D_min"]], "o", color=c, ms=7, gid=f"minimiser-{i}")
        ax_d.plot([smp["t_claimed"]], [smp["D_claimed"]], "x", color="black", ms=8, mew=1.5, gid=f"claimed-{i}")
        lo, hi = smp["flat"]
        if hi - lo > 2.5 * (smp["t"][1] - smp["t"][0] if smp["t"].size > 1 else 0.0):
            ax_d.plot([lo, hi], [smp["D_min"]] * 2, color=c, lw=6, alpha=0.35, solid_capstyle="butt", gid=f"flat-{i}")
    ax_d.set_xlabel(curves.z_label)
    ax_d.set_ylabel("D(u, z)")
    ax_d.set_title("D(u(s), ·): ● numeric minimiser, × forward(u)", fontsize=10)
    ax_d.legend(fontsize=8, loc="best")
    ax_d.grid(True, alpha=0.3)
    ax_a.plot(curves.s, curves.claimed, color="0.55", lw=4.5, alpha=0.8, label="claimed forward(u)", gid="forward")
    ax_a.plot(
        curves.s,
        curves.argmin,
        "o",
        color="tab:red",
        ms=3,
        markevery=max(1, curves.s.size // 60),
        label="argmin (CVXPY)",
        gid="argmin",
    )
    ax_a.set_xlabel(curves.u_label)
    ax_a.set_ylabel(f"argmin, forward ({curves.z_label.split(',')[0]})")
    ax_a.set_title(f"argmin over the line vs forward: max scaled gap {curves.max_error:.1e}", fontsize=10)
    ax_a.legend(fontsize=8, loc="best")
    ax_a.grid(True, alpha=0.3)
    figure.suptitle(
        title if title is not None else f"{curves.atom!r}, form={curves.form!r} ({curves.slice})", fontsize=11
    )
    figure.cvxlift_curves = curves
    if path is not None:
        figure.savefig(path, dpi=dpi, format=None if hasattr(path, "__fspath__") or isinstance(path, str) else "png")
    return figure
