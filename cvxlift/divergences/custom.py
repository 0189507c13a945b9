r"""User-declared divergences: :func:`declare_divergence`.

A researcher writes the convex :math:`\Phi` in CVXPY (domain included, e.g. with
``cvxpy.transforms.indicator``), optionally :math:`\Phi^*` and numpy versions, and claims
a forward map. The result is a full :class:`Divergence`: it can be verified
(``cvxlift.verify``), used in a :class:`~cvxlift.LiftedNetwork`, saved and registered.

Example (soft thresholding, :math:`\phi(u) = \mathrm{sign}(u)(|u| - 1)_+`)::

    soft = cvxlift.declare_divergence(
        "soft_threshold",
        phi=lambda z: 0.5 * cp.sum_squares(z) + cp.norm1(z),
        phi_star=lambda u: 0.5 * cp.sum_squares(cp.pos(cp.abs(u) - 1)),
        forward=lambda u: np.sign(u) * np.maximum(np.abs(u) - 1, 0),
    )
    assert cvxlift.verify(soft).passed

Missing numpy pieces fall back to evaluating the CVXPY expressions (``phi_value``) or to
solving the CVXPY problem (``prox_z``): correct, but slow.
"""
import cvxpy as cp
import numpy as np

from ..exceptions import ValidationError
from ..numeric import as_columns
from .base import Divergence, FORMS
from .registry import register as _register


class CustomDivergence(Divergence):
    """A divergence assembled from user callables (see :func:`declare_divergence`)."""

    def __init__(self, name, forward, phi=None, phi_star=None, joint=None, phi_value=None,
                 phi_star_value=None, joint_value=None, prox_phi=None, prox_joint=None,
                 problem_class="QP", elementwise=True, homogeneous=False, out_dim=None,
                 input_scale=10.0, kinks=(0.0,), argmin_tol=1e-5, verify_dim=None,
                 approximation_error=0.0):
        if not isinstance(name, str) or not name:
            raise ValidationError("name must be a non-empty string")
        if not callable(forward):
            raise ValidationError("forward must be a callable mapping a numpy array to a numpy array")
        if phi is None and joint is None:
            raise ValidationError("give phi (Fenchel-Young form) or joint (jointly convex form), or both")
        for label, f in (("phi", phi), ("phi_star", phi_star), ("joint", joint)):
            if f is not None and not callable(f):
                raise ValidationError(f"{label} must be a callable returning a CVXPY expression")
        self.name = name
        self._fwd = forward
        self._phi, self._phi_star, self._joint = phi, phi_star, joint
        self._phi_value, self._phi_star_value, self._joint_value = phi_value, phi_star_value, joint_value
        self._prox_phi, self._prox_joint = prox_phi, prox_joint
        self.forms = tuple(f for f, g in zip(FORMS, (phi, joint)) if g is not None)
        pcls = problem_class if isinstance(problem_class, dict) else {f: problem_class for f in self.forms}
        self.cones = pcls
        self.elementwise = bool(elementwise)
        self.homogeneous = bool(homogeneous)
        self._out_dim = out_dim
        self.input_scale = float(input_scale)
        self.kinks = tuple(kinks)
        self.argmin_tol = float(argmin_tol)
        self._verify_dim = verify_dim
        # a DCP expression that approximates Phi (or Phi*) to within this error (``verify``'s
        # value check allows it)
        self.phi_error = float(approximation_error)
        self.approximate = self.phi_error > 0

    def get_params(self):
        return {"name": self.name}

    def __sklearn_clone__(self):
        """A declared atom holds callables, not fitted state: ``clone`` shares it."""
        return self

    def __repr__(self):
        return f"declare_divergence({self.name!r})"

    def out_dim(self, n_in):
        return int(self._out_dim(n_in)) if self._out_dim else int(n_in)

    def verify_dim(self):
        return self._verify_dim or 1

    def _forward(self, U):
        return np.asarray(self._fwd(U), dtype=float)

    # CVXPY declaration ---------------------------------------------------------
    def phi(self, z):
        return self._phi(z) if self._phi else super().phi(z)

    def phi_star(self, u):
        if self._phi_star is None:
            raise NotImplementedError(f"{self!r}: no phi_star was declared; the u-block cannot be built")
        return self._phi_star(u)

    def joint(self, u, z):
        return self._joint(u, z) if self._joint else super().joint(u, z)

    # numpy side: user functions, or the CVXPY expressions evaluated column by column
    @staticmethod
    def _by_column(expr_fn, *arrays):
        cols = [as_columns(a)[0] for a in arrays]
        out = []
        for j in range(cols[0].shape[1]):
            v = expr_fn(*[cp.Constant(c[:, j]) for c in cols]).value
            out.append(np.inf if v is None else float(v))
        return np.asarray(out)

    def phi_value(self, z):
        if self._phi_value is not None:
            return np.asarray(self._phi_value(as_columns(z)[0]), float)
        return self._by_column(self.phi, z)

    def phi_star_value(self, u):
        if self._phi_star_value is not None:
            return np.asarray(self._phi_star_value(as_columns(u)[0]), float)
        if self._phi_star is None:
            # Phi*(u) = -min_z Phi(z) - u z, solved per column
            return -self._solve_prox(as_columns(u)[0], None, None, "fenchel", value=True)
        return self._by_column(self.phi_star, u)

    def joint_value(self, u, z):
        if self._joint_value is not None:
            return np.asarray(self._joint_value(as_columns(u)[0], as_columns(z)[0]), float)
        return self._by_column(self.joint, u, z)

    def prox_phi(self, w, t):
        if self._prox_phi is not None:
            return self._prox_phi(w, t)
        W, _ = as_columns(w)
        return self._solve_prox(np.zeros_like(W), W, t, "fenchel", zero_u=True)

    def prox_joint(self, U, V, t):
        if self._prox_joint is not None:
            return self._prox_joint(U, V, t)
        return self._solve_prox(U, V, t, "joint")

    def _solve_prox(self, U, V, t, form, value=False, zero_u=False):
        """Fallback: solve ``min_z D(u, z) + ||z - v||^2/(2t)`` with CVXPY."""
        from ..cvxsolve import solve

        k = self.out_dim(U.shape[0])
        z = cp.Variable((k, U.shape[1]))
        if form == "fenchel":
            obj = self.phi(z) - (0 if zero_u else cp.sum(cp.multiply(U, z)))
        else:
            obj = self.joint(cp.Constant(U), z)
        if V is not None:
            obj = obj + cp.sum_squares(z - V) / (2 * float(np.max(t)))
        prob = cp.Problem(cp.Minimize(obj))
        solve(prob, self.cones.get(form, "EXP"), block=f"{self!r} prox", accuracy="tight")
        if value:
            # per-column values of min_z Phi(z) - u z
            Z = z.value
            return self.phi_value(Z) - np.sum(U * Z, axis=0)
        return np.asarray(z.value)


def declare_divergence(name, forward, phi=None, phi_star=None, joint=None, *, register=False, **options):
    r"""Declare a divergence from a convex :math:`\Phi` (CVXPY) and a claimed forward map.

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
        ``phi_star(u)`` -> CVXPY convex scalar, the conjugate (needed for the u-block,
        i.e. the W-step and the previous layer's X-step).
    joint : callable, optional
        ``joint(u, z)`` -> CVXPY jointly convex scalar, domain included.
    register : bool
        Also register the atom under ``name`` (so networks can name it).
    **options
        ``phi_value``, ``phi_star_value``, ``joint_value``, ``prox_phi``, ``prox_joint``
        (numpy versions), ``problem_class`` ("QP", "SOC", "EXP" or a dict per form),
        ``elementwise``, ``homogeneous``, ``out_dim``, ``input_scale``, ``kinks``,
        ``argmin_tol``, ``verify_dim``, ``approximation_error`` (sup-norm error of
        the CVXPY expressions, for approximate declarations).

    Returns
    -------
    CustomDivergence
    """
    div = CustomDivergence(name, forward, phi=phi, phi_star=phi_star, joint=joint, **options)
    if register:
        _register(div, name)
    return div
