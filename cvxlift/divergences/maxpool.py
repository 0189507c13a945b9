r"""Max-pooling, :class:`MaxPool` (jointly convex form only; LP).

A column of length :math:`kn` is read as :math:`n` consecutive blocks of :math:`k = `
``pool_size`` entries; :math:`\phi(u)_j = \max_{i \in B_j} u_i`. With
:math:`E = I_n \otimes \mathbf 1_k` (so :math:`(Ez)_i = z_j` for :math:`i \in B_j`):

.. math:: D(u, z) = \mathbf 1^T z - \tfrac1k \mathbf 1^T u + c\,\mathbf 1^T (u - E z)_+ ,\qquad c > 1 .

For :math:`z_j` above the block maximum the slope in :math:`z_j` is :math:`+1`; below it,
at most :math:`1 - c < 0`: the argmin is the maximum, unique, and
:math:`D(u, z) - \min_z D(u, \cdot) \ge \min(1, c - 1)\,|z - \phi(u)|_1`.

Erratum (found by ``verify``): the paper prints :math:`c = 1`
(:math:`\mathbf 1^T z + \mathbf 1^T (x - Dz)_+`). Then the slope is zero between the two
largest entries of a block, and the argmin is the whole interval
:math:`[\text{second largest}, \text{largest}]`, e.g. :math:`[1, 3]` for :math:`u = (1, 3)`.
``MaxPool(weight=1.0)`` reproduces it and fails the uniqueness check. The default is
:math:`c = 2`, for which the gap above is :math:`|z - \phi(u)|_1`.

The term :math:`-\tfrac1k\mathbf 1^T u` (a function of ``u`` alone, which the paper allows
one to add) does not move the argmin but makes :math:`D \ge \max_{B_j} u - \mathrm{mean}_{B_j} u
\ge 0`. Without it :math:`\min_z D(u, \cdot) = \sum_j \max_{B_j} u` has no lower bound in
``u``, and block-coordinate descent drives the lifted objective to :math:`-\infty`
(the biases slide down); ``tests/test_network.py`` checks that it stays bounded.

Max-pooling changes the dimension, so it is not a gradient map and has no
Fenchel-Young form.
"""

import math

import cvxpy as cp
import numpy as np

from ..exceptions import ValidationError
from ..numeric import as_columns, bisect_increasing
from .base import Divergence, _to_float, colsum


class MaxPool(Divergence):
    """Max over consecutive blocks of ``pool_size`` entries of each column."""

    name = "maxpool"
    forms = ("joint",)
    cones = {"joint": "QP"}
    elementwise = False
    homogeneous = True
    kinks = ()

    def __init__(self, pool_size=2, weight=2.0):
        if isinstance(pool_size, bool) or not isinstance(pool_size, (int, np.integer)) or pool_size < 1:
            raise ValidationError(f"pool_size must be an integer >= 1, got {pool_size!r}")
        w = _to_float(weight)
        if not (math.isfinite(w) and w >= 1.0):
            raise ValidationError(
                f"weight must be a finite number >= 1 (> 1 for a unique argmin; 1 is the paper's "
                f"degenerate form), got {weight!r}"
            )
        self.pool_size = int(pool_size)
        self.weight = w

    def get_params(self):
        return {"pool_size": self.pool_size, "weight": self.weight}

    def _missing_form_reason(self, form):
        return "max-pooling changes the dimension, so it is no gradient map and has no Fenchel-Young form"

    def torch_module(self):
        from ..torch_export import module_class

        return module_class("GroupMax")(self.pool_size)

    def _prox_u_joint(self, Z, W, t):
        # min_u -1^T u / k + c sum (u_i - z_j)_+ + ||u - w||^2/(2t), separable per entry of u:
        # u_i = w_i + t/k beneath z_j, w_i + t/k - c t above it, z_j in between
        k, c = self.pool_size, self.weight
        Zb = np.repeat(Z, k, axis=0)
        a = W + t / k
        return np.where(a <= Zb, a, np.maximum(a - c * t, Zb))

    def check_input_dim(self, n_in):
        if n_in % self.pool_size != 0 or n_in == 0:
            raise ValidationError(
                f"MaxPool(pool_size={self.pool_size}) needs columns whose length is a positive "
                f"multiple of {self.pool_size}; got length {n_in}"
            )

    def out_dim(self, n_in):
        self.check_input_dim(n_in)
        return n_in // self.pool_size

    def in_dim(self, n_out):
        return int(n_out) * self.pool_size

    def verify_dim(self):
        return 2 * self.pool_size

    def expansion(self, n_out):
        """The 0/1 matrix :math:`E = I_n \\otimes \\mathbf 1_k` of shape ``(k n, n)``."""
        return np.kron(np.eye(n_out), np.ones((self.pool_size, 1)))

    def _blocks(self, U):
        n = U.shape[0] // self.pool_size
        return U.reshape(n, self.pool_size, U.shape[1])

    def _forward(self, U):
        return self._blocks(U).max(axis=1)

    def joint(self, u, z):
        E = self.expansion(z.shape[0])
        return cp.sum(z) - cp.sum(u) / self.pool_size + self.weight * cp.sum(cp.pos(u - E @ z))

    def joint_value(self, u, z):
        U, _ = as_columns(u, "u")
        Z, _ = as_columns(z, "z")
        excess = np.maximum(self._blocks(U) - Z[:, None, :], 0.0)
        return colsum(Z) - colsum(U) / self.pool_size + self.weight * excess.sum(axis=(0, 1))

    def prox_joint(self, U, V, t):
        # subgradient in z_j: 1 - c #{i in B_j : u_i > z_j} + (z_j - v_j)/t, non-decreasing;
        # the root lies in [v - t, v + t (c k - 1)]
        B = self._blocks(U)
        c = self.weight
        t = np.broadcast_to(np.asarray(t, float), V.shape)

        def g(z):
            return 1.0 - c * (B > z[:, None, :]).sum(axis=1) + (z - V) / t

        lo = V - t
        hi = V + t * (c * self.pool_size - 1.0)
        return bisect_increasing(g, lo, hi)

    def sample_inputs(self, rng, n_in, m):
        return rng.normal(scale=3.0, size=(n_in, m))

    def edge_inputs(self, n_in):
        k = self.pool_size
        base = np.arange(n_in, dtype=float)
        cols = [
            np.zeros(n_in),  # ties everywhere
            np.tile(np.r_[3.0, 3.0, np.zeros(k - 2)] if k >= 2 else [3.0], n_in // k),  # tied maxima
            np.tile(np.r_[1.0, 3.0, np.zeros(k - 2)] if k >= 2 else [1.0], n_in // k),  # the paper's flat case
            -base,
            base,
            np.tile(np.r_[-2.0, -2.0 + 1e-9, np.full(k - 2, -5.0)] if k >= 2 else [-2.0], n_in // k),
        ]
        return np.stack(cols, axis=1)
