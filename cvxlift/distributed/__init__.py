r"""Lifted training and prediction over column-chunked Dask arrays (optional extra ``dask``).

A lifted network keeps one state column per data point and layer; every X-step, output step,
joint X-step and prediction is independent across columns, and every W-step needs only sums
over columns (Gram matrices and cross products, :math:`p \times p`). This subpackage runs the
training engine (:class:`cvxlift.training.BCD`) on Dask arrays chunked along columns:

- :class:`DaskState` (the engine's :class:`~cvxlift.training.state.LiftedState` counterpart):
  data, states and pre-activations persisted on the workers, objective terms as reductions;
- :class:`DaskBackend` (a :class:`cvxlift.training.Backend`): the column-separable blocks run
  the certified numpy solvers of :mod:`cvxlift.fast` per chunk; the W-steps are built from
  reductions over chunks (one per iteration for the iterative ones), the small
  :math:`p \times p` algebra on the client;
- :func:`connect`: a Dask client on a new ``LocalCluster`` or an existing scheduler.

:meth:`cvxlift.LiftedNetwork.fit`, ``predict``, ``objective``, ``score`` and the
scikit-learn estimators pick this path when they are given Dask arrays. ``import cvxlift``
never imports Dask; this package imports it on first use of these names.
"""

from .detect import is_dask

__all__ = ["DaskBackend", "DaskState", "connect", "is_dask", "PREACTIVATIONS"]

_LAZY = {
    "DaskBackend": "backend",
    "PREACTIVATIONS": "state",
    "DaskState": "state",
    "connect": "cluster",
}


def __getattr__(name):
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module 'cvxlift.distributed' has no attribute {name!r}")
    import importlib

    return getattr(importlib.import_module(f"{__name__}.{module}"), name)


def __dir__():
    return sorted(set(globals()) | set(_LAZY))
