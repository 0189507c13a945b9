"""The array libraries the certification tests run on: numpy always, torch (CPU) when importable.

``lib`` is a fixture parametrised over ``"numpy"`` and ``"torch"``; the torch case is skipped
cleanly where torch or array-api-compat is not installed. :func:`to_lib` converts a solver's
inputs to that library; :func:`from_lib` checks that a result came back in it (torch tensors on
the input's device) and converts it to numpy for the CVXPY reference check.
"""

import pytest

LIBS = ["numpy", "torch"]


@pytest.fixture(params=LIBS)
def lib(request):
    if request.param == "torch":
        pytest.importorskip("torch")
        pytest.importorskip("array_api_compat")
    return request.param
