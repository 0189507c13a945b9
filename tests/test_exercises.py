"""The exercises (docs/exercises/): the solutions pass the grader, wrong answers fail it, and the
grading code printed on each page runs as printed.

The grader is ``cvxlift.reference``: each solution is checked against the CVXPY solution of
its block. The "Grade it" code block of each page is executed with the solution's function in
its namespace, so the page cannot drift from the API.
"""

import importlib.util
import re
from pathlib import Path

import numpy as np
import pytest

import cvxlift

ROOT = Path(__file__).resolve().parents[1]
EXERCISES = ROOT / "examples" / "exercises"
PAGES = ROOT / "docs" / "exercises"

pytestmark = pytest.mark.skipif(
    not hasattr(cvxlift, "reference"), reason="cvxlift.reference (the grader) is not in this tree"
)


def _solution(name):
    spec = importlib.util.spec_from_file_location(f"exercise_{name}", EXERCISES / f"{name}.py")
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


def _page_block(page, heading):
    """The first ```python block after ``heading`` on ``page``."""
    text = (PAGES / page).read_text(encoding="utf-8")
    tail = text[text.index(heading) :]
    return re.search(r"```python\n(.*?)```", tail, re.S).group(1)


# ------------------------------------------------------------------ 1. ridge W-step
def test_ridge_w_step_solution_passes():
    ex = _solution("ridge_w_step")
    net, X, Y, states = ex.problem()
    report = cvxlift.reference(net, X, Y, block="W0", states=states).check(
        ex.w_step(X, states[0], net.lam_[0], net.rho_[0])
    )
    assert report.passed, report
    assert report.row("residual").value < 1e-10


def test_ridge_w_step_with_a_penalised_bias_fails():
    ex = _solution("ridge_w_step")
    net, X, Y, states = ex.problem()
    A, Z, lam, rho = X, states[0], net.lam_[0], net.rho_[0]
    Ab = np.vstack([A, np.ones((1, A.shape[1]))])
    Wb = np.linalg.solve(Ab @ Ab.T + rho / lam * np.eye(Ab.shape[0]), Ab @ Z.T).T
    report = cvxlift.reference(net, X, Y, block="W0", states=states).check((Wb[:, :-1], Wb[:, -1]))
    assert not report.passed
    assert report.row("residual").passed is False and report.row("distance b").passed is False


def test_ridge_w_step_page_grades_the_solution_and_the_starter():
    ex = _solution("ridge_w_step")
    grade = _page_block("ridge-w-step.md", "## Grade it")
    exec(grade, {"w_step": ex.w_step})  # the page's own asserts
    starter = {}
    exec(_page_block("ridge-w-step.md", "## Starter"), starter)
    with pytest.raises(AssertionError):
        exec(grade, {"w_step": starter["w_step"]})


# ------------------------------------------------------------------ 2. ReLU X-step
def test_relu_x_step_solution_passes():
    ex = _solution("relu_x_step")
    net, X, Y, states = ex.problem()
    U0 = net.weights_[0] @ X + net.biases_[0][:, None]
    Z = ex.x_step(U0, net.weights_[1], net.biases_[1], states[1], net.lam_[0], net.lam_[1])
    assert Z.min() >= 0 and (Z == 0).any()  # the constraint is active somewhere
    report = cvxlift.reference(net, X, Y, block="X1", states=states).check(Z)
    assert report.passed, report


def test_relu_x_step_stopped_early_fails_on_the_residual():
    ex = _solution("relu_x_step")
    net, X, Y, states = ex.problem()
    U0 = net.weights_[0] @ X + net.biases_[0][:, None]
    Z = ex.x_step(U0, net.weights_[1], net.biases_[1], states[1], net.lam_[0], net.lam_[1], max_iter=20)
    report = cvxlift.reference(net, X, Y, block="X1", states=states).check(Z)
    assert not report.passed and report.row("residual").passed is False


def test_relu_x_step_page_grades_the_solution():
    ex = _solution("relu_x_step")
    exec(_page_block("relu-x-step.md", "## Grade it"), {"x_step": ex.x_step})


# ------------------------------------------------------------------ 3. Appendix A bisection
def test_bisection_solution_passes_and_is_on_the_simplex():
    ex = _solution("appendix_a_bisection")
    net, X, Y, states = ex.problem()
    X0 = net.weights_[1] @ states[0] + net.biases_[1][:, None]
    Z = ex.output_step(X0, Y, net.lam_[1])
    np.testing.assert_allclose(Z.sum(axis=0), 1.0, atol=1e-12)
    assert Z.min() >= 0
    report = cvxlift.reference(net, X, Y, block="output", states=states).check(Z)
    assert report.passed, report


def test_bisection_against_the_fast_solver_on_a_hard_case():
    """Tiny lam and one-hot targets: the case where the paper's lower bound is not one."""
    ex = _solution("appendix_a_bisection")
    rng = np.random.default_rng(1)
    X0 = 1e-3 * rng.normal(size=(11, 20))
    Y = np.eye(11)[:, rng.integers(0, 11, size=20)]
    Z = ex.output_step(X0, Y, 1e-3)
    Zf, _ = cvxlift.fast.output_step(X0, Y, cvxlift.Simplex(), "joint", 1e-3, "cross_entropy")
    np.testing.assert_allclose(Z, Zf, atol=1e-12)


def test_bisection_projection_without_the_loss_fails():
    ex = _solution("appendix_a_bisection")
    net, X, Y, states = ex.problem()
    X0 = net.weights_[1] @ states[0] + net.biases_[1][:, None]
    report = cvxlift.reference(net, X, Y, block="output", states=states).check(cvxlift.Simplex().forward(X0))
    assert not report.passed


def test_bisection_page_grades_the_solution():
    ex = _solution("appendix_a_bisection")
    exec(_page_block("appendix-a-bisection.md", "## Grade it"), {"output_step": ex.output_step})
