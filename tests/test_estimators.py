"""scikit-learn estimators: cvxlift.estimators (LiftedMLPClassifier, LiftedMLPRegressor)."""

import json
import os
import pickle
import subprocess
import sys
import warnings
from pathlib import Path

import numpy as np
import pytest

pytest.importorskip("sklearn")

from sklearn.base import clone  # noqa: E402
from sklearn.datasets import load_digits  # noqa: E402
from sklearn.exceptions import ConvergenceWarning  # noqa: E402
from sklearn.utils.estimator_checks import parametrize_with_checks  # noqa: E402

import cvxlift  # noqa: E402
from cvxlift import Clipped, LeakyReLU, UnknownAtomError, ValidationError  # noqa: E402
from cvxlift.estimators import LiftedMLPClassifier, LiftedMLPRegressor, UnknownActivationError  # noqa: E402
from cvxlift.training import compiled_blocks

ROOT = Path(__file__).resolve().parents[1]
pytestmark = pytest.mark.filterwarnings("ignore::sklearn.exceptions.ConvergenceWarning")


@pytest.fixture(scope="module")
def digits():
    X, y = load_digits(return_X_y=True)
    X = X / 16.0
    rng = np.random.default_rng(0)
    idx = rng.permutation(y.size)[:600]
    return X[idx[:400]], y[idx[:400]], X[idx[400:]], y[idx[400:]]


@pytest.fixture(scope="module")
def digits_clf(digits):
    Xtr, ytr, _, _ = digits
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        return LiftedMLPClassifier(hidden_layer_sizes=(32,), max_iter=5, random_state=0).fit(Xtr, ytr)


def _blobs(n=60, n_features=3, n_classes=3, seed=0):
    rng = np.random.default_rng(seed)
    centers = rng.normal(scale=4.0, size=(n_classes, n_features))
    y = np.arange(n) % n_classes
    X = centers[y] + rng.normal(size=(n, n_features))
    return X, y


# ---------------------------------------------------------------------------- learning
def test_digits_accuracy_fast_solver(digits, digits_clf):
    _, _, Xte, yte = digits
    assert digits_clf.score(Xte, yte) > 0.8
    assert digits_clf.network_.fit_seconds_ < 30


def test_rows_vs_columns_and_fitted_attributes(digits, digits_clf):
    clf, (Xtr, ytr, Xte, _) = digits_clf, digits
    net = clf.network_
    assert net.sizes == [64, 32, 10]
    assert [c.shape for c in clf.coefs_] == [(64, 32), (32, 10)]
    assert [b.shape for b in clf.intercepts_] == [(32,), (10,)]
    for c, W in zip(clf.coefs_, net.weights_):
        np.testing.assert_array_equal(c, W.T)
    assert clf.n_features_in_ == 64 and clf.n_layers_ == 3 and clf.out_activation_ == "simplex"
    np.testing.assert_array_equal(clf.classes_, np.arange(10))
    # predictions computed by hand, rows as samples
    H = np.maximum(Xte @ clf.coefs_[0] + clf.intercepts_[0], 0.0)
    out = H @ clf.coefs_[1] + clf.intercepts_[1]
    P = cvxlift.numeric.project_simplex(out, axis=1)
    np.testing.assert_allclose(clf.predict_proba(Xte), P, atol=1e-12)
    # loss_curve_: the lifted objective at the end of each sweep, taken from history_
    assert len(clf.loss_curve_) == clf.n_iter_ == 5
    assert clf.loss_curve_[-1] == net.history_[-1]
    assert all(v in net.history_ for v in clf.loss_curve_)
    assert np.all(np.diff(clf.loss_curve_) <= 1e-12 * abs(clf.loss_curve_[0]))
    assert clf.best_loss_ == min(clf.loss_curve_)
    assert len(clf.train_scores_) == 5 and clf.train_scores_[-1] == pytest.approx(clf.score(Xtr, ytr))
    assert clf.validation_scores_ is None and clf.best_validation_score_ is None


def test_predict_proba_is_a_distribution(digits, digits_clf):
    _, _, Xte, _ = digits
    P = digits_clf.predict_proba(Xte)
    assert P.shape == (Xte.shape[0], 10)
    assert np.all(P >= 0)
    np.testing.assert_allclose(P.sum(axis=1), 1.0, atol=1e-12)
    np.testing.assert_array_equal(digits_clf.predict(Xte), digits_clf.classes_[P.argmax(axis=1)])


@pytest.mark.parametrize("labels", [["cat", "dog"], [-1, 1], [True, False]])
def test_binary_and_arbitrary_labels(labels):
    X, y = _blobs(n=40, n_classes=2)
    y_named = np.asarray(labels)[y]
    clf = LiftedMLPClassifier(
        hidden_layer_sizes=(4,),
        max_iter=3,
        form=None,  # joint: fastest on blobs
        random_state=0,
    ).fit(X, y_named)
    assert clf.network_.sizes[-1] == 2  # two output units for two classes
    assert set(clf.classes_) == set(labels)
    pred = clf.predict(X)
    assert pred.dtype == clf.classes_.dtype
    assert clf.score(X, y_named) > 0.9
    assert clf.predict_proba(X).shape == (40, 2)


def test_squared_loss_classifier_projects_onto_simplex():
    X, y = _blobs()
    clf = LiftedMLPClassifier(hidden_layer_sizes=(6,), loss="squared", max_iter=3, form=None, random_state=0).fit(X, y)
    assert clf.out_activation_ == "identity"
    P = clf.predict_proba(X)
    assert np.all(P >= 0)
    np.testing.assert_allclose(P.sum(axis=1), 1.0)
    assert clf.score(X, y) > 0.9


def test_lifted_prediction_rule():
    X, y = _blobs()
    # 20 sweeps: the paper's joint form learns these blobs more slowly in internal units (features / max|x|)
    clf = LiftedMLPClassifier(
        hidden_layer_sizes=(6,), prediction="lifted", max_iter=20, form=None, rho=1e-5, random_state=0
    ).fit(X, y)
    P = clf.predict_proba(X)
    np.testing.assert_allclose(P.sum(axis=1), 1.0)
    assert clf.score(X, y) > 0.9


def test_regressor_1d_and_2d_targets():
    rng = np.random.default_rng(0)
    X = rng.normal(size=(120, 3))
    y = np.tanh(X @ np.array([1.0, -2.0, 0.5])) + 0.5 * X[:, 0]
    reg = LiftedMLPRegressor(hidden_layer_sizes=(16,), max_iter=10, random_state=0).fit(X, y)
    assert reg.predict(X).shape == (120,)
    assert reg.n_outputs_ == 1 and reg.out_activation_ == "identity"
    assert reg.score(X, y) > 0.8
    assert [c.shape for c in reg.coefs_] == [(3, 16), (16, 1)]
    Y2 = np.column_stack([y, -y])
    reg2 = LiftedMLPRegressor(hidden_layer_sizes=(16,), max_iter=10, random_state=0).fit(X, Y2)
    assert reg2.predict(X).shape == (120, 2) and reg2.n_outputs_ == 2
    assert reg2.score(X, Y2) > 0.8
    reg3 = LiftedMLPRegressor(hidden_layer_sizes=(4,), max_iter=2, random_state=0).fit(X, y[:, None])
    assert reg3.predict(X).shape == (120, 1)


def test_same_random_state_same_model_and_clone_with_divergence_param():
    X, y = _blobs()
    est = LiftedMLPClassifier(hidden_layer_sizes=(5,), activation=LeakyReLU(0.1), max_iter=2, random_state=3)
    params = est.get_params()
    assert not any("__" in k for k in params)  # the atom is a parameter, not a sub-estimator
    twin = clone(est)
    assert twin.activation == est.activation and twin.activation is not est.activation
    a, b = est.fit(X, y), twin.fit(X, y)
    for ca, cb in zip(a.coefs_, b.coefs_):
        np.testing.assert_array_equal(ca, cb)
    assert isinstance(a.network_.activations_[0], LeakyReLU)
    est.set_params(activation="relu", hidden_layer_sizes=3)
    assert est.fit(X, y).coefs_[0].shape == (3, 3)


def test_convergence_warning_and_verbose(capsys):
    X, y = _blobs()
    with pytest.warns(ConvergenceWarning, match="max_iter=1"):
        LiftedMLPClassifier(hidden_layer_sizes=(4,), max_iter=1, random_state=0, verbose=True).fit(X, y)
    assert "sweep 1" in capsys.readouterr().out


# ---------------------------------------------------------------------------- early stopping
def test_early_stopping_records_scores_and_restores_best(digits):
    Xtr, ytr, _, _ = digits
    kw = dict(
        hidden_layer_sizes=(16,),
        early_stopping=True,
        validation_fraction=0.3,
        n_iter_no_change=2,
        tol=0.0,
        random_state=0,
    )
    clf = LiftedMLPClassifier(max_iter=40, **kw).fit(Xtr, ytr)
    scores = clf.validation_scores_
    assert len(scores) == len(clf.train_scores_) == len(clf.loss_curve_) == clf.n_iter_
    assert clf.n_iter_ < 40  # stopped by the validation score
    assert clf.best_validation_score_ == max(scores)
    best = int(np.argmax(scores))  # first best sweep
    assert best < clf.n_iter_ - 1 and all(s <= scores[best] for s in scores[best + 1 :])
    assert clf.best_loss_ is None
    # the restored weights are those after sweep best + 1: a run stopped there has them
    ref = LiftedMLPClassifier(max_iter=best + 1, **kw).fit(Xtr, ytr)
    for c, r in zip(clf.coefs_, ref.coefs_):
        np.testing.assert_array_equal(c, r)
    for W, c in zip(clf.network_.weights_, clf.coefs_):
        np.testing.assert_array_equal(W.T, c)


def test_early_stopping_split_is_stratified_and_seeded():
    X, y = _blobs(n=60)
    kw = dict(hidden_layer_sizes=(4,), early_stopping=True, validation_fraction=0.25, max_iter=3, random_state=7)
    a = LiftedMLPClassifier(**kw).fit(X, y)
    b = LiftedMLPClassifier(**kw).fit(X, y)
    assert a.validation_scores_ == b.validation_scores_
    assert a.network_.states_[0].shape[1] == 45  # 60 - 15 held out
    reg = LiftedMLPRegressor(**kw).fit(X, X @ np.ones(3))
    assert len(reg.validation_scores_) == reg.n_iter_ and reg.best_validation_score_ == max(reg.validation_scores_)


# ---------------------------------------------------------------------------- bad input
def test_bad_input_errors():
    X, y = _blobs()
    clf = LiftedMLPClassifier(hidden_layer_sizes=(4,), max_iter=1)
    Xn = X.copy()
    Xn[3, 1] = np.nan
    with pytest.raises(ValueError, match="NaN"):
        clf.fit(Xn, y)
    with pytest.raises(ValueError, match="inconsistent numbers of samples"):
        clf.fit(X, y[:-1])
    with pytest.raises(ValueError, match="2D array"):
        clf.fit(X[:, 0], y)
    with pytest.raises(ValueError, match="1 class"):
        clf.fit(X, np.zeros(len(y)))
    with pytest.raises(ValueError, match="Unknown label type"):
        clf.fit(X, np.linspace(0, 1, len(y)))
    clf.fit(X, y)
    with pytest.raises(ValueError, match="X has 2 features, but LiftedMLPClassifier is expecting 3"):
        clf.predict(X[:, :2])
    with pytest.raises(ValueError, match="NaN"):
        clf.predict(Xn)


def test_unfitted_errors():
    from sklearn.exceptions import NotFittedError

    X, _ = _blobs()
    for est in (LiftedMLPClassifier(), LiftedMLPRegressor()):
        with pytest.raises(NotFittedError):
            est.predict(X)
        with pytest.raises(NotFittedError):
            est.to_torch()
    with pytest.raises(NotFittedError):
        LiftedMLPClassifier().predict_proba(X)


@pytest.mark.parametrize(
    "params, match",
    [
        ({"lam": 0.0}, "lam"),
        ({"lam": -1.0}, "lam"),
        ({"rho": [1.0, 2.0, 3.0]}, "rho"),
        ({"hidden_layer_sizes": (4, 0)}, r"hidden_layer_sizes\[1\]"),
        ({"hidden_layer_sizes": "4"}, "hidden_layer_sizes"),
        ({"max_iter": 0}, "max_iter"),
        ({"max_iter": 2.5}, "max_iter"),
        ({"tol": -1.0}, "tol"),
        ({"solver": "adam"}, "solver"),
        ({"prediction": "argmax"}, "prediction"),
        ({"loss": "hinge"}, "loss"),
        ({"validation_fraction": 1.0}, "validation_fraction"),
        ({"n_iter_no_change": 0}, "n_iter_no_change"),
        ({"early_stopping": "yes"}, "early_stopping"),
        ({"activation": ["relu", "relu"]}, "activation"),
        ({"activation": 3}, "activation"),
        ({"form": "convex"}, "form"),
        ({"activation": "sigmoid", "form": "joint"}, "joint"),
    ],
)
def test_bad_parameters_raise_at_fit(params, match):
    X, y = _blobs()
    est = LiftedMLPClassifier(**{"hidden_layer_sizes": (4,), "max_iter": 1, **params})  # __init__ never validates
    with pytest.raises(ValueError, match=match):
        est.fit(X, y)


def test_unknown_activation():
    X, y = _blobs()
    for est in (LiftedMLPClassifier(activation="swish"), LiftedMLPRegressor(activation="swish")):
        with pytest.raises(UnknownActivationError, match="activation.*swish.*known") as info:
            est.fit(X, y)
        assert isinstance(info.value, ValueError) and isinstance(info.value, UnknownAtomError)
        assert isinstance(info.value, ValidationError)


def test_regressor_rejects_cross_entropy():
    X, y = _blobs()
    with pytest.raises(ValueError, match="loss"):
        LiftedMLPRegressor(loss="cross_entropy").fit(X, y)


# ---------------------------------------------------------------------------- pickling, persistence
def test_pickle_round_trip_with_cvxpy_blocks():
    X, y = _blobs(n=24)
    clf = LiftedMLPClassifier(hidden_layer_sizes=(3,), solver="cvxpy", max_iter=1, random_state=0)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        clf.fit(X, y)
    assert compiled_blocks(clf.network_)  # compiled CVXPY problems (not picklable) are cached
    back = pickle.loads(pickle.dumps(clf))
    np.testing.assert_array_equal(back.predict_proba(X), clf.predict_proba(X))
    assert compiled_blocks(clf.network_)  # the fitted estimator keeps its cache


def _round_trip_state(est):
    from cvxlift.persistence import estimator_from_state, estimator_to_state

    meta, arrays = estimator_to_state(est)
    text = json.dumps(meta)  # JSON-able
    back = estimator_from_state(type(est), json.loads(text), {k: np.array(v) for k, v in arrays.items()})
    return meta, back


@pytest.mark.parametrize(
    "labels",
    [np.array(["a", "bb", "c"]), np.array([3, 10, 20]), np.array(["a", "bb", "c"], dtype=object), np.array([-3, 0, 7])],
)
def test_state_hooks_classifier(labels):
    pytest.importorskip("cvxlift.persistence")
    X, y = _blobs()
    clf = LiftedMLPClassifier(
        hidden_layer_sizes=(4,),
        activation=Clipped(0.0, 1.0),
        max_iter=2,
        early_stopping=True,
        validation_fraction=0.2,
        random_state=0,
    ).fit(X, labels[y])
    meta, back = _round_trip_state(clf)
    assert meta["params"]["activation"] == {"name": "clipped", "params": {"lower": 0.0, "upper": 1.0}}
    assert meta["attributes"]["classes_"]["kind"] == labels.dtype.kind
    assert back.get_params() == clf.get_params()
    np.testing.assert_array_equal(back.classes_, clf.classes_)
    assert back.classes_.dtype == clf.classes_.dtype
    np.testing.assert_array_equal(back.predict(X), clf.predict(X))
    np.testing.assert_array_equal(back.predict_proba(X), clf.predict_proba(X))
    for name in (
        "n_iter_",
        "loss_curve_",
        "train_scores_",
        "validation_scores_",
        "best_validation_score_",
        "best_loss_",
        "n_features_in_",
    ):
        assert getattr(back, name) == getattr(clf, name), name
    for a, b in zip(back.coefs_, clf.coefs_):
        np.testing.assert_array_equal(a, b)


def test_state_hooks_regressor_and_unfitted():
    pytest.importorskip("cvxlift.persistence")
    rng = np.random.default_rng(0)
    X = rng.normal(size=(40, 3))
    for y in (X @ np.ones(3), np.column_stack([X[:, 0], X[:, 1] ** 2])):
        reg = LiftedMLPRegressor(hidden_layer_sizes=[5], activation=LeakyReLU, max_iter=2, random_state=1).fit(X, y)
        meta, back = _round_trip_state(reg)
        assert meta["params"]["hidden_layer_sizes"] == [5]
        assert back.get_params() == reg.get_params()  # [5] stays a list, LeakyReLU stays the class
        assert back.predict(X).shape == reg.predict(X).shape
        np.testing.assert_array_equal(back.predict(X), reg.predict(X))
        assert back.n_outputs_ == reg.n_outputs_
    meta, back = _round_trip_state(LiftedMLPRegressor(hidden_layer_sizes=(7, 2), lam=[1.0, 2.0, 3.0]))
    assert meta["fitted"] is False and not hasattr(back, "network_")
    assert back.hidden_layer_sizes == (7, 2) and back.lam == [1.0, 2.0, 3.0]
    with pytest.raises(ValueError, match="LiftedMLPClassifier"):
        __import__("cvxlift.persistence").persistence.estimator_from_state(LiftedMLPClassifier, meta, {})


def test_save_load_round_trip(tmp_path):
    persistence = pytest.importorskip("cvxlift.persistence")
    kinds = getattr(persistence, "MODEL_KINDS", {})
    if "cvxlift.estimators.LiftedMLPClassifier" not in kinds:
        pytest.skip("cvxlift.persistence.MODEL_KINDS does not list the estimator classes yet")
    X, y = _blobs()
    clf = LiftedMLPClassifier(hidden_layer_sizes=(4,), max_iter=2, random_state=0).fit(X, np.array(["x", "y", "z"])[y])
    path = persistence.save(clf, tmp_path / "clf")
    back = persistence.load(path)
    assert type(back) is LiftedMLPClassifier
    np.testing.assert_array_equal(back.predict(X), clf.predict(X))
    reg = LiftedMLPRegressor(hidden_layer_sizes=(4,), max_iter=2, random_state=0).fit(X, X[:, 0])
    back = persistence.load(persistence.save(reg, tmp_path / "reg"))
    np.testing.assert_array_equal(back.predict(X), reg.predict(X))


# ---------------------------------------------------------------------------- lazy import
def test_lazy_export_and_missing_sklearn():
    assert cvxlift.LiftedMLPClassifier is LiftedMLPClassifier
    assert cvxlift.LiftedMLPRegressor is LiftedMLPRegressor
    assert "LiftedMLPClassifier" in dir(cvxlift)
    with pytest.raises(AttributeError):
        cvxlift.NoSuchThing  # noqa: B018
    code = (
        "import sys; sys.modules['sklearn'] = None\n"
        "import cvxlift\n"
        "try:\n"
        "    cvxlift.LiftedMLPClassifier\n"
        "except ImportError as e:\n"
        "    assert 'pip install cvxlift[sklearn]' in str(e), str(e)\n"
        "else:\n"
        "    raise SystemExit('no ImportError')\n"
        "print('ok')\n"
    )
    env = dict(os.environ, PYTHONPATH=os.pathsep.join(p for p in (str(ROOT), os.environ.get("PYTHONPATH")) if p))
    proc = subprocess.run(
        [sys.executable, "-c", code], cwd=str(ROOT), env=env, capture_output=True, text=True, timeout=300
    )
    assert proc.returncode == 0 and "ok" in proc.stdout, proc.stdout + proc.stderr


# ---------------------------------------------------------------------------- sklearn's own checks
#: Checks that fail by design, with the reason (also listed in docs/estimators.md).
EXPECTED_FAILED_CHECKS = {}


def _expected_failed_checks(estimator):
    return EXPECTED_FAILED_CHECKS


@parametrize_with_checks(
    [
        LiftedMLPClassifier(hidden_layer_sizes=(8,), max_iter=3),
        LiftedMLPRegressor(hidden_layer_sizes=(8,), max_iter=3),
        LiftedMLPClassifier(
            hidden_layer_sizes=(6,),
            activation=Clipped(0.0, 1.0),
            max_iter=3,
            early_stopping=True,
            validation_fraction=0.2,
        ),
    ],
    expected_failed_checks=_expected_failed_checks,
)
def test_sklearn_compatible_estimator(estimator, check):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        check(estimator)
