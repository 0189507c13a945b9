"""``cvxlift.cvxsolve``: solver picking, status checks, error messages."""

import cvxpy as cp
import pytest

from cvxlift import SolverError, cvxsolve


def _qp():
    x = cp.Variable(3)
    return cp.Problem(cp.Minimize(cp.sum_squares(x - 1) + cp.norm1(x))), x


def test_combine_classes():
    assert cvxsolve.combine_classes() == "QP"
    assert cvxsolve.combine_classes("QP") == "QP"
    assert cvxsolve.combine_classes("QP", "SOC") == "SOC"
    assert cvxsolve.combine_classes("EXP", "QP", "SOC") == "EXP"
    assert cvxsolve.combine_classes(None, "SOC", "") == "SOC"
    with pytest.raises(ValueError, match="'LP'"):
        cvxsolve.combine_classes("QP", "LP")


def test_missing_solver_names_the_installed_ones():
    prob, _ = _qp()
    with pytest.raises(SolverError) as info:
        cvxsolve.solve(prob, "QP", solver="NOT_A_SOLVER")
    msg = str(info.value)
    assert "NOT_A_SOLVER" in msg and "installed" in msg
    for name in cp.installed_solvers():
        assert name in msg


def test_infeasible_problem_names_the_block():
    x = cp.Variable(2)
    prob = cp.Problem(cp.Minimize(cp.sum_squares(x)), [x >= 1, x <= 0])
    with pytest.raises(SolverError) as info:
        cvxsolve.solve(prob, "QP", block="layer 3, X-step")
    msg = str(info.value)
    assert msg.startswith("layer 3, X-step")
    assert "infeasible" in msg
    for name in cvxsolve.candidate_solvers("QP"):
        assert name in msg  # every solver tried is listed with its status


def test_solve_returns_info_and_the_solution():
    prob, x = _qp()
    info = cvxsolve.solve(prob, "QP", accuracy="tight")
    assert info.status == cp.OPTIMAL
    assert info.solver == info.attempts[-1][0]
    assert x.value == pytest.approx([0.5, 0.5, 0.5], abs=1e-8)  # 2(x - 1) + 1 = 0


def test_pinned_solver_is_case_insensitive():
    prob, x = _qp()
    info = cvxsolve.solve(prob, "QP", solver="clarabel")
    assert info.solver == "CLARABEL"
    assert x.value == pytest.approx([0.5, 0.5, 0.5], abs=1e-6)


def test_candidate_solvers_follow_the_problem_class():
    have = set(cp.installed_solvers())
    qp = cvxsolve.candidate_solvers("QP")
    exp = cvxsolve.candidate_solvers("EXP")
    assert qp == [s for s in cvxsolve.PREFERENCE["QP"] if s in have]
    assert "OSQP" not in exp  # OSQP cannot handle exponential cones
    with pytest.raises(ValueError, match="problem_class"):
        cvxsolve.candidate_solvers("LP")


def test_exponential_cone_problem_is_solved():
    x = cp.Variable()
    prob = cp.Problem(cp.Minimize(-cp.entr(x) - cp.entr(1 - x) - 2.0 * x))
    info = cvxsolve.solve(prob, "EXP", accuracy="tight")
    assert info.solver in cvxsolve.PREFERENCE["EXP"]
    assert x.value == pytest.approx(1 / (1 + 2.718281828459045**-2.0), abs=1e-6)  # sigmoid(2)
