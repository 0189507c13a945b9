r"""scikit-learn estimators on lifted networks: :class:`LiftedMLPClassifier`, :class:`LiftedMLPRegressor`.

Both wrap a :class:`~cvxlift.LiftedNetwork` trained by block-coordinate descent on the
lifted problem (paper eq. 10, output layer lifted as in eq. 14)

.. math::
    \min_{(W_l, b_l), (X_l)}\ \mathcal L(Y, X_{L+1}) + \sum_{l=0}^{L} \rho \|W_l\|_F^2
    + \sum_{l=0}^{L} \lambda\, D_l(W_l X_l + b_l \mathbf 1^T, X_{l+1}),\qquad X_0 = X,

and follow the scikit-learn conventions: **rows are samples** here (``X`` is
``(n_samples, n_features)``), while :class:`~cvxlift.LiftedNetwork` takes one *column* per
data point; the estimators transpose at the door. ``coefs_[l]`` is ``weights_[l].T``, of
shape ``(n_in, n_out)`` as in :class:`sklearn.neural_network.MLPClassifier`.

This module imports scikit-learn at import time; ``import cvxlift`` does not import it
(``cvxlift.LiftedMLPClassifier`` is resolved lazily). See ``docs/estimators.md``.
"""

import copy
import numbers
import warnings

import numpy as np

try:
    import sklearn  # noqa: F401
    from sklearn.base import BaseEstimator, ClassifierMixin, RegressorMixin
    from sklearn.exceptions import ConvergenceWarning
    from sklearn.metrics import accuracy_score, r2_score
    from sklearn.model_selection import train_test_split
    from sklearn.utils import check_random_state
    from sklearn.utils.multiclass import check_classification_targets
    from sklearn.utils.validation import check_is_fitted, validate_data
except ImportError as exc:  # pragma: no cover - exercised in a subprocess by the tests
    raise ImportError(
        "cvxlift.estimators needs scikit-learn (>= 1.6); install it with "
        "`pip install cvxlift[sklearn]` (or `pip install scikit-learn`)"
    ) from exc

from . import arrays as ax
from .divergences import get_divergence
from .divergences.simplex import Simplex
from .exceptions import UnknownActivationError, UnknownAtomError, ValidationError
from .network import LiftedNetwork
from .numeric import project_simplex
from .validation import LAM_RANGE, RHO_MAX, check_int, check_memory, check_penalty

__all__ = ["LiftedMLPClassifier", "LiftedMLPRegressor", "UnknownActivationError"]

SOLVERS = ("fast", "cvxpy")
PREDICTIONS = ("forward", "lifted")
_SEED_MAX = np.iinfo(np.int32).max
#: Input dtypes kept by scikit-learn's validation (float32 is kept for ``coefs_``; the solvers
#: work in float64) and the sparse formats accepted (densified: the lifted problems are dense).
_DTYPES = (np.float64, np.float32)
_SPARSE = ("csr", "csc", "coo")


def _dask_input(*arrays):
    """``True`` when an argument is a Dask collection (see :func:`cvxlift.distributed.is_dask`)."""
    from .distributed.detect import is_dask

    return is_dask(*arrays)


def _numeric_input(X, name="X"):
    """Refuse text input before scikit-learn's validation would parse ``"1.5"`` as a number."""
    if hasattr(X, "toarray") or hasattr(X, "tocsr"):  # sparse: numeric by construction
        return
    try:
        arr = np.asarray(X)
    except (TypeError, ValueError):
        return  # ragged input: scikit-learn's validation names it
    if arr.dtype.kind in "USV" or (arr.dtype.kind == "O" and any(isinstance(v, (str, bytes)) for v in arr.flat)):
        raise ValidationError(f"{name} must be numeric; got text (dtype {arr.dtype}): convert or encode it first")


def _dense(X, name="X"):
    """A sparse ``X`` as a dense float64 array (the lifted problems are dense), after a memory check."""
    if not hasattr(X, "toarray"):
        return X
    check_memory(2 * 8.0 * X.shape[0] * X.shape[1], f"the dense form of a sparse {X.shape} array", name)
    return np.asarray(X.toarray(), dtype=np.float64)


def _random_state(seed):
    try:
        return check_random_state(seed)
    except (ValueError, TypeError):
        raise ValidationError(
            f"random_state must be None, an integer in [0, 2**32 - 1] or a numpy.random.RandomState, got {seed!r}"
        ) from None


def _validated(validate, *args, **kwargs):
    """scikit-learn's input validation, its ``ValueError`` re-raised as a
    :class:`~cvxlift.ValidationError` (a ``ValueError`` too) with the same message, which
    names the argument (``X``/``y``) and what was expected."""
    try:
        return validate(*args, **kwargs)
    except ValidationError:
        raise
    except ValueError as exc:
        raise ValidationError(str(exc)) from exc


# ---------------------------------------------------------------------------- helpers
def _check_int(value, name, low):
    return check_int(value, name, low)


def _check_hidden(hidden):
    if isinstance(hidden, numbers.Integral) and not isinstance(hidden, bool):
        hidden = [hidden]
    if isinstance(hidden, (str, bytes)):
        raise ValidationError(f"hidden_layer_sizes must be a sequence of positive integers, got {hidden!r}")
    try:
        hidden = list(hidden)
    except TypeError:
        raise ValidationError(
            f"hidden_layer_sizes must be a positive integer or a sequence of them, got {hidden!r}"
        ) from None
    for i, h in enumerate(hidden):
        if isinstance(h, bool) or not isinstance(h, numbers.Integral) or h < 1:
            raise ValidationError(f"hidden_layer_sizes[{i}] must be a positive integer, got {h!r}")
    return [int(h) for h in hidden]


def _resolve_activation(spec):
    if isinstance(spec, (list, tuple)):
        raise ValidationError(
            "activation must be one atom for every hidden layer: a registered name "
            f"(see cvxlift.available()), a Divergence instance or subclass; got {spec!r}. "
            "For per-layer atoms build a cvxlift.LiftedNetwork directly"
        )
    try:
        return get_divergence(spec)
    except UnknownAtomError as exc:
        raise UnknownActivationError(f"activation: {exc}") from None
    except ValidationError as exc:
        raise ValidationError(f"activation: {exc}") from None


def _check_choice(choices):
    def check(value, name, est):
        if not isinstance(value, str) or value not in choices:
            raise ValidationError(f"{name} must be one of {choices}, got {value!r}")
        return value

    return check


def _check_inner(value, name, est):
    if value is None:
        return None
    return _check_int(value, name, 1)


def _check_fraction(value, name, est):
    if isinstance(value, bool) or not isinstance(value, numbers.Real) or not 0.0 < value < 1.0:
        raise ValidationError(f"{name} must be a number in (0, 1), got {value!r}")
    return float(value)


def _check_tol(value, name, est):
    if isinstance(value, bool) or not isinstance(value, numbers.Real) or not (np.isfinite(value) and value >= 0):
        raise ValidationError(f"{name} must be a finite number >= 0, got {value!r}")
    return float(value)


def _check_flag(value, name, est):
    if not isinstance(value, (bool, np.bool_)):
        raise ValidationError(f"{name} must be True or False, got {value!r}")
    return bool(value)


def _check_verbose(value, name, est):
    if isinstance(value, (bool, np.bool_)):
        return bool(value)
    return _check_int(value, name, 0) > 0


def _check_form(value, name, est):
    if value is None or value in ("fenchel", "joint", "fenchel_hidden"):
        return value
    raise ValidationError(f"{name} must be None, 'fenchel', 'joint' or 'fenchel_hidden', got {value!r}")


def _any(value, name, est):
    return value


def _check_device(value, name, est):
    if value is None:
        return None
    if isinstance(value, str) or type(value).__module__.startswith("torch"):
        return ax.resolve_device(value, name)
    raise ValidationError(f"{name} must be None, 'cpu', 'cuda', 'cuda:N' or a torch.device; got {value!r}")


#: The hyper-parameters and their checks, in ``__init__``'s order; ``lam``, ``rho`` (one per
#: layer or one for all) and ``loss`` (per estimator) are resolved by ``_check_params``.
PARAMETERS = {
    "hidden_layer_sizes": lambda v, n, est: _check_hidden(v),
    "activation": lambda v, n, est: _resolve_activation(v),
    "lam": _any,
    "rho": _any,
    "max_iter": lambda v, n, est: _check_int(v, n, 1),
    "tol": _check_tol,
    "solver": _check_choice(SOLVERS),
    "prediction": _check_choice(PREDICTIONS),
    "form": _check_form,
    "inner_max_iter": _check_inner,
    "loss": _any,
    "early_stopping": _check_flag,
    "validation_fraction": _check_fraction,
    "n_iter_no_change": lambda v, n, est: _check_int(v, n, 1),
    "random_state": _any,
    "verbose": _check_verbose,
    "device": _check_device,
}


def _max_abs(A):
    """Per column of ``A`` (samples are rows): the largest magnitude, 1 for an all-zero column
    (scikit-learn's ``MaxAbsScaler``: no shift, so zeros and signs stay)."""
    top = np.max(np.abs(A), axis=0) if A.shape[0] else np.ones(A.shape[1])
    return np.where((top > 0) & np.isfinite(top), top, 1.0)


def _fold_units(net, x_scale, y_scale):
    r"""Make ``net`` (trained on features divided by :math:`s` and targets by :math:`t`, entrywise)
    act in the user's units: :math:`W_0 \leftarrow W_0\,\mathrm{diag}(s)^{-1}`, and for the linear
    output layer of a regressor :math:`W_L \leftarrow \mathrm{diag}(t)W_L`,
    :math:`b_L \leftarrow \mathrm{diag}(t)b_L` and the output state likewise. Exact for the forward
    pass and for the lifted rule (the input enters only through :math:`W_0X`; a linear output is a
    linear map of the last state)."""
    W, b = list(net.weights_), list(net.biases_)
    W[0] = W[0] / np.asarray(x_scale)[None, :]
    y_scale = np.asarray(y_scale, dtype=float)
    if np.any(y_scale != 1.0):
        W[-1], b[-1] = W[-1] * y_scale[:, None], b[-1] * y_scale
        if getattr(net, "states_", None) is not None:
            net.states_ = list(net.states_[:-1]) + [net.states_[-1] * y_scale[:, None]]
    net.weights_, net.biases_ = W, b


def _probabilities(net, out):
    """Rows of ``out`` (network outputs) as probability vectors.

    A ``Simplex`` output is already on the simplex: clip round-off negatives, renormalise.
    Any other output is projected onto the simplex (Euclidean projection, order-preserving).
    """
    if isinstance(net.activations_[-1], Simplex):
        P = np.maximum(out, 0.0)
    else:
        P = project_simplex(out, axis=1)
    s = P.sum(axis=1, keepdims=True)
    return P / np.where(s > 0, s, 1.0)


# ---------------------------------------------------------------------------- base class
class _BaseLiftedMLP(BaseEstimator):
    """Shared machinery of the lifted MLP estimators (not public)."""

    _default_loss = None
    _losses = ()

    def __init__(
        self,
        hidden_layer_sizes=(100,),
        activation="relu",
        *,
        lam=1.0,
        rho=1e-3,
        max_iter=300,
        tol=1e-4,
        solver="fast",
        prediction="forward",
        form="fenchel_hidden",
        inner_max_iter=20,
        loss=None,
        early_stopping=False,
        validation_fraction=0.1,
        n_iter_no_change=3,
        random_state=None,
        verbose=False,
        device=None,
    ):
        self.hidden_layer_sizes = hidden_layer_sizes
        self.activation = activation
        self.lam = lam
        self.rho = rho
        self.max_iter = max_iter
        self.tol = tol
        self.solver = solver
        self.prediction = prediction
        self.form = form
        self.inner_max_iter = inner_max_iter
        self.loss = loss
        self.early_stopping = early_stopping
        self.validation_fraction = validation_fraction
        self.n_iter_no_change = n_iter_no_change
        self.random_state = random_state
        self.verbose = verbose
        self.device = device

    # -- sklearn plumbing -----------------------------------------------------------
    def get_params(self, deep=True):
        """Parameters of this estimator (``deep`` is accepted; no parameter is an estimator).

        A :class:`~cvxlift.Divergence` passed as ``activation`` is returned as is, not
        expanded into ``activation__*`` entries.
        """
        return super().get_params(deep=False)

    def __sklearn_clone__(self):
        # The default clone would treat a Divergence (which has get_params) as an estimator;
        # no parameter of ours is an estimator, so a deep copy of each is the clone.
        params = {k: copy.deepcopy(v) for k, v in self.get_params(deep=False).items()}
        return type(self)(**params)

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.input_tags.sparse = True
        tags.input_tags.allow_nan = False
        return tags

    # -- parameters -----------------------------------------------------------------
    def _check_params(self):
        """Validate every hyper-parameter against :data:`PARAMETERS` (at ``fit``, before any
        work); return the resolved values by name."""
        out = {name: check(getattr(self, name), name, self) for name, check in PARAMETERS.items()}
        n_layers = len(out["hidden_layer_sizes"]) + 1
        out["lam"] = check_penalty(self.lam, "lam", n_layers, *LAM_RANGE)
        out["rho"] = check_penalty(self.rho, "rho", n_layers, high=RHO_MAX, allow_zero=True)
        out["loss"] = self._default_loss if self.loss is None else self.loss
        if out["loss"] not in self._losses:
            raise ValidationError(f"loss must be one of {self._losses} for {type(self).__name__}, got {self.loss!r}")
        return out

    # -- hooks of the subclasses ------------------------------------------------------
    def _encode_targets(self, y):  # pragma: no cover - abstract
        """Validate ``y`` (after ``validate_data``), set the target attributes, return
        ``(Y, y_score)``: targets as rows ``(n_samples, n_out)`` and the labels ``score`` compares."""
        raise NotImplementedError

    def _score_output(self, net, out, y_score):  # pragma: no cover - abstract
        """Score of ``net``'s output rows ``out`` against ``y_score`` (accuracy / R^2)."""
        raise NotImplementedError

    def _validate_fit_data(self, X, y):  # pragma: no cover - abstract
        raise NotImplementedError

    def _target_scale(self, Y):
        """The targets' internal units (1: targets are used as given)."""
        return np.ones(Y.shape[1])

    def _split(self, m, y_score, seed):
        """Training and validation indices for early stopping (checked: both parts usable)."""
        n_val = int(np.ceil(self.validation_fraction * m))
        if n_val < 2 or m - n_val < 1:
            raise ValidationError(
                f"validation_fraction={self.validation_fraction} of {m} samples leaves {n_val} validation and "
                f"{m - n_val} training samples; early stopping needs at least 2 validation samples and 1 "
                f"training sample (raise validation_fraction, add samples, or set early_stopping=False)"
            )
        return train_test_split(np.arange(m), test_size=n_val, random_state=seed)

    # -- fitting --------------------------------------------------------------------
    def _network_output(self, net, Xrows):
        """The network output for ``Xrows`` (samples as rows), as rows ``(n_samples, n_out)``."""
        cols = np.ascontiguousarray(Xrows.T)
        if self.prediction == "forward":
            out = net.predict(cols, rule="forward")
        else:
            out = net.predict(cols, rule="lifted", solver=self.solver)
        return np.asarray(out, dtype=np.float64).T

    def fit(self, X, y, callbacks=None):
        """Fit the lifted network to ``(X, y)`` by block-coordinate descent.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)
            Training inputs, one **row** per sample.
        y : array-like of shape (n_samples,) or (n_samples, n_outputs)
            Class labels (classifier) or real targets (regressor).
        callbacks : sequence of cvxlift.training.Callback, optional
            Extra callbacks of the training engine (e.g. a progress bar), called after the
            estimator's own (scores, early stopping).

        Returns
        -------
        self : object
            The fitted estimator.

        Notes
        -----
        Each sweep solves the W-steps, X-steps and output step of the lifted problem
        (see :meth:`cvxlift.LiftedNetwork.fit`); ``loss_curve_[k]`` is the lifted objective
        after sweep ``k + 1`` (non-increasing). Training stops after ``max_iter`` sweeps,
        when a sweep lowers the objective by less than ``tol`` (relative), or, with
        ``early_stopping``, after ``n_iter_no_change`` sweeps in which the validation score
        did not rise by more than ``tol``; the weights of the best sweep are then restored.
        A ``KeyboardInterrupt`` ends the fit with the iterate of the last complete sweep
        (``interrupted_`` is True, with a warning), as scikit-learn's MLP does.
        """
        return self._fit(X, y, callbacks)

    def _fit(self, X, y, callbacks):
        from .training import BCD, Callback, EarlyStopping, PrintSweeps, Scores, make_backend

        p = self._check_params()
        extra = list(callbacks or ())
        for cb in extra:
            if not isinstance(cb, Callback):
                raise ValidationError(f"callbacks must be cvxlift.training.Callback instances, got {cb!r}")
        if _dask_input(X, y):  # Dask arrays (rows are samples, chunked along rows): trained on the workers
            from .distributed.estimators import fit_rows

            return fit_rows(
                self,
                X,
                y,
                p,
                extra,
                encode_targets=self._encode_targets,
                probabilities=_probabilities,
                fold_units=_fold_units,
                set_fitted=self._set_fitted,
            )
        like = X if ax.is_torch(X) else None  # a torch input: trained on its device unless device= says
        X, y = ax.to_numpy(X), ax.to_numpy(y)
        _numeric_input(X)
        rng = _random_state(self.random_state)
        dev = p["device"] if p["device"] is not None else (None if like is None else like.device)
        if dev is not None and self.solver != "fast":
            raise ValidationError(
                f"device={self.device!r} (or a torch input) needs solver='fast', got solver={self.solver!r}"
            )
        X, y = self._validate_fit_data(X, y)
        in_dtype = X.dtype
        X = np.asarray(_dense(X), dtype=np.float64)
        Y, y_score = self._encode_targets(y)
        m = X.shape[0]
        # internal units: each feature divided by its largest magnitude, and for regression each
        # target likewise (a change of units leaves the fit unchanged); folded back into the first
        # and last layers after training
        x_scale = _max_abs(X)
        y_scale = self._target_scale(Y)
        X = X / x_scale
        Y = Y / y_scale
        if isinstance(self, RegressorMixin):  # R^2 is scored in the same (internal) units
            y_score = Y
        net_seed = int(rng.randint(_SEED_MAX))
        if self.early_stopping:
            split_seed = int(rng.randint(_SEED_MAX))
            idx_train, idx_val = self._split(m, y_score, split_seed)
            X_train, Y_train, s_train = X[idx_train], Y[idx_train], y_score[idx_train]
            X_val, s_val = X[idx_val], y_score[idx_val]
        else:
            X_train, Y_train, s_train = X, Y, y_score
            X_val = s_val = None

        sizes = [X.shape[1], *p["hidden_layer_sizes"], Y.shape[1]]
        net = LiftedNetwork(
            sizes,
            activations=p["activation"],
            loss=p["loss"],
            lam=p["lam"],
            rho=p["rho"] * X_train.shape[0],
            form=self.form,
            random_state=net_seed,
        )

        def train_score(run):
            if self.prediction == "forward":  # the first layer's product comes from the engine's cache
                out = ax.to_numpy(run.state.forward_output()).T
            else:
                out = self._network_output(run.net, X_train)
            return self._score_output(run.net, out, s_train)

        validation = (
            None
            if X_val is None
            else (lambda run: self._score_output(run.net, self._network_output(run.net, X_val), s_val))
        )
        scores = Scores(train=train_score, validation=validation)
        cbs = [scores]
        early = None
        if self.early_stopping:
            early = EarlyStopping(scores, p["n_iter_no_change"], p["tol"])
            cbs.append(early)
        if self.verbose:
            cbs.append(PrintSweeps(scores))
        cbs += extra
        fast_options = None
        if self.solver == "fast" and p["inner_max_iter"] is not None:
            fast_options = {"w_step": {"max_iter": p["inner_max_iter"]}}
        run = BCD(
            make_backend(self.solver, fast_options=fast_options), max_iter=p["max_iter"], tol=p["tol"], callbacks=cbs
        )
        Xt, Yt = np.ascontiguousarray(X_train.T), np.ascontiguousarray(Y_train.T)
        if dev is not None:  # torch on the training device
            import torch

            Xt, Yt = torch.as_tensor(Xt, device=dev), torch.as_tensor(Yt, device=dev)
        run.fit(net, Xt, Yt)
        net.history_, net.history_blocks_, net.block_info_ = run.history, run.history_blocks, run.block_info
        net.n_iter_, net.interrupted_, net.fit_seconds_ = run.n_iter, run.interrupted, run.seconds
        net.move_to(None)
        _fold_units(net, x_scale, y_scale)
        if dev is not None:
            net.move_to(Xt)

        self._set_fitted(net, run, scores, len(sizes), in_dtype, p, early)
        return self

    def _set_fitted(self, net, run, scores, n_layers, in_dtype, p, early=None, stacklevel=4):
        """Set the fitted attributes from a finished run (in memory or on Dask); warn when the
        last sweep still decreased the lifted objective by more than ``tol``.

        Parameters
        ----------
        net : LiftedNetwork
            The trained network (weights in the caller's units).
        run : BCD
            The finished run.
        scores : Scores
            Its per-sweep scores.
        n_layers : int
            Layers of the estimator (input and output included).
        in_dtype : numpy dtype
            Dtype of the training input (float32 input gives float32 coefficients).
        p : dict
            The checked parameters.
        early : EarlyStopping, optional
            The early-stopping callback of the run.
        stacklevel : int
            Of the convergence warning (the user's ``fit`` call).
        """
        self.network_ = net
        out_dtype = in_dtype if in_dtype == np.float32 else np.float64
        self.coefs_ = [np.array(ax.to_numpy(W).T, dtype=out_dtype) for W in net.weights_]
        self.intercepts_ = [np.array(ax.to_numpy(b), dtype=out_dtype) for b in net.biases_]
        self.n_iter_ = int(run.n_iter)
        self.n_layers_ = int(n_layers)
        self.out_activation_ = net.activations_[-1].name
        self.loss_curve_ = [float(v) for v in run.loss_curve]
        self.train_scores_ = list(scores.train)
        self.interrupted_ = bool(run.interrupted)
        if early is not None:
            self.validation_scores_ = list(scores.validation)
            self.best_validation_score_ = float(early.best_score) if scores.validation else None
            self.best_loss_ = None
        else:
            self.validation_scores_ = None
            self.best_validation_score_ = None
            self.best_loss_ = float(min(self.loss_curve_)) if self.loss_curve_ else None
        if (
            self.n_iter_ == p["max_iter"]
            and self.loss_curve_
            and not run.interrupted
            and not (early is not None and early.stopped)
        ):
            prev = run.history[0] if len(self.loss_curve_) == 1 else self.loss_curve_[-2]
            dec = prev - self.loss_curve_[-1]
            if dec > p["tol"] * max(1.0, abs(prev)):
                warnings.warn(
                    f"{type(self).__name__}: maximum number of sweeps max_iter={p['max_iter']} "
                    "reached and the lifted objective has not converged (relative decrease "
                    f"{dec / max(1.0, abs(prev)):.3g} > tol={p['tol']:g})",
                    ConvergenceWarning,
                    stacklevel=stacklevel,
                )

    # -- prediction -----------------------------------------------------------------
    def _output(self, X):
        check_is_fitted(self, "network_")
        if _dask_input(X):
            from .distributed.estimators import output_rows

            return output_rows(self, X)
        X = ax.to_numpy(X)
        _numeric_input(X)
        X = _validated(validate_data, self, X, reset=False, dtype=_DTYPES, accept_sparse=_SPARSE)
        return self._network_output(self.network_, np.asarray(_dense(X), dtype=np.float64))

    def to_torch(self, dtype=None, output="activation"):
        """The fitted network as a :class:`torch.nn.Sequential` (see :func:`cvxlift.torch_export.to_torch`).

        The module maps a batch ``x`` of shape ``(batch, n_features)`` (rows, as here) to
        the network output ``phi_L(W_L ... phi_0(W_0 x + b_0) ... + b_L)`` with the
        fitted weights: ``Linear`` layers with ``weight = weights_[l] = coefs_[l].T`` and
        ``bias = intercepts_[l]``, each followed by the atom's activation module.

        Parameters
        ----------
        dtype : torch.dtype, optional
            Parameter dtype (default ``torch.float64``).
        output : {"activation", "logits"}
            ``"activation"`` ends with the output atom (the simplex projection for the
            classifier, so the module returns probabilities); ``"logits"`` ends with
            ``nn.Identity`` (the output layer's pre-activation).
        """
        check_is_fitted(self, "network_")
        from .torch_export import to_torch

        return to_torch(self.network_, dtype=dtype, output=output)


# ---------------------------------------------------------------------------- classifier
class LiftedMLPClassifier(ClassifierMixin, _BaseLiftedMLP):
    r"""Multi-layer perceptron classifier trained as a lifted network.

    The hidden layers use the divergence of ``activation``; the output layer is the
    Euclidean projection onto the probability simplex (``Simplex``), trained with the
    cross-entropy loss :math:`-\mathrm{Tr}\, Y^T \log X_{L+1}` on one-hot targets
    (paper eqs. 11, 15). The lifted problem

    .. math::
        \min\ -\mathrm{Tr}\, Y^T \log X_{L+1} + \rho \sum_l \|W_l\|_F^2
        + \lambda \sum_{l=0}^{L} D_l(W_l X_l + b_l \mathbf 1^T, X_{l+1})

    is solved by block-coordinate descent (every block convex). Prediction runs the
    plain network (``prediction="forward"``, eq. 2) or the lifted rule (``"lifted"``, eq. 12).
    Every problem is a multi-class one: two classes still use two output units.

    Parameters
    ----------
    hidden_layer_sizes : int or tuple of int, default=(100,)
        Sizes of the hidden layers (``()`` for none: a linear model on the simplex).
    activation : str, Divergence or Divergence subclass, default="relu"
        Atom of every hidden layer: a registered name (``cvxlift.available()``, e.g.
        ``"relu"``, ``"leaky_relu"``, ``"clipped"``, ``"sigmoid"``, ``"tanh"``) or an
        instance such as ``cvxlift.LeakyReLU(0.1)``.
    lam : float or sequence of float, default=1.0
        Penalty weight :math:`\lambda > 0` of the divergences (one per layer allowed).
    rho : float or sequence of float, default=1e-3
        Weight regularisation per training sample, >= 0: the network gets
        :math:`\rho\, m \|W_l\|_F^2` for :math:`m` training samples (the loss and the
        divergences are sums over samples, so the balance does not depend on :math:`m`).
        Not the same number as scikit-learn's ``alpha``: its MLP minimises the *mean* loss plus
        :math:`\tfrac{\alpha}{2m}\|W\|^2`, i.e. the summed loss plus
        :math:`\tfrac{\alpha}{2}\|W\|^2`, so ``rho = alpha / (2 m)`` is the same penalty
        (a given number is :math:`2m` times stronger here). ``1e-3`` at :math:`m = 8000` is a
        network :math:`\rho = 8`, near the best of {1e-3, 10, 100} measured on MNIST
        (``docs/benchmarks.md``).
    max_iter : int, default=300
        Maximum number of block-coordinate-descent sweeps (as scikit-learn's MLP's epochs: the
        small data sets of ``sklearn.datasets`` converge within it; a large data set needs a
        few sweeps, so set it lower there).
    tol : float, default=1e-4
        Stop when a sweep lowers the lifted objective by less than ``tol`` (relative);
        also the minimum validation-score gain that counts as improvement.
    solver : {"fast", "cvxpy"}, default="fast"
        Block solvers: hand-coded numpy kernels (CVXPY fallback) or CVXPY throughout.
    prediction : {"forward", "lifted"}, default="forward"
        Prediction rule.
    form : None, str or sequence, default="fenchel_hidden"
        Divergence form per layer (``"joint"``/``"fenchel"``); ``"fenchel_hidden"`` (default)
        takes the Fenchel-Young form for the hidden layers and the joint form for the output
        layer, the most accurate choice measured (``docs/benchmarks.md``); ``None`` picks
        the joint form wherever the atom has one (the paper's section 3).
    inner_max_iter : int or None, default=20
        With ``solver="fast"``, at most this many iterations of an iterative W-step solver
        per sweep (the Fenchel-Young W-step is not a ridge regression); the step is inexact
        but still lowers the lifted objective. ``None``: solve every block to its
        certificate.
    loss : {"cross_entropy", "squared"}, default="cross_entropy"
        ``"cross_entropy"``: simplex output layer (paper eqs. 11, 15). ``"squared"``: fits
        one-hot targets with a linear (``Identity``) output layer; ``predict_proba`` then
        projects the output onto the simplex.
    early_stopping : bool, default=False
        Hold out ``validation_fraction`` of the samples (stratified) and stop when the
        validation accuracy has not improved for ``n_iter_no_change`` sweeps; the best
        weights are restored.
    validation_fraction : float, default=0.1
        Fraction of the samples held out for early stopping.
    n_iter_no_change : int, default=3
        Sweeps without improvement before early stopping.
    random_state : int, RandomState instance or None, default=None
        Seeds the weight initialisation and the validation split.
    verbose : bool, default=False
        Print the objective and scores after every sweep.
    device : None, str or torch.device, default=None
        Where training runs: ``None`` keeps the input's place (numpy arrays: numpy; a torch
        tensor: torch on that tensor's device); ``"cpu"``, ``"cuda"``, ``"cuda:N"`` or a
        ``torch.device``: torch on that device (``ValidationError`` when torch is not installed
        or the device is not available). Needs ``solver="fast"`` for a device; ``network_``
        then holds tensors on it, ``coefs_``/``intercepts_`` stay numpy, and predictions for
        a torch input come back as tensors on the input's device.

    Attributes
    ----------
    classes_ : ndarray of shape (n_classes,)
        Class labels.
    network_ : LiftedNetwork
        The fitted network (columns are samples there).
    coefs_ : list of ndarray
        ``coefs_[l]`` has shape ``(n_in, n_out)`` (``network_.weights_[l].T``).
    intercepts_ : list of ndarray
        ``intercepts_[l]`` has shape ``(n_out,)``.
    n_iter_ : int
        Sweeps run.
    n_layers_ : int
        Number of layers, input and output included.
    out_activation_ : str
        Registry name of the output atom (``"simplex"``).
    loss_curve_ : list of float
        Lifted objective after each sweep (non-increasing).
    best_loss_ : float or None
        Minimum of ``loss_curve_`` (None with early stopping, as scikit-learn).
    train_scores_ : list of float
        Accuracy on the training samples (without the validation part) after each sweep.
    validation_scores_ : list of float or None
        Validation accuracy after each sweep (early stopping only).
    best_validation_score_ : float or None
        Best validation accuracy (early stopping only).
    n_features_in_ : int
        Number of features seen during fit.
    feature_names_in_ : ndarray of shape (n_features_in_,)
        Feature names, when ``X`` has string column names.

    Examples
    --------
    >>> from sklearn.datasets import load_iris
    >>> from cvxlift import LiftedMLPClassifier
    >>> X, y = load_iris(return_X_y=True)
    >>> clf = LiftedMLPClassifier(hidden_layer_sizes=(16,), random_state=0).fit(X, y)
    >>> clf.predict_proba(X[:2]).shape
    (2, 3)
    """

    _default_loss = "cross_entropy"
    _losses = ("cross_entropy", "squared")

    def __init__(
        self,
        hidden_layer_sizes=(100,),
        activation="relu",
        *,
        lam=1.0,
        rho=1e-3,
        max_iter=300,
        tol=1e-4,
        solver="fast",
        prediction="forward",
        form="fenchel_hidden",
        inner_max_iter=20,
        loss="cross_entropy",
        early_stopping=False,
        validation_fraction=0.1,
        n_iter_no_change=3,
        random_state=None,
        verbose=False,
        device=None,
    ):
        super().__init__(
            hidden_layer_sizes=hidden_layer_sizes,
            activation=activation,
            lam=lam,
            rho=rho,
            max_iter=max_iter,
            tol=tol,
            solver=solver,
            prediction=prediction,
            form=form,
            inner_max_iter=inner_max_iter,
            loss=loss,
            early_stopping=early_stopping,
            validation_fraction=validation_fraction,
            n_iter_no_change=n_iter_no_change,
            random_state=random_state,
            verbose=verbose,
            device=device,
        )

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.classifier_tags.multi_class = True
        tags.classifier_tags.multi_label = False
        tags.target_tags.multi_output = False
        tags.target_tags.single_output = True
        return tags

    def _validate_fit_data(self, X, y):
        return _validated(validate_data, self, X, y, dtype=_DTYPES, accept_sparse=_SPARSE)

    def _encode_targets(self, y):
        arr = np.asarray(y)
        if arr.dtype.kind == "O":
            kinds = {"text" if isinstance(v, (str, bytes)) else "number" for v in arr.ravel()}
            if len(kinds) > 1:
                raise ValidationError("y: class labels must be all numbers or all strings; got a mix of both")
        try:
            check_classification_targets(y)
        except ValueError as exc:
            raise ValidationError(f"y: {exc}") from None
        classes, y_idx = np.unique(y, return_inverse=True)
        if classes.size < 2:
            raise ValidationError(
                f"y: {type(self).__name__} needs samples of at least 2 classes; got 1 class "
                f"({classes[0]!r}) in {y.shape[0]} samples"
            )
        self.classes_ = classes
        Y = np.zeros((y.shape[0], classes.size))
        Y[np.arange(y.shape[0]), y_idx] = 1.0
        return Y, y_idx

    def _score_output(self, net, out, y_idx):
        return accuracy_score(y_idx, np.argmax(_probabilities(net, out), axis=1))

    def _split(self, m, y_idx, seed):
        """Stratified split; every class needs a sample on each side (named by its label)."""
        k = self.classes_.size
        n_val = int(np.ceil(self.validation_fraction * m))
        if n_val < max(2, k) or m - n_val < k:
            raise ValidationError(
                f"validation_fraction={self.validation_fraction} of {m} samples gives {n_val} validation and "
                f"{m - n_val} training samples; early stopping stratifies by class and needs at least "
                f"{max(2, k)} validation and {k} training samples for {k} classes (raise validation_fraction, "
                f"add samples, or set early_stopping=False)"
            )
        counts = np.bincount(y_idx, minlength=k)
        few = [
            self.classes_[i].item() if hasattr(self.classes_[i], "item") else self.classes_[i]
            for i in np.flatnonzero(counts < 2)
        ]
        if few:
            raise ValidationError(
                f"early stopping stratifies by class and needs at least 2 samples of each class; class(es) "
                f"{few!r} of y have only 1 (set early_stopping=False or add samples)"
            )
        return train_test_split(np.arange(m), test_size=n_val, random_state=seed, stratify=y_idx)

    def predict_proba(self, X):
        r"""Class probabilities, shape ``(n_samples, n_classes)``.

        With the cross-entropy loss the output atom is the projection onto the simplex,
        :math:`\Pi_\Delta(W_L x_L + b_L)` (a "sparsemax": exact zeros are common), so the
        output is already a probability vector; tiny negatives from round-off are clipped
        and each row renormalised to sum to 1. With ``loss="squared"`` the (linear) output
        is projected onto the simplex.

        Parameters
        ----------
        X : array-like or sparse matrix of shape (n_samples, n_features)
            Inputs, one row per sample, with the features seen in ``fit``.

        Returns
        -------
        ndarray of shape (n_samples, n_classes)
            Rows on the probability simplex, columns in the order of ``classes_`` (a torch tensor
            on the input's device for a tensor input).
        """
        out = self._output(X)  # checks that the estimator is fitted
        if _dask_input(out):
            from .distributed.estimators import probabilities_rows

            return probabilities_rows(self.network_, out, _probabilities)
        proba = _probabilities(self.network_, out)
        return ax.asarray(proba, like=X) if ax.is_torch(X) else proba

    def predict(self, X):
        """Predicted class labels: the class of largest probability (ties: first class).

        Parameters
        ----------
        X : array-like, sparse matrix or torch tensor of shape (n_samples, n_features)
            Inputs, one row per sample, with the features seen in ``fit``.

        Returns
        -------
        ndarray of shape (n_samples,)
            Labels from ``classes_`` (numpy also for a tensor input: the classes may be strings).
        """
        proba = self.predict_proba(X)
        if _dask_input(proba):
            from .distributed.estimators import labels_rows

            return labels_rows(self.classes_, proba)
        proba = ax.to_numpy(proba)
        return self.classes_[np.argmax(proba, axis=1)]


# ---------------------------------------------------------------------------- regressor
class LiftedMLPRegressor(RegressorMixin, _BaseLiftedMLP):
    r"""Multi-layer perceptron regressor trained as a lifted network.

    Hidden layers use the divergence of ``activation``; the output layer is linear
    (``Identity``) and the loss is squared, so the lifted problem is

    .. math::
        \min\ \|Y - X_{L+1}\|_F^2 + \rho \sum_l \|W_l\|_F^2
        + \lambda \sum_{l=0}^{L} D_l(W_l X_l + b_l \mathbf 1^T, X_{l+1}),

    solved by block-coordinate descent. ``y`` may be 1-D (predictions are 1-D) or 2-D
    (multi-output; predictions are 2-D). Features and targets are used in internal units
    (each divided by its largest magnitude, folded back into the first and last layers after
    training), so a change of units of ``X`` or ``y`` leaves the fit unchanged.

    Parameters
    ----------
    hidden_layer_sizes : int or tuple of int, default=(100,)
        Sizes of the hidden layers (``()`` for none: a linear model).
    activation : str, Divergence or Divergence subclass, default="relu"
        Atom of every hidden layer (a registered name or an instance).
    lam : float or sequence of float, default=1.0
        Penalty weight :math:`\lambda > 0` of the divergences.
    rho : float or sequence of float, default=1e-3
        Weight regularisation per training sample, >= 0: the network gets
        :math:`\rho\, m \|W_l\|_F^2` for :math:`m` training samples (the loss and the
        divergences are sums over samples, so the balance does not depend on :math:`m`).
        Not the same number as scikit-learn's ``alpha``: its MLP minimises the *mean* loss plus
        :math:`\tfrac{\alpha}{2m}\|W\|^2`, i.e. the summed loss plus
        :math:`\tfrac{\alpha}{2}\|W\|^2`, so ``rho = alpha / (2 m)`` is the same penalty
        (a given number is :math:`2m` times stronger here). ``1e-3`` at :math:`m = 8000` is a
        network :math:`\rho = 8`, near the best of {1e-3, 10, 100} measured on MNIST
        (``docs/benchmarks.md``).
    max_iter : int, default=300
        Maximum number of block-coordinate-descent sweeps.
    tol : float, default=1e-4
        Relative objective decrease below which training stops; minimum validation gain.
    solver : {"fast", "cvxpy"}, default="fast"
        Block solvers.
    prediction : {"forward", "lifted"}, default="forward"
        Prediction rule (eq. 2 or eq. 12).
    form : None, str or sequence, default="fenchel_hidden"
        Divergence form per layer (see :class:`LiftedMLPClassifier`).
    inner_max_iter : int or None, default=20
        Iterations of an iterative fast W-step per sweep (see :class:`LiftedMLPClassifier`).
    loss : {"squared"}, default="squared"
        The only loss of the regressor (linear output layer).
    early_stopping : bool, default=False
        Hold out ``validation_fraction`` of the samples (not stratified) and stop when the
        validation :math:`R^2` has not improved for ``n_iter_no_change`` sweeps; the best
        weights are restored.
    validation_fraction : float, default=0.1
        Fraction of the samples held out for early stopping.
    n_iter_no_change : int, default=3
        Sweeps without improvement before early stopping.
    random_state : int, RandomState instance or None, default=None
        Seeds the weight initialisation and the validation split.
    verbose : bool, default=False
        Print the objective and scores after every sweep.
    device : None, str or torch.device, default=None
        Where training runs: ``None`` keeps the input's place (numpy arrays: numpy; a torch
        tensor: torch on that tensor's device); ``"cpu"``, ``"cuda"``, ``"cuda:N"`` or a
        ``torch.device``: torch on that device (``ValidationError`` when torch is not installed
        or the device is not available). Needs ``solver="fast"`` for a device; ``network_``
        then holds tensors on it, ``coefs_``/``intercepts_`` stay numpy, and predictions for
        a torch input come back as tensors on the input's device.

    Attributes
    ----------
    n_outputs_ : int
        Number of targets.
    network_ : LiftedNetwork
        The fitted network (columns are samples there).
    coefs_ : list of ndarray
        ``coefs_[l]`` has shape ``(n_in, n_out)`` (``network_.weights_[l].T``).
    intercepts_ : list of ndarray
        ``intercepts_[l]`` has shape ``(n_out,)``.
    n_iter_ : int
        Sweeps run.
    n_layers_ : int
        Number of layers, input and output included.
    out_activation_ : str
        Registry name of the output atom (``"identity"``).
    loss_curve_ : list of float
        Lifted objective after each sweep (non-increasing).
    best_loss_ : float or None
        Minimum of ``loss_curve_`` (None with early stopping).
    train_scores_ : list of float
        :math:`R^2` on the training samples after each sweep.
    validation_scores_ : list of float or None
        Validation :math:`R^2` after each sweep (early stopping only).
    best_validation_score_ : float or None
        Best validation :math:`R^2` (early stopping only).
    n_features_in_ : int
        Number of features seen during fit.
    feature_names_in_ : ndarray of shape (n_features_in_,)
        Feature names, when ``X`` has string column names.

    Examples
    --------
    >>> import numpy as np
    >>> from cvxlift import LiftedMLPRegressor
    >>> X = np.random.default_rng(0).normal(size=(100, 3))
    >>> reg = LiftedMLPRegressor(hidden_layer_sizes=(16,), random_state=0).fit(X, X @ [1.0, -2.0, 0.5])
    >>> reg.predict(X[:2]).shape
    (2,)
    """

    _default_loss = "squared"
    _losses = ("squared",)

    def __init__(
        self,
        hidden_layer_sizes=(100,),
        activation="relu",
        *,
        lam=1.0,
        rho=1e-3,
        max_iter=300,
        tol=1e-4,
        solver="fast",
        prediction="forward",
        form="fenchel_hidden",
        inner_max_iter=20,
        loss="squared",
        early_stopping=False,
        validation_fraction=0.1,
        n_iter_no_change=3,
        random_state=None,
        verbose=False,
        device=None,
    ):
        super().__init__(
            hidden_layer_sizes=hidden_layer_sizes,
            activation=activation,
            lam=lam,
            rho=rho,
            max_iter=max_iter,
            tol=tol,
            solver=solver,
            prediction=prediction,
            form=form,
            inner_max_iter=inner_max_iter,
            loss=loss,
            early_stopping=early_stopping,
            validation_fraction=validation_fraction,
            n_iter_no_change=n_iter_no_change,
            random_state=random_state,
            verbose=verbose,
            device=device,
        )

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.target_tags.multi_output = True
        tags.target_tags.single_output = True
        return tags

    def _validate_fit_data(self, X, y):
        return _validated(
            validate_data, self, X, y, dtype=_DTYPES, accept_sparse=_SPARSE, multi_output=True, y_numeric=True
        )

    def _encode_targets(self, y):
        y = np.asarray(y, dtype=np.float64)
        if y.ndim == 1:
            Y = y[:, None]
        elif y.ndim == 2:
            Y = y
        else:
            raise ValidationError(f"y must be 1-D or 2-D, got shape {y.shape}")
        self.n_outputs_ = Y.shape[1]
        self._y_ndim = y.ndim
        return Y, Y

    def _score_output(self, net, out, Y):
        return r2_score(Y, out)

    def _target_scale(self, Y):
        """Per output, the largest magnitude (see :func:`_max_abs`): a change of units leaves the fit as is."""
        return _max_abs(Y)

    def predict(self, X):
        """Predicted targets, in the units of the ``y`` given to ``fit``.

        Parameters
        ----------
        X : array-like or sparse matrix of shape (n_samples, n_features)
            Inputs, one row per sample, with the features seen in ``fit``.

        Returns
        -------
        ndarray of shape (n_samples,) or (n_samples, n_outputs)
            One-dimensional when fitted on a one-dimensional ``y`` (a torch tensor on the input's
            device for a tensor input).
        """
        out = self._output(X)
        out = out[:, 0].copy() if self._y_ndim == 1 else out
        return ax.asarray(out, like=X) if ax.is_torch(X) else out
