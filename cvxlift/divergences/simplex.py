r"""Euclidean projection onto the probability simplex, :class:`Simplex` (acts on each column).

:math:`\phi(u) = \Pi_\Delta(u) = \arg\min\{\|z - u\|_2 : z \ge 0,\ \mathbf 1^T z = 1\}`.

=============  =====================================================================
``Phi(z)``     :math:`\tfrac12\|z\|_2^2` on the simplex :math:`\Delta`
``Phi*(u)``    :math:`\max_{z\in\Delta} u^Tz - \tfrac12\|z\|^2
               = \min_\tau \tfrac12\|(u - \tau\mathbf 1)_+\|_2^2 + \tau`
joint          :math:`\|z - u\|_2^2` on :math:`\Delta`
=============  =====================================================================

The CVXPY expression of ``Phi*`` carries one auxiliary variable :math:`\tau` per column
(the dual variable of :math:`\mathbf 1^T z = 1`): it is exact wherever the divergence is
minimised, which is how every lifted problem uses it.
"""

import cvxpy as cp
import numpy as np

from .. import arrays as ax
from ..exceptions import ValidationError
from ..numeric import as_columns, project_simplex
from .base import Divergence, colsum, domain_indicator
from .domain import SimplexDomain

DOMAIN_TOL = 1e-7  # solver iterates are accepted this close to the domain (relative)


def _column_sums(z):
    return cp.sum(z, axis=0) if len(z.shape) == 2 else cp.sum(z)


class Simplex(Divergence):
    """Projection of each column onto the probability simplex (a 'sparsemax' output)."""

    name = "simplex"
    array_api = True
    elementwise = False
    kinks = ()
    lipschitz = 1.0  # a Euclidean projection is non-expansive

    def z_domain(self):
        return SimplexDomain()

    def torch_module(self):
        from ..torch_export import module_class

        return module_class("SimplexProjection")()

    def check_input_dim(self, n_in):
        if n_in < 1:
            raise ValidationError("Simplex needs columns of length >= 1")

    def verify_dim(self):
        return 4

    def _forward(self, U):
        return project_simplex(U)

    def _domain(self, z):
        return domain_indicator([z >= 0, _column_sums(z) == 1])

    def phi(self, z):
        return 0.5 * cp.sum_squares(z) + self._domain(z)

    def phi_star(self, u):
        if len(u.shape) == 2:
            k, m = u.shape
            tau = cp.Variable(m, name="simplex_tau")
            shifted = u - np.ones((k, 1)) @ cp.reshape(tau, (1, m), order="C")
        else:
            tau = cp.Variable(name="simplex_tau")
            shifted = u - tau
        return 0.5 * cp.sum_squares(cp.pos(shifted)) + cp.sum(tau)

    def joint(self, u, z):
        return cp.sum_squares(z - u) + self._domain(z)

    def _in_domain(self, Z):
        tol = DOMAIN_TOL * Z.shape[0]
        xp = ax.namespace(Z)
        return xp.all(Z >= -DOMAIN_TOL, axis=0) & (xp.abs(xp.sum(Z, axis=0) - 1) <= tol)

    def phi_value(self, z):
        Z, _ = as_columns(z, "z")
        return ax.namespace(Z).where(self._in_domain(Z), colsum(0.5 * Z**2), float("inf"))

    def phi_star_value(self, u):
        U, _ = as_columns(u, "u")
        P = project_simplex(U)
        return colsum(U * P - 0.5 * P**2)

    def joint_value(self, u, z):
        U, _ = as_columns(u, "u")
        Z, _ = as_columns(z, "z")
        return ax.namespace(Z).where(self._in_domain(Z), colsum((Z - U) ** 2), float("inf"))

    def prox_phi(self, w, t):
        return project_simplex(w / (1.0 + t))

    def prox_joint(self, U, V, t):
        return project_simplex((2 * t * U + V) / (2 * t + 1))

    def z_quadratic(self, form=None):
        return (0.5 if self.check_form(form) == "fenchel" else 1.0, "simplex")

    def project_domain(self, Z):
        return project_simplex(Z)

    def sample_inputs(self, rng, n_in, m):
        return rng.normal(scale=2.0, size=(n_in, m))

    def edge_inputs(self, n_in):
        cols = [
            np.zeros(n_in),  # all tied
            np.full(n_in, 5.0),  # all tied, shifted
            np.eye(n_in)[0],  # one vertex
            np.eye(n_in)[0] * 10,  # far from the simplex
            np.r_[1.0, 1.0, np.zeros(n_in - 2)] if n_in > 2 else np.ones(n_in),  # tied maxima
            -np.arange(n_in, dtype=float),  # distinct, negative
            np.r_[0.5, 0.5 - 1e-9, np.zeros(n_in - 2)] if n_in > 2 else np.zeros(n_in),
        ]
        return np.stack(cols, axis=1)
