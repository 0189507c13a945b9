"""cvxlift: lifted neural networks on CVXPY.

Each activation :math:`x_{l+1} = \\phi(W_l x_l + b_l)` is replaced by the penalty
:math:`\\lambda D_\\phi(W_l x_l + b_l, x_{l+1})`, with :math:`\\phi(u) = \\arg\\min_z D_\\phi(u, z)`.
"""
from ._version import __version__
from .divergences import *  # noqa: F401,F403  (every atom, registered)
from .divergences import Divergence, available, get_divergence, register
from .divergences.custom import declare_divergence
from .exceptions import (
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
