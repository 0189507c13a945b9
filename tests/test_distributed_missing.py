"""Without Dask: ``cvxlift train --workers`` and a DaskBackend say what to install (runs with or
without Dask installed: the import is blocked here)."""

import sys

import numpy as np
import pytest

from cvxlift.cli import main


@pytest.fixture
def no_dask(monkeypatch):
    for name in ("dask", "dask.array", "distributed"):
        monkeypatch.setitem(sys.modules, name, None)


def test_cli_workers_without_dask_says_what_to_install(no_dask, tmp_path, capsys):
    data = tmp_path / "d.npz"
    np.savez(data, X=np.ones((4, 2)), y=np.array([0, 1, 0, 1]))
    rc = main(["train", "--data", str(data), "--workers", "2", "--out", str(tmp_path / "m.npz")])
    err = capsys.readouterr().err
    assert rc == 2 and 'pip install "cvxlift[dask]"' in err and "Traceback" not in err
    assert not (tmp_path / "m.npz").exists()


def test_dask_backend_without_dask_says_what_to_install(no_dask):
    from cvxlift.distributed import DaskBackend

    with pytest.raises(ImportError, match="dask"):
        DaskBackend()
