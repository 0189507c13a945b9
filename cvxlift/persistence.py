"""Saving and loading trained models without pickle: :func:`save` and :func:`load`.

A model file is one ``.npz`` archive (a zip of ``.npy`` entries, as :func:`numpy.savez`
writes it). It holds the arrays (``weights_<l>``, ``biases_<l>``, optionally
``states_<l>``) and one entry ``__meta__``: a UTF-8 JSON document stored as a 1-D
``uint8`` array. The JSON names the format and its version, the cvxlift/numpy versions that
wrote it, the model kind, the model description (for a network: sizes, atoms by registry
name and parameters, forms, loss, ``lam_``, ``rho_``, ``random_state``, the fitted scalars;
an estimator adds its hyper-parameters and fitted attributes), the dtype, shape and SHA-256
digest of every array and a digest of the JSON itself.

Loading never executes code from the file and validates before it builds or allocates:

1. the file is opened as a regular file (a FIFO or device is refused without blocking);
2. the zip directory is read; every entry must be a ``<name>.npy`` of a stored or deflated
   member whose declared size the file can actually hold;
3. ``__meta__`` is parsed and the **whole description is validated** (types, ranges, and
   the fields against each other: ``hidden_layer_sizes`` against the weights' shapes,
   ``classes_`` unique, sorted and of an allowed dtype, ``feature_names_in_`` against
   ``n_features_in_``, finite histories, ...), which yields the arrays the model needs with
   their dtypes and shapes;
4. every ``.npy`` header is read (``numpy.lib.format``) and compared with that plan and
   with the member's size **before** any array is allocated (a small file claiming a huge
   shape is refused, never a ``MemoryError``);
5. the arrays are read and checked against their digests, then the model is built.

``save`` runs the same validation on what it is about to write, so a file ``save`` writes
always loads, and writes through :func:`cvxlift.safeio.atomic_write` (atomic, never through
a link or onto a device). Every failure raises :class:`~cvxlift.exceptions.PersistenceError`
naming the path and the problem. See ``docs/persistence.md``.
"""

import hashlib
import json
import math
import numbers
import os
import re
import reprlib
import struct
import warnings
import zipfile
import zlib
from pathlib import Path

import numpy as np

from . import arrays as ax
from ._version import __version__
from .dataio import check_zip_members, read_npy_data, read_npy_header
from .divergences.base import Divergence
from .divergences.custom import CustomDivergence
from .divergences.registry import available, get_divergence, lookup
from .exceptions import CvxliftError, NotFittedError, PersistenceError
from .losses import LOSSES
from .safeio import atomic_write, check_path, open_regular, show_path

__all__ = [
    "ESTIMATOR_FORMAT",
    "ESTIMATOR_VERSION",
    "FORMAT_NAME",
    "FORMAT_VERSION",
    "MODEL_KINDS",
    "estimator_from_state",
    "estimator_to_state",
    "load",
    "network_from_state",
    "network_to_state",
    "save",
]

#: Value of the ``format`` entry of ``__meta__``.
FORMAT_NAME = "cvxlift-model"
#: Version of the file layout written by this cvxlift; :func:`load` reads versions 1..FORMAT_VERSION.
FORMAT_VERSION = 1
#: Name of the metadata entry of the archive.
META_KEY = "__meta__"
#: Suffix :func:`save` appends when the path lacks it (as :func:`numpy.savez` does).
SUFFIX = ".npz"
#: ``format`` and newest ``version`` of an estimator's description (``model`` in ``__meta__``).
ESTIMATOR_FORMAT, ESTIMATOR_VERSION = "cvxlift.estimator", 1

NETWORK_KIND = "cvxlift.network.LiftedNetwork"
#: The allow-list of model kinds :func:`load` accepts: kind -> (module, class name). The class
#: is imported from this table only, never from a name read in a file.
MODEL_KINDS = {
    NETWORK_KIND: ("cvxlift.network", "LiftedNetwork"),
    "cvxlift.estimators.LiftedMLPRegressor": ("cvxlift.estimators", "LiftedMLPRegressor"),
    "cvxlift.estimators.LiftedMLPClassifier": ("cvxlift.estimators", "LiftedMLPClassifier"),
}

_ZIP_MAGIC = (b"PK\x03\x04", b"PK\x05\x06")  # local file header, empty archive
_ARRAY_NAME = re.compile(r"^(?!__)[A-Za-z0-9_][A-Za-z0-9_.\-]{0,127}$")
_RESERVED = {"file", "allow_pickle", "args", "kwds"}  # keyword names of np.savez itself
_FLOAT64 = ("<f8", ">f8")
_SEED_MAX = 2**32 - 1
_BLOCK_NAME = re.compile(r"^[\w ()\-.:]{1,64}$")
_CLASS_DTYPE = re.compile(r"^(?:[|<>=]?(?:b1|i[1248]|u[1248]|f[248])|[<>=|]?U(?:[1-9][0-9]{0,4})|\|O)$")
_short = reprlib.Repr()
_short.maxstring, _short.maxother, _short.maxlist, _short.maxdict = 60, 60, 8, 8


# ---------------------------------------------------------------------------- digests
def _array_digest(a):
    """SHA-256 (hex) of an array's dtype, shape and C-order bytes."""
    h = hashlib.sha256()
    h.update(a.dtype.str.encode("ascii"))
    h.update(b"|")
    h.update(json.dumps([int(s) for s in a.shape]).encode("ascii"))
    h.update(b"|")
    h.update(np.ascontiguousarray(a).tobytes())
    return h.hexdigest()


def _canonical_json(obj):
    return json.dumps(obj, sort_keys=True, separators=(",", ":"), ensure_ascii=True, allow_nan=True)


def _meta_digest(meta):
    """SHA-256 (hex) of the canonical JSON of ``meta`` without its ``meta_sha256`` entry."""
    body = {k: v for k, v in meta.items() if k != "meta_sha256"}
    return hashlib.sha256(_canonical_json(body).encode("utf-8")).hexdigest()


# ---------------------------------------------------------------------------- JSON field checks
def _bad(where, expected, value):
    raise PersistenceError(f"{where} must be {expected}, got {_short.repr(value)}")


def _is_int(v):
    return isinstance(v, int) and not isinstance(v, bool)


def _is_num(v):
    return isinstance(v, (int, float)) and not isinstance(v, bool)


def _int(v, where, low=None, high=None):
    if not _is_int(v) or (low is not None and v < low) or (high is not None and v > high):
        rng = "" if low is None else (f" in [{low}, {high}]" if high is not None else f" >= {low}")
        _bad(where, f"an integer{rng}", v)
    return v


def _num(v, where, low=None, positive=False):
    if not _is_num(v) or not math.isfinite(v) or (low is not None and v < low) or (positive and v <= 0):
        _bad(where, "a finite number" + (" > 0" if positive else "" if low is None else f" >= {low}"), v)
    return float(v)


def _bool(v, where):
    if not isinstance(v, bool):
        _bad(where, "true or false", v)
    return v


def _str(v, where, choices=None):
    if not isinstance(v, str) or (choices is not None and v not in choices):
        _bad(where, "a string" if choices is None else f"one of {sorted(choices)}", v)
    return v


def _list(v, where, length=None, min_len=0):
    if not isinstance(v, list) or (length is not None and len(v) != length) or len(v) < min_len:
        n = f" of {length} entries" if length is not None else (f" of at least {min_len} entries" if min_len else "")
        _bad(where, f"a list{n}", v)
    return v


def _opt(check, v, *args, **kw):
    return None if v is None else check(v, *args, **kw)


def _numbers(v, where, length=None, low=None):
    return [_num(x, f"{where}[{i}]", low=low) for i, x in enumerate(_list(v, where, length))]


def _keys(d, where, required, optional=()):
    """``d`` is a dict with every key of ``required``, and no key outside ``required | optional``."""
    if not isinstance(d, dict):
        _bad(where, "a JSON object", d)
    missing = [k for k in required if k not in d]
    if missing:
        raise PersistenceError(f"{where}: missing entry {missing[0]!r}")
    extra = sorted(set(d) - set(required) - set(optional))
    if extra:
        raise PersistenceError(
            f"{where}: unexpected entr{'y' if len(extra) == 1 else 'ies'} {extra} "
            f"(this format has {sorted(set(required) | set(optional))})"
        )
    return d


def _same_json(a, b):
    """``a`` and ``b`` are the same JSON value (numbers compared by value, other types strictly)."""
    if _is_num(a) and _is_num(b):
        return float(a) == float(b)
    if type(a) is not type(b):
        return False
    if isinstance(a, list):
        return len(a) == len(b) and all(_same_json(x, y) for x, y in zip(a, b))
    if isinstance(a, dict):
        return a.keys() == b.keys() and all(_same_json(a[k], b[k]) for k in a)
    return a == b


def _jsonable(value, name):
    """``value`` with tuples -> lists and numpy scalars/arrays -> Python (JSON-ready)."""
    if value is None or isinstance(value, (bool, str)):
        return value
    if isinstance(value, np.bool_):
        return bool(value)
    if isinstance(value, numbers.Integral):
        return int(value)
    if isinstance(value, numbers.Real):
        return float(value)
    if isinstance(value, np.ndarray):
        return _jsonable(value.tolist(), name)
    if isinstance(value, (list, tuple)):
        return [_jsonable(v, name) for v in value]
    if isinstance(value, dict):
        return {str(k): _jsonable(v, name) for k, v in value.items()}
    raise PersistenceError(
        f"cannot save: {name}={_short.repr(value)} ({type(value).__name__}) cannot be stored as JSON"
    )


def _float_list(values):
    return None if values is None else [float(v) for v in values]


# ---------------------------------------------------------------------------- atoms
def _registered_class(name):
    """The registry class of ``name``, or None when it is unknown or a declared (custom) atom."""
    if not isinstance(name, str):
        return None
    entry = lookup(name)
    if isinstance(entry, type) and issubclass(entry, Divergence) and not issubclass(entry, CustomDivergence):
        return entry
    return None


def _atom_to_json(l, d):
    where = f"layer {l} ({d!r})"
    if isinstance(d, CustomDivergence):
        raise PersistenceError(
            f"cannot save: {where} is a custom atom declared with declare_divergence; its Python "
            "callables cannot be saved without code (cvxlift does not pickle). Save weights_/biases_ "
            "yourself, or define the atom as a registered Divergence subclass"
        )
    cls = _registered_class(d.name)
    if cls is None or type(d) is not cls:
        raise PersistenceError(
            f"cannot save: {where} is not a registered atom (type {type(d).__qualname__}, name "
            f"{d.name!r}); only atoms of the registry ({', '.join(available())}) can be saved without code"
        )
    params = d.get_params()
    try:
        params_json = json.loads(_canonical_json(params))
        rebuilt = cls(**params_json)
    except Exception as exc:  # noqa: BLE001 - any failure means the atom cannot be described
        raise PersistenceError(
            f"cannot save: {where}: its parameters {params!r} cannot be stored as JSON and rebuilt ({exc})"
        ) from exc
    if rebuilt != d:
        raise PersistenceError(
            f"cannot save: {where}: rebuilding it from get_params() = {params!r} gives {rebuilt!r}, a different atom"
        )
    return {"name": cls.name, "params": params_json}


def _atom_from_json(where, spec):
    _keys(spec, where, ("name", "params"))
    name = _str(spec["name"], f"{where}: name")
    params = spec["params"]
    if not isinstance(params, dict):
        _bad(f"{where}: params", "a JSON object", params)
    cls = _registered_class(name)
    if cls is None:
        raise PersistenceError(
            f"{where}: unknown atom name {name!r} (known: {', '.join(available())}); "
            "if it is your own registered Divergence subclass, import its module first"
        )
    try:
        atom = cls(**params)
    except Exception as exc:  # noqa: BLE001 - the atom's own validation, whatever it raises
        raise PersistenceError(f"{where}: atom {name!r} rejects params {_short.repr(params)} ({exc})") from exc
    if not _same_json(json.loads(_canonical_json(atom.get_params())), params):
        raise PersistenceError(
            f"{where}: atom {name!r} reads params {_short.repr(params)} as "
            f"{atom.get_params()!r}: stored parameters must be the atom's own values"
        )
    return atom


# ---------------------------------------------------------------------------- plans
class _Plan:
    """What a validated description needs: the arrays (name -> (dtypes, shape)) and a builder.

    A shape entry is an ``int`` or a symbol (``str``): every dimension with the same symbol
    must have the same size, at least 1 (e.g. ``"m"``, the number of training columns).
    """

    def __init__(self, arrays, build):
        self.arrays, self.build = arrays, build


def _match_plan(plan, found):
    """``found`` (name -> (dtype str, shape)) is exactly what ``plan`` expects; raises otherwise."""
    extra = sorted(set(found) - set(plan.arrays))
    if extra:
        raise PersistenceError(f"unexpected arrays {extra} for this model (it has {sorted(plan.arrays)})")
    missing = sorted(set(plan.arrays) - set(found))
    if missing:
        raise PersistenceError(f"array(s) {missing} needed by the model description are missing")
    dims = {}
    for name in plan.arrays:  # the description's order: weights_0, biases_0, states_0, weights_1, ...
        dtypes, want = plan.arrays[name]
        dtype, shape = found[name]
        if dtype not in dtypes:
            raise PersistenceError(f"array {name!r} must be float64, got dtype {dtype}")
        ok = len(shape) == len(want)
        for s, w in zip(shape, want) if ok else ():
            if isinstance(w, str):
                if s < 1:
                    ok = False
                elif dims.setdefault(w, s) != s:
                    raise PersistenceError(
                        f"array {name!r} has shape {tuple(shape)}: its states have different "
                        f"numbers of columns ({dims[w]} and {s})"
                    )
            elif s != w:
                ok = False
        if not ok:
            raise PersistenceError(
                f"array {name!r} has shape {tuple(shape)}, inconsistent with the network sizes (expected {tuple(want)})"
            )
    return dims


def _array_order(name):
    m = re.match(r"^(.*?)(\d+)$", name)
    return (m.group(1), int(m.group(2))) if m else (name, -1)


# ---------------------------------------------------------------------------- network state
def network_to_state(net, include_states=True):
    """Describe a :class:`~cvxlift.LiftedNetwork` as ``(meta, arrays)``.

    Parameters
    ----------
    net : LiftedNetwork
        A network with weights (fitted, or after ``init_weights``).
    include_states : bool
        Also describe the lifted states ``states_`` (when the network has them).

    Returns
    -------
    meta : dict
        JSON-ready: ``"network"`` (sizes, atoms as ``{"name", "params"}``, forms, loss, lam,
        rho, random_state) and ``"fitted"`` (n_iter, history, history_blocks, interrupted,
        fit_seconds, has_states).
    arrays : dict of str to ndarray
        ``weights_<l>``, ``biases_<l>`` and, with states, ``states_<l>`` (float64).

    Raises
    ------
    NotFittedError
        Without weights.
    PersistenceError
        For a model that cannot be described without code (custom atom or loss) or
        non-finite weights.
    """
    from .network import LiftedNetwork

    if type(net) is not LiftedNetwork:
        raise PersistenceError(f"network_to_state expects a LiftedNetwork, got {type(net).__qualname__}")
    if getattr(net, "weights_", None) is None:
        raise NotFittedError("cannot save an unfitted LiftedNetwork: call fit() (or init_weights()) first")
    acts = [_atom_to_json(l, d) for l, d in enumerate(net.activations_)]
    loss = net.loss_
    if LOSSES.get(loss.name) is not type(loss):
        raise PersistenceError(
            f"cannot save: loss {loss!r} ({type(loss).__qualname__}) is not a built-in loss "
            f"({', '.join(sorted(LOSSES))})"
        )
    rs = net.random_state
    if rs is not None and not (isinstance(rs, (int, np.integer)) and not isinstance(rs, bool)):
        raise PersistenceError(
            f"cannot save: random_state must be an int or None to be stored, got "
            f"{type(rs).__qualname__}; set net.random_state to an int or None first"
        )
    arrays = {}
    L1 = net.n_layers
    for l in range(L1):
        arrays[f"weights_{l}"] = np.asarray(ax.to_numpy(net.weights_[l]), dtype=np.float64)
        arrays[f"biases_{l}"] = np.asarray(ax.to_numpy(net.biases_[l]), dtype=np.float64)
    states = getattr(net, "states_", None)
    has_states = bool(include_states) and states is not None
    if has_states:
        for l in range(L1):
            arrays[f"states_{l}"] = np.asarray(ax.to_numpy(states[l]), dtype=np.float64)
    for name, a in arrays.items():
        if not np.all(np.isfinite(a)):
            raise PersistenceError(f"cannot save: {name} contains NaN or inf; load() would refuse the file")
    history = getattr(net, "history_", None)
    fitted = {
        "n_iter": None if getattr(net, "n_iter_", None) is None else int(net.n_iter_),
        "history": None if history is None else [float(h) for h in history],
        "history_blocks": None
        if getattr(net, "history_blocks_", None) is None
        else [str(b) for b in net.history_blocks_],
        "interrupted": None if getattr(net, "interrupted_", None) is None else bool(net.interrupted_),
        "fit_seconds": None if getattr(net, "fit_seconds_", None) is None else float(net.fit_seconds_),
        "has_states": has_states,
    }
    meta = {
        "network": {
            "sizes": [int(s) for s in net.sizes],
            "activations": acts,
            "forms": [str(f) for f in net.forms_],
            "loss": loss.name,
            "lam": [float(v) for v in net.lam_],
            "rho": [float(v) for v in net.rho_],
            "random_state": None if rs is None else int(rs),
        },
        "fitted": fitted,
    }
    return meta, arrays


def _network_plan(meta):
    """Validate a network description; return the plan and the (weightless) network it describes."""
    from .network import LiftedNetwork

    _keys(meta, "model description", ("network", "fitted"))
    where = "network description"
    net_d = _keys(meta["network"], where, ("sizes", "activations", "forms", "loss", "lam", "rho", "random_state"))
    sizes = _list(net_d["sizes"], f"{where}: sizes", min_len=2)
    sizes = [_int(s, f"{where}: sizes[{i}]", low=1) for i, s in enumerate(sizes)]
    L1 = len(sizes) - 1
    acts = [
        _atom_from_json(f"layer {l}", spec)
        for l, spec in enumerate(_list(net_d["activations"], f"{where}: activations", L1))
    ]
    forms = [_str(f, f"{where}: forms[{l}]") for l, f in enumerate(_list(net_d["forms"], f"{where}: forms", L1))]
    loss = net_d["loss"]
    if not isinstance(loss, str) or loss not in LOSSES:
        raise PersistenceError(f"{where}: unknown loss {_short.repr(loss)} (known: {', '.join(sorted(LOSSES))})")
    lam = [_num(v, f"{where}: lam[{l}]", positive=True) for l, v in enumerate(_list(net_d["lam"], f"{where}: lam", L1))]
    rho = [_num(v, f"{where}: rho[{l}]", low=0) for l, v in enumerate(_list(net_d["rho"], f"{where}: rho", L1))]
    rs = _opt(_int, net_d["random_state"], f"{where}: random_state", 0, _SEED_MAX)
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # e.g. cross_entropy without a Simplex output: as saved
            net = LiftedNetwork(sizes, activations=acts, loss=loss, lam=lam, rho=rho, form=forms, random_state=rs)
    except CvxliftError as exc:
        raise PersistenceError(f"{where} is inconsistent: {exc}") from exc

    where = "fitted state"
    fit_d = _keys(
        meta["fitted"], where, ("n_iter", "history", "history_blocks", "interrupted", "fit_seconds", "has_states")
    )
    n_iter = _opt(_int, fit_d["n_iter"], f"{where}: n_iter", 0)
    history = fit_d["history"]
    if history is not None:
        if not (isinstance(history, list) and all(_is_num(h) for h in history)):
            raise PersistenceError(f"{where}: history must be a list of numbers, got {_short.repr(history)}")
        history = _numbers(history, f"{where}: history")
    blocks = fit_d["history_blocks"]
    if blocks is not None:
        if (
            history is None
            or not isinstance(blocks, list)
            or len(blocks) != len(history)
            or not all(isinstance(b, str) and _BLOCK_NAME.match(b) for b in blocks)
        ):
            raise PersistenceError(
                f"{where}: history_blocks must be short block names, one per history entry, got {_short.repr(blocks)}"
            )
    interrupted = _opt(_bool, fit_d["interrupted"], f"{where}: interrupted")
    secs = _opt(_num, fit_d["fit_seconds"], f"{where}: fit_seconds", 0)
    has_states = _bool(fit_d["has_states"], f"{where}: has_states")

    arrays = {}
    for l in range(L1):
        arrays[f"weights_{l}"] = (_FLOAT64, (net.u_dims_[l], sizes[l]))
        arrays[f"biases_{l}"] = (_FLOAT64, (net.u_dims_[l],))
        if has_states:
            arrays[f"states_{l}"] = (_FLOAT64, (sizes[l + 1], "m"))

    def build(found):
        _match_plan(plan, {k: (a.dtype.str, a.shape) for k, a in found.items()})
        what = {"weights": "weights", "biases": "biases", "states": "states"}
        vals = {}
        for name in arrays:
            a = np.ascontiguousarray(found[name], dtype=np.float64)  # native byte order, C order
            if not np.all(np.isfinite(a)):
                kind, l = name.split("_")
                raise PersistenceError(
                    f"array {name!r} (layer {l} {what[kind]}) contains non-finite values (NaN or inf)"
                )
            vals[name] = a
        net.weights_ = [vals[f"weights_{l}"] for l in range(L1)]
        net.biases_ = [vals[f"biases_{l}"] for l in range(L1)]
        if has_states:
            net.states_ = [vals[f"states_{l}"] for l in range(L1)]
        for attr, value in (
            ("history_", history),
            ("history_blocks_", blocks),
            ("n_iter_", n_iter),
            ("interrupted_", interrupted),
            ("fit_seconds_", secs),
        ):
            if value is not None:
                setattr(net, attr, list(value) if isinstance(value, list) else value)
        return net

    plan = _Plan(arrays, build)
    return plan, net, {"n_iter": n_iter}


def network_from_state(meta, arrays):
    """Rebuild a :class:`~cvxlift.LiftedNetwork` from :func:`network_to_state`'s output.

    Parameters
    ----------
    meta : dict
        The description (``{"network": ..., "fitted": ...}``), as JSON gives it back.
    arrays : dict of str to ndarray
        Exactly the arrays the description needs (``weights_<l>``, ``biases_<l>``, and
        ``states_<l>`` when ``fitted.has_states``).

    Returns
    -------
    LiftedNetwork
        The network, with weights, biases, states and fitted attributes restored.

    Raises
    ------
    PersistenceError
        When any field is missing, of the wrong type or out of range, when the fields
        disagree with each other, or when an array is missing, extra, of the wrong dtype
        or shape, or not finite (without a path; :func:`load` adds it).
    """
    plan, _, _ = _network_plan(meta)
    return plan.build(_checked_arrays(arrays))


def _checked_arrays(arrays):
    if not isinstance(arrays, dict):
        _bad("arrays", "a dict of numpy arrays", arrays)
    for name, a in arrays.items():
        if not isinstance(a, np.ndarray) or a.dtype.hasobject:
            raise PersistenceError(f"array {name!r} must be a numeric numpy array, got {type(a).__name__}")
    return arrays


# ---------------------------------------------------------------------------- estimator state
def _activation_to_json(spec):
    """``activation`` as JSON: a name, ``{"name", "params"}`` for an instance (plus
    ``"class": True`` for a Divergence subclass, ``"custom": True`` for a declared atom)."""
    if spec is None or isinstance(spec, str):
        return spec
    if isinstance(spec, type) and issubclass(spec, Divergence):
        if not spec.name:
            raise PersistenceError(f"cannot save: activation class {spec.__qualname__} has no registry name")
        return {"name": spec.name, "params": {}, "class": True}
    if isinstance(spec, Divergence):
        if isinstance(spec, CustomDivergence):
            return {"name": spec.name, "params": {}, "custom": True}
        return {"name": spec.name, "params": _jsonable(spec.get_params(), "activation")}
    raise PersistenceError(f"cannot save: activation {_short.repr(spec)} cannot be stored as JSON")


def _activation_from_json(spec):
    where = "hyper-parameter activation"
    if isinstance(spec, str):
        return spec
    if isinstance(spec, dict) and (spec.get("custom") is True or spec.get("class") is True):
        flag = "custom" if spec.get("custom") is True else "class"
        _keys(spec, where, ("name", "params", flag))
        if spec["params"] != {}:
            _bad(f"{where}: params", "{} for a class or a declared atom", spec["params"])
        try:
            atom = get_divergence(_str(spec["name"], f"{where}: name"))
        except CvxliftError as exc:
            raise PersistenceError(f"{where}: {exc}") from exc
        if flag == "class":
            if isinstance(atom, CustomDivergence):
                raise PersistenceError(f"{where}: {spec['name']!r} is a declared atom, not a Divergence class")
            return type(atom)
        if not isinstance(atom, CustomDivergence):
            raise PersistenceError(f"{where}: {spec['name']!r} is not a declared (custom) atom")
        return atom
    if isinstance(spec, dict):
        return _atom_from_json(where, spec)
    _bad(where, "a name or {'name', 'params'}", spec)


_SEED = lambda v, w: _int(v, w, 0, _SEED_MAX)
#: JSON types of the estimators' hyper-parameters in a file (values are then checked by the
#: estimator's own validation, as ``fit`` does).
_PARAM_TYPES = {
    "hidden_layer_sizes": lambda v, w: (
        v if _is_int(v) else [_int(h, f"{w}[{i}]", 1) for i, h in enumerate(_list(v, w))]
    ),
    "lam": lambda v, w: _num(v, w) if not isinstance(v, list) else _numbers(v, w),
    "rho": lambda v, w: _num(v, w) if not isinstance(v, list) else _numbers(v, w),
    "max_iter": _int,
    "tol": _num,
    "solver": _str,
    "prediction": _str,
    "form": lambda v, w: _opt(
        lambda x, y: x if isinstance(x, str) else [_str(f, f"{y}[{i}]") for i, f in enumerate(_list(x, y))], v, w
    ),
    "inner_max_iter": lambda v, w: _opt(_int, v, w, 1),
    "loss": lambda v, w: _opt(_str, v, w),
    "early_stopping": _bool,
    "validation_fraction": _num,
    "n_iter_no_change": _int,
    "random_state": lambda v, w: _opt(_SEED, v, w),
    "verbose": lambda v, w: v if isinstance(v, bool) else _int(v, w, 0),
}


def estimator_to_state(est, include_states=True):
    """Describe a cvxlift estimator (``LiftedMLPClassifier``/``...Regressor``) as ``(meta, arrays)``.

    Parameters
    ----------
    est : LiftedMLPClassifier or LiftedMLPRegressor
        Fitted or not.
    include_states : bool
        Also describe the network's lifted states.

    Returns
    -------
    meta : dict
        JSON-ready: ``format``/``version``/``estimator``, ``params`` (``get_params()``; a
        Divergence ``activation`` as ``{"name", "params"}``, tuples as lists, listed in
        ``tuple_params``), ``fitted`` and, when fitted, ``network_state`` (from
        :func:`network_to_state`) and ``attributes`` (the fitted scalars and lists,
        ``classes_`` as values with their dtype).
    arrays : dict of str to ndarray
        The network's arrays (none when unfitted).
    """
    params = {}
    for key, value in est.get_params(deep=False).items():
        if key == "activation":
            params[key] = _activation_to_json(value)
        elif key == "random_state" and not (
            value is None or (isinstance(value, numbers.Integral) and not isinstance(value, bool))
        ):
            warnings.warn(f"random_state={value!r} cannot be stored; it is saved as None", UserWarning, stacklevel=3)
            params[key] = None
        else:
            params[key] = _jsonable(value, key)
    tuples = sorted(k for k, v in est.get_params(deep=False).items() if isinstance(v, tuple))
    meta = {
        "format": ESTIMATOR_FORMAT,
        "version": ESTIMATOR_VERSION,
        "estimator": type(est).__name__,
        "params": params,
        "tuple_params": tuples,
        "fitted": hasattr(est, "network_"),
    }
    arrays = {}
    if meta["fitted"]:
        net_meta, arrays = network_to_state(est.network_, include_states=include_states)
        meta["network_state"] = net_meta
        attrs = {
            "n_features_in_": int(est.n_features_in_),
            "n_iter_": int(est.n_iter_),
            "loss_curve_": _float_list(est.loss_curve_),
            "train_scores_": _float_list(est.train_scores_),
            "validation_scores_": _float_list(est.validation_scores_),
            "best_validation_score_": None if est.best_validation_score_ is None else float(est.best_validation_score_),
            "best_loss_": None if est.best_loss_ is None else float(est.best_loss_),
        }
        if hasattr(est, "feature_names_in_"):
            attrs["feature_names_in_"] = [str(f) for f in est.feature_names_in_]
        if hasattr(est, "interrupted_"):
            attrs["interrupted_"] = bool(est.interrupted_)
        if est.coefs_ and np.asarray(est.coefs_[0]).dtype == np.float32:
            attrs["coefs_dtype"] = "float32"  # fitted on float32 input (the network stays float64)
        if hasattr(est, "classes_"):
            attrs["classes_"] = _classes_to_json(est.classes_)
        else:
            attrs["n_outputs_"] = int(est.n_outputs_)
            attrs["y_ndim"] = int(est._y_ndim)
        meta["attributes"] = attrs
    return meta, dict(arrays)


def _classes_to_json(classes):
    classes = np.asarray(classes)
    if not _CLASS_DTYPE.match(classes.dtype.str):
        raise PersistenceError(
            f"cannot save: classes_ of dtype {classes.dtype} cannot be stored (labels must be "
            "booleans, integers, floats or strings)"
        )
    values = classes.tolist()
    if classes.dtype.kind == "O" and not all(isinstance(v, (str, int, float, bool)) for v in values):
        raise PersistenceError("cannot save: classes_ holds objects other than str/int/float/bool")
    return {"values": _jsonable(values, "classes_"), "dtype": classes.dtype.str, "kind": classes.dtype.kind}


def _classes_from_json(spec, n_out):
    where = "attribute classes_"
    _keys(spec, where, ("values", "dtype", "kind"))
    dtype = _str(spec["dtype"], f"{where}: dtype")
    if not _CLASS_DTYPE.match(dtype):
        _bad(f"{where}: dtype", "a boolean, integer, float, string or object dtype", dtype)
    dtype = np.dtype(dtype)
    if spec["kind"] != dtype.kind:
        _bad(f"{where}: kind", f"{dtype.kind!r} (the kind of dtype {dtype})", spec["kind"])
    values = _list(spec["values"], f"{where}: values", n_out)
    kinds = {"b": (bool,), "i": (int,), "u": (int,), "f": (int, float), "U": (str,)}
    if dtype.kind == "O":
        groups = [(str,), (int, float), (bool,)]
        first = type(values[0]) if values else str
        allowed = next((g for g in groups if first in g), ())
    else:
        allowed = kinds[dtype.kind]
    for i, v in enumerate(values):
        if type(v) not in allowed or (isinstance(v, float) and not math.isfinite(v)):
            _bad(f"{where}: values[{i}]", f"a {'/'.join(t.__name__ for t in allowed) or 'label'} for dtype {dtype}", v)
    try:
        classes = np.array(values, dtype=dtype)
    except (OverflowError, ValueError, TypeError) as exc:
        raise PersistenceError(f"{where}: values do not fit dtype {dtype} ({exc})") from exc
    if classes.tolist() != values or [type(v) for v in classes.tolist()] != [type(v) for v in values]:
        raise PersistenceError(f"{where}: values change when stored as dtype {dtype}")
    try:
        unique = np.unique(classes)
    except TypeError as exc:
        raise PersistenceError(f"{where}: values cannot be ordered ({exc})") from exc
    if unique.shape != classes.shape or not np.array_equal(unique, classes):
        raise PersistenceError(
            f"{where}: labels must be unique and sorted (as numpy.unique returns them), got {_short.repr(values)}"
        )
    return classes


def _estimator_class(kind):
    module, name = MODEL_KINDS[kind]
    try:
        from . import estimators
    except ImportError as exc:
        raise PersistenceError(
            f'model kind {kind!r} needs scikit-learn ({exc}); install it with `pip install "cvxlift[sklearn]"`'
        ) from exc
    return getattr(estimators, name)


def _estimator_plan(cls, meta):
    """Validate an estimator description; return its plan."""
    where = "estimator description"
    _keys(
        meta,
        where,
        ("format", "version", "estimator", "params", "tuple_params", "fitted"),
        ("network_state", "attributes"),
    )
    if meta["format"] != ESTIMATOR_FORMAT:
        raise PersistenceError(f"not a cvxlift estimator state (format {_short.repr(meta['format'])})")
    _int(meta["version"], f"{where}: version", 1, ESTIMATOR_VERSION)
    if meta["estimator"] != cls.__name__:
        raise PersistenceError(f"state describes a {_short.repr(meta['estimator'])}, not a {cls.__name__}")
    names = sorted(cls().get_params(deep=False))
    raw = _keys(meta["params"], "hyper-parameters", (), names)
    params = {}
    for key, value in raw.items():
        w = f"hyper-parameter {key}"
        if key == "activation":
            params[key] = _activation_from_json(value)
        else:
            check = _PARAM_TYPES.get(key)
            if check is not None:
                check(value, w)
            elif not (value is None or isinstance(value, (bool, str)) or _is_num(value)):
                _bad(w, "a JSON scalar", value)
            params[key] = value
    tuples = _list(meta["tuple_params"], f"{where}: tuple_params")
    for key in tuples:
        if not isinstance(key, str) or not isinstance(params.get(key), list):
            _bad(f"{where}: tuple_params", "names of list-valued hyper-parameters", tuples)
        params[key] = tuple(params[key])
    est = cls(**params)
    try:
        hp = est._check_params()  # the estimator's own validation, exactly as fit() runs it
    except CvxliftError as exc:
        raise PersistenceError(f"hyper-parameters: {exc}") from exc
    if not _bool(meta["fitted"], f"{where}: fitted"):
        extra = sorted({"network_state", "attributes"} & set(meta))
        if extra:
            raise PersistenceError(f"{where}: an unfitted estimator has no {extra}")

        def build_unfitted(found):
            _match_plan(plan, {k: (a.dtype.str, a.shape) for k, a in found.items()})
            return est

        plan = _Plan({}, build_unfitted)
        return plan
    _keys(
        meta,
        where,
        ("format", "version", "estimator", "params", "tuple_params", "fitted", "network_state", "attributes"),
    )
    net_plan, net, net_fitted = _network_plan(meta["network_state"])
    sizes = net.sizes
    if list(hp["hidden_layer_sizes"]) != sizes[1:-1]:
        raise PersistenceError(
            f"hyper-parameter hidden_layer_sizes={list(hp['hidden_layer_sizes'])} disagrees with "
            f"the network's hidden sizes {sizes[1:-1]} (weights of shapes "
            f"{[(u, n) for u, n in zip(net.u_dims_, sizes[:-1])]})"
        )
    ref = cvx_ref = None
    try:
        from .network import LiftedNetwork

        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            ref = LiftedNetwork(sizes, activations=hp["activation"], loss=hp["loss"], form=est.form)
    except CvxliftError as exc:
        cvx_ref = exc
    if (
        ref is None
        or ref.activations_ != net.activations_
        or ref.forms_ != net.forms_
        or ref.loss_.name != net.loss_.name
    ):
        got = (
            "an error: " + str(cvx_ref)
            if ref is None
            else f"atoms {ref.activations_}, forms {ref.forms_}, loss {ref.loss_.name!r}"
        )
        raise PersistenceError(
            f"hyper-parameters activation/loss/form give {got}; the network has atoms "
            f"{net.activations_}, forms {net.forms_}, loss {net.loss_.name!r}"
        )

    where = "attribute"
    is_classifier = hasattr(cls, "predict_proba")
    target = ("classes_",) if is_classifier else ("n_outputs_", "y_ndim")
    attrs = _keys(
        meta["attributes"],
        "attributes",
        (
            "n_features_in_",
            "n_iter_",
            "loss_curve_",
            "train_scores_",
            "validation_scores_",
            "best_validation_score_",
            "best_loss_",
            *target,
        ),
        ("feature_names_in_", "interrupted_", "coefs_dtype"),
    )
    n_in = _int(attrs["n_features_in_"], f"{where} n_features_in_", 1)
    if n_in != sizes[0]:
        raise PersistenceError(f"{where} n_features_in_={n_in} does not match the network input size {sizes[0]}")
    names_in = attrs.get("feature_names_in_")
    if names_in is not None:
        _list(names_in, f"{where} feature_names_in_ (one name per feature, n_features_in_={n_in})", n_in)
        for i, f in enumerate(names_in):
            _str(f, f"{where} feature_names_in_[{i}]")
    interrupted = _opt(_bool, attrs.get("interrupted_"), f"{where} interrupted_")
    coefs_dtype = np.dtype(_str(attrs.get("coefs_dtype", "float64"), f"{where} coefs_dtype", ("float32", "float64")))
    n_iter = _int(attrs["n_iter_"], f"{where} n_iter_", 0)
    if net_fitted["n_iter"] is not None and net_fitted["n_iter"] != n_iter:
        raise PersistenceError(f"{where} n_iter_={n_iter} differs from the network's n_iter {net_fitted['n_iter']}")
    score_low = 0.0 if is_classifier else None
    curve = _numbers(attrs["loss_curve_"], f"{where} loss_curve_ (one value per sweep, n_iter_={n_iter})", n_iter)
    train = _numbers(
        attrs["train_scores_"], f"{where} train_scores_ (one per sweep, n_iter_={n_iter})", n_iter, low=score_low
    )
    val = attrs["validation_scores_"]
    best_val, best_loss = attrs["best_validation_score_"], attrs["best_loss_"]
    if est.early_stopping:
        val = _numbers(val, f"{where} validation_scores_ (early_stopping: one per sweep)", n_iter, low=score_low)
        want = max(val) if val else None
        if not (best_val is None and want is None) and not (_is_num(best_val) and best_val == want):
            _bad(f"{where} best_validation_score_", f"the best validation score {want}", best_val)
        if best_loss is not None:
            _bad(f"{where} best_loss_", "null with early stopping", best_loss)
    else:
        if val is not None or best_val is not None:
            raise PersistenceError(
                f"{where}s validation_scores_/best_validation_score_ must be null without early stopping"
            )
        want = min(curve) if curve else None
        if not (best_loss is None and want is None) and not (_is_num(best_loss) and best_loss == want):
            _bad(f"{where} best_loss_", f"the least loss_curve_ value {want}", best_loss)
    if is_classifier:
        if any(s > 1.0 for s in train + (val or [])):
            raise PersistenceError(f"{where} train/validation scores of a classifier are accuracies in [0, 1]")
        classes = _classes_from_json(attrs["classes_"], sizes[-1])
        if classes.size < 2:
            raise PersistenceError(f"{where} classes_ must hold at least 2 classes, got {classes.size}")
    else:
        n_out = _int(attrs["n_outputs_"], f"{where} n_outputs_", 1)
        if n_out != sizes[-1]:
            raise PersistenceError(f"{where} n_outputs_={n_out} does not match the network output size {sizes[-1]}")
        y_ndim = _int(attrs["y_ndim"], f"{where} y_ndim", 1, 2)
        if y_ndim == 1 and n_out != 1:
            raise PersistenceError(f"{where} y_ndim=1 (1-D targets) needs n_outputs_=1, got {n_out}")

    def build(found):
        est.network_ = net_plan.build(found)
        est.coefs_ = [np.array(W.T, dtype=coefs_dtype) for W in net.weights_]
        est.intercepts_ = [np.array(b, dtype=coefs_dtype) for b in net.biases_]
        if interrupted is not None:
            est.interrupted_ = interrupted
        est.n_features_in_ = n_in
        if names_in is not None:
            est.feature_names_in_ = np.asarray(names_in, dtype=object)
        est.n_iter_ = n_iter
        est.n_layers_ = len(sizes)
        est.out_activation_ = net.activations_[-1].name
        est.loss_curve_, est.train_scores_ = curve, train
        est.validation_scores_ = None if val is None else list(val)
        est.best_validation_score_ = None if best_val is None else float(best_val)
        est.best_loss_ = None if best_loss is None else float(best_loss)
        if is_classifier:
            est.classes_ = classes
        else:
            est.n_outputs_, est._y_ndim = n_out, y_ndim
        return est

    return _Plan(net_plan.arrays, build)


def estimator_from_state(cls, meta, arrays):
    """Rebuild an estimator of class ``cls`` from :func:`estimator_to_state`'s output.

    Parameters
    ----------
    cls : type
        ``LiftedMLPClassifier`` or ``LiftedMLPRegressor``.
    meta : dict
        The description, as JSON gives it back.
    arrays : dict of str to ndarray
        The network's arrays (none for an unfitted estimator).

    Returns
    -------
    estimator
        An instance of ``cls`` with its hyper-parameters and, when fitted, its network and
        fitted attributes.

    Raises
    ------
    PersistenceError
        When any field is missing, of the wrong type or out of range (hyper-parameters are
        checked as ``fit`` checks them), or disagrees with the network (hidden sizes, atoms,
        classes, feature names, history lengths), or when an array does not fit.
    """
    return _estimator_plan(cls, meta).build(_checked_arrays(arrays))


# ---------------------------------------------------------------------------- the model kinds
def _kind_of(model):
    """The kind (``"module.Class"``) of ``model``'s exact class; :class:`PersistenceError` unless allow-listed."""
    kinds = [f"{c.__module__}.{c.__qualname__}" for c in type(model).__mro__]
    if kinds[0] in MODEL_KINDS:
        return kinds[0]
    if any(k in MODEL_KINDS for k in kinds):
        raise PersistenceError(
            f"cannot save a {kinds[0]}: load() only accepts the model kinds "
            f"{sorted(MODEL_KINDS)} (subclasses included: they need code to rebuild)"
        )
    raise PersistenceError(
        f"cannot save an object of type {type(model).__qualname__}: save() takes a LiftedNetwork or a cvxlift estimator"
    )


def _plan_for(kind, model_meta):
    if kind == NETWORK_KIND:
        return _network_plan(model_meta)[0]
    return _estimator_plan(_estimator_class(kind), model_meta)


def _model_state(model, include_states):
    kind = _kind_of(model)
    if kind == NETWORK_KIND:
        meta, arrays = network_to_state(model, include_states=include_states)
    else:
        meta, arrays = estimator_to_state(model, include_states=include_states)
    return kind, meta, arrays


# ---------------------------------------------------------------------------- save
def _save_target(path):
    """The path :func:`save` writes: ``path``, with ``.npz`` appended when missing."""
    p = check_path(path, PersistenceError, "save to")
    return Path(p if p.endswith(SUFFIX) else p + SUFFIX)


def save(model, path, include_states=True):
    """Save a model to one ``.npz`` file, without pickle; return the path written.

    Parameters
    ----------
    model : LiftedNetwork or cvxlift estimator
        A network with weights (``NotFittedError`` otherwise) or a cvxlift estimator. Every
        atom must be a registered atom (not a :func:`~cvxlift.declare_divergence` one): the
        file stores atoms by name.
    path : str or os.PathLike
        Destination. ``".npz"`` is appended when the name does not end with it (as
        :func:`numpy.savez` does). It must be absent or a regular file: a symbolic link, a
        directory, a device or a FIFO is refused. Directories in the path may be links.
    include_states : bool
        Also store the lifted states ``states_`` (needed for ``fit(warm_start=True)``).

    Returns
    -------
    pathlib.Path
        The file written.

    Raises
    ------
    PersistenceError
        For a model that cannot be described without code, a description that :func:`load`
        would refuse, or any path problem (NUL byte, name too long, missing directory, link,
        device, permission), always naming the path.

    Notes
    -----
    The description is validated exactly as :func:`load` validates it, so a saved file
    loads. The file is written to a temporary file in the same directory and renamed over
    ``path`` (:func:`cvxlift.safeio.atomic_write`): an interrupted or failed save leaves any
    existing file intact.
    """
    target = _save_target(path)
    kind, model_meta, arrays = _model_state(model, include_states)
    table = {}
    for name, a in arrays.items():
        if not isinstance(name, str) or not _ARRAY_NAME.match(name) or name in _RESERVED:
            raise PersistenceError(f"cannot save: invalid array name {name!r}")
        a = np.asarray(a)
        if a.dtype.hasobject:
            raise PersistenceError(f"cannot save: array {name!r} has dtype object (it would need pickle)")
        arrays[name] = a
        table[name] = {"dtype": a.dtype.str, "shape": [int(s) for s in a.shape], "sha256": _array_digest(a)}
    meta = {
        "format": FORMAT_NAME,
        "format_version": FORMAT_VERSION,
        "cvxlift_version": __version__,
        "numpy_version": np.__version__,
        "kind": kind,
        "model": model_meta,
        "arrays": table,
    }
    try:
        meta["meta_sha256"] = _meta_digest(meta)
        text = json.dumps(meta, sort_keys=True, indent=1, allow_nan=True)
    except (TypeError, ValueError) as exc:
        raise PersistenceError(f"cannot save: the model description is not JSON-serialisable ({exc})") from exc
    try:  # what load() will see, validated as load() validates it
        _match_plan(_plan_for(kind, json.loads(text)["model"]), {k: (a.dtype.str, a.shape) for k, a in arrays.items()})
    except PersistenceError as exc:
        raise PersistenceError(f"cannot save: load() would refuse this model: {exc}") from exc
    payload = {META_KEY: np.frombuffer(text.encode("utf-8"), dtype=np.uint8)}
    payload.update((k, arrays[k]) for k in sorted(arrays))
    with atomic_write(target, PersistenceError, "save to") as fh:
        np.savez(fh, **payload)
    return target


# ---------------------------------------------------------------------------- load
_READ_ERRORS = (
    zipfile.BadZipFile,
    zlib.error,
    struct.error,
    EOFError,
    OSError,
    ValueError,
    KeyError,
    TypeError,
    NotImplementedError,
    RuntimeError,
    OverflowError,
    SyntaxError,
)


def _load_source(path):
    """The file :func:`load` reads: ``path`` if it exists, else ``path + ".npz"``."""
    p = check_path(path, PersistenceError, "load")
    if not p.endswith(SUFFIX) and not os.path.lexists(p) and os.path.lexists(p + SUFFIX):
        p = p + SUFFIX
    return p


def _zip_entries(zf, disk_size, err):
    """name -> ZipInfo of every ``<name>.npy`` entry (plain members the file can hold)."""
    entries = {}
    for fname, info in check_zip_members(zf, disk_size, err).items():
        key = fname[:-4] if fname.endswith(".npy") else None
        if key is None or not (key == META_KEY or _ARRAY_NAME.match(key)):
            raise err(
                f"unexpected entry {_short.repr(fname)} in the archive (a model file holds only <name>.npy arrays)"
            )
        entries[key] = info
    return entries


def _read_header(zf, key, info, err):
    """The checked ``.npy`` header of entry ``key`` (nothing beyond the header is read)."""
    label = META_KEY if key == META_KEY else f"array {key!r}"
    try:
        with zf.open(info) as f:
            return read_npy_header(f, info.file_size, label, err)
    except _READ_ERRORS as exc:
        if isinstance(exc, PersistenceError):
            raise
        raise err(f"truncated or corrupted archive while reading {label} ({type(exc).__name__}: {exc})") from exc


def _read_data(zf, key, info, header, err):
    """The array of entry ``key``, allocated only after its header was checked against the file."""
    label = META_KEY if key == META_KEY else f"array {key!r}"
    try:
        with zf.open(info) as f:
            f.read(header.offset)
            return read_npy_data(f, header, label, err)
    except _READ_ERRORS as exc:
        if isinstance(exc, PersistenceError):
            raise
        raise err(f"truncated or corrupted archive while reading {label} ({type(exc).__name__}: {exc})") from exc


def _read_meta(zf, entries, err, fail):
    if META_KEY not in entries:
        fail(f"no {META_KEY} entry: not a cvxlift model file (entries: {sorted(entries)[:10]})")
    header = _read_header(zf, META_KEY, entries[META_KEY], err)
    dt, shape = header.dtype, header.shape
    if not ((dt == np.uint8 and len(shape) == 1) or (dt.kind == "U" and math.prod(shape) == 1 and len(shape) <= 1)):
        fail(f"{META_KEY} must be a 1-D uint8 array (UTF-8 JSON), got dtype {dt} shape {shape}")
    raw = _read_data(zf, META_KEY, entries[META_KEY], header, err)
    data = raw.tobytes() if dt == np.uint8 else str(raw.reshape(())).encode("utf-8")
    try:
        meta = json.loads(data.decode("utf-8"))
    except (UnicodeDecodeError, ValueError, RecursionError) as exc:
        fail(f"{META_KEY} is not valid UTF-8 JSON ({exc})", exc)
    if not isinstance(meta, dict):
        fail(f"{META_KEY} must be a JSON object, got {type(meta).__name__}")
    return meta


def _check_header(meta, fail):
    fmt = meta.get("format")
    if fmt != FORMAT_NAME:
        fail(f"not a cvxlift model file (format {_short.repr(fmt)}, expected {FORMAT_NAME!r})")
    version = meta.get("format_version")
    if not isinstance(version, int) or isinstance(version, bool) or version < 1:
        fail(f"invalid format version {_short.repr(version)}")
    if version > FORMAT_VERSION:
        fail(
            f"format version {version} is newer than this cvxlift {__version__} reads "
            f"(up to {FORMAT_VERSION}; written by cvxlift {_short.repr(meta.get('cvxlift_version'))}); "
            "upgrade cvxlift"
        )
    kind = meta.get("kind")
    if not isinstance(kind, str) or kind not in MODEL_KINDS:
        fail(f"unknown model kind {_short.repr(kind)} (this cvxlift loads {sorted(MODEL_KINDS)})")
    extra = sorted(
        set(meta)
        - {"format", "format_version", "cvxlift_version", "numpy_version", "kind", "model", "arrays", "meta_sha256"}
    )
    if extra:
        fail(f"unexpected metadata entries {extra}")
    for key in ("cvxlift_version", "numpy_version", "meta_sha256"):
        if not isinstance(meta.get(key), str):
            fail(f"the metadata entry {key!r} must be a string, got {_short.repr(meta.get(key))}")
    if not isinstance(meta.get("model"), dict):
        fail("the metadata has no 'model' description")
    if not isinstance(meta.get("arrays"), dict):
        fail("the metadata has no 'arrays' checksum table")


def _check_table(meta, entries, fail):
    """The checksum table: well-formed, and naming exactly the archive's arrays."""
    table = meta["arrays"]
    names = set(entries) - {META_KEY}
    missing, extra = sorted(set(table) - names), sorted(names - set(table))
    if missing:
        fail(f"array(s) {missing} listed in the metadata are missing from the archive")
    if extra:
        fail(f"unexpected array(s) {extra} not listed in the metadata (the file was edited)")
    found = {}
    for name in sorted(table):
        e = table[name]
        ok = (
            isinstance(e, dict)
            and set(e) == {"dtype", "shape", "sha256"}
            and isinstance(e["dtype"], str)
            and isinstance(e["shape"], list)
            and all(_is_int(s) and s >= 0 for s in e["shape"])
            and isinstance(e["sha256"], str)
            and re.fullmatch(r"[0-9a-f]{64}", e["sha256"])
        )
        if not ok:
            fail(f"bad checksum entry for {name!r}: {_short.repr(e)}")
        found[name] = (e["dtype"], tuple(e["shape"]))
    return found


def load(path):
    """Load a model written by :func:`save` (no pickle, no code from the file is run).

    Parameters
    ----------
    path : str or os.PathLike
        Read as given; when it does not exist and does not end with ``.npz``,
        ``path + ".npz"`` is tried (the name :func:`save` writes). It must be a regular file
        (links are followed; a FIFO or device is refused without blocking).

    Returns
    -------
    LiftedNetwork or cvxlift estimator
        The model, of the class named by the file's ``kind`` (from :data:`MODEL_KINDS`).

    Raises
    ------
    PersistenceError
        For any problem, with a message ``cannot load <path>: <problem>``: path problems,
        not a model file, truncated or corrupted, edited (checksums), a newer format, and
        any field of the description that is invalid or disagrees with another field or
        with an array's header. Every field and every array header is validated before an
        array is allocated or a model built.
    """
    src = _load_source(path)
    where = show_path(src)

    def err(problem):
        return PersistenceError(f"cannot load {where}: {problem}")

    def fail(problem, exc=None):
        raise err(problem) from exc

    with open_regular(src, PersistenceError, "load") as fh:
        head = fh.read(4)
        if not head:
            fail("the file is empty")
        if head not in _ZIP_MAGIC:
            if head.startswith(b"\x93NUM"):
                fail("it is a single .npy array, not a .npz model archive")
            fail("not an .npz archive (no zip signature); it may be truncated or another kind of file")
        disk_size = fh.seek(0, 2)
        fh.seek(0)
        try:
            zf = zipfile.ZipFile(fh)
        except _READ_ERRORS as exc:
            fail(f"truncated or corrupted archive ({type(exc).__name__}: {exc})", exc)
        with zf:
            entries = _zip_entries(zf, disk_size, err)
            meta = _read_meta(zf, entries, err, fail)
            _check_header(meta, fail)
            kind = meta["kind"]
            try:
                plan = _plan_for(kind, meta["model"])  # 1. every field of the description
            except PersistenceError as exc:
                fail(str(exc), exc)
            found = _check_table(meta, entries, fail)  # 2. the table names the archive's arrays
            try:
                _match_plan(plan, found)  # 3. ... and fits the description
            except PersistenceError as exc:
                fail(str(exc), exc)
            headers = {}
            for name in sorted(found, key=_array_order):  # 4. every header, before any allocation
                m = _read_header(zf, name, entries[name], err)
                if m.dtype.str != found[name][0] or m.shape != found[name][1]:
                    fail(
                        f"checksum mismatch for array {name!r}: dtype/shape {m.dtype.str} {list(m.shape)} differ "
                        f"from the recorded {found[name][0]} {list(found[name][1])} (the file was edited or "
                        "corrupted)"
                    )
                headers[name] = m
            if meta["meta_sha256"] != _meta_digest(meta):
                fail("metadata checksum mismatch (the __meta__ JSON was edited or corrupted)")
            arrays = {}
            for name, m in headers.items():  # 5. the data, checked against the digests
                a = _read_data(zf, name, entries[name], m, err)
                if meta["arrays"][name]["sha256"] != _array_digest(a):
                    fail(
                        f"checksum mismatch for array {name!r} (SHA-256 of its bytes differs: the file was edited "
                        "or corrupted)"
                    )
                arrays[name] = a
    try:
        return plan.build(arrays)
    except PersistenceError as exc:
        fail(str(exc), exc)
