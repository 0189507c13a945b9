"""cvxlift: lifted neural networks on CVXPY.

Each activation :math:`x_{l+1} = \\phi(W_l x_l + b_l)` is replaced by the penalty
:math:`\\lambda D_\\phi(W_l x_l + b_l, x_{l+1})`, with :math:`\\phi(u) = \\arg\\min_z D_\\phi(u, z)`.
"""
from ._version import __version__
from .divergences import *  # noqa: F401,F403  (every atom, registered)
from .divergences import Divergence, available, get_divergence, register
from .divergences.custom import declare_divergence
from .exceptions import (
    CertificationError,
    CvxliftError,
    FormError,
    NotFittedError,
    SolverError,
    UnknownAtomError,
    ValidationError,
)
from .verify import VerifyReport, verify
from .network import LiftedNetwork
from .losses import get_loss
from .exceptions import PersistenceError
from .persistence import save, load
from .reference import BlockReference, block_reference, reference
from .certify import certify, register_solver

# Optional-dependency exports, resolved on first access (``import cvxlift`` must not import
# scikit-learn). Other lazy exports can be added to this table: name -> (module, extra).
_LAZY_EXPORTS = {
    "LiftedMLPClassifier": ("cvxlift.estimators", "sklearn"),
    "LiftedMLPRegressor": ("cvxlift.estimators", "sklearn"),
}


def __getattr__(name):
    entry = _LAZY_EXPORTS.get(name)
    if entry is None:
        raise AttributeError(f"module 'cvxlift' has no attribute {name!r}")
    import importlib

    module, extra = entry
    try:
        mod = importlib.import_module(module)
    except ImportError as exc:
        raise ImportError(f"cvxlift.{name} needs an optional dependency ({exc}); install it with "
                          f"`pip install cvxlift[{extra}]`") from exc
    return getattr(mod, name)


def __dir__():
    return sorted(set(globals()) | set(_LAZY_EXPORTS))
