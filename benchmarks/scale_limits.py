"""Where the block solvers stop being reliable, with the network door's range checks lifted.

Trains ``LiftedNetwork([4, 5, 3], "relu")`` for 3 sweeps on 12 columns (``X``, ``Y`` normal,
divided by their largest magnitude) with one magnitude scaled at a time (``X``, ``Y``, ``lam``,
``rho``), on both paths; then a Fenchel-Young sigmoid network (``["sigmoid", "identity"]``, 1
sweep) with ``lam = 1e-6``, ``X * 1e6`` and ``rho`` from 1e6 to 1e50 (rows ``rho/lam``: the
ratio is what the W-step sees). Prints the outcome: ``ok`` (finite weights, non-increasing
history; the uncertified blocks and the largest iteration count among them), the error, or
``timeout`` (20 s). The ranges of ``cvxlift.validation`` (``DATA_MAX``, ``LAM_RANGE``,
``RHO_MAX``) are lifted for the run (they are what this measures).

    OPENBLAS_NUM_THREADS=1 OMP_NUM_THREADS=1 python benchmarks/scale_limits.py

docs/bad-input.md (scale) quotes its rows.
"""

import signal
import time
import warnings

import numpy as np

import cvxlift
from cvxlift import LiftedNetwork, validation

EXPONENTS = (-300, -50, -6, 0, 4, 6, 7, 8, 12, 16, 50, 300)


def _alarm(signum, frame):
    raise TimeoutError


def run(what, exponent, solver, X, Y, acts="relu", sweeps=3, **base):
    kw = {"x": 1.0, "y": 1.0, "lam": 1.0, "rho": 1e-3, **base}
    kw[what] = 10.0**exponent
    signal.signal(signal.SIGALRM, _alarm)
    signal.alarm(20)
    t0 = time.perf_counter()
    try:
        net = LiftedNetwork([4, 5, 3], acts, lam=kw["lam"], rho=kw["rho"], random_state=0)
        net.fit(X * kw["x"], Y * kw["y"], solver=solver, max_iter=sweeps)
        h = np.asarray(net.history_)
        good = (
            all(np.all(np.isfinite(w)) for w in net.weights_)
            and np.all(np.isfinite(h))
            and np.all(np.diff(h) <= 1e-9 * np.maximum(1.0, np.abs(h[:-1])))
        )
        out = "ok" if good else f"NOT FINITE/MONOTONE (history {h[0]:.3g} -> {h[-1]:.3g})"
        infos = [v for v in net.block_info_.values() if hasattr(v, "iterations")]
        loose = [v for v in infos if getattr(v, "converged", True) is False]
        if loose:
            worst = max(loose, key=lambda v: v.iterations)
            out += f", {len(loose)} uncertified block(s): {worst.solver} {worst.iterations} iterations"
    except TimeoutError:
        out = "timeout (20 s)"
    except cvxlift.CvxliftError as exc:
        out = f"{type(exc).__name__}: {str(exc)[:70]}"
    except Exception as exc:  # noqa: BLE001 - what the solvers raise is the measurement
        out = f"raw {type(exc).__name__}: {str(exc)[:60]}"
    finally:
        signal.alarm(0)
    return out, time.perf_counter() - t0


def main():
    rng = np.random.default_rng(0)
    X, Y = rng.normal(size=(4, 12)), rng.normal(size=(3, 12))
    X, Y = X / np.max(np.abs(X)), Y / np.max(np.abs(Y))  # largest magnitude 1: the factor is the magnitude
    validation.DATA_MAX = float("inf")  # lift the door's ranges: they are what is measured
    validation.LAM_RANGE = (0.0, float("inf"))
    validation.RHO_MAX = float("inf")
    import cvxlift.network as network
    import cvxlift.training.engine as engine

    network.LAM_RANGE = engine.LAM_RANGE = validation.LAM_RANGE
    network.RHO_MAX = validation.RHO_MAX
    network.check_scale = lambda a, name: a
    warnings.simplefilter("ignore")
    print(f"{'scaled':>6} {'by':>7} {'solver':>6} {'time':>7}  outcome")
    for what in ("x", "y", "lam", "rho"):
        for e in EXPONENTS:
            for solver in ("fast", "cvxpy"):
                out, sec = run(what, e, solver, X, Y)
                print(f"{what:>6} {'1e%d' % e:>7} {solver:>6} {sec:6.2f}s  {out}", flush=True)
    for e in (6, 12, 18, 20, 50):  # sigmoid (Fenchel-Young), lam = 1e-6, X * 1e6: rho / lam = 10**(e + 6)
        for solver in ("fast", "cvxpy"):
            out, sec = run("rho", e, solver, X, Y, acts=["sigmoid", "identity"], sweeps=1, lam=1e-6, x=1e6)
            print(f"{'rho/lam':>7} {'1e%d' % (e + 6):>6} {solver:>6} {sec:6.2f}s  {out}", flush=True)


if __name__ == "__main__":
    main()
