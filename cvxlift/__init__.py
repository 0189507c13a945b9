"""cvxlift: lifted neural networks on CVXPY.

Each activation :math:`x_{l+1} = \\phi(W_l x_l + b_l)` is replaced by the penalty
:math:`\\lambda D_\\phi(W_l x_l + b_l, x_{l+1})`, with :math:`\\phi(u) = \\arg\\min_z D_\\phi(u, z)`.

Subpackages: :mod:`cvxlift.divergences` (the atoms), :mod:`cvxlift.assembly` (the CVXPY
blocks), :mod:`cvxlift.fast` (the certified fast block solvers), :mod:`cvxlift.training`
(the block-coordinate-descent engine and its backends).
"""

from ._version import __version__
from .certify import certify, register_solver
from .divergences import *  # noqa: F401,F403  (every atom, registered)
from .divergences import Divergence, available, get_divergence, register
from .divergences import __all__ as _atoms
from .divergences.custom import declare_divergence
from .exceptions import (
    BlockMemoryError,
    CertificationError,
    CommandError,
    CvxliftError,
    FastPathFallbackWarning,
    FormError,
    NoFastSolver,
    NotFittedError,
    PersistenceError,
    SolverError,
    UnknownAtomError,
    ValidationError,
)
from .losses import get_loss
from .network import LiftedNetwork
from .persistence import load, save
from .reference import BlockReference, block_reference, reference
from .verify import VerifyReport, verify

# Optional-dependency exports, resolved on first access (``import cvxlift`` must not import
# scikit-learn). Other lazy exports can be added to this table: name -> (module, extra).
_LAZY_EXPORTS = {
    "LiftedMLPClassifier": ("cvxlift.estimators", "sklearn"),
    "LiftedMLPRegressor": ("cvxlift.estimators", "sklearn"),
}

__all__ = sorted(
    set(_atoms)
    | {
        "__version__",
        "Divergence",
        "available",
        "get_divergence",
        "register",
        "declare_divergence",
        "BlockMemoryError",
        "CommandError",
        "CvxliftError",
        "FastPathFallbackWarning",
        "FormError",
        "NoFastSolver",
        "NotFittedError",
        "PersistenceError",
        "SolverError",
        "UnknownAtomError",
        "ValidationError",
        "VerifyReport",
        "verify",
        "LiftedNetwork",
        "get_loss",
        "save",
        "load",
        "CertificationError",
        "BlockReference",
        "block_reference",
        "reference",
        "certify",
        "register_solver",
    }
    | set(_LAZY_EXPORTS)
)


def __getattr__(name):
    entry = _LAZY_EXPORTS.get(name)
    if entry is None:
        raise AttributeError(f"module 'cvxlift' has no attribute {name!r}")
    import importlib

    module, extra = entry
    try:
        mod = importlib.import_module(module)
    except ImportError as exc:
        raise ImportError(
            f"cvxlift.{name} needs an optional dependency ({exc}); install it with `pip install cvxlift[{extra}]`"
        ) from exc
    return getattr(mod, name)


def __dir__():
    return sorted(set(globals()) | set(_LAZY_EXPORTS))
