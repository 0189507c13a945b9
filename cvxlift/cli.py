"""The ``cvxlift`` command (also ``python -m cvxlift``).

Subcommands are entries of :data:`COMMANDS`: a name mapped to a :class:`Command`
(one-line help, a function that adds the subcommand's arguments to its parser, and a
function that runs it and returns the exit status). Adding a subcommand means adding
one entry; :func:`main` builds the parser from the table.

Exit status: 0 success, 1 a check failed (``verify``: some atom failed), 2 a usage
error (unknown atom name, missing solver, subcommand not available yet).
"""
import argparse
import math
import sys
from dataclasses import dataclass
from typing import Callable

from . import __version__, cvxsolve
from .divergences import available, get_divergence
from .divergences.base import FORMS
from .exceptions import SolverError, UnknownAtomError
from .verify import verify

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
        "names", nargs="*", metavar="NAME",
        help="registered atoms to check (default: every name in cvxlift.available())",
    )
    parser.add_argument("--n-grid", type=int, default=2001,
                        help="grid points for elementwise atoms (default: %(default)s)")
    parser.add_argument("--n-random", type=int, default=200,
                        help="random input columns (default: %(default)s)")
    parser.add_argument("--seed", type=int, default=0,
                        help="seed of the random inputs (default: %(default)s)")
    parser.add_argument("--solver", default=None,
                        help="pin one CVXPY solver (default: picked from each atom's cones)")


def _fmt_err(value):
    return "-" if value is None or math.isnan(value) else f"{value:.2e}"


def summary_rows(results):
    """Rows (header first) of the summary table for ``[(name, report), ...]``."""
    rows = [("atom", "result", *(f"argmin {f}" for f in FORMS), "prox", "seconds")]
    for name, report in results:
        forms = report.divergence.forms
        argmin = [_fmt_err(report.error("argmin", f)) if f in forms else "n/a" for f in FORMS]
        rows.append((
            name, "PASSED" if report.passed else "FAILED", *argmin,
            _fmt_err(report.error("prox")), f"{report.seconds:.1f}",
        ))
    return rows


def format_table(rows):
    """Left-aligned columns, two spaces apart."""
    widths = [max(len(r[i]) for r in rows) for i in range(len(rows[0]))]
    return "\n".join("  ".join(c.ljust(w) for c, w in zip(r, widths)).rstrip() for r in rows)


def _resolve_names(names):
    """Instances for ``names``; raises :class:`UnknownAtomError` before any work is done."""
    return [(name, get_divergence(name)) for name in names]


def run_verify(args):
    """``cvxlift verify [NAME ...]``: verify each atom, print its table and a summary."""
    prog = "cvxlift verify"
    names = args.names or available()
    try:
        atoms = _resolve_names(names)
        if args.solver is not None:
            cvxsolve.candidate_solvers(solver=args.solver)  # SolverError if not installed
    except (UnknownAtomError, SolverError) as exc:
        return _error(prog, str(exc))
    for label, value in (("--n-grid", args.n_grid), ("--n-random", args.n_random)):
        if value < 1:
            return _error(prog, f"{label} must be a positive integer, got {value}")

    results = []
    for name, atom in atoms:
        try:
            report = verify(atom, n_random=args.n_random, n_grid=args.n_grid,
                            seed=args.seed, solver=args.solver)
        except SolverError as exc:
            return _error(prog, f"{name}: {exc}")
        print(report.table(), end="\n\n", flush=True)
        results.append((name, report))

    print(f"summary (n_grid={args.n_grid}, n_random={args.n_random}, seed={args.seed}, "
          f"solver={args.solver or 'auto'}); errors are scaled |z - forward(u)| / max(1, |u|)")
    print(format_table(summary_rows(results)))
    failed = [name for name, report in results if not report.passed]
    if failed:
        print(f"FAILED: {', '.join(failed)}")
        return EXIT_FAILED
    print(f"all {len(results)} atoms PASSED")
    return EXIT_OK


# ---------------------------------------------------------------------- placeholders
# PLACEHOLDER subcommands: a later issue replaces each entry of COMMANDS below with a
# real Command (help, add_arguments, run). Until then they accept any arguments, print
# "not available yet" and exit with status 2.
def _add_placeholder_arguments(parser):
    parser.set_defaults(_accept_extra=True)  # any arguments: the message is the same


def _placeholder(name):
    def run(args):
        return _error(f"cvxlift {name}", f"'cvxlift {name}' is not available yet")

    return Command(f"(not available yet) {name}", _add_placeholder_arguments, run)


COMMANDS = {
    "verify": Command(
        "check every claim of divergence atoms (DCP, argmin == forward, uniqueness, "
        "Fenchel-Young, values, prox) and print a table",
        _add_verify_arguments, run_verify,
    ),
    "demo": _placeholder("demo"),        # PLACEHOLDER: filled by a later issue
    "train": _placeholder("train"),      # PLACEHOLDER: filled by a later issue
    "predict": _placeholder("predict"),  # PLACEHOLDER: filled by a later issue
    "bench": _placeholder("bench"),      # PLACEHOLDER: filled by a later issue
}


# ---------------------------------------------------------------------- entry point
def build_parser(commands=None):
    """The argument parser, one subparser per entry of ``commands`` (default :data:`COMMANDS`)."""
    commands = COMMANDS if commands is None else commands
    parser = argparse.ArgumentParser(
        prog="cvxlift", description="Lifted neural networks on CVXPY.")
    parser.add_argument("--version", action="version", version=f"cvxlift {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    for name, cmd in commands.items():
        p = sub.add_parser(name, help=cmd.help, description=cmd.help)
        cmd.add_arguments(p)
        p.set_defaults(_run=cmd.run)
    return parser


def main(argv=None):
    """Run the ``cvxlift`` command with ``argv`` (default ``sys.argv[1:]``); return the exit status."""
    parser = build_parser()
    args, extra = parser.parse_known_args(argv)
    if extra and not getattr(args, "_accept_extra", False):
        parser.error(f"unrecognized arguments: {' '.join(extra)}")
    if getattr(args, "_run", None) is None:
        parser.print_help(sys.stderr)
        return EXIT_USAGE
    return int(args._run(args))


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
