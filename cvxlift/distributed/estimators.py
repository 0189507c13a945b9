r"""The scikit-learn estimators on Dask arrays (one **row** per sample, chunked along rows).

:class:`cvxlift.LiftedMLPClassifier` and :class:`cvxlift.LiftedMLPRegressor` come here from
``fit``/``predict``/``predict_proba`` when ``X`` (or ``y``) is a Dask array. The rows of ``X``
chunked along rows are the columns of the network chunked along columns (``X.T``), so the fit
is :class:`cvxlift.training.BCD` with a :class:`~cvxlift.distributed.DaskBackend`, as
:meth:`cvxlift.LiftedNetwork.fit` on Dask columns; the estimator's own steps are done with
reductions: the classes (``dask.array.unique``), the internal units (the largest magnitude of
each feature and, for regression, of each target), the training score.

Not available on Dask arrays: ``early_stopping`` (it needs a random split of the samples; hold
out your own validation rows and score them). The network's states stay with
``network_`` only in memory fits: after a Dask fit ``network_.states_`` is ``None`` (use
:meth:`cvxlift.LiftedNetwork.fit` to keep the states on the workers).
"""

from types import SimpleNamespace

import numpy as np

from ..exceptions import ValidationError
from ..network import LiftedNetwork
from . import doors
from .chunks import compute, reduce_columns
from .detect import is_dask, require_dask
from .scoring import score_output

__all__ = ["fit_rows", "output_rows", "probabilities_rows", "labels_rows"]

_SEED_MAX = np.iinfo(np.int32).max


def _rows(a, name, dtypes=("float32", "float64")):
    """``a`` as a Dask array with its columns in one chunk (rows are samples)."""
    require_dask()
    import dask.array as da

    if not is_dask(a):
        a = np.asarray(a)
        a = da.from_array(a, chunks=(max(1, a.shape[0]),) + a.shape[1:]) if a.ndim else a
    if not isinstance(a, da.Array):
        raise ValidationError(
            f"{name} must be a dask.array.Array or an array; got {type(a).__name__} (convert a "
            "dataframe with .to_dask_array(lengths=True))"
        )
    if any(np.isnan(c) for c in a.chunks[0]):
        raise ValidationError(
            f"{name} has unknown chunk sizes (e.g. from a dataframe): call "
            f"{name}.compute_chunk_sizes() first, or to_dask_array(lengths=True)"
        )
    if a.ndim == 2 and a.numblocks[1] != 1:
        a = a.rechunk({1: -1})
    return a


def _max_abs(A):
    """Per column of the rows ``A``: the largest magnitude, 1 for an all-zero column (a reduction)."""
    top = np.asarray(abs(A).max(axis=0).compute(), dtype=np.float64)
    return np.where((top > 0) & np.isfinite(top), top, 1.0)


def _accuracy_chunk(out, labels, net, probabilities):
    """``(correct, columns)`` of a chunk: the largest probability at the label's class."""
    P = probabilities(net, out.T)
    return int(np.count_nonzero(np.argmax(P, axis=1) == labels[0].astype(np.int64))), out.shape[1]


def _class_index(y, classes):
    return np.searchsorted(classes, np.asarray(y)).astype(np.float64)


def _one_hot(y, classes):
    return (np.asarray(y)[:, None] == classes[None, :]).astype(np.float64)


def fit_rows(est, X, y, params, callbacks, encode_targets, probabilities, fold_units, set_fitted):
    """Fit ``est`` (a lifted MLP estimator) on Dask rows; set its fitted attributes; return it.

    Parameters
    ----------
    est : LiftedMLPClassifier or LiftedMLPRegressor
    X : dask array (n_samples, n_features)
        Rows are samples, chunked along rows.
    y : dask array (n_samples,) or (n_samples, n_outputs)
        Class labels or real targets, chunked like ``X``'s rows (rechunked if not).
    params : dict
        The estimator's resolved hyper-parameters.
    callbacks : list of cvxlift.training.Callback
    encode_targets : callable
        The estimator's target encoder, given the classes (classifier) or the first row of
        ``y`` (regressor): it validates them and sets ``classes_`` / ``n_outputs_``.
    probabilities, fold_units : callables
        The estimator module's output-to-probabilities map and its folding of the internal units
        into the first and last layers.
    set_fitted : callable
        ``set_fitted(net, run, scores, n_layers, in_dtype, params, stacklevel=...)``: the
        estimator's fitted attributes (coefficients, curves, the convergence warning).

    Returns
    -------
    est
    """
    require_dask()
    import dask.array as da
    from sklearn.base import RegressorMixin
    from sklearn.utils import check_random_state

    from ..training import BCD, PrintSweeps, Scores
    from .backend import DaskBackend

    p = params
    if est.early_stopping:
        raise ValidationError(
            "early_stopping=True is not available on Dask arrays (it needs a random split of the "
            "samples): pass early_stopping=False and score your own held-out rows"
        )
    if est.solver != "fast":
        raise ValidationError(
            f"solver={est.solver!r} cannot train on Dask arrays (the CVXPY blocks need every sample "
            "at once): pass solver='fast'"
        )
    try:
        rng = check_random_state(est.random_state)
    except (ValueError, TypeError):
        raise ValidationError(
            f"random_state must be None, an integer in [0, 2**32 - 1] or a "
            f"numpy.random.RandomState, got {est.random_state!r}"
        ) from None
    X = _rows(X, "X")
    if X.ndim != 2 or X.shape[0] < 1 or X.shape[1] < 1:
        raise ValidationError(f"X must be a non-empty 2-D array (rows are samples); got shape {X.shape}")
    if X.dtype.kind not in "biuf":
        raise ValidationError(f"X must be numeric; got dtype {X.dtype}")
    y = _rows(y, "y")
    if y.ndim not in (1, 2) or y.shape[0] != X.shape[0]:
        raise ValidationError(f"y must have one entry (or row) per row of X ({X.shape[0]}); got shape {y.shape}")
    if y.chunks[0] != X.chunks[0]:
        y = y.rechunk({0: X.chunks[0]})
    in_dtype = X.dtype
    X = X.astype(np.float64)
    m = X.shape[0]
    regressor = isinstance(est, RegressorMixin)
    if regressor:
        if y.dtype.kind not in "biuf":
            raise ValidationError(f"y must be numeric for a regressor; got dtype {y.dtype}")
        y = y.astype(np.float64)
        encode_targets(np.asarray(y[:1].compute()))
        Y = y[:, None] if y.ndim == 1 else y
        y_scale = _max_abs(Y)
        Y = Y / y_scale
        labels = None
    else:
        if y.ndim != 1:
            raise ValidationError(f"y must be 1-D class labels for a classifier; got shape {y.shape}")
        classes = np.unique(np.asarray(da.unique(y).compute()))
        encode_targets(classes)
        classes = est.classes_
        Y = y.map_blocks(_one_hot, classes, new_axis=1, chunks=(y.chunks[0], (classes.size,)), dtype=np.float64)
        labels = y.map_blocks(_class_index, classes, dtype=np.float64)[None, :]
        y_scale = np.ones(classes.size)
    est.n_features_in_ = int(X.shape[1])
    if hasattr(est, "feature_names_in_"):
        del est.feature_names_in_
    x_scale = _max_abs(X)
    Xc, Yc = (X / x_scale).T, Y.T
    net_seed = int(rng.randint(_SEED_MAX))
    sizes = [X.shape[1], *p["hidden_layer_sizes"], Yc.shape[0]]
    net = LiftedNetwork(
        sizes,
        activations=p["activation"],
        loss=p["loss"],
        lam=p["lam"],
        rho=p["rho"] * m,
        form=est.form,
        random_state=net_seed,
    )
    Xc, Yc = doors.check_XY(net, Xc, Yc)
    doors.check_values(net, Xc, Yc)
    if labels is not None:
        labels = labels.rechunk({1: Xc.chunks[1]})

    def train_score(run):
        if est.prediction == "forward":
            out = run.state.forward_output()
        else:
            out = run.net.predict(Xc, rule="lifted", solver="fast")
        if labels is None:
            return score_output("squared", out, Yc)
        output_layer = SimpleNamespace(activations_=[run.net.activations_[-1]])  # what probabilities() reads
        ((correct, total),) = compute(
            reduce_columns(_accuracy_chunk, [out, labels], (output_layer, probabilities), name="accuracy")
        )
        return correct / total

    scores = Scores(train=train_score)
    cbs = [scores] + ([PrintSweeps(scores)] if est.verbose else []) + list(callbacks)
    fast_options = {"w_step": {"max_iter": p["inner_max_iter"]}} if p["inner_max_iter"] is not None else None
    run = BCD(DaskBackend(options=fast_options), max_iter=p["max_iter"], tol=p["tol"], callbacks=cbs)
    run.fit(net, Xc, Yc)
    net.history_, net.history_blocks_, net.block_info_ = run.history, run.history_blocks, run.block_info
    net.n_iter_, net.interrupted_, net.fit_seconds_ = run.n_iter, run.interrupted, run.seconds
    fold_units(net, x_scale, y_scale)
    net.states_ = None  # they live on the workers of this fit; the estimator keeps the weights

    set_fitted(net, run, scores, len(sizes), in_dtype, p, stacklevel=5)
    return est


def output_rows(est, X):
    """The fitted network's output for Dask rows ``X``, as Dask rows ``(n_samples, n_out)``
    (lazy for the forward rule; the lifted rule is computed and kept on the workers).

    Parameters
    ----------
    est : a fitted lifted MLP estimator
    X : dask array (n_samples, n_features)

    Returns
    -------
    dask array
    """
    X = _rows(X, "X")
    if X.ndim != 2 or X.shape[1] != est.n_features_in_:
        raise ValidationError(f"X must have {est.n_features_in_} features (columns); got shape {X.shape}")
    net = est.network_
    out = net.predict(X.astype(np.float64).T, rule=est.prediction, solver="fast")
    return out.T


def probabilities_rows(net, out, probabilities):
    """``probabilities(net, rows)`` on each row chunk of the Dask output ``out``.

    Parameters
    ----------
    net : LiftedNetwork
    out : dask array (n_samples, n_out)
    probabilities : callable

    Returns
    -------
    dask array
    """
    output_layer = SimpleNamespace(activations_=[net.activations_[-1]])  # what probabilities() reads
    return out.map_blocks(lambda o: probabilities(output_layer, o), dtype=np.float64)


def labels_rows(classes, proba):
    """The class of largest probability of each row of the Dask ``proba`` (ties: the first).

    Parameters
    ----------
    classes : ndarray (k,)
    proba : dask array (n_samples, k)

    Returns
    -------
    dask array (n_samples,)
    """
    return proba.argmax(axis=1).map_blocks(lambda i: classes[i], dtype=classes.dtype)
