"""Name -> divergence class registry.

A class that sets ``name`` registers itself when it is defined; the built-in atoms are
found by importing every module of :mod:`cvxlift.divergences` (so a new built-in atom
needs one new file and nothing else). User atoms register with
:func:`cvxlift.declare_divergence` (``register=True``) or by subclassing.
"""
import inspect

from ..exceptions import UnknownAtomError, ValidationError

_REGISTRY = {}


def normalize(name):
    """The registry key of ``name``: lower case, ``-`` read as ``_`` (``"Leaky-ReLU"`` -> ``"leaky_relu"``)."""
    return str(name).lower().replace("-", "_")


def register(cls, name=None):
    key = normalize(name or cls.name)
    _REGISTRY[key] = cls
    return cls


def lookup(name):
    """The registered entry for ``name`` (see :func:`normalize`), or ``None`` if there is none."""
    return _REGISTRY.get(normalize(name))


def available():
    """Sorted names of every registered divergence."""
    return sorted(_REGISTRY)


def get_divergence(spec, **params):
    """A divergence instance from an instance, a class, or a registered name.

    ``get_divergence("leaky_relu", negative_slope=0.1)``. Unknown names raise
    :class:`~cvxlift.exceptions.UnknownAtomError` listing the known ones.
    """
    from .base import Divergence

    if isinstance(spec, Divergence):
        if params:
            raise ValidationError("parameters cannot be given with a divergence instance")
        return spec
    if isinstance(spec, type) and issubclass(spec, Divergence):
        return _construct(spec, spec.__name__, params)
    if isinstance(spec, str):
        key = normalize(spec)
        if key not in _REGISTRY:
            raise UnknownAtomError(
                f"unknown activation/divergence {spec!r}; known: {', '.join(available())}"
            )
        entry = _REGISTRY[key]
        if isinstance(entry, Divergence):
            if params:
                raise ValidationError(f"divergence {spec!r} takes no parameters")
            return entry
        return _construct(entry, spec, params)
    raise ValidationError(
        f"activation must be a Divergence, a Divergence subclass or a name among "
        f"{available()}; got {type(spec).__name__}"
    )


def _construct(cls, label, params):
    """``cls(**params)``; a parameter the class does not take raises :class:`ValidationError`
    naming it and the parameters the class does take (not a bare ``TypeError``)."""
    if params:
        try:
            accepted = [p for p in inspect.signature(cls).parameters.values()
                        if p.kind in (p.POSITIONAL_OR_KEYWORD, p.KEYWORD_ONLY)]
            var_kw = any(p.kind == p.VAR_KEYWORD for p in inspect.signature(cls).parameters.values())
        except (TypeError, ValueError):
            accepted, var_kw = None, True
        if not var_kw and accepted is not None:
            names = [p.name for p in accepted]
            unknown = sorted(set(params) - set(names))
            if unknown:
                raise ValidationError(
                    f"divergence {label!r} takes no parameter {', '.join(map(repr, unknown))}; "
                    f"its parameters: {names if names else 'none'}"
                )
    return cls(**params)
