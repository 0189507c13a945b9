r"""Four user-declared atoms that train on the fast path (``solver="fast"``), each certified by
``cvxlift.verify`` (``python examples/user_atoms.py`` verifies them all, about a minute), and
one that ``verify`` rejects (``omega``).

``steep_hard_sigmoid`` (Fenchel-Young, Lipschitz constant 2)
    :math:`\phi(u) = \mathrm{clip}(2u, 0, 1)`; :math:`\Phi(z) = z^2/4` on :math:`[0, 1]`,
    :math:`\Phi^*(u) = u^2` on :math:`[0, \tfrac12]`, :math:`u - \tfrac14` beyond, 0 below
    (CVXPY: ``huber(pos(u), 1/2)``). Declares ``lipschitz=2`` and ``domain=(0, 1)``; no prox:
    the fast path derives it from ``forward``.
``hard_sigmoid_joint`` (jointly convex, smooth -- quadratic -- in u)
    :math:`D(u, z) = (z - u)^2 + I_{[0,1]}(z)`, :math:`\phi(u) = \mathrm{clip}(u, 0, 1)`. Declares
    ``u_quadratic=1`` (checked): the W-step is a ridge regression, and the tilt structure
    (:math:`\kappa = 2`) follows, so the X-step is the dual Newton method from ``forward``.
``elastic_hard_sigmoid`` (jointly convex, nonsmooth in u)
    :math:`D(u, z) = (z - u)^2 + \beta\,\mathrm{dist}(u, [0, 1]) + I_{[0,1]}(z)`: the hard sigmoid
    whose saturated pre-activations also pay an L1 price. Nonsmooth in ``u``: the W-step is
    ADMM through the u-prox (``prox_u``, certified by ``verify``).
``omega`` (jointly convex, smooth in u; **rejected by verify**)
    :math:`D(u, z) = \tfrac12(z - u)^2 + z\log z - z + 1` on :math:`z \ge 0`: the minimiser solves
    :math:`z - u + \log z = 0`, :math:`\phi(u) = \omega(u) = W(e^u)` (Wright omega, softplus-like).
    Its ``argmin`` is right, but a state :math:`z` costs :math:`\min_u D(u, z) = z\log z - z + 1 > 0`
    at every pre-activation except at :math:`z = 1`: ``verify``'s ``zero`` row fails, and trained
    it gives 0.1485 test accuracy against 0.8480 for the joint ReLU (784-300-10, 8,000 digits,
    6 sweeps: ``python benchmarks/bench_user_atoms.py --skip-blocks --rejected``).
``softplus_exact`` (numeric Fenchel-Young declaration: CVXPY cannot express it)
    :math:`\phi(u) = \log(1 + e^u)`, :math:`\Phi^*(u) = -\mathrm{Li}_2(-e^u)`,
    :math:`\Phi(z) = z^2/2 + \mathrm{Li}_2(e^{-z}) - \pi^2/6` on :math:`z \ge 0` (dilogarithm:
    ``scipy.special.spence``, :math:`\mathrm{Li}_2(x) = ` ``spence(1 - x)``).
"""

import math

import cvxpy as cp
import numpy as np
from cvxpy.transforms import indicator
from scipy.special import spence, wrightomega, xlogy

import cvxlift

BETA = 0.5


# ---------------------------------------------------------------------------- steep hard sigmoid
def steep_hard_sigmoid():
    """``clip(2u, 0, 1)`` in Fenchel-Young form (Lipschitz constant 2)."""
    return cvxlift.declare_divergence(
        "steep_hard_sigmoid",
        forward=lambda U: np.clip(2.0 * U, 0.0, 1.0),
        phi=lambda z: 0.25 * cp.sum_squares(z) + indicator([z >= 0, z <= 1]),
        phi_star=lambda u: cp.sum(cp.huber(cp.pos(u), 0.5)),
        phi_value=lambda Z: np.sum(0.25 * Z**2, axis=0),
        phi_star_value=lambda U: np.sum(np.where(U <= 0, 0.0, np.where(U <= 0.5, U**2, U - 0.25)), axis=0),
        domain=(0.0, 1.0),
        lipschitz=2.0,
        kinks=(0.0, 0.5),
    )


# ---------------------------------------------------------------------------- omega (jointly convex, smooth)
def omega():
    """The Wright-omega map ``W(e^u)`` as the prox of ``z log z - z + 1`` (jointly convex form):
    ``verify`` rejects it (``zero`` row)."""
    return cvxlift.declare_divergence(
        "omega",
        forward=lambda U: np.real(wrightomega(U)),
        joint=lambda u, z: 0.5 * cp.sum_squares(z - u) + cp.sum(-cp.entr(z) - z + 1),
        joint_value=lambda U, Z: np.sum(0.5 * (Z - U) ** 2 + xlogy(Z, Z) - Z + 1.0, axis=0),
        domain="nonneg",
        u_quadratic=0.5,
        lipschitz=1.0,
        problem_class="EXP",
        kinks=(1.0,),
    )


# ---------------------------------------------------------------------------- hard sigmoid (jointly convex)
def hard_sigmoid_joint():
    """``clip(u, 0, 1)`` in the jointly convex form ``(z - u)^2 + I_[0,1](z)``, declared."""
    return cvxlift.declare_divergence(
        "hard_sigmoid_joint",
        forward=lambda U: np.clip(U, 0.0, 1.0),
        joint=lambda u, z: cp.sum_squares(z - u) + indicator([z >= 0, z <= 1]),
        joint_value=lambda U, Z: np.sum((Z - U) ** 2, axis=0),
        domain=(0.0, 1.0),
        u_quadratic=1.0,
        lipschitz=1.0,
        kinks=(0.0, 1.0),
    )


# ---------------------------------------------------------------------------- elastic hard sigmoid
def _dist01(U):
    return np.maximum(-U, 0.0) + np.maximum(U - 1.0, 0.0)


def _prox_u_elastic(Z, W, t):
    r""":math:`\arg\min_u (u - z)^2 + \beta\,\mathrm{dist}(u, [0, 1]) + (u - w)^2/(2t)`, piece by piece."""
    a = (2.0 * t * Z + W) / (2.0 * t + 1.0)  # the minimiser without the L1 term
    shift = BETA * t / (2.0 * t + 1.0)
    return np.where(a + shift < 0.0, a + shift, np.where(a - shift > 1.0, a - shift, np.clip(a, 0.0, 1.0)))


def elastic_hard_sigmoid():
    """``clip(u, 0, 1)`` with the jointly convex ``(z - u)^2 + beta dist(u, [0, 1])`` on ``[0, 1]``."""
    return cvxlift.declare_divergence(
        "elastic_hard_sigmoid",
        forward=lambda U: np.clip(U, 0.0, 1.0),
        joint=lambda u, z: (
            cp.sum_squares(z - u) + BETA * cp.sum(cp.pos(-u) + cp.pos(u - 1)) + indicator([z >= 0, z <= 1])
        ),
        joint_value=lambda U, Z: np.sum((Z - U) ** 2 + BETA * _dist01(U), axis=0),
        prox_u=_prox_u_elastic,
        domain=(0.0, 1.0),
        coupling=2.0,
        lipschitz=1.0,
        kinks=(0.0, 1.0),
    )


# ---------------------------------------------------------------------------- exact softplus (numeric)
def _li2(x):
    """The dilogarithm :math:`\\mathrm{Li}_2(x)` for :math:`x \\le 1`."""
    return spence(1.0 - x)


def _softplus_phi(Z):
    # z^2/2 + Li2(e^-z) - pi^2/6, z >= 0 (Li2(e^-z) = spence(-expm1(-z)) keeps accuracy near 0)
    return np.sum(0.5 * Z**2 + spence(-np.expm1(-Z)) - math.pi**2 / 6.0, axis=0)


def _softplus_phi_star(U):
    # -Li2(-e^u); for u > 0 through the inversion formula (no overflow)
    pos = U > 0
    e = np.exp(-np.abs(U))
    val = np.where(pos, math.pi**2 / 6.0 + 0.5 * U**2 + _li2(-e), -_li2(-e))
    return np.sum(val, axis=0)


def softplus_exact():
    """The exact Fenchel-Young softplus: numeric Phi and Phi* (dilogarithms), no CVXPY."""
    return cvxlift.declare_divergence(
        "softplus_exact",
        forward=lambda U: np.logaddexp(0.0, U),
        phi_value=_softplus_phi,
        phi_star_value=_softplus_phi_star,
        domain="nonneg",
        lipschitz=1.0,
        kinks=(),
    )


#: The atoms that pass ``verify`` (the benchmark's), and one that does not.
ATOMS = {
    "steep_hard_sigmoid": steep_hard_sigmoid,
    "hard_sigmoid_joint": hard_sigmoid_joint,
    "elastic_hard_sigmoid": elastic_hard_sigmoid,
    "softplus_exact": softplus_exact,
}
REJECTED = {"omega": omega}


def main():
    """Verify every atom above; print the tables (the ``REJECTED`` ones must fail)."""
    ok = True
    for make in ATOMS.values():
        report = cvxlift.verify(make())
        print(report.table(), end="\n\n")
        ok &= report.passed
    for make in REJECTED.values():
        report = cvxlift.verify(make())
        print(report.table(), end="\n\n")
        ok &= not report.passed
    return 0 if ok else 1


if __name__ == "__main__":
    raise SystemExit(main())
