r"""The iterate of a distributed fit: :class:`DaskState`, the counterpart of
:class:`cvxlift.training.state.LiftedState` for column-chunked Dask arrays.

The states :math:`X_1..X_{L+1}` are Dask arrays persisted on the workers (chunked like the
data); block updates replace them (the engine's accept/undo guard swaps references, as in
memory). The pre-activations :math:`W_lX_l + b_l\mathbf 1^T` are cached per change of their
factors: persisted on the workers (``preactivations="persist"``, the default, as the in-memory
state keeps them: fewer products, one more array of the layer's size per worker) or kept lazy
and recomputed inside each task that reads them (``"recompute"``: the least memory). The
objective (10) is a sum over columns: each term is a reduction over chunks, cached per change
of its arrays, and only the terms a block changed are recomputed.
"""

import numpy as np

from ..training.state import LiftedState
from . import kernels
from .chunks import as_columns, compute, map_columns, persist, reduce_columns

__all__ = ["DaskState", "PREACTIVATIONS"]

#: Values of ``preactivations``.
PREACTIVATIONS = ("persist", "recompute")


def _same(key, other):
    return other is not None and len(key) == len(other) and all(a is b for a, b in zip(key, other))


class DaskState(LiftedState):
    r"""Data, network and caches of one distributed training run (the products and terms of
    :class:`~cvxlift.training.state.LiftedState` as Dask arrays and reductions over chunks).

    Parameters
    ----------
    net : LiftedNetwork
    X : dask array of shape (n_0, m)
        Inputs, one column per data point, rows in one chunk (read where needed: persist an
        expensive ``X`` first, e.g. ``X = X.persist()``).
    Y : dask array of shape (n_{L+1}, m)
        Targets, chunked like ``X``.
    preactivations : {"persist", "recompute"}
        See the module docstring.
    """

    def __init__(self, net, X, Y, preactivations="persist"):
        if preactivations not in PREACTIVATIONS:
            raise ValueError(f"preactivations must be one of {PREACTIVATIONS}, got {preactivations!r}")
        super().__init__(net, X, Y)
        self.preactivations = preactivations
        states = getattr(net, "states_", None)
        if (
            states is not None
            and len(states) == net.n_layers
            and all(S.shape == (net.sizes[l + 1], X.shape[1]) for l, S in enumerate(states))
        ):
            # states of an earlier fit (in memory, or chunked otherwise): chunk them like X
            aligned = [as_columns(S, f"states_[{l}]", like=X) for l, S in enumerate(states)]
            if any(a is not s for a, s in zip(aligned, states)):
                net.states_ = list(persist(*aligned))

    def product(self, l, Xl):
        r""":math:`W_lX_l + b_l\mathbf 1^T` per chunk, uncached (:meth:`pre` caches it): persisted
        or lazy (``preactivations``).

        Parameters
        ----------
        l : int
            Layer index.
        Xl : dask array (n_l, m)
            The layer's input, column-chunked.

        Returns
        -------
        dask array (n_{l+1}, m)
        """
        net = self.net
        (U,), _ = map_columns(
            kernels.affine, [Xl], (net.weights_[l], net.biases_[l]), (net.u_dims_[l],), name=f"preactivation-{l}"
        )
        if self.preactivations == "persist":
            (U,) = persist(U)
        return U

    def forward(self):
        """Every state of the forward pass on ``X``, persisted."""
        net = self.net
        states, _ = map_columns(
            kernels.forward,
            [self.X],
            (net.weights_, net.biases_, net.activations_),
            tuple(net.sizes[1:]),
            name="forward",
        )
        return list(persist(*states))

    def forward_output(self):
        """The network output of the forward pass on ``X`` (lazy; from the first product of the cache)."""
        net = self.net
        (out,), _ = map_columns(
            kernels.forward_from,
            [self.pre(0, self.X)],
            (net.activations_[0], net.weights_[1:], net.biases_[1:], net.activations_[1:]),
            (net.sizes[-1],),
            name="forward-output",
        )
        return out

    def objective(self, parts=False):
        """The lifted objective (10) at the current iterate; the terms a block left unchanged come
        from the cache, the others from one computation of reductions over chunks."""
        net, Y = self.net, self.Y
        states = net.states_
        wanted = {
            "loss": (
                (Y, states[-1]),
                lambda: reduce_columns(kernels.loss_sum, [Y, states[-1]], (net.loss_,), name="loss"),
            )
        }
        for l, d in enumerate(net.activations_):
            U, S, form = self.pre(l), states[l], net.forms_[l]
            wanted[f"D{l}"] = (
                (U, S),
                lambda U=U, S=S, d=d, form=form: reduce_columns(
                    kernels.divergence_sum, [U, S], (d, form), name=f"divergence-{l}"
                ),
            )
        todo = {}
        for name, (key, build) in wanted.items():
            hit = self._terms.get(name)
            if hit is None or not _same(key, hit[0]):
                todo[name] = (key, build())
        if todo:
            values = compute(*[t[1] for t in todo.values()])
            for (name, (key, _)), (value,) in zip(todo.items(), values):
                self._terms[name] = (key, float(value))
        terms = {"loss": self._terms["loss"][1]}
        for l in range(net.n_layers):
            terms[f"D{l}"] = net.lam_[l] * self._terms[f"D{l}"][1]
            W = net.weights_[l]
            terms[f"W{l}"] = net.rho_[l] * float(np.sum(W * W))
        total = float(sum(terms.values()))
        return (total, terms) if parts else total
