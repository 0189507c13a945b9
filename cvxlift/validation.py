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


def check_positive(value, name, n):
    """A scalar or a length-``n`` sequence of finite positive numbers, as a length-``n`` array."""
    try:
        arr = as_real_array(value, name)
    except ValidationError:
        raise ValidationError(f"{name} must be a positive number or a sequence of {n} of them; got {value!r}") from None
    if arr.ndim == 0:
        arr = np.full(n, float(arr))
    if arr.shape != (n,):
        raise ValidationError(f"{name} must be a positive number or a sequence of {n} of them; got shape {arr.shape}")
    if not np.all(np.isfinite(arr)) or np.any(arr <= 0):
        raise ValidationError(f"{name} must be finite and > 0; got {value!r}")
    return arr


def check_scalar(value, name, low=None, high=None, integer=False):
    if isinstance(value, bool):
        raise ValidationError(f"{name} must be a number, got {value!r}")
    try:
        v = float(value)
    except (TypeError, ValueError):
        raise ValidationError(f"{name} must be a number, got {value!r}") from None
    if not math.isfinite(v) or (integer and v != int(v)):
        raise ValidationError(f"{name} must be a finite {'integer' if integer else 'number'}, got {value!r}")
    if low is not None and v < low or high is not None and v > high:
        raise ValidationError(f"{name} must be in [{low}, {high}], got {value!r}")
    return int(v) if integer else v
