"""Time and peak memory of the chunked DSL (CVXPY) X-step, 784-300-10 ReLU network.

Run: python benchmarks/dsl_xstep_memory.py --m 1000 5000 --p 300
Each m runs in a fresh subprocess so that the peak resident memory (ru_maxrss) is its own.
"""

import argparse
import json
import resource
import subprocess
import sys
import time


def one(m, p, n0, k, seed):
    import numpy as np

    import cvxlift
    from cvxlift.training import CvxpyBackend

    rng = np.random.default_rng(seed)
    X = rng.random((n0, m))
    Y = np.eye(k)[:, rng.integers(0, k, m)]
    net = cvxlift.LiftedNetwork([n0, p, k], "relu", random_state=seed).init_weights()
    U0 = net.preactivation(0, X)
    backend = CvxpyBackend()
    t0 = time.perf_counter()
    Z, _ = backend.x_step(net, 1, U0, Y)
    dt = time.perf_counter() - t0
    chunk = backend.chunk(net, "x_step", 1, m)
    peak_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0
    return {
        "m": m,
        "p": p,
        "chunk": chunk,
        "seconds": round(dt, 2),
        "peak_MB": round(peak_mb),
        "finite": bool(np.isfinite(Z).all()),
    }


def main():
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--m", type=int, nargs="+", default=[1000, 5000])
    ap.add_argument("--p", type=int, default=300)
    ap.add_argument("--n0", type=int, default=784)
    ap.add_argument("--k", type=int, default=10)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--child", action="store_true", help=argparse.SUPPRESS)
    a = ap.parse_args()
    if a.child:
        print(json.dumps(one(a.m[0], a.p, a.n0, a.k, a.seed)))
        return
    print("| m | p | chunk | seconds | peak memory (MB) |\n|---|---|---|---|---|")
    for m in a.m:
        out = subprocess.run(
            [
                sys.executable,
                __file__,
                "--child",
                "--m",
                str(m),
                "--p",
                str(a.p),
                "--n0",
                str(a.n0),
                "--k",
                str(a.k),
                "--seed",
                str(a.seed),
            ],
            capture_output=True,
            text=True,
            check=True,
        )
        r = json.loads(out.stdout.strip().splitlines()[-1])
        print(f"| {r['m']} | {r['p']} | {r['chunk']} | {r['seconds']} | {r['peak_MB']} |")


if __name__ == "__main__":
    main()
