"""Bad input at every public door raises a cvxlift error that names the argument.

The cases below are exactly the rows of the table in ``docs/bad-input.md``: the test
``test_docs_table_lists_every_case`` parses the table's first column (and its exception
column) and compares it with ``CASES``, so the two cannot drift apart.
"""

import os
import re
from dataclasses import dataclass
from pathlib import Path

import cvxpy as cp
import numpy as np
import pytest

import cvxlift
from cvxlift import FormError, LiftedNetwork, NotFittedError, SolverError, UnknownAtomError, ValidationError, fast

DOC = Path(__file__).resolve().parents[1] / "docs" / "bad-input.md"

RNG = np.random.default_rng(0)
X = RNG.normal(size=(4, 6))
Y = RNG.normal(size=(3, 6))
Y_CLS = np.eye(3)[:, [0, 1, 2, 0, 1, 2]]
NAN = float("nan")
INF = float("inf")


@dataclass
class Case:
    id: str
    door: str
    what: str  # the bad input, in words (the docs table's "input" column)
    call: object  # zero-argument callable that must raise (``exc=None``: return, asserting the result)
    exc: type  # None: a *result* row (the docs' exception column says ``none``)
    names: tuple  # substrings the message must contain (case-insensitive); for a result row, in words
    xfail: str = ""  # a known bug in a file outside this test's scope (strict: fails once fixed)


def _net(**kw):
    kw.setdefault("sizes", [4, 5, 3])
    return LiftedNetwork(**kw)


_FITTED = {}


def _fitted():
    """A tiny fitted network (fast path, one sweep), built once."""
    if "net" not in _FITTED:
        _FITTED["net"] = _net(random_state=0).fit(X, Y, solver="fast", max_iter=1)
    return _FITTED["net"]


def _with(a, idx, value):
    a = np.array(a, dtype=float, copy=True)
    a[idx] = value
    return a


def _fit(X_=X, Y_=Y, net=None, **kw):
    return lambda: (net or _net(random_state=0)).fit(X_, Y_, **kw)


def _uz(u_shape, z_shape):
    return cp.Variable(u_shape), cp.Variable(z_shape)


relu = cvxlift.ReLU()
W5 = np.ones((5, 4))
b5 = np.zeros(5)
Z5 = np.zeros((5, 6))
Wn = np.ones((3, 5))
bn = np.zeros(3)
Zn = np.zeros((3, 6))
ident = cvxlift.Identity()


class CliError(cvxlift.CvxliftError):
    """The one-line error of a ``cvxlift`` subcommand (exit status 2), as an exception."""


def _cli(argv):
    import contextlib
    import io

    from cvxlift import cli

    err = io.StringIO()
    with contextlib.redirect_stderr(err), contextlib.redirect_stdout(io.StringIO()):
        try:
            status = cli.main(argv)
        except SystemExit as exc:  # argparse's usage errors
            status = exc.code
    if status == 2:
        raise CliError(err.getvalue().strip())
    raise AssertionError(f"cvxlift {' '.join(argv)} exited with {status}, expected 2")


def _est(kind="classifier", **kw):
    from cvxlift import estimators

    cls = estimators.LiftedMLPClassifier if kind == "classifier" else estimators.LiftedMLPRegressor
    return cls(hidden_layer_sizes=(3,), max_iter=1, **kw)


XR = RNG.normal(size=(12, 4))  # rows are samples (estimators)
YR = np.arange(12) % 3


def _est_fitted():
    if "est" not in _FITTED:
        import warnings

        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            _FITTED["est"] = _est(random_state=0).fit(XR, YR)
    return _FITTED["est"]


def _tmp(name):
    """A path in this module's temporary directory (removed at exit)."""
    if "tmp" not in _FITTED:
        import atexit
        import shutil
        import tempfile

        _FITTED["tmp"] = Path(tempfile.mkdtemp(prefix="cvxlift-bad-input-"))
        atexit.register(shutil.rmtree, _FITTED["tmp"], True)
    return _FITTED["tmp"] / name


def _made(name, make):
    """``_tmp(name)`` after ``make(path)`` (a file, link or FIFO the case needs)."""
    path = _tmp(name)
    if not os.path.lexists(path):
        make(path)
    return str(path)


def _link(name):
    return _made(name, lambda p: (_tmp("real-" + name).write_bytes(b"keep"), p.symlink_to(_tmp("real-" + name))))


def _saved(kind):
    """A model file of the fitted network (``"net"``) or estimator (``"est"``)."""
    return _made(f"{kind}.npz", lambda p: cvxlift.save(_fitted() if kind == "net" else _est_fitted(), p))


def _edited(kind, keys, value):
    """``load`` of a copy of ``_saved(kind)`` with ``meta[keys...] = value`` and every checksum recomputed."""
    from model_files import rewrite, set_in

    def call():
        path = _tmp(f"edited-{kind}-{'-'.join(map(str, keys))}.npz")
        rewrite(_saved(kind), path, edit_meta=lambda m: set_in(m, ["model", *keys], value))
        return cvxlift.load(path)

    return call


def _huge_header():
    from model_files import lying_header

    path = lying_header(_saved("net"), _tmp("huge.npz"), {"states_0": (5, 10**12), "states_1": (3, 10**12)})
    assert path.stat().st_size < 4096
    return cvxlift.load(path)


def _table(name, text):
    return _made(name, lambda p: p.write_text(text))


# ---------------------------------------------------------------------- issue 12, families 1, 3, 4, 6: results
def _quiet_fit(fn):
    import warnings

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return fn()


def _trains(net, X_, Y_, limit=20.0, **kw):
    """``net.fit(X_, Y_, **kw)`` ends within ``limit`` seconds with finite weights, states and a
    non-increasing history (a result row's check)."""
    import time

    t0 = time.perf_counter()
    _quiet_fit(lambda: net.fit(X_, Y_, max_iter=kw.pop("max_iter", 2), **kw))
    assert time.perf_counter() - t0 < limit
    h = np.asarray(net.history_)
    assert np.all(np.isfinite(h)) and np.all(np.diff(h) <= 1e-9 * np.maximum(1.0, np.abs(h[:-1]))), h
    for a in net.weights_ + net.biases_ + net.states_:
        assert np.all(np.isfinite(a))
    return net


XE = RNG.normal(size=(60, 4))  # the notation: X (rows are samples), y, R, C
YE = XE[:, 0] > 0


def _R(**kw):
    from cvxlift.estimators import LiftedMLPRegressor

    return LiftedMLPRegressor(**{"hidden_layer_sizes": (5,), "max_iter": 2, "random_state": 0, **kw})


def _C(**kw):
    from cvxlift.estimators import LiftedMLPClassifier

    return LiftedMLPClassifier(**{"hidden_layer_sizes": (5,), "max_iter": 2, "random_state": 0, **kw})


def _units(make, xs, ys, classify):
    """``make().fit(xs X, ys y)`` predicts, at ``xs X``, ``ys`` times what the fit in unit scale predicts."""
    import time

    y0 = YE if classify else XE[:, 0]
    ref = _quiet_fit(lambda: make().fit(XE, y0))
    t0 = time.perf_counter()
    est = _quiet_fit(lambda: make().fit(XE * xs, y0 * ys))
    assert time.perf_counter() - t0 < 20.0
    assert np.all(np.isfinite(est.loss_curve_)) and all(np.all(np.isfinite(c)) for c in est.coefs_)
    if classify:
        np.testing.assert_array_equal(est.predict(XE * xs), ref.predict(XE))
    else:
        np.testing.assert_allclose(est.predict(XE * xs) / ys, ref.predict(XE), rtol=1e-8, atol=1e-10)


def _cli_ok(argv):
    """``cvxlift ...`` exits 0 and prints no inf/NaN objective."""
    import contextlib
    import io

    from cvxlift import cli

    out = io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(io.StringIO()):
        status = cli.main(argv)
    text = out.getvalue()
    assert status == 0 and "inf" not in text.replace("info", "") and "nan" not in text.lower(), text


def _joint_budget():
    """The fast joint X-step on targets of 1e20 (beyond the network door's range, as a direct
    ``cvxlift.fast`` call may give), at weights after one sweep: its projected Newton method and
    the finishing FISTA stop at the rounding floor with their certificates (they ran to the
    20,000-iteration cap, 3 s, before), within the size-tied budget."""
    from cvxlift.fast._common import iteration_budget

    Xj, Yj = np.random.default_rng(0).normal(size=(60, 4)).T[:, :20], np.random.default_rng(0).normal(size=(3, 20))
    net = _quiet_fit(lambda: _net(random_state=0).fit(Xj, Yj * 3e5, solver="fast", max_iter=1))
    states, info = fast.joint_x_step(
        net.preactivation(0, Xj),
        Yj * 1e20,
        net.weights_,
        net.biases_,
        net.activations_,
        net.forms_,
        net.lam_,
        "squared",
    )
    assert info.iterations < 5000 <= iteration_budget("first_order", 5, 20) and np.isfinite(info.certificate)
    assert info.converged == bool(info.certificate <= 1e-9) and all(np.all(np.isfinite(S)) for S in states)


def _rho_zero_fast():
    import warnings

    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        net = _net(rho=0.0, random_state=0).fit(X, Y, solver="fast", max_iter=2)
    _trains(_net(rho=0.0, random_state=0), X, Y, solver="fast")
    assert any(
        issubclass(w.category, cvxlift.FastPathFallbackWarning) and "rho[0] = 0" in str(w.message) for w in caught
    )
    assert np.all(net.rho_ == 0)


def _engine_inf():
    from cvxlift.training import BCD, make_backend

    BCD(make_backend("fast"), max_iter=1).fit(_net(random_state=0), X * 1e200, Y)


def _warm_other_m():
    net = _net(form="fenchel_hidden", random_state=0).fit(X, Y, solver="fast", max_iter=1)
    W = [w.copy() for w in net.weights_]
    net.fit(X[:, :4], Y[:, :4], solver="fast", max_iter=0, warm_start=True)
    assert all(np.array_equal(a, b) for a, b in zip(net.weights_, W)) and net.states_[0].shape == (5, 4)


def _warm_user_weights():
    other = _net(random_state=5).init_weights()
    net = _net(random_state=0).set_weights(other.weights_, other.biases_)
    net.fit(X, Y, solver="fast", max_iter=0, warm_start=True)
    assert all(np.array_equal(a, b) for a, b in zip(net.weights_, other.weights_))


def _warm_loaded():
    path = _tmp("no-states.npz")
    cvxlift.save(_fitted(), path, include_states=False)
    net = cvxlift.load(path)
    net.fit(X, Y, solver="fast", max_iter=0, warm_start=True)
    assert all(np.array_equal(a, b) for a, b in zip(net.weights_, _fitted().weights_))


def _interrupt_mid_sweep():
    from cvxlift.training import BCD, FastBackend

    class Interrupt(FastBackend):
        calls = 0

        def x_step(self, net, l, U0, Zn, Z0=None):
            Interrupt.calls += 1
            if Interrupt.calls == 3:  # two hidden X-steps per sweep: the first of sweep 2
                raise KeyboardInterrupt
            return super().x_step(net, l, U0, Zn, Z0)

    X3, Y3 = RNG.normal(size=(4, 8)), RNG.normal(size=(2, 8))

    def make():
        return LiftedNetwork([4, 3, 3, 2], form="fenchel_hidden", random_state=0)

    ref = make().fit(X3, Y3, solver="fast", max_iter=1, tol=0, xstep="cyclic")
    net = make()
    run = BCD(Interrupt(), max_iter=5, tol=0, xstep="cyclic").fit(net, X3, Y3)
    assert run.interrupted and run.n_iter == 1 and run.history == ref.history_
    assert all(np.array_equal(a, b) for a, b in zip(net.weights_ + net.states_, ref.weights_ + ref.states_))


def _estimator_interrupt():
    from cvxlift.training import Callback

    class Stop(Callback):
        def on_sweep_end(self, run, sweep, objective):
            if sweep == 1:
                raise KeyboardInterrupt

    clf = _C(max_iter=5)
    _quiet_fit(lambda: clf.fit(XE, YE, callbacks=[Stop()]))
    assert clf.interrupted_ and clf.n_iter_ <= 2 and np.all(np.isfinite(clf.loss_curve_))


def _sparse_as_dense():
    sp = pytest.importorskip("scipy.sparse")
    ref = _quiet_fit(lambda: _C().fit(XE, YE))
    est = _quiet_fit(lambda: _C().fit(sp.csr_array(XE), YE))
    np.testing.assert_array_equal(est.predict_proba(sp.csr_matrix(XE)), ref.predict_proba(XE))


def _float32_coefs():
    est = _quiet_fit(lambda: _C().fit(XE.astype(np.float32), YE))
    assert all(c.dtype == np.float32 for c in est.coefs_ + est.intercepts_)


def _rho_zero_estimator(solver):
    est = _quiet_fit(lambda: _C(rho=0.0, solver=solver).fit(XE, YE))
    h = np.asarray(est.network_.history_)
    assert np.all(est.network_.rho_ == 0) and np.all(np.diff(h) <= 1e-12 * np.abs(h[:-1]))


def _iris_defaults():
    import warnings

    from sklearn.datasets import load_iris
    from sklearn.exceptions import ConvergenceWarning

    Xi, yi = load_iris(return_X_y=True)
    with warnings.catch_warnings():
        warnings.simplefilter("error", ConvergenceWarning)
        est = cvxlift.LiftedMLPClassifier(random_state=0).fit(Xi, yi)
    assert est.n_iter_ < est.max_iter and est.score(Xi, yi) > 0.9


CASES = [
    # ------------------------------------------------------------------ atoms
    Case(
        "atom-forward-strings",
        "atom forward",
        "`ReLU()(['a', 'b'])`",
        lambda: relu(np.array(["a", "b"])),
        ValidationError,
        ("u", "numeric"),
    ),
    Case(
        "atom-forward-complex",
        "atom forward",
        "`ReLU()(u)` with complex `u`",
        lambda: relu(np.array([1 + 2j, 3.0])),
        ValidationError,
        ("u", "complex"),
    ),
    Case(
        "atom-forward-object",
        "atom forward",
        "`ReLU()(u)` with `u` an object array holding None",
        lambda: relu(np.array([None, 1.0], dtype=object)),
        ValidationError,
        ("u", "numeric"),
    ),
    Case(
        "atom-forward-3d",
        "atom forward",
        "`ReLU()(u)` with a 3-D `u`",
        lambda: relu(np.zeros((2, 2, 2))),
        ValidationError,
        ("u", "2-D"),
    ),
    Case(
        "atom-forward-maxpool-indivisible",
        "atom forward",
        "`MaxPool(pool_size=3)` on columns of length 4",
        lambda: cvxlift.MaxPool(pool_size=3).forward(np.zeros((4, 2))),
        ValidationError,
        ("pool_size=3", "multiple of 3", "4"),
    ),
    Case(
        "atom-divergence-rows",
        "atom divergence",
        "`ReLU().divergence(u, z)`, `u` (3, 2), `z` (4, 2)",
        lambda: relu.divergence(*_uz((3, 2), (4, 2))),
        ValidationError,
        ("z", "rows", "4"),
    ),
    Case(
        "atom-divergence-cols",
        "atom divergence",
        "`divergence(u, z)`, `u` (3, 2), `z` (3, 5)",
        lambda: relu.divergence(*_uz((3, 2), (3, 5))),
        ValidationError,
        ("columns", "u.shape", "z.shape"),
    ),
    Case(
        "atom-divergence-ndim",
        "atom divergence",
        "`divergence(u, z)`, `u` a vector, `z` 2-D",
        lambda: relu.divergence(*_uz((3,), (3, 1))),
        ValidationError,
        ("u", "z", "2-D"),
    ),
    Case(
        "atom-divergence-maxpool-indivisible",
        "atom divergence",
        "`MaxPool(3).divergence(u, z)`, `u` with 4 rows",
        lambda: cvxlift.MaxPool(3).divergence(*_uz((4, 1), (1, 1))),
        ValidationError,
        ("pool_size=3", "multiple of 3"),
    ),
    Case(
        "atom-divergence-unknown-form",
        "atom divergence",
        "`divergence(u, z, form='convex')`",
        lambda: relu.divergence(*_uz((3, 1), (3, 1)), form="convex"),
        FormError,
        ("form", "convex"),
    ),
    Case(
        "atom-divergence-sigmoid-joint",
        "atom divergence",
        "`Sigmoid().divergence(u, z, form='joint')`",
        lambda: cvxlift.Sigmoid().divergence(*_uz((3, 1), (3, 1)), form="joint"),
        FormError,
        ("joint", "fenchel"),
    ),
    Case(
        "atom-divergence-maxpool-fenchel",
        "atom divergence",
        "`MaxPool().divergence(u, z, form='fenchel')`",
        lambda: cvxlift.MaxPool().divergence(*_uz((4, 1), (2, 1)), form="fenchel"),
        FormError,
        ("fenchel", "joint"),
    ),
    Case(
        "atom-divergence-value-shapes",
        "atom divergence_value",
        "`divergence_value(u, z)`, `u` (3, 2), `z` (4, 2)",
        lambda: relu.divergence_value(np.zeros((3, 2)), np.zeros((4, 2))),
        ValidationError,
        ("z", "rows"),
    ),
    Case(
        "atom-divergence-value-cols",
        "atom divergence_value",
        "`divergence_value(u, z)`, `u` (3, 2), `z` (3, 5)",
        lambda: relu.divergence_value(np.zeros((3, 2)), np.zeros((3, 5))),
        ValidationError,
        ("columns",),
    ),
    Case(
        "atom-prox-z-negative-t",
        "atom prox_z",
        "`ReLU().prox_z(u, v, t=-1)`",
        lambda: relu.prox_z(np.zeros(3), np.zeros(3), -1.0),
        ValidationError,
        ("t", "positive"),
    ),
    Case(
        "registry-unknown-name",
        "get_divergence",
        "`get_divergence('nope')`",
        lambda: cvxlift.get_divergence("nope"),
        UnknownAtomError,
        ("nope", "known", "relu"),
    ),
    Case(
        "registry-not-a-spec",
        "get_divergence",
        "`get_divergence(42)`",
        lambda: cvxlift.get_divergence(42),
        ValidationError,
        ("activation", "Divergence", "int"),
    ),
    Case(
        "registry-unknown-parameter",
        "get_divergence",
        "`get_divergence('leaky_relu', slope=0.1)`",
        lambda: cvxlift.get_divergence("leaky_relu", slope=0.1),
        ValidationError,
        ("leaky_relu", "slope", "negative_slope"),
    ),
    Case(
        "registry-params-with-instance",
        "get_divergence",
        "`get_divergence(ReLU(), x=1)`",
        lambda: cvxlift.get_divergence(relu, x=1),
        ValidationError,
        ("parameters", "instance"),
    ),
    Case(
        "leaky-slope-nan",
        "LeakyReLU",
        "`LeakyReLU(negative_slope=nan)`",
        lambda: cvxlift.LeakyReLU(negative_slope=NAN),
        ValidationError,
        ("negative_slope", "(0, 1)"),
    ),
    Case(
        "leaky-slope-one",
        "LeakyReLU",
        "`LeakyReLU(negative_slope=1.5)`",
        lambda: cvxlift.LeakyReLU(negative_slope=1.5),
        ValidationError,
        ("negative_slope", "(0, 1)"),
    ),
    Case(
        "leaky-slope-string",
        "LeakyReLU",
        "`LeakyReLU(negative_slope='a')`",
        lambda: cvxlift.LeakyReLU(negative_slope="a"),
        ValidationError,
        ("negative_slope", "'a'"),
    ),
    Case(
        "clipped-equal-bounds",
        "Clipped",
        "`Clipped(lower=1, upper=1)`",
        lambda: cvxlift.Clipped(lower=1, upper=1),
        ValidationError,
        ("lower", "upper", "lower < upper"),
    ),
    Case(
        "clipped-reversed-bounds",
        "Clipped",
        "`Clipped(lower=2, upper=1)`",
        lambda: cvxlift.Clipped(lower=2, upper=1),
        ValidationError,
        ("lower", "upper"),
    ),
    Case(
        "clipped-nan-bound",
        "Clipped",
        "`Clipped(lower=nan)`",
        lambda: cvxlift.Clipped(lower=NAN),
        ValidationError,
        ("lower", "finite"),
    ),
    Case(
        "clipped-string-bound",
        "Clipped",
        "`Clipped(upper='x')`",
        lambda: cvxlift.Clipped(upper="x"),
        ValidationError,
        ("upper", "'x'"),
    ),
    Case(
        "maxpool-pool-size-zero",
        "MaxPool",
        "`MaxPool(pool_size=0)`",
        lambda: cvxlift.MaxPool(pool_size=0),
        ValidationError,
        ("pool_size", ">= 1"),
    ),
    Case(
        "maxpool-pool-size-float",
        "MaxPool",
        "`MaxPool(pool_size=2.5)`",
        lambda: cvxlift.MaxPool(pool_size=2.5),
        ValidationError,
        ("pool_size", "integer"),
    ),
    Case(
        "maxpool-weight-below-one",
        "MaxPool",
        "`MaxPool(weight=0.5)`",
        lambda: cvxlift.MaxPool(weight=0.5),
        ValidationError,
        ("weight", ">= 1"),
    ),
    Case(
        "maxpool-weight-string",
        "MaxPool",
        "`MaxPool(weight='a')`",
        lambda: cvxlift.MaxPool(weight="a"),
        ValidationError,
        ("weight", "'a'"),
    ),
    Case(
        "sin-pieces", "Sin", "`Sin(n_pieces=1)`", lambda: cvxlift.Sin(n_pieces=1), ValidationError, ("n_pieces", ">= 2")
    ),
    Case(
        "custom-forward-not-callable",
        "declare_divergence",
        "`declare_divergence('f', forward=3, phi=...)`",
        lambda: cvxlift.declare_divergence("f", 3, phi=lambda z: cp.sum_squares(z)),
        ValidationError,
        ("forward", "callable"),
    ),
    Case(
        "custom-no-form",
        "declare_divergence",
        "`declare_divergence('f', forward=f)` without phi or joint",
        lambda: cvxlift.declare_divergence("f", lambda u: u),
        ValidationError,
        ("phi", "joint"),
    ),
    # ------------------------------------------------------------------ network description
    Case(
        "net-sizes-not-sequence",
        "LiftedNetwork",
        "`sizes=5`",
        lambda: _net(sizes=5),
        ValidationError,
        ("sizes", "sequence"),
    ),
    Case(
        "net-sizes-too-short",
        "LiftedNetwork",
        "`sizes=[4]`",
        lambda: _net(sizes=[4]),
        ValidationError,
        ("sizes", "input and output"),
    ),
    Case(
        "net-sizes-zero",
        "LiftedNetwork",
        "`sizes=[4, 0, 3]`",
        lambda: _net(sizes=[4, 0, 3]),
        ValidationError,
        ("sizes[1]", "positive integer"),
    ),
    Case(
        "net-sizes-float",
        "LiftedNetwork",
        "`sizes=[4, 2.5, 3]`",
        lambda: _net(sizes=[4, 2.5, 3]),
        ValidationError,
        ("sizes[1]", "positive integer"),
    ),
    Case(
        "net-sizes-bool",
        "LiftedNetwork",
        "`sizes=[4, True, 3]`",
        lambda: _net(sizes=[4, True, 3]),
        ValidationError,
        ("sizes[1]", "positive integer"),
    ),
    Case("net-sizes-string", "LiftedNetwork", "`sizes='453'`", lambda: _net(sizes="453"), ValidationError, ("sizes",)),
    Case(
        "net-activations-count",
        "LiftedNetwork",
        "`activations=['relu']` for 2 layers",
        lambda: _net(activations=["relu"]),
        ValidationError,
        ("activations", "one entry per layer", "2"),
    ),
    Case(
        "net-activations-unknown",
        "LiftedNetwork",
        "`activations='nope'`",
        lambda: _net(activations="nope"),
        UnknownAtomError,
        ("nope", "known"),
    ),
    Case(
        "net-activations-not-spec",
        "LiftedNetwork",
        "`activations=5`",
        lambda: _net(activations=5),
        ValidationError,
        ("activations",),
    ),
    Case(
        "net-activations-entry",
        "LiftedNetwork",
        "`activations=[42, 'identity']`",
        lambda: _net(activations=[42, "identity"]),
        ValidationError,
        ("activation", "int"),
    ),
    Case(
        "net-form-missing",
        "LiftedNetwork",
        "`form='joint'` with a sigmoid layer",
        lambda: _net(activations=["sigmoid", "identity"], form="joint"),
        FormError,
        ("joint", "Sigmoid"),
    ),
    Case(
        "net-form-unknown",
        "LiftedNetwork",
        "`form='convex'`",
        lambda: _net(form="convex"),
        FormError,
        ("form", "convex"),
    ),
    Case(
        "net-form-length",
        "LiftedNetwork",
        "`form=['joint']` for 2 layers",
        lambda: _net(form=["joint"]),
        ValidationError,
        ("form", "2"),
    ),
    Case("net-form-not-sequence", "LiftedNetwork", "`form=5`", lambda: _net(form=5), ValidationError, ("form",)),
    Case("net-lam-zero", "LiftedNetwork", "`lam=0`", lambda: _net(lam=0.0), ValidationError, ("lam", "> 0")),
    Case("net-lam-negative", "LiftedNetwork", "`lam=-1`", lambda: _net(lam=-1.0), ValidationError, ("lam", "> 0")),
    Case("net-lam-nan", "LiftedNetwork", "`lam=nan`", lambda: _net(lam=NAN), ValidationError, ("lam", "finite")),
    Case("net-lam-inf", "LiftedNetwork", "`lam=inf`", lambda: _net(lam=INF), ValidationError, ("lam", "finite")),
    Case(
        "net-lam-length",
        "LiftedNetwork",
        "`lam=[1.0]` for 2 layers",
        lambda: _net(lam=[1.0]),
        ValidationError,
        ("lam", "sequence of 2"),
    ),
    Case("net-lam-string", "LiftedNetwork", "`lam='big'`", lambda: _net(lam="big"), ValidationError, ("lam", "'big'")),
    Case(
        "net-lam-complex",
        "LiftedNetwork",
        "`lam=1+1j`",
        lambda: _net(lam=1 + 1j),
        ValidationError,
        ("lam", "positive number"),
    ),
    Case("net-rho-negative", "LiftedNetwork", "`rho=-1`", lambda: _net(rho=-1), ValidationError, ("rho", ">= 0")),
    Case(
        "net-rho-negative-entry",
        "LiftedNetwork",
        "`rho=[1e-3, -1]`",
        lambda: _net(rho=[1e-3, -1.0]),
        ValidationError,
        ("rho", ">= 0"),
    ),
    Case("net-rho-nan", "LiftedNetwork", "`rho=nan`", lambda: _net(rho=NAN), ValidationError, ("rho", "finite")),
    Case("net-rho-inf", "LiftedNetwork", "`rho=inf`", lambda: _net(rho=INF), ValidationError, ("rho", "finite")),
    Case(
        "net-rho-length",
        "LiftedNetwork",
        "`rho=[1, 1, 1]` for 2 layers",
        lambda: _net(rho=[1.0, 1.0, 1.0]),
        ValidationError,
        ("rho", "sequence of 2"),
    ),
    Case(
        "net-loss-unknown",
        "LiftedNetwork",
        "`loss='hinge'`",
        lambda: _net(loss="hinge"),
        UnknownAtomError,
        ("loss", "hinge", "squared", "cross_entropy"),
    ),
    Case("net-loss-none", "LiftedNetwork", "`loss=None`", lambda: _net(loss=None), UnknownAtomError, ("loss", "None")),
    Case(
        "net-random-state",
        "LiftedNetwork",
        "`random_state='seed'`",
        lambda: _net(random_state="seed"),
        ValidationError,
        ("random_state", "'seed'"),
    ),
    Case(
        "net-random-state-negative",
        "LiftedNetwork",
        "`random_state=-1`",
        lambda: _net(random_state=-1),
        ValidationError,
        ("random_state", "-1"),
    ),
    # ------------------------------------------------------------------ training data
    Case("fit-X-nan", "fit", "`X` with a NaN", _fit(X_=_with(X, (1, 2), NAN)), ValidationError, ("X", "NaN", "(1, 2)")),
    Case("fit-X-inf", "fit", "`X` with an inf", _fit(X_=_with(X, (0, 0), INF)), ValidationError, ("X", "inf")),
    Case("fit-Y-nan", "fit", "`Y` with a NaN", _fit(Y_=_with(Y, (2, 5), NAN)), ValidationError, ("Y", "NaN")),
    Case(
        "fit-X-rows",
        "fit",
        "`X` with 3 rows for `sizes[0] = 4` (data as rows, not columns)",
        _fit(X_=X[:3]),
        ValidationError,
        ("X", "4 rows", "one column per data point"),
    ),
    Case(
        "fit-X-transposed",
        "fit",
        "`X.T` (6 x 4: samples as rows)",
        _fit(X_=X.T, Y_=Y.T),
        ValidationError,
        ("X", "4 rows", "(6, 4)"),
    ),
    Case("fit-Y-rows", "fit", "`Y` with 2 rows for `sizes[-1] = 3`", _fit(Y_=Y[:2]), ValidationError, ("Y", "3 rows")),
    Case(
        "fit-XY-columns",
        "fit",
        "`X` 6 columns, `Y` 5 columns",
        _fit(Y_=Y[:, :5]),
        ValidationError,
        ("X and Y", "same number of columns", "6", "5"),
    ),
    Case(
        "fit-X-1d",
        "fit",
        "`X` a 1-D vector (one sample not as a column)",
        _fit(X_=X[:, 0], Y_=Y[:, :1]),
        ValidationError,
        ("X", "2-D", "(4,)"),
    ),
    Case(
        "fit-X-strings",
        "fit",
        "`X` an array of strings",
        _fit(X_=np.full((4, 6), "a")),
        ValidationError,
        ("X", "numeric"),
    ),
    Case("fit-X-complex", "fit", "`X` complex", _fit(X_=X + 1j), ValidationError, ("X", "complex")),
    Case(
        "fit-X-object",
        "fit",
        "`X` an object array holding None",
        _fit(X_=np.full((4, 6), None, dtype=object)),
        ValidationError,
        ("X", "numeric"),
    ),
    Case("fit-X-none", "fit", "`X=None`", _fit(X_=None), ValidationError, ("X", "None")),
    Case(
        "fit-empty",
        "fit",
        "`X` (4, 0), `Y` (3, 0): no data points (m = 0)",
        _fit(X_=np.zeros((4, 0)), Y_=np.zeros((3, 0))),
        ValidationError,
        ("X", "empty", "at least one"),
    ),
    Case(
        "fit-ce-not-one-hot",
        "fit",
        "`loss='cross_entropy'`, `Y` columns summing to 2",
        _fit(Y_=2 * Y_CLS, net=_net(loss="cross_entropy", activations=["relu", "simplex"])),
        ValidationError,
        ("Y", "sum to 1", "column 0"),
    ),
    Case(
        "fit-ce-negative",
        "fit",
        "`loss='cross_entropy'`, `Y` outside [0, 1] (1.5 and -0.5; columns sum to 1)",
        _fit(Y_=np.where(Y_CLS > 0, 1.5, -0.25), net=_net(loss="cross_entropy", activations=["relu", "simplex"])),
        ValidationError,
        ("Y", "non-negative"),
    ),
    Case(
        "fit-ce-class-labels",
        "fit",
        "`loss='cross_entropy'`, `Y` integer class labels (1 x m) instead of one-hot",
        _fit(Y_=np.array([[0, 1, 2, 0, 1, 2]]), net=_net(loss="cross_entropy", activations=["relu", "simplex"])),
        ValidationError,
        ("Y", "3 rows"),
    ),
    Case(
        "fit-solver-unknown",
        "fit",
        "`solver='gpu'`",
        _fit(solver="gpu"),
        ValidationError,
        ("solver", "'cvxpy'", "'fast'", "gpu"),
    ),
    Case(
        "fit-cvxpy-solver-missing",
        "fit",
        "`cvxpy_solver='GUROBI'` (not installed)",
        _fit(cvxpy_solver="GUROBI", max_iter=1),
        SolverError,
        ("cvxpy_solver", "GUROBI", "installed"),
    ),
    Case(
        "fit-cvxpy-solver-type",
        "fit",
        "`cvxpy_solver=5`",
        _fit(cvxpy_solver=5, max_iter=1),
        ValidationError,
        ("cvxpy_solver", "name"),
    ),
    Case(
        "fit-max-iter-negative",
        "fit",
        "`max_iter=-1`",
        _fit(max_iter=-1),
        ValidationError,
        ("max_iter", "non-negative integer"),
    ),
    Case("fit-max-iter-float", "fit", "`max_iter=2.5`", _fit(max_iter=2.5), ValidationError, ("max_iter", "integer")),
    Case("fit-max-iter-bool", "fit", "`max_iter=True`", _fit(max_iter=True), ValidationError, ("max_iter", "integer")),
    Case("fit-tol-negative", "fit", "`tol=-1`", _fit(tol=-1.0), ValidationError, ("tol", ">= 0")),
    Case("fit-tol-nan", "fit", "`tol=nan`", _fit(tol=NAN), ValidationError, ("tol", "finite")),
    Case(
        "fit-xstep-unknown",
        "fit",
        "`xstep='diag'`",
        _fit(xstep="diag"),
        ValidationError,
        ("xstep", "'auto'", "'cyclic'", "'joint'"),
    ),
    Case(
        "fit-xstep-joint-biconvex",
        "fit",
        "`xstep='joint'` with a Fenchel-Young layer",
        _fit(net=_net(activations=["sigmoid", "identity"]), xstep="joint"),
        ValidationError,
        ("xstep='joint'", "jointly convex"),
    ),
    Case(
        "fit-lam-growth-string",
        "fit",
        "`lam_growth='a'`",
        _fit(lam_growth="a"),
        ValidationError,
        ("lam_growth", "number", "'a'"),
    ),
    Case(
        "fit-lam-growth-below-one",
        "fit",
        "`lam_growth=0.5`",
        _fit(lam_growth=0.5),
        ValidationError,
        ("lam_growth", ">= 1"),
    ),
    Case(
        "fit-callback",
        "fit",
        "`callback=3` (not callable)",
        _fit(callback=3),
        ValidationError,
        ("callback", "callable"),
    ),
    # ------------------------------------------------------------------ prediction and fitted state
    Case(
        "predict-not-fitted", "predict", "`predict` before `fit`", lambda: _net().predict(X), NotFittedError, ("fit()",)
    ),
    Case(
        "objective-not-fitted",
        "objective",
        "`objective` before `fit`",
        lambda: _net().objective(X, Y),
        NotFittedError,
        ("fit()",),
    ),
    Case(
        "predict-features",
        "predict",
        "`X` with 5 rows for `sizes[0] = 4`",
        lambda: _fitted().predict(np.zeros((5, 2))),
        ValidationError,
        ("X", "4 rows"),
    ),
    Case(
        "predict-nan",
        "predict",
        "`X` with a NaN",
        lambda: _fitted().predict(_with(X, (0, 0), NAN)),
        ValidationError,
        ("X", "NaN"),
    ),
    Case(
        "predict-rule-unknown",
        "predict",
        "`rule='backward'`",
        lambda: _fitted().predict(X, rule="backward"),
        ValidationError,
        ("rule", "forward", "lifted"),
    ),
    Case(
        "forward-features",
        "forward",
        "`forward(X)` with `X` of 5 rows for `sizes[0] = 4`",
        lambda: _fitted().forward(np.ones((5, 3))),
        ValidationError,
        ("X", "4 rows"),
    ),
    Case(
        "objective-states-shape",
        "objective",
        "`objective(X, Y, states=...)` with a state of the wrong shape",
        lambda: _fitted().objective(X, Y, states=[np.ones((5, 2)), np.ones((3, X.shape[1]))]),
        ValidationError,
        ("states[0]", "shape"),
    ),
    Case(
        "init-weights-seed",
        "init_weights",
        "`init_weights(random_state='x')`",
        lambda: _net().init_weights(random_state="x"),
        ValidationError,
        ("random_state",),
    ),
    Case(
        "block-layer-index",
        "block",
        "`block('x_step', 0)` (X-steps exist for layers 1..L)",
        lambda: _fitted().block("x_step", 0),
        ValidationError,
        ("l", "layer index"),
    ),
    Case(
        "block-m-zero",
        "block",
        "`block('w_step', 0, m=0)`",
        lambda: _fitted().block("w_step", 0, m=0),
        ValidationError,
        ("m", "positive integer"),
    ),
    Case(
        "predict-solver-unknown",
        "predict",
        "`rule='lifted', solver='gpu'`",
        lambda: _fitted().predict(X, rule="lifted", solver="gpu"),
        ValidationError,
        ("solver", "gpu"),
    ),
    Case(
        "predict-max-iter",
        "predict",
        "`rule='lifted', max_iter=-1`",
        lambda: _fitted().predict(X, rule="lifted", max_iter=-1),
        ValidationError,
        ("max_iter",),
    ),
    Case(
        "set-weights-shape",
        "set_weights",
        "`weights[0]` of shape (4, 5) for (5, 4)",
        lambda: _net().set_weights([np.zeros((4, 5)), np.zeros((3, 5))], [b5, bn]),
        ValidationError,
        ("weights[0]", "(5, 4)"),
    ),
    Case(
        "block-kind",
        "block",
        "`net.block('z_step')`",
        lambda: _net().block("z_step"),
        ValidationError,
        ("kind", "w_step", "z_step"),
    ),
    # ------------------------------------------------------------------ fast block solvers
    Case(
        "fast-w-step-A-1d",
        "fast.w_step",
        "`A` a 1-D vector",
        lambda: fast.w_step(np.zeros(4), Z5, relu, "joint", 1.0, 1.0),
        ValidationError,
        ("A", "2-D"),
    ),
    Case(
        "fast-w-step-A-strings",
        "fast.w_step",
        "`A` an array of strings",
        lambda: fast.w_step(np.full((4, 6), "a"), Z5, relu, "joint", 1.0, 1.0),
        ValidationError,
        ("A", "numeric"),
    ),
    Case(
        "fast-w-step-Z-cols",
        "fast.w_step",
        "`Z` with 5 columns for `A` with 6",
        lambda: fast.w_step(X, Z5[:, :5], relu, "joint", 1.0, 1.0),
        ValidationError,
        ("Z", "6 columns"),
    ),
    Case(
        "fast-w-step-lam",
        "fast.w_step",
        "`lam=0`",
        lambda: fast.w_step(X, Z5, relu, "joint", 0.0, 1.0),
        ValidationError,
        ("lam", "positive"),
    ),
    Case(
        "fast-w-step-rho-nan",
        "fast.w_step",
        "`rho=nan`",
        lambda: fast.w_step(X, Z5, relu, "joint", 1.0, NAN),
        ValidationError,
        ("rho", "positive finite"),
    ),
    Case(
        "fast-w-step-W0",
        "fast.w_step",
        "`W0` of shape (5, 3) for (5, 4)",
        lambda: fast.w_step(X, Z5, relu, "fenchel", 1.0, 1.0, W0=np.zeros((5, 3))),
        ValidationError,
        ("W0", "4 columns"),
    ),
    Case(
        "fast-w-step-b0-nan",
        "fast.w_step",
        "`b0` with a NaN",
        lambda: fast.w_step(X, Z5, relu, "fenchel", 1.0, 1.0, b0=_with(b5, 0, NAN)),
        ValidationError,
        ("b0", "finite"),
    ),
    Case(
        "fast-w-step-form",
        "fast.w_step",
        "`form='joint'` with Sigmoid",
        lambda: fast.w_step(X, Z5, cvxlift.Sigmoid(), "joint", 1.0, 1.0),
        FormError,
        ("joint",),
    ),
    Case(
        "fast-x-step-W-cols",
        "fast.x_step",
        "`W` with 4 columns for a state with 5 rows",
        lambda: fast.x_step(Z5, np.ones((3, 4)), bn, Zn, relu, "joint", ident, "joint", 1.0, 1.0),
        ValidationError,
        ("W", "5 columns"),
    ),
    Case(
        "fast-x-step-b-length",
        "fast.x_step",
        "`b` of length 2 for `W` with 3 rows",
        lambda: fast.x_step(Z5, Wn, np.zeros(2), Zn, relu, "joint", ident, "joint", 1.0, 1.0),
        ValidationError,
        ("b", "length 3"),
    ),
    Case(
        "fast-x-step-Znext-rows",
        "fast.x_step",
        "`Znext` with 2 rows for 3",
        lambda: fast.x_step(Z5, Wn, bn, Zn[:2], relu, "joint", ident, "joint", 1.0, 1.0),
        ValidationError,
        ("Znext", "3 rows"),
    ),
    Case(
        "fast-x-step-U0-nan",
        "fast.x_step",
        "`U0` with a NaN",
        lambda: fast.x_step(_with(Z5, (0, 0), NAN), Wn, bn, Zn, relu, "joint", ident, "joint", 1.0, 1.0),
        ValidationError,
        ("U0", "finite"),
    ),
    Case(
        "fast-x-step-Z0",
        "fast.x_step",
        "`Z0` of shape (5, 2) for (5, 6)",
        lambda: fast.x_step(Z5, Wn, bn, Zn, relu, "joint", ident, "joint", 1.0, 1.0, Z0=np.zeros((5, 2))),
        ValidationError,
        ("Z0", "6 columns"),
    ),
    Case(
        "fast-output-step-Y-rows",
        "fast.output_step",
        "`Y` with 2 rows for 3",
        lambda: fast.output_step(Zn, Zn[:2], ident, "joint", 1.0, "squared"),
        ValidationError,
        ("Y", "3 rows"),
    ),
    Case(
        "fast-output-step-loss",
        "fast.output_step",
        "`loss='hinge'`",
        lambda: fast.output_step(Zn, Zn, ident, "joint", 1.0, "hinge"),
        ValidationError,
        ("loss", "hinge", "squared"),
    ),
    Case(
        "fast-output-step-lam-inf",
        "fast.output_step",
        "`lam=inf`",
        lambda: fast.output_step(Zn, Zn, ident, "joint", INF, "squared"),
        ValidationError,
        ("lam",),
    ),
    Case(
        "fast-lifted-predict-layers",
        "fast.lifted_predict",
        "2 weights but 1 bias",
        lambda: fast.lifted_predict(X, [W5, Wn], [b5], [relu, ident], ["joint", "joint"], [1.0, 1.0]),
        ValidationError,
        ("weights", "biases", "same positive length"),
    ),
    Case(
        "fast-lifted-predict-X-rows",
        "fast.lifted_predict",
        "`X` with 3 rows for `weights[0]` with 4 columns",
        lambda: fast.lifted_predict(X[:3], [W5, Wn], [b5, bn], [relu, ident], ["joint", "joint"], [1.0, 1.0]),
        ValidationError,
        ("X", "4 rows"),
    ),
    Case(
        "est-fit-nan",
        "estimator fit",
        "`LiftedMLPClassifier().fit(X, y)` with a NaN in `X`",
        lambda: _est().fit(_with(XR, (0, 0), NAN), YR),
        ValidationError,
        ("X", "NaN"),
    ),
    Case(
        "est-fit-one-class",
        "estimator fit",
        "`y` with one class",
        lambda: _est().fit(XR, np.zeros(12)),
        ValidationError,
        ("y", "2 classes"),
    ),
    Case("est-fit-lam", "estimator fit", "`lam=0`", lambda: _est(lam=0.0).fit(XR, YR), ValidationError, ("lam",)),
    Case(
        "est-fit-activation",
        "estimator fit",
        "`activation='nope'`",
        lambda: _est(activation="nope").fit(XR, YR),
        UnknownAtomError,
        ("activation", "nope"),
    ),
    Case(
        "est-fit-rows",
        "estimator fit",
        "`X` with 12 rows and `y` with 10 entries",
        lambda: _est().fit(XR, YR[:10]),
        ValidationError,
        ("samples",),
    ),
    Case(
        "est-predict-features",
        "estimator predict",
        "`predict(X)` with 5 features after fitting 4",
        lambda: _est_fitted().predict(np.ones((2, 5))),
        ValidationError,
        ("X", "5 features", "4 features"),
    ),
    Case(
        "est-regressor-nan-y",
        "estimator fit",
        "`LiftedMLPRegressor().fit(X, y)` with a NaN in `y`",
        lambda: _est("regressor").fit(XR, _with(YR, 0, NAN)),
        ValidationError,
        ("y", "NaN"),
    ),
    Case(
        "save-unfitted",
        "save",
        "`cvxlift.save(LiftedNetwork(...), path)` before `fit`",
        lambda: cvxlift.save(_net(), "/tmp/never-written.npz"),
        NotFittedError,
        ("fit",),
    ),
    Case(
        "load-missing",
        "load",
        "`cvxlift.load('no/such/file.npz')`",
        lambda: cvxlift.load("no/such/file.npz"),
        cvxlift.PersistenceError,
        ("no/such/file.npz",),
    ),
    Case(
        "cli-train-missing-data",
        "cvxlift train",
        "`cvxlift train --data missing.npz`",
        lambda: _cli(["train", "--data", "missing.npz", "--out", "/tmp/never.npz"]),
        CliError,
        ("cvxlift train", "missing.npz"),
    ),
    Case(
        "cli-predict-missing-model",
        "cvxlift predict",
        "`cvxlift predict --model missing.npz --data d.npz`",
        lambda: _cli(["predict", "--model", "missing.npz", "--data", "d.npz"]),
        CliError,
        ("cvxlift predict", "missing.npz"),
    ),
    Case(
        "cli-train-activation",
        "cvxlift train",
        "`cvxlift train --builtin --activation nope`",
        lambda: _cli(["train", "--builtin", "--activation", "nope", "--out", "/tmp/never.npz"]),
        CliError,
        ("activation", "nope"),
    ),
    Case(
        "cli-verify-unknown",
        "cvxlift verify",
        "`cvxlift verify nope`",
        lambda: _cli(["verify", "nope"]),
        CliError,
        ("nope",),
    ),
    # ------------------------------------------------------------------ issue 12, family 2: saving and loading
    Case(
        "save-symlink",
        "save",
        "`cvxlift.save(net, 'link.npz')`, `link.npz` a symbolic link",
        lambda: cvxlift.save(_fitted(), _link("link.npz")),
        cvxlift.PersistenceError,
        ("link.npz", "symbolic link"),
    ),
    Case(
        "save-fifo",
        "save",
        "the target is a FIFO (or a device)",
        lambda: cvxlift.save(_fitted(), _made("pipe.npz", os.mkfifo)),
        cvxlift.PersistenceError,
        ("pipe.npz", "FIFO", "regular files"),
    ),
    Case(
        "save-nul-byte",
        "save",
        "a path with a NUL byte",
        lambda: cvxlift.save(_fitted(), "a\x00b"),
        cvxlift.PersistenceError,
        ("NUL byte", "x00b"),
    ),
    Case(
        "save-name-too-long",
        "save",
        "a 300-character file name",
        lambda: cvxlift.save(_fitted(), _tmp("n" * 300)),
        cvxlift.PersistenceError,
        ("nnnn", "too long"),
    ),
    Case(
        "load-nul-byte",
        "load",
        "a path with a NUL byte",
        lambda: cvxlift.load("a\x00b.npz"),
        cvxlift.PersistenceError,
        ("NUL byte",),
    ),
    Case(
        "load-path-too-long",
        "load",
        "a 5000-character path",
        lambda: cvxlift.load("d/" * 2500 + "m.npz"),
        cvxlift.PersistenceError,
        ("d/d/", "too long"),
    ),
    Case(
        "load-edited-lam",
        "load",
        "estimator file with `lam = -5`, checksums recomputed",
        _edited("est", ["params", "lam"], -5),
        cvxlift.PersistenceError,
        ("lam", "-5"),
    ),
    Case(
        "load-edited-hidden-sizes",
        "load",
        "`hidden_layer_sizes = [7]` for weights of shape (3, 4)",
        _edited("est", ["params", "hidden_layer_sizes"], [7]),
        cvxlift.PersistenceError,
        ("hidden_layer_sizes=[7]", "[3]"),
    ),
    Case(
        "load-edited-classes-repeated",
        "load",
        "`classes_ = [0, 0, 0]`",
        _edited("est", ["attributes", "classes_", "values"], [0, 0, 0]),
        cvxlift.PersistenceError,
        ("classes_", "unique"),
    ),
    Case(
        "load-edited-classes-datetime",
        "load",
        "`classes_` of dtype `datetime64[ns]`",
        _edited("est", ["attributes", "classes_"], {"values": [0, 1, 2], "dtype": "<M8[ns]", "kind": "M"}),
        cvxlift.PersistenceError,
        ("classes_", "dtype"),
    ),
    Case(
        "load-edited-feature-names",
        "load",
        "`feature_names_in_` with 3 names for 4 features",
        _edited("est", ["attributes", "feature_names_in_"], ["a", "b", "c"]),
        cvxlift.PersistenceError,
        ("feature_names_in_", "n_features_in_=4"),
    ),
    Case(
        "load-edited-history-nan",
        "load",
        "network `history` with a NaN",
        _edited("net", ["fitted", "history", 1], NAN),
        cvxlift.PersistenceError,
        ("history[1]", "finite"),
    ),
    Case(
        "load-edited-string-number",
        "load",
        '`n_features_in_ = "4"` (a string)',
        _edited("est", ["attributes", "n_features_in_"], "4"),
        cvxlift.PersistenceError,
        ("n_features_in_", "integer", "'4'"),
    ),
    Case(
        "load-huge-header",
        "load",
        "a 2 KB file whose `.npy` headers claim shape (5, 10**12)",
        _huge_header,
        cvxlift.PersistenceError,
        ("states_0", "claims shape (5, 1000000000000)"),
    ),
    # ------------------------------------------------------------------ issue 12, family 5: the cvxlift command
    Case(
        "cli-train-csv-text-cell",
        "cvxlift train",
        "`--data d.csv` with `abc` in a feature column",
        lambda: _cli(["train", "--data", _table("text.csv", "a,b,y\n1,2,0\n3,abc,1\n"), "--out", str(_tmp("m"))]),
        CliError,
        ("text.csv", "row 3", "column 2", "abc"),
    ),
    Case(
        "cli-train-decimal-comma",
        "cvxlift train",
        "`;`-separated CSV with decimal commas (`1,5`)",
        lambda: _cli(["train", "--data", _table("comma.csv", "1,5;2,0;0\n3,5;4,0;1\n"), "--out", str(_tmp("m"))]),
        CliError,
        ("comma.csv", "'1,5'", "decimal point"),
    ),
    Case(
        "cli-train-unsupported-format",
        "cvxlift train",
        "`--data d.json`",
        lambda: _cli(["train", "--data", _table("d.json", "{}"), "--out", str(_tmp("m"))]),
        CliError,
        ("d.json", "unsupported data file", ".csv", ".npy", ".npz"),
    ),
    Case(
        "cli-train-classify-y-2d",
        "cvxlift train",
        "`--data d.npz` with `y` of shape (12, 2)",
        lambda: _cli(
            [
                "train",
                "--data",
                _made("y2d.npz", lambda p: np.savez(p, X=XR, y=np.zeros((12, 2)))),
                "--out",
                str(_tmp("m")),
            ]
        ),
        CliError,
        ("y", "one class label per row", "(12, 2)"),
    ),
    Case(
        "cli-predict-y-shape",
        "cvxlift predict",
        "`y` of shape (6,) for a model with 3 outputs",
        lambda: _cli(
            [
                "predict",
                "--model",
                _saved("net"),
                "--data",
                _made("y1d.npz", lambda p: np.savez(p, X=X.T, y=np.zeros(6))),
            ]
        ),
        CliError,
        ("y has shape (6,)", "(6, 3)"),
    ),
    Case(
        "cli-verify-seed-negative",
        "cvxlift verify",
        "`cvxlift verify relu --seed -1`",
        lambda: _cli(["verify", "relu", "--seed", "-1"]),
        CliError,
        ("--seed", "'-1'"),
    ),
    Case(
        "cli-train-delimiter",
        "cvxlift train",
        "`--delimiter ab`",
        lambda: _cli(["train", "--builtin", "--delimiter", "ab"]),
        CliError,
        ("--delimiter", "'ab'"),
    ),
    Case(
        "cli-bench-m-huge",
        "cvxlift bench",
        "`cvxlift bench --m 1000000000`",
        lambda: _cli(["bench", "--m", "1000000000"]),
        CliError,
        ("--m 1000000000", "1500"),
    ),
    Case(
        "cli-demo-out-directory",
        "cvxlift demo",
        "`cvxlift demo --out adir`, `adir` a directory",
        lambda: _cli(["demo", "--out", _made("adir", os.mkdir)]),
        CliError,
        ("adir", "directory"),
    ),
    Case(
        "cli-demo-out-link",
        "cvxlift demo",
        "`--out link.png`, a symbolic link",
        lambda: _cli(["demo", "--out", _link("link.png")]),
        CliError,
        ("link.png", "symbolic link"),
    ),
    Case(
        "cli-predict-out-link",
        "cvxlift predict",
        "`--out link.csv`, a symbolic link",
        lambda: _cli(
            [
                "predict",
                "--model",
                _saved("net"),
                "--data",
                _made("x.npz", lambda p: np.savez(p, X=X.T)),
                "--out",
                _link("link.csv"),
            ]
        ),
        CliError,
        ("link.csv", "symbolic link"),
    ),
    # ------------------------------------------------------------------ issue 12, family 1: scale
    Case(
        "scale-net-lam-subnormal",
        "LiftedNetwork",
        "`lam=1e-310` (hung on the fast path)",
        lambda: _net(lam=1e-310),
        ValidationError,
        ("lam", "1e-06 <= lam <= 1e+06", "1e-310"),
    ),
    Case(
        "scale-net-lam-huge",
        "LiftedNetwork",
        "`lam=1e308` (a raw `LinAlgError`)",
        lambda: _net(lam=1e308),
        ValidationError,
        ("lam", "1e-06 <= lam <= 1e+06"),
    ),
    Case(
        "scale-net-rho-huge",
        "LiftedNetwork",
        "`rho=1e200`",
        lambda: _net(rho=1e200),
        ValidationError,
        ("rho", "rho <= 1e+100"),
    ),
    Case(
        "scale-fit-X-huge",
        "fit",
        "`X * 1e200` (an `inf` objective, every block rejected)",
        _fit(X * 1e200, solver="fast"),
        ValidationError,
        ("X has entries up to", "fit accepts", "<= 1e+06"),
    ),
    Case(
        "scale-fit-Y-huge",
        "fit",
        "`Y * 1e20` (the fast path spun 10 s on 20 columns)",
        _fit(Y_=Y * 1e20, solver="fast"),
        ValidationError,
        ("Y has entries up to", "<= 1e+06"),
    ),
    Case(
        "scale-fit-X-huge-cvxpy",
        "fit",
        "`X * 1e20`, `solver='cvxpy'` (every CVXPY solver failed)",
        _fit(X * 1e20, solver="cvxpy"),
        ValidationError,
        ("X has entries", "LiftedMLPRegressor"),
    ),
    Case(
        "scale-fit-lam-max",
        "fit",
        "`lam_max=1e7` (continuation beyond the `lam` range)",
        _fit(lam_max=1e7),
        ValidationError,
        ("lam_max", "<= 1e+06"),
    ),
    Case(
        "scale-engine-inf-objective",
        "BCD.fit",
        "`BCD(...).fit(net, X * 1e200, Y)` (the engine, no door check)",
        _engine_inf,
        ValidationError,
        ("initial iterate is inf", "rescale X and Y"),
    ),
    Case(
        "scale-est-lam-huge",
        "estimator fit",
        "`C(lam=1e308).fit(X, y)`",
        lambda: _C(lam=1e308).fit(XE, YE),
        ValidationError,
        ("lam", "1e-06 <= lam <= 1e+06"),
    ),
    Case(
        "scale-fit-X-tiny",
        "fit",
        "`X * 1e-200` on both paths",
        lambda: [_trains(_net(random_state=0), X * 1e-200, Y, solver=s) for s in ("fast", "cvxpy")],
        None,
        ("trains: finite weights, non-increasing history",),
    ),
    Case(
        "scale-fit-Y-tiny",
        "fit",
        "`Y * 1e-200` on both paths",
        lambda: [_trains(_net(random_state=0), X, Y * 1e-200, solver=s) for s in ("fast", "cvxpy")],
        None,
        ("trains",),
    ),
    Case(
        "scale-fit-rho-zero-fast",
        "fit",
        "`rho=0`, `solver='fast'` (refused mid-fit by the fast W-step)",
        _rho_zero_fast,
        None,
        ("trains; the W-steps run on CVXPY with a `FastPathFallbackWarning`",),
    ),
    Case(
        "scale-fast-joint-budget",
        "fast.joint_x_step",
        "targets of 1e20 (20,000 iterations, certificate 1.9)",
        _joint_budget,
        None,
        ("stops within its budget, certificate reported",),
    ),
    Case(
        "scale-est-R-y-1e9",
        "estimator fit",
        "`R.fit(X, 1e9 * X[:, 0])` (hung)",
        lambda: _units(_R, 1.0, 1e9, False),
        None,
        ("predictions 1e9 times those in unit scale",),
    ),
    Case(
        "scale-est-R-X-1e20",
        "estimator fit",
        "`R.fit(X * 1e20, X[:, 0])` (hung)",
        lambda: _units(_R, 1e20, 1.0, False),
        None,
        ("the predictions of the unit-scale fit",),
    ),
    Case(
        "scale-est-C-X-1e10",
        "estimator fit",
        "`C.fit(X * 1e10, y)` (`loss_curve_ = [inf, inf, inf]`)",
        lambda: _units(_C, 1e10, 1.0, True),
        None,
        ("finite `loss_curve_`, the unit-scale labels",),
    ),
    Case(
        "scale-est-C-X-1e200",
        "estimator fit",
        "`C.fit(X * 1e200, y)` (hung)",
        lambda: _units(_C, 1e200, 1.0, True),
        None,
        ("the unit-scale labels",),
    ),
    Case(
        "scale-cli-train-X-1e10",
        "cvxlift train",
        "`--data d.npz` with `X * 1e10` (printed `inf`, exit 0)",
        lambda: _cli_ok(
            [
                "train",
                "--data",
                _made("big.npz", lambda p: np.savez(p, X=XE * 1e10, y=YE.astype(int))),
                "--out",
                str(_tmp("big-model")),
                "--hidden",
                "5",
                "--sweeps",
                "2",
            ]
        ),
        None,
        ("exit 0, finite objective",),
    ),
    # ------------------------------------------------------------------ issue 12, family 3: state semantics
    Case(
        "state-warm-start-other-m",
        "fit",
        "`warm_start=True` on data with another number of columns",
        _warm_other_m,
        None,
        ("weights kept, states rebuilt",),
    ),
    Case(
        "state-warm-start-user-weights",
        "fit",
        "`set_weights(...)`, then `fit(warm_start=True)`",
        _warm_user_weights,
        None,
        ("the user's weights kept",),
    ),
    Case(
        "state-warm-start-loaded",
        "fit",
        "a model saved without states, loaded, `fit(warm_start=True)`",
        _warm_loaded,
        None,
        ("the loaded weights kept",),
    ),
    Case(
        "state-interrupt-mid-sweep",
        "fit",
        "`KeyboardInterrupt` inside the second sweep's X-step",
        _interrupt_mid_sweep,
        None,
        ("the iterate and history of sweep 1",),
    ),
    Case(
        "state-estimator-interrupt",
        "estimator fit",
        "`KeyboardInterrupt` after a sweep (was swallowed)",
        _estimator_interrupt,
        None,
        ("`interrupted_`, the last complete sweep",),
    ),
    Case(
        "state-warm-start-type",
        "fit",
        "`warm_start=1`",
        _fit(warm_start=1),
        ValidationError,
        ("warm_start", "True or False"),
    ),
    # ------------------------------------------------------------------ issue 12, family 4: parameters
    Case(
        "param-sizes-set",
        "LiftedNetwork",
        "`sizes={4, 5, 3}` (a set: reordered)",
        lambda: LiftedNetwork({4, 5, 3}),
        ValidationError,
        ("sizes", "ordered sequence"),
    ),
    Case("param-lam-bool", "LiftedNetwork", "`lam=True`", lambda: _net(lam=True), ValidationError, ("lam", "boolean")),
    Case(
        "param-sizes-huge",
        "LiftedNetwork",
        "`sizes=[4, 10**12, 3]` (a 29 TiB `MemoryError` in fit)",
        lambda: _net(sizes=[4, 10**12, 3]),
        ValidationError,
        ("sizes", "GiB"),
    ),
    Case(
        "param-set-weights-none",
        "set_weights",
        "`set_weights(None, None)`",
        lambda: _net().set_weights(None, None),
        ValidationError,
        ("weights must be a list",),
    ),
    Case(
        "param-fast-options-key",
        "fit",
        "`fast_options={'w_step': {'max_itr': 3}}` (a `TypeError` mid-fit)",
        _fit(solver="fast", fast_options={"w_step": {"max_itr": 3}}),
        ValidationError,
        ("fast_options", "max_itr", "unknown option"),
    ),
    Case(
        "param-fast-options-max-iter",
        "fit",
        "`fast_options={'w_step': {'max_iter': -5}}`",
        _fit(solver="fast", fast_options={"w_step": {"max_iter": -5}}),
        ValidationError,
        ("max_iter", "positive integer"),
    ),
    Case(
        "param-fast-options-tol-nan",
        "fit",
        "`fast_options={'w_step': {'tol': nan}}`",
        _fit(solver="fast", fast_options={"w_step": {"tol": NAN}}),
        ValidationError,
        ("tol", "finite"),
    ),
    Case(
        "param-est-inner-max-iter",
        "estimator fit",
        "`C(inner_max_iter='x')`",
        lambda: _C(inner_max_iter="x").fit(XE, YE),
        ValidationError,
        ("inner_max_iter",),
    ),
    Case(
        "param-est-random-state",
        "estimator fit",
        "`C(random_state=-1)` (a raw numpy error)",
        lambda: _C(random_state=-1).fit(XE, YE),
        ValidationError,
        ("random_state", "[0, 2**32 - 1]"),
    ),
    Case(
        "param-est-labels-mixed",
        "estimator fit",
        "labels mixing int and str",
        lambda: _C().fit(XE[:4], np.array([1, "a", 2, "b"], dtype=object)),
        ValidationError,
        ("y", "all numbers or all strings"),
    ),
    Case(
        "param-est-validation-fraction",
        "estimator fit",
        "`early_stopping=True`, `validation_fraction=0.01`",
        lambda: _C(early_stopping=True, validation_fraction=0.01).fit(XE, YE),
        ValidationError,
        ("validation_fraction",),
    ),
    Case(
        "param-est-text-X",
        "estimator fit",
        "`X` an array of numeric strings (was parsed)",
        lambda: _C().fit(XE.astype(str), YE),
        ValidationError,
        ("X must be numeric",),
    ),
    # ------------------------------------------------------------------ issue 12, family 6: scikit-learn conventions
    Case(
        "sk-rho-zero",
        "estimator fit",
        "`rho=0` (refused where `alpha=0` is allowed), both solvers",
        lambda: [_rho_zero_estimator(s) for s in ("cvxpy", "fast")],
        None,
        ("trains, `rho_ == 0`",),
    ),
    Case(
        "sk-X-inf",
        "estimator fit",
        '`X` with an inf (reported as "U0 must be finite")',
        lambda: _C().fit(_with(XE, (3, 1), INF), YE),
        ValidationError,
        ("X", "inf"),
    ),
    Case(
        "sk-sparse-X",
        "estimator fit",
        "`X` a `csr_array` / `csr_matrix` (refused)",
        _sparse_as_dense,
        None,
        ("the dense fit's probabilities",),
    ),
    Case(
        "sk-float32-coefs",
        "estimator fit",
        "float32 `X` (gave float64 `coefs_`)",
        _float32_coefs,
        None,
        ("float32 `coefs_` and `intercepts_`",),
    ),
    Case(
        "sk-early-stopping-2-samples",
        "estimator fit",
        "`early_stopping=True` with 2 samples (a 1-sample split)",
        lambda: _C(early_stopping=True).fit(XE[:2], np.array([0, 1])),
        ValidationError,
        ("validation_fraction",),
    ),
    Case(
        "sk-stratify-label",
        "estimator fit",
        "a stratified split impossible for label `'dog'`",
        lambda: _C(early_stopping=True, validation_fraction=0.3).fit(XE[:10], np.array(["cat"] * 9 + ["dog"])),
        ValidationError,
        ("['dog']",),
    ),
    Case(
        "sk-max-iter-zero",
        "estimator fit",
        "`max_iter=0`",
        lambda: _C(max_iter=0).fit(XE, YE),
        ValidationError,
        ("max_iter", "positive integer"),
    ),
    Case(
        "sk-defaults-iris",
        "estimator fit",
        "default `LiftedMLPClassifier()` on iris (`ConvergenceWarning`)",
        _iris_defaults,
        None,
        ("no `ConvergenceWarning`, accuracy > 0.9",),
    ),
]

IDS = [c.id for c in CASES]


def test_case_ids_are_unique():
    assert len(IDS) == len(set(IDS))


@pytest.mark.parametrize(
    "case",
    [pytest.param(c, marks=pytest.mark.xfail(strict=True, reason=c.xfail)) if c.xfail else c for c in CASES],
    ids=IDS,
)
def test_bad_input(case):
    if case.exc is None:  # a result row: the door must succeed, the call asserts the result
        import warnings

        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            case.call()
        return
    with pytest.raises(case.exc) as info:
        case.call()
    assert isinstance(info.value, cvxlift.CvxliftError)
    msg = str(info.value)
    for name in case.names:
        assert name.lower() in msg.lower(), f"{case.id}: {name!r} not in message {msg!r}"


def _doc_rows():
    rows = []
    for line in DOC.read_text().splitlines():
        cells = [c.strip() for c in line.strip().strip("|").split("|")] if line.startswith("|") else None
        if not cells or not re.fullmatch(r"`[A-Za-z0-9]+(-[A-Za-z0-9]+)+`", cells[0]):
            continue
        rows.append((cells[0].strip("`"), cells[-2].strip("`")))
    return rows


def test_docs_table_lists_every_case():
    rows = _doc_rows()
    assert [r[0] for r in rows] == IDS, "docs/bad-input.md and CASES differ (same ids, same order)"
    for (cid, exc), case in zip(rows, CASES):
        assert exc == (case.exc.__name__ if case.exc is not None else "none"), cid
