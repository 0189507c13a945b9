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

Defining a subclass checks the contract at class creation (:func:`check_contract`): every
form in ``forms`` must have its CVXPY pieces (``phi`` and ``phi_star``, or ``joint``) and its
numpy pieces (``_forward`` and the value methods; a proximal map too for atoms that are not
elementwise -- elementwise atoms get one derived from ``forward``, see
:mod:`cvxlift.fast.numeric_prox`). A missing one raises :class:`FormError` naming it. A
subclass with a ``name`` registers itself (see :mod:`cvxlift.divergences.registry`);
``class A(Divergence, abstract=True)`` skips both, ``register=False`` skips registration.

**Structure for the fast path.** Each fact a fast solver relies on is a method here,
derived from the form (for user atoms: declared, and checked by ``verify``):
:meth:`~Divergence.z_domain`, :meth:`~Divergence.u_lipschitz` (``lipschitz``, the Lipschitz
constant of ``forward``: ``None`` when unknown, never a silent default),
:meth:`~Divergence.z_quadratic`, :meth:`~Divergence.u_quadratic`,
:meth:`~Divergence.coupling_scale` (the tilt structure), ``elementwise``, and
:meth:`~Divergence.prox_kind` / :meth:`~Divergence.u_prox_kind`.
"""

import cvxpy as cp
import numpy as np
from cvxpy.transforms import indicator

from .. import arrays as ax
from ..exceptions import FormError, ValidationError
from ..numeric import as_columns
from ..validation import as_real_array
from .domain import Real


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

#: The pieces each form needs: CVXPY expressions, numpy methods, and the numpy proximal map
#: (required only of atoms that are not elementwise).
CONTRACT = {
    "fenchel": {
        "cvxpy": ("phi", "phi_star"),
        "numpy": ("_forward", "phi_value", "phi_star_value"),
        "prox": ("prox_phi",),
    },
    "joint": {"cvxpy": ("joint",), "numpy": ("_forward", "joint_value"), "prox": ("prox_joint",)},
}
_WHAT = {
    "phi": "the CVXPY expression of Phi",
    "phi_star": "the CVXPY expression of Phi*",
    "joint": "the CVXPY expression of the joint divergence",
    "_forward": "the activation (numpy)",
    "phi_value": "Phi in numpy",
    "phi_star_value": "Phi* in numpy",
    "joint_value": "the joint divergence in numpy",
    "prox_phi": "the proximal map of Phi (numpy)",
    "prox_joint": "the z-proximal map of the joint form (numpy)",
}


def has_own(cls, method):
    """``True`` when ``method`` is implemented by ``cls`` or a base other than :class:`Divergence`.

    Parameters
    ----------
    cls : type
    method : str

    Returns
    -------
    bool
    """
    for klass in cls.__mro__:
        if method in klass.__dict__:
            return klass is not Divergence
    return False


def check_contract(cls):
    """Raise :class:`FormError` when a form ``cls`` declares lacks one of its pieces.

    Parameters
    ----------
    cls : type
        A :class:`Divergence` subclass.

    Raises
    ------
    FormError
        Naming the class, the form and the missing method.
    """
    forms = cls.__dict__.get("forms", getattr(cls, "forms", FORMS))
    if isinstance(forms, property):
        return
    if isinstance(forms, str) or not all(f in FORMS for f in forms) or not forms:
        raise FormError(f"class {cls.__qualname__}: forms must be a non-empty tuple of {FORMS}, got {forms!r}")
    dsl = getattr(cls, "dsl_forms", None)
    dsl = forms if dsl is None or isinstance(dsl, property) else dsl
    elementwise = getattr(cls, "elementwise", True)
    elementwise = elementwise if isinstance(elementwise, bool) else False
    for form in forms:
        need = list(CONTRACT[form]["numpy"])
        if form in dsl:
            need = list(CONTRACT[form]["cvxpy"]) + need
        if not elementwise:
            need += list(CONTRACT[form]["prox"])
        for method in need:
            if not has_own(cls, method):
                raise FormError(
                    f"class {cls.__qualname__} declares the {form!r} form but does not implement {method} "
                    f"({_WHAT[method]}); implement it, or drop {form!r} from forms"
                )


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
    r"""Base class of divergence atoms. See the module docstring for the contract.

    A divergence :math:`D(u, z) \ge 0` defines its activation as :math:`\phi(u) = \arg\min_z D(u, z)`.
    Fenchel-Young form: :math:`D(u, z) = \Phi(z) + \Phi^*(u) - \langle u, z\rangle`; joint form: a
    function jointly convex in :math:`(u, z)`. Arrays hold one column per data point: ``u`` has shape
    ``(k, m)`` and ``z`` shape ``(k', m)`` with ``k' = out_dim(k)``.

    Subclasses take their own constructor arguments (returned by :meth:`get_params`); the base
    takes none.

    Attributes
    ----------
    name : str or None
        Registry key (lower case); ``None`` for abstract classes and unregistered atoms.
    forms : tuple of str
        The forms (``"fenchel"``, ``"joint"``) this atom has, the default first.
    cones : dict
        Problem class (``"QP"``, ``"SOC"``, ``"EXP"``) each form needs.
    elementwise : bool
        The activation acts entry by entry.
    homogeneous : bool
        :math:`\phi(su) = s\phi(u)` for every :math:`s > 0`.
    lipschitz : float or None
        Lipschitz constant of ``forward`` (of :math:`\nabla\Phi^*`); ``None`` when unknown.
    """

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

    #: Forms whose CVXPY pieces exist (``None``: every form); numeric declarations have none.
    dsl_forms = None

    def __init_subclass__(cls, abstract=False, register=True, replace=False, **kwargs):
        """Check the atom contract (unless ``abstract``) and register a class with a ``name``.

        Parameters
        ----------
        abstract : bool
            A partial class (a base for other atoms): no check, no registration.
        register : bool
            Register a class that sets ``name`` (default ``True``).
        replace : bool
            Replace a registered class of the same name (otherwise a duplicate raises).

        Raises
        ------
        FormError
            A declared form lacks one of its pieces (named in the message).
        ValidationError
            The name is registered already (see :func:`~cvxlift.divergences.registry.register`).
        """
        super().__init_subclass__(**kwargs)
        if abstract:
            return
        check_contract(cls)
        if register and cls.__dict__.get("name"):
            from .registry import register as _register

            _register(cls, replace=replace)

    # ------------------------------------------------------------------ structure
    @property
    def default_form(self):
        return self.forms[0]

    def check_form(self, form):
        """Return the form to use; raise :class:`FormError` for one this atom lacks.

        Parameters
        ----------
        form : {"fenchel", "joint"} or None
            The requested form; ``None`` selects :attr:`default_form` (the first of ``forms``).

        Returns
        -------
        str
            The form, one of ``forms``.

        Raises
        ------
        FormError
            ``form`` is not a known form, or this atom does not have it.
        """
        if form is None:
            return self.default_form
        if form not in FORMS:
            raise FormError(f"form must be one of {FORMS}, got {form!r}")
        if form not in self.forms:
            raise FormError(
                f"{self!r} has no {form!r} form (it has {list(self.forms)}); " + self._missing_form_reason(form)
            )
        return form

    def _missing_form_reason(self, form):
        return ""

    def out_dim(self, n_in):
        """Length of ``forward(u)`` for an input column of length ``n_in``.

        Elementwise atoms keep the length; vector atoms (e.g. a max-pool) override it.

        Parameters
        ----------
        n_in : int
            Length ``k`` of an input column ``u``.

        Returns
        -------
        int
            Length ``k'`` of the output column ``z = forward(u)``.
        """
        return int(n_in)

    def in_dim(self, n_out):
        """Length of the input column ``u`` that gives an output of length ``n_out``.

        The inverse of :meth:`out_dim`.

        Parameters
        ----------
        n_out : int
            Length ``k'`` of an output column ``z``.

        Returns
        -------
        int
            Length ``k`` of the input column ``u``.
        """
        return int(n_out)

    def problem_class(self, form=None):
        """The problem class (``"QP"``, ``"SOC"``, ``"EXP"``) that ``form`` needs.

        Parameters
        ----------
        form : {"fenchel", "joint"}, optional
            Default: the atom's first form.

        Returns
        -------
        str
            ``"QP"`` (piecewise quadratic, OSQP), ``"SOC"`` (second-order cone) or ``"EXP"``
            (exponential cone: Clarabel, ECOS, SCS); read from ``cones``.
        """
        return self.cones[self.check_form(form)]

    def get_params(self):
        """Constructor arguments, as a dict of JSON-friendly values.

        ``type(atom)(**atom.get_params())`` rebuilds an equal atom (used by ``repr``, equality,
        hashing, ``sklearn.base.clone`` and persistence).

        Returns
        -------
        dict
            Argument name to value (empty for atoms without parameters).
        """
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
        r""":math:`\Phi(z)` summed over entries, with its domain built in (CVXPY, convex).

        Part of the Fenchel-Young form :math:`D(u, z) = \Phi(z) + \Phi^*(u) - \langle u, z\rangle`.

        Parameters
        ----------
        z : cvxpy.Expression
            States, shape ``(k', m)`` (one column per data point) or ``(k',)``.

        Returns
        -------
        cvxpy.Expression
            A convex scalar: :math:`\sum_j \Phi(z_j)`, with :math:`I_{\mathrm{dom}\,\Phi}` included.

        Raises
        ------
        FormError
            The atom has no Fenchel-Young form.
        """
        raise FormError(f"{self!r} has no Fenchel-Young form")

    def phi_star(self, u):
        r""":math:`\Phi^*(u)` summed over entries (CVXPY, convex).

        :math:`\Phi^*(u) = \sup_z \langle u, z\rangle - \Phi(z)`, the convex conjugate of :meth:`phi`;
        its gradient is the activation, :math:`\nabla\Phi^*(u) = \phi(u)`.

        Parameters
        ----------
        u : cvxpy.Expression
            Pre-activations, shape ``(k, m)`` (one column per data point) or ``(k,)``.

        Returns
        -------
        cvxpy.Expression
            A convex scalar: :math:`\sum_j \Phi^*(u_j)`.

        Raises
        ------
        FormError
            The atom has no Fenchel-Young form.
        """
        raise FormError(f"{self!r} has no Fenchel-Young form")

    def coupling(self, u, z):
        r"""The bilinear term :math:`\langle u, z\rangle` of the Fenchel-Young form.

        Parameters
        ----------
        u, z : array_like or cvxpy.Expression
            Same shape ``(k, m)``; at most one of them may be a variable for the result to be DCP.

        Returns
        -------
        cvxpy.Expression
            The scalar :math:`\sum_{i,j} u_{ij} z_{ij}`.
        """
        return cp.sum(cp.multiply(as_expr(u), as_expr(z)))

    def joint(self, u, z):
        r"""The jointly convex divergence (CVXPY), domain built in.

        E.g. :math:`\|z - u\|_2^2 + I_C(z)` for a projection activation :math:`\phi = \Pi_C`.

        Parameters
        ----------
        u : cvxpy.Expression
            Pre-activations, shape ``(k, m)`` or ``(k,)``.
        z : cvxpy.Expression
            States, shape ``(k', m)`` or ``(k',)`` with ``k' = out_dim(k)``.

        Returns
        -------
        cvxpy.Expression
            A scalar jointly convex in ``(u, z)``: the sum over columns.

        Raises
        ------
        FormError
            The atom has no jointly convex form.
        """
        raise FormError(f"{self!r} has no jointly convex form")

    def divergence(self, u, z, form=None):
        r"""The divergence :math:`D(u, z)` as a CVXPY scalar expression.

        ``form="fenchel"``: :math:`\Phi(z) + \Phi^*(u) - \langle u, z\rangle`;
        ``form="joint"``: the jointly convex form. ``u`` and ``z`` may be numpy arrays,
        parameters, variables or affine expressions; the result is DCP in ``z`` for fixed
        ``u`` and in ``u`` for fixed ``z`` (and jointly, for the joint form).

        Parameters
        ----------
        u : array_like or cvxpy.Expression
            Pre-activations, shape ``(k, m)`` (one column per data point) or ``(k,)``.
        z : array_like or cvxpy.Expression
            States, shape ``(k', m)`` or ``(k',)`` with ``k' = out_dim(k)``.
        form : {"fenchel", "joint"}, optional
            Default: the atom's first form.

        Returns
        -------
        cvxpy.Expression
            A scalar, the sum of :math:`D(u_j, z_j)` over the columns ``j``.

        Raises
        ------
        FormError
            The atom lacks ``form``.
        ValidationError
            ``u`` and ``z`` have incompatible shapes.
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
        r"""The activation: exactly ``argmin_z D(u, z)``, column by column (numpy).

        For the Fenchel-Young form, :math:`\phi(u) = \nabla\Phi^*(u) = \arg\min_z D(u, z)`.

        Parameters
        ----------
        u : array_like
            Pre-activations, shape ``(k, m)`` (one column per data point) or ``(k,)``.

        Returns
        -------
        ndarray
            :math:`\phi(u)`, shape ``(k', m)`` (or ``(k',)`` for a vector input), ``k' = out_dim(k)``.

        Raises
        ------
        ValidationError
            ``u`` is not a real array of 1 or 2 dimensions, or its column length is not accepted.
        """
        U, vec = _real_columns(u, "u")
        self.check_input_dim(U.shape[0])
        Z = self._forward(U)
        return Z[:, 0] if vec else Z

    def __call__(self, u):
        return self.forward(u)

    def check_input_dim(self, n_in):
        """Raise :class:`ValidationError` if columns of length ``n_in`` are not accepted.

        Every length is accepted by default; vector atoms with a fixed size override this.

        Parameters
        ----------
        n_in : int
            Length ``k`` of an input column.

        Returns
        -------
        None

        Raises
        ------
        ValidationError
            The atom does not accept columns of length ``n_in``.
        """
        return None

    def _forward(self, U):
        raise NotImplementedError

    def phi_value(self, z):
        r""":math:`\Phi(z)` per column (``inf`` outside the domain).

        Parameters
        ----------
        z : ndarray
            States, shape ``(k', m)``.

        Returns
        -------
        ndarray
            Shape ``(m,)``: :math:`\Phi(z_j)` for each column ``j`` (``inf`` where
            :math:`z_j \notin \mathrm{dom}\,\Phi`).

        Raises
        ------
        FormError
            The atom has no Fenchel-Young form.
        """
        raise FormError(f"{self!r} has no Fenchel-Young form")

    def phi_star_value(self, u):
        r""":math:`\Phi^*(u)` per column.

        Parameters
        ----------
        u : ndarray
            Pre-activations, shape ``(k, m)``.

        Returns
        -------
        ndarray
            Shape ``(m,)``: :math:`\Phi^*(u_j) = \sup_z \langle u_j, z\rangle - \Phi(z)` for each column ``j``.

        Raises
        ------
        FormError
            The atom has no Fenchel-Young form.
        """
        raise FormError(f"{self!r} has no Fenchel-Young form")

    def joint_value(self, u, z):
        """The jointly convex divergence per column (``inf`` outside the domain).

        Parameters
        ----------
        u : ndarray
            Pre-activations, shape ``(k, m)``.
        z : ndarray
            States, shape ``(k', m)``.

        Returns
        -------
        ndarray
            Shape ``(m,)``: :math:`D_{joint}(u_j, z_j)` for each column ``j``.

        Raises
        ------
        FormError
            The atom has no jointly convex form.
        """
        raise FormError(f"{self!r} has no jointly convex form")

    def divergence_value(self, u, z, form=None):
        r"""``D(u, z)`` per column, in numpy (the value of :meth:`divergence`).

        Fenchel-Young: :math:`\Phi(z_j) + \Phi^*(u_j) - \langle u_j, z_j\rangle \ge 0`, zero exactly
        at :math:`z_j = \phi(u_j)`; joint: :meth:`joint_value`.

        Parameters
        ----------
        u : array_like
            Pre-activations, shape ``(k, m)`` (one column per data point) or ``(k,)``.
        z : array_like
            States, shape ``(k', m)`` or ``(k',)`` with ``k' = out_dim(k)``.
        form : {"fenchel", "joint"}, optional
            Default: the atom's first form.

        Returns
        -------
        ndarray or float
            Shape ``(m,)``, one value per column; a float for vector inputs.

        Raises
        ------
        FormError
            The atom lacks ``form``.
        ValidationError
            ``u`` and ``z`` are not real arrays of compatible shapes.
        """
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
        r"""Proximal map of :math:`t\Phi`: :math:`\arg\min_z \Phi(z) + \|z - w\|^2/(2t)`.

        Default for elementwise atoms: derived from ``forward`` by safeguarded monotone root
        finding (:func:`cvxlift.fast.numeric_prox.tilt_prox`), exact to rounding.

        Parameters
        ----------
        w : ndarray
            Prox centre, shape ``(k', m)``.
        t : float or ndarray
            Positive step, a scalar or an array broadcastable to ``w``.

        Returns
        -------
        ndarray
            :math:`\mathrm{prox}_{t\Phi}(w)`, shaped as ``w``.

        Raises
        ------
        FormError
            The atom has no Fenchel-Young form, or is not elementwise and does not override this.
        """
        self.check_form("fenchel")
        if not self.elementwise:
            raise FormError(f"{self!r}: prox_phi is not implemented (a vector atom needs its own)")
        from ..fast.numeric_prox import tilt_prox

        return tilt_prox(self._forward, w, t, 1.0, self.lipschitz)

    def prox_joint(self, u, v, t):
        r""":math:`\arg\min_z D_{joint}(u, z) + \|z - v\|^2/(2t)`.

        Default for elementwise atoms: from ``forward`` when the joint form has the tilt
        structure (:meth:`coupling_scale`), else a values-only 1-D minimisation of
        ``joint_value`` (:func:`cvxlift.fast.numeric_prox.joint_prox_values`).

        Parameters
        ----------
        u : ndarray
            Pre-activations (fixed), shape ``(k, m)``.
        v : ndarray
            Prox centre, shape ``(k', m)``.
        t : float or ndarray
            Positive step, a scalar or an array broadcastable to ``v``.

        Returns
        -------
        ndarray
            The minimiser ``z``, shaped as ``v``.

        Raises
        ------
        FormError
            The atom has no jointly convex form, or is not elementwise and does not override this.
        """
        self.check_form("joint")
        if not self.elementwise:
            raise FormError(f"{self!r}: prox_joint is not implemented (a vector atom needs its own)")
        from ..fast import numeric_prox

        kappa = self.coupling_scale("joint")
        U, V = np.broadcast_arrays(np.asarray(u, float), np.asarray(v, float))
        if kappa is not None:
            T = np.asarray(t, float)
            return numeric_prox.tilt_prox(self._forward, V + T * kappa * U, T, kappa, self.lipschitz)
        return numeric_prox.joint_prox_values(self, U, V, t)

    def prox_z(self, u, v, t, form=None):
        r"""The z-side proximal operator :math:`\arg\min_z D(u, z) + \|z - v\|_2^2 / (2t)`.

        This is the operator the fast X-step solvers call. For the Fenchel-Young form it
        is :math:`\mathrm{prox}_{t\Phi}(v + t u)`. As :math:`t \to \infty` it tends to
        ``forward(u)``. ``t`` is a positive scalar or an array broadcastable to ``v``.

        Parameters
        ----------
        u : array_like
            Pre-activations (fixed), shape ``(k, m)`` (one column per data point) or ``(k,)``.
        v : array_like
            Prox centre, shape ``(k', m)`` or ``(k',)`` with ``k' = out_dim(k)``.
        t : float or array_like
            Positive step :math:`t > 0`, a scalar or an array broadcastable to ``v``.
        form : {"fenchel", "joint"}, optional
            Default: the atom's first form.

        Returns
        -------
        ndarray
            The minimiser ``z``, shaped as ``v``.

        Raises
        ------
        ValidationError
            ``u``, ``v`` or ``t`` is not a real array, or ``t`` is not positive.
        FormError
            The atom lacks ``form`` or a proximal map for it.
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
    #: Lipschitz constant of ``forward`` (= of the gradient of ``Phi*``); ``None`` when not known.
    lipschitz = None

    def u_gradient(self, u, z, form=None):
        r""":math:`\nabla_u D(u, z)` (numpy). Fenchel-Young: ``forward(u) - z``.

        Parameters
        ----------
        u, z : ndarray
            Columns of pre-activations and states.
        form : {"fenchel", "joint"}, optional

        Returns
        -------
        ndarray
            The gradient, shaped as ``u``.

        Raises
        ------
        FormError
            Where ``D`` is not differentiable in ``u`` (see :meth:`u_lipschitz`).
        """
        form = self.check_form(form)
        if form == "fenchel":
            return self.forward(u) - _float(z)
        return self._joint_u_gradient(_float(u), _float(z))

    def _joint_u_gradient(self, u, z):
        mu = self.u_quadratic("joint")
        if mu is not None:
            return 2.0 * mu * (u - z)
        raise FormError(f"{self!r}: the joint form is not differentiable in u")

    def u_lipschitz(self, form=None):
        r"""Lipschitz constant of :meth:`u_gradient`, or ``None`` where D is nonsmooth in u
        or the constant is not known.

        Parameters
        ----------
        form : {"fenchel", "joint"}, optional
            Default: the atom's first form.

        Returns
        -------
        float or None
            ``L`` with :math:`\|\nabla_u D(u, z) - \nabla_u D(u', z)\| \le L\|u - u'\|`
            (Fenchel-Young: ``lipschitz``); ``None`` when unknown or nonsmooth.
        """
        form = self.check_form(form)
        if form == "fenchel":
            return None if self.lipschitz is None else float(self.lipschitz)
        return self._joint_u_lipschitz()

    def _joint_u_lipschitz(self):
        mu = self.u_quadratic("joint")
        return None if mu is None else 2.0 * mu

    def z_domain(self):
        """The domain :math:`C` of the states ``z`` (a :class:`~cvxlift.divergences.domain.Domain`).

        Returns
        -------
        Domain
        """
        return Real()

    def z_quadratic(self, form=None):
        r"""``(mu, domain)`` when :math:`D(u, z) = \mu\|z - u\|^2 + I_C(z) + h(u)`, else ``None``.

        ``domain`` names ``C`` (``"real"``, ``"nonneg"``, ``"box"``, ``"simplex"``) and
        :meth:`project_domain` projects onto it. Fast solvers use this structure.

        Parameters
        ----------
        form : {"fenchel", "joint"}, optional
            Default: the atom's first form.

        Returns
        -------
        tuple of (float, str) or None
            ``(mu, domain)``, or ``None`` when ``D`` does not have this structure.
        """
        return None

    def u_quadratic(self, form=None):
        r"""``mu`` when, as a function of ``u``, :math:`D(u, z) = \mu\|u - z\|^2 + g(z)`, else ``None``.

        Derived from :meth:`z_quadratic`: for the jointly convex form :math:`h = 0`; for the
        Fenchel-Young form with :math:`\Phi = \tfrac12\|z\|^2 + I_C`,
        :math:`h(u) = -\tfrac12\mathrm{dist}(u, C)^2`, constant only for ``C = "real"``.

        Parameters
        ----------
        form : {"fenchel", "joint"}, optional

        Returns
        -------
        float or None
        """
        form = self.check_form(form)
        zq = self.z_quadratic(form)
        if zq is not None and (form == "joint" or zq[1] == "real"):
            return float(zq[0])
        return None

    def coupling_scale(self, form=None):
        r""":math:`\kappa` when :math:`D(u, z) = A(z) - \kappa\langle u, z\rangle + B(u)` (the *tilt
        structure*), else ``None``.

        Then :math:`\arg\min_z D(u, z) + \langle g, z\rangle = \phi(u - g/\kappa)`: a tilted
        argmin is the forward map at a shifted input, and the z-prox follows from ``forward``
        alone (:func:`cvxlift.fast.numeric_prox.tilt_prox`). Every Fenchel-Young form has
        :math:`\kappa = 1`; a :meth:`z_quadratic` form has :math:`\kappa = 2\mu`.

        Parameters
        ----------
        form : {"fenchel", "joint"}, optional

        Returns
        -------
        float or None
        """
        form = self.check_form(form)
        if form == "fenchel":
            return 1.0
        zq = self.z_quadratic(form)
        return None if zq is None else 2.0 * float(zq[0])

    def project_domain(self, Z):
        r"""Euclidean projection onto the z-domain :math:`C` (:meth:`z_domain`).

        Parameters
        ----------
        Z : ndarray
            States, shape ``(k', m)``.

        Returns
        -------
        ndarray
            :math:`\Pi_C(Z) = \arg\min_{Y \in C} \|Y - Z\|_F`, shaped as ``Z``.
        """
        return self.z_domain().project(np.asarray(Z, dtype=float))

    def prox_u(self, z, w, t, form=None):
        r"""The u-side proximal operator :math:`\arg\min_u D(u, z) + \|u - w\|_2^2/(2t)`.

        Fenchel-Young: :math:`\mathrm{prox}_{t\Phi^*}(w + tz)`, by Moreau's identity
        :math:`\mathrm{prox}_{t\Phi^*}(x) = x - t\,\mathrm{prox}_{\Phi/t}(x/t)` from
        :meth:`prox_phi`. A :meth:`u_quadratic` joint form: :math:`(2\mu t z + w)/(2\mu t + 1)`.
        The fast W-step for atoms nonsmooth in ``u`` (:mod:`cvxlift.fast.generic`) uses it.

        Parameters
        ----------
        z : (k', m) ndarray
            States (fixed).
        w : (k, m) ndarray
            Prox centre.
        t : float or ndarray
            Positive step.
        form : {"fenchel", "joint"}, optional

        Returns
        -------
        ndarray
            The minimiser, shaped as ``w``.
        """
        form = self.check_form(form)
        Zc, _ = _real_columns(z, "z")
        Wc, vec = _real_columns(w, "w")
        t = as_real_array(t, "t")
        if not np.all(t > 0):
            raise ValidationError(f"t must be positive; got {t!r}")
        if form == "fenchel":
            X = Wc + t * Zc
            out = X - t * self.prox_phi(X / t, 1.0 / t)
        else:
            out = self._prox_u_joint(Zc, Wc, t)
        return out[:, 0] if vec else out

    def _prox_u_joint(self, Z, W, t):
        mu = self.u_quadratic("joint")
        if mu is None:
            raise FormError(f"{self!r}: no u-prox for the joint form")
        return (2.0 * mu * t * Z + W) / (2.0 * mu * t + 1.0)

    def prox_kind(self, form=None):
        """How :meth:`prox_z` is computed: ``"exact"`` (a closed form or a root to rounding),
        ``"numeric"`` (values-only 1-D minimisation, about 1e-8 relative), ``"dsl"`` (a CVXPY
        solve: not a fast operator) or ``None`` (none).

        Parameters
        ----------
        form : {"fenchel", "joint"}, optional

        Returns
        -------
        str or None
        """
        form = self.check_form(form)
        if has_own(type(self), "prox_phi" if form == "fenchel" else "prox_joint") or self.elementwise:
            if form == "joint" and not has_own(type(self), "prox_joint") and self.coupling_scale(form) is None:
                return "numeric"
            return "exact"
        return None

    def u_prox_kind(self, form=None):
        """How :meth:`prox_u` is computed (as :meth:`prox_kind`); ``None`` when there is none.

        Parameters
        ----------
        form : {"fenchel", "joint"}, optional

        Returns
        -------
        str or None
        """
        form = self.check_form(form)
        if form == "fenchel":
            return self.prox_kind(form)
        if has_own(type(self), "_prox_u_joint") or self.u_quadratic(form) is not None:
            return "exact"
        return None

    def has_dsl(self, form=None):
        """``True`` when ``form`` has CVXPY expressions (``False`` for numeric declarations).

        Parameters
        ----------
        form : {"fenchel", "joint"}, optional

        Returns
        -------
        bool
        """
        form = self.check_form(form)
        return form in (self.forms if self.dsl_forms is None else self.dsl_forms)

    def torch_module(self):
        """The PyTorch module computing ``forward`` on the last dimension (rows are data
        points in torch). Built-in atoms return theirs; others raise.

        Returns
        -------
        torch.nn.Module

        Raises
        ------
        cvxlift.exceptions.NoTorchEquivalent
            The atom has no torch module.
        """
        from ..exceptions import NoTorchEquivalent

        raise NoTorchEquivalent(
            f"no torch module for the atom {self!r}: define torch_module() on the class, or pass "
            "torch_module=... to declare_divergence"
        )

    # ------------------------------------------------------------------ verification inputs
    def sample_inputs(self, rng, n_in, m):
        """Random input columns for ``verify``.

        Uniform on :math:`[-s, s]` entrywise, ``s = input_scale``; atoms with a restricted input
        domain override this.

        Parameters
        ----------
        rng : numpy.random.Generator
            Source of randomness.
        n_in : int
            Column length ``k``.
        m : int
            Number of columns.

        Returns
        -------
        ndarray
            Shape ``(n_in, m)``, one input column per sample.
        """
        return rng.uniform(-self.input_scale, self.input_scale, size=(n_in, m))

    def verify_dim(self):
        """Column length ``verify`` uses (elementwise atoms: 1).

        Returns
        -------
        int
            The input column length ``k`` of the sampled problems.
        """
        return 1

    def edge_inputs(self, n_in):
        r"""Edge-case input columns for ``verify``: kinks, zero, boundaries, ties (2-D array).

        By default every point of ``kinks``, ``0`` and each kink shifted by :math:`\pm 10^{-9}`,
        repeated down the column.

        Parameters
        ----------
        n_in : int
            Column length ``k``.

        Returns
        -------
        ndarray
            Shape ``(n_in, p)``: ``p`` edge-case input columns.
        """
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
