r"""Rectifiers: :class:`ReLU` and :class:`LeakyReLU` (piecewise-quadratic, QP).

ReLU, :math:`\phi(u) = \max(u, 0)`:

=============  ===========================================================
``Phi(z)``     :math:`\tfrac12 z^2` on :math:`z \ge 0`, :math:`+\infty` otherwise
``Phi*(u)``    :math:`\tfrac12 \max(u, 0)^2`
fenchel        :math:`\tfrac12 z^2 + \tfrac12 (u)_+^2 - uz`, :math:`z \ge 0`
joint          :math:`\|z - u\|_2^2`, :math:`z \ge 0` (paper eq. 5)
=============  ===========================================================

Leaky ReLU with slope :math:`\alpha \in (0, 1)` for negative inputs (as PyTorch's
``negative_slope``), :math:`\phi(u) = \max(u, \alpha u)`:

=============  ===========================================================
``Phi(z)``     :math:`\tfrac12 (z)_+^2 + \tfrac1{2\alpha} (z)_-^2` (paper eq. 8)
``Phi*(u)``    :math:`\tfrac12 (u)_+^2 + \tfrac\alpha2 (u)_-^2`
joint          :math:`\|z - u\|_2^2` on :math:`z \ge \alpha u`
=============  ===========================================================

Erratum: the paper's jointly convex leaky ReLU reads :math:`\max(x/\alpha, x)` with the
constraint :math:`z \ge x/\alpha`; for :math:`\alpha \in (0,1)` that is a map with slope
:math:`1/\alpha > 1` on :math:`x > 0`, not the leaky ReLU. The constraint must be
:math:`z \ge \alpha u`; ``verify(LeakyReLU())`` checks the corrected form.
"""

import math

import cvxpy as cp

from .. import arrays as ax
from ..exceptions import ValidationError
from ..numeric import as_columns
from .base import Divergence, ElementwiseProjectionMixin, _to_float, colsum, domain_indicator
from .domain import Interval, Real

DOMAIN_TOL = 1e-7  # solver iterates are accepted this close to the domain (relative)


class ReLU(ElementwiseProjectionMixin, Divergence):
    """Rectified linear unit, ``max(u, 0)``."""

    name = "relu"
    array_api = True
    homogeneous = True
    domain_name = "nonneg"
    lipschitz = 1.0

    def z_domain(self):
        return Interval(0.0, math.inf)

    def torch_module(self):
        from ..torch_export import torch_nn

        return torch_nn().ReLU()

    def phi(self, z):
        return 0.5 * cp.sum_squares(z) + domain_indicator([z >= 0])

    def phi_star(self, u):
        return 0.5 * cp.sum_squares(cp.pos(u))

    def joint(self, u, z):
        return cp.sum_squares(z - u) + domain_indicator([z >= 0])

    def _project(self, Z):
        return ax.namespace(Z).maximum(Z, 0.0)

    def _in_domain(self, Z):
        return Z >= -DOMAIN_TOL * (1 + ax.namespace(Z).abs(Z))

    def phi_value(self, z):
        Z, _ = as_columns(z, "z")
        xp = ax.namespace(Z)
        return xp.where(xp.all(self._in_domain(Z), axis=0), colsum(0.5 * Z**2), xp.inf)

    def phi_star_value(self, u):
        U, _ = as_columns(u, "u")
        return colsum(0.5 * ax.namespace(U).maximum(U, 0.0) ** 2)

    def prox_phi(self, w, t):
        return ax.namespace(w).maximum(w / (1.0 + t), 0.0)


class LeakyReLU(Divergence):
    """Leaky ReLU ``max(u, a*u)`` with ``a = negative_slope`` in (0, 1)."""

    name = "leaky_relu"
    array_api = True
    homogeneous = True
    lipschitz = 1.0

    def __init__(self, negative_slope=0.01):
        a = _to_float(negative_slope)
        if not (math.isfinite(a) and 0.0 < a < 1.0):
            raise ValidationError(
                f"negative_slope must be a number in (0, 1), got {negative_slope!r} "
                "(use ReLU() for 0 and Identity() for 1)"
            )
        self.negative_slope = a

    def get_params(self):
        return {"negative_slope": self.negative_slope}

    def z_domain(self):
        return Real()

    def torch_module(self):
        from ..torch_export import torch_nn

        return torch_nn().LeakyReLU(negative_slope=self.negative_slope)

    def _forward(self, U):
        return ax.namespace(U).where(U >= 0, U, self.negative_slope * U)

    # CVXPY declaration
    def phi(self, z):
        a = self.negative_slope
        return 0.5 * cp.sum_squares(cp.pos(z)) + (0.5 / a) * cp.sum_squares(cp.neg(z))

    def phi_star(self, u):
        a = self.negative_slope
        return 0.5 * cp.sum_squares(cp.pos(u)) + (0.5 * a) * cp.sum_squares(cp.neg(u))

    def joint(self, u, z):
        return cp.sum_squares(z - u) + domain_indicator([z >= self.negative_slope * u])

    # numpy side
    def phi_value(self, z):
        Z, _ = as_columns(z, "z")
        a = self.negative_slope
        xp = ax.namespace(Z)
        return colsum(0.5 * xp.maximum(Z, 0.0) ** 2 + (0.5 / a) * xp.minimum(Z, 0.0) ** 2)

    def phi_star_value(self, u):
        U, _ = as_columns(u, "u")
        a = self.negative_slope
        xp = ax.namespace(U)
        return colsum(0.5 * xp.maximum(U, 0.0) ** 2 + (0.5 * a) * xp.minimum(U, 0.0) ** 2)

    def joint_value(self, u, z):
        U, _ = as_columns(u, "u")
        Z, _ = as_columns(z, "z")
        lower = self.negative_slope * U
        xp = ax.namespace(Z)
        ok = xp.all(Z >= lower - DOMAIN_TOL * (1 + xp.abs(lower)), axis=0)
        return xp.where(ok, colsum((Z - U) ** 2), xp.inf)

    def prox_phi(self, w, t):
        a = self.negative_slope
        return ax.namespace(w).where(w >= 0, w / (1.0 + t), a * w / (a + t))

    def prox_joint(self, U, V, t):
        return ax.namespace(U).maximum(self.negative_slope * U, (2 * t * U + V) / (2 * t + 1))

    def _prox_u_joint(self, Z, W, t):
        # min_u ||z - u||^2 + I(z >= a u) + (u - w)^2/(2t): u <= z/a, a 1-D quadratic
        return ax.namespace(Z).minimum(Z / self.negative_slope, (2 * t * Z + W) / (2 * t + 1))
