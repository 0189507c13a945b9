"""Input validation at the public doors: clear errors that name the argument."""

import math
import numbers

import numpy as np

from .exceptions import ValidationError


def as_real_array(a, name):
    """``a`` as a float ndarray; a clear :class:`ValidationError` for complex, string and
    object data (numpy would drop imaginary parts with a warning, parse strings, or turn
    ``None`` into NaN)."""
    if a is None:
        raise ValidationError(f"{name} is None; expected a numeric array")
    try:
        raw = np.asarray(a)
    except (TypeError, ValueError) as exc:  # ragged nested sequences
        raise ValidationError(f"{name} must be a numeric array: {str(exc).splitlines()[0]}") from None
    kind = raw.dtype.kind
    if kind == "c":
        raise ValidationError(f"{name} must be real; got a complex array (dtype {raw.dtype})")
    if kind == "O":
        bad = [x for x in raw.flat if not isinstance(x, (numbers.Real, np.integer, np.floating))]
        if bad:
            raise ValidationError(
                f"{name} must be a numeric array; got an object array holding {type(bad[0]).__name__} values"
            )
    elif kind not in "biuf":
        raise ValidationError(f"{name} must be a numeric array; got dtype {raw.dtype}")
    try:
        return raw.astype(float, copy=False)
    except (TypeError, ValueError) as exc:
        raise ValidationError(f"{name} must be a numeric array: {str(exc).splitlines()[0]}") from None


def check_matrix(a, name, rows=None, shape=None, allow_empty=False):
    """A finite 2-D float array; ``rows`` or ``shape`` enforce its size."""
    if a is None:
        raise ValidationError(f"{name} is None; expected a 2-D array")
    arr = as_real_array(a, name)
    if arr.ndim != 2:
        raise ValidationError(f"{name} must be a 2-D array (one column per data point); got shape {arr.shape}")
    if not allow_empty and arr.size == 0:
        raise ValidationError(f"{name} is empty (shape {arr.shape}); expected at least one data point")
    if not np.all(np.isfinite(arr)):
        bad = np.argwhere(~np.isfinite(arr))[0]
        raise ValidationError(f"{name} contains NaN or inf (first at index {tuple(int(i) for i in bad)})")
    if rows is not None and arr.shape[0] != rows:
        raise ValidationError(f"{name} must have {rows} rows (one column per data point); got shape {arr.shape}")
    if shape is not None and arr.shape != tuple(shape):
        raise ValidationError(f"{name} must have shape {tuple(shape)}; got {arr.shape}")
    return arr


def check_positive(value, name, n, allow_zero=False):
    """A scalar or a length-``n`` sequence of finite positive (``allow_zero``: nonnegative)
    numbers, as a length-``n`` float array. Booleans are refused."""
    what = "nonnegative" if allow_zero else "positive"
    try:
        arr = as_real_array(value, name)
    except ValidationError:
        raise ValidationError(f"{name} must be a {what} number or a sequence of {n} of them; got {value!r}") from None
    if np.asarray(value).dtype.kind == "b":
        raise ValidationError(f"{name} must be a {what} number or a sequence of {n} of them; got a boolean {value!r}")
    if arr.ndim == 0:
        arr = np.full(n, float(arr))
    if arr.shape != (n,):
        raise ValidationError(f"{name} must be a {what} number or a sequence of {n} of them; got shape {arr.shape}")
    if not np.all(np.isfinite(arr)) or np.any(arr < 0) or (not allow_zero and np.any(arr == 0)):
        raise ValidationError(f"{name} must be finite and {'>= 0' if allow_zero else '> 0'}; got {value!r}")
    return arr


def check_int(value, name, low=None):
    """An integer (not a bool) ``>= low``; a clear error otherwise."""
    if (
        isinstance(value, (bool, np.bool_))
        or not isinstance(value, (numbers.Integral, np.integer))
        or (low is not None and value < low)
    ):
        what = {None: "an integer", 0: "a non-negative integer", 1: "a positive integer"}.get(
            low, f"an integer >= {low}"
        )
        raise ValidationError(f"{name} must be {what}, got {value!r}")
    return int(value)


def check_number(value, name, low=None, high=None, low_open=False):
    """A finite real number (not a bool) in ``[low, high]`` (``(low, high]`` with ``low_open``)."""
    ok = not isinstance(value, (bool, np.bool_)) and isinstance(value, (numbers.Real, np.integer, np.floating))
    v = float(value) if ok else float("nan")
    if ok and math.isfinite(v):
        ok = (low is None or (v > low if low_open else v >= low)) and (high is None or v <= high)
    else:
        ok = False
    if not ok:
        lo = "" if low is None else (f" > {low:g}" if low_open else f" >= {low:g}")
        hi = "" if high is None else f" <= {high:g}"
        raise ValidationError(f"{name} must be a finite number{lo}{' and' if lo and hi else ''}{hi}, got {value!r}")
    return v


def check_bool(value, name):
    """``True`` or ``False`` (numpy booleans too); a clear error for anything else."""
    if not isinstance(value, (bool, np.bool_)):
        raise ValidationError(f"{name} must be True or False, got {value!r}")
    return bool(value)


def check_choice(value, name, choices):
    """One of ``choices`` (compared with ``==`` on hashable values)."""
    try:
        ok = value in choices
    except (TypeError, ValueError):
        ok = False
    if not ok:
        raise ValidationError(f"{name} must be one of {tuple(choices)}, got {value!r}")
    return value


def physical_memory():
    """Bytes of physical memory of this machine (64 GiB where the OS does not say)."""
    import os

    try:
        return float(os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES"))
    except (ValueError, OSError, AttributeError):  # pragma: no cover - non-POSIX
        return float(2**36)


def available_memory():
    """Bytes of memory available now (``MemAvailable`` on Linux), or None when unknown."""
    import os

    try:
        with open("/proc/meminfo") as fh:
            for line in fh:
                if line.startswith("MemAvailable:"):
                    return int(line.split()[1]) * 1024
    except (OSError, ValueError, IndexError):
        pass
    try:
        return os.sysconf("SC_AVPHYS_PAGES") * os.sysconf("SC_PAGE_SIZE")
    except (ValueError, OSError, AttributeError):
        return None


def check_memory(nbytes, what, name):
    """Refuse, naming ``name``, work whose arrays (``nbytes``) would not fit in this machine's memory."""
    have = physical_memory()
    if nbytes > have:
        raise ValidationError(
            f"{name}: {what} would take {nbytes / 2**30:.3g} GiB, more than this machine's "
            f"{have / 2**30:.3g} GiB of memory"
        )


# ---------------------------------------------------------------------- scale (issue 12, family 1)
#: Largest magnitude of an entry of ``X`` or ``Y`` at the network door (``LiftedNetwork.fit``).
#: The lifted objective is not unit-free (the penalties are not), and its blocks are solved to
#: absolute-plus-relative tolerances: CVXPY's solvers fail (``infeasible``, ``user_limit``) from
#: ``Y * 1e7`` and ``X * 1e16``, and the fast certificates stall at the rounding floor of large
#: targets (``benchmarks/scale_limits.py``). ``1e6`` keeps a margin on both paths at every lam in
#: ``LAM_RANGE`` (``tests/test_scale.py``). The estimators and the ``cvxlift`` command rescale.
DATA_MAX = 1e6
#: Accepted range of every :math:`\lambda_l`. The divergences are weighed against the loss (weight
#: 1); CVXPY's joint X-step fails at ``lam = 1e50``; with data at ``DATA_MAX`` every corner of
#: ``[1e-6, 1e6]`` trains on both paths; a subnormal lam makes ``1 / lam`` infinite.
LAM_RANGE = (1e-6, 1e6)
#: Largest :math:`\rho_l`: :math:`\rho_l\|W_l\|_F^2` at the initial weights must stay far from
#: float64's overflow (1.8e308); larger values only force :math:`W_l = 0`. Every ratio
#: ``rho / lam`` up to 1e56 trains on both paths (``benchmarks/scale_limits.py``).
RHO_MAX = 1e100


def check_penalty(value, name, n, low=None, high=None, allow_zero=False):
    r"""A penalty (``lam`` or ``rho``): :func:`check_positive`, then every entry in ``[low, high]``
    (``0`` also allowed with ``allow_zero``), so that the solvers' arithmetic is safe.

    Parameters
    ----------
    value : float or sequence of float
    name : str
        The argument's name, for the message.
    n : int
        Number of layers (a scalar is repeated ``n`` times).
    low, high : float, optional
        The accepted range of the positive entries.
    allow_zero : bool

    Returns
    -------
    ndarray of shape (n,)
    """
    arr = check_positive(value, name, n, allow_zero=allow_zero)
    pos = arr[arr > 0]
    if (low is not None and np.any(pos < low)) or (high is not None and np.any(pos > high)):
        bad = float(pos[(pos < (low or 0.0)) | (pos > (high if high is not None else np.inf))][0])
        lo = "" if low is None else f"{low:g} <= "
        hi = "" if high is None else f" <= {high:g}"
        zero = " (or 0)" if allow_zero else ""
        raise ValidationError(
            f"{name} must be in the range {lo}{name}{hi}{zero} where the block solvers' "
            f"arithmetic is safe; got {bad:g} (see docs/bad-input.md, scale)"
        )
    return arr


def check_scale(arr, name, limit=DATA_MAX):
    r"""Refuse data whose largest magnitude exceeds ``limit`` (the network door's range, see
    :data:`DATA_MAX`), naming the argument, the largest entry and what to do.

    Parameters
    ----------
    arr : ndarray
        Finite data (checked by :func:`check_matrix`).
    name : str
    limit : float

    Returns
    -------
    arr
    """
    top = float(np.max(np.abs(arr))) if arr.size else 0.0
    if top > limit:
        raise ValidationError(
            f"{name} has entries up to {top:.3g} in magnitude; LiftedNetwork.fit accepts |{name}| <= {limit:g} "
            f"(the lifted objective is not unit-free, and its block solvers lose accuracy beyond that): divide "
            f"{name} by its largest magnitude first (or use LiftedMLPRegressor / LiftedMLPClassifier, which do)"
        )
    return arr
