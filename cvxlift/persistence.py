"""Saving and loading trained models without pickle: :func:`save` and :func:`load`.

A model file is one ``.npz`` archive written with :func:`numpy.savez` and read with
``numpy.load(..., allow_pickle=False)``. It holds the arrays (``weights_<l>``,
``biases_<l>``, optionally ``states_<l>``, plus whatever an estimator adds) and one entry
``__meta__``: a UTF-8 JSON document stored as a 1-D ``uint8`` array. The JSON names the
format and its version, the cvxlift/numpy versions that wrote it, the model kind, the
network description (sizes, atoms by registry name and parameters, forms, loss, ``lam_``,
``rho_``, ``random_state``), the fitted scalars (``n_iter_``, ``history_``, ...), a
SHA-256 digest of every array (dtype, shape and bytes) and a digest of the JSON itself.

Loading never executes code from the file: atoms are looked up by name in the registry,
the model class is taken from a fixed table of cvxlift classes, and pickled (object)
arrays are refused. Every failure raises :class:`~cvxlift.exceptions.PersistenceError`
naming the path and the problem. See ``docs/persistence.md``.
"""
import hashlib
import importlib
import inspect
import json
import os
import re
import struct
import tempfile
import zipfile
import zlib
from pathlib import Path

import numpy as np

from ._version import __version__
from .divergences.base import Divergence
from .divergences.custom import CustomDivergence
from .divergences.registry import available, lookup
from .exceptions import CvxliftError, NotFittedError, PersistenceError
from .losses import LOSSES

__all__ = ["FORMAT_NAME", "FORMAT_VERSION", "MODEL_KINDS", "load", "network_from_state", "network_to_state",
           "save"]

#: Value of the ``format`` entry of ``__meta__``.
FORMAT_NAME = "cvxlift-model"
#: Version of the file layout written by this cvxlift; :func:`load` reads versions 1..FORMAT_VERSION.
FORMAT_VERSION = 1
#: Name of the metadata entry of the archive.
META_KEY = "__meta__"
#: Suffix :func:`save` appends when the path lacks it (as :func:`numpy.savez` does).
SUFFIX = ".npz"

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
        raise PersistenceError(f"cannot save: {where}: its parameters {params!r} cannot be stored as JSON "
                               f"and rebuilt ({exc})") from exc
    if rebuilt != d:
        raise PersistenceError(f"cannot save: {where}: rebuilding it from get_params() = {params!r} "
                               f"gives {rebuilt!r}, a different atom")
    return {"name": cls.name, "params": params_json}


def _atom_from_json(l, spec):
    if not (isinstance(spec, dict) and isinstance(spec.get("name"), str) and isinstance(spec.get("params", {}), dict)):
        raise PersistenceError(f"layer {l}: atom entry must be {{'name': str, 'params': dict}}, got {spec!r}")
    name = spec["name"]
    cls = _registered_class(name)
    if cls is None:
        raise PersistenceError(f"layer {l}: unknown atom name {name!r} (known: {', '.join(available())}); "
                               "if it is your own registered Divergence subclass, import its module first")
    try:
        return cls(**spec.get("params", {}))
    except Exception as exc:  # noqa: BLE001
        raise PersistenceError(f"layer {l}: atom {name!r} rejects params {spec.get('params')!r} ({exc})") from exc


# ---------------------------------------------------------------------------- network state
def _json_float(x):
    return float(x)


def _network_array_names(n_layers, has_states):
    names = [f"{p}_{l}" for p in ("weights", "biases") for l in range(n_layers)]
    if has_states:
        names += [f"states_{l}" for l in range(n_layers)]
    return names


def network_to_state(net, include_states=True):
    """Describe a :class:`~cvxlift.LiftedNetwork` as ``(meta, arrays)``.

    ``meta`` is a JSON-ready dict with ``"network"`` (sizes, atoms as ``{"name",
    "params"}``, forms, loss, lam, rho, random_state) and ``"fitted"`` (n_iter,
    history, ...); ``arrays`` maps ``weights_<l>``, ``biases_<l>`` and, with
    ``include_states`` (and fitted states), ``states_<l>`` to float64 arrays.

    Raises :class:`NotFittedError` without weights and :class:`PersistenceError` for a
    model that cannot be described without code (custom atom or loss) or non-finite weights.
    """
    from .network import LiftedNetwork

    if type(net) is not LiftedNetwork:
        raise PersistenceError(f"network_to_state expects a LiftedNetwork, got {type(net).__qualname__}")
    if getattr(net, "weights_", None) is None:
        raise NotFittedError("cannot save an unfitted LiftedNetwork: call fit() (or init_weights()) first")
    acts = [_atom_to_json(l, d) for l, d in enumerate(net.activations_)]
    loss = net.loss_
    if LOSSES.get(loss.name) is not type(loss):
        raise PersistenceError(f"cannot save: loss {loss!r} ({type(loss).__qualname__}) is not a built-in loss "
                               f"({', '.join(sorted(LOSSES))})")
    rs = net.random_state
    if rs is not None and not (isinstance(rs, (int, np.integer)) and not isinstance(rs, bool)):
        raise PersistenceError(f"cannot save: random_state must be an int or None to be stored, got "
                               f"{type(rs).__qualname__}; set net.random_state to an int or None first")
    arrays = {}
    L1 = net.n_layers
    for l in range(L1):
        arrays[f"weights_{l}"] = np.asarray(net.weights_[l], dtype=np.float64)
        arrays[f"biases_{l}"] = np.asarray(net.biases_[l], dtype=np.float64)
    states = getattr(net, "states_", None)
    has_states = bool(include_states) and states is not None
    if has_states:
        for l in range(L1):
            arrays[f"states_{l}"] = np.asarray(states[l], dtype=np.float64)
    for name, a in arrays.items():
        if not np.all(np.isfinite(a)):
            raise PersistenceError(f"cannot save: {name} contains NaN or inf; load() would refuse the file")
    history = getattr(net, "history_", None)
    fitted = {
        "n_iter": None if getattr(net, "n_iter_", None) is None else int(net.n_iter_),
        "history": None if history is None else [_json_float(h) for h in history],
        "history_blocks": None if getattr(net, "history_blocks_", None) is None
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


def _get(d, key, where, types, allow_none=False):
    if not isinstance(d, dict) or key not in d:
        raise PersistenceError(f"{where}: missing entry {key!r}")
    v = d[key]
    if v is None and allow_none:
        return None
    if not isinstance(v, types) or (isinstance(v, bool) and bool not in (types if isinstance(types, tuple) else (types,))):
        raise PersistenceError(f"{where}: entry {key!r} has the wrong type ({type(v).__name__}): {v!r}")
    return v


def _float_list(v, where):
    if not isinstance(v, list) or not all(isinstance(x, (int, float)) and not isinstance(x, bool) for x in v):
        raise PersistenceError(f"{where} must be a list of numbers, got {v!r}")
    return [float(x) for x in v]


def _check_array(arrays, name, shape, what):
    """``arrays[name]``: a float64 finite array of ``shape`` (``None`` entries: any)."""
    if name not in arrays:
        raise PersistenceError(f"array {name!r} ({what}) is missing")
    a = arrays[name]
    if not isinstance(a, np.ndarray) or a.dtype != np.float64:
        raise PersistenceError(f"array {name!r} must be float64, got {getattr(a, 'dtype', type(a).__name__)}")
    if a.ndim != len(shape) or any(s is not None and s != t for s, t in zip(shape, a.shape)):
        want = tuple("m" if s is None else s for s in shape)
        raise PersistenceError(f"array {name!r} has shape {a.shape}, inconsistent with the network sizes "
                               f"(expected {want})")
    if not np.all(np.isfinite(a)):
        raise PersistenceError(f"array {name!r} ({what}) contains non-finite values (NaN or inf)")
    return a


def network_from_state(meta, arrays):
    """Rebuild a fitted :class:`~cvxlift.LiftedNetwork` from :func:`network_to_state`'s output.

    Checks everything it reads (types, atom names, shapes against sizes, finiteness)
    and raises :class:`PersistenceError` (without a path; :func:`load` adds it).
    Arrays not named by the network are ignored (an estimator may store more).
    """
    from .network import LiftedNetwork

    net_d = _get(meta, "network", "model description", dict)
    fit_d = _get(meta, "fitted", "model description", dict)
    where = "network description"
    sizes = _get(net_d, "sizes", where, list)
    if len(sizes) < 2 or not all(isinstance(s, int) and not isinstance(s, bool) and s >= 1 for s in sizes):
        raise PersistenceError(f"{where}: sizes must be a list of at least two positive integers, got {sizes!r}")
    L1 = len(sizes) - 1
    acts = _get(net_d, "activations", where, list)
    if len(acts) != L1:
        raise PersistenceError(f"{where}: {len(acts)} atoms for {L1} layers (sizes {sizes})")
    atoms = [_atom_from_json(l, spec) for l, spec in enumerate(acts)]
    forms = _get(net_d, "forms", where, list)
    if len(forms) != L1 or not all(isinstance(f, str) for f in forms):
        raise PersistenceError(f"{where}: forms must be {L1} strings, got {forms!r}")
    loss = _get(net_d, "loss", where, str)
    if loss not in LOSSES:
        raise PersistenceError(f"{where}: unknown loss {loss!r} (known: {', '.join(sorted(LOSSES))})")
    lam = _float_list(_get(net_d, "lam", where, list), f"{where}: lam")
    rho = _float_list(_get(net_d, "rho", where, list), f"{where}: rho")
    rs = _get(net_d, "random_state", where, int, allow_none=True)
    try:
        net = LiftedNetwork(sizes, activations=atoms, loss=loss, lam=lam, rho=rho, form=forms, random_state=rs)
    except CvxliftError as exc:
        raise PersistenceError(f"{where} is inconsistent: {exc}") from exc

    weights = [_check_array(arrays, f"weights_{l}", (net.u_dims_[l], sizes[l]), f"layer {l} weights")
               for l in range(L1)]
    biases = [_check_array(arrays, f"biases_{l}", (net.u_dims_[l],), f"layer {l} biases") for l in range(L1)]
    net.weights_, net.biases_ = weights, biases

    has_states = _get(fit_d, "has_states", "fitted state", bool)
    if has_states:
        states = [_check_array(arrays, f"states_{l}", (sizes[l + 1], None), f"layer {l} states") for l in range(L1)]
        m = {s.shape[1] for s in states}
        if len(m) != 1:
            raise PersistenceError(f"states have different numbers of columns {sorted(m)}")
        net.states_ = states
    history = _get(fit_d, "history", "fitted state", list, allow_none=True)
    if history is not None:
        if not all(isinstance(h, (int, float)) and not isinstance(h, bool) for h in history):
            raise PersistenceError("fitted state: history must be a list of numbers")
        net.history_ = [float(h) for h in history]
    blocks = _get(fit_d, "history_blocks", "fitted state", list, allow_none=True)
    if blocks is not None:
        if not all(isinstance(b, str) for b in blocks) or (history is not None and len(blocks) != len(history)):
            raise PersistenceError("fitted state: history_blocks must be strings, one per history entry")
        net.history_blocks_ = list(blocks)
    n_iter = _get(fit_d, "n_iter", "fitted state", int, allow_none=True)
    if n_iter is not None:
        if n_iter < 0:
            raise PersistenceError(f"fitted state: n_iter must be >= 0, got {n_iter}")
        net.n_iter_ = n_iter
    interrupted = _get(fit_d, "interrupted", "fitted state", bool, allow_none=True)
    if interrupted is not None:
        net.interrupted_ = interrupted
    secs = _get(fit_d, "fit_seconds", "fitted state", (int, float), allow_none=True)
    if secs is not None:
        net.fit_seconds_ = float(secs)
    return net


# ---------------------------------------------------------------------------- paths
def _fspath(path, verb):
    try:
        return os.fspath(path)
    except TypeError:
        raise PersistenceError(f"cannot {verb}: path must be a str or os.PathLike, got {type(path).__name__}") from None


def _save_target(path):
    """The path :func:`save` writes: ``path``, with ``.npz`` appended when missing."""
    p = _fspath(path, "save")
    if isinstance(p, bytes):
        p = os.fsdecode(p)
    if not p.endswith(SUFFIX):
        p = p + SUFFIX
    return Path(p)


def _load_source(path):
    """The file :func:`load` reads: ``path`` if it exists, else ``path + ".npz"``."""
    p = _fspath(path, "load")
    if isinstance(p, bytes):
        p = os.fsdecode(p)
    cand = Path(p)
    if not os.path.lexists(cand) and not p.endswith(SUFFIX) and os.path.lexists(p + SUFFIX):
        cand = Path(p + SUFFIX)
    if not cand.exists():
        raise PersistenceError(f"cannot load {p}: no such file")
    if cand.is_dir():
        raise PersistenceError(f"cannot load {cand}: it is a directory, not a model file")
    if not cand.is_file():
        raise PersistenceError(f"cannot load {cand}: not a regular file")
    return cand


def _default_mode():
    """0o666 minus the process umask (read from /proc where possible: os.umask is not thread-safe)."""
    try:
        with open("/proc/self/status") as fh:
            for line in fh:
                if line.startswith("Umask:"):
                    return 0o666 & ~int(line.split()[1], 8)
    except (OSError, ValueError, IndexError):
        pass
    return 0o644


# ---------------------------------------------------------------------------- save
def _model_state(model, include_states):
    from .network import LiftedNetwork

    if type(model) is LiftedNetwork:
        meta, arrays = network_to_state(model, include_states=include_states)
        return NETWORK_KIND, meta, arrays
    to_state = getattr(model, "_to_state", None)
    if to_state is None or not callable(to_state):
        raise PersistenceError(f"cannot save an object of type {type(model).__qualname__}: save() takes a "
                               "LiftedNetwork or a cvxlift estimator")
    kind = f"{type(model).__module__}.{type(model).__qualname__}"
    if kind not in MODEL_KINDS:
        raise PersistenceError(f"cannot save a {kind}: load() only accepts the model kinds "
                               f"{sorted(MODEL_KINDS)} (subclasses included: they need code to rebuild)")
    try:
        accepts = "include_states" in inspect.signature(to_state).parameters
    except (TypeError, ValueError):
        accepts = False
    out = to_state(include_states=include_states) if accepts else to_state()
    try:
        meta, arrays = out
        arrays = dict(arrays)
    except (TypeError, ValueError):
        meta = arrays = None
    if not isinstance(meta, dict) or arrays is None:
        raise PersistenceError(f"cannot save a {kind}: _to_state() must return (dict, dict of arrays)")
    return kind, meta, arrays


def save(model, path, include_states=True):
    """Save a fitted model to one ``.npz`` file, without pickle; return the path written.

    Parameters
    ----------
    model : LiftedNetwork or cvxlift estimator
        A fitted model (``NotFittedError`` otherwise). Every atom must be a registered
        atom (not a :func:`~cvxlift.declare_divergence` one): the file stores atoms by name.
    path : str or os.PathLike
        Destination. ``".npz"`` is appended when the name does not end with it (as
        :func:`numpy.savez` does); the returned :class:`pathlib.Path` is the file written.
    include_states : bool
        Also store the lifted states ``states_`` (needed for ``fit(warm_start=True)``).

    Notes
    -----
    The file is written to a temporary file in the same directory and moved over ``path``
    with :func:`os.replace`: an interrupted or failed save leaves any existing file intact.
    """
    target = _save_target(path)
    if target.is_symlink():
        target = Path(os.path.realpath(target))
    if target.is_dir():
        raise PersistenceError(f"cannot save to {target}: it is a directory")
    parent = target.parent
    if not parent.is_dir():
        raise PersistenceError(f"cannot save to {target}: directory {parent} does not exist")
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
    payload = {META_KEY: np.frombuffer(text.encode("utf-8"), dtype=np.uint8)}
    payload.update((k, arrays[k]) for k in sorted(arrays))

    mode = (os.stat(target).st_mode & 0o777) if target.exists() else _default_mode()
    try:
        fd, tmp = tempfile.mkstemp(prefix=f".{target.name}.", suffix=".tmp", dir=parent)
    except OSError as exc:
        raise PersistenceError(f"cannot save to {target}: {exc}") from exc
    try:
        with os.fdopen(fd, "wb") as fh:
            np.savez(fh, **payload)
            fh.flush()
            os.fsync(fh.fileno())
        os.chmod(tmp, mode)
        os.replace(tmp, target)
    except BaseException as exc:
        try:
            os.unlink(tmp)
        except OSError:
            pass
        if isinstance(exc, OSError):
            raise PersistenceError(f"cannot save to {target}: {exc}") from exc
        raise
    try:  # make the rename durable (POSIX); not essential
        dfd = os.open(parent, os.O_RDONLY)
        try:
            os.fsync(dfd)
        finally:
            os.close(dfd)
    except OSError:
        pass
    return target


# ---------------------------------------------------------------------------- load
_READ_ERRORS = (zipfile.BadZipFile, zlib.error, struct.error, EOFError, OSError, ValueError, KeyError,
                TypeError, NotImplementedError, RuntimeError)


def _read_archive(src):
    """``(meta, arrays)`` from the archive at ``src``; only integrity/format checks."""
    def fail(problem, exc=None):
        err = PersistenceError(f"cannot load {src}: {problem}")
        if exc is not None:
            raise err from exc
        raise err

    with open(src, "rb") as fh:
        head = fh.read(4)
        if not head:
            fail("the file is empty")
        if head not in _ZIP_MAGIC:
            if head.startswith(b"\x93NUM"):
                fail("it is a single .npy array, not a .npz model archive")
            fail("not an .npz archive (no zip signature); it may be truncated or another kind of file")
        fh.seek(0)
        try:
            npz = np.load(fh, allow_pickle=False)
        except _READ_ERRORS as exc:
            fail(f"truncated or corrupted archive ({type(exc).__name__}: {exc})", exc)
        if not isinstance(npz, np.lib.npyio.NpzFile):  # pragma: no cover - guarded by the magic check
            fail("not an .npz archive")
        with npz:
            if META_KEY not in npz.files:
                fail(f"no {META_KEY} entry: not a cvxlift model file (entries: {npz.files[:10]})")
            raw = _read_entry(npz, META_KEY, META_KEY, fail)
            if not isinstance(raw, np.ndarray):
                fail(f"{META_KEY} is not an array")
            if raw.dtype == np.uint8 and raw.ndim == 1:
                data = raw.tobytes()
            elif raw.dtype.kind == "U" and raw.ndim in (0, 1) and raw.size == 1:
                data = str(raw.reshape(())).encode("utf-8")
            else:
                fail(f"{META_KEY} must be a 1-D uint8 array (UTF-8 JSON), got dtype {raw.dtype} shape {raw.shape}")
            try:
                meta = json.loads(data.decode("utf-8"))
            except (UnicodeDecodeError, ValueError, RecursionError) as exc:
                fail(f"{META_KEY} is not valid UTF-8 JSON ({exc})", exc)
            if not isinstance(meta, dict):
                fail(f"{META_KEY} must be a JSON object, got {type(meta).__name__}")
            _check_header(meta, fail)
            arrays = {}
            for key in npz.files:
                if key == META_KEY:
                    continue
                a = _read_entry(npz, key, f"array {key!r}", fail)
                if not isinstance(a, np.ndarray):
                    fail(f"entry {key!r} is not a .npy array")
                arrays[key] = a
    return meta, arrays


def _check_header(meta, fail):
    fmt = meta.get("format")
    if fmt != FORMAT_NAME:
        fail(f"not a cvxlift model file (format {fmt!r}, expected {FORMAT_NAME!r})")
    version = meta.get("format_version")
    if not isinstance(version, int) or isinstance(version, bool) or version < 1:
        fail(f"invalid format version {version!r}")
    if version > FORMAT_VERSION:
        fail(f"format version {version} is newer than this cvxlift {__version__} reads "
             f"(up to {FORMAT_VERSION}; written by cvxlift {meta.get('cvxlift_version')!r}); upgrade cvxlift")
    kind = meta.get("kind")
    if not isinstance(kind, str) or kind not in MODEL_KINDS:
        fail(f"unknown model kind {kind!r} (this cvxlift loads {sorted(MODEL_KINDS)})")
    if not isinstance(meta.get("model"), dict):
        fail("the metadata has no 'model' description")
    if not isinstance(meta.get("arrays"), dict):
        fail("the metadata has no 'arrays' checksum table")


def _verify_arrays(meta, arrays, fail):
    table = meta["arrays"]
    missing = sorted(set(table) - set(arrays))
    extra = sorted(set(arrays) - set(table))
    if missing:
        fail(f"array(s) {missing} listed in the metadata are missing from the archive")
    if extra:
        fail(f"unexpected array(s) {extra} not listed in the metadata (the file was edited)")
    for name in sorted(table):
        entry, a = table[name], arrays[name]
        if not isinstance(entry, dict):
            fail(f"bad checksum entry for {name!r}")
        if entry.get("dtype") != a.dtype.str or entry.get("shape") != [int(s) for s in a.shape]:
            fail(f"checksum mismatch for array {name!r}: dtype/shape {a.dtype.str} {list(a.shape)} differ from the "
                 f"recorded {entry.get('dtype')} {entry.get('shape')} (the file was edited or corrupted)")
        if entry.get("sha256") != _array_digest(a):
            fail(f"checksum mismatch for array {name!r} (SHA-256 of its bytes differs: the file was edited "
                 "or corrupted)")


def _import_kind(kind, fail):
    module, attr = MODEL_KINDS[kind]  # the fixed table; never a name read from the file
    try:
        cls = getattr(importlib.import_module(module), attr)
    except (ImportError, AttributeError) as exc:
        fail(f"model kind {kind!r} is not available in this installation ({exc})", exc)
    return cls



def _read_entry(npz, key, label, fail):
    """``npz[key]`` (never unpickled); every failure goes to ``fail`` with ``label`` named."""
    try:
        return npz[key]
    except ValueError as exc:
        if "allow_pickle" in str(exc) or "Object arrays" in str(exc):
            fail(f"{label} is an object (pickled) array; refused, cvxlift never unpickles", exc)
        fail(f"cannot read {label} ({exc})", exc)
    except _READ_ERRORS as exc:
        fail(f"truncated or corrupted archive while reading {label} ({type(exc).__name__}: {exc})", exc)


def load(path):
    """Load a model written by :func:`save` (no pickle, no code from the file is run).

    ``path`` is read as given; when it does not exist and does not end with ``.npz``,
    ``path + ".npz"`` is tried (the name :func:`save` writes). Any problem raises
    :class:`~cvxlift.exceptions.PersistenceError` naming the file and the problem.
    """
    src = _load_source(path)

    def fail(problem, exc=None):
        err = PersistenceError(f"cannot load {src}: {problem}")
        if exc is not None:
            raise err from exc
        raise err

    meta, arrays = _read_archive(src)
    _verify_arrays(meta, arrays, fail)
    kind = meta["kind"]
    try:
        if kind == NETWORK_KIND:
            model = network_from_state(meta["model"], arrays)
            expected = set(_network_array_names(model.n_layers, meta["model"]["fitted"]["has_states"]))
            if set(arrays) != expected:
                fail(f"unexpected arrays {sorted(set(arrays) - expected)} for a LiftedNetwork")
        else:
            cls = _import_kind(kind, fail)
            from_state = getattr(cls, "_from_state", None)
            if from_state is None:
                fail(f"model kind {kind!r} cannot be loaded (no _from_state)")
            model = from_state(meta["model"], arrays)
            if type(model) is not cls:
                fail(f"{kind}._from_state returned a {type(model).__qualname__}")
    except PersistenceError as exc:
        if str(exc).startswith("cannot load "):
            raise
        fail(str(exc), exc)
    except (CvxliftError, KeyError, TypeError, ValueError, IndexError, AttributeError) as exc:
        fail(f"invalid model description ({type(exc).__name__}: {exc})", exc)
    if meta.get("meta_sha256") != _meta_digest(meta):
        fail("metadata checksum mismatch (the __meta__ JSON was edited or corrupted)")
    return model
