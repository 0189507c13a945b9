r"""The identity activation, :class:`Identity` (a linear output layer).

=============  ====================================================
``Phi(z)``     :math:`\tfrac12 z^2`
``Phi*(u)``    :math:`\tfrac12 u^2`
fenchel        :math:`\tfrac12 \|z - u\|_2^2`
joint          :math:`\|z - u\|_2^2`
=============  ====================================================
"""

import cvxpy as cp

from .. import arrays as ax
from ..numeric import as_columns
from .base import Divergence, ElementwiseProjectionMixin, colsum
from .domain import Real


class Identity(ElementwiseProjectionMixin, Divergence):
    """``phi(u) = u``."""

    name = "identity"
    array_api = True
    homogeneous = True
    kinks = ()
    lipschitz = 1.0

    def z_domain(self):
        return Real()

    def torch_module(self):
        from ..torch_export import torch_nn

        return torch_nn().Identity()

    def phi(self, z):
        return 0.5 * cp.sum_squares(z)

    def phi_star(self, u):
        return 0.5 * cp.sum_squares(u)

    def joint(self, u, z):
        return cp.sum_squares(z - u)

    def _project(self, Z):
        return Z

    def _in_domain(self, Z):
        return ax.namespace(Z).isfinite(Z)

    def phi_value(self, z):
        Z, _ = as_columns(z, "z")
        return colsum(0.5 * Z**2)

    def phi_star_value(self, u):
        U, _ = as_columns(u, "u")
        return colsum(0.5 * U**2)

    def prox_phi(self, w, t):
        return w / (1.0 + t)
