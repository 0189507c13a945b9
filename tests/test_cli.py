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
        "identity_claimed_relu",
        forward=lambda U: np.maximum(U, 0),
        phi=ident.phi,
        phi_star=ident.phi_star,
        phi_value=ident.phi_value,
        phi_star_value=ident.phi_star_value,
        prox_phi=ident.prox_phi,
        register=True,
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
    proc = subprocess.run(
        [sys.executable, "-m", "cvxlift", "verify", "identity", *FAST],
        capture_output=True,
        text=True,
        cwd=str(ROOT),
        env=env,
        timeout=300,
    )
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "identity  PASSED" in proc.stdout
    proc = subprocess.run(
        [sys.executable, "-m", "cvxlift", "--version"],
        capture_output=True,
        text=True,
        cwd=str(ROOT),
        env=env,
        timeout=300,
    )
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
        from cvxlift import (
            load,  # noqa: F401
            save,  # noqa: F401
        )

        return cvxlift.LiftedMLPClassifier
    except (ImportError, AttributeError) as exc:
        pytest.skip(
            f"cvxlift.LiftedMLPClassifier / cvxlift.save / cvxlift.load not importable yet ({exc}); "
            "train/predict need them"
        )


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
    assert [r[0] for r in rows] == ["0", "1"], text  # the initial row and one sweep
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
    status = run(
        [
            "train",
            "--data",
            str(tmp_path / "data.npz"),
            "--hidden",
            "8",
            "--sweeps",
            "3",
            "--lam",
            "1",
            "--rho",
            "0.001",
            "--seed",
            "1",
            "--out",
            str(model),
        ]
    )
    captured = capsys.readouterr()
    if status != 0 and "only accepts the model kinds" in captured.err:
        reason = [ln for ln in captured.err.splitlines() if "error:" in ln][0]
        pytest.skip(
            "cvxlift.save does not accept LiftedMLPClassifier yet (persistence.MODEL_KINDS); "
            f"the lead integrates: {reason}"
        )
    assert status == 0, captured.err
    assert "sweep 1: lifted objective" in captured.out
    assert f"model written to {model}" in captured.out
    assert model.exists()

    # the same estimator, fitted directly, predicts the same labels
    ref = Classifier(
        hidden_layer_sizes=(8,), activation="relu", lam=1.0, rho=1e-3, max_iter=3, solver="fast", random_state=1
    ).fit(X, y)
    preds = tmp_path / "preds.csv"
    assert run(["predict", "--model", str(model), "--data", str(tmp_path / "data.npz"), "--out", str(preds)]) == 0
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
    monkeypatch.setattr(
        datasets, "load_mnist_sample", lambda *a, **k: (small[0][:120], small[1][:120], small[2][:50], small[3][:50])
    )
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
    assert (
        run(["predict", "--model", str(model), "--data", str(tmp_path / "ok.npz"), "--out", str(tmp_path / "p.csv")])
        == 0
    )
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
    code = (
        "import sys, cvxlift.cli, cvxlift.datasets, cvxlift.progress, cvxlift.plotting; "
        "bad = [m for m in ('matplotlib', 'tqdm', 'sklearn', 'torch') if m in sys.modules]; "
        "assert not bad, bad"
    )
    env = dict(os.environ, PYTHONPATH=os.pathsep.join(filter(None, [str(ROOT), os.environ.get("PYTHONPATH")])))
    proc = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, cwd=str(ROOT), env=env, timeout=300
    )
    assert proc.returncode == 0, proc.stdout + proc.stderr


# ---------------------------------------------------------------------- issue 12, family 5: the command's doors
def _write_table(path, X, labels, delimiter=",", header=True):
    import csv

    with open(path, "w", newline="", encoding="utf-8") as fh:
        w = csv.writer(fh, delimiter=delimiter, lineterminator="\n")
        if header:
            w.writerow([f"f{j}" for j in range(X.shape[1])] + ["label"])
        w.writerows([*map(repr, row), lab] for row, lab in zip(X.tolist(), labels))
    return path


@pytest.mark.parametrize("fmt", ["csv_header", "csv_no_header", "semicolon", "npy"])
@pytest.mark.filterwarnings("ignore::Warning")
def test_train_and_predict_read_csv_and_npy(fmt, tmp_path, capsys):
    _estimators_or_skip()
    rng = np.random.default_rng(0)
    X = rng.normal(size=(40, 3))
    y = (X[:, 0] > 0).astype(int)
    if fmt == "npy":
        data = tmp_path / "d.npy"
        np.save(data, np.column_stack([X, y]))
    else:
        delimiter = ";" if fmt == "semicolon" else ","
        data = _write_table(tmp_path / "d.csv", X, y.tolist(), delimiter, fmt != "csv_no_header")
    model = tmp_path / "m.npz"
    assert run(["train", "--data", str(data), "--hidden", "3", "--sweeps", "2", "--out", str(model)]) == 0
    assert "40 samples, 3 features" in capsys.readouterr().out
    assert run(["predict", "--model", str(model), "--data", str(data)]) == 0  # the last column is y: scored
    captured = capsys.readouterr()
    assert captured.out.splitlines()[0] == "index,prediction" and len(captured.out.splitlines()) == 41
    assert "40 predictions (forward rule); accuracy" in captured.err


@pytest.mark.filterwarnings("ignore::Warning")
def test_predict_csv_is_quoted_and_formula_safe(tmp_path, capsys):
    import csv

    _estimators_or_skip()
    rng = np.random.default_rng(1)
    X = rng.normal(size=(40, 2))
    names = np.array(['a,"b"', '=HYPERLINK("http://x")'])
    data = _write_table(tmp_path / "d.csv", X, names[(X[:, 0] > 0).astype(int)].tolist())
    assert run(["train", "--data", str(data), "--hidden", "3", "--sweeps", "3", "--out", str(tmp_path / "m")]) == 0
    assert (
        run(["predict", "--model", str(tmp_path / "m.npz"), "--data", str(data), "--out", str(tmp_path / "p.csv")]) == 0
    )
    capsys.readouterr()
    with open(tmp_path / "p.csv", newline="", encoding="utf-8") as fh:
        rows = list(csv.reader(fh))
    assert rows[0] == ["index", "prediction"] and all(len(r) == 2 for r in rows)
    assert {r[1] for r in rows[1:]} <= {'a,"b"', '\'=HYPERLINK("http://x")'}  # quoted; the formula neutralised
    assert not any(r[1].startswith("=") for r in rows[1:])


def test_predict_scores_only_a_y_of_the_right_shape(tmp_path, capsys):
    net = cvxlift.LiftedNetwork([4, 3, 2], "relu", random_state=0).init_weights()  # squared loss: 2 outputs
    cvxlift.save(net, tmp_path / "net.npz")
    X = np.random.default_rng(0).normal(size=(6, 4))
    np.savez(tmp_path / "bad.npz", X=X, y=np.zeros(6))
    assert run(["predict", "--model", str(tmp_path / "net.npz"), "--data", str(tmp_path / "bad.npz")]) == 2
    line = _one_line_error(capsys.readouterr(), "cvxlift predict")
    assert "y has shape (6,) but the model predicts shape (6, 2)" in line
    np.savez(tmp_path / "ok.npz", X=X, y=np.zeros((6, 2)))
    assert run(["predict", "--model", str(tmp_path / "net.npz"), "--data", str(tmp_path / "ok.npz")]) == 0
    assert "R^2" in capsys.readouterr().err


@pytest.mark.parametrize(
    "argv, option",
    [
        (["verify", "relu", "--seed", "-1"], "--seed"),
        (["verify", "relu", "--n-random", "0"], "--n-random"),
        (["demo", "--seed", "4294967296"], "--seed"),
        (["train", "--builtin", "--seed", "x"], "--seed"),
        (["bench", "--seed", "-5"], "--seed"),
        (["train", "--data", "d.csv", "--delimiter", "ab"], "--delimiter"),
        (["train", "--data", "d.csv", "--header", "maybe"], "--header"),
    ],
)
def test_argument_errors_exit_2_without_traceback(argv, option, capsys):
    assert run(argv) == 2
    err = capsys.readouterr().err
    assert f"error: argument {option}" in err and "Traceback" not in err


def test_bench_sizes_are_checked_before_allocating(monkeypatch, capsys):
    assert run(["bench", "--m", "1000000000"]) == 2
    assert "the built-in sample has 1500 training digits" in _one_line_error(capsys.readouterr(), "cvxlift bench")
    monkeypatch.setattr(cli, "available_memory", lambda: 10**8)
    monkeypatch.setattr(cli, "run_bench", lambda args: pytest.fail("must not get here"), raising=True)
    assert run(["bench", "--m", "50"]) == 2
    line = _one_line_error(capsys.readouterr(), "cvxlift bench")
    assert "needs about 0.3 GB" in line and "0.1 GB available" in line
    assert cli.bench_memory(1500, 20) > 25e9 > cli.bench_memory(500, 20) > cli.bench_memory(50, 20)


def test_demo_says_the_file_it_writes_and_never_writes_through_a_link(tmp_path, capsys):
    fast = ["--sweeps", "1", "--hidden", "5", "--train-size", "100"]
    (tmp_path / "adir").mkdir()
    (tmp_path / "real.png").write_bytes(b"keep")
    (tmp_path / "link.png").symlink_to(tmp_path / "real.png")
    for out, fragment in (
        (tmp_path / "adir", "it is a directory"),
        (tmp_path / "link.png", "symbolic link"),
        (tmp_path / "plot.pdf", "the plot is a PNG"),
    ):
        assert run(["demo", "--out", str(out), *fast]) == 2
        captured = capsys.readouterr()
        assert fragment in _one_line_error(captured, "cvxlift demo") and "sweep" not in captured.out
    assert (tmp_path / "real.png").read_bytes() == b"keep"
    assert run(["demo", "--out", str(tmp_path / "plot"), *fast]) == 0
    out = capsys.readouterr().out
    if _has("matplotlib"):
        assert f"plot written to {tmp_path / 'plot.png'}" in out
        assert (tmp_path / "plot.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert not (tmp_path / "plot").exists()


def test_predict_out_never_writes_through_a_link(tmp_path, capsys):
    net = cvxlift.LiftedNetwork([2, 3, 2], "relu", random_state=0).init_weights()
    cvxlift.save(net, tmp_path / "net.npz")
    np.save(tmp_path / "x.npy", np.zeros((3, 2)))
    (tmp_path / "target.csv").write_text("keep")
    (tmp_path / "link.csv").symlink_to(tmp_path / "target.csv")
    assert (
        run(
            [
                "predict",
                "--model",
                str(tmp_path / "net.npz"),
                "--data",
                str(tmp_path / "x.npy"),
                "--out",
                str(tmp_path / "link.csv"),
            ]
        )
        == 2
    )
    assert "symbolic link" in _one_line_error(capsys.readouterr(), "cvxlift predict")
    assert (tmp_path / "target.csv").read_text() == "keep"


def test_every_command_reports_an_internal_error_in_one_line(monkeypatch, capsys):
    def broken(atom, **kwargs):
        raise RuntimeError("boom\nsecond line")

    monkeypatch.setattr(cli, "verify", broken)
    assert run(["verify", "relu", *FAST]) == 1
    err = capsys.readouterr().err
    assert (
        err.strip() == "cvxlift verify: internal error: RuntimeError: boom second line (set CVXLIFT_DEBUG=1 "
        "for the traceback)"
    )


def test_train_refuses_a_bad_out_before_training(tmp_path, capsys):
    target = tmp_path / "real.npz"
    target.write_bytes(b"keep")
    link = tmp_path / "link.npz"
    link.symlink_to(target)
    status = run(["train", "--builtin", "--hidden", "5", "--sweeps", "1", "--out", str(link)])
    captured = capsys.readouterr()
    assert status == 2 and "link" in captured.err
    assert "sweep" not in captured.out  # nothing was trained
    assert target.read_bytes() == b"keep"
