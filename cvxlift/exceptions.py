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


class CertificationError(CvxliftError, ValueError):
    """A user-written prox or block solver failed certification against the DSL
    (:func:`cvxlift.register_solver`); ``report`` holds the :class:`~cvxlift.certify.CertifyReport`."""

    def __init__(self, message, report=None):
        super().__init__(message)
        self.report = report
