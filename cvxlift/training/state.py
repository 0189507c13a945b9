r"""The iterate of block-coordinate descent on one data set, with its product and term caches.

Block updates *replace* arrays (weights, biases, states) and never write into them, so a
cached value is valid while the arrays it was computed from are the same objects. Each
product :math:`W_lX_l + b_l\mathbf 1^T` is then formed once per change of its factors, and
after a block update only the objective terms that the block changed are re-evaluated.
"""

from .. import arrays as ax

__all__ = ["LiftedState"]


def _same(key, other):
    return other is not None and len(key) == len(other) and all(a is b for a, b in zip(key, other))


class LiftedState:
    r"""Data, network and caches of one training run.

    The weights and states are the network's own (``net.weights_``, ``net.biases_``,
    ``net.states_``); the block updates of the engine replace them.

    Parameters
    ----------
    net : LiftedNetwork
    X : ndarray of shape (n_0, m)
        Inputs, one column per data point.
    Y : ndarray of shape (n_{L+1}, m)
        Targets.
    """

    def __init__(self, net, X, Y, backend=None):
        self.net, self.X, self.Y = net, X, Y
        self.backend = backend
        self._pre = {}
        self._terms = {}

    @property
    def m(self):
        """Number of data points (columns)."""
        return self.X.shape[1]

    def layer_input(self, l):
        """:math:`X_l` (``X`` for ``l = 0``)."""
        return self.X if l == 0 else self.net.states_[l - 1]

    def pre(self, l, Xl=None):
        r""":math:`W_lX_l + b_l\mathbf 1^T` (``Xl`` defaults to the current :math:`X_l`), cached."""
        net = self.net
        Xl = self.layer_input(l) if Xl is None else Xl
        key = (net.weights_[l], net.biases_[l], Xl)
        hit = self._pre.get(l)
        if hit is not None and _same(key, hit[0]):
            return hit[1]
        self._pre.pop(l, None)  # release the old product before making the new one
        U = self.product(l, Xl)
        self._pre[l] = (key, U)
        return U

    def product(self, l, Xl):
        r""":math:`W_lX_l + b_l\mathbf 1^T`, uncached: from the backend when it formed it already
        (:meth:`~cvxlift.training.Backend.cached_preactivation`), else computed.

        Parameters
        ----------
        l : int
            Layer index.
        Xl : ndarray (n_l, m)
            The layer's input.

        Returns
        -------
        ndarray (n_{l+1}, m)
        """
        net = self.net
        U = None
        if self.backend is not None:
            U = self.backend.cached_preactivation(l, net.weights_[l], net.biases_[l], Xl)
        if U is None:
            U = net.weights_[l] @ Xl + net.biases_[l][:, None]
        return U

    def _term(self, name, key, fn):
        hit = self._terms.get(name)
        if hit is not None and _same(key, hit[0]):
            return hit[1]
        value = fn()
        self._terms[name] = (key, value)
        return value

    def objective(self, parts=False):
        """The lifted objective (10) at the current iterate; see :meth:`LiftedNetwork.objective`."""
        net, Y = self.net, self.Y
        states = net.states_
        terms = {"loss": self._term("loss", (Y, states[-1]), lambda: net.loss_.value(Y, states[-1]))}
        xp = ax.namespace(self.X)  # numpy, or the library of torch/cupy training data
        for l, d in enumerate(net.activations_):
            U, S, form = self.pre(l), states[l], net.forms_[l]
            d = ax.native(d, U)
            terms[f"D{l}"] = net.lam_[l] * self._term(
                f"D{l}", (U, S), lambda U=U, S=S, d=d, form=form: float(xp.sum(d.divergence_value(U, S, form)))
            )
            W = net.weights_[l]
            terms[f"W{l}"] = net.rho_[l] * self._term(f"W{l}", (W,), lambda W=W: float(xp.sum(W * W)))
        total = float(sum(terms.values()))
        return (total, terms) if parts else total

    def forward(self):
        """Every state of the forward pass on ``X`` (the engine's initial states)."""
        return self.net.forward(self.X)

    def forward_output(self):
        """The network output of the forward pass on ``X`` (the first product from the cache)."""
        net = self.net
        cur = ax.native(net.activations_[0], self.X).forward(self.pre(0, self.X))
        for l in range(1, net.n_layers):
            cur = ax.native(net.activations_[l], self.X).forward(net.preactivation(l, cur))
        return cur
