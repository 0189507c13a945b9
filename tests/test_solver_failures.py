"""Solver failures: every CVXPY solve checks its status; the fallback chain of
``docs/reliability.md`` is followed, and a block that no solver can solve raises
:class:`cvxlift.SolverError` naming the block (layer and step), each solver and its status.

Failures are injected by replacing ``cvxpy.Problem.solve`` with a wrapper that, for the
chosen solvers (and, optionally, only for problems of one block), raises
``cvxpy.error.SolverError`` or reports a status (``infeasible``, ``unbounded``,
``optimal_inaccurate``, ``solver_error``, or ``optimal`` without a solution). Inputs that
trip real solvers (pre-activations of size 1e3, all-zero and duplicated data) are run
unpatched.
"""

import warnings

import cvxpy as cp
import numpy as np
import pytest

import cvxlift
from cvxlift import LiftedNetwork, cvxsolve
from cvxlift.training import compiled_blocks

ORIGINAL_SOLVE = cp.Problem.solve
QP = cvxsolve.candidate_solvers("QP")
EXP = cvxsolve.candidate_solvers("EXP")

RNG = np.random.default_rng(3)
X = RNG.normal(size=(4, 8))
Y = np.tanh(X[:3] - X[1:])
Y_CLS = np.eye(3)[:, RNG.integers(0, 3, 8)]


def _var_names(problem):
    return {v.name() for v in problem.variables()}


def inject(monkeypatch, behaviour, only=None):
    """Replace ``cvxpy.Problem.solve``: ``behaviour[solver]`` is ``"raise"`` or a status to
    report; ``only`` (a variable name) limits the injection to problems holding it.
    Returns the list of (solver, variables) calls seen."""
    calls = []

    def solve(self, *args, solver=None, **kwargs):
        calls.append((solver, _var_names(self)))
        what = behaviour.get(solver)
        if what is None or (only is not None and only not in _var_names(self)):
            return ORIGINAL_SOLVE(self, *args, solver=solver, **kwargs)
        if what == "raise":
            raise cp.error.SolverError(f"{solver} failed (injected)")
        if what in (cp.OPTIMAL_INACCURATE, "optimal_without_values"):
            ORIGINAL_SOLVE(self, *args, solver=solver, **kwargs)  # a real (usable) solution
            if what == cp.OPTIMAL_INACCURATE:
                self._status = cp.OPTIMAL_INACCURATE
                return self.value
            for v in self.variables():
                v.value = None
            self._status = cp.OPTIMAL
            return None
        for v in self.variables():
            v.value = None
        self._status = what
        return None

    monkeypatch.setattr(cp.Problem, "solve", solve)
    return calls


def _qp():
    x = cp.Variable(3, name="x")
    return cp.Problem(cp.Minimize(cp.sum_squares(x - 1) + cp.norm1(x))), x


FAILURES = ["raise", cp.INFEASIBLE, cp.UNBOUNDED, cp.SOLVER_ERROR, cp.OPTIMAL_INACCURATE, "optimal_without_values"]


def _shows(status_text, failure):
    return {"raise": "error: SolverError", "optimal_without_values": "no finite value"}.get(
        failure, failure
    ) in status_text


# ---------------------------------------------------------------------------- cvxsolve.solve
@pytest.mark.skipif(len(QP) < 2, reason="needs two QP solvers")
@pytest.mark.parametrize("failure", FAILURES)
def test_first_solver_failure_falls_back_to_the_next(monkeypatch, failure):
    inject(monkeypatch, {QP[0]: failure})
    prob, x = _qp()
    info = cvxsolve.solve(prob, "QP", block="layer 2, W-step")
    assert info.solver == QP[1] and info.status == cp.OPTIMAL
    assert info.attempts[0][0] == QP[0] and _shows(info.attempts[0][1], failure), info.attempts
    assert x.value == pytest.approx([0.5, 0.5, 0.5], abs=1e-5)


@pytest.mark.parametrize("failure", ["raise", cp.INFEASIBLE, cp.UNBOUNDED, cp.SOLVER_ERROR, "optimal_without_values"])
def test_every_solver_failing_raises_solver_error_naming_block_solvers_statuses(monkeypatch, failure):
    calls = inject(monkeypatch, {s: failure for s in QP})
    prob, _ = _qp()
    with pytest.raises(cvxlift.SolverError) as info:
        cvxsolve.solve(prob, "QP", block="layer 2, W-step", allow_inaccurate=True)
    msg = str(info.value)
    assert msg.startswith("layer 2, W-step: no solver reached an optimal solution")
    for s in QP:
        assert s in msg
    assert msg.count(
        {"raise": "error: SolverError", "optimal_without_values": "no finite value"}.get(failure, failure)
    ) == len(QP), msg
    assert [c[0] for c in calls] == QP  # each solver tried once, in the documented order


def test_every_solver_inaccurate_is_an_error_unless_allowed(monkeypatch):
    inject(monkeypatch, {s: cp.OPTIMAL_INACCURATE for s in QP})
    prob, x = _qp()
    with pytest.raises(cvxlift.SolverError, match="optimal_inaccurate"):
        cvxsolve.solve(prob, "QP", block="output step")
    info = cvxsolve.solve(prob, "QP", block="output step", allow_inaccurate=True)
    assert info.status == cp.OPTIMAL_INACCURATE and info.solver == QP[0]  # the first inaccurate one
    assert x.value == pytest.approx([0.5, 0.5, 0.5], abs=1e-4)


@pytest.mark.skipif(len(QP) < 2, reason="needs two QP solvers")
def test_inaccurate_solution_is_recomputed_when_a_later_solver_overwrote_it(monkeypatch):
    behaviour = {s: cp.INFEASIBLE for s in QP}
    behaviour[QP[0]] = cp.OPTIMAL_INACCURATE
    calls = inject(monkeypatch, behaviour)
    prob, x = _qp()
    info = cvxsolve.solve(prob, "QP", allow_inaccurate=True)
    assert info.solver == QP[0] and info.status == cp.OPTIMAL_INACCURATE
    assert [c[0] for c in calls] == QP + [QP[0]]  # the re-solve
    assert x.value == pytest.approx([0.5, 0.5, 0.5], abs=1e-5)  # not the None of the infeasible ones


@pytest.mark.skipif(len(QP) < 2, reason="needs two QP solvers")
def test_failing_re_solve_of_the_inaccurate_solver_raises_solver_error(monkeypatch):
    state = {"n": 0}
    original = cp.Problem.solve

    def solve(self, *args, solver=None, **kwargs):
        if solver == QP[0]:
            state["n"] += 1
            if state["n"] > 1:
                raise cp.error.SolverError("crashed on the re-solve (injected)")
            original(self, *args, solver=solver, **kwargs)
            self._status = cp.OPTIMAL_INACCURATE
            return None
        for v in self.variables():
            v.value = None
        self._status = cp.INFEASIBLE
        return None

    monkeypatch.setattr(cp.Problem, "solve", solve)
    prob, _ = _qp()
    with pytest.raises(cvxlift.SolverError, match="crashed on the re-solve"):
        cvxsolve.solve(prob, "QP", block="layer 1, X-step", allow_inaccurate=True)


def test_pinned_solver_has_no_fallback(monkeypatch):
    calls = inject(monkeypatch, {QP[0]: "raise"})
    prob, _ = _qp()
    with pytest.raises(cvxlift.SolverError) as info:
        cvxsolve.solve(prob, "QP", solver=QP[0].lower(), block="layer 0, W-step")
    assert [c[0] for c in calls] == [QP[0]]
    assert "layer 0, W-step" in str(info.value) and QP[0] in str(info.value)


# ---------------------------------------------------------------------------- through fit()
BLOCKS = [("W0", "layer 0, W-step"), ("W1", "layer 1, W-step"), ("X1", "layer 1, X-step"), ("X2", "output step")]


@pytest.mark.parametrize("var,block", BLOCKS)
def test_fit_names_the_block_no_solver_could_solve(monkeypatch, var, block):
    inject(monkeypatch, {s: "raise" for s in QP}, only=var)
    net = LiftedNetwork([4, 5, 3], "relu", lam=1.0, rho=0.01, random_state=0)
    with pytest.raises(cvxlift.SolverError) as info:
        net.fit(X, Y, solver="cvxpy", xstep="cyclic", max_iter=1)
    msg = str(info.value)
    assert msg.startswith(block + ":"), msg
    for s in QP:
        assert f"{s}: error: SolverError" in msg


@pytest.mark.skipif(len(QP) < 2, reason="needs two QP solvers")
@pytest.mark.parametrize("failure", ["raise", cp.INFEASIBLE, cp.OPTIMAL_INACCURATE])
def test_fit_falls_back_and_matches_the_unpatched_fit(monkeypatch, failure):
    ref = LiftedNetwork([4, 5, 3], "relu", lam=1.0, rho=0.01, random_state=0).fit(X, Y, xstep="cyclic", max_iter=2)
    inject(monkeypatch, {QP[0]: failure})
    net = LiftedNetwork([4, 5, 3], "relu", lam=1.0, rho=0.01, random_state=0).fit(X, Y, xstep="cyclic", max_iter=2)
    for blk in compiled_blocks(net).values():
        assert blk.last.attempts[0][0] == QP[0] and blk.last.solver == QP[1]
    h = np.asarray(net.history_)
    assert np.all(np.diff(h) <= 1e-12 * np.abs(h[:-1]))
    assert h[-1] == pytest.approx(ref.history_[-1], rel=1e-5, abs=1e-7)


def test_fit_uses_inaccurate_solutions_only_under_the_objective_guard(monkeypatch):
    inject(monkeypatch, {s: cp.OPTIMAL_INACCURATE for s in QP})
    net = LiftedNetwork([4, 5, 3], "relu", lam=1.0, rho=0.01, random_state=0)
    with pytest.warns(UserWarning, match="optimal_inaccurate"):
        net.fit(X, Y, xstep="cyclic", max_iter=2)
    log = net.block_info_["inaccurate"]
    assert log and all(status == cp.OPTIMAL_INACCURATE for _, _, status in log)
    assert {name for name, _, _ in log} >= {"layer 0, W-step", "layer 1, W-step", "layer 1, X-step", "output step"}
    h = np.asarray(net.history_)
    assert np.all(np.isfinite(h)) and np.all(np.diff(h) <= 1e-12 * np.abs(h[:-1]))


def test_fast_path_fallback_block_failure_is_named(monkeypatch):
    """A vector user atom without a numpy u-prox has no fast W-step: fit(solver="fast") solves it
    with CVXPY, and a failure there is reported like any DSL block."""
    import cvxpy as cp

    from cvxlift.divergences.base import domain_indicator
    from cvxlift.numeric import project_simplex

    vec = cvxlift.declare_divergence(
        "simplex_no_uprox_sf",
        forward=project_simplex,
        elementwise=False,
        verify_dim=3,
        joint=lambda u, z: cp.sum_squares(z - u) + domain_indicator([z >= 0, cp.sum(z, axis=0) == 1]),
    )
    inject(monkeypatch, {s: "raise" for s in QP}, only="W0")
    net = LiftedNetwork([4, 3, 3], [vec, "identity"], random_state=0)
    with pytest.raises(cvxlift.SolverError, match=r"^layer 0, W-step: .*error: SolverError"):
        net.fit(X, Y, solver="fast", max_iter=1)


def test_pinned_solver_that_cannot_handle_the_cones_is_named():
    net = LiftedNetwork([4, 5, 3], ["sigmoid", "identity"], random_state=0)
    with pytest.raises(cvxlift.SolverError) as info:
        net.fit(X, Y, cvxpy_solver="OSQP", max_iter=1)
    msg = str(info.value)
    assert "layer 0, W-step" in msg and "OSQP" in msg and "cannot solve" in msg


def test_pinned_solver_is_used_for_every_block(monkeypatch):
    calls = inject(monkeypatch, {})
    LiftedNetwork([4, 5, 3], "relu", random_state=0).fit(X, Y, cvxpy_solver="clarabel", xstep="cyclic", max_iter=1)
    assert calls and {c[0] for c in calls} == {"CLARABEL"}


# ---------------------------------------------------------------------------- inputs that trip real solvers
def _check_history(net):
    h = np.asarray(net.history_)
    assert np.all(np.isfinite(h)), h
    assert np.all(np.diff(h) <= 1e-9 * np.maximum(1.0, np.abs(h[:-1]))), h
    for W, b in zip(net.weights_, net.biases_):
        assert np.all(np.isfinite(W)) and np.all(np.isfinite(b))


TRIP = {
    "large-preactivations": lambda: (1e3 * X, Y),
    "all-zero-X": lambda: (np.zeros_like(X), Y),
    "all-zero-X-and-Y": lambda: (np.zeros_like(X), np.zeros_like(Y)),
    "duplicate-columns": lambda: (np.repeat(X[:, :2], 4, axis=1), np.repeat(Y[:, :2], 4, axis=1)),
    "duplicate-rows": lambda: (np.repeat(X[:1], 4, axis=0), Y),
}
NETS = {
    "relu": dict(sizes=[4, 5, 3], activations="relu"),
    "clipped-fenchel": dict(sizes=[4, 5, 3], activations=["clipped", "identity"], form="fenchel"),
    "sigmoid": dict(sizes=[4, 5, 3], activations=["sigmoid", "identity"]),
    "simplex-ce": dict(sizes=[4, 5, 3], activations=["relu", "simplex"], loss="cross_entropy"),
}


@pytest.mark.parametrize("net_name", sorted(NETS))
@pytest.mark.parametrize("data", sorted(TRIP))
def test_inputs_known_to_trip_solvers(data, net_name):
    """The DSL path (every block a CVXPY solve; the same data on the fast path are in
    tests/test_extremes.py)."""
    solver = "cvxpy"
    Xd, Yd = TRIP[data]()
    cfg = NETS[net_name]
    if cfg.get("loss") == "cross_entropy":
        Yd = np.repeat(Y_CLS[:, :2], 4, axis=1) if data == "duplicate-columns" else Y_CLS
    net = LiftedNetwork(lam=1.0, rho=0.01, random_state=0, **cfg)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)  # inaccurate-solution notices are allowed
        try:
            net.fit(Xd, Yd, solver=solver, max_iter=2)
        except cvxlift.SolverError as exc:  # allowed: a clear error naming the block
            assert any(k in str(exc) for k in ("W-step", "X-step", "output step")), exc
            return
    _check_history(net)
