r"""Entropy divergences: :class:`Sigmoid` and :class:`Tanh` (exponential cone).

Sigmoid, :math:`\phi(u) = 1/(1 + e^{-u})`:

=============  ===================================================================
``Phi(z)``     :math:`z\log z + (1-z)\log(1-z)` on :math:`[0, 1]`
               (CVXPY: ``-entr(z) - entr(1 - z)``, whose domain is built in)
``Phi*(u)``    :math:`\log(1 + e^u)` (CVXPY: ``logistic(u)``)
fenchel        :math:`\Phi(z) + \log(1+e^u) - uz` (bi-convex)
=============  ===================================================================

Tanh, :math:`\phi(u) = \tanh u`:

=============  ===================================================================
``Phi(z)``     :math:`\tfrac12[(1+z)\log(1+z) + (1-z)\log(1-z)]` on :math:`[-1, 1]`
``Phi*(u)``    :math:`\log\cosh u = \mathrm{logistic}(2u) - u - \log 2`
=============  ===================================================================

Neither has a jointly convex form in cvxlift. Erratum: the paper introduces this example
as ":math:`\phi(x) = \mathrm{arctanh}(x)`" with inverse :math:`\tfrac12\log\frac{1+z}{1-z}`;
the activation is :math:`\tanh` (whose inverse that is), not :math:`\mathrm{arctanh}`.
"""

import math

import cvxpy as cp
import numpy as np
from scipy.special import expit, logit, xlogy

from ..numeric import as_columns, newton_increasing
from .base import Divergence, colsum
from .domain import Interval

#: Solver iterates this close to the domain are accepted (and clipped onto it) by the value
#: methods, as for the other atoms: an interior-point solver may return, e.g., -2e-10 for a
#: state whose optimum sits on the boundary z = 0, and an infinite objective there would
#: make ``fit`` reject every later block update.
DOMAIN_TOL = 1e-7


def _in_box(z, lo, hi):
    """``(clip(Z, lo, hi), ok per column)``: ``ok`` where every entry is within DOMAIN_TOL of the box."""
    Z, _ = as_columns(z, "z")
    ok = ((Z >= lo - DOMAIN_TOL) & (Z <= hi + DOMAIN_TOL)).all(axis=0)
    return np.clip(Z, lo, hi), ok


#: First Newton guesses of the proxes clip their argument this far inside the domain.
_LOGIT_CLIP = 1e-12
#: Absolute tolerance of the proxes' Newton iteration in their natural variable (logit, artanh,
#: arcsin): the map back to z has slope at most 1, so z is exact to below a tenth of its ulp at 1.
_XTOL = 1e-17

_NO_JOINT = "the entropy divergences are bi-convex only; use form='fenchel'"


class Sigmoid(Divergence):
    """Logistic sigmoid via the binary-entropy divergence."""

    name = "sigmoid"
    lipschitz = 0.25
    forms = ("fenchel",)
    cones = {"fenchel": "EXP"}
    kinks = ()
    argmin_tol = 1e-5

    def _missing_form_reason(self, form):
        return _NO_JOINT

    def z_domain(self):
        return Interval(0.0, 1.0)

    def torch_module(self):
        from ..torch_export import torch_nn

        return torch_nn().Sigmoid()

    def _forward(self, U):
        return expit(U)

    def phi(self, z):
        return cp.sum(-cp.entr(z) - cp.entr(1 - z))

    def phi_star(self, u):
        return cp.sum(cp.logistic(u))

    def phi_value(self, z):
        Z, ok = _in_box(z, 0.0, 1.0)
        with np.errstate(invalid="ignore"):
            val = colsum(xlogy(Z, Z) + xlogy(1 - Z, 1 - Z))
        return np.where(ok, val, np.inf)

    def phi_star_value(self, u):
        U, _ = as_columns(u, "u")
        return colsum(np.logaddexp(0.0, U))

    def prox_phi(self, w, t):
        # optimality: logit(z) + (z - w)/t = 0; in s = logit(z): g(s) = s + (sigmoid(s) - w)/t = 0,
        # increasing (g' = 1 + z(1 - z)/t), root in [(w - 1)/t, w/t]: safeguarded Newton from
        # s = logit(w) (exact as t -> 0), clipped into the bracket (within 1/t of the root)
        w, t = np.broadcast_arrays(np.asarray(w, float), np.asarray(t, float))
        wf, tf = w.reshape(-1), t.reshape(-1)

        def g(s, idx):
            z = expit(s)
            ti = tf[idx]
            return s + (z - wf[idx]) / ti, 1.0 + z * (1.0 - z) / ti

        s0 = logit(np.clip(w, _LOGIT_CLIP, 1.0 - _LOGIT_CLIP))
        return expit(newton_increasing(g, (w - 1) / t, w / t, s0, xtol=_XTOL))


class Tanh(Divergence):
    """Hyperbolic tangent via the (shifted) binary-entropy divergence."""

    name = "tanh"
    lipschitz = 1.0
    forms = ("fenchel",)
    cones = {"fenchel": "EXP"}
    kinks = ()
    argmin_tol = 1e-5

    def _missing_form_reason(self, form):
        return _NO_JOINT

    def z_domain(self):
        return Interval(-1.0, 1.0)

    def torch_module(self):
        from ..torch_export import torch_nn

        return torch_nn().Tanh()

    def _forward(self, U):
        return np.tanh(U)

    def phi(self, z):
        return cp.sum(-0.5 * cp.entr(1 + z) - 0.5 * cp.entr(1 - z))

    def phi_star(self, u):
        return cp.sum(cp.logistic(2 * u) - u) - math.log(2.0) * u.size

    def phi_value(self, z):
        Z, ok = _in_box(z, -1.0, 1.0)
        with np.errstate(invalid="ignore"):
            val = colsum(0.5 * (xlogy(1 + Z, 1 + Z) + xlogy(1 - Z, 1 - Z)))
        return np.where(ok, val, np.inf)

    def phi_star_value(self, u):
        U, _ = as_columns(u, "u")
        return colsum(np.logaddexp(U, -U) - math.log(2.0))

    def prox_phi(self, w, t):
        # arctanh(z) + (z - w)/t = 0; in s = arctanh(z): g(s) = s + (tanh(s) - w)/t = 0, increasing
        # (g' = 1 + (1 - z^2)/t), root in [(w - 1)/t, (w + 1)/t]: safeguarded Newton from arctanh(w)
        w, t = np.broadcast_arrays(np.asarray(w, float), np.asarray(t, float))
        wf, tf = w.reshape(-1), t.reshape(-1)

        def g(s, idx):
            z = np.tanh(s)
            ti = tf[idx]
            return s + (z - wf[idx]) / ti, 1.0 + (1.0 - z) * (1.0 + z) / ti

        s0 = np.arctanh(np.clip(w, -1.0 + _LOGIT_CLIP, 1.0 - _LOGIT_CLIP))
        return np.tanh(newton_increasing(g, (w - 1) / t, (w + 1) / t, s0, xtol=_XTOL))
