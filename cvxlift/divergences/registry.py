"""Name -> divergence class registry.

A class that sets ``name`` registers itself when it is defined; the built-in atoms are
found by importing every module of :mod:`cvxlift.divergences` (so a new built-in atom
needs one new file and nothing else). User atoms register with
:func:`cvxlift.declare_divergence` (``register=True``; a declared atom is a class too) or
by subclassing.

The registry holds classes only. Names are normalised the same way on :func:`register` and
:func:`lookup` (:func:`normalize`: lower case, ``-`` read as ``_``), so ``"soft-thr"`` and
``"soft_thr"`` are one name. Registering a name that is taken by another class raises
:class:`~cvxlift.exceptions.ValidationError` (``replace=True`` replaces it); redefining
the same class (same module and qualified name, e.g. a module reload) replaces it.
"""

import inspect

from ..exceptions import UnknownAtomError, ValidationError

_REGISTRY = {}


def normalize(name):
    """The registry key of ``name``: lower case, ``-`` read as ``_`` (``"Leaky-ReLU"`` -> ``"leaky_relu"``).

    Parameters
    ----------
    name : str
        A divergence name in any case, with ``-`` or ``_``.

    Returns
    -------
    str
        The registry key.
    """
    return str(name).lower().replace("-", "_")


def register(cls, name=None, replace=False):
    """Register the divergence class ``cls`` under ``name`` (default ``cls.name``).

    Parameters
    ----------
    cls : type
        A :class:`~cvxlift.divergences.base.Divergence` subclass (not an instance).
    name : str, optional
        Registry name; normalised by :func:`normalize`.
    replace : bool
        Replace another class registered under the same name.

    Returns
    -------
    type
        ``cls``.

    Raises
    ------
    ValidationError
        ``cls`` is not a Divergence subclass, the name is empty, or it is taken by another
        class and ``replace`` is false.
    """
    from .base import Divergence

    if not (isinstance(cls, type) and issubclass(cls, Divergence)):
        raise ValidationError(f"the registry holds Divergence classes only; got {cls!r}")
    raw = name if name is not None else cls.name
    if not isinstance(raw, str) or not raw.strip():
        raise ValidationError(f"a registry name must be a non-empty string; got {raw!r}")
    key = normalize(raw)
    old = _REGISTRY.get(key)
    same = old is not None and (old is cls or (old.__module__, old.__qualname__) == (cls.__module__, cls.__qualname__))
    if old is not None and not same and not replace:
        raise ValidationError(
            f"the name {raw!r} (registry key {key!r}) is taken by {old.__module__}.{old.__qualname__}; "
            "choose another name or pass replace=True"
        )
    _REGISTRY[key] = cls
    return cls


def unregister(name):
    """Remove ``name`` from the registry (no error when it is not there).

    Parameters
    ----------
    name : str
        Registry name (normalised by :func:`normalize`).

    Returns
    -------
    type or None
        The class that was registered, or ``None``.
    """
    return _REGISTRY.pop(normalize(name), None)


def lookup(name):
    """The registered class for ``name`` (see :func:`normalize`), or ``None`` if there is none.

    Parameters
    ----------
    name : str
        Registry name (normalised by :func:`normalize`).

    Returns
    -------
    type or None
        The :class:`~cvxlift.divergences.base.Divergence` subclass registered under ``name``.
    """
    return _REGISTRY.get(normalize(name))


def available():
    """Sorted names of every registered divergence.

    Returns
    -------
    list of str
        The registry keys (see :func:`normalize`), sorted; each one works with :func:`get_divergence`.
    """
    return sorted(_REGISTRY)


def get_divergence(spec, **params):
    """A divergence instance from an instance, a class, or a registered name.

    ``get_divergence("leaky_relu", negative_slope=0.1)``. Unknown names raise
    :class:`~cvxlift.exceptions.UnknownAtomError` listing the known ones.

    Parameters
    ----------
    spec : Divergence, type or str
        An atom (returned as is), a :class:`~cvxlift.divergences.base.Divergence` subclass, or a
        registered name (case-insensitive, ``-`` read as ``_``; see :func:`available`).
    **params
        Constructor arguments (with a class or a name).

    Returns
    -------
    Divergence
        The atom :math:`D(u, z)` whose argmin in ``z`` is the activation.

    Raises
    ------
    UnknownAtomError
        ``spec`` is a name that is not registered (the message lists the known ones).
    ValidationError
        ``spec`` has another type, or ``params`` are given with an instance or do not fit the class.
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
            raise UnknownAtomError(f"unknown activation/divergence {spec!r}; known: {', '.join(available())}")
        return _construct(_REGISTRY[key], spec, params)
    raise ValidationError(
        f"activation must be a Divergence, a Divergence subclass or a name among "
        f"{available()}; got {type(spec).__name__}"
    )


def _construct(cls, label, params):
    """``cls(**params)``; a parameter the class does not take raises :class:`ValidationError`
    naming it and the parameters the class does take (not a bare ``TypeError``)."""
    if params:
        try:
            accepted = [
                p
                for p in inspect.signature(cls).parameters.values()
                if p.kind in (p.POSITIONAL_OR_KEYWORD, p.KEYWORD_ONLY)
            ]
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
