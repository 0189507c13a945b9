r"""Declare your own divergence atom and let ``cvxlift.verify`` certify it.

Soft thresholding, :math:`\phi(u) = \mathrm{sign}(u)\max(|u| - 1, 0)`, is the gradient of

.. math:: \Phi^*(u) = \tfrac12 \max(|u| - 1, 0)^2,
          \qquad \Phi(z) = \tfrac12 z^2 + |z| ,

so the Fenchel-Young divergence :math:`D(u, z) = \Phi(z) + \Phi^*(u) - uz` has
:math:`\arg\min_z D(u, z) = \phi(u)`. We write :math:`\Phi` and :math:`\Phi^*` in CVXPY,
give their numpy values and the proximal map of :math:`t\Phi`,

.. math:: \mathrm{prox}_{t\Phi}(w) = \mathrm{soft}\big(w/(1+t),\ t/(1+t)\big),

and run ``verify``. Then we claim a wrong forward map for the same :math:`\Phi` (the
*hard* threshold, wrong wherever :math:`|u| > 1`) and watch ``verify`` reject it.

Run: ``python examples/custom_divergence.py`` (a few seconds).
"""

import cvxpy as cp
import numpy as np

import cvxlift


def soft(x, k):
    """Soft thresholding of ``x`` at level ``k``: ``sign(x) max(|x| - k, 0)``."""
    return np.sign(x) * np.maximum(np.abs(x) - k, 0.0)


def phi_cvx(z):
    r""":math:`\Phi(z) = \tfrac12\|z\|^2 + \|z\|_1` (CVXPY; domain: the whole line)."""
    return 0.5 * cp.sum_squares(z) + cp.norm1(z)


def phi_star_cvx(u):
    r""":math:`\Phi^*(u) = \tfrac12\sum\max(|u| - 1, 0)^2` (CVXPY)."""
    return 0.5 * cp.sum_squares(cp.pos(cp.abs(u) - 1))


def phi_value(Z):
    """numpy ``Phi``, one value per column of the 2-D array ``Z``."""
    return np.sum(0.5 * Z**2 + np.abs(Z), axis=0)


def phi_star_value(U):
    """numpy ``Phi*``, one value per column of ``U``."""
    return np.sum(0.5 * np.maximum(np.abs(U) - 1.0, 0.0) ** 2, axis=0)


def prox_phi(w, t):
    r"""Proximal map of :math:`t\Phi`: ``soft(w / (1 + t), t / (1 + t))``."""
    return soft(w / (1.0 + t), t / (1.0 + t))


def soft_threshold_divergence(register=False):
    """The soft-threshold atom, declared from the callables above."""
    return cvxlift.declare_divergence(
        "soft_threshold",
        forward=lambda U: soft(U, 1.0),
        phi=phi_cvx,
        phi_star=phi_star_cvx,
        phi_value=phi_value,
        phi_star_value=phi_star_value,
        prox_phi=prox_phi,
        problem_class="QP",
        kinks=(-1.0, 1.0),
        lipschitz=1.0,  # of forward: the fast W-step's step size (verify checks it)
        register=register,
    )


def hard_threshold_claim():
    """A WRONG claim: the same ``Phi``, but the hard threshold ``u 1[|u| > 1]`` as forward."""
    return cvxlift.declare_divergence(
        "hard_threshold_claim",
        forward=lambda U: np.where(np.abs(U) > 1.0, U, 0.0),
        phi=phi_cvx,
        phi_star=phi_star_cvx,
        phi_value=phi_value,
        phi_star_value=phi_star_value,
        prox_phi=prox_phi,
        kinks=(-1.0, 1.0),
    )


def main():
    """Verify the soft threshold (passes) and the hard-threshold claim (fails)."""
    good = cvxlift.verify(soft_threshold_divergence())
    print(good.table())
    print()
    bad = cvxlift.verify(hard_threshold_claim())
    print(bad.table())
    print()
    print(
        f"soft threshold: {'PASSED' if good.passed else 'FAILED'}; "
        f"hard-threshold claim rejected: {not bad.passed} "
        f"(failed checks: {', '.join(sorted({c.name for c in bad.failed()}))})"
    )
    return 0 if good.passed and not bad.passed else 1


if __name__ == "__main__":
    raise SystemExit(main())
