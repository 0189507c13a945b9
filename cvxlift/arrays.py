r"""One array namespace for the fast path: numpy, PyTorch (CPU and CUDA) and CuPy through one code path.

The fast solvers are written against the Python array API standard: they ask
:func:`namespace` for the namespace ``xp`` of their inputs and call ``xp.matmul``,
``xp.where``, ``xp.clip``, ``xp.sum``, ``xp.sqrt``, ``xp.linalg.eigh`` ... on it. For numpy
inputs ``xp`` is ``numpy`` itself (numpy >= 2.1 implements the standard in its main namespace; for an older
numpy, numpy with the few missing functions added),
so the numpy path needs neither ``array-api-compat`` nor torch; for any other array library
``xp`` comes from ``array_api_compat.array_namespace`` (imported lazily, on first use).

The few operations the standard lacks, or that numpy does faster than its standard form, live
here, implemented once per library: Cholesky factor and solve, the largest eigenvalue of a
symmetric matrix, column dot products, ``may_share_memory``, ``errstate``, and the conversions
:func:`to_numpy`, :func:`asarray` (``like=``) and :func:`device_of`.

``import cvxlift`` imports neither torch nor ``array_api_compat``: nothing here imports them
before a non-numpy array is seen.
"""

import contextlib
import math

import numpy as np
from scipy import linalg as _sla

from .exceptions import ValidationError

__all__ = [
    "NP",
    "NumpyBridge",
    "amax",
    "as_float64",
    "asarray",
    "check_matrix",
    "cho_factor",
    "coldot",
    "contiguous",
    "numpy_compat",
    "copy",
    "device_of",
    "eigh",
    "einsum",
    "errstate",
    "eye",
    "is_foreign",
    "is_numpy",
    "is_torch",
    "max_eigvalsh",
    "may_share_memory",
    "namespace",
    "native",
    "resolve_device",
    "rowdot",
    "same_place",
    "subtract",
    "to_numpy",
    "torch_or_none",
    "via_numpy",
]

#: Smallest positive scale used by the factorisation fallback.
_TINY = 1e-300


def numpy_compat(force=False):
    """``numpy`` itself when it implements the array API functions the solvers use (numpy >= 2.1);
    for an older numpy (or ``force``), a module that is numpy plus those functions: ``astype``,
    ``concat``, ``permute_dims``, ``cumulative_sum``, ``bool``, ``argsort(stable=)`` and the
    ``device=`` keyword of the creation functions (``"cpu"`` or ``None``)."""
    needed = ("astype", "concat", "permute_dims", "cumulative_sum", "bool")
    if not force and all(hasattr(np, f) for f in needed) and np.lib.NumpyVersion(np.__version__) >= "2.1.0":
        return np
    import types

    shim = types.ModuleType("cvxlift_numpy_array_api")
    shim.__dict__.update({k: v for k, v in vars(np).items() if not k.startswith("__")})

    def no_device(fn):
        def wrapped(*args, device=None, **kw):
            return fn(*args, **kw)

        return wrapped

    for name in (
        "zeros",
        "ones",
        "full",
        "empty",
        "arange",
        "eye",
        "asarray",
        "zeros_like",
        "ones_like",
        "empty_like",
        "full_like",
    ):
        setattr(shim, name, no_device(getattr(np, name)))
    shim.astype = lambda x, dtype, copy=True: x.astype(dtype, copy=copy)
    shim.concat = lambda arrays, axis=0: np.concatenate(arrays, axis=axis)
    shim.permute_dims = np.transpose
    shim.cumulative_sum = lambda x, axis=None, dtype=None: np.cumsum(x, axis=axis, dtype=dtype)
    shim.bool = np.bool_
    shim.argsort = lambda x, axis=-1, descending=False, stable=True: np.argsort(
        -x if descending else x, axis=axis, kind="stable" if stable else None
    )
    return shim


#: The namespace of numpy inputs (numpy itself for numpy >= 2.1).
NP = numpy_compat()


def is_numpy(x):
    """``True`` for a numpy array or a numpy scalar."""
    return isinstance(x, (np.ndarray, np.generic))


def is_torch(x):
    """``True`` for a ``torch.Tensor`` (without importing torch when it is not loaded)."""
    mod = type(x).__module__
    return mod.startswith("torch") and type(x).__name__ in ("Tensor", "Parameter")


def is_foreign(x):
    """``True`` for an array of another library than numpy (torch, cupy, ...): one that
    :func:`namespace` maps through ``array-api-compat``."""
    if is_numpy(x) or type(x).__module__.startswith("dask"):  # Dask arrays have their own doors
        return False
    return is_torch(x) or hasattr(x, "__array_namespace__")


class NumpyBridge:
    """``obj`` seen through numpy: each method call converts its array arguments to numpy,
    calls ``obj``'s method, and converts array results back to the library and device of ``like``.

    The fast solvers wrap an atom whose numpy-side methods are numpy-only (a user-written atom,
    or a built-in without ``array_api = True``) so that the solver itself stays one code path;
    the price is a host round trip per call on a GPU.

    Parameters
    ----------
    obj : object
    like : array
        An array of the target library and device.
    """

    def __init__(self, obj, like):
        self._obj, self._like = obj, like

    def __getattr__(self, name):
        attr = getattr(self._obj, name)
        if not callable(attr):
            return attr
        like = self._like

        def call(*args, **kw):
            args = [to_numpy(a) if is_foreign(a) else a for a in args]
            kw = {k: to_numpy(v) if is_foreign(v) else v for k, v in kw.items()}
            out = attr(*args, **kw)
            return _back(out, like)

        return call

    def __repr__(self):
        return repr(self._obj)


def _back(out, like):
    if isinstance(out, tuple):
        return tuple(_back(o, like) for o in out)
    if is_numpy(out) and getattr(out, "ndim", 0) > 0:
        return asarray(out, like=like, dtype=namespace(like).float64 if out.dtype.kind == "f" else None)
    return out


def native(obj, like):
    """``obj`` itself when ``like`` is a numpy array or ``obj.array_api`` is true (its methods take
    ``like``'s library natively), else a :class:`NumpyBridge` to it."""
    if like is None or not is_foreign(like) or getattr(obj, "array_api", False):
        return obj
    if isinstance(obj, NumpyBridge):
        return obj
    return NumpyBridge(obj, like)


def _first_foreign(obj):
    if is_foreign(obj):
        return obj
    if isinstance(obj, (list, tuple)):
        for o in obj:
            f = _first_foreign(o)
            if f is not None:
                return f
    return None


def _nested(obj, fn):
    if isinstance(obj, list):
        return [_nested(o, fn) for o in obj]
    if isinstance(obj, tuple):
        return tuple(_nested(o, fn) for o in obj)
    return fn(obj)


def via_numpy(fn):
    """Decorator: run ``fn`` on numpy and hand its array results back in the caller's library.

    When an argument (or an element of a list/tuple argument) is a torch/cupy array, every such
    array is converted to numpy, ``fn`` runs, and the numpy arrays of its result (also inside
    lists and tuples) come back on the first foreign argument's device. Numpy callers pay one
    scan of the arguments. For solvers that are not written against the array API yet.

    Parameters
    ----------
    fn : callable

    Returns
    -------
    callable
    """
    import functools

    @functools.wraps(fn)
    def wrapper(*args, **kw):
        like = _first_foreign(args)
        if like is None:
            like = _first_foreign(tuple(kw.values()))
        if like is None:
            return fn(*args, **kw)
        conv = lambda a: to_numpy(a) if is_foreign(a) else a
        out = fn(*_nested(args, conv), **{k: _nested(v, conv) for k, v in kw.items()})
        back = lambda a: asarray(a, like=like) if is_numpy(a) and a.ndim > 0 and a.dtype.kind == "f" else a
        return _nested(out, back)

    wrapper.via_numpy = True
    return wrapper


def torch_or_none():
    """The ``torch`` module if it can be imported, else ``None``."""
    try:
        import torch
    except ImportError:
        return None
    return torch


def namespace(*arrays):
    r"""The array namespace ``xp`` of ``arrays`` (``None`` entries and Python scalars are ignored).

    .. math:: \text{numpy inputs} \mapsto \texttt{numpy};\quad
              \text{other arrays} \mapsto \texttt{array\_api\_compat.array\_namespace(*arrays)}

    Parameters
    ----------
    *arrays : arrays
        Inputs of one computation (all of one library).

    Returns
    -------
    module
        The namespace.

    Raises
    ------
    ValidationError
        When the arrays mix libraries, or a non-numpy array is given and ``array-api-compat`` is
        not installed.
    """
    arrs = [a for a in arrays if a is not None and not isinstance(a, (int, float, bool, complex))]
    if not arrs or all(is_numpy(a) or isinstance(a, (list, tuple)) for a in arrs):
        return NP
    try:
        import array_api_compat
    except ImportError:
        raise ValidationError(
            f"arrays of type {type(arrs[0]).__module__}.{type(arrs[0]).__name__} need the array-api-compat "
            "package (pip install array-api-compat)"
        ) from None
    arrs = [a for a in arrs if not isinstance(a, (list, tuple))]
    try:
        return array_api_compat.array_namespace(*arrs)
    except TypeError as exc:
        raise ValidationError(f"arrays of one computation must come from one array library: {exc}") from None


def device_of(x):
    """The device of array ``x``.

    Parameters
    ----------
    x : array
        A numpy array, torch tensor or CuPy array.

    Returns
    -------
    str or device
        ``"cpu"`` for numpy arrays, else the library's device object (``array_api_compat.device``).
    """
    if is_numpy(x):
        return "cpu"
    import array_api_compat

    return array_api_compat.device(x)


def to_numpy(x):
    """``x`` as a numpy array (copied to the host from a GPU) if it is a torch/cupy array; anything
    else (numpy arrays, lists, sparse matrices, ``None``) is returned as it is.

    Parameters
    ----------
    x : array or None

    Returns
    -------
    ndarray or None
    """
    if x is None or not is_foreign(x):  # numpy, lists, sparse matrices ...: as they are
        return x
    if is_torch(x):
        return x.detach().cpu().numpy()
    if hasattr(x, "get") and type(x).__module__.startswith("cupy"):
        return x.get()
    return np.asarray(x)


def asarray(x, like=None, dtype=None):
    """``x`` in the library and on the device of ``like`` (numpy when ``like`` is ``None`` or numpy).

    Parameters
    ----------
    x : array-like or None
    like : array, optional
    dtype : dtype of the target library, optional (default: float64 for floating input converted
        from another library, else ``x``'s own)

    Returns
    -------
    array or None
    """
    if x is None:
        return None
    if like is None or is_numpy(like):
        return np.asarray(to_numpy(x), dtype=dtype)
    xp = namespace(like)
    if not is_numpy(x) and namespace(x) is xp and device_of(x) == device_of(like):
        return x if dtype is None else xp.astype(x, dtype)
    a = np.asarray(to_numpy(x))
    if dtype is None and a.dtype.kind == "f":
        dtype = xp.float64
    return xp.asarray(a, dtype=dtype, device=device_of(like))


def as_float64(x):
    """``x`` (any library) as float64 in its own library and on its own device."""
    if not is_foreign(x):
        return np.asarray(x, dtype=np.float64)
    xp = namespace(x)
    return x if x.dtype == xp.float64 else xp.astype(x, xp.float64)


def resolve_device(device, name="device"):
    """``torch.device(device)`` after checking that torch is installed and the device usable.

    Parameters
    ----------
    device : str or torch.device
    name : str
        The argument's name, for the error message.

    Returns
    -------
    torch.device

    Raises
    ------
    ValidationError
        Torch missing, an unknown device string, or a CUDA/MPS device that is not available.
    """
    torch = torch_or_none()
    if torch is None:
        raise ValidationError(f"{name}={device!r} needs PyTorch (pip install torch); it is not installed")
    try:
        dev = torch.device(device)
    except (RuntimeError, TypeError, ValueError) as exc:
        raise ValidationError(
            f"{name} must be None, 'cpu', 'cuda', 'cuda:N' or a torch.device; got {device!r} ({exc})"
        ) from None
    if dev.type == "cuda":
        if not torch.cuda.is_available():
            raise ValidationError(f"{name}={device!r}: CUDA is not available on this machine")
        if dev.index is not None and dev.index >= torch.cuda.device_count():
            raise ValidationError(f"{name}={device!r}: only {torch.cuda.device_count()} CUDA device(s)")
    elif dev.type == "mps":
        if not (hasattr(torch.backends, "mps") and torch.backends.mps.is_available()):
            raise ValidationError(f"{name}={device!r}: MPS is not available on this machine")
    elif dev.type != "cpu":
        raise ValidationError(f"{name} must be 'cpu', 'cuda' or 'cuda:N'; got {device!r}")
    return dev


def check_matrix(a, name, rows=None, cols=None):
    """A torch/cupy array ``a`` checked as a finite real 2-D matrix, as float64 in its own library
    and on its own device (numpy arrays: see :func:`cvxlift.validation.check_matrix`).

    Parameters
    ----------
    a : array
    name : str
        The argument's name, for the error message.
    rows, cols : int, optional
        Required shape.

    Returns
    -------
    array

    Raises
    ------
    ValidationError
        Complex or non-numeric dtype, not 2-D, wrong shape, or non-finite entries.
    """
    xp = namespace(a)
    if xp.isdtype(a.dtype, "complex floating"):
        raise ValidationError(f"{name} must be real; got a complex array (dtype {a.dtype})")
    if not xp.isdtype(a.dtype, ("real floating", "integral", "bool")):
        raise ValidationError(f"{name} must be a numeric array; got dtype {a.dtype}")
    a = as_float64(a)
    if a.ndim != 2:
        raise ValidationError(f"{name} must be a 2-D array (one column per data point); got shape {tuple(a.shape)}")
    if rows is not None and a.shape[0] != rows:
        raise ValidationError(f"{name} must have {rows} rows; got shape {tuple(a.shape)}")
    if cols is not None and a.shape[1] != cols:
        raise ValidationError(f"{name} must have {cols} columns; got shape {tuple(a.shape)}")
    if not bool(xp.all(xp.isfinite(a))):
        raise ValidationError(f"{name} must be finite")
    return a


def same_place(a, b):
    """``True`` when ``a`` and ``b`` are arrays of one library on one device."""
    if is_numpy(a) or is_numpy(b):
        return is_numpy(a) and is_numpy(b)
    return namespace(a) is namespace(b) and device_of(a) == device_of(b)


# ---------------------------------------------------------------------- small helpers
def errstate(xp, **kw):
    """``numpy.errstate(**kw)`` for numpy (other libraries do not warn): a context manager."""
    return np.errstate(**kw) if xp is np or xp is NP else contextlib.nullcontext()


def may_share_memory(a, b):
    """``True`` if ``a`` and ``b`` may share memory (a prox may return its argument)."""
    if is_numpy(a) and is_numpy(b):
        return bool(np.may_share_memory(a, b))
    if is_torch(a) and is_torch(b):
        return a.untyped_storage().data_ptr() == b.untyped_storage().data_ptr()
    return a is b


def subtract(a, b, out=None):
    """``a - b``, written into ``out`` where the library allows it (numpy, torch)."""
    if out is None:
        return a - b
    if is_numpy(out):
        return np.subtract(a, b, out=out)
    if is_torch(out):
        import torch

        return torch.sub(a, b, out=out)
    return a - b


def copy(x):
    """A copy of ``x`` in its own library and device."""
    if is_numpy(x):
        return x.copy()
    if is_torch(x):
        return x.clone()
    return namespace(x).asarray(x, copy=True)


def eye(xp, n, like):
    """The ``n x n`` float64 identity on ``like``'s device."""
    return xp.eye(n, dtype=xp.float64, device=device_of(like))


def coldot(A, B):
    r"""Column dot products :math:`(\sum_i A_{ij}B_{ij})_j` (axis 0), or row dot products of the
    transposes: ``coldot(A.T, B.T)``. numpy and torch: one ``einsum`` without a temporary."""
    if is_numpy(A):
        return np.einsum("ij,ij->j", A, B)
    if is_torch(A):
        import torch

        return torch.einsum("ij,ij->j", A, B)
    xp = namespace(A)
    return xp.sum(A * B, axis=0)


def rowdot(A, B, M=None):
    r"""Row dot products :math:`(\sum_j A_{ij}B_{ij})_i`, or :math:`(\sum_j A_{ij}B_{ij}M_{ij})_i`
    with a weight (or boolean mask) ``M``."""
    if is_numpy(A):
        return np.einsum("ij,ij->i", A, B) if M is None else np.einsum("ij,ij,ij->i", A, B, M)
    xp = namespace(A)
    if M is not None:
        M = M if M.dtype == A.dtype else xp.astype(M, A.dtype)
    if is_torch(A):
        import torch

        return torch.einsum("ij,ij->i", A, B) if M is None else torch.einsum("ij,ij,ij->i", A, B, M)
    return xp.sum(A * B, axis=1) if M is None else xp.sum(A * B * M, axis=1)


def einsum(subscripts, *operands):
    """``einsum`` of numpy or torch (not in the array API standard); other libraries: their own
    ``einsum`` if they have one (CuPy does)."""
    x = operands[0]
    if is_numpy(x):
        return np.einsum(subscripts, *operands)
    if is_torch(x):
        import torch

        return torch.einsum(subscripts, *operands)
    return namespace(x).einsum(subscripts, *operands)


def contiguous(x):
    """``x`` in row-major (C) order: numpy ``ascontiguousarray``, torch ``.contiguous()``."""
    if is_numpy(x):
        return np.ascontiguousarray(x)
    if is_torch(x):
        return x.contiguous()
    return x


def amax(x, initial=0.0):
    """``max(x)`` as a Python float (``initial`` for an empty array; the larger of the two otherwise)."""
    if math.prod(x.shape) == 0:
        return float(initial)
    xp = namespace(x)
    return max(float(xp.max(x)), float(initial))


def eigh(S):
    """Eigenvalues (ascending) and eigenvectors of a symmetric matrix: ``(w, V)``."""
    if is_numpy(S):
        return np.linalg.eigh(S)
    return namespace(S).linalg.eigh(S)


def max_eigvalsh(S):
    """Largest eigenvalue of a symmetric PSD matrix (clipped at 0), as a Python float (LAPACK's
    subset driver for numpy)."""
    n = S.shape[0]
    if n == 0:
        return 0.0
    if is_numpy(S):
        return float(max(_sla.eigvalsh(S, subset_by_index=[n - 1, n - 1], check_finite=False)[0], 0.0))
    xp = namespace(S)
    return max(float(xp.linalg.eigvalsh(S)[-1]), 0.0)


def cho_factor(M):
    r"""A solver ``X -> M^{-1} X`` for a symmetric positive definite ``M``: one Cholesky factor,
    or an eigen-factorisation (eigenvalues floored at :math:`\epsilon\lambda_{max}`) when rounding
    makes Cholesky fail.

    Parameters
    ----------
    M : (n, n) array (numpy, torch, or another array-API library)

    Returns
    -------
    callable
        ``solve(X)`` for ``X`` of shape ``(n, k)`` or ``(n,)``, in ``M``'s library.
    """
    if is_numpy(M):
        try:
            cf = _sla.cho_factor(M, lower=False, check_finite=False)
            return lambda X: _sla.cho_solve(cf, X, check_finite=False)
        except _sla.LinAlgError:
            pass
    else:
        xp = namespace(M)
        if is_torch(M):
            import torch

            Lc, info = torch.linalg.cholesky_ex(M)
            if int(info) == 0:

                def solve(X):
                    if X.ndim == 1:
                        return torch.cholesky_solve(X[:, None], Lc)[:, 0]
                    return torch.cholesky_solve(X, Lc)

                return solve
        else:
            try:
                Lc = xp.linalg.cholesky(M)
                return lambda X: xp.linalg.solve(M, X)
            except Exception:  # noqa: BLE001 - library-specific LinAlgError
                pass
    xp = namespace(M)
    w, V = eigh(M)
    w = xp.clip(w, float(np.finfo(float).eps * max(float(xp.max(w)), _TINY)), None)

    def solve_eig(X):
        if X.ndim == 1:
            return V @ ((V.T @ X) / w)
        return V @ ((V.T @ X) / w[:, None])

    return solve_eig
