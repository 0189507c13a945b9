"""The fast backend: the hand-coded block solvers of :mod:`cvxlift.fast`, chosen by the registry.

A block with no fast solver (the registry raises :class:`~cvxlift.exceptions.NoFastSolver`,
naming the block, its atoms and the property each candidate needs) is solved by the CVXPY
backend instead, never silently: with ``fallback="warn"`` (default) a
:class:`~cvxlift.exceptions.FastPathFallbackWarning` is issued once per block and fit and the
block's ``info.fallback`` says why; with ``fallback="error"`` the ``NoFastSolver`` is raised.
"""

import warnings

from .. import arrays as ax
from .. import fast
from ..exceptions import FastPathFallbackWarning, NoFastSolver, ValidationError
from .backend import Backend
from .cvxpy_backend import CvxpyBackend

__all__ = ["FastBackend", "FALLBACKS"]

#: Values of ``fallback``.
FALLBACKS = ("warn", "error")
#: Block kinds whose fast solvers take options (``fast_options={kind: {...}}``).
OPTION_KINDS = ("w_step", "x_step", "joint_x_step", "predict")


class FastBackend(Backend):
    """The fast block solvers, with a CVXPY fallback per block.

    Parameters
    ----------
    options : dict, optional
        Keyword arguments of the fast solvers by block kind, e.g.
        ``{"w_step": {"max_iter": 20}}`` (inexact block-coordinate descent: the engine still
        accepts an update only if the objective does not rise).
    fallback : {"warn", "error"}
        What a block without a fast solver does (see the module docstring).
    cvxpy : CvxpyBackend, optional
        The backend of the fallback blocks.
    """

    name = "fast"

    def __init__(self, options=None, fallback="warn", cvxpy=None):
        if fallback not in FALLBACKS:
            raise ValidationError(f"fallback must be one of {FALLBACKS}, got {fallback!r}")
        self.options = {k: dict(v) for k, v in (options or {}).items()}
        self.fallback = fallback
        self.cvxpy = CvxpyBackend() if cvxpy is None else cvxpy
        self._warned = set()
        self.w_step_caches = {}

    def begin(self, net):
        """Reset the per-fit warnings; one :class:`~cvxlift.fast.WStepCache` per layer (the first
        layer's input Gram matrix and its factorisations are then computed once per fit)."""
        self._warned = set()
        self.w_step_caches = {l: fast.WStepCache() for l in range(net.n_layers)}
        self.cvxpy.begin(net)

    def cached_preactivation(self, l, W, b, A):
        """:math:`WA + b\\mathbf 1^T` if the last W-step of layer ``l`` had input ``A`` and returned
        exactly ``W``, ``b`` (the product it formed anyway), else ``None``."""
        cache = self.w_step_caches.get(l)
        return None if cache is None else cache.preactivation(W, b, A)

    def _opts(self, kind):
        return self.options.get(kind, {})

    def _fall_back(self, net, block_name, exc, run):
        """Solve on CVXPY (``run()``), after a warning; or raise under ``fallback="error"``."""
        reason = str(exc)
        if any(ax.is_foreign(W) for W in (net.weights_ or [])):
            raise NoFastSolver(
                f"{block_name}: no fast solver, and the CVXPY fallback takes numpy data only "
                f"(train on numpy arrays, or use atoms with fast solvers): {reason}"
            ) from None
        if self.fallback == "error":
            raise NoFastSolver(
                f"{block_name}: no fast solver under solver='fast' with fallback='error': {reason}"
            ) from None
        if block_name not in self._warned:
            self._warned.add(block_name)
            warnings.warn(
                f"{block_name}: solved with CVXPY under solver='fast': {reason}", FastPathFallbackWarning, stacklevel=4
            )
        *out, info = run()
        info.fallback = reason
        return (*out, info)

    # ------------------------------------------------------------------ blocks
    def w_step(self, net, l, A, Z):
        try:
            if net.rho_[l] == 0:  # fast.w_step solves the strongly convex W-step (rho > 0) only
                raise NoFastSolver(f"rho[{l}] = 0: the fast W-steps need rho > 0 (a strongly convex step)")
            return fast.w_step(
                A,
                Z,
                net.activations_[l],
                net.forms_[l],
                net.lam_[l],
                net.rho_[l],
                W0=net.weights_[l],
                b0=net.biases_[l],
                evaluate=False,
                cache=self.w_step_caches.get(l),
                **self._opts("w_step"),
            )
        except NoFastSolver as exc:
            return self._fall_back(net, f"layer {l}, W-step", exc, lambda: self.cvxpy.w_step(net, l, A, Z))

    def x_step(self, net, l, U0, Zn, Z0=None):
        try:
            return fast.x_step(
                U0,
                net.weights_[l],
                net.biases_[l],
                Zn,
                net.activations_[l - 1],
                net.forms_[l - 1],
                net.activations_[l],
                net.forms_[l],
                net.lam_[l - 1],
                net.lam_[l],
                Z0=Z0,
                evaluate=False,
                **self._opts("x_step"),
            )
        except NoFastSolver as exc:
            return self._fall_back(net, f"layer {l}, X-step", exc, lambda: self.cvxpy.x_step(net, l, U0, Zn, Z0))

    def output_step(self, net, U0, Y, Z0=None):
        L1 = net.n_layers - 1
        try:
            return fast.output_step(U0, Y, net.activations_[L1], net.forms_[L1], net.lam_[L1], net.loss_.name)
        except NoFastSolver as exc:
            return self._fall_back(net, "output step", exc, lambda: self.cvxpy.output_step(net, U0, Y, Z0))

    def _joint_solver(self):
        return getattr(fast, "joint_x_step", None)

    def supports_joint(self, net):
        solver = self._joint_solver()
        if solver is None or not net.jointly_convex:
            return False
        try:
            fast.select(
                "joint_x_step",
                layers=tuple(fast.atom_props(d, f) for d, f in zip(net.activations_, net.forms_)),
                loss=net.loss_.name,
            )
        except (NoFastSolver, TypeError):
            return False
        return True

    def joint_x_step(self, net, U0, Y, states0=None):
        solver = self._joint_solver()
        try:
            if solver is None:
                raise NoFastSolver("the joint X-step has no fast solver yet")
            return solver(
                U0,
                Y,
                net.weights_,
                net.biases_,
                net.activations_,
                net.forms_,
                net.lam_,
                net.loss_.name,
                Z0=states0,
                evaluate=False,
                **self._opts("joint_x_step"),
            )
        except NoFastSolver as exc:
            return self._fall_back(net, "joint X-step", exc, lambda: self.cvxpy.joint_x_step(net, U0, Y, states0))

    def predict(self, net, X, max_iter=100, tol=1e-9):
        try:
            return fast.lifted_predict(
                X,
                net.weights_,
                net.biases_,
                net.activations_,
                net.forms_,
                net.lam_,
                tol=tol,
                max_iter=max_iter,
                evaluate=False,
                **self._opts("predict"),
            )
        except NoFastSolver as exc:
            return self._fall_back(
                net, "lifted prediction (12)", exc, lambda: self.cvxpy.predict(net, X, max_iter, tol)
            )
