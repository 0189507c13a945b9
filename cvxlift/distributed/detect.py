"""Is an argument a Dask collection? Answered without importing Dask (``import cvxlift`` must not)."""

import sys

__all__ = ["is_dask", "require_dask"]


def is_dask(*values):
    """``True`` when any of ``values`` is a Dask collection (array, dataframe, delayed).

    Dask is not imported: when it has not been imported yet, no value can be a Dask
    collection.

    Parameters
    ----------
    *values : objects

    Returns
    -------
    bool
    """
    dask = sys.modules.get("dask")
    if dask is None:
        return False
    return any(dask.is_dask_collection(v) for v in values)


def require_dask():
    """Import ``dask``, ``dask.array`` and ``dask.distributed`` names used here, or raise an
    :class:`ImportError` that says how to install them.

    Returns
    -------
    module
        ``dask``.
    """
    try:
        import dask
        import dask.array  # noqa: F401
    except ImportError as exc:  # tests/test_distributed_missing.py
        raise ImportError(
            f'cvxlift.distributed needs Dask ({exc}); install it with `pip install "cvxlift[dask]"`'
        ) from exc
    return dask
