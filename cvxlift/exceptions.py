"""Exception classes raised by cvxlift.

Every error names the argument (or block) at fault and what was expected.
"""


class CvxliftError(Exception):
    """Base class of all cvxlift errors."""


class ValidationError(CvxliftError, ValueError):
    """An argument has the wrong shape, dtype, range or value."""


class UnknownAtomError(CvxliftError, KeyError):
    """An activation/divergence name is not in the registry."""

    def __str__(self):  # KeyError quotes its message; keep it readable
        return str(self.args[0]) if self.args else ""


class FormError(CvxliftError, ValueError):
    """A divergence was asked for a form (``"fenchel"``/``"joint"``) it does not have."""


class SolverError(CvxliftError, RuntimeError):
    """A convex solve failed (every solver tried), or a requested solver is missing."""


class NotFittedError(CvxliftError, AttributeError):
    """A model was used before ``fit``."""


class PersistenceError(CvxliftError, ValueError):
    """A model cannot be saved (e.g. a custom atom), or a file cannot be loaded as a model
    (missing, truncated, not a cvxlift file, edited or corrupted, newer format)."""


class UnknownActivationError(UnknownAtomError, ValidationError):
    """An estimator's ``activation`` names no registered atom.

    Both a :class:`UnknownAtomError` (a ``KeyError``, as the registry raises) and a
    ``ValueError`` (what scikit-learn code expects from a bad parameter).
    """


class NoFastSolver(CvxliftError, NotImplementedError):
    """No fast solver handles a block; the message names the block, its atoms and forms, and
    the property each candidate solver needs. Under ``solver="fast"`` the block runs on CVXPY
    with a warning, or this error is raised with ``fallback="error"``."""


class FastPathFallbackWarning(UserWarning):
    """A block ran on CVXPY under ``solver="fast"`` because no fast solver applies (once per block
    and fit; ``fallback="error"`` raises :class:`NoFastSolver` instead)."""


class BlockMemoryError(CvxliftError, MemoryError):
    """A CVXPY block ran out of memory; the message names the block, the number of columns and the
    memory asked for."""


class NoTorchEquivalent(CvxliftError, NotImplementedError):
    """An atom has no PyTorch module (see :meth:`cvxlift.Divergence.torch_module`)."""


class CommandError(CvxliftError):
    """A usage or input error of a ``cvxlift`` subcommand: reported as one line, exit status 2."""


class CertificationError(CvxliftError, ValueError):
    """A user-written prox or block solver failed certification against the DSL
    (:func:`cvxlift.register_solver`); ``report`` holds the :class:`~cvxlift.certify.CertifyReport`."""

    def __init__(self, message, report=None):
        super().__init__(message)
        self.report = report
