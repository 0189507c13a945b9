"""Scale over the whole float range (issue 12, family 1): every door ends in bounded time.

The magnitudes of ``X``, ``Y``, ``lam`` and ``rho`` are swept from 1e-300 to 1e300 on small
problems, at each door:

* the network (``LiftedNetwork.fit``, ``solver="fast"`` and ``solver="cvxpy"``) trains in the
  user's units: every case either ends with finite weights, states and a non-increasing history,
  or raises a :class:`cvxlift.ValidationError` naming the argument out of range, before any
  work. Which outcome is asserted, not just "one of the two": the accepted ranges are
  ``cvxlift.validation.DATA_MAX``, ``LAM_RANGE`` and ``RHO_MAX`` (docs/bad-input.md, scale);
* the estimators rescale the data (per-feature max-abs for ``X``, per output for ``y``) and fold
  the scales back, so every finite scale trains, with predictions that follow the units;
* the ``cvxlift train`` command goes through the estimators: exit 0 and a finite objective.

Each fit runs under an alarm and its wall time is asserted. The default grid varies one
magnitude at a time (both paths, a ReLU network) and tries a Fenchel-Young sigmoid network at
the largest ``rho / lam``; ``@pytest.mark.slow`` sweeps the corners of the accepted box and a
random hypothesis search over all four magnitudes at once, for both networks.
"""

import contextlib
import io
import time
import warnings

import numpy as np
import pytest
from limits import time_limit

import cvxlift
from cvxlift import LiftedNetwork
from cvxlift.validation import DATA_MAX, LAM_RANGE, RHO_MAX

#: Wall-clock limit of one 2-sweep fit of the small problems below.
LIMIT_S = 20.0
EXPONENTS = (-300, -200, -100, -20, -6, 0, 6, 7, 20, 100, 200, 300)

RNG = np.random.default_rng(12)
X0 = RNG.normal(size=(4, 10))
X0 /= np.max(np.abs(X0))  # max |X0| = 1: the scale factor is the largest magnitude
Y0 = np.tanh(X0[:3] - X0[1:])
Y0 /= np.max(np.abs(Y0))


def _accepted(x, y, lam, rho):
    """The argument the network door must refuse (None: it must train), in the doors' order:
    the constructor checks ``lam`` then ``rho``, ``fit`` checks ``X`` then ``Y``."""
    if not LAM_RANGE[0] <= lam <= LAM_RANGE[1]:
        return "lam"
    if rho > RHO_MAX:
        return "rho"
    if x > DATA_MAX:
        return "X"
    if y > DATA_MAX:
        return "Y"
    return None


#: The networks of the sweeps: jointly convex ReLU (joint X-step, ridge W-steps) and a
#: Fenchel-Young sigmoid layer (cyclic X-steps, iterative W-steps).
NETS = {"relu": "relu", "sigmoid": ["sigmoid", "identity"]}


def _network_case(x=1.0, y=1.0, lam=1.0, rho=1e-3, solver="fast", net="relu"):
    """Fit (2 sweeps) and check the outcome the ranges promise."""
    refused = _accepted(x, y, lam, rho)
    t0 = time.perf_counter()
    with warnings.catch_warnings(), time_limit(LIMIT_S):
        warnings.simplefilter("ignore", UserWarning)  # inaccurate-solver notices are allowed
        try:
            net = LiftedNetwork([4, 5, 3], NETS[net], lam=lam, rho=rho, random_state=0)
            net.fit(X0 * x, Y0 * y, solver=solver, max_iter=2)
        except cvxlift.ValidationError as exc:
            assert refused is not None, f"refused in range: {exc}"
            msg = str(exc)
            assert msg.startswith(f"{refused} ") or f"|{refused}|" in msg, (refused, msg)
            assert time.perf_counter() - t0 < 0.5, "a scale error must come before any work"
            return None
    elapsed = time.perf_counter() - t0
    assert refused is None, f"{refused} out of range was accepted"
    h = np.asarray(net.history_)
    assert np.all(np.isfinite(h)), h
    assert np.all(np.diff(h) <= 1e-9 * np.maximum(1.0, np.abs(h[:-1]))), h
    for arr in net.weights_ + net.biases_ + net.states_:
        assert np.all(np.isfinite(arr))
    assert elapsed < LIMIT_S
    return net


ONE_AT_A_TIME = [(name, e) for name in ("x", "y", "lam", "rho") for e in EXPONENTS]


@pytest.mark.parametrize("solver", ["fast", "cvxpy"])
@pytest.mark.parametrize("name,exponent", ONE_AT_A_TIME, ids=[f"{n}=1e{e}" for n, e in ONE_AT_A_TIME])
def test_network_scale_one_magnitude(name, exponent, solver):
    _network_case(**{name: 10.0**exponent}, solver=solver)


@pytest.mark.parametrize("solver", ["fast", "cvxpy"])
@pytest.mark.parametrize("rho", [1e-3, RHO_MAX])
def test_sigmoid_network_at_the_largest_penalty_ratio(rho, solver):
    """A Fenchel-Young sigmoid layer with ``X`` at ``DATA_MAX`` and the smallest ``lam``: its
    iterative W-step ran to the fixed 5,000-iteration cap (8 s a sweep) before the budgets."""
    _network_case(x=DATA_MAX, lam=LAM_RANGE[0], rho=rho, solver=solver, net="sigmoid")


@pytest.mark.parametrize("solver", ["fast", "cvxpy"])
@pytest.mark.parametrize("value", [5e-324, 1e-310, 1e308, 1.7e308])
def test_network_subnormal_and_huge_penalties(value, solver):
    """The issue's reproducers (``lam=1e-310`` hung, ``lam=1e308`` raised a raw LinAlgError),
    and the edges of float64: refused at the constructor, naming the argument."""
    with pytest.raises(cvxlift.ValidationError, match="lam must be in the range"):
        LiftedNetwork([4, 5, 3], lam=value)
    if value > RHO_MAX:
        with pytest.raises(cvxlift.ValidationError, match="rho must be in the range"):
            LiftedNetwork([4, 5, 3], rho=value)
    else:
        _network_case(rho=value, solver=solver)


def test_network_refuses_a_non_finite_initial_objective():
    """The engine's own check (a door that skipped the range checks): an inf initial objective
    raises a ValidationError that names the magnitudes, instead of an inf history."""
    from cvxlift.training import BCD, make_backend

    net = LiftedNetwork([4, 5, 3], "relu", random_state=0)
    with pytest.raises(cvxlift.ValidationError, match=r"initial iterate is inf.*max \|X\|"):
        BCD(make_backend("fast"), max_iter=2).fit(net, X0 * 1e200, Y0)


def test_continuation_cap_within_the_lam_range():
    with pytest.raises(cvxlift.ValidationError, match="lam_max"):
        LiftedNetwork([4, 5, 3]).fit(X0, Y0, lam_max=1e7)


# ---------------------------------------------------------------------- estimators and the command
XS = RNG.normal(size=(40, 3))
YS = XS[:, 0] - 0.5 * XS[:, 1]
LABELS = (XS[:, 0] + XS[:, 2] > 0).astype(int)


def _estimator(kind, **kw):
    from cvxlift.estimators import LiftedMLPClassifier, LiftedMLPRegressor

    cls = LiftedMLPClassifier if kind == "classifier" else LiftedMLPRegressor
    kw = {"hidden_layer_sizes": (5,), "max_iter": 3, "random_state": 0, **kw}
    return cls(**kw)


def _fit_estimator(kind, X, y, **kw):
    t0 = time.perf_counter()
    with warnings.catch_warnings(), time_limit(LIMIT_S):
        warnings.simplefilter("ignore")
        est = _estimator(kind, **kw).fit(X, y)
    assert time.perf_counter() - t0 < LIMIT_S
    h = np.asarray(est.network_.history_)
    assert np.all(np.isfinite(h)) and np.all(np.diff(h) <= 1e-9 * np.maximum(1.0, np.abs(h[:-1])))
    return est


ESTIMATOR_EXPONENTS = (-300, -200, -20, 0, 20, 200, 300)
_REFERENCE = {}


def _reference(kind, solver):
    """The unit-scale fit, once per estimator kind and solver."""
    if (kind, solver) not in _REFERENCE:
        y = YS if kind == "regressor" else LABELS
        _REFERENCE[kind, solver] = _fit_estimator(kind, XS, y, solver=solver)
    return _REFERENCE[kind, solver]


@pytest.mark.parametrize("solver", ["fast", "cvxpy"])
@pytest.mark.parametrize("exponent", ESTIMATOR_EXPONENTS)
def test_regressor_follows_the_units(exponent, solver):
    """``R.fit(s X, t y)`` predicts ``t`` times what ``R.fit(X, y)`` predicts, at ``s X``,
    for scales over the float range (the issue's ``1e9 * y`` and ``1e20 * X`` hung)."""
    s = t = 10.0**exponent
    ref = _reference("regressor", solver)
    est = _fit_estimator("regressor", XS * s, YS * t, solver=solver)
    P = est.predict(XS * s)
    assert np.all(np.isfinite(P))
    for W in est.coefs_ + est.intercepts_:
        assert np.all(np.isfinite(W))
    np.testing.assert_allclose(P / t, ref.predict(XS), rtol=1e-6, atol=1e-9 * np.max(np.abs(YS)))


@pytest.mark.parametrize("solver", ["fast", "cvxpy"])
@pytest.mark.parametrize("exponent", ESTIMATOR_EXPONENTS)
def test_classifier_follows_the_units(exponent, solver):
    """``C.fit(s X, y)`` predicts the labels of ``C.fit(X, y)`` (the issue's ``1e10 * X`` returned
    ``loss_curve_ = [inf, inf, inf]`` and ``1e200 * X`` hung)."""
    s = 10.0**exponent
    ref = _reference("classifier", solver)
    est = _fit_estimator("classifier", XS * s, LABELS, solver=solver)
    assert np.all(np.isfinite(est.loss_curve_))
    np.testing.assert_array_equal(est.predict(XS * s), ref.predict(XS))


def _cli_train(tmp_path, scale):
    from cvxlift import cli

    data, model = tmp_path / f"d{scale:g}.npz", tmp_path / f"m{scale:g}.npz"
    np.savez(data, X=XS * scale, y=LABELS)
    out = io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(io.StringIO()), time_limit(LIMIT_S):
        status = cli.main(["train", "--data", str(data), "--out", str(model), "--hidden", "5", "--sweeps", "2"])
    return status, out.getvalue(), model


@pytest.mark.parametrize("exponent", [-300, 20, 300])
def test_cli_train_scaled_data(tmp_path, exponent):
    """``cvxlift train`` on data scaled by 1e-300..1e300: exit 0, a finite objective on every
    printed sweep, the model written, and it predicts what the model trained on unscaled data
    predicts (the command printed "lifted objective inf", exit 0, before)."""
    s = 10.0**exponent
    status, text, model = _cli_train(tmp_path, s)
    assert status == 0, text
    assert "inf" not in text.replace("info", "") and "nan" not in text.lower(), text
    if "cli" not in _REFERENCE:
        ref_status, _, ref_model = _cli_train(tmp_path, 1.0)
        assert ref_status == 0
        _REFERENCE["cli"] = cvxlift.load(ref_model)
    np.testing.assert_array_equal(cvxlift.load(model).predict(XS * s), _REFERENCE["cli"].predict(XS))


# ---------------------------------------------------------------------- wider sweeps (slow)
CORNERS = [
    (x, y, lam, rho)
    for x in (1e-300, DATA_MAX)
    for y in (1e-300, DATA_MAX)
    for lam in LAM_RANGE
    for rho in (0.0, 1e-300, RHO_MAX)
]


@pytest.mark.slow
@pytest.mark.parametrize("net", sorted(NETS))
@pytest.mark.parametrize("solver", ["fast", "cvxpy"])
@pytest.mark.parametrize("x,y,lam,rho", CORNERS)
def test_network_scale_corners(x, y, lam, rho, solver, net):
    """Every corner of the accepted box trains (rho = 0: the fast path solves those W-steps on
    CVXPY, with a FastPathFallbackWarning)."""
    _network_case(x, y, lam, rho, solver=solver, net=net)


@pytest.mark.slow
@pytest.mark.parametrize("net", sorted(NETS))
@pytest.mark.parametrize("solver", ["fast", "cvxpy"])
def test_network_scale_random_search(solver, net):
    """All four magnitudes at once, exponents drawn from [-300, 300]."""
    hypothesis = pytest.importorskip("hypothesis")
    e = hypothesis.strategies.integers(-300, 300)

    @hypothesis.settings(max_examples=60, deadline=None, database=None)
    @hypothesis.given(e, e, e, e)
    def check(ex, ey, el, er):
        _network_case(10.0**ex, 10.0**ey, 10.0**el, 10.0**er, solver=solver, net=net)

    check()
