"""The ``cvxlift`` command line (``cvxlift.cli.main`` and ``python -m cvxlift``)."""
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

import cvxlift
from cvxlift import cli
from cvxlift.divergences import registry
from cvxlift.verify import Check, VerifyReport

ROOT = Path(__file__).resolve().parents[1]
FAST = ["--n-grid", "101", "--n-random", "20"]


def run(argv):
    """Exit status of ``main(argv)``, whether it returns it or exits with it."""
    try:
        return cli.main(argv)
    except SystemExit as exc:
        return exc.code


def test_verify_one_atom(capsys):
    assert run(["verify", "relu", *FAST]) == 0
    out = capsys.readouterr().out
    assert "ReLU(): PASSED" in out
    assert "summary (n_grid=101, n_random=20, seed=0, solver=auto)" in out
    header = [ln for ln in out.splitlines() if ln.startswith("atom")][0].split()
    assert header == ["atom", "result", "argmin", "fenchel", "argmin", "joint", "prox", "seconds"]
    row = [ln for ln in out.splitlines() if ln.startswith("relu ")][0].split()
    assert row[1] == "PASSED" and float(row[2]) <= cvxlift.ReLU.argmin_tol
    assert "all 1 atoms PASSED" in out


def test_verify_default_is_every_available_atom(monkeypatch, capsys):
    seen = []

    def fake_verify(atom, **kwargs):
        seen.append((atom, kwargs))
        return VerifyReport(atom, [Check(f, "argmin", True, 0.0, 1e-5) for f in atom.forms], 0.0)

    monkeypatch.setattr(cli, "verify", fake_verify)
    assert run(["verify", "--seed", "7", "--n-grid", "33"]) == 0
    assert [a for a, _ in seen] == [cvxlift.get_divergence(n) for n in cvxlift.available()]
    assert all(kw == dict(n_random=200, n_grid=33, seed=7, solver=None) for _, kw in seen)
    out = capsys.readouterr().out
    assert "n/a" in out  # Sigmoid has no joint form, MaxPool no Fenchel-Young form
    assert f"all {len(cvxlift.available())} atoms PASSED" in out


def test_unknown_name_exits_2_listing_known_names(capsys):
    assert run(["verify", "relu", "nope"]) == 2
    captured = capsys.readouterr()
    assert "ReLU()" not in captured.out  # names are checked before any work
    assert "'nope'" in captured.err
    for name in cvxlift.available():
        assert name in captured.err


def test_missing_solver_exits_2(capsys):
    assert run(["verify", "relu", "--solver", "NOT_A_SOLVER"]) == 2
    err = capsys.readouterr().err
    assert "NOT_A_SOLVER" in err and "installed solvers" in err


def test_bad_counts_exit_2(capsys):
    assert run(["verify", "relu", "--n-grid", "0"]) == 2
    assert "--n-grid" in capsys.readouterr().err


def test_failing_atom_exits_1(monkeypatch, capsys):
    monkeypatch.setattr(registry, "_REGISTRY", dict(registry._REGISTRY))
    ident = cvxlift.Identity()
    cvxlift.declare_divergence(
        "identity_claimed_relu", forward=lambda U: np.maximum(U, 0),
        phi=ident.phi, phi_star=ident.phi_star, phi_value=ident.phi_value,
        phi_star_value=ident.phi_star_value, prox_phi=ident.prox_phi, register=True,
    )
    assert run(["verify", "identity_claimed_relu", *FAST]) == 1
    out = capsys.readouterr().out
    assert "FAILED: identity_claimed_relu" in out


@pytest.mark.parametrize("name", ["demo", "train", "predict", "bench"])
def test_placeholders_are_not_available_yet(name, capsys):
    assert run([name, "--anything", "x"]) == 2
    assert "not available yet" in capsys.readouterr().err


def test_no_subcommand_prints_help(capsys):
    assert run([]) == 2
    assert "verify" in capsys.readouterr().err


def test_unknown_subcommand_is_a_usage_error(capsys):
    assert run(["frobnicate"]) == 2


def test_commands_table_is_extensible(capsys):
    def add(parser):
        parser.add_argument("--x", type=int, default=1)

    commands = dict(cli.COMMANDS, hello=cli.Command("say hello", add, lambda a: a.x + 40))
    args = cli.build_parser(commands).parse_args(["hello", "--x", "2"])
    assert args._run(args) == 42


def test_python_dash_m():
    env = dict(os.environ, PYTHONPATH=os.pathsep.join(filter(None, [str(ROOT), os.environ.get("PYTHONPATH")])))
    proc = subprocess.run([sys.executable, "-m", "cvxlift", "verify", "identity", *FAST],
                          capture_output=True, text=True, cwd=str(ROOT), env=env, timeout=300)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "identity  PASSED" in proc.stdout
    proc = subprocess.run([sys.executable, "-m", "cvxlift", "--version"],
                          capture_output=True, text=True, cwd=str(ROOT), env=env, timeout=300)
    assert proc.returncode == 0 and cvxlift.__version__ in proc.stdout
