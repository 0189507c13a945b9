r"""What :class:`cvxlift.LiftedNetwork`'s doors do with Dask input (one column per data point,
chunked along columns).

``fit``, ``forward``, ``predict`` (both rules), ``objective`` and ``score`` come here when an
argument is a Dask array: the inputs are checked by their metadata at the door (dimensions,
dtype, rows, columns; rows put in one chunk, ``Y`` rechunked like ``X``), their values in one
pass over the chunks before training (:func:`check_values`), and every computation runs per
chunk or as a reduction over chunks, so nothing of the size of the data comes to the client.
"""

import numpy as np

from ..exceptions import ValidationError
from ..validation import check_scale
from . import kernels
from .chunks import as_columns, compute, map_columns, reduce_columns
from .detect import require_dask

__all__ = [
    "check_X",
    "check_XY",
    "check_values",
    "forward",
    "objective",
    "make_backend",
    "predict_backend",
    "score_output",
]


def check_X(net, X, name="X"):
    """``X`` as a column-chunked Dask array with ``net.sizes[0]`` rows (metadata only).

    Parameters
    ----------
    net : LiftedNetwork
    X : dask array or array-like
    name : str

    Returns
    -------
    dask array
    """
    return as_columns(X, name, rows=net.sizes[0])


def check_XY(net, X, Y, names=("X", "Y")):
    """``X`` and ``Y`` as Dask arrays with the same column chunks (``Y`` rechunked like ``X``;
    a numpy argument is chunked like the Dask one).

    Parameters
    ----------
    net : LiftedNetwork
    X, Y : dask arrays or array-likes
    names : pair of str
        Argument names for the errors.

    Returns
    -------
    X, Y : dask arrays
    """
    require_dask()
    from .detect import is_dask

    if not is_dask(X):  # chunk the numpy side like the Dask one
        Y = as_columns(Y, names[1], rows=net.sizes[-1])
        X = as_columns(X, names[0], rows=net.sizes[0], like=Y)
    else:
        X = as_columns(X, names[0], rows=net.sizes[0])
    Y = as_columns(Y, names[1], rows=net.sizes[-1], like=X)
    return X, Y


def check_values(net, X, Y, names=("X", "Y")):
    """One pass over the chunks: every value of ``X`` and ``Y`` finite and within the network
    door's range (:func:`cvxlift.validation.check_scale`), the targets valid for the loss.

    Parameters
    ----------
    net : LiftedNetwork
    X, Y : dask arrays (checked by :func:`check_XY`)
    names : pair of str

    Raises
    ------
    ValidationError
        Naming the argument and the number of columns at fault (or the loss's complaint about
        the targets).
    """
    ((bad_x, bad_y, messages, tops_x, tops_y),) = compute(
        reduce_columns(_check_chunk, [X, Y], (net.loss_,), name="check-data")
    )
    if bad_x:
        raise ValidationError(f"{names[0]} contains NaN or inf (in {bad_x} columns)")
    if bad_y:
        raise ValidationError(f"{names[1]} contains NaN or inf (in {bad_y} columns)")
    check_scale(np.asarray(tops_x), names[0])  # the chunks' largest magnitudes
    check_scale(np.asarray(tops_y), names[1])
    if messages:
        raise ValidationError(f"{messages[0]} (column numbers within a column chunk of {names[1]})")


def _check_chunk(X, Y, loss):
    bad_x, bad_y, message = kernels.check_chunk(X, Y, loss)
    tops = [float(np.max(np.abs(A), initial=0.0)) if not bad else 0.0 for A, bad in ((X, bad_x), (Y, bad_y))]
    # lists: the reduction concatenates them (one entry per chunk)
    return bad_x, bad_y, [message] if message else [], [tops[0]], [tops[1]]


def forward(net, X):
    r"""Every state of the forward pass, :math:`X_{l+1} = \phi_l(W_lX_l + b_l\mathbf 1^T)`, as lazy
    Dask arrays chunked like ``X``.

    Parameters
    ----------
    net : LiftedNetwork
    X : dask array (n_0, m)

    Returns
    -------
    list of dask arrays
    """
    X = check_X(net, X)
    states, _ = map_columns(
        kernels.forward, [X], (net.weights_, net.biases_, net.activations_), tuple(net.sizes[1:]), name="forward"
    )
    return states


def objective(net, X, Y, states, parts=False):
    """The lifted objective (10) of Dask columns: one pass over the chunks (each term a sum).

    Parameters
    ----------
    net : LiftedNetwork
    X, Y : dask arrays (checked by :func:`check_XY`)
    states : list of arrays
        :math:`X_1..X_{L+1}` (Dask or numpy), rechunked like ``X``.
    parts : bool

    Returns
    -------
    float, or (float, dict)
    """
    states = [as_columns(S, f"states[{l}]", like=X) for l, S in enumerate(states)]
    for l, S in enumerate(states):
        if S.shape[0] != net.sizes[l + 1]:
            raise ValidationError(f"states[{l}] must have shape {(net.sizes[l + 1], X.shape[1])}; got {S.shape}")
    (values,) = compute(
        reduce_columns(
            kernels.objective_terms,
            [X, Y, *states],
            (net.weights_, net.biases_, net.activations_, net.forms_, net.loss_),
            name="objective",
        )
    )
    terms = {"loss": float(values[0])}
    for l in range(net.n_layers):
        terms[f"D{l}"] = net.lam_[l] * float(values[1 + l])
        terms[f"W{l}"] = net.rho_[l] * float(np.sum(net.weights_[l] ** 2))
    total = float(sum(terms.values()))
    return (total, terms) if parts else total


def make_backend(opts):
    """The :class:`~cvxlift.distributed.DaskBackend` of ``fit``'s resolved options.

    Parameters
    ----------
    opts : dict
        :func:`cvxlift.training.fit_options`'s result.

    Returns
    -------
    DaskBackend

    Raises
    ------
    ValidationError
        For ``solver="cvxpy"``: the CVXPY blocks need every column at once.
    """
    from .backend import DaskBackend

    if opts["solver"] != "fast":
        raise ValidationError(
            f"solver={opts['solver']!r} cannot train on Dask arrays (the CVXPY blocks need every "
            "column at once): pass solver='fast' (the fast solvers run per column chunk)"
        )
    return DaskBackend(options=opts["fast_options"])


def predict_backend(solver):
    """The backend of the lifted prediction rule on Dask columns (``solver="fast"`` only).

    Parameters
    ----------
    solver : str

    Returns
    -------
    DaskBackend
    """
    from .backend import DaskBackend

    if solver != "fast":
        raise ValidationError(
            f"solver={solver!r} cannot run the lifted rule on Dask arrays: pass solver='fast' "
            "(the fast solvers run per column chunk)"
        )
    return DaskBackend()


def score_output(loss_name, P, Y):
    """See :func:`cvxlift.distributed.scoring.score_output`.

    Parameters
    ----------
    loss_name : str
    P, Y : dask arrays (k, m)

    Returns
    -------
    float
    """
    from .scoring import score_output as score

    return score(loss_name, P, Y)
