r"""The sine divergence, :class:`Sin` (a DCP approximation of a non-conic :math:`\Phi`).

:math:`\Phi(z) = \int_0^z \arcsin = z\arcsin z + \sqrt{1 - z^2} - 1` on :math:`[-1, 1]`,
:math:`\Phi^*(u) = 1 - \cos u` for :math:`|u| \le \pi/2` and :math:`|u| - \pi/2 + 1`
beyond (convex, 1-smooth).

**What the divergence realises.** :math:`\arg\min_{|z|\le1} \Phi(z) - uz` solves
:math:`\arcsin z = u` only when :math:`|u| \le \pi/2`; beyond, the minimiser sits at the
boundary :math:`z = \mathrm{sign}(u)`. So the divergence represents the *clipped* sine
:math:`\phi(u) = \sin(\mathrm{clip}(u, -\pi/2, \pi/2))`, which is what ``forward``
returns. Erratum: the paper states that this divergence gives :math:`\sin x` (and writes
:math:`\Phi(x)` for :math:`\Phi(z)` in the argmin); that holds on :math:`[-\pi/2, \pi/2]` only.

**DCP approximation.** CVXPY has no :math:`\arcsin`. With :math:`R = \Phi - \tfrac12 z^2`
(convex, :math:`R'' = 1/\sqrt{1-z^2} - 1 \ge 0`) the atom uses

.. math:: \tilde\Phi(z) = \tfrac12 z^2 + \max_{0\le k\le N} \big(R(z_k) + R'(z_k)(z - z_k)\big),
          \quad |z| \le 1,

with nodes :math:`z_k = \sin\theta_k`, :math:`\theta_k` uniform on :math:`[-\pi/2, \pi/2]`.
Then :math:`\Phi - \varepsilon \le \tilde\Phi \le \Phi`, with :math:`\varepsilon` computed
exactly (``phi_error``), and since both are 1-strongly convex the argmin of any problem
:math:`\tilde\Phi(z) + (\text{convex in } z)` is within :math:`\sqrt{2\varepsilon}` of the
exact one (``argmin_error_bound``). :math:`\Phi^*` is approximated by its tangents at
:math:`N+1` points of :math:`[-\pi/2, \pi/2]` (exact beyond), error
``phi_star_error`` :math:`\le h^2/8`. ``n_pieces = N`` tunes both. The exact map and the
exact proximal operator are computed in numpy (vectorised safeguarded Newton).
"""

import math

import cvxpy as cp
import numpy as np

from ..exceptions import ValidationError
from ..numeric import as_columns, newton_increasing
from .base import Divergence, colsum, domain_indicator
from .domain import Interval

HALF_PI = 0.5 * math.pi
DOMAIN_TOL = 1e-7  # solver iterates are accepted this close to [-1, 1] (and clipped onto it)
_XTOL = 1e-17  # absolute tolerance of the prox's Newton iteration in theta = arcsin(z) (|dz| <= |dtheta|)


def _phi(z):
    return z * np.arcsin(z) + np.sqrt(np.maximum(1.0 - z * z, 0.0)) - 1.0


def _phi_star(u):
    a = np.abs(u)
    return np.where(a <= HALF_PI, 1.0 - np.cos(np.minimum(a, HALF_PI)), a - HALF_PI + 1.0)


class Sin(Divergence):
    """Clipped sine ``sin(clip(u, -pi/2, pi/2))``; DCP approximation with ``n_pieces`` pieces."""

    name = "sin"
    forms = ("fenchel",)
    # piecewise quadratic, but with n_pieces affine pieces per entry a first-order QP solver
    # converges slowly; "SOC" sends it to an interior-point solver (Clarabel) first
    cones = {"fenchel": "SOC"}
    approximate = True
    kinks = (-HALF_PI, HALF_PI)
    lipschitz = 1.0

    def __init__(self, n_pieces=64):
        if isinstance(n_pieces, bool) or not isinstance(n_pieces, (int, np.integer)) or n_pieces < 2:
            raise ValidationError(f"n_pieces must be an integer >= 2, got {n_pieces!r}")
        self.n_pieces = int(n_pieces)
        theta = np.linspace(-HALF_PI, HALF_PI, self.n_pieces + 1)
        zk = np.sin(theta)
        zk[0], zk[-1] = -1.0, 1.0
        self._zk = zk
        self._rk = _phi(zk) - 0.5 * zk**2  # R(z_k)
        self._sk = np.arcsin(zk) - zk  # R'(z_k)
        # exact sup of Phi - Phi~ : attained where consecutive tangents meet
        zc = (self._rk[1:] - self._sk[1:] * zk[1:] - self._rk[:-1] + self._sk[:-1] * zk[:-1]) / (
            self._sk[:-1] - self._sk[1:]
        )
        tangent = self._rk[:-1] + self._sk[:-1] * (zc - zk[:-1])
        self.phi_error = float(np.max(_phi(zc) - 0.5 * zc**2 - tangent))
        self.argmin_error_bound = math.sqrt(2.0 * self.phi_error)
        self._uk = np.linspace(-HALF_PI, HALF_PI, self.n_pieces + 1)
        h = math.pi / self.n_pieces
        self.phi_star_error = h * h / 8.0

    def get_params(self):
        return {"n_pieces": self.n_pieces}

    def _missing_form_reason(self, form):
        return "the sine divergence is bi-convex only; use form='fenchel'"

    def z_domain(self):
        return Interval(-1.0, 1.0)

    def torch_module(self):
        from ..torch_export import module_class

        return module_class("ClippedSine")()

    @property
    def argmin_tol(self):
        return self.argmin_error_bound + 1e-6

    def _forward(self, U):
        return np.sin(np.clip(U, -HALF_PI, HALF_PI))

    @staticmethod
    def _max_affine(x, slopes, offsets):
        """sum over entries of max_k (offsets[k] + slopes[k] * x): one vectorised max."""
        row = cp.reshape(cp.vec(x, order="F"), (1, x.size), order="F")
        return cp.sum(cp.max(slopes[:, None] @ row + offsets[:, None], axis=0))

    def phi(self, z):
        quad = self._max_affine(z, self._sk, self._rk - self._sk * self._zk)
        return 0.5 * cp.sum_squares(z) + quad + domain_indicator([z >= -1, z <= 1])

    def phi_star(self, u):
        uk = self._uk
        return self._max_affine(u, np.sin(uk), _phi_star(uk) - np.sin(uk) * uk)

    def phi_value(self, z):
        Z, _ = as_columns(z, "z")
        ok = ((Z >= -1 - DOMAIN_TOL) & (Z <= 1 + DOMAIN_TOL)).all(axis=0)  # solver iterates: see entropy.py
        return np.where(ok, colsum(_phi(np.clip(Z, -1, 1))), np.inf)

    def phi_star_value(self, u):
        U, _ = as_columns(u, "u")
        return colsum(_phi_star(U))

    def prox_phi(self, w, t):
        # arcsin(z) + (z - w)/t = 0 on [-1, 1], increasing; boundary when no sign change. In
        # theta = arcsin(z): g(theta) = theta + (sin(theta) - w)/t on [-pi/2, pi/2], g' = 1 + cos(theta)/t:
        # safeguarded Newton from arcsin(w) (exact as t -> 0); z = sin(theta), exactly +-1 at the ends
        w, t = np.broadcast_arrays(np.asarray(w, float), np.asarray(t, float))
        wf, tf = w.reshape(-1), t.reshape(-1)

        def g(theta, idx):
            ti = tf[idx]
            return theta + (np.sin(theta) - wf[idx]) / ti, 1.0 + np.cos(theta) / ti

        theta = newton_increasing(
            g, np.full(w.shape, -HALF_PI), np.full(w.shape, HALF_PI), np.arcsin(np.clip(w, -1.0, 1.0)), xtol=_XTOL
        )
        return np.sin(theta)
