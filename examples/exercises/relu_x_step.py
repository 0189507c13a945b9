"""Exercise 2, solution: the ReLU X-step by projected gradient (docs/exercises/relu-x-step.md).

For a network whose hidden layer is a jointly convex ReLU and whose next layer is the identity
(squared loss), the X-step of the hidden state is

    min_{Z >= 0}  lam0 * ||Z - U0||_F^2 + lam1 * ||W1 Z + b1 1^T - X2||_F^2

with U0 = W0 X + b0 1^T. Run ``python examples/exercises/relu_x_step.py`` to grade it.
"""

import numpy as np


def x_step(U0, W1, b1, X2, lam0, lam1, tol=1e-12, max_iter=100_000):
    """Projected gradient with the constant step 1/L.

    Parameters
    ----------
    U0 : (p, m) array
        Pre-activation of the hidden layer.
    W1 : (q, p) array, b1 : (q,) array
        Weights of the next layer.
    X2 : (q, m) array
        The next state.
    lam0, lam1 : float > 0
    tol : float
        Stop when a step moves Z by at most ``tol * (1 + ||Z||)``.
    max_iter : int

    Returns
    -------
    Z : (p, m) array
    """
    # f(Z) is smooth with gradient 2 lam0 (Z - U0) + 2 lam1 W1^T (W1 Z + b1 - X2),
    # Lipschitz with L = 2 lam0 + 2 lam1 ||W1||_2^2
    L = 2.0 * lam0 + 2.0 * lam1 * np.linalg.norm(W1, 2) ** 2
    R = X2 - b1[:, None]
    Z = np.maximum(U0, 0.0)  # start at the forward pass
    for _ in range(max_iter):
        grad = 2.0 * lam0 * (Z - U0) + 2.0 * lam1 * (W1.T @ (W1 @ Z - R))
        Z_new = np.maximum(Z - grad / L, 0.0)  # projection onto Z >= 0
        step = np.linalg.norm(Z_new - Z)
        Z = Z_new
        if step <= tol * (1.0 + np.linalg.norm(Z)):
            break
    return Z


def problem(seed=0):
    """A 4-6-3 network (jointly convex ReLU hidden layer, identity output, squared loss) and data."""
    import cvxlift

    rng = np.random.default_rng(seed)
    X, Y = rng.normal(size=(4, 30)), rng.normal(size=(3, 30))
    net = cvxlift.LiftedNetwork([4, 6, 3], "relu", form="joint", lam=[1.0, 3.0], rho=0.1, random_state=seed)
    net.init_weights()
    states = net.forward(X)
    states[-1] = states[-1] + 0.5 * rng.normal(size=states[-1].shape)  # a state off the forward pass
    return net, X, Y, states


if __name__ == "__main__":
    import cvxlift

    net, X, Y, states = problem()
    ref = cvxlift.reference(net, X, Y, block="X1", states=states)
    U0 = net.weights_[0] @ X + net.biases_[0][:, None]
    report = ref.check(x_step(U0, net.weights_[1], net.biases_[1], states[1], net.lam_[0], net.lam_[1]))
    print(report)
    raise SystemExit(0 if report.passed else 1)
