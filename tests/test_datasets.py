"""The built-in MNIST sample (package data) and :func:`cvxlift.datasets.load_mnist_sample`."""

import os
import shutil
import subprocess
import sys
import zipfile
from pathlib import Path

import numpy as np
import pytest

import cvxlift
from cvxlift.datasets import load_mnist_sample, one_hot

ROOT = Path(__file__).resolve().parents[1]
DATA = ROOT / "cvxlift" / "data"


def test_shapes_dtypes_and_range():
    X_tr, y_tr, X_te, y_te = load_mnist_sample()
    assert X_tr.shape == (1500, 784) and X_te.shape == (500, 784)
    assert y_tr.shape == (1500,) and y_te.shape == (500,)
    assert X_tr.dtype == np.float64 and y_tr.dtype == np.int64
    for X in (X_tr, X_te):
        assert X.min() == 0.0 and X.max() == 1.0
        assert np.all(np.isclose(X * 255, np.round(X * 255)))  # grey levels / 255
    # class-stratified: every digit equally often
    assert np.bincount(y_tr).tolist() == [150] * 10
    assert np.bincount(y_te).tolist() == [50] * 10
    # real digits: about 19% of MNIST pixels are non-zero, the border is empty
    assert 0.1 < np.mean(X_tr > 0) < 0.3
    assert X_tr.reshape(-1, 28, 28)[:, 0, :].max() == 0.0


def test_train_and_test_are_disjoint():
    X_tr, _, X_te, _ = load_mnist_sample()
    rows = {r.tobytes() for r in (X_tr * 255).astype(np.uint8)}
    assert not any(r.tobytes() in rows for r in (X_te * 255).astype(np.uint8))


def test_splits_and_column_layout():
    X, y = load_mnist_sample("test")
    Xc, Y = load_mnist_sample("test", as_columns=True)
    assert Xc.shape == (784, 500) and Y.shape == (10, 500)
    np.testing.assert_array_equal(Xc, X.T)
    np.testing.assert_array_equal(Y.argmax(axis=0), y)
    np.testing.assert_array_equal(Y.sum(axis=0), 1.0)
    Xt, yt = load_mnist_sample("train")
    assert Xt.shape == (1500, 784) and yt.shape == (1500,)
    np.testing.assert_array_equal(one_hot([2, 0], 3), [[0, 1], [0, 0], [1, 0]])


def test_bad_split():
    with pytest.raises(cvxlift.ValidationError, match="split"):
        load_mnist_sample("validation")


def test_package_data_files():
    npz = DATA / "mnist_sample.npz"
    assert npz.stat().st_size < 1_000_000
    with np.load(npz, allow_pickle=False) as d:
        assert sorted(d.files) == ["X_test", "X_train", "y_test", "y_train"]
        assert all(d[k].dtype == np.uint8 for k in d.files)
    licence = (DATA / "LICENSE-mnist.txt").read_text(encoding="utf-8")
    for fragment in ("Yann LeCun", "Corinna Cortes", "Burges", "CC BY-SA 3.0", "mnist` 1.1.0", "MIT"):
        assert fragment in licence
    assert (DATA / "README.md").exists()


def test_a_lifted_network_learns_the_sample():
    X, Y, Xt, Yt = load_mnist_sample(as_columns=True)
    net = cvxlift.LiftedNetwork([784, 20, 10], "relu", loss="cross_entropy", lam=1.0, rho=10.0, random_state=0)
    net.fit(X[:, :500], Y[:, :500], solver="fast", max_iter=3)
    acc = np.mean(net.predict(Xt).argmax(axis=0) == Yt.argmax(axis=0))
    assert acc > 0.5  # far above chance (0.1) after three sweeps


def test_wheel_ships_the_data_and_loads_it_from_the_zip(tmp_path):
    """Build a wheel from a copy of the sources; import cvxlift from the wheel (a zip) and load."""
    pytest.importorskip("setuptools")
    src = tmp_path / "src"
    src.mkdir()
    for name in ("setup.cfg", "setup.py", "README.md", "LICENSE"):
        shutil.copy(ROOT / name, src / name)
    shutil.copytree(ROOT / "cvxlift", src / "cvxlift", ignore=shutil.ignore_patterns("__pycache__", "*.pyc"))
    proc = subprocess.run(
        [
            sys.executable,
            "-m",
            "pip",
            "wheel",
            "--no-deps",
            "--no-build-isolation",
            "-q",
            "-w",
            str(tmp_path / "dist"),
            str(src),
        ],
        capture_output=True,
        text=True,
        timeout=300,
        stdin=subprocess.DEVNULL,
    )
    if proc.returncode != 0:
        pytest.skip(f"cannot build a wheel here: {proc.stderr.strip().splitlines()[-1:]}")
    wheel = next((tmp_path / "dist").glob("cvxlift-*.whl"))
    names = set(zipfile.ZipFile(wheel).namelist())
    for f in ("cvxlift/data/mnist_sample.npz", "cvxlift/data/LICENSE-mnist.txt", "cvxlift/data/README.md"):
        assert f in names, sorted(names)
    assert not any("make_mnist_sample" in n for n in names)
    code = (
        "import cvxlift, cvxlift.datasets as d; assert '.whl' in cvxlift.__file__, cvxlift.__file__; "
        "X, y = d.load_mnist_sample('test'); assert X.shape == (500, 784); print('ok')"
    )
    env = dict(os.environ, PYTHONPATH=str(wheel))
    proc = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, cwd=str(tmp_path), env=env, timeout=300
    )
    assert proc.returncode == 0 and "ok" in proc.stdout, proc.stdout + proc.stderr
