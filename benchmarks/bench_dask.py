"""Lifted training of 784-300-10 on Dask: time per sweep, peak memory per worker, per-chunk costs.

The data: the 8,000 training digits of ``../shared/data/mnist10k.npz`` tiled to ``--m`` columns
with small pixel noise (uniform in +-2/255, a fresh draw per column chunk: chunk ``k`` from
seed ``k``), generated chunk by chunk *on the workers* (the client holds only the 8,000 digits)
and, with ``--store regenerate``, never stored: every block that reads ``X`` regenerates its
chunks; with ``--store float32`` the chunks are generated once and kept on the workers in
float32 (half the bytes of float64; the kernels read them as float64). Targets: the one-hot
labels of the tiled digits. The network: ReLU hidden layer, simplex output with cross-entropy
(paper eq. 15), lambda = 1, rho = 1e-3, ``solver="fast"`` (per chunk), in the paper's jointly
convex form (``--form joint``: ridge W-steps) or ``fenchel_hidden`` (the first W-step is
majorise-minimise: ``--w-iter`` iterations, each one reduction over the chunks, as the
estimators' ``inner_max_iter=20``). The pre-activations are recomputed where read
(``--preactivations recompute``, the least memory) or kept on the workers (``persist``).

Reported: the time of each sweep (between the engine's callbacks: the W-steps, X-steps, output
step, objective checks and the training score), the peak resident memory of each worker process
(``ru_maxrss``), the time the workers spent in each kind of task per 1,000 columns (from the
task stream), the number of client round trips per sweep, and the bytes the workers sent.
``--numpy`` runs the same fit in memory instead (no Dask) for the per-column overhead, with the
W-step solvers that the Dask backend runs (``majorize`` for the Fenchel-Young hidden layer,
where the in-memory default is now ``pncg``).

Run (OPENBLAS_NUM_THREADS=1 is set for the workers by this script):
    python benchmarks/bench_dask.py --m 64000 --workers 2 --memory-limit 2GiB --sweeps 2 [--form fenchel_hidden]
    python benchmarks/bench_dask.py --m 64000 --workers 2 --store float32 --preactivations persist --sweeps 2
    python benchmarks/bench_dask.py --m 64000 --numpy --sweeps 2
    python benchmarks/bench_dask.py --overhead --workers 2
"""

import argparse
import os
import platform
import resource
import statistics
import sys
import time
from collections import defaultdict

os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")
os.environ.setdefault("OMP_NUM_THREADS", "1")
os.environ.setdefault("MKL_NUM_THREADS", "1")

import numpy as np  # noqa: E402

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.dirname(HERE))

import cvxlift  # noqa: E402
from cvxlift import fast  # noqa: E402
from cvxlift.distributed import wstep as dwstep  # noqa: E402
from cvxlift.training import BCD, Callback, FastBackend  # noqa: E402

DATA = os.path.join(os.path.dirname(HERE), "..", "shared", "data", "mnist10k.npz")
NOISE = 2.0 / 255.0


def load_digits(path):
    if not os.path.exists(path):
        sys.exit(f"bench_dask: data file {path} not found (pass --data)")
    d = np.load(path, allow_pickle=False)
    tr = np.flatnonzero(d["is_test"] == 0)
    return np.ascontiguousarray(d["images"][tr]), d["labels"][tr].astype(np.int64)


def gen_X(start, n, seed, digits, labels):
    """Columns ``start .. start + n`` of the tiled inputs (``digits``: rows are images)."""
    idx = (start + np.arange(n)) % digits.shape[0]
    rng = np.random.default_rng(seed)
    X = np.ascontiguousarray(digits[idx].T, dtype=np.float64)
    X *= 1.0 / 255.0
    noise = rng.random(X.shape, dtype=np.float32)
    noise *= np.float32(2.0 * NOISE)
    noise -= np.float32(NOISE)
    X += noise
    return X


def gen_Y(start, n, seed, digits, labels):
    """Columns ``start .. start + n`` of the one-hot targets."""
    idx = (start + np.arange(n)) % labels.shape[0]
    Y = np.zeros((10, n))
    Y[labels[idx], np.arange(n)] = 1.0
    return Y


def make_chunk(start, n, seed, digits, labels):
    return gen_X(start, n, seed, digits, labels), gen_Y(start, n, seed, digits, labels)


def gen_XY(start, n, seed, digits, labels, dtype):
    """``(X_k, Y_k)`` of one chunk (one task: a chunk's inputs and targets live on one worker)."""
    return gen_X(start, n, seed, digits, labels).astype(dtype, copy=False), gen_Y(start, n, seed, digits, labels)


def dask_data(m, chunk, digits, labels, store):
    """``X`` (784 x m) and ``Y`` (10 x m) as Dask arrays generated chunk by chunk on the workers
    (lazy; ``X`` in float32 with ``store="float32"``, to be persisted)."""
    import dask
    import dask.array as da

    d, lab = dask.delayed(digits, traverse=False), dask.delayed(labels, traverse=False)
    dtype = np.float32 if store == "float32" else np.float64
    xs, ys = [], []
    for k, s in enumerate(range(0, m, chunk)):
        n = min(chunk, m - s)
        X_k, Y_k = dask.delayed(gen_XY, pure=True, nout=2)(s, n, k, d, lab, dtype)
        xs.append(da.from_delayed(X_k, shape=(784, n), dtype=dtype))
        ys.append(da.from_delayed(Y_k, shape=(10, n), dtype=np.float64))
    return da.concatenate(xs, axis=1), da.concatenate(ys, axis=1)


class SweepClock(Callback):
    """Wall-clock and this process's CPU time at the start and after each sweep."""

    def __init__(self):
        self.marks, self.cpu = [], []

    def on_fit_begin(self, run):
        self.marks, self.cpu = [time.time()], [time.process_time()]

    def on_sweep_end(self, run, sweep, objective):
        self.marks.append(time.time())
        self.cpu.append(time.process_time())
        print(
            f"  sweep {sweep + 1}: {self.marks[-1] - self.marks[-2]:.1f} s "
            f"(CPU {self.cpu[-1] - self.cpu[-2]:.1f} s), objective {objective:.6g}",
            flush=True,
        )


def network(form):
    return cvxlift.LiftedNetwork(
        [784, 300, 10],
        "relu",
        loss="cross_entropy",
        lam=1.0,
        rho=1e-3,
        form=None if form == "joint" else form,
        random_state=0,
    )


class SameWSteps(FastBackend):
    """The in-memory fast backend with the W-step candidate the Dask backend runs for each layer
    (``majorize`` where the in-memory default is ``pncg``, which has no distributed counterpart)."""

    def w_step(self, net, l, A, Z):
        d, form = net.activations_[l], net.forms_[l]
        method = dwstep.select(d, form)[1].name
        return fast.w_step(
            A,
            Z,
            d,
            form,
            net.lam_[l],
            net.rho_[l],
            W0=net.weights_[l],
            b0=net.biases_[l],
            evaluate=False,
            cache=self.w_step_caches.get(l),
            method=method,
            **self.options["w_step"],
        )


def run_numpy(args, digits, labels):
    starts = range(0, args.m, args.chunk)
    parts = [make_chunk(s, min(args.chunk, args.m - s), k, digits, labels) for k, s in enumerate(starts)]
    X, Y = np.concatenate([p[0] for p in parts], axis=1), np.concatenate([p[1] for p in parts], axis=1)
    del parts
    clock = SweepClock()
    t0 = time.time()
    backend = SameWSteps(options={"w_step": {"max_iter": args.w_iter}})
    BCD(backend, max_iter=args.sweeps, tol=0, callbacks=[clock]).fit(network(args.form), X, Y)
    total = time.time() - t0
    sweeps = np.diff(clock.marks)
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 2**20
    cpu = np.diff(clock.cpu)
    print(
        f"numpy: initialisation {clock.marks[0] - t0:.1f} s; sweeps {', '.join(f'{s:.1f}' for s in sweeps)} s; "
        f"median {statistics.median(sweeps):.2f} s = {1e3 * statistics.median(sweeps) / args.m:.3f} ms per 1,000 "
        f"columns; total {total:.1f} s; peak memory {peak:.2f} GiB"
    )
    print(f"numpy CPU per sweep after the first: {cpu[-1]:.2f} s = {1e6 * cpu[-1] / args.m:.1f} ms per 1,000 columns")


#: Task kinds by the names cvxlift.distributed gives them (a fused task counts as its first kind here).
KINDS = (
    "joint-x-step",
    "x-step",
    "output-step",
    "w-step-products",
    "w-step-gradient",
    "forward-output",
    "forward",
    "preactivation",
    "column-sums",
    "divergence",
    "loss",
    "check-data",
    "accuracy",
    "add_partials",
    "gen_XY",
)


def _kind(key):
    name = str(key[0] if isinstance(key, tuple) else key)
    return next((k for k in KINDS if k in name), "other")


def run_dask(args, digits, labels):
    import dask
    import distributed

    from cvxlift.distributed import DaskBackend, doors
    from cvxlift.training import Scores

    cluster = distributed.LocalCluster(
        n_workers=args.workers,
        threads_per_worker=1,
        processes=True,
        memory_limit=args.memory_limit,
        dashboard_address=":0",
    )
    client = distributed.Client(cluster)
    print(
        f"dask: {args.workers} worker(s), memory limit {args.memory_limit} each, dashboard {client.dashboard_link}",
        flush=True,
    )
    X, Y = dask_data(args.m, args.chunk, digits, labels, args.store)
    if args.store == "float32":
        X, Y = client.persist([X, Y])
        distributed.wait([X, Y])
    net = network(args.form)
    states_gib = 8.0 * args.m * (300 + 10) / 2**30
    stored = (
        "never stored"
        if args.store == "regenerate"
        else f"kept on the workers in float32: {4.0 * 784 * args.m / 2**30:.2f} GiB"
    )
    print(
        f"m = {args.m}: {X.numblocks[1]} chunks of {args.chunk} columns; states X1, X2: {states_gib:.2f} GiB; "
        f"data X ({8.0 * 784 * args.m / 2**30:.2f} GiB in float64) {stored}; pre-activations: "
        f"{args.preactivations}",
        flush=True,
    )
    round_trips = [0]
    compute = dask.compute

    def counting(*a, **kw):
        round_trips[0] += 1
        return compute(*a, **kw)

    dask.compute = counting
    clock = SweepClock()
    trips = []

    sent_marks = []

    def sent_now():
        return sum(client.run(lambda dask_worker: dask_worker.transfer_outgoing_bytes_total).values())

    cpu_marks = []

    def cpu_now():
        """Worker CPU seconds (thread-cpu) of the tasks so far, by task name prefix."""
        metrics = client.run_on_scheduler(
            lambda dask_scheduler: {
                k[1]: v
                for k, v in dask_scheduler.cumulative_worker_metrics.items()
                if isinstance(k, tuple) and len(k) == 4 and k[0] == "execute" and k[2] == "thread-cpu"
            }
        )
        return defaultdict(float, metrics)

    class Trips(Callback):
        def on_fit_begin(self, run):
            trips.append(round_trips[0])
            sent_marks.append(sent_now())
            cpu_marks.append(cpu_now())

        def on_sweep_end(self, run, sweep, objective):
            trips.append(round_trips[0])
            sent_marks.append(sent_now())
            cpu_marks.append(cpu_now())

    backend = DaskBackend(options={"w_step": {"max_iter": args.w_iter}}, preactivations=args.preactivations)

    scores = Scores(train=lambda run: net._score_output(run.state.forward_output(), run.state.Y))
    client.get_task_stream(start=time.time())  # start recording
    t0 = time.time()
    run = BCD(backend, max_iter=args.sweeps, tol=0, callbacks=[scores, clock, Trips()])
    Xc, Yc = doors.check_XY(net, X, Y)
    run.fit(net, Xc, Yc)
    total = time.time() - t0
    stream = client.get_task_stream(start=t0)
    dask.compute = compute
    sweeps = np.diff(clock.marks)
    peaks = client.run(lambda: resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 2**20)
    sent = client.run(lambda dask_worker: dask_worker.transfer_outgoing_bytes_total)
    busy = defaultdict(float)
    sweep_start = clock.marks[1] if len(clock.marks) > 2 else clock.marks[0]
    for ts in stream:
        for part in ts.get("startstops", ()):
            if part.get("action") == "compute" and part["start"] >= sweep_start:
                busy[_kind(ts["key"])] += part["stop"] - part["start"]
    later = max(len(sweeps) - 1, 1)
    print(
        f"dask: initialisation {clock.marks[0] - t0:.1f} s; sweeps {', '.join(f'{s:.1f}' for s in sweeps)} s; "
        f"median {statistics.median(sweeps):.2f} s = {1e3 * statistics.median(sweeps) / args.m:.3f} ms per 1,000 "
        f"columns; total {total:.1f} s"
    )
    print(
        f"round trips per sweep: {np.diff(trips).tolist()}; history {len(run.history)} entries, "
        f"final objective {run.history[-1]:.6g}, n_iter {run.n_iter}"
    )
    print(
        "peak memory per worker: "
        + ", ".join(f"{v:.2f} GiB" for v in peaks.values())
        + f" (limit {args.memory_limit}; states {states_gib:.2f} GiB in all)"
    )
    print(
        f"bytes sent by the workers (whole fit): {sum(sent.values()) / 2**20:.1f} MiB; per sweep: "
        + ", ".join(f"{b / 2**20:.1f} MiB" for b in np.diff(sent_marks))
    )
    first = cpu_marks[1] if len(cpu_marks) > 2 else cpu_marks[0]
    cpu = {k: (cpu_marks[-1][k] - first[k]) / later for k in cpu_marks[-1]}
    print(
        f"per sweep after the first ({later} sweep(s)), by task kind: worker wall time and worker CPU time, ms per "
        f"1,000 columns; client CPU {(clock.cpu[-1] - clock.cpu[1 if len(clock.cpu) > 2 else 0]) / later:.2f} s "
        f"per sweep"
    )
    for kind in sorted(set(busy) | {_kind(k) for k in cpu}, key=lambda k: -busy.get(k, 0.0)):
        c = sum(v for k, v in cpu.items() if _kind(k) == kind)
        print(f"  {kind:18s} {1e6 * busy.get(kind, 0.0) / later / args.m:8.3f} {1e6 * c / args.m:8.3f}")
    print(f"  {'all':18s} {1e6 * sum(busy.values()) / later / args.m:8.3f} {1e6 * sum(cpu.values()) / args.m:8.3f}")
    client.close()
    cluster.close()


def _copy_chunk(A, W, b):
    return (A * 1.0,)


def run_overhead(args):
    """Client-plus-scheduler CPU and wall time per chunk of one map (persisted) and one reduction
    over tiny chunks: the per-chunk cost of a round trip, without the numpy work."""
    import dask
    import dask.array as da
    import distributed

    from cvxlift.distributed import kernels
    from cvxlift.distributed.chunks import compute, map_columns, persist, reduce_columns

    for sched in ("synchronous", "distributed"):
        cluster = client = None
        if sched == "distributed":
            cluster = distributed.LocalCluster(
                n_workers=args.workers, threads_per_worker=1, processes=True, dashboard_address=None
            )
            client = distributed.Client(cluster)
        with dask.config.set(scheduler="synchronous") if client is None else client.as_current():
            for n in (50, 200):
                (A,) = persist(da.from_array(np.random.default_rng(0).random((4, 10 * n)), chunks=(4, 10)))
                if client is not None:
                    distributed.wait(A)
                W, b = np.eye(4), np.zeros(4)
                t0, c0 = time.time(), time.process_time()
                for _ in range(3):
                    (U,), _ = map_columns(_copy_chunk, [A], (W, b), (4,))
                    (U,) = persist(U)
                    compute(reduce_columns(kernels.column_sums, [U]))
                dt, dc = (time.time() - t0) / 3, (time.process_time() - c0) / 3
                print(
                    f"{sched}: {n} chunks: {1e3 * dt / n:.2f} ms wall and {1e3 * dc / n:.2f} ms client+scheduler "
                    "CPU per chunk for one map (persisted) and one reduction",
                    flush=True,
                )
        if client is not None:
            client.close()
            cluster.close()


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--m", type=int, default=64000)
    ap.add_argument("--chunk", type=int, default=8000)
    ap.add_argument("--workers", type=int, default=2)
    ap.add_argument("--memory-limit", default="2GiB")
    ap.add_argument("--form", choices=("joint", "fenchel_hidden"), default="joint")
    ap.add_argument("--sweeps", type=int, default=2)
    ap.add_argument("--w-iter", type=int, default=20)
    ap.add_argument("--preactivations", choices=("recompute", "persist"), default="recompute")
    ap.add_argument("--store", choices=("regenerate", "float32"), default="regenerate")
    ap.add_argument("--numpy", action="store_true", help="the same fit in memory (no Dask)")
    ap.add_argument("--overhead", action="store_true", help="only the per-chunk cost of a round trip")
    ap.add_argument("--data", default=DATA)
    args = ap.parse_args(argv)
    if args.overhead:
        print(f"# bench_dask --overhead; {os.cpu_count()} CPUs, load average {os.getloadavg()[0]:.2f}")
        run_overhead(args)
        return
    digits, labels = load_digits(args.data)
    print(
        f"# bench_dask: 784-300-10, form {args.form}, m = {args.m}; {platform.machine()}, {os.cpu_count()} CPUs, "
        f"load average {os.getloadavg()[0]:.2f}"
    )
    print(
        f"# command: python benchmarks/bench_dask.py {' '.join(argv if argv is not None else sys.argv[1:])}", flush=True
    )
    if args.numpy:
        run_numpy(args, digits, labels)
    else:
        run_dask(args, digits, labels)


if __name__ == "__main__":
    main()
