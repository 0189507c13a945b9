"""The ``cvxlift`` command (also ``python -m cvxlift``).

Subcommands are entries of :data:`COMMANDS`: a name mapped to a :class:`Command`
(one-line help, a function that adds the subcommand's arguments to its parser, and a
function that runs it and returns the exit status). Adding a subcommand means adding
one entry; :func:`main` builds the parser from the table.

Subcommands: ``verify`` (check the divergence atoms), ``demo`` (a lifted network on the
built-in MNIST sample, with a plot), ``train`` / ``predict`` (fit, save, load and apply a
:class:`~cvxlift.estimators.LiftedMLPClassifier` or ``...Regressor``) and ``bench`` (fast
vs CVXPY block solvers). Optional extras (scikit-learn, matplotlib, tqdm) are imported
only inside the subcommands that use them.

Exit status: 0 success, 1 a check failed (``verify``: some atom failed) or an internal
error, 2 a usage or input error (unknown atom name, missing solver, missing file, bad
arrays), reported as one line ``cvxlift <command>: error: ...`` on standard error.
"""

import argparse
import contextlib
import math
import os
import re
import sys
from dataclasses import dataclass
from typing import Callable

from . import __version__, cvxsolve
from .divergences import available, get_divergence
from .divergences.base import FORMS
from .exceptions import CommandError, SolverError, UnknownAtomError, ValidationError
from .validation import available_memory
from .verify import load_atom, verify

EXIT_OK, EXIT_FAILED, EXIT_USAGE = 0, 1, 2


@dataclass(frozen=True)
class Command:
    """One subcommand: its help line, ``add_arguments(parser)`` and ``run(args) -> int``."""

    help: str
    add_arguments: Callable[[argparse.ArgumentParser], None]
    run: Callable[[argparse.Namespace], int]


def _error(prog, message):
    """Print ``prog: error: message`` on stderr and return the usage-error status."""
    print(f"{prog}: error: {message}", file=sys.stderr)
    return EXIT_USAGE


# ---------------------------------------------------------------------- verify
def _add_verify_arguments(parser):
    parser.add_argument(
        "names",
        nargs="*",
        metavar="NAME",
        help="registered atoms to check (default: every name in cvxlift.available())",
    )
    parser.add_argument(
        "--n-grid", type=_positive_int, default=2001, help="grid points for elementwise atoms (default: %(default)s)"
    )
    parser.add_argument(
        "--n-random", type=_positive_int, default=200, help="random input columns (default: %(default)s)"
    )
    parser.add_argument(
        "--seed",
        type=_seed,
        default=0,
        help="seed of the random inputs, an integer in [0, 2**32 - 1] (default: %(default)s)",
    )
    parser.add_argument("--solver", default=None, help="pin one CVXPY solver (default: picked from each atom's cones)")


def _fmt_err(value):
    return "-" if value is None or math.isnan(value) else f"{value:.2e}"


def summary_rows(results):
    """Rows (header first) of the summary table for ``[(name, report), ...]``."""
    rows = [("atom", "result", *(f"argmin {f}" for f in FORMS), "prox", "seconds")]
    for name, report in results:
        forms = report.divergence.forms
        argmin = [_fmt_err(report.error("argmin", f)) if f in forms else "n/a" for f in FORMS]
        rows.append(
            (
                name,
                "PASSED" if report.passed else "FAILED",
                *argmin,
                _fmt_err(report.error("prox")),
                f"{report.seconds:.1f}",
            )
        )
    return rows


def format_table(rows):
    """Left-aligned columns, two spaces apart."""
    widths = [max(len(r[i]) for r in rows) for i in range(len(rows[0]))]
    return "\n".join("  ".join(c.ljust(w) for c, w in zip(r, widths)).rstrip() for r in rows)


def _resolve_names(names):
    """``(label, atom)`` for ``names``: registered names, ``PATH.py:NAME`` or ``module:NAME``
    (:func:`cvxlift.verify.load_atom`); raises before any work is done."""
    return [(name, load_atom(name)) for name in names]


def run_verify(args):
    """``cvxlift verify [NAME ...]``: verify each atom, print its table and a summary.

    Exit status: 0 every atom passed, 1 one failed (or an internal error), 2 a usage or input
    error (an unknown name, a file or module that cannot be loaded, a solver that is not
    installed or cannot take an atom's problems) -- one line on stderr, never a traceback.
    """
    prog = "cvxlift verify"
    return _guarded(prog, lambda a: _run_verify(a, prog))(args)


def _run_verify(args, prog):
    names = args.names or available()
    for label, value in (("--n-grid", args.n_grid), ("--n-random", args.n_random)):
        if value < 1:
            return _error(prog, f"{label} must be a positive integer, got {value}")
    try:
        atoms = _resolve_names(names)
        if args.solver is not None:
            cvxsolve.candidate_solvers(solver=args.solver)  # SolverError if not installed
    except (UnknownAtomError, SolverError, ValidationError) as exc:
        return _error(prog, str(exc))

    results = []
    for name, atom in atoms:
        try:
            report = verify(atom, n_random=args.n_random, n_grid=args.n_grid, seed=args.seed, solver=args.solver)
        except SolverError as exc:
            return _error(prog, f"{name}: {exc}")
        print(report.table(), end="\n\n", flush=True)
        results.append((name, report))

    print(
        f"summary (n_grid={args.n_grid}, n_random={args.n_random}, seed={args.seed}, "
        f"solver={args.solver or 'auto'}); errors are scaled |z - forward(u)| / max(1, |u|)"
    )
    print(format_table(summary_rows(results)))
    failed = [name for name, report in results if not report.passed]
    if failed:
        print(f"FAILED: {', '.join(failed)}")
        return EXIT_FAILED
    print(f"all {len(results)} atoms PASSED")
    return EXIT_OK


# ---------------------------------------------------------------------- shared helpers
def _guarded(prog, run):
    """Run ``run(args)``; turn expected failures into one line on stderr, never a traceback.

    :class:`CommandError`, cvxlift's own errors, ``ValueError``/``KeyError`` (bad arrays,
    bad parameters) and ``OSError`` (missing or unreadable files) exit with status 2;
    anything else is an internal failure: one line, status 1 (set ``CVXLIFT_DEBUG=1`` to
    get the traceback).
    """
    from .exceptions import CvxliftError

    def wrapped(args):
        try:
            return run(args)
        except KeyboardInterrupt:
            print(f"{prog}: interrupted", file=sys.stderr)
            return 130
        except (CommandError, CvxliftError, ValueError, KeyError, OSError) as exc:
            msg = exc.args[0] if isinstance(exc, KeyError) and exc.args else exc
            return _error(prog, " ".join(str(msg).split()))  # one line, always
        except Exception as exc:  # pragma: no cover - a bug, reported in one line
            if os.environ.get("CVXLIFT_DEBUG"):
                raise
            print(
                f"{prog}: internal error: {type(exc).__name__}: {' '.join(str(exc).split())} "
                "(set CVXLIFT_DEBUG=1 for the traceback)",
                file=sys.stderr,
            )
            return EXIT_FAILED

    return wrapped


def _positive(convert, what):
    """An argparse ``type``: ``convert(text)``, finite and > 0, else a message naming ``what``."""

    def parse(text):
        try:
            value = convert(text)
        except ValueError:
            value = None
        if value is None or not (value > 0 and math.isfinite(value)):
            raise argparse.ArgumentTypeError(f"expected a positive {what}, got {text!r}")
        return value

    return parse


_positive_int = _positive(int, "integer")
_positive_float = _positive(float, "number")
SEED_MAX = 2**32 - 1


def _seed(text):
    """An argparse ``type``: a seed, an integer in [0, 2**32 - 1] (what numpy's generators take)."""
    try:
        value = int(text)
    except ValueError:
        value = -1
    if not 0 <= value <= SEED_MAX:
        raise argparse.ArgumentTypeError(f"expected a seed, an integer in [0, {SEED_MAX}], got {text!r}")
    return value


def _delimiter(text):
    """An argparse ``type``: one delimiter character (``tab`` or ``\\t`` for a tab)."""
    value = {"tab": "\t", "\\t": "\t"}.get(text, text)
    if len(value) != 1 or value in "\"'\r\n" or value.isalnum() or value in ".+-_":
        raise argparse.ArgumentTypeError(f"expected one delimiter character such as ',' ';' '|' or 'tab', got {text!r}")
    return value


def _add_table_arguments(parser):
    """``--delimiter`` and ``--header``: how a text (CSV) data file is read."""
    parser.add_argument(
        "--delimiter",
        type=_delimiter,
        default=None,
        metavar="CHAR",
        help="delimiter of a CSV data file (default: detected among , ; tab |)",
    )
    parser.add_argument(
        "--header",
        choices=("auto", "yes", "no"),
        default="auto",
        help="whether a CSV data file's first row is a header (default: %(default)s: it is when "
        "its cells are text in the columns where the other rows hold numbers)",
    )


def _check_activation(name):
    """The atom registered as ``name``; a one-line error listing the known names otherwise."""
    try:
        return get_divergence(name)
    except UnknownAtomError as exc:
        raise CommandError(f"unknown activation {name!r}; known: {', '.join(available())}") from exc


def load_xy(path, need_y=True, task=None, n_features=None, delimiter=None, header="auto"):
    """``X`` (rows are samples, float64, finite) and ``y`` (or None) from ``path``.

    Parameters
    ----------
    path : str
        A ``.csv``/``.tsv``/``.txt`` table, a ``.npy`` array or an ``.npz`` archive with ``X``
        and ``y`` (see :func:`cvxlift.dataio.read_xy`; the last column of a table is ``y``).
    need_y : bool
        Whether ``y`` is required (``train``) or optional (``predict``).
    task : {"classify", "regress"}, optional
        Checks ``y`` for the task: one label per row (a column vector is flattened) to
        classify, numbers to regress.
    n_features, delimiter, header
        Passed to :func:`cvxlift.dataio.read_xy`.

    Returns
    -------
    X : ndarray of shape (n_samples, n_features)
    y : ndarray or None

    Raises
    ------
    CommandError
        A one-line reason naming the file (and the row and column, or ``X``/``y``).
    """
    from .dataio import read_xy
    from .exceptions import ValidationError

    try:
        X, y = read_xy(path, need_y=need_y, n_features=n_features, delimiter=delimiter, header=header)
    except ValidationError as exc:
        raise CommandError(str(exc)) from None
    if y is not None and task == "classify":
        if y.ndim == 2 and y.shape[1] == 1:
            y = y[:, 0]
        if y.ndim != 1:
            raise CommandError(
                f"{path}: y must hold one class label per row of X for --task classify "
                f"(shape ({X.shape[0]},)), got shape {y.shape}"
            )
    if y is not None and task == "regress" and y.dtype.kind not in "biuf":
        raise CommandError(f"{path}: y must be numeric for --task regress, got text labels such as {str(y.flat[0])!r}")
    return X, y


def _accuracy(net, X_cols, labels):
    """Fraction of columns of ``X_cols`` whose forward prediction's argmax equals ``labels``."""
    return float((net.predict(X_cols, rule="forward").argmax(axis=0) == labels).mean())


# ---------------------------------------------------------------------- demo
DEMO_DEFAULTS = dict(hidden=50, sweeps=6, lam=1.0, rho=10.0, seed=0, out="cvxlift-demo.png")


def _add_demo_arguments(parser):
    d = DEMO_DEFAULTS
    parser.add_argument(
        "--hidden",
        type=_positive_int,
        default=d["hidden"],
        help="hidden units of the 784-H-10 network (default: %(default)s)",
    )
    parser.add_argument(
        "--sweeps",
        type=_positive_int,
        default=d["sweeps"],
        help="block-coordinate descent sweeps (default: %(default)s)",
    )
    parser.add_argument(
        "--lam",
        type=_positive_float,
        default=d["lam"],
        help="divergence penalty weight lambda, every layer (default: %(default)s)",
    )
    parser.add_argument(
        "--rho",
        type=_positive_float,
        default=d["rho"],
        help="weight regularisation rho, every layer (default: %(default)s)",
    )
    parser.add_argument(
        "--seed", type=_seed, default=d["seed"], help="seed of the weight initialisation (default: %(default)s)"
    )
    parser.add_argument(
        "--form",
        choices=("fenchel_hidden", "joint"),
        default="fenchel_hidden",
        help="divergence form of the hidden layer: Fenchel-Young (default) or the paper's jointly convex one",
    )
    parser.add_argument(
        "--train-size",
        type=_positive_int,
        default=None,
        metavar="M",
        help="use the first M of the 1500 training digits (default: all)",
    )
    parser.add_argument("--out", default=d["out"], help="where to write the plot (PNG; default: %(default)s)")
    parser.add_argument("--no-plot", action="store_true", help="do not write the plot")


def run_demo(args):
    """``cvxlift demo``: a lifted 784-H-10 ReLU network on the built-in MNIST sample."""
    import time

    from .datasets import load_mnist_sample
    from .network import LiftedNetwork
    from .progress import progress
    from .training import Callback

    plot_path = None if args.no_plot else _plot_path(args.out)
    X_tr, Y_tr, X_te, Y_te = load_mnist_sample(as_columns=True)
    if args.train_size is not None:
        X_tr, Y_tr = X_tr[:, : args.train_size], Y_tr[:, : args.train_size]
    y_tr, y_te = Y_tr.argmax(axis=0), Y_te.argmax(axis=0)
    sizes = [X_tr.shape[0], args.hidden, 10]
    form = "fenchel_hidden" if args.form == "fenchel_hidden" else None
    net = LiftedNetwork(
        sizes, "relu", loss="cross_entropy", lam=args.lam, rho=args.rho, form=form, random_state=args.seed
    )
    kind = "Fenchel-Young" if form else "jointly convex"
    print(
        f"cvxlift demo: lifted {sizes[0]}-{sizes[1]}-{sizes[2]} ReLU network ({kind} hidden layer), "
        f"cross-entropy, lam={args.lam:g}, rho={args.rho:g}, solver 'fast'"
    )
    print(
        f"data: built-in MNIST sample, {X_tr.shape[1]} training and {X_te.shape[1]} test digits "
        "(cvxlift.datasets.load_mnist_sample)"
    )
    net.init_weights()  # fit() draws the same weights again (same random_state)
    objective, test_acc, train_acc = [], [_accuracy(net, X_te, y_te)], [_accuracy(net, X_tr, y_tr)]
    header = f"{'sweep':>5}  {'objective':>11}  {'train acc':>9}  {'test acc':>8}  {'time':>7}"
    print(header)
    print(f"{0:>5}  {'-':>11}  {100 * train_acc[0]:8.1f}%  {100 * test_acc[0]:7.1f}%  {'':>7}")
    t0 = time.perf_counter()

    class Table(Callback):
        """One row per sweep: objective, train and test accuracy, time; the bar advances."""

        def on_fit_begin(self, run):
            objective.append(float(run.history[0]))

        def on_sweep_end(self, run, sweep, obj):
            objective.append(float(obj))
            test_acc.append(_accuracy(run.net, X_te, y_te))
            train_acc.append(_accuracy(run.net, X_tr, y_tr))
            bar.write(
                f"{sweep + 1:>5}  {obj:11.5g}  {100 * train_acc[-1]:8.1f}%  {100 * test_acc[-1]:7.1f}%  "
                f"{time.perf_counter() - t0:6.1f}s"
            )
            bar.update(1, objective=float(obj), test_acc=f"{100 * test_acc[-1]:.1f}%")
            return False

    with progress(total=args.sweeps, desc="sweeps") as bar:
        net.fit(
            X_tr,
            Y_tr,
            solver="fast",
            max_iter=args.sweeps,
            tol=0.0,
            callbacks=[Table()],
            fast_options={"w_step": {"max_iter": 20}},
        )
    seconds = time.perf_counter() - t0
    if net.interrupted_:
        print("interrupted: keeping the sweeps done so far")
    sweeps = len(objective) - 1
    print(
        f"test accuracy (forward prediction): {100 * test_acc[-1]:.1f}% "
        f"after {sweeps} sweep{'s' if sweeps != 1 else ''} "
        f"in {seconds:.1f} s; lifted objective {objective[0]:.5g} -> {objective[-1]:.5g}"
        if sweeps > 0
        else "no sweep completed"
    )
    if args.no_plot or sweeps == 0:
        return EXIT_OK
    from .plotting import matplotlib_available, plot_training

    if not matplotlib_available():
        print(
            'note: matplotlib is not installed, so no plot was written; install it with `pip install "cvxlift[plot]"`'
        )
        return EXIT_OK
    title = f"cvxlift demo: lifted {sizes[0]}-{sizes[1]}-{sizes[2]} ReLU network on {X_tr.shape[1]} MNIST digits"
    from .safeio import atomic_write

    with atomic_write(plot_path, CommandError, "write the plot to") as fh:
        plot_training(objective, test_acc, fh, title=title)  # a file object: PNG, whatever the name
    print(f"plot written to {plot_path}")
    return EXIT_OK


def _plot_path(out):
    """The file ``demo`` writes for ``--out``: ``.png`` appended when there is no suffix; checked now.

    Another suffix is refused (the plot is a PNG), and so is a target that
    :func:`cvxlift.safeio.atomic_write` would refuse (missing directory, a link, a directory,
    a device), before any training.
    """
    from .safeio import check_path, check_target

    path = check_path(out, CommandError, "write the plot to")
    if os.path.isdir(path):
        raise CommandError(
            f"cannot write the plot to {out}: it is a directory; give a file name such as "
            f"{os.path.join(out, DEMO_DEFAULTS['out'])}"
        )
    suffix = os.path.splitext(os.path.basename(path))[1]
    if not suffix:
        path += ".png"
    elif suffix.lower() != ".png":
        raise CommandError(
            f"cannot write the plot to {out}: the plot is a PNG image; use a name ending with .png "
            f"(or no suffix), not {suffix!r}"
        )
    check_target(path, CommandError, "write the plot to")
    return path


# ---------------------------------------------------------------------- train
def _add_train_arguments(parser):
    src = parser.add_mutually_exclusive_group(required=True)
    src.add_argument(
        "--data",
        metavar="FILE",
        help="training data, rows are samples: a CSV table or a .npy array whose last column is y, "
        "or an .npz with arrays X and y",
    )
    src.add_argument(
        "--builtin",
        action="store_true",
        help="train on the built-in MNIST sample (1500 digits; reports accuracy on its 500 test digits)",
    )
    parser.add_argument(
        "--task",
        choices=("classify", "regress"),
        default="classify",
        help="LiftedMLPClassifier or LiftedMLPRegressor (default: %(default)s)",
    )
    parser.add_argument(
        "--hidden", type=_positive_int, nargs="+", default=[100], metavar="H", help="hidden layer sizes (default: 100)"
    )
    parser.add_argument(
        "--activation", default="relu", help="hidden atom, a name from cvxlift.available() (default: %(default)s)"
    )
    parser.add_argument(
        "--lam", type=_positive_float, default=1.0, help="divergence penalty weight lambda (default: %(default)s)"
    )
    parser.add_argument(
        "--rho", type=_positive_float, default=1e-3, help="weight regularisation rho (default: %(default)s)"
    )
    parser.add_argument(
        "--sweeps",
        type=_positive_int,
        default=10,
        help="maximum block-coordinate descent sweeps (default: %(default)s)",
    )
    parser.add_argument(
        "--solver", choices=("fast", "cvxpy"), default="fast", help="block solvers (default: %(default)s)"
    )
    parser.add_argument("--seed", type=_seed, default=0, help="random_state (default: %(default)s)")
    parser.add_argument("--out", default="model.npz", help="model file to write (default: %(default)s)")
    dask = parser.add_mutually_exclusive_group()
    dask.add_argument(
        "--workers",
        type=_positive_int,
        default=None,
        metavar="N",
        help="train on Dask: start a local cluster of N worker processes (needs cvxlift[dask])",
    )
    dask.add_argument(
        "--scheduler",
        default=None,
        metavar="ADDRESS",
        help="train on Dask: join the cluster of a running scheduler, e.g. tcp://host:8786",
    )
    parser.add_argument(
        "--chunk-rows",
        type=_positive_int,
        default=None,
        metavar="R",
        help="with --workers/--scheduler: samples per chunk (default: 4 chunks per worker)",
    )
    _add_table_arguments(parser)


@contextlib.contextmanager
def _dask_data(args, X, y):
    """``(X, y)`` as given; with ``--workers``/``--scheduler``, a Dask client for the block (its
    dashboard address printed) and ``X``, ``y`` as Dask arrays chunked along rows, on the workers."""
    if args.workers is None and args.scheduler is None:
        yield X, y
        return
    try:
        import dask.array as da

        from .distributed import connect
        from .distributed.cluster import dashboard_address, worker_count
    except ImportError as exc:
        raise CommandError(
            f'--workers/--scheduler need Dask ({exc}); install it with `pip install "cvxlift[dask]"`'
        ) from None
    with connect(workers=args.workers, scheduler=args.scheduler) as client:
        n = worker_count(client)
        rows = args.chunk_rows or max(1, -(-X.shape[0] // (4 * n)))
        print(
            f"dask: {n} worker(s), {-(-X.shape[0] // rows)} chunks of up to {rows} samples; "
            f"dashboard: {dashboard_address(client) or 'none'}"
        )
        Xd, yd = client.persist(
            [da.from_array(X, chunks=(rows, X.shape[1])), da.from_array(y, chunks=(rows,) + y.shape[1:])]
        )
        yield Xd, yd


def _import_estimators():
    try:
        import cvxlift

        from . import save  # noqa: F401

        return cvxlift.LiftedMLPClassifier, cvxlift.LiftedMLPRegressor
    except (ImportError, AttributeError) as exc:
        raise CommandError(
            f'the estimators are not available ({exc}); install scikit-learn with `pip install "cvxlift[sklearn]"`'
        ) from None


def run_train(args):
    """``cvxlift train``: fit a LiftedMLPClassifier/Regressor and save it with cvxlift.save."""
    import time
    import warnings

    from .progress import progress
    from .safeio import check_target
    from .training import PrintSweeps, ProgressBar

    _check_activation(args.activation)
    check_target(args.out, CommandError, "write the model to")  # a bad --out fails before training
    Classifier, Regressor = _import_estimators()
    from . import save

    X_test = y_test = None
    if args.builtin:
        from .datasets import load_mnist_sample

        X, y, X_test, y_test = load_mnist_sample()
        source = "built-in MNIST sample"
    else:
        X, y = load_xy(args.data, task=args.task, delimiter=args.delimiter, header=args.header)
        source = args.data
    Est = Classifier if args.task == "classify" else Regressor
    model = Est(
        hidden_layer_sizes=tuple(args.hidden),
        activation=args.activation,
        lam=args.lam,
        rho=args.rho,
        max_iter=args.sweeps,
        solver=args.solver,
        random_state=args.seed,
    )
    print(
        f"cvxlift train: {Est.__name__}(hidden_layer_sizes={tuple(args.hidden)}, activation={args.activation!r}, "
        f"lam={args.lam:g}, rho={args.rho:g}, max_iter={args.sweeps}, solver={args.solver!r}) "
        f"on {source}: {X.shape[0]} samples, {X.shape[1]} features"
    )
    with _dask_data(args, X, y) as (X_fit, y_fit):
        t0 = time.perf_counter()
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            with progress(total=args.sweeps, desc="sweeps") as bar:
                model.fit(
                    X_fit, y_fit, callbacks=[PrintSweeps(write=lambda line: bar.write("  " + line)), ProgressBar(bar)]
                )
        seconds = time.perf_counter() - t0
    for w in caught:
        first = str(w.message).splitlines()[0] if str(w.message) else type(w.message).__name__
        print(f"note: {first}")
    what = "accuracy" if args.task == "classify" else "R^2"
    msg = f"trained in {seconds:.1f} s ({model.n_iter_} sweeps); training {what} {model.score(X, y):.4f}"
    if X_test is not None:
        msg += f", test {what} {model.score(X_test, y_test):.4f}"
    print(msg)
    path = save(model, args.out)
    print(f"model written to {path if path is not None else args.out}")
    return EXIT_OK


# ---------------------------------------------------------------------- predict
def _add_predict_arguments(parser):
    parser.add_argument(
        "--model", required=True, metavar="MODEL.npz", help="a model written by cvxlift train / cvxlift.save"
    )
    parser.add_argument(
        "--data",
        required=True,
        metavar="FILE",
        help="rows to predict: a CSV table or a .npy array (a column beyond the model's features "
        "is y), or an .npz with array X; y, when present, is scored",
    )
    parser.add_argument(
        "--rule",
        choices=("forward", "lifted"),
        default="forward",
        help="prediction rule: the plain network (eq. 2) or the lifted rule (eq. 12) (default: %(default)s)",
    )
    parser.add_argument(
        "--out",
        default=None,
        metavar="PREDS.csv",
        help="write the predictions here as CSV (default: CSV on standard output)",
    )
    _add_table_arguments(parser)


def _predict_rows(model, X, rule):
    """Predictions for the rows of ``X`` and the model's kind ('classifier', 'regressor', 'network')."""
    import numpy as np

    from .network import LiftedNetwork

    if isinstance(model, LiftedNetwork):
        n_in = model.sizes[0]
        if X.shape[1] != n_in:
            raise CommandError(f"X has {X.shape[1]} features per row but the model takes {n_in}")
        out = np.asarray(model.predict(X.T, rule=rule)).T
        if model.loss_.name == "cross_entropy":
            return out.argmax(axis=1), "classifier"
        return out, "network"
    n_in = getattr(model, "n_features_in_", None)
    if n_in is not None and X.shape[1] != n_in:
        raise CommandError(f"X has {X.shape[1]} features per row but the model takes {n_in}")
    if hasattr(model, "prediction"):
        model.prediction = rule
    kind = "classifier" if hasattr(model, "predict_proba") else "regressor"
    return np.asarray(model.predict(X)), kind


def _score(y, preds, kind):
    """The summary's score of ``preds`` against ``y``; :class:`CommandError` naming ``y`` if the shapes differ."""
    import numpy as np

    y = np.asarray(y)
    if kind == "classifier":
        if y.ndim == 2 and y.shape[1] == 1:
            y = y[:, 0]
        if y.shape != preds.shape:
            raise CommandError(f"y has shape {y.shape} but the model predicts one label per row, shape {preds.shape}")
        return f"accuracy {float(np.mean(y.astype(str) == preds.astype(str))):.4f}"
    if y.dtype.kind not in "biuf":
        raise CommandError(f"y must be numeric to score a {kind}'s predictions, got dtype {y.dtype}")
    if y.ndim == 1 and preds.ndim == 2 and preds.shape[1] == 1:
        preds = preds[:, 0]
    if y.shape != preds.shape:
        raise CommandError(f"y has shape {y.shape} but the model predicts shape {preds.shape}")
    yy = y.astype(float).reshape(len(y), -1)
    pp = preds.reshape(len(preds), -1)
    ss = float(np.sum((yy - yy.mean(axis=0)) ** 2))
    r2 = 1.0 - float(np.sum((yy - pp) ** 2)) / ss if ss > 0 else float("nan")
    return f"R^2 {r2:.4f}"


def run_predict(args):
    """``cvxlift predict``: load a model with cvxlift.load and predict the rows of X."""
    import io

    import numpy as np

    from .dataio import write_predictions
    from .safeio import atomic_write, check_target

    try:
        from .persistence import load
    except ImportError as exc:
        raise CommandError(f"model loading is not available ({exc})") from None
    for path, alt in ((args.model, args.model + ".npz"), (args.data, args.data)):  # name a missing file first
        if not (os.path.lexists(path) or os.path.lexists(alt)):
            raise CommandError(f"no such file: {path}")
    if args.out is not None:
        check_target(args.out, CommandError, "write the predictions to")
    model = load(args.model)
    n_in = model.sizes[0] if hasattr(model, "sizes") else getattr(model, "n_features_in_", None)
    X, y = load_xy(args.data, need_y=False, n_features=n_in, delimiter=args.delimiter, header=args.header)
    preds, kind = _predict_rows(model, X, args.rule)
    preds = np.asarray(preds)
    summary = f"{len(preds)} predictions ({args.rule} rule)"
    if y is not None:
        summary += "; " + _score(y, preds, kind)
    if args.out is None:
        write_predictions(sys.stdout, preds)
        print(summary, file=sys.stderr)
    else:
        with atomic_write(args.out, CommandError, "write the predictions to") as fh:
            text = io.TextIOWrapper(fh, encoding="utf-8", newline="")
            write_predictions(text, preds)
            text.flush()
            text.detach()  # atomic_write closes the file
        print(f"{summary}; written to {args.out}")
    return EXIT_OK


# ---------------------------------------------------------------------- bench
def _add_bench_arguments(parser):
    parser.add_argument(
        "--m", type=_positive_int, default=50, help="training digits (columns) per block (default: %(default)s)"
    )
    parser.add_argument(
        "--hidden",
        type=_positive_int,
        default=20,
        help="hidden units of the 784-H-10 ReLU network (default: %(default)s)",
    )
    parser.add_argument(
        "--repeat",
        type=_positive_int,
        default=3,
        help="runs of each fast solver; the median is reported (default: %(default)s)",
    )
    parser.add_argument("--seed", type=_seed, default=0, help="seed (default: %(default)s)")


def run_bench(args):
    """``cvxlift bench``: fast vs CVXPY block solvers on one state of a small lifted network."""
    import statistics
    import time
    import warnings

    from .datasets import load_mnist_sample
    from .network import LiftedNetwork
    from .training import CvxpyBackend, FastBackend

    _check_bench_size(args.m, args.hidden)
    X, Y = load_mnist_sample("train", as_columns=True)
    m = min(args.m, X.shape[1])
    X, Y = X[:, :m], Y[:, :m]
    net = LiftedNetwork(
        [X.shape[0], args.hidden, 10], "relu", loss="cross_entropy", lam=1.0, rho=1.0, random_state=args.seed
    )
    # one sweep with the fast solvers gives a realistic (not initial) state to time the blocks at
    net.fit(X, Y, solver="fast", max_iter=1)
    base_w, base_b, base_s = list(net.weights_), list(net.biases_), list(net.states_)

    def reset():
        net.weights_, net.biases_, net.states_ = list(base_w), list(base_b), list(base_s)

    def objective_after(kind, result):
        reset()
        if kind == "W-step 0":
            net.weights_[0], net.biases_[0] = result
        elif kind == "X-step 1":
            net.states_[0] = result
        else:
            net.states_[-1] = result
        value = net.objective(X, Y)
        reset()
        return value

    blocks = {
        "W-step 0": lambda be: (lambda W, b, info: ((W, b), info))(*be.w_step(net, 0, X, base_s[0])),
        "X-step 1": lambda be: be.x_step(net, 1, net.preactivation(0, X), base_s[1], base_s[0]),
        "output step": lambda be: be.output_step(net, net.preactivation(1, base_s[0]), Y),
    }
    backends = {"fast": FastBackend(), "cvxpy": CvxpyBackend()}
    print(
        f"cvxlift bench: lifted {X.shape[0]}-{args.hidden}-10 ReLU network, cross-entropy, "
        f"m = {m} built-in MNIST digits; each block solved from the state after one fast sweep"
    )
    rows = [("block", "fast (s)", "cvxpy (s)", "speed-up", "objective fast", "objective cvxpy", "rel. gap")]
    notes = []
    for name, solve in blocks.items():
        times = {}
        results = {}
        for solver, repeat in (("fast", args.repeat), ("cvxpy", 1)):
            runs = []
            for _ in range(repeat):
                reset()
                with warnings.catch_warnings():
                    warnings.simplefilter("ignore")
                    t = time.perf_counter()
                    results[solver], info = solve(backends[solver])
                    runs.append(time.perf_counter() - t)
            times[solver] = statistics.median(runs)
            if getattr(info, "status", "optimal") != "optimal":
                notes.append(f"note: {name}, {solver}: {info.solver} stopped at {info.status} (solution used as is)")
        f_fast, f_cvx = objective_after(name, results["fast"]), objective_after(name, results["cvxpy"])
        gap = (f_fast - f_cvx) / max(abs(f_cvx), 1e-300)
        rows.append(
            (
                name,
                f"{times['fast']:.4f}",
                f"{times['cvxpy']:.3f}",
                _ratio(times["cvxpy"] / max(times["fast"], 1e-9)),
                f"{f_fast:.6g}",
                f"{f_cvx:.6g}",
                f"{gap:+.1e}",
            )
        )
    print(format_table(rows))
    print(
        "times: fast = median of --repeat runs; cvxpy = one run, compile + solve (what the DSL path does); "
        "rel. gap = (objective fast - objective cvxpy) / |objective cvxpy| (negative: fast is better)"
    )
    for note in notes:
        print(note)
    return EXIT_OK


# ---------------------------------------------------------------------- plot
_PLOT_FORMATS = ("png", "svg", "pdf")


def _add_plot_arguments(parser):
    parser.add_argument(
        "name",
        metavar="NAME",
        help="a registered atom (see cvxlift.available()), or a user's atom as PATH.py:NAME or "
        "module:NAME (as for cvxlift verify)",
    )
    parser.add_argument(
        "--form", choices=FORMS, default=None, help="divergence form (default: the atom's default form)"
    )
    parser.add_argument(
        "--range",
        type=_positive_float,
        default=None,
        metavar="R",
        dest="u_range",
        help="draw the inputs s in [-R, R] (default: max(4, twice the largest kink))",
    )
    parser.add_argument(
        "--u",
        type=float,
        nargs="+",
        default=None,
        metavar="S",
        help="line parameters of the sample inputs whose D(u, .) is drawn (default: four)",
    )
    parser.add_argument(
        "--out",
        default=None,
        metavar="FILE",
        help="where to write the figure (.png, .svg or .pdf; default: NAME-divergence.png, NAME the atom's name)",
    )


def _plot_atom(spec):
    """The atom ``cvxlift plot`` draws: a registered name, ``PATH.py:NAME`` or ``module:NAME``
    (the loader of ``cvxlift verify``), and the stem of its default figure name."""
    if ":" not in spec and not spec.endswith(".py"):
        atom = _check_activation(spec)  # a registered name: the error lists the known ones
        return atom, spec
    atom = load_atom(spec)
    stem = re.sub(r"[^A-Za-z0-9_.-]+", "_", str(getattr(atom, "name", "") or spec.rpartition(":")[2])).strip("._")
    return atom, stem or "atom"


def run_plot(args):
    """``cvxlift plot NAME``: draw D(u, .) for a few u and the argmin over the line against forward.

    ``NAME`` is a registered atom, or a user's atom as ``PATH.py:NAME`` or ``module:NAME``
    (:func:`cvxlift.verify.load_atom`, as for ``cvxlift verify``).
    """
    from .plotting import matplotlib_available, plot_divergence

    atom, stem = _plot_atom(args.name)
    out = args.out if args.out is not None else f"{stem}-divergence.png"
    ext = os.path.splitext(out)[1].lower().lstrip(".")
    if ext not in _PLOT_FORMATS:
        raise CommandError(
            f"--out {out}: unknown figure format {ext or '(none)'!r}; use a name ending in "
            + ", ".join("." + f for f in _PLOT_FORMATS)
        )
    from .safeio import atomic_write, check_target

    check_target(out, CommandError, "write the figure to")  # before any work
    if not matplotlib_available():
        raise CommandError('matplotlib is not installed; install it with `pip install "cvxlift[plot]"`')
    fig = plot_divergence(atom, form=args.form, u=args.u, u_range=args.u_range)
    with atomic_write(out, CommandError, "write the figure to") as fh:
        fig.savefig(fh, format=ext, dpi=110)
    curves = fig.cvxlift_curves
    print(
        f"{atom!r}, form={curves.form!r} ({curves.slice}): largest scaled gap between the CVXPY argmin "
        f"and forward over s in [{curves.s[0]:g}, {curves.s[-1]:g}]: {curves.max_error:.2e} "
        f"(solver {curves.solver})"
    )
    print(f"figure written to {out}")
    return EXIT_OK


#: Training digits of the built-in sample (the most columns ``bench --m`` can take).
BENCH_MAX_M = 1500


def bench_memory(m, hidden, n_in=784, n_out=10):
    r"""An upper estimate of the peak memory (bytes) of ``cvxlift bench --m m --hidden hidden``.

    Parameters
    ----------
    m, hidden : int
        Columns per block and hidden units.
    n_in, n_out : int
        Input and output sizes of the network.

    Returns
    -------
    int
        :math:`1.5\cdot 10^8 + 200\, n_{in} H m + 160\, (n_{out} m)^2` bytes: the process, the
        CVXPY W-step of layer 0 (its problem data grow with :math:`n_{in} H m`) and the CVXPY
        output step (cross-entropy, exponential cones: CVXPY's canonicalisation forms a sparse
        matrix with about :math:`6 (n_{out} m)^2` entries). Peak resident memory measured with
        ``/usr/bin/time -f %M cvxlift bench --m M --hidden H --repeat 1`` for (M, H) = (50, 20),
        (300, 20), (500, 20), (50, 400): 283, 2008, 4668, 2640 MB; the estimates are 347, 2531,
        5718, 3326 MB. ``--m 1500`` (the whole sample) is estimated at 41 GB.
    """
    return int(1.5e8 + 200 * n_in * hidden * m + 160 * (n_out * m) ** 2)


def _check_bench_size(m, hidden):
    """Refuse, before any allocation, a bench the built-in sample or the memory cannot hold."""
    if m > BENCH_MAX_M:
        raise CommandError(
            f"--m {m}: the built-in sample has {BENCH_MAX_M} training digits; use --m {BENCH_MAX_M} or fewer"
        )
    need, have = bench_memory(m, hidden), available_memory()
    if have is not None and need > have:
        raise CommandError(
            f"--m {m} --hidden {hidden} needs about {need / 1e9:.1f} GB of memory (estimate: "
            f"cvxlift.cli.bench_memory), more than the {have / 1e9:.1f} GB available; use a smaller "
            "--m or --hidden"
        )


def _ratio(r):
    return f"{r:.0f}x" if r >= 10 else f"{r:.2g}x"


COMMANDS = {
    "verify": Command(
        "check every claim of divergence atoms (DCP, argmin == forward, uniqueness, "
        "Fenchel-Young, values, prox) and print a table",
        _add_verify_arguments,
        run_verify,
    ),
    "demo": Command(
        "train a lifted 784-H-10 ReLU network on the built-in MNIST sample (no download), "
        "print objective and test accuracy per sweep and plot them",
        _add_demo_arguments,
        _guarded("cvxlift demo", run_demo),
    ),
    "train": Command(
        "fit a LiftedMLPClassifier (or Regressor) on an .npz file (X, y) or the built-in sample and save it",
        _add_train_arguments,
        _guarded("cvxlift train", run_train),
    ),
    "predict": Command(
        "predict with a saved model on an .npz file (X, optional y); CSV output",
        _add_predict_arguments,
        _guarded("cvxlift predict", run_predict),
    ),
    "bench": Command(
        "time the fast block solvers against their CVXPY problems on the built-in sample",
        _add_bench_arguments,
        _guarded("cvxlift bench", run_bench),
    ),
    "plot": Command(
        "draw an atom: D(u, .) for a few u and the argmin over a line against forward",
        _add_plot_arguments,
        _guarded("cvxlift plot", run_plot),
    ),
}


# ---------------------------------------------------------------------- entry point
def build_parser(commands=None):
    """The argument parser, one subparser per entry of ``commands`` (default :data:`COMMANDS`)."""
    commands = COMMANDS if commands is None else commands
    parser = argparse.ArgumentParser(prog="cvxlift", description="Lifted neural networks on CVXPY.")
    parser.add_argument("--version", action="version", version=f"cvxlift {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    for name, cmd in commands.items():
        p = sub.add_parser(name, help=cmd.help, description=cmd.help)
        cmd.add_arguments(p)
        p.set_defaults(_run=cmd.run)
    return parser


def main(argv=None):
    """Run the ``cvxlift`` command.

    Parameters
    ----------
    argv : list of str, optional
        The arguments after ``cvxlift`` (default ``sys.argv[1:]``).

    Returns
    -------
    int
        The exit status: 0 success, 1 a failed check or error, 2 a usage error (see
        ``cvxlift --help``). Errors are reported in one line, never as a traceback.
    """
    parser = build_parser()
    args = parser.parse_args(argv)
    if getattr(args, "_run", None) is None:
        parser.print_help(sys.stderr)
        return EXIT_USAGE
    return int(_guarded(f"cvxlift {args.command}", args._run)(args))  # never a traceback, whatever the command


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
