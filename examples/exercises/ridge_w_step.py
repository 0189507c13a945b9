"""Exercise 1, solution: the ridge W-step of a jointly convex ReLU layer (docs/exercises/ridge-w-step.md).

    min_{W, b}  lam * ||W A + b 1^T - Z||_F^2 + rho * ||W||_F^2

Run ``python examples/exercises/ridge_w_step.py`` to grade this solution with
``cvxlift.reference`` (the block's CVXPY problem, solved tightly).
"""

import numpy as np


def w_step(A, Z, lam, rho):
    """Solve the ridge W-step exactly.

    Parameters
    ----------
    A : (p, m) array
        The layer's input, one column per data point.
    Z : (q, m) array
        The layer's state (its target).
    lam, rho : float > 0
        Penalty weight of the divergence and of ``||W||_F^2``.

    Returns
    -------
    W : (q, p) array, b : (q,) array
    """
    p, m = A.shape
    a_bar = A.mean(axis=1, keepdims=True)  # centre the inputs: the bias decouples
    Ac = A - a_bar
    # stationarity in W: 2 lam (W Ac - Zc) Ac^T + 2 rho W = 0  <=>  W (Ac Ac^T + rho/lam I) = Z Ac^T
    G = Ac @ Ac.T + (rho / lam) * np.eye(p)
    W = np.linalg.solve(G, Ac @ Z.T).T  # G is symmetric: solve G W^T = Ac Z^T
    b = Z.mean(axis=1) - W @ a_bar[:, 0]  # stationarity in b: the residual has zero mean
    return W, b


def problem(seed=0):
    """A small instance: a 5-8-3 network with a jointly convex ReLU hidden layer, and its data."""
    import cvxlift

    rng = np.random.default_rng(seed)
    X, Y = rng.normal(size=(5, 40)), rng.normal(size=(3, 40))
    net = cvxlift.LiftedNetwork([5, 8, 3], "relu", form="joint", lam=2.0, rho=0.1, random_state=seed)
    net.init_weights()
    return net, X, Y, net.forward(X)


if __name__ == "__main__":
    import cvxlift

    net, X, Y, states = problem()
    ref = cvxlift.reference(net, X, Y, block="W0", states=states)
    report = ref.check(w_step(X, states[0], net.lam_[0], net.rho_[0]))
    print(report)
    raise SystemExit(0 if report.passed else 1)
