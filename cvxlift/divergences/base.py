r"""The divergence atom: the one mechanism every activation goes through.

A divergence :math:`D(u, z)` represents an activation :math:`\phi` as an argmin,

.. math:: \phi(u) = \arg\min_z D(u, z),

and comes in (up to) two forms:

``form="fenchel"`` (Fenchel-Young, bi-convex)
    :math:`D(u, z) = \Phi(z) + \Phi^*(u) - u^T z \ge 0`, zero exactly at
    :math:`z = \phi(u) = \nabla\Phi^*(u)`. Convex in ``z`` for fixed ``u`` and in ``u`` for
    fixed ``z``; not jointly convex.
``form="joint"`` (jointly convex)
    A function convex in :math:`(u, z)` together, e.g. :math:`\|z - u\|_2^2 + I_C(z)`
    (paper, section 3). Not zero on the graph of :math:`\phi` in general.

A subclass states, as class attributes, what CVXPY atoms state: the forms it has, the
cones each form needs (``cones``), whether it acts entrywise, and whether
:math:`\phi(su) = s\phi(u)` for :math:`s > 0` (``homogeneous``, used to rescale badly
scaled solves). It implements the CVXPY declaration (``phi``, ``phi_star``, ``joint``)
and, kept apart, the numpy side (``forward``, ``phi_value``, ``phi_star_value``,
``joint_value``, ``prox_phi``, ``prox_joint``).

Arrays follow the paper: one **column** per data point. Numpy methods accept a 1-D
vector (one column) or a 2-D ``(k, m)`` array; value methods return one number per
column. CVXPY methods return a scalar expression: the sum over entries and columns.

Defining a subclass with a ``name`` registers it (see :mod:`cvxlift.divergences.registry`).
"""
import numpy as np
import cvxpy as cp
from cvxpy.transforms import indicator

from .. import arrays as ax
from ..exceptions import FormError, ValidationError
from ..numeric import as_columns
from ..validation import as_real_array


def _to_float(x):
    """``float(x)``, or NaN for a non-number (so that the caller's range check names it)."""
    if isinstance(x, (bool, np.bool_)):
        return float("nan")
    try:
        return float(x)
    except (TypeError, ValueError):
        return float("nan")


def _real_columns(a, name):
    """:func:`as_columns` after a dtype check (complex, string and object data raise); a torch/cupy
    array stays in its library (atoms with ``array_api = True`` compute on it natively)."""
    if ax.is_foreign(a):
        return as_columns(a, name)
    return as_columns(as_real_array(a, name), name)

def _float(a):
    """``a`` as a float64 array of its own library."""
    return ax.as_float64(a) if ax.is_foreign(a) else np.asarray(a, dtype=float)


FORMS = ("fenchel", "joint")


def as_expr(x):
    """A CVXPY expression for ``x`` (numpy arrays become constants)."""
    if isinstance(x, cp.Expression):
        return x
    return cp.Constant(np.asarray(x, dtype=float))


def domain_indicator(constraints):
    """``cvxpy.transforms.indicator`` of the constraints that involve a variable.

    A constraint on Parameters alone (the data of a block, e.g. ``z >= 0`` in the W-step
    where ``z`` is fixed) cannot be left to the solver: a violation of 1e-13 from an
    earlier solve makes the whole problem "infeasible". Such constraints are dropped
    from the expression; the data are projected onto / checked against the domain
    numerically by the caller. Constraints on constants alone are kept, so that
    ``expr.value`` is ``inf`` outside the domain.
    """
    keep = [c for c in constraints if c.variables() or not c.parameters()]
    return indicator(keep) if keep else cp.Constant(0.0)


def colsum(values):
    """Sum of a 2-D per-entry array over rows: one value per column (in the array's own library)."""
    if ax.is_foreign(values):
        return ax.namespace(values).sum(values, axis=0)
    return np.sum(values, axis=0)


class Divergence:
    """Base class of divergence atoms. See the module docstring for the contract."""

    #: Registry key (lower case). ``None`` for abstract classes and unregistered atoms.
    name = None
    #: Forms this atom has, in order of preference; the first is the default.
    forms = FORMS
    #: Problem class each form needs: ``"QP"`` (piecewise quadratic: OSQP),
    #: ``"SOC"`` or ``"EXP"`` (exponential cone: Clarabel, ECOS, SCS).
    cones = {"fenchel": "QP", "joint": "QP"}
    #: ``True`` when the activation acts entry by entry (output size = input size).
    elementwise = True
    #: ``True`` when ``forward(s*u) == s*forward(u)`` for every ``s > 0``.
    homogeneous = False
    #: ``True`` when the numpy-side methods (``forward``, values, proxes, gradients) are written
    #: against the array API and take torch/cupy arrays natively; otherwise the fast solvers call
    #: them through :class:`cvxlift.arrays.NumpyBridge` (a host round trip for GPU arrays).
    array_api = False
    #: ``True`` when the DCP expression of ``Phi`` is an approximation (see ``approximation``).
    approximate = False
    #: Half-width of the range that ``verify`` samples inputs from.
    input_scale = 10.0
    #: Inputs where the map has a kink or a domain boundary (checked by ``verify``).
    kinks = (0.0,)
    #: Tolerance of ``verify`` on the scaled argmin error ``|z - forward(u)| / max(1, |u|)``.
    argmin_tol = 1e-5

    def __init_subclass__(cls, **kwargs):
        super().__init_subclass__(**kwargs)
        if cls.__dict__.get("name"):
            from .registry import register

            register(cls)

    # ------------------------------------------------------------------ structure
    @property
    def default_form(self):
        return self.forms[0]

    def check_form(self, form):
        """Return the form to use; raise :class:`FormError` for one this atom lacks."""
        if form is None:
            return self.default_form
        if form not in FORMS:
            raise FormError(f"form must be one of {FORMS}, got {form!r}")
        if form not in self.forms:
            raise FormError(
                f"{self!r} has no {form!r} form (it has {list(self.forms)}); "
                + self._missing_form_reason(form)
            )
        return form

    def _missing_form_reason(self, form):
        return ""

    def out_dim(self, n_in):
        """Length of ``forward(u)`` for an input column of length ``n_in``."""
        return int(n_in)

    def in_dim(self, n_out):
        """Length of the input column ``u`` that gives an output of length ``n_out``."""
        return int(n_out)

    def problem_class(self, form=None):
        """The problem class (``"QP"``, ``"SOC"``, ``"EXP"``) that ``form`` needs."""
        return self.cones[self.check_form(form)]

    def get_params(self):
        """Constructor arguments, as a dict of JSON-friendly values."""
        return {}

    def __sklearn_clone__(self):
        """``sklearn.base.clone`` of an estimator whose parameter is an atom: a new atom with
        the same constructor arguments (atoms hold no fitted state)."""
        return type(self)(**self.get_params())

    def __repr__(self):
        args = ", ".join(f"{k}={v!r}" for k, v in self.get_params().items())
        return f"{type(self).__name__}({args})"

    def __eq__(self, other):
        return type(self) is type(other) and self.get_params() == other.get_params()

    def __hash__(self):
        return hash((type(self).__name__, tuple(sorted(self.get_params().items()))))

    # ------------------------------------------------------------------ CVXPY declaration
    def phi(self, z):
        r""":math:`\Phi(z)` summed over entries, with its domain built in (CVXPY, convex)."""
        raise FormError(f"{self!r} has no Fenchel-Young form")

    def phi_star(self, u):
        r""":math:`\Phi^*(u)` summed over entries (CVXPY, convex)."""
        raise FormError(f"{self!r} has no Fenchel-Young form")

    def coupling(self, u, z):
        r"""The bilinear term :math:`\langle u, z\rangle` of the Fenchel-Young form."""
        return cp.sum(cp.multiply(as_expr(u), as_expr(z)))

    def joint(self, u, z):
        """The jointly convex divergence (CVXPY), domain built in."""
        raise FormError(f"{self!r} has no jointly convex form")

    def divergence(self, u, z, form=None):
        r"""The divergence :math:`D(u, z)` as a CVXPY scalar expression.

        ``form="fenchel"``: :math:`\Phi(z) + \Phi^*(u) - \langle u, z\rangle`;
        ``form="joint"``: the jointly convex form. ``u`` and ``z`` may be numpy arrays,
        parameters, variables or affine expressions; the result is DCP in ``z`` for fixed
        ``u`` and in ``u`` for fixed ``z`` (and jointly, for the joint form).
        """
        form = self.check_form(form)
        u, z = as_expr(u), as_expr(z)
        self._check_expr_shapes(u, z)
        if form == "fenchel":
            return self.phi(z) + self.phi_star(u) - self.coupling(u, z)
        return self.joint(u, z)

    def _check_expr_shapes(self, u, z):
        ushape, zshape = tuple(u.shape), tuple(z.shape)
        if len(ushape) != len(zshape) or len(ushape) not in (1, 2):
            raise ValidationError(
                f"u and z must both be vectors or both be 2-D (one column per data point); "
                f"got u.shape={ushape}, z.shape={zshape}"
            )
        if len(ushape) == 2 and ushape[1] != zshape[1]:
            raise ValidationError(
                f"u and z must have the same number of columns; got u.shape={ushape}, z.shape={zshape}"
            )
        if zshape[0] != self.out_dim(ushape[0]):
            raise ValidationError(
                f"{self!r} maps columns of length {ushape[0]} to length {self.out_dim(ushape[0])}; "
                f"got z with {zshape[0]} rows"
            )

    # ------------------------------------------------------------------ numpy side
    def forward(self, u):
        """The activation: exactly ``argmin_z D(u, z)``, column by column (numpy)."""
        U, vec = _real_columns(u, "u")
        self.check_input_dim(U.shape[0])
        Z = self._forward(U)
        return Z[:, 0] if vec else Z

    def __call__(self, u):
        return self.forward(u)

    def check_input_dim(self, n_in):
        """Raise :class:`ValidationError` if columns of length ``n_in`` are not accepted."""
        return None

    def _forward(self, U):
        raise NotImplementedError

    def phi_value(self, z):
        r""":math:`\Phi(z)` per column (``inf`` outside the domain)."""
        raise FormError(f"{self!r} has no Fenchel-Young form")

    def phi_star_value(self, u):
        r""":math:`\Phi^*(u)` per column."""
        raise FormError(f"{self!r} has no Fenchel-Young form")

    def joint_value(self, u, z):
        """The jointly convex divergence per column (``inf`` outside the domain)."""
        raise FormError(f"{self!r} has no jointly convex form")

    def divergence_value(self, u, z, form=None):
        """``D(u, z)`` per column, in numpy (the value of :meth:`divergence`)."""
        form = self.check_form(form)
        U, vec = _real_columns(u, "u")
        Z, _ = _real_columns(z, "z")
        self._check_expr_shapes(U, Z)
        if form == "fenchel":
            val = self.phi_value(Z) + self.phi_star_value(U) - colsum(U * Z)
        else:
            val = self.joint_value(U, Z)
        return val[0] if vec else val

    def prox_phi(self, w, t):
        r"""Proximal map of :math:`t\Phi`: :math:`\arg\min_z \Phi(z) + \|z - w\|^2/(2t)`."""
        raise FormError(f"{self!r} has no Fenchel-Young form")

    def prox_joint(self, u, v, t):
        r""":math:`\arg\min_z D_{joint}(u, z) + \|z - v\|^2/(2t)`."""
        raise FormError(f"{self!r} has no jointly convex form")

    def prox_z(self, u, v, t, form=None):
        r"""The z-side proximal operator :math:`\arg\min_z D(u, z) + \|z - v\|_2^2 / (2t)`.

        This is the operator the fast X-step solvers call. For the Fenchel-Young form it
        is :math:`\mathrm{prox}_{t\Phi}(v + t u)`. As :math:`t \to \infty` it tends to
        ``forward(u)``. ``t`` is a positive scalar or an array broadcastable to ``v``.
        """
        form = self.check_form(form)
        U, vec = _real_columns(u, "u")
        V, _ = _real_columns(v, "v")
        t = t if ax.is_foreign(t) else as_real_array(t, "t")
        if not bool(ax.namespace(t).all(t > 0)):
            raise ValidationError(f"t must be positive (a scalar or an array broadcastable to v); got {t!r}")
        if ax.is_numpy(t) and t.ndim == 0:
            t = float(t)
        elif ax.is_foreign(V) and not ax.is_foreign(t):
            t = ax.asarray(t, like=V)
        if form == "fenchel":
            Z = self.prox_phi(V + t * U, t)
        else:
            Z = self.prox_joint(U, V, t)
        return Z[:, 0] if vec else Z

    # ------------------------------------------------------------------ structure for the fast path
    #: Lipschitz constant of ``forward`` (= of the gradient of ``Phi*``).
    lipschitz = 1.0

    def u_gradient(self, u, z, form=None):
        r""":math:`\nabla_u D(u, z)` (numpy). Fenchel-Young: ``forward(u) - z``.

        Raises :class:`FormError` where ``D`` is not differentiable in ``u`` (see
        :meth:`u_lipschitz`).
        """
        form = self.check_form(form)
        if form == "fenchel":
            return self.forward(u) - _float(z)
        return self._joint_u_gradient(_float(u), _float(z))

    def _joint_u_gradient(self, u, z):
        raise FormError(f"{self!r}: the joint form is not differentiable in u")

    def u_lipschitz(self, form=None):
        """Lipschitz constant of :meth:`u_gradient`, or ``None`` where D is nonsmooth in u."""
        form = self.check_form(form)
        return self.lipschitz if form == "fenchel" else self._joint_u_lipschitz()

    def _joint_u_lipschitz(self):
        return None

    def z_quadratic(self, form=None):
        r"""``(mu, domain)`` when :math:`D(u, z) = \mu\|z - u\|^2 + I_C(z) + h(u)`, else ``None``.

        ``domain`` names ``C`` (``"real"``, ``"nonneg"``, ``"box"``, ``"simplex"``) and
        :meth:`project_domain` projects onto it. Fast solvers use this structure.
        """
        return None

    def project_domain(self, Z):
        """Euclidean projection onto ``C`` (atoms with :meth:`z_quadratic` only)."""
        raise FormError(f"{self!r} has no quadratic z-side")

    def grad_phi_star(self, u):
        r""":math:`\nabla\Phi^*(u)`, which equals ``forward(u)`` (Fenchel-Young form)."""
        self.check_form("fenchel")
        return self.forward(u)

    # ------------------------------------------------------------------ verification inputs
    def sample_inputs(self, rng, n_in, m):
        """Random input columns for ``verify``."""
        return rng.uniform(-self.input_scale, self.input_scale, size=(n_in, m))

    def verify_dim(self):
        """Column length ``verify`` uses (elementwise atoms: 1)."""
        return 1

    def edge_inputs(self, n_in):
        """Edge-case input columns for ``verify``: kinks, zero, boundaries, ties (2-D array)."""
        pts = sorted(set([0.0, *self.kinks, *(k + d for k in self.kinks for d in (-1e-9, 1e-9))]))
        return np.tile(np.asarray(pts)[None, :], (n_in, 1))


class ElementwiseProjectionMixin:
    r"""Helpers for atoms whose joint form is :math:`\|z - u\|_2^2 + I_C(z)` with ``C`` a box.

    The z-prox of that form is :math:`\Pi_C((2tu + v)/(2t + 1))`.
    """

    def _project(self, Z):  # pragma: no cover - overridden
        raise NotImplementedError

    def _in_domain(self, Z):  # pragma: no cover - overridden
        raise NotImplementedError

    #: Name of the domain ``C`` of ``z`` (see :meth:`Divergence.z_quadratic`).
    domain_name = "real"

    def z_quadratic(self, form=None):
        return (0.5 if self.check_form(form) == "fenchel" else 1.0, self.domain_name)

    def project_domain(self, Z):
        return self._project(_float(Z))

    def _joint_u_gradient(self, u, z):
        return 2.0 * (u - z)

    def _joint_u_lipschitz(self):
        return 2.0

    def joint_value(self, u, z):
        U, _ = as_columns(u, "u")
        Z, _ = as_columns(z, "z")
        val = colsum((Z - U) ** 2)
        xp = ax.namespace(Z)
        return xp.where(xp.all(self._in_domain(Z), axis=0), val, xp.inf)

    def prox_joint(self, U, V, t):
        return self._project((2 * t * U + V) / (2 * t + 1))

    def _forward(self, U):
        return self._project(U)
