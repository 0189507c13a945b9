r"""Column chunks of Dask arrays: per-chunk maps and tree reductions, and the checks at the doors.

Every array of one fit shares the column chunks of the data ``X`` (rows in one chunk): the
columns :math:`j \in J_k` of chunk :math:`k` of ``X``, ``Y`` and every state belong together.
:func:`map_columns` applies a numpy function to the chunks (one task per chunk, whose outputs
become new column-chunked arrays); :func:`reduce_columns` sums per-chunk partial results in a
tree (fan-in :data:`FAN_IN`), so the client receives only the small total.
"""

import numpy as np

from ..exceptions import ValidationError
from .detect import is_dask, require_dask

__all__ = [
    "FAN_IN",
    "blocks",
    "compute",
    "persist",
    "placement",
    "share",
    "map_columns",
    "reduce_columns",
    "add_partials",
    "as_columns",
    "column_chunks",
]

#: Partial results summed per task of a reduction tree.
FAN_IN = 8


def compute(*collections):
    """``dask.compute`` on the active scheduler (a distributed client when one is set), without
    graph optimisation: a key keeps one definition in every graph it is sent in (the scheduler
    may hold it from an earlier one), and the graphs here are already one task per chunk.

    Parameters
    ----------
    *collections : Dask collections

    Returns
    -------
    tuple
        Their values, on the client.
    """
    dask = require_dask()
    return dask.compute(*collections, optimize_graph=False)


def persist(*collections):
    """``dask.persist`` (kept on the workers), without graph optimisation (see :func:`compute`).

    Parameters
    ----------
    *collections : Dask collections

    Returns
    -------
    tuple
        The same collections, computed and held by the workers (in this process for the
        local schedulers).
    """
    dask = require_dask()
    return dask.persist(*collections, optimize_graph=False)


def share(value):
    """``value`` as one Dask key (sent once to each worker that needs it), not copied into
    every task.

    Parameters
    ----------
    value : object

    Returns
    -------
    Delayed
    """
    dask = require_dask()
    return dask.delayed(value, traverse=False)


def blocks(a):
    """The column chunks of ``a`` (rows in one chunk) as a list of Delayed objects; pass the list
    instead of the array to :func:`reduce_columns` when it is reduced many times (iterations).

    Parameters
    ----------
    a : dask array (p, m)

    Returns
    -------
    list of Delayed
    """
    if a.numblocks[0] != 1:
        a = a.rechunk({0: -1})
    return list(a.to_delayed(optimize_graph=False).ravel())


def _count(a):
    return len(a) if isinstance(a, list) else a.numblocks[1]


def _blocks(a, n):
    if a is None:
        return [None] * n
    if isinstance(a, list):
        if len(a) != n:
            raise ValidationError(
                f"arrays of one computation must share their column chunks; got {len(a)} chunks and {n}"
            )
        return a
    if a.numblocks[0] != 1:
        a = a.rechunk({0: -1})
    blocks = a.to_delayed(optimize_graph=False).ravel()
    if len(blocks) != n:
        raise ValidationError(
            f"arrays of one computation must share their column chunks; got {a.numblocks[1]} chunks and {n}"
        )
    return list(blocks)


def placement(cols):
    """Where each chunk's task should run: on a distributed cluster, the worker that holds the
    chunk of the first argument that is in memory there (so that the columns of one chunk stay
    together and no task moves a chunk to another worker: the scheduler would otherwise balance
    load by moving chunks); ``None`` on the local schedulers. Waits for the arguments' chunks
    that are still being computed.

    Parameters
    ----------
    cols : list of lists of Delayed (or None)
        The chunks of each argument (:func:`blocks`).

    Returns
    -------
    list of str or None
        One worker address (or ``None``) per chunk, or ``None``.
    """
    dask = require_dask()
    try:
        from distributed import default_client, futures_of, wait

        client = default_client()
    except (ImportError, ValueError):
        return None
    if dask.base.get_scheduler() != client.get:
        return None
    n = len(cols[0])
    chunks = [d for c in cols if c[0] is not None for d in c]
    wait(futures_of(chunks))  # an array persisted just before: its chunks' places once computed
    held = client.who_has(chunks)  # the holders of the futures these chunks are
    out = []
    for k in range(n):
        addr = next((held[c[k].key][0] for c in cols if c[k] is not None and held.get(c[k].key)), None)
        out.append(addr)
    return out


def _task(task, k, where, *args, **kw):
    """``task(*args)`` for chunk ``k``, preferring the worker ``where[k]`` (another one may run it
    if that one is gone)."""
    dask = require_dask()
    if where is None or where[k] is None:
        return task(*args, **kw)
    with dask.annotate(workers=[where[k]], allow_other_workers=True):
        return task(*args, **kw)


def map_columns(fn, arrays, params, rows, info=False, name=None):
    """Apply ``fn`` to each column chunk.

    Parameters
    ----------
    fn : callable
        ``fn(*chunks, *params)`` returns a tuple of ``len(rows)`` arrays of shape
        ``(rows[i], n_k)`` (and one more item, the chunk's report, with ``info``).
    arrays : list of dask arrays (or None)
        Column-chunked alike (the first one fixes the chunks).
    params : tuple
        Arguments shared by every chunk (sent once, see :func:`share`).
    rows : tuple of int
        Rows of each output.
    info : bool
        ``fn`` returns a report as its last item.
    name : str, optional
        Prefix of the task names (shown on the dashboard).

    Returns
    -------
    outputs : list of dask arrays
        Chunked like ``arrays[0]``.
    reports : list of Delayed
        One per chunk (empty without ``info``).
    """
    dask = require_dask()
    import dask.array as da

    chunks = arrays[0].chunks[1]
    cols = [_blocks(a, len(chunks)) for a in arrays]
    shared = share(tuple(params))
    nout = len(rows) + (1 if info else 0)
    task = dask.delayed(_call, pure=True, nout=nout)
    prefix = name or getattr(fn, "__name__", "chunk")
    outs, reports = [[] for _ in rows], []
    where = placement(cols)
    for k, n_k in enumerate(chunks):
        args = [c[k] for c in cols]
        res = _task(
            task, k, where, fn, shared, *args, dask_key_name=f"{prefix}-{dask.base.tokenize(fn, shared, *args)}"
        )
        for i, r in enumerate(rows):
            outs[i].append(da.from_delayed(res[i], shape=(int(r), int(n_k)), dtype=np.float64))
        if info:
            reports.append(res[len(rows)])
    return [da.concatenate(o, axis=1) for o in outs], reports


def _call(fn, shared, *chunks):
    out = fn(*chunks, *shared)
    return out if isinstance(out, tuple) else (out,)


def add_partials(*parts):
    """Elementwise sum of tuples of partial results (arrays, numbers, or lists: concatenated).

    Parameters
    ----------
    *parts : tuples of the same length

    Returns
    -------
    tuple
    """
    out = list(parts[0])
    for p in parts[1:]:
        for i, v in enumerate(p):
            out[i] = out[i] + v
    return tuple(out)


def reduce_columns(fn, arrays, params=(), name=None):
    """Sum over column chunks of ``fn(*chunks, *params)`` (a tuple of arrays or numbers), as one
    Delayed tuple (a tree of fan-in :data:`FAN_IN`; compute it, alone or with others).

    On a distributed cluster the chunks' partial results are first summed on the worker that
    holds them (the tree's leaves are grouped by worker), so a reduction sends about one
    partial result per worker, not one per chunk; the order of the floating-point sums then
    follows the chunks' placement (it differs between runs by round-off only).

    Parameters
    ----------
    fn : callable
    arrays : list of dask arrays (or None, or lists from :func:`blocks`), column-chunked alike
    params : tuple
    name : str, optional

    Returns
    -------
    Delayed
    """
    dask = require_dask()
    n = _count(arrays[0])
    cols = [_blocks(a, n) for a in arrays]
    shared = share(tuple(params))
    task = dask.delayed(_call, pure=True)
    add = dask.delayed(add_partials, pure=True)
    prefix = name or getattr(fn, "__name__", "partial")
    parts = []
    where = placement(cols)
    order = range(n) if where is None else sorted(range(n), key=lambda k: (where[k] or "", k))
    for k in order:
        args = [c[k] for c in cols]
        parts.append(
            _task(task, k, where, fn, shared, *args, dask_key_name=f"{prefix}-{dask.base.tokenize(fn, shared, *args)}")
        )
    while len(parts) > 1:
        parts = [
            add(*parts[i : i + FAN_IN]) if len(parts[i : i + FAN_IN]) > 1 else parts[i]
            for i in range(0, len(parts), FAN_IN)
        ]
    return parts[0]


def column_chunks(a, name):
    """The column chunks of a Dask array, with a clear error for unknown chunk sizes.

    Parameters
    ----------
    a : dask array (p, m)
    name : str
        Argument name for the error.

    Returns
    -------
    tuple of int
    """
    chunks = a.chunks[1]
    if any(np.isnan(c) for c in chunks) or any(np.isnan(c) for c in a.chunks[0]):
        raise ValidationError(
            f"{name} has unknown chunk sizes (e.g. from a dataframe): call "
            f"{name}.compute_chunk_sizes() first, or to_dask_array(lengths=True)"
        )
    return chunks


def as_columns(a, name, rows=None, like=None):
    """``a`` (a Dask or numpy array, one column per data point) as a Dask array with its rows in
    one chunk and, with ``like``, the column chunks of ``like``.

    Only the metadata is checked here (dimensions, dtype, rows, columns); the values are
    checked where they are read.

    Parameters
    ----------
    a : dask array or array-like
    name : str
        Argument name for the errors.
    rows : int, optional
        Required number of rows.
    like : dask array, optional
        Take its column chunks (and require its number of columns).

    Returns
    -------
    dask array
    """
    require_dask()
    import dask.array as da

    if a is None:
        raise ValidationError(f"{name} is None; expected a 2-D array")
    if not is_dask(a):
        from ..validation import as_real_array

        arr = as_real_array(a, name)
        if arr.ndim != 2:
            raise ValidationError(f"{name} must be a 2-D array (one column per data point); got shape {arr.shape}")
        a = da.from_array(arr, chunks=(arr.shape[0], like.chunks[1] if like is not None else arr.shape[1]))
    if not isinstance(a, da.Array):
        raise ValidationError(
            f"{name} must be a dask.array.Array (or a numpy array); got {type(a).__name__}: "
            f"convert a dataframe with .to_dask_array(lengths=True)"
        )
    if a.ndim != 2:
        raise ValidationError(f"{name} must be a 2-D array (one column per data point); got shape {a.shape}")
    if a.dtype.kind not in "biuf":
        raise ValidationError(f"{name} must be a real numeric array; got dtype {a.dtype}")
    column_chunks(a, name)
    if a.shape[1] == 0 or a.shape[0] == 0:
        raise ValidationError(f"{name} is empty (shape {a.shape}); expected at least one data point")
    if rows is not None and a.shape[0] != rows:
        raise ValidationError(f"{name} must have {rows} rows (one column per data point); got shape {a.shape}")
    if a.numblocks[0] != 1:
        a = a.rechunk({0: -1})
    if like is not None:
        if a.shape[1] != like.shape[1]:
            raise ValidationError(f"{name} must have {like.shape[1]} columns (one per data point); got shape {a.shape}")
        if a.chunks[1] != like.chunks[1]:
            a = a.rechunk({1: like.chunks[1]})
    return a
