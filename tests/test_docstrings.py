"""Every object of the API reference (docs/api.md) has numpydoc sections.

A public function or method that takes arguments has a ``Parameters`` section; one that
returns a value has ``Returns`` (or ``Yields``); a class that takes arguments documents them
under ``Parameters`` or, for a record, ``Attributes``. A method that overrides a documented
method of a base class inherits its contract (the base's sections count).
"""

import importlib
import inspect
import re
from pathlib import Path

import pytest

API_PAGE = Path(__file__).resolve().parents[1] / "docs" / "api.md"
OPTIONAL = ("sklearn", "torch", "dask", "matplotlib")


def _entries():
    return re.findall(r"^::: (\S+)", API_PAGE.read_text(encoding="utf-8"), re.M)


def _resolve(name):
    parts = name.split(".")
    for i in range(len(parts), 0, -1):
        try:
            obj = importlib.import_module(".".join(parts[:i]))
        except ImportError as exc:
            if any(opt in str(exc) for opt in OPTIONAL):
                pytest.skip(f"{name} needs an optional dependency: {exc}")
            continue
        for p in parts[i:]:
            obj = getattr(obj, p)
        return obj
    raise ImportError(name)


def _takes_arguments(fn):
    try:
        sig = inspect.signature(fn)
    except (TypeError, ValueError):
        return False
    return any(p.name not in ("self", "cls") for p in sig.parameters.values())


def _returns_value(fn):
    try:
        src = inspect.getsource(fn)
    except (OSError, TypeError):
        return False
    return bool(re.search(r"^\s+(return|yield)[ \t]+\S", src, re.M))


def _inherited_doc(cls, name):
    for base in cls.__mro__[1:]:
        if name in vars(base):
            doc = inspect.getdoc(vars(base)[name])
            if doc:
                return doc
    return ""


def _problems(name, obj):
    out = []
    doc = inspect.getdoc(obj) or ""
    if inspect.ismodule(obj):
        for n in getattr(obj, "__all__", []):
            member = getattr(obj, n)
            if inspect.isfunction(member) or inspect.isclass(member):
                out += _problems(f"{name}.{n}", member)
        return out
    if inspect.isclass(obj):
        init_doc = inspect.getdoc(obj.__init__) or ""
        if _takes_arguments(obj) and not re.search(r"(Parameters|Attributes)\n", doc + "\n" + init_doc):
            out.append(f"{name}: no Parameters (or Attributes) section")
        for mname, meth in vars(obj).items():
            if mname.startswith("_") or not inspect.isfunction(meth):
                continue
            mdoc = (inspect.getdoc(meth) or "") + "\n" + _inherited_doc(obj, mname)
            if _takes_arguments(meth) and "Parameters\n" not in mdoc:
                out.append(f"{name}.{mname}: no Parameters section")
            if _returns_value(meth) and not re.search(r"(Returns|Yields)\n", mdoc):
                out.append(f"{name}.{mname}: no Returns section")
        return out
    if inspect.isfunction(obj):
        if _takes_arguments(obj) and "Parameters\n" not in doc:
            out.append(f"{name}: no Parameters section")
        if _returns_value(obj) and not re.search(r"(Returns|Yields)\n", doc):
            out.append(f"{name}: no Returns section")
    return out


def test_the_api_page_lists_objects():
    assert len(_entries()) >= 40


@pytest.mark.parametrize("name", _entries())
def test_numpydoc_sections(name):
    problems = _problems(name, _resolve(name))
    assert not problems, "\n".join(problems)


def test_the_checker_catches_a_missing_section():
    def undocumented(x):
        """Twice ``x``."""
        return 2 * x

    assert _problems("undocumented", undocumented) == [
        "undocumented: no Parameters section",
        "undocumented: no Returns section",
    ]
