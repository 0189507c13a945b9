"""Divergence atoms: one module per family.

Every module of this package is imported here, so each atom class (a subclass of
:class:`Divergence` with a ``name``) registers itself and is exported.
"""

import importlib
import pkgutil

from .base import Divergence
from .registry import available, get_divergence, register

__all__ = ["Divergence", "available", "get_divergence", "register"]

_SKIP = {"base", "registry"}
for _info in sorted(pkgutil.iter_modules(__path__), key=lambda i: i.name):
    if _info.name in _SKIP:
        continue
    _mod = importlib.import_module(f"{__name__}.{_info.name}")
    for _name in getattr(_mod, "__all__", None) or dir(_mod):
        _obj = getattr(_mod, _name)
        if isinstance(_obj, type) and issubclass(_obj, Divergence) and _obj.__module__ == _mod.__name__:
            globals()[_name] = _obj
            if _name not in __all__:
                __all__.append(_name)
        elif _name in getattr(_mod, "__all__", ()):
            globals()[_name] = _obj
            if _name not in __all__:
                __all__.append(_name)
