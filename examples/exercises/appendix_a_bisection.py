"""Exercise 3, solution: the cross-entropy output step by bisection (paper, Appendix A;
docs/exercises/appendix-a-bisection.md).

For each column (data point), with y >= 0 the target and x0 the last pre-activation,

    min_z  -sum_i y_i log z_i + lam ||z - x0||^2   subject to  z >= 0, 1^T z = 1.

Stationarity with a multiplier nu of 1^T z = 1 gives z_i(nu) = a_i/2 + sqrt(a_i^2/4 + y_i/(2 lam)),
a_i = x0_i + nu, and 1^T z(nu) is increasing in nu: find the root of 1^T z(nu) = 1 by bisection.
Run ``python examples/exercises/appendix_a_bisection.py`` to grade it.
"""

import numpy as np


def z_of_nu(nu, X0, C):
    """z(nu) column by column; ``C = Y / (2 lam)``. For a_i < 0 the root is computed as
    2 c_i / (sqrt(a_i^2 + 4 c_i) - a_i): the same number without cancellation (0 where c_i = 0)."""
    a = X0 + nu
    r = np.sqrt(a * a + 4.0 * C)
    neg = a < 0
    return np.where(neg, 2.0 * C / np.where(neg, r - a, 1.0), 0.5 * (a + r))


def output_step(X0, Y, lam, iters=200):
    """Bisection on one dual variable per column, all columns at once.

    Parameters
    ----------
    X0 : (p, m) array
        Pre-activation of the output layer.
    Y : (p, m) array
        Non-negative targets (one-hot columns for classification).
    lam : float > 0
        Weight of ``||z - x0||^2``.
    iters : int
        Halvings (the bracket stops shrinking in floating point well before 200).

    Returns
    -------
    Z : (p, m) array, every column on the probability simplex
    """
    C = Y / (2.0 * lam)
    # bracket: z_i <= 1 gives the paper's upper bound; the paper's lower bound is not valid in
    # general (see docs/errata / cvxlift.fast.output), this one is: for nu <= lo every
    # a_i <= -1^T y / (2 lam) and then 1^T z(nu) <= 1
    hi = 1.0 - np.max(X0 + C, axis=0)
    lo = -np.max(X0, axis=0) - C.sum(axis=0)
    for _ in range(iters):
        mid = 0.5 * (lo + hi)
        too_big = z_of_nu(mid, X0, C).sum(axis=0) > 1.0
        hi = np.where(too_big, mid, hi)
        lo = np.where(too_big, lo, mid)
    return z_of_nu(0.5 * (lo + hi), X0, C)


def problem(seed=0):
    """A 6-10-4 network with cross-entropy (simplex output layer, jointly convex) and one-hot data."""
    import cvxlift

    rng = np.random.default_rng(seed)
    X = rng.normal(size=(6, 50))
    Y = np.eye(4)[:, rng.integers(0, 4, size=50)]
    net = cvxlift.LiftedNetwork(
        [6, 10, 4], "relu", loss="cross_entropy", form="joint", lam=0.5, rho=0.1, random_state=seed
    )
    net.init_weights()
    return net, X, Y, net.forward(X)


if __name__ == "__main__":
    import cvxlift

    net, X, Y, states = problem()
    ref = cvxlift.reference(net, X, Y, block="output", states=states)
    X0 = net.weights_[1] @ states[0] + net.biases_[1][:, None]
    mu = net.activations_[1].z_quadratic(net.forms_[1])[0]  # the simplex's joint form: mu = 1
    report = ref.check(output_step(X0, Y, net.lam_[1] * mu))
    print(report)
    raise SystemExit(0 if report.passed else 1)
