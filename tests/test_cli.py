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


# ---------------------------------------------------------------------- helpers
def _has(module):
    try:
        __import__(module)
    except ImportError:
        return False
    return True


def _one_line_error(captured, prog):
    """The error is exactly one line ``prog: error: ...`` on stderr, with no traceback."""
    err = [ln for ln in captured.err.splitlines() if ln.strip() and "it/s" not in ln and "%|" not in ln]
    assert len(err) == 1, captured.err
    assert err[0].startswith(f"{prog}: error: "), err
    assert "Traceback" not in captured.err + captured.out
    return err[0]


def _estimators_or_skip():
    """LiftedMLPClassifier and cvxlift.save, or skip: they come from other modules."""
    try:
        from cvxlift import save  # noqa: F401
        from cvxlift import load  # noqa: F401
        return cvxlift.LiftedMLPClassifier
    except (ImportError, AttributeError) as exc:
        pytest.skip(f"cvxlift.LiftedMLPClassifier / cvxlift.save / cvxlift.load not importable yet ({exc}); "
                    "train/predict need them")


def _classification_file(path, m=60, n=5, seed=0):
    rng = np.random.default_rng(seed)
    X = rng.normal(size=(m, n))
    y = (X[:, 0] + 0.5 * X[:, 1] > 0).astype(np.int64)
    np.savez(path, X=X, y=y)
    return X, y


# ---------------------------------------------------------------------- demo
def test_demo_prints_sweeps_and_writes_png(tmp_path, capsys):
    out = tmp_path / "demo.png"
    assert run(["demo", "--sweeps", "1", "--hidden", "20", "--train-size", "200", "--out", str(out)]) == 0
    text = capsys.readouterr().out
    assert "784-20-10 ReLU" in text
    rows = [ln.split() for ln in text.splitlines() if ln.strip()[:1].isdigit()]
    assert [r[0] for r in rows] == ["0", "1"], text       # the initial row and one sweep
    assert float(rows[1][1]) > 0 and rows[1][3].endswith("%")
    assert "test accuracy (forward prediction):" in text
    if _has("matplotlib"):
        assert out.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
        assert f"plot written to {out}" in text
    else:
        assert not out.exists()
        assert "matplotlib is not installed" in text


def test_demo_without_matplotlib_notes_and_exits_0(tmp_path, capsys, monkeypatch):
    monkeypatch.setitem(sys.modules, "matplotlib", None)  # import matplotlib -> ImportError
    out = tmp_path / "demo.png"
    assert run(["demo", "--sweeps", "1", "--hidden", "5", "--train-size", "100", "--out", str(out)]) == 0
    text = capsys.readouterr().out
    assert "note: matplotlib is not installed, so no plot was written" in text
    assert not out.exists()


def test_demo_unwritable_plot_is_one_line_error_before_training(tmp_path, capsys):
    out = tmp_path / "no-such-dir" / "demo.png"
    assert run(["demo", "--sweeps", "1", "--hidden", "5", "--train-size", "100", "--out", str(out)]) == 2
    captured = capsys.readouterr()
    assert "does not exist" in _one_line_error(captured, "cvxlift demo")
    assert "sweep" not in captured.out  # checked before any work


@pytest.mark.parametrize("argv", [["--hidden", "0"], ["--sweeps", "-1"], ["--lam", "0"], ["--rho", "nan"]])
def test_demo_bad_options_are_usage_errors(argv, capsys):
    assert run(["demo", *argv]) == 2
    assert "Traceback" not in capsys.readouterr().err


# ---------------------------------------------------------------------- train / predict
@pytest.mark.filterwarnings("ignore::Warning")
def test_train_predict_round_trip(tmp_path, capsys):
    Classifier = _estimators_or_skip()
    X, y = _classification_file(tmp_path / "data.npz")
    model = tmp_path / "model.npz"
    status = run(["train", "--data", str(tmp_path / "data.npz"), "--hidden", "8", "--sweeps", "3",
                  "--lam", "1", "--rho", "0.001", "--seed", "1", "--out", str(model)])
    captured = capsys.readouterr()
    if status != 0 and "only accepts the model kinds" in captured.err:
        reason = [ln for ln in captured.err.splitlines() if "error:" in ln][0]
        pytest.skip("cvxlift.save does not accept LiftedMLPClassifier yet (persistence.MODEL_KINDS); "
                    f"the lead integrates: {reason}")
    assert status == 0, captured.err
    assert "sweep 1: lifted objective" in captured.out
    assert f"model written to {model}" in captured.out
    assert model.exists()

    # the same estimator, fitted directly, predicts the same labels
    ref = Classifier(hidden_layer_sizes=(8,), activation="relu", lam=1.0, rho=1e-3, max_iter=3, solver="fast",
                     random_state=1).fit(X, y)
    preds = tmp_path / "preds.csv"
    assert run(["predict", "--model", str(model), "--data", str(tmp_path / "data.npz"),
                "--out", str(preds)]) == 0
    out = capsys.readouterr().out
    lines = preds.read_text().splitlines()
    assert lines[0] == "index,prediction" and len(lines) == 1 + X.shape[0]
    got = np.array([int(ln.split(",")[1]) for ln in lines[1:]])
    np.testing.assert_array_equal(got, ref.predict(X))
    assert f"{X.shape[0]} predictions (forward rule); accuracy {np.mean(got == y):.4f}" in out

    # CSV on stdout without --out; X only (no y) is fine; the lifted rule runs
    np.savez(tmp_path / "xonly.npz", X=X[:7])
    assert run(["predict", "--model", str(model), "--data", str(tmp_path / "xonly.npz"), "--rule", "lifted"]) == 0
    captured = capsys.readouterr()
    assert captured.out.splitlines()[0] == "index,prediction" and len(captured.out.splitlines()) == 8
    assert "7 predictions (lifted rule)" in captured.err


def test_train_builtin_reports_test_accuracy(tmp_path, capsys, monkeypatch):
    _estimators_or_skip()
    from cvxlift import datasets

    small = datasets.load_mnist_sample()
    monkeypatch.setattr(datasets, "load_mnist_sample",
                        lambda *a, **k: (small[0][:120], small[1][:120], small[2][:50], small[3][:50]))
    status = run(["train", "--builtin", "--hidden", "10", "--sweeps", "1", "--out", str(tmp_path / "m.npz")])
    captured = capsys.readouterr()
    if status != 0 and "only accepts the model kinds" in captured.err:
        pytest.skip("cvxlift.save does not accept LiftedMLPClassifier yet (persistence.MODEL_KINDS)")
    assert status == 0, captured.err
    assert "120 samples, 784 features" in captured.out and "test accuracy" in captured.out


def _bad_files(tmp_path):
    X = np.zeros((5, 3))
    np.savez(tmp_path / "no_x.npz", Z=X)
    np.savez(tmp_path / "no_y.npz", X=X)
    np.savez(tmp_path / "x_1d.npz", X=np.zeros(5), y=np.zeros(5))
    np.savez(tmp_path / "y_len.npz", X=X, y=np.zeros(4))
    np.savez(tmp_path / "x_nan.npz", X=np.full((5, 3), np.nan), y=np.zeros(5))
    np.savez(tmp_path / "x_str.npz", X=np.array([["a"]]), y=np.zeros(1))
    (tmp_path / "text.npz").write_text("not an archive")
    return {
        "missing.npz": "no such file",
        "no_x.npz": "has no array 'X'",
        "no_y.npz": "has no array 'y'",
        "x_1d.npz": "2-D array",
        "y_len.npz": "one entry (or row) per row of X",
        "x_nan.npz": "NaN",
        "x_str.npz": "must be numeric",
        "text.npz": "not a readable .npz",
    }


def test_train_bad_input_is_one_line_exit_2(tmp_path, capsys):
    for name, fragment in _bad_files(tmp_path).items():
        assert run(["train", "--data", str(tmp_path / name), "--out", str(tmp_path / "m.npz")]) == 2, name
        line = _one_line_error(capsys.readouterr(), "cvxlift train")
        assert fragment in line, (name, line)
    assert not (tmp_path / "m.npz").exists()


def test_train_unknown_activation_is_one_line_exit_2(tmp_path, capsys):
    _classification_file(tmp_path / "d.npz")
    assert run(["train", "--data", str(tmp_path / "d.npz"), "--activation", "swish"]) == 2
    line = _one_line_error(capsys.readouterr(), "cvxlift train")
    assert "'swish'" in line and "relu" in line


def test_train_without_scikit_learn_is_one_line_exit_2(tmp_path, capsys, monkeypatch):
    _classification_file(tmp_path / "d.npz")
    monkeypatch.delitem(sys.modules, "cvxlift.estimators", raising=False)
    monkeypatch.setitem(sys.modules, "sklearn", None)  # import sklearn -> ImportError
    assert run(["train", "--data", str(tmp_path / "d.npz"), "--out", str(tmp_path / "m.npz")]) == 2
    assert "scikit-learn" in _one_line_error(capsys.readouterr(), "cvxlift train")


def test_train_needs_a_data_source(capsys):
    assert run(["train"]) == 2
    assert "--data" in capsys.readouterr().err


def test_predict_errors_are_one_line_exit_2(tmp_path, capsys):
    _classification_file(tmp_path / "d.npz")
    assert run(["predict", "--model", str(tmp_path / "nope.npz"), "--data", str(tmp_path / "d.npz")]) == 2
    assert "no such file" in _one_line_error(capsys.readouterr(), "cvxlift predict")
    # a data file is not a model
    assert run(["predict", "--model", str(tmp_path / "d.npz"), "--data", str(tmp_path / "d.npz")]) == 2
    _one_line_error(capsys.readouterr(), "cvxlift predict")
    assert run(["predict", "--model", str(tmp_path / "d.npz"), "--data", str(tmp_path / "nope.npz")]) == 2
    assert "no such file" in _one_line_error(capsys.readouterr(), "cvxlift predict")


def test_predict_feature_mismatch_with_a_saved_network(tmp_path, capsys):
    try:
        from cvxlift import save
    except ImportError as exc:
        pytest.skip(f"cvxlift.save not importable yet ({exc})")
    net = cvxlift.LiftedNetwork([4, 3, 2], "relu", loss="cross_entropy", random_state=0).init_weights()
    model = tmp_path / "net.npz"
    save(net, model)
    X = np.random.default_rng(0).normal(size=(6, 4))
    np.savez(tmp_path / "ok.npz", X=X, y=np.zeros(6, dtype=int))
    np.savez(tmp_path / "wide.npz", X=np.zeros((6, 5)))
    assert run(["predict", "--model", str(model), "--data", str(tmp_path / "ok.npz"), "--out",
                str(tmp_path / "p.csv")]) == 0
    got = [int(ln.split(",")[1]) for ln in (tmp_path / "p.csv").read_text().splitlines()[1:]]
    assert got == list(net.predict(X.T).argmax(axis=0))
    capsys.readouterr()
    assert run(["predict", "--model", str(model), "--data", str(tmp_path / "wide.npz")]) == 2
    assert "5 features" in _one_line_error(capsys.readouterr(), "cvxlift predict")


# ---------------------------------------------------------------------- bench
def test_bench_prints_a_table(capsys):
    assert run(["bench", "--m", "8", "--hidden", "4", "--repeat", "1"]) == 0
    out = capsys.readouterr().out
    header = [ln for ln in out.splitlines() if ln.startswith("block")][0].split()
    assert header[:3] == ["block", "fast", "(s)"]
    for block in ("W-step 0", "X-step 1", "output step"):
        row = [ln for ln in out.splitlines() if ln.startswith(block)]
        assert row, out
        gap = float(row[0].split()[-1])
        assert abs(gap) < 1e-3, row  # both solvers reach the same block optimum


# ---------------------------------------------------------------------- progress and extras
def test_plain_progress_without_tqdm(monkeypatch, capsys):
    from cvxlift import progress as prog

    monkeypatch.setitem(sys.modules, "tqdm", None)
    bar = prog.progress(total=2, desc="sweeps")
    assert isinstance(bar, prog.PlainProgress)
    with bar:
        bar.update(1, objective=2.5)
        bar.write("a line of its own")
        bar.update(1)  # reported by write(): no second line
    captured = capsys.readouterr()
    assert captured.err.splitlines()[0].startswith("sweeps 1/2 ( 50%) objective=2.5")
    assert len(captured.err.splitlines()) == 1
    assert captured.out == "a line of its own\n"
    with pytest.raises(ImportError):
        prog.progress(total=1, use_tqdm=True)


def test_tqdm_progress_when_installed(capsys):
    pytest.importorskip("tqdm")
    from cvxlift import progress as prog

    with prog.progress(total=2, desc="sweeps") as bar:
        assert not isinstance(bar, prog.PlainProgress)
        bar.update(1, objective=1.0)
        bar.write("between")
        bar.update(1)
    captured = capsys.readouterr()
    assert "between" in captured.out and "2/2" in captured.err


def test_cli_modules_import_no_optional_extra():
    code = ("import sys, cvxlift.cli, cvxlift.datasets, cvxlift.progress, cvxlift.plotting; "
            "bad = [m for m in ('matplotlib', 'tqdm', 'sklearn', 'torch') if m in sys.modules]; "
            "assert not bad, bad")
    env = dict(os.environ, PYTHONPATH=os.pathsep.join(filter(None, [str(ROOT), os.environ.get("PYTHONPATH")])))
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=str(ROOT), env=env,
                          timeout=300)
    assert proc.returncode == 0, proc.stdout + proc.stderr
