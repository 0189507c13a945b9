"""The keywords of :meth:`cvxlift.LiftedNetwork.fit`, as one declarative table.

Each entry names its default and its check; :func:`fit_options` validates every keyword
before any work and returns them resolved, so that a bad value is reported by name at the
door (never mid-fit).
"""

import inspect

import numpy as np

from .. import cvxsolve, fast
from ..exceptions import SolverError, ValidationError
from ..validation import LAM_RANGE, check_bool, check_choice, check_int, check_number
from .fast_backend import FALLBACKS

__all__ = ["FIT_OPTIONS", "fit_options", "FAST_OPTION_KEYS"]

#: Keyword arguments each fast block function accepts in ``fast_options``.
FAST_OPTION_KEYS = {
    "w_step": ("tol", "max_iter", "method"),
    "x_step": ("tol", "max_iter", "method"),
    "joint_x_step": ("tol", "max_iter", "method", "finish"),
    "predict": ("inner_tol", "inner_max_iter", "method"),
}


def _verbose(value, name):
    if isinstance(value, (bool, np.bool_)):
        return bool(value)
    return check_int(value, name, 0) > 0


def _callback(value, name):
    if value is not None and not callable(value):
        raise ValidationError(f"{name} must be callable as {name}(net, sweep, objective), got {value!r}")
    return value


def _callbacks(value, name):
    from .callbacks import Callback

    if value is None:
        return []
    try:
        items = list(value)
    except TypeError:
        items = None
    if items is None or not all(isinstance(cb, Callback) for cb in items):
        raise ValidationError(f"{name} must be a sequence of cvxlift.training.Callback instances, got {value!r}")
    return items


def _inertia(value, name):
    v = check_number(value, name, 0.0)
    if v >= 1.0:
        raise ValidationError(f"{name} must be a number in [0, 1), got {value!r}")
    return v


def _cvxpy_solver(value, name):
    """None or the name of an installed CVXPY solver (checked before training)."""
    if value is None:
        return None
    if not isinstance(value, str):
        raise ValidationError(f"{name} must be None or a solver name such as 'CLARABEL', got {value!r}")
    have = sorted(cvxsolve.installed_solvers())
    if value.upper() not in have:
        raise SolverError(f"{name}={value!r} is not installed; installed CVXPY solvers: {have}")
    return value


def _accepted(kind):
    """Option names of a fast block function, read from its signature where it exists."""
    fn = {
        "w_step": getattr(fast, "w_step", None),
        "x_step": getattr(fast, "x_step", None),
        "joint_x_step": getattr(fast, "joint_x_step", None),
        "predict": getattr(fast, "lifted_predict", None),
    }[kind]
    if fn is None:
        return set(FAST_OPTION_KEYS[kind])
    params = inspect.signature(fn).parameters
    return {k for k in FAST_OPTION_KEYS[kind] if k in params} | {
        k for k, p in params.items() if p.kind == p.KEYWORD_ONLY
    }


def _fast_options(value, name):
    if value is None:
        return {}
    if not isinstance(value, dict):
        raise ValidationError(f"{name} must be a dict keyed by block kind {tuple(FAST_OPTION_KEYS)}, got {value!r}")
    out = {}
    for kind, opts in value.items():
        if kind not in FAST_OPTION_KEYS:
            raise ValidationError(f"{name} keys must be block kinds {tuple(FAST_OPTION_KEYS)}, got {kind!r}")
        if not isinstance(opts, dict):
            raise ValidationError(f"{name}[{kind!r}] must be a dict of solver options, got {opts!r}")
        allowed = _accepted(kind)
        unknown = sorted(set(opts) - allowed)
        if unknown:
            raise ValidationError(f"{name}[{kind!r}] has unknown option(s) {unknown}; accepted: {sorted(allowed)}")
        checked = {}
        for k, v in opts.items():
            if k in ("max_iter", "inner_max_iter"):
                v = check_int(v, f"{name}[{kind!r}][{k!r}]", 1)
            elif k in ("tol", "inner_tol"):
                v = check_number(v, f"{name}[{kind!r}][{k!r}]", 0.0, low_open=True)
            elif k == "finish":
                v = check_bool(v, f"{name}[{kind!r}][{k!r}]")
            checked[k] = v
        out[kind] = checked
    return out


#: ``name -> (default, check)``: every keyword of ``fit`` but the data.
FIT_OPTIONS = {
    "solver": ("cvxpy", lambda v, n: check_choice(v, n, ("cvxpy", "fast"))),
    "max_iter": (20, lambda v, n: check_int(v, n, 0)),
    "tol": (1e-6, lambda v, n: check_number(v, n, 0.0)),
    "xstep": ("auto", lambda v, n: check_choice(v, n, ("auto", "cyclic", "joint"))),
    "callback": (None, _callback),
    "callbacks": (None, _callbacks),
    "warm_start": (False, check_bool),
    "cvxpy_solver": (None, _cvxpy_solver),
    "verbose": (False, _verbose),
    "lam_growth": (1.0, lambda v, n: check_number(v, n, 1.0)),
    "lam_max": (1e6, lambda v, n: check_number(v, n, 0.0, high=LAM_RANGE[1], low_open=True)),
    "validation_data": (None, lambda v, n: v),  # checked against the network by the caller
    "early_stopping": (False, check_bool),
    "n_iter_no_change": (3, lambda v, n: check_int(v, n, 1)),
    "fast_options": (None, _fast_options),
    "fallback": ("warn", lambda v, n: check_choice(v, n, FALLBACKS)),
    "inertia": (0.0, lambda v, n: _inertia(v, n)),
}


def fit_options(**given):
    """Validate ``fit``'s keywords (defaults from :data:`FIT_OPTIONS`); return them as a dict.

    Parameters
    ----------
    **given
        Keywords of :meth:`cvxlift.LiftedNetwork.fit` (``solver``, ``max_iter``, ``tol``,
        ``fast_options``, ...); unknown names are refused.

    Returns
    -------
    dict
        Every option of :data:`FIT_OPTIONS`, validated, with its default where not given.

    Raises
    ------
    ValidationError
        Naming the keyword and what was expected.
    """
    unknown = sorted(set(given) - set(FIT_OPTIONS))
    if unknown:
        raise ValidationError(f"fit() got unknown keyword(s) {unknown}; accepted: {sorted(FIT_OPTIONS)}")
    out = {}
    for name, (default, check) in FIT_OPTIONS.items():
        out[name] = check(given.get(name, default), name)
    if out["early_stopping"] and out["validation_data"] is None:
        raise ValidationError("early_stopping=True needs validation_data=(X_val, Y_val)")
    return out
