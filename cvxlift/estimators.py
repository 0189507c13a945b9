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

from .divergences import get_divergence
from .divergences.simplex import Simplex
from .exceptions import UnknownAtomError, ValidationError
from .network import LiftedNetwork
from .numeric import project_simplex
from .validation import check_positive

__all__ = ["LiftedMLPClassifier", "LiftedMLPRegressor", "UnknownActivationError"]

SOLVERS = ("fast", "cvxpy")
PREDICTIONS = ("forward", "lifted")
_SEED_MAX = np.iinfo(np.int32).max



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

class UnknownActivationError(UnknownAtomError, ValidationError):
    """``activation`` names no registered atom.

    Both a :class:`~cvxlift.exceptions.UnknownAtomError` (a ``KeyError``, as the registry
    raises) and a ``ValueError`` (what scikit-learn code expects from a bad parameter).
    """


# ---------------------------------------------------------------------------- helpers
def _check_int(value, name, low):
    if isinstance(value, bool) or not isinstance(value, numbers.Integral) or value < low:
        raise ValidationError(f"{name} must be an integer >= {low}, got {value!r}")
    return int(value)


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

    def __init__(self, hidden_layer_sizes=(100,), activation="relu", *, lam=1.0, rho=1e-3, max_iter=10,
                 tol=1e-4, solver="fast", prediction="forward", form="fenchel_hidden",
                 inner_max_iter=20, loss=None, early_stopping=False,
                 validation_fraction=0.1, n_iter_no_change=3, random_state=None, verbose=False):
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

    def __getstate__(self):
        # The network caches compiled CVXPY blocks (``_blocks``), which hold solver objects
        # that cannot be pickled (OSQP, Clarabel); the cache is rebuilt on demand, so the
        # pickled network is a shallow copy without it.
        state = dict(super().__getstate__())  # may be the live __dict__: copy before editing
        net = state.get("network_")
        if net is not None and getattr(net, "_blocks", None):
            net = copy.copy(net)
            net._blocks = {}
            state["network_"] = net
        return state

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.input_tags.sparse = False
        tags.input_tags.allow_nan = False
        return tags

    # -- parameters -----------------------------------------------------------------
    def _check_params(self):
        """Validate the hyper-parameters (at ``fit``); return the resolved ones."""
        hidden = _check_hidden(self.hidden_layer_sizes)
        atom = _resolve_activation(self.activation)
        n_layers = len(hidden) + 1
        lam = check_positive(self.lam, "lam", n_layers)
        rho = check_positive(self.rho, "rho", n_layers)
        max_iter = _check_int(self.max_iter, "max_iter", 1)
        tol = self.tol
        if isinstance(tol, bool) or not isinstance(tol, numbers.Real) or not (np.isfinite(tol) and tol >= 0):
            raise ValidationError(f"tol must be a finite number >= 0, got {tol!r}")
        if self.solver not in SOLVERS:
            raise ValidationError(f"solver must be one of {SOLVERS}, got {self.solver!r}")
        if self.prediction not in PREDICTIONS:
            raise ValidationError(f"prediction must be one of {PREDICTIONS}, got {self.prediction!r}")
        loss = self._default_loss if self.loss is None else self.loss
        if loss not in self._losses:
            raise ValidationError(f"loss must be one of {self._losses} for {type(self).__name__}, got {loss!r}")
        if not isinstance(self.early_stopping, (bool, np.bool_)):
            raise ValidationError(f"early_stopping must be True or False, got {self.early_stopping!r}")
        vf = self.validation_fraction
        if isinstance(vf, bool) or not isinstance(vf, numbers.Real) or not 0.0 < vf < 1.0:
            raise ValidationError(f"validation_fraction must be a number in (0, 1), got {vf!r}")
        n_no_change = _check_int(self.n_iter_no_change, "n_iter_no_change", 1)
        return {"hidden": hidden, "atom": atom, "lam": lam, "rho": rho, "max_iter": max_iter, "tol": float(tol),
                "loss": loss, "n_iter_no_change": n_no_change}

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

    # -- fitting --------------------------------------------------------------------
    def _network_output(self, net, Xrows):
        """The network output for ``Xrows`` (samples as rows), as rows ``(n_samples, n_out)``."""
        cols = np.ascontiguousarray(Xrows.T)
        if self.prediction == "forward":
            out = net.predict(cols, rule="forward")
        else:
            out = net.predict(cols, rule="lifted", solver=self.solver)
        return np.asarray(out, dtype=np.float64).T

    def _fast_options(self):
        """Caps of the iterative fast block solvers (inexact BCD, still monotone)."""
        if self.solver != "fast" or self.inner_max_iter is None:
            return None
        it = self.inner_max_iter
        if isinstance(it, bool) or not isinstance(it, (int, np.integer)) or it < 1:
            raise ValueError(f"inner_max_iter must be a positive integer or None, got {it!r}")
        return {"w_step": {"max_iter": int(it)}}

    def fit(self, X, y):
        """Fit the lifted network to ``(X, y)`` by block-coordinate descent.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)
            Training inputs, one **row** per sample.
        y : array-like of shape (n_samples,) or (n_samples, n_outputs)
            Class labels (classifier) or real targets (regressor).

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
        """
        p = self._check_params()
        X, y = self._validate_fit_data(X, y)
        Y, y_score = self._encode_targets(y)
        m = X.shape[0]
        rng = check_random_state(self.random_state)
        net_seed = int(rng.randint(_SEED_MAX))
        if self.early_stopping:
            split_seed = int(rng.randint(_SEED_MAX))
            stratify = y_score if isinstance(self, ClassifierMixin) else None
            idx_train, idx_val = train_test_split(np.arange(m), test_size=self.validation_fraction,
                                                  random_state=split_seed, stratify=stratify)
            X_train, Y_train, s_train = X[idx_train], Y[idx_train], y_score[idx_train]
            X_val, s_val = X[idx_val], y_score[idx_val]
        else:
            X_train, Y_train, s_train = X, Y, y_score
            X_val = s_val = None

        sizes = [X.shape[1], *p["hidden"], Y.shape[1]]
        try:
            net = LiftedNetwork(sizes, activations=p["atom"], loss=p["loss"], lam=p["lam"],
                                rho=p["rho"] * X_train.shape[0],
                                form=self.form, random_state=net_seed)
        except UnknownAtomError as exc:  # pragma: no cover - names are resolved above
            raise UnknownActivationError(str(exc)) from None

        record = {"loss": [], "train": [], "val": [], "best": -np.inf, "best_weights": None,
                  "no_change": 0, "stopped_early": False, "prev": None}

        def callback(net_, sweep, obj):
            prev = net_.history_[0] if record["prev"] is None else record["prev"]
            record["prev"] = obj
            record["last_decrease"] = (prev - obj, prev)
            record["loss"].append(float(obj))
            train_score = self._score_output(net_, self._network_output(net_, X_train), s_train)
            record["train"].append(float(train_score))
            msg = f"sweep {sweep + 1}: lifted objective {obj:.6g}, train score {train_score:.4f}"
            stop = False
            if X_val is not None:
                score = float(self._score_output(net_, self._network_output(net_, X_val), s_val))
                record["val"].append(score)
                msg += f", validation score {score:.4f}"
                if score > record["best"] + p["tol"]:
                    record["no_change"] = 0
                else:
                    record["no_change"] += 1
                if score > record["best"]:
                    record["best"] = score
                    record["best_weights"] = ([W.copy() for W in net_.weights_], [b.copy() for b in net_.biases_],
                                              [S.copy() for S in net_.states_])
                if record["no_change"] >= p["n_iter_no_change"]:
                    record["stopped_early"] = stop = True
                    msg += f" (no improvement in {p['n_iter_no_change']} sweeps: stopping)"
            if self.verbose:
                print(msg)
            return stop

        net.fit(np.ascontiguousarray(X_train.T), np.ascontiguousarray(Y_train.T), solver=self.solver,
                max_iter=p["max_iter"], tol=p["tol"], callback=callback,
                fast_options=self._fast_options())
        if record["best_weights"] is not None:  # early stopping: back to the best sweep
            W, b, S = record["best_weights"]
            net.set_weights(W, b)
            net.states_ = S

        self.network_ = net
        self.coefs_ = [np.array(W.T) for W in net.weights_]
        self.intercepts_ = [np.array(b) for b in net.biases_]
        self.n_iter_ = int(net.n_iter_)
        self.n_layers_ = len(sizes)
        self.out_activation_ = net.activations_[-1].name
        self.loss_curve_ = record["loss"]
        self.train_scores_ = record["train"]
        if self.early_stopping:
            self.validation_scores_ = record["val"]
            self.best_validation_score_ = float(record["best"]) if record["val"] else None
            self.best_loss_ = None
        else:
            self.validation_scores_ = None
            self.best_validation_score_ = None
            self.best_loss_ = float(min(record["loss"])) if record["loss"] else None
        if self.n_iter_ == p["max_iter"] and not record["stopped_early"] and "last_decrease" in record:
            dec, prev = record["last_decrease"]
            if dec > p["tol"] * max(1.0, abs(prev)):
                warnings.warn(f"{type(self).__name__}: maximum number of sweeps max_iter={p['max_iter']} "
                              "reached and the lifted objective has not converged (relative decrease "
                              f"{dec / max(1.0, abs(prev)):.3g} > tol={p['tol']:g})", ConvergenceWarning,
                              stacklevel=2)
        return self

    # -- prediction -----------------------------------------------------------------
    def _output(self, X):
        check_is_fitted(self, "network_")
        X = _validated(validate_data, self, X, reset=False, dtype=np.float64)
        return self._network_output(self.network_, X)

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
        Weight regularisation per training sample: the network gets
        :math:`\rho\, m \|W_l\|_F^2` for :math:`m` training samples (the loss and the
        divergences are sums over samples, so this keeps the balance independent of
        :math:`m`, as scikit-learn's ``alpha``). ``1e-3`` at :math:`m = 8000` is a network
        :math:`\rho = 8`, near the best of {1e-3, 10, 100} measured on MNIST
        (``docs/benchmarks.md``).
    max_iter : int, default=10
        Maximum number of block-coordinate-descent sweeps.
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

    def __init__(self, hidden_layer_sizes=(100,), activation="relu", *, lam=1.0, rho=1e-3, max_iter=10,
                 tol=1e-4, solver="fast", prediction="forward", form="fenchel_hidden",
                 inner_max_iter=20, loss="cross_entropy",
                 early_stopping=False, validation_fraction=0.1, n_iter_no_change=3, random_state=None,
                 verbose=False):
        super().__init__(hidden_layer_sizes=hidden_layer_sizes, activation=activation, lam=lam, rho=rho,
                         max_iter=max_iter, tol=tol, solver=solver, prediction=prediction, form=form,
                         inner_max_iter=inner_max_iter, loss=loss,
                         early_stopping=early_stopping, validation_fraction=validation_fraction,
                         n_iter_no_change=n_iter_no_change, random_state=random_state, verbose=verbose)

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.classifier_tags.multi_class = True
        tags.classifier_tags.multi_label = False
        tags.target_tags.multi_output = False
        tags.target_tags.single_output = True
        return tags

    def _validate_fit_data(self, X, y):
        return _validated(validate_data, self, X, y, dtype=np.float64)

    def _encode_targets(self, y):
        check_classification_targets(y)
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

    def predict_proba(self, X):
        r"""Class probabilities, shape ``(n_samples, n_classes)``.

        With the cross-entropy loss the output atom is the projection onto the simplex,
        :math:`\Pi_\Delta(W_L x_L + b_L)` (a "sparsemax": exact zeros are common), so the
        output is already a probability vector; tiny negatives from round-off are clipped
        and each row renormalised to sum to 1. With ``loss="squared"`` the (linear) output
        is projected onto the simplex.
        """
        out = self._output(X)  # checks that the estimator is fitted
        return _probabilities(self.network_, out)

    def predict(self, X):
        """Predicted class labels: the class of largest probability (ties: first class)."""
        proba = self.predict_proba(X)
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
    (multi-output; predictions are 2-D). Targets are not rescaled: standardise ``y``
    (e.g. with :class:`sklearn.compose.TransformedTargetRegressor`) when its scale is far
    from 1, since ``lam`` and ``rho`` are absolute weights.

    Parameters
    ----------
    hidden_layer_sizes : int or tuple of int, default=(100,)
        Sizes of the hidden layers (``()`` for none: a linear model).
    activation : str, Divergence or Divergence subclass, default="relu"
        Atom of every hidden layer (a registered name or an instance).
    lam : float or sequence of float, default=1.0
        Penalty weight :math:`\lambda > 0` of the divergences.
    rho : float or sequence of float, default=1e-3
        Weight regularisation per training sample: the network gets
        :math:`\rho\, m \|W_l\|_F^2` for :math:`m` training samples (the loss and the
        divergences are sums over samples, so this keeps the balance independent of
        :math:`m`, as scikit-learn's ``alpha``). ``1e-3`` at :math:`m = 8000` is a network
        :math:`\rho = 8`, near the best of {1e-3, 10, 100} measured on MNIST
        (``docs/benchmarks.md``).
    max_iter : int, default=10
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

    def __init__(self, hidden_layer_sizes=(100,), activation="relu", *, lam=1.0, rho=1e-3, max_iter=10,
                 tol=1e-4, solver="fast", prediction="forward", form="fenchel_hidden",
                 inner_max_iter=20, loss="squared",
                 early_stopping=False, validation_fraction=0.1, n_iter_no_change=3, random_state=None,
                 verbose=False):
        super().__init__(hidden_layer_sizes=hidden_layer_sizes, activation=activation, lam=lam, rho=rho,
                         max_iter=max_iter, tol=tol, solver=solver, prediction=prediction, form=form,
                         inner_max_iter=inner_max_iter, loss=loss,
                         early_stopping=early_stopping, validation_fraction=validation_fraction,
                         n_iter_no_change=n_iter_no_change, random_state=random_state, verbose=verbose)

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.target_tags.multi_output = True
        tags.target_tags.single_output = True
        return tags

    def _validate_fit_data(self, X, y):
        return _validated(validate_data, self, X, y, dtype=np.float64, multi_output=True, y_numeric=True)

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

    def predict(self, X):
        """Predicted targets: shape ``(n_samples,)`` when fitted on 1-D ``y``, else ``(n_samples, n_outputs)``."""
        out = self._output(X)
        return out[:, 0].copy() if self._y_ndim == 1 else out
