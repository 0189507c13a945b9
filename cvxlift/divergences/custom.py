r"""User-declared divergences: :func:`declare_divergence`.

A researcher writes the convex :math:`\Phi` in CVXPY (domain included, e.g. with
``cvxpy.transforms.indicator``) and :math:`\Phi^*` (or a jointly convex :math:`D`), numpy
versions where available, and claims a forward map. The result is a full
:class:`Divergence` -- a class of its own, instantiated once -- that can be verified
(``cvxlift.verify``), used in a :class:`~cvxlift.LiftedNetwork` on either solver, and
registered.

Example (soft thresholding, :math:`\phi(u) = \mathrm{sign}(u)(|u| - 1)_+`)::

    soft = cvxlift.declare_divergence(
        "soft_threshold",
        phi=lambda z: 0.5 * cp.sum_squares(z) + cp.norm1(z),
        phi_star=lambda u: 0.5 * cp.sum_squares(cp.pos(cp.abs(u) - 1)),
        forward=lambda u: np.sign(u) * np.maximum(np.abs(u) - 1, 0),
        lipschitz=1.0,
    )
    assert cvxlift.verify(soft).passed

**What the fast path uses, and where it comes from.** Facts are declared and checked
(by ``verify``, fully, and by a quick probe the first time the fast path reads them):
``lipschitz`` (of ``forward``), ``domain`` (of ``z``), ``elementwise``, and for the joint
form ``u_quadratic``, ``coupling``, ``u_gradient``/``u_lipschitz``. Nothing defaults to
a guess: an undeclared Lipschitz constant is ``None`` (unknown), not 1.

**Numeric values** come from the numpy callables (``phi_value``, ``phi_star_value``,
``joint_value``) or, without them, from the CVXPY expressions evaluated column by column
(correct, slow). States within :data:`~cvxlift.divergences.domain.DOMAIN_TOL` of the
declared domain are projected onto it before a value is computed.

**Proximal maps.** A user-written numpy prox (``prox_phi``, ``prox_joint``, ``prox_u``)
is used only once certified: ``cvxlift.verify`` certifies it when its ``prox`` row passes
(against the CVXPY prox over ``t`` from 1e-6 to 1e9), as does ``cvxlift.certify``; both
record it with :func:`cvxlift.fast.registry.mark_certified`. Until then an elementwise atom
uses the prox derived from ``forward`` (:func:`cvxlift.fast.numeric_prox.tilt_prox`, exact)
or from numeric values (:func:`cvxlift.fast.numeric_prox.minimize_scalar`, ~1e-8), and a
vector atom a CVXPY solve over the whole array.

**Numeric declarations** (no CVXPY at all): give ``phi_value`` and ``phi_star_value`` (or
``joint_value``) and no ``phi`` (``joint``): the atom trains on ``solver="fast"``;
``verify`` checks it by numeric 1-D minimisation and marks its CVXPY rows unavailable.
"""

import itertools
import math
import types

import cvxpy as cp
import numpy as np

from ..exceptions import FormError, ValidationError
from ..numeric import as_columns
from .base import FORMS, Divergence
from .domain import as_domain

_COUNTER = itertools.count(1)

#: Options of :func:`declare_divergence` (besides name, forward, phi, phi_star, joint).
OPTIONS = (
    "phi_value",
    "phi_star_value",
    "joint_value",
    "prox_phi",
    "prox_joint",
    "prox_u",
    "u_gradient",
    "problem_class",
    "elementwise",
    "homogeneous",
    "out_dim",
    "input_scale",
    "kinks",
    "argmin_tol",
    "verify_dim",
    "approximation_error",
    "domain",
    "lipschitz",
    "u_lipschitz",
    "u_quadratic",
    "coupling",
    "torch_module",
)
#: ``argmin_tol`` of a declared atom unless given (the built-ins use the same).
DEFAULT_ARGMIN_TOL = 1e-5


def _positive(value, label, allow_none=True):
    if value is None and allow_none:
        return None
    try:
        x = float(value)
    except (TypeError, ValueError):
        x = float("nan")
    if isinstance(value, bool) or not (math.isfinite(x) and x > 0):
        raise ValidationError(f"{label} must be a positive finite number, got {value!r}")
    return x


def _callable(value, label, what):
    if value is not None and not callable(value):
        raise ValidationError(f"{label} must be a callable {what}, got {value!r}")
    return value


class CustomDivergence(Divergence, abstract=True):
    """Base class of the atoms :func:`declare_divergence` builds (one subclass per declaration).

    The declaration is held by the class (``_spec``); instances take no arguments and are
    all equal.
    """

    _spec = None

    def __init__(self):
        if self._spec is None:
            raise ValidationError("CustomDivergence is built by cvxlift.declare_divergence(...), not directly")

    # structure ------------------------------------------------------------------
    def get_params(self):
        return {}

    def __sklearn_clone__(self):
        """A declared atom holds callables, not fitted state: ``clone`` shares it."""
        return self

    def __repr__(self):
        return f"declare_divergence({self.name!r})"

    def out_dim(self, n_in):
        f = self._spec["out_dim"]
        return int(f(n_in)) if f else int(n_in)

    def verify_dim(self):
        return self._spec["verify_dim"] or 1

    def z_domain(self):
        return self._spec["domain"]

    def declared_facts(self, form=None):
        """The facts this declaration states (not derived), for the checks of ``verify`` and
        the fast path's probe: ``{"lipschitz", "u_lipschitz", "u_quadratic", "coupling",
        "domain", "elementwise"}`` as given (``None`` when not declared).

        Parameters
        ----------
        form : {"fenchel", "joint"}, optional

        Returns
        -------
        dict
        """
        form = self.check_form(form)
        sp = self._spec
        facts = {
            "elementwise": sp["elementwise"],
            "domain": sp["domain"] if sp["domain_declared"] else None,
            "lipschitz": sp["lipschitz"],
        }
        if form == "joint":
            facts.update(u_lipschitz=sp["u_lipschitz"], u_quadratic=sp["u_quadratic"], coupling=sp["coupling"])
        return facts

    def declared_prox(self, form=None, side="z"):
        """The user's numpy proximal map for ``form`` (``side="z"``: ``prox_phi`` /
        ``prox_joint``; ``side="u"``: ``prox_u``), or ``None``.

        Parameters
        ----------
        form : {"fenchel", "joint"}, optional
        side : {"z", "u"}

        Returns
        -------
        callable or None
        """
        form = self.check_form(form)
        if side == "u":
            return self._spec["prox_u"] if form == "joint" else None
        return self._spec["prox_phi" if form == "fenchel" else "prox_joint"]

    def declared_prox_z(self, u, v, t, form=None):
        r"""The z-prox *as declared*: :math:`\arg\min_z D(u, z) + \|z - v\|^2/(2t)` through the user's
        numpy ``prox_phi`` / ``prox_joint`` when one was given (certified or not), else
        :meth:`prox_z`. This is what a certification (``verify``'s ``prox`` row,
        ``cvxlift.certify``) must test before it marks the prox certified.

        Parameters
        ----------
        u, v : ndarray
        t : float or ndarray
        form : {"fenchel", "joint"}, optional

        Returns
        -------
        ndarray
        """
        form = self.check_form(form)
        user = self.declared_prox(form)
        if user is None:
            return self.prox_z(u, v, t, form)
        U, vec = as_columns(np.asarray(u, dtype=float))
        V, _ = as_columns(np.asarray(v, dtype=float))
        T = np.asarray(t, dtype=float)
        Z = user(V + T * U, T) if form == "fenchel" else user(U, V, T)
        Z = np.asarray(Z, dtype=float)
        return Z[:, 0] if vec else Z

    def _certified(self, form, part):
        from ..fast.registry import is_certified

        return is_certified(self, form, part)

    def _user_prox(self, form, side="z"):
        f = self.declared_prox(form, side)
        return f if f is not None and self._certified(form, "prox" if side == "z" else "prox_u") else None

    def u_lipschitz(self, form=None):
        form = self.check_form(form)
        if form == "fenchel":
            return self._spec["lipschitz"]
        if self._spec["u_lipschitz"] is not None:
            return self._spec["u_lipschitz"]
        mu = self._spec["u_quadratic"]
        return None if mu is None else 2.0 * mu

    @property
    def lipschitz(self):
        return self._spec["lipschitz"]

    def u_quadratic(self, form=None):
        form = self.check_form(form)
        return self._spec["u_quadratic"] if form == "joint" else None

    def coupling_scale(self, form=None):
        form = self.check_form(form)
        if form == "fenchel":
            return 1.0
        if self._spec["coupling"] is not None:
            return self._spec["coupling"]
        mu = self._spec["u_quadratic"]
        return None if mu is None else 2.0 * mu

    def _joint_u_gradient(self, u, z):
        g = self._spec["u_gradient"]
        if g is not None:
            Z, _ = self._clean(z)
            return np.asarray(g(u, Z), dtype=float)
        return super()._joint_u_gradient(u, z)

    def prox_kind(self, form=None):
        form = self.check_form(form)
        if self._user_prox(form) is not None:
            return "exact"
        if self.elementwise:
            if form == "fenchel" or self.coupling_scale(form) is not None:
                return "exact"
            return "numeric"
        return "dsl" if self.has_dsl(form) else None

    def u_prox_kind(self, form=None):
        form = self.check_form(form)
        if form == "fenchel":
            return self.prox_kind(form)
        if self._user_prox(form, "u") is not None or self.u_quadratic(form) is not None:
            return "exact"
        return "numeric" if self.elementwise else None

    def torch_module(self):
        f = self._spec["torch_module"]
        if f is None:
            return super().torch_module()
        return f(self)

    # the map ----------------------------------------------------------------------
    def _forward(self, U):
        return np.asarray(self._spec["forward"](U), dtype=float)

    # CVXPY declaration ---------------------------------------------------------------
    def _no_dsl(self, piece):
        return FormError(
            f"{self!r} was declared without {piece} (CVXPY): the CVXPY formulation of this block "
            "is unavailable; train it with solver='fast'"
        )

    def phi(self, z):
        if self._spec["phi"] is None:
            if "fenchel" not in self.forms:
                return super().phi(z)
            raise self._no_dsl("phi")
        return self._spec["phi"](z)

    def phi_star(self, u):
        if self._spec["phi_star"] is None:
            if "fenchel" not in self.forms:
                return super().phi_star(u)
            raise self._no_dsl("phi_star")
        return self._spec["phi_star"](u)

    def joint(self, u, z):
        if self._spec["joint"] is None:
            if "joint" not in self.forms:
                return super().joint(u, z)
            raise self._no_dsl("joint")
        return self._spec["joint"](u, z)

    # numpy values: the user's functions on the projected states, or CVXPY column by column
    def _clean(self, z):
        """``(projection of Z onto the declared domain, inside per column)``."""
        Z, _ = as_columns(np.asarray(z, dtype=float), "z")
        return self._spec["domain"].clean(Z)

    def _cvx_by_column(self, fn, *arrays):
        cols = [as_columns(a)[0] for a in arrays]
        key = (fn, tuple(c.shape[0] for c in cols))
        cache = self.__dict__.setdefault("_expr_cache", {})
        if key not in cache:
            params = [cp.Parameter(c.shape[0]) for c in cols]
            cache[key] = (params, fn(*params))
        params, expr = cache[key]
        out = np.empty(cols[0].shape[1])
        for j in range(out.size):
            for p, c in zip(params, cols):
                p.value = c[:, j]
            v = expr.value
            out[j] = np.inf if v is None else float(v)
        return out

    def _values(self, numpy_fn, cvx_fn, arrays, z_index):
        P, ok = self._clean(arrays[z_index]) if z_index is not None else (None, None)
        args = list(arrays)
        if z_index is not None:
            args[z_index] = P
        args = [as_columns(np.asarray(a, dtype=float))[0] for a in args]
        if numpy_fn is not None:
            val = np.asarray(numpy_fn(*args), dtype=float).reshape(-1)
        else:
            val = self._cvx_by_column(cvx_fn, *args)
        if ok is not None:
            val = np.where(ok, val, np.inf)
        return val

    def phi_value(self, z):
        self.check_form("fenchel")
        return self._values(self._spec["phi_value"], self.phi, [z], 0)

    def phi_star_value(self, u):
        self.check_form("fenchel")
        return self._values(self._spec["phi_star_value"], self.phi_star, [u], None)

    def joint_value(self, u, z):
        self.check_form("joint")
        return self._values(self._spec["joint_value"], self.joint, [u, z], 1)

    # proximal maps -------------------------------------------------------------------
    def prox_phi(self, w, t):
        self.check_form("fenchel")
        user = self._user_prox("fenchel")
        if user is not None:
            return np.asarray(user(w, t), dtype=float)
        if self.elementwise:
            return super().prox_phi(w, t)
        if self._spec["phi"] is None:
            raise FormError(f"{self!r}: no proximal map (a vector atom needs a certified numpy prox_phi)")
        W, _ = as_columns(np.asarray(w, dtype=float))
        return self._solve_prox(np.zeros_like(W), W, t, "fenchel", zero_u=True)

    def prox_joint(self, U, V, t):
        self.check_form("joint")
        user = self._user_prox("joint")
        if user is not None:
            return np.asarray(user(U, V, t), dtype=float)
        if self.elementwise:
            return super().prox_joint(U, V, t)
        if self._spec["joint"] is None:
            raise FormError(f"{self!r}: no proximal map (a vector atom needs a certified numpy prox_joint)")
        return self._solve_prox(np.asarray(U, float), np.asarray(V, float), t, "joint")

    def _prox_u_joint(self, Z, W, t):
        user = self._user_prox("joint", "u")
        if user is not None:
            return np.asarray(user(Z, W, t), dtype=float)
        if self.u_quadratic("joint") is not None:
            return super()._prox_u_joint(Z, W, t)
        if self.elementwise:
            from ..fast.numeric_prox import u_prox_values

            return u_prox_values(self, Z, W, t)
        raise FormError(f"{self!r}: no u-proximal map (a vector atom needs a certified numpy prox_u)")

    def _solve_prox(self, U, V, t, form, zero_u=False):
        """Without a fast prox: one CVXPY problem for the whole array (not one per entry)."""
        from ..cvxsolve import solve

        k = self.out_dim(U.shape[0])
        z = cp.Variable((k, U.shape[1]))
        if form == "fenchel":
            obj = self.phi(z) - (0 if zero_u else cp.sum(cp.multiply(U, z)))
        else:
            obj = self.joint(cp.Constant(U), z)
        T = np.broadcast_to(np.asarray(t, dtype=float), V.shape)
        obj = obj + cp.sum(cp.multiply(1.0 / (2.0 * T), cp.square(z - V)))
        solve(cp.Problem(cp.Minimize(obj)), self.cones.get(form, "EXP"), block=f"{self!r} prox", accuracy="tight")
        return np.asarray(z.value)


def _spec_from(name, forward, phi, phi_star, joint, options):
    unknown = sorted(set(options) - set(OPTIONS))
    if unknown:
        raise ValidationError(
            f"declare_divergence got unknown option(s) {', '.join(map(repr, unknown))}; options: {', '.join(OPTIONS)}"
        )
    if not isinstance(name, str) or not name:
        raise ValidationError("name must be a non-empty string")
    _callable(forward, "forward", "mapping a numpy array to a numpy array")
    if forward is None:
        raise ValidationError("forward must be a callable mapping a numpy array to a numpy array")
    for label in ("phi", "phi_star"):
        _callable(locals()[label], label, "returning a CVXPY expression")
    _callable(joint, "joint", "returning a CVXPY expression")
    for label in (
        "phi_value",
        "phi_star_value",
        "joint_value",
        "prox_phi",
        "prox_joint",
        "prox_u",
        "u_gradient",
        "out_dim",
        "torch_module",
    ):
        _callable(options.get(label), label, "(numpy)")
    has_f = phi is not None or options.get("phi_value") is not None
    has_j = joint is not None or options.get("joint_value") is not None
    if not (has_f or has_j):
        raise ValidationError(
            "give phi (Fenchel-Young form) or joint (jointly convex form), or both; a numeric "
            "declaration gives phi_value and phi_star_value (or joint_value) instead"
        )
    if has_f and phi_star is None and options.get("phi_star_value") is None:
        raise ValidationError(
            "the Fenchel-Young form needs Phi* as well as Phi: give phi_star (CVXPY) or phi_star_value (numpy). "
            "Without it the u-block (the W-step) and the divergence's values cannot be formed"
        )
    if phi is None and phi_star is not None:
        raise ValidationError(
            "phi_star was given without phi: give phi (CVXPY) too, or phi_value and "
            "phi_star_value for a numeric declaration"
        )
    if has_f and phi is None and options.get("phi_star_value") is None:
        raise ValidationError("a numeric Fenchel-Young declaration (phi_value without phi) needs phi_star_value")
    forms = tuple(f for f, g in zip(FORMS, (has_f, has_j)) if g)
    dsl = tuple(f for f, g in zip(FORMS, (phi is not None and phi_star is not None, joint is not None)) if g)
    pc = options.get("problem_class", "QP")
    cones = dict(pc) if isinstance(pc, dict) else {f: pc for f in forms}
    for f in forms:
        if cones.get(f, "QP") not in ("QP", "SOC", "EXP"):
            raise ValidationError(f"problem_class must be 'QP', 'SOC' or 'EXP' (or a dict per form); got {pc!r}")
        cones.setdefault(f, "QP")
    joint_only = ("u_quadratic", "coupling", "u_lipschitz", "u_gradient", "prox_joint", "prox_u")
    if not has_j:
        given = [k for k in joint_only if options.get(k) is not None]
        if given:
            raise ValidationError(f"{', '.join(given)} describe(s) the joint form, which this declaration lacks")
    u_quad = _positive(options.get("u_quadratic"), "u_quadratic")
    u_lip = _positive(options.get("u_lipschitz"), "u_lipschitz")
    if u_lip is not None and options.get("u_gradient") is None and u_quad is None:
        raise ValidationError("u_lipschitz needs u_gradient (the numpy gradient of the joint form in u) or u_quadratic")
    elementwise = bool(options.get("elementwise", True))
    spec = dict(
        forward=forward,
        phi=phi,
        phi_star=phi_star,
        joint=joint,
        phi_value=options.get("phi_value"),
        phi_star_value=options.get("phi_star_value"),
        joint_value=options.get("joint_value"),
        prox_phi=options.get("prox_phi"),
        prox_joint=options.get("prox_joint"),
        prox_u=options.get("prox_u"),
        u_gradient=options.get("u_gradient"),
        out_dim=options.get("out_dim"),
        verify_dim=options.get("verify_dim"),
        torch_module=options.get("torch_module"),
        domain=as_domain(options.get("domain")),
        domain_declared=options.get("domain") is not None,
        lipschitz=_positive(options.get("lipschitz"), "lipschitz"),
        u_lipschitz=u_lip,
        u_quadratic=u_quad,
        coupling=_positive(options.get("coupling"), "coupling"),
        elementwise=elementwise,
    )
    attrs = dict(
        name=name,
        forms=forms,
        dsl_forms=dsl,
        cones=cones,
        elementwise=elementwise,
        homogeneous=bool(options.get("homogeneous", False)),
        input_scale=_positive(options.get("input_scale", 10.0), "input_scale", allow_none=False),
        kinks=tuple(float(k) for k in options.get("kinks", (0.0,))),
        argmin_tol=_positive(options.get("argmin_tol", DEFAULT_ARGMIN_TOL), "argmin_tol", allow_none=False),
        phi_error=float(options.get("approximation_error", 0.0)),
    )
    attrs["approximate"] = attrs["phi_error"] > 0
    return spec, attrs


def declare_divergence(name, forward, phi=None, phi_star=None, joint=None, *, register=False, replace=False, **options):
    r"""Declare a divergence from a convex :math:`\Phi` (CVXPY) and a claimed forward map.

    The atom is a new :class:`CustomDivergence` subclass (one per call), instantiated once;
    with ``register=True`` the class is registered under ``name``, so
    ``cvxlift.get_divergence(name)`` gives an equal instance.

    Parameters
    ----------
    name : str
        Name shown in reports (and registry key with ``register=True``).
    forward : callable
        The claimed activation, numpy ``(k, m) -> (k', m)``.
    phi : callable, optional
        ``phi(z)`` -> CVXPY convex scalar, domain included: the Fenchel-Young form
        :math:`\Phi(z) + \Phi^*(u) - u^T z`.
    phi_star : callable, optional
        ``phi_star(u)`` -> CVXPY convex scalar, the conjugate (required with ``phi``, or
        give ``phi_star_value``).
    joint : callable, optional
        ``joint(u, z)`` -> CVXPY jointly convex scalar, domain included.
    register : bool
        Also register the atom under ``name`` (so networks can name it).
    replace : bool
        With ``register=True``: replace an atom registered under the same name (otherwise
        a taken name raises).
    **options
        Numpy pieces: ``phi_value``, ``phi_star_value``, ``joint_value`` (one value per
        column of 2-D arrays), ``prox_phi(w, t)``, ``prox_joint(u, v, t)``,
        ``prox_u(z, w, t)`` (:math:`\arg\min_u D(u, z) + (u - w)^2/(2t)`; used once
        certified), ``u_gradient(u, z)`` (joint: :math:`\nabla_u D`).
        Facts (checked by ``verify``): ``domain`` (``"real"``, ``"nonneg"``, ``"simplex"``,
        ``(lower, upper)`` or a projection callable), ``lipschitz`` (of ``forward``),
        ``u_lipschitz`` (joint: of ``u_gradient``), ``u_quadratic`` (joint:
        :math:`D = \mu\|u - z\|^2 + g(z)`), ``coupling`` (joint: :math:`\kappa` with
        :math:`D = A(z) - \kappa u^Tz + B(u)`), ``elementwise`` (default ``True``).
        Other: ``problem_class`` ("QP", "SOC", "EXP" or a dict per form),
        ``homogeneous``, ``out_dim``, ``input_scale``, ``kinks``, ``argmin_tol`` (default
        1e-5), ``verify_dim``, ``approximation_error``, ``torch_module`` (``atom ->
        torch.nn.Module``).

    Returns
    -------
    CustomDivergence
        The atom (an instance of its new class).

    Raises
    ------
    ValidationError
        A missing or malformed piece, named (before any work is done).
    """
    spec, attrs = _spec_from(name, forward, phi, phi_star, joint, options)
    ident = "".join(c if c.isalnum() else "_" for c in name)
    qual = f"Declared_{ident}_{next(_COUNTER)}"

    def body(ns):
        ns.update(attrs)
        ns["_spec"] = spec
        ns["__module__"] = __name__
        ns["__qualname__"] = qual
        ns["__doc__"] = f"The atom declared as {name!r} by declare_divergence."

    cls = types.new_class(qual, (CustomDivergence,), {"register": bool(register), "replace": bool(replace)}, body)
    return cls()


__all__ = ["CustomDivergence", "declare_divergence"]
