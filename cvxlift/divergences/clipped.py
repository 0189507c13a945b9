r"""Clipped linear units: :class:`Clipped` (hard tanh; ``Clipped(0, 1)`` is the hard sigmoid).

:math:`\phi(u) = \min(\max(u, l), h)` with :math:`l < h`; write :math:`c = (l+h)/2`,
:math:`M = (h-l)/2`.

=============  ==============================================================
``Phi(z)``     :math:`\tfrac12 z^2` on :math:`l \le z \le h`
``Phi*(u)``    :math:`cu - \tfrac12 c^2 + \tfrac12\,\mathrm{huber}_M(u - c)`
               (CVXPY's ``huber(x, M)`` is :math:`x^2` for :math:`|x|\le M`,
               :math:`2M|x| - M^2` otherwise)
joint          :math:`\|z - u\|_2^2` on :math:`l \le z \le h`
=============  ==============================================================

The paper writes the piecewise sigmoid as :math:`\arg\min_{|z|\le1} z^2 - 2xz`, twice the
Fenchel-Young form above; both have the same argmin.
"""

import math

import cvxpy as cp

from .. import arrays as ax
from ..exceptions import ValidationError
from ..numeric import as_columns
from .base import Divergence, ElementwiseProjectionMixin, _to_float, colsum, domain_indicator
from .domain import Interval

DOMAIN_TOL = 1e-7  # solver iterates are accepted this close to the domain (relative)


class Clipped(ElementwiseProjectionMixin, Divergence):
    """Clip to ``[lower, upper]`` (hard tanh by default)."""

    name = "clipped"
    array_api = True
    domain_name = "box"
    lipschitz = 1.0

    def __init__(self, lower=-1.0, upper=1.0):
        lo, hi = _to_float(lower), _to_float(upper)
        if not (math.isfinite(lo) and math.isfinite(hi) and lo < hi):
            raise ValidationError(
                f"lower and upper must be finite numbers with lower < upper; got lower={lower!r}, upper={upper!r}"
            )
        self.lower, self.upper = lo, hi

    def get_params(self):
        return {"lower": self.lower, "upper": self.upper}

    def z_domain(self):
        return Interval(self.lower, self.upper)

    def torch_module(self):
        from ..torch_export import torch_nn

        return torch_nn().Hardtanh(min_val=self.lower, max_val=self.upper)

    @property
    def kinks(self):
        return (self.lower, self.upper)

    @property
    def homogeneous(self):
        return False

    def phi(self, z):
        return 0.5 * cp.sum_squares(z) + domain_indicator([z >= self.lower, z <= self.upper])

    def phi_star(self, u):
        c = 0.5 * (self.lower + self.upper)
        M = 0.5 * (self.upper - self.lower)
        return cp.sum(c * u - 0.5 * c**2 + 0.5 * cp.huber(u - c, M))

    def joint(self, u, z):
        return cp.sum_squares(z - u) + domain_indicator([z >= self.lower, z <= self.upper])

    def _project(self, Z):
        return ax.namespace(Z).clip(Z, self.lower, self.upper)

    def _in_domain(self, Z):
        tol = DOMAIN_TOL * (1 + ax.namespace(Z).abs(Z))
        return (Z >= self.lower - tol) & (Z <= self.upper + tol)

    def phi_value(self, z):
        Z, _ = as_columns(z, "z")
        xp = ax.namespace(Z)
        return xp.where(xp.all(self._in_domain(Z), axis=0), colsum(0.5 * Z**2), xp.inf)

    def phi_star_value(self, u):
        U, _ = as_columns(u, "u")
        C = self._project(U)
        return colsum(U * C - 0.5 * C**2)

    def prox_phi(self, w, t):
        return self._project(w / (1.0 + t))
