"""cvxlift.distributed on a LocalCluster of two workers: the same fit as in memory (1e-10) and
``cvxlift train --scheduler`` joining the cluster (workers in this process: fast), and a worker
process killed mid-fit (Dask recomputes what was lost: the final objective is the undisturbed
one)."""

import os
import signal

import numpy as np
import pytest

from cvxlift import LiftedNetwork

da = pytest.importorskip("dask.array")
distributed = pytest.importorskip("distributed")

from cvxlift.cli import main  # noqa: E402
from cvxlift.distributed import DaskBackend, connect  # noqa: E402
from cvxlift.training import BCD  # noqa: E402

RNG = np.random.default_rng(5)
X = RNG.normal(size=(8, 240))
Y = np.tanh(X[:3] - X[3:6])


def cols(A):
    return da.from_array(A, chunks=(A.shape[0], 60))


def two_workers(processes):
    # workers in this process measure the memory of the whole test process: no limit for them
    cluster = distributed.LocalCluster(
        n_workers=2,
        threads_per_worker=1,
        processes=processes,
        dashboard_address=":0",
        memory_limit="1GiB" if processes else 0,
    )
    return cluster, distributed.Client(cluster)


@pytest.fixture(scope="module")
def client():
    cluster, c = two_workers(processes=False)
    with cluster, c:
        yield c


def test_two_workers_fit_matches_numpy_and_holds_states_on_both(client):
    kw = dict(random_state=0, lam=1.0, rho=0.1, form="fenchel_hidden")
    opts = {"w_step": {"max_iter": 10, "method": "majorize"}}  # pncg, the in-memory default, is not distributed
    a = LiftedNetwork([8, 12, 3], "relu", **kw).fit(X, Y, solver="fast", max_iter=2, tol=0, fast_options=opts)
    b = LiftedNetwork([8, 12, 3], "relu", **kw).fit(
        cols(X), cols(Y), solver="fast", max_iter=2, tol=0, fast_options=opts
    )
    assert b.history_blocks_ == a.history_blocks_
    assert np.max(np.abs(np.subtract(b.history_, a.history_))) <= 1e-10 * abs(a.history_[-1])
    for Wa, Wb in zip(a.weights_, b.weights_):
        assert np.max(np.abs(Wb - Wa)) <= 1e-10 * np.max(np.abs(Wa))
    where = client.who_has(b.states_[0])
    assert len({w for ws in where.values() for w in ws}) == 2  # the states live on both workers
    assert np.max(np.abs(b.states_[0].compute() - a.states_[0])) <= 1e-10 * np.max(np.abs(a.states_[0]))


def test_cli_train_joins_a_running_scheduler(client, tmp_path, capsys):
    rng = np.random.default_rng(0)
    data = tmp_path / "d.npz"
    Xr = rng.normal(size=(200, 5))
    np.savez(data, X=Xr, y=(Xr[:, 0] > 0).astype(int))
    out = tmp_path / "m.npz"
    # identity hidden units: ridge W-steps, as in memory (a ReLU's Fenchel-Young W-step is pncg in memory)
    common = ["train", "--data", str(data), "--hidden", "4", "--sweeps", "1", "--activation", "identity"]
    rc = main(common + ["--scheduler", client.scheduler.address, "--chunk-rows", "50", "--out", str(out)])
    captured = capsys.readouterr()
    text = captured.out
    assert rc == 0 and out.exists(), text + captured.err
    assert "dask: 2 worker(s), 4 chunks of up to 50 samples; dashboard: http" in text
    assert "sweep 1: lifted objective" in text
    # the same model as in memory
    rc = main(common + ["--out", str(tmp_path / "n.npz")])
    assert rc == 0
    import cvxlift

    m1, m2 = cvxlift.load(str(out)), cvxlift.load(str(tmp_path / "n.npz"))
    assert all(np.max(np.abs(c1 - c2)) <= 1e-10 * np.max(np.abs(c2)) for c1, c2 in zip(m1.coefs_, m2.coefs_))


def test_connect_to_a_scheduler_is_the_current_client_of_its_block(client):
    """Another client of this process (the fixture's) is current outside the block; inside,
    the block's client computes what it persisted (no future of one client sent by another)."""
    with connect(scheduler=client.scheduler.address) as c:
        assert c is not client and distributed.default_client() is c
        (x,) = c.persist([da.arange(12, chunks=4)])
        assert int(x.sum().compute()) == 66
    assert distributed.default_client() is client


def test_cli_refuses_an_unreachable_scheduler(tmp_path, capsys, monkeypatch):
    from cvxlift.distributed import cluster

    monkeypatch.setattr(cluster, "CONNECT_TIMEOUT", "1s")
    data = tmp_path / "d.npz"
    np.savez(data, X=np.ones((4, 2)), y=np.array([0, 1, 0, 1]))
    rc = main(["train", "--data", str(data), "--scheduler", "tcp://127.0.0.1:9", "--out", str(tmp_path / "m.npz")])
    err = capsys.readouterr().err
    assert rc == 2 and "cannot connect" in err and "Traceback" not in err


class KillsAWorker(DaskBackend):
    """Kills a worker in the second sweep, before its first W-step reads the states that worker
    held: with ``processes`` a worker process (SIGKILL), else a worker of this process (closed:
    its data is lost)."""

    def __init__(self, cluster, processes, **kw):
        super().__init__(**kw)
        self.cluster, self.processes = cluster, processes
        self.w_steps, self.killed = 0, None

    def w_step(self, net, l, A, Z):
        self.w_steps += 1
        if self.w_steps == net.n_layers + 1:
            client = distributed.Client.current()
            holders = client.who_has(Z)
            self.killed = sorted({w for ws in holders.values() for w in ws})[0]
            if self.processes:
                os.kill(client.run(os.getpid)[self.killed], signal.SIGKILL)
            else:
                worker = next(w for w in self.cluster.workers.values() if w.address == self.killed)
                self.cluster.sync(worker.close)
        return super().w_step(net, l, A, Z)


def _killed_mid_fit(processes):
    kw = dict(random_state=0, lam=1.0, rho=0.1)
    a = LiftedNetwork([8, 12, 3], "relu", **kw).fit(X, Y, solver="fast", max_iter=2, tol=0)  # undisturbed
    cluster, client = two_workers(processes=processes)
    with cluster, client:
        Xd, Yd = client.persist([cols(X), cols(Y)])
        backend = KillsAWorker(cluster, processes)
        b = LiftedNetwork([8, 12, 3], "relu", **kw)
        run = BCD(backend, max_iter=2, tol=0).fit(b, Xd, Yd)
        assert backend.killed not in client.scheduler_info()["workers"]
        state = b.states_[0].compute()
    assert backend.killed is not None and run.n_iter == 2 and not run.interrupted
    assert run.history_blocks == a.history_blocks_
    assert abs(run.history[-1] - a.history_[-1]) <= 1e-10 * abs(a.history_[-1])
    assert np.max(np.abs(b.weights_[0] - a.weights_[0])) <= 1e-10 * np.max(np.abs(a.weights_[0]))
    assert np.max(np.abs(state - a.states_[0])) <= 1e-10 * np.max(np.abs(a.states_[0]))


def test_a_worker_lost_mid_fit_does_not_lose_the_fit():
    """Dask recomputes the lost chunks from their lineage: the fit ends as the undisturbed one."""
    _killed_mid_fit(processes=False)


@pytest.mark.slow
def test_a_worker_process_killed_mid_fit_does_not_lose_the_fit():
    _killed_mid_fit(processes=True)


@pytest.mark.slow
def test_connect_starts_and_closes_a_local_cluster():
    with connect(workers=2) as c:
        assert len(c.scheduler_info()["workers"]) == 2
        net = LiftedNetwork([8, 12, 3], "relu", random_state=0).fit(cols(X), cols(Y), solver="fast", max_iter=1)
        assert np.isfinite(net.history_[-1])
    assert c.status == "closed"


@pytest.mark.slow
def test_cli_train_starts_a_local_cluster(tmp_path, capsys):
    """``cvxlift train --workers 2``: a LocalCluster of two worker processes, closed at the end."""
    rng = np.random.default_rng(1)
    data = tmp_path / "d.npz"
    Xr = rng.normal(size=(120, 5))
    np.savez(data, X=Xr, y=Xr[:, 0] - Xr[:, 1])
    common = [
        "train",
        "--data",
        str(data),
        "--task",
        "regress",
        "--hidden",
        "3",
        "--sweeps",
        "2",
        "--activation",
        "identity",
    ]
    rc = main(common + ["--workers", "2", "--out", str(tmp_path / "m.npz")])
    text = capsys.readouterr().out
    assert rc == 0, text
    assert "dask: 2 worker(s), 8 chunks of up to 15 samples; dashboard: http" in text
    assert main(common + ["--out", str(tmp_path / "n.npz")]) == 0
    import cvxlift

    m1, m2 = cvxlift.load(str(tmp_path / "m.npz")), cvxlift.load(str(tmp_path / "n.npz"))
    assert all(np.max(np.abs(c1 - c2)) <= 1e-10 * np.max(np.abs(c2)) for c1, c2 in zip(m1.coefs_, m2.coefs_))
