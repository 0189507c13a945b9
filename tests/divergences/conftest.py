"""Fixtures of the divergence tests: the example user atoms (``examples/user_atoms.py``)."""

import runpy
from pathlib import Path

import pytest

EXAMPLE = Path(__file__).resolve().parents[2] / "examples" / "user_atoms.py"


@pytest.fixture(scope="session")
def user_atoms():
    """``name -> factory`` of the example user atoms."""
    return runpy.run_path(str(EXAMPLE), run_name="user_atoms")["ATOMS"]
