"""A Dask client for a fit: a new ``LocalCluster`` of worker processes, or an existing scheduler.

>>> from cvxlift.distributed import connect
>>> with connect(workers=2) as client:          # doctest: +SKIP
...     print(client.dashboard_link)
...     net.fit(X, Y, solver="fast")            # X, Y: dask arrays chunked along columns

On other machines, start a scheduler and workers with Dask's own commands::

    dask scheduler                               # prints tcp://HOST:8786, dashboard on :8787
    dask worker tcp://HOST:8786 --nworkers 1 --nthreads 1 --memory-limit 8GiB

and join it with ``connect(scheduler="tcp://HOST:8786")`` (or ``cvxlift train --scheduler``).
"""

import contextlib

from ..exceptions import ValidationError

__all__ = ["connect", "dashboard_address", "worker_count"]

#: How long to try to reach a scheduler before giving up.
CONNECT_TIMEOUT = "10s"
#: Seconds to wait for the first worker of a scheduler that has none yet.
WAIT_FOR_WORKERS = 60


def dashboard_address(client):
    """The dashboard URL of ``client``'s scheduler, or ``None`` when it has none (e.g. without bokeh).

    Parameters
    ----------
    client : distributed.Client

    Returns
    -------
    str or None
    """
    try:
        return client.dashboard_link
    except Exception:  # the scheduler serves no dashboard
        return None


def worker_count(client):
    """Number of workers of ``client``'s cluster, after waiting (:data:`WAIT_FOR_WORKERS` s) for
    the first one.

    Parameters
    ----------
    client : distributed.Client

    Returns
    -------
    int

    Raises
    ------
    ValidationError
        When no worker joins in time.
    """
    n = len(client.scheduler_info().get("workers", {}))
    if n == 0:
        try:
            client.wait_for_workers(1, timeout=WAIT_FOR_WORKERS)
        except TimeoutError:
            raise ValidationError(
                f"the scheduler has no worker after {WAIT_FOR_WORKERS} s: start some with `dask worker ADDRESS`"
            ) from None
        n = len(client.scheduler_info().get("workers", {}))
    return n


@contextlib.contextmanager
def connect(workers=None, scheduler=None, threads_per_worker=1, memory_limit="auto", dashboard=":0"):
    """A ``distributed.Client`` for the duration of a ``with`` block (the default scheduler of
    every Dask computation inside it).

    Parameters
    ----------
    workers : int, optional
        Start a ``LocalCluster`` of this many worker processes (closed at the end).
    scheduler : str, optional
        Address of a running scheduler (``tcp://host:8786``) to join instead.
    threads_per_worker : int
        Threads of each local worker (1: one BLAS thread per worker process is the usual choice).
    memory_limit : str or int
        Memory limit of each local worker (``"auto"``: the machine's memory over the workers).
    dashboard : str or None
        Address of the local cluster's dashboard (``":0"``: any free port; ``None``: none).

    Yields
    ------
    distributed.Client
    """
    if (workers is None) == (scheduler is None):
        raise ValidationError(
            "connect() needs exactly one of workers=N (a new local cluster) and "
            "scheduler='tcp://host:port' (a running one)"
        )
    try:
        from distributed import Client, LocalCluster
    except ImportError as exc:  # pragma: no cover - the tests skip without distributed
        raise ImportError(
            f'a Dask cluster needs dask.distributed ({exc}); install it with `pip install "cvxlift[dask]"`'
        ) from exc
    if scheduler is not None:
        if not isinstance(scheduler, str) or not scheduler.strip():
            raise ValidationError(f"scheduler must be an address such as 'tcp://host:8786', got {scheduler!r}")
        try:
            client = Client(scheduler, timeout=CONNECT_TIMEOUT)
        except (OSError, TimeoutError) as exc:
            raise ValidationError(f"scheduler={scheduler!r}: cannot connect ({exc})") from None
        try:
            with client.as_current():  # this block's computations go through this client, even where
                yield client  # another client of this process is current
        finally:
            client.close()
        return
    if isinstance(workers, bool) or not isinstance(workers, int) or workers < 1:
        raise ValidationError(f"workers must be a positive integer, got {workers!r}")
    with (
        LocalCluster(
            n_workers=workers,
            threads_per_worker=threads_per_worker,
            processes=True,
            memory_limit=memory_limit,
            dashboard_address=dashboard,
        ) as cluster,
        Client(cluster) as client,
    ):
        yield client
