"""What scikit-learn users rely on (issue: reliability, families 3, 4 and 6): units, sparse and
float32 input, rho = 0, early-stopping splits, labels, random_state, defaults on small data."""

import warnings

import numpy as np
import pytest

sklearn = pytest.importorskip("sklearn")
from sklearn.exceptions import ConvergenceWarning  # noqa: E402

import cvxlift  # noqa: E402
from cvxlift import LiftedNetwork, ValidationError  # noqa: E402

RNG = np.random.default_rng(0)
X = RNG.normal(size=(60, 4))
y = X[:, 0] > 0


def C(**kw):
    kw = {"max_iter": 3, "random_state": 0, **kw}
    return cvxlift.LiftedMLPClassifier(hidden_layer_sizes=(5,), **kw)


def R(**kw):
    kw = {"max_iter": 3, "random_state": 0, **kw}
    return cvxlift.LiftedMLPRegressor(hidden_layer_sizes=(5,), **kw)


def _quiet(fn):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        return fn()


# ---------------------------------------------------------------------------- units (family 1 at the estimators)
@pytest.mark.parametrize("scale", [1e-300, 1e-20, 1e-3, 7.0, 1e9, 1e20, 1e200, 1e300])
def test_classifier_is_insensitive_to_the_units_of_x(scale):
    ref = _quiet(lambda: C().fit(X, y))
    est = _quiet(lambda: C().fit(X * scale, y))
    np.testing.assert_allclose(est.predict_proba(X * scale), ref.predict_proba(X), atol=1e-12)
    np.testing.assert_allclose(est.loss_curve_, ref.loss_curve_, rtol=1e-12)
    assert np.all(np.isfinite(np.concatenate([c.ravel() for c in est.coefs_])))


@pytest.mark.parametrize("xs,ys", [(1.0, 1e9), (1e20, 1.0), (1e-5, 1e7), (1e250, 1e-250)])
def test_regressor_is_insensitive_to_the_units_of_x_and_y(xs, ys):
    target = np.c_[X[:, 0] - X[:, 1], 3 * X[:, 2]]
    ref = _quiet(lambda: R().fit(X, target))
    est = _quiet(lambda: R().fit(X * xs, target * ys))
    np.testing.assert_allclose(est.predict(X * xs) / ys, ref.predict(X), rtol=1e-10, atol=1e-12)
    # per-feature units too (each column its own unit)
    cols = np.array([1e-3, 1.0, 1e4, 1e8])
    est2 = _quiet(lambda: R().fit(X * cols, target))
    np.testing.assert_allclose(est2.predict(X * cols), ref.predict(X), rtol=1e-10, atol=1e-12)


# ---------------------------------------------------------------------------- input types
def test_sparse_input_gives_the_dense_fit():
    sp = pytest.importorskip("scipy.sparse")
    ref = _quiet(lambda: C().fit(X, y))
    for make in (sp.csr_matrix, sp.csr_array, sp.csc_matrix):
        est = _quiet(lambda: C().fit(make(X), y))
        np.testing.assert_array_equal(est.predict_proba(make(X)), ref.predict_proba(X))


def test_float32_input_keeps_float32_coefs():
    est = _quiet(lambda: C().fit(X.astype(np.float32), y))
    assert all(c.dtype == np.float32 for c in est.coefs_ + est.intercepts_)
    assert all(w.dtype == np.float64 for w in est.network_.weights_)  # the solvers work in float64


@pytest.mark.parametrize("bad", [X.astype(str), X.astype(str).astype(object)])
def test_text_input_is_refused_not_parsed(bad):
    with pytest.raises(ValidationError, match="X must be numeric"):
        C().fit(bad, y)
    est = _quiet(lambda: C().fit(X, y))
    with pytest.raises(ValidationError, match="X must be numeric"):
        est.predict(bad)


# ---------------------------------------------------------------------------- parameters
def test_rho_zero_is_allowed_as_alpha_zero():
    est = _quiet(lambda: C(rho=0.0, solver="cvxpy").fit(X, y))
    assert np.all(est.network_.rho_ == 0)
    h = np.asarray(est.network_.history_)
    assert np.all(np.diff(h) <= 1e-12 * np.abs(h[:-1]))


@pytest.mark.parametrize(
    "kw,words",
    [
        (dict(random_state=-1), ("random_state", "[0, 2**32 - 1]")),
        (dict(inner_max_iter="x"), ("inner_max_iter",)),
        (dict(lam=True), ("lam", "boolean")),
        (dict(early_stopping=1), ("early_stopping",)),
        (dict(max_iter=0), ("max_iter", "positive integer")),
        (dict(solver="gpu"), ("solver",)),
    ],
)
def test_bad_parameters_are_named(kw, words):
    with pytest.raises(ValidationError) as info:
        C(**kw).fit(X, y)
    for w in words:
        assert w in str(info.value)


def test_labels_mixing_numbers_and_strings_are_named():
    with pytest.raises(ValidationError, match="y: class labels must be all numbers or all strings"):
        C().fit(X[:4], np.array([1, "a", 2, "b"], dtype=object))


@pytest.mark.parametrize("n,vf", [(2, 0.1), (60, 0.01)])
def test_early_stopping_split_too_small_is_refused(n, vf):
    labels = np.arange(n) % 2
    with pytest.raises(ValidationError, match="validation_fraction"):
        C(early_stopping=True, validation_fraction=vf).fit(X[:n], labels)
    with pytest.raises(ValidationError, match="validation_fraction"):
        R(early_stopping=True, validation_fraction=vf).fit(X[:n], X[:n, 0])


def test_stratification_error_names_the_users_label():
    labels = np.array(["cat"] * 9 + ["dog"])
    with pytest.raises(ValidationError, match=r"\['dog'\]"):
        C(early_stopping=True, validation_fraction=0.3).fit(X[:10], labels)


def test_network_parameters_checked_at_construction():
    with pytest.raises(ValidationError, match="ordered sequence"):
        LiftedNetwork({4, 5, 3})
    with pytest.raises(ValidationError, match="boolean"):
        LiftedNetwork([4, 5, 3], lam=True)
    with pytest.raises(ValidationError, match=r"sizes: .* GiB"):
        LiftedNetwork([4, 10**12, 3])
    with pytest.raises(ValidationError, match="weights must be a list"):
        LiftedNetwork([4, 5, 3]).set_weights(None, None)
    assert LiftedNetwork([4, 5, 3], rho=0.0).rho_.tolist() == [0.0, 0.0]


# ---------------------------------------------------------------------------- defaults
@pytest.mark.parametrize("loader", ["load_iris", "load_wine", "load_breast_cancer"])
def test_defaults_fit_small_data_sets_without_a_convergence_warning(loader):
    Xd, yd = getattr(sklearn.datasets, loader)(return_X_y=True)
    with warnings.catch_warnings():
        warnings.simplefilter("error", ConvergenceWarning)
        est = cvxlift.LiftedMLPClassifier(random_state=0).fit(Xd, yd)
    assert est.n_iter_ < est.max_iter
    assert est.score(Xd, yd) > 0.9
