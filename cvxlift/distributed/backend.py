r"""The Dask backend: the fast block solvers over column-chunked Dask arrays, :class:`DaskBackend`.

================  =========================================================================
block             how it runs
================  =========================================================================
``w_step``        :func:`cvxlift.distributed.wstep.w_step`: reductions over chunks, the
                  :math:`p\times p` algebra on the client (one reduction per iteration of the
                  iterative solver); ``ridge`` or ``majorize`` (for a smooth ``D`` the
                  in-memory default is ``pncg``, which has no distributed counterpart yet)
``x_step``        :func:`cvxlift.fast.x_step` on each chunk
``output_step``   :func:`cvxlift.fast.output_step` on each chunk
``joint_x_step``  ``cvxlift.fast.joint_x_step`` on each chunk (where the fast path has it)
``predict``       :func:`cvxlift.fast.lifted_predict` on each chunk
================  =========================================================================

Every new state is persisted on the workers together with the chunks' reports, which the
client combines into one :class:`DaskBlockResult` (the largest certificate and iteration count,
``converged`` when every chunk converged). No block gathers a state matrix on the client.

A block without a fast solver has no distributed fallback (the CVXPY blocks need every column
at once): :meth:`DaskBackend.begin` raises :class:`~cvxlift.exceptions.NoFastSolver` naming it
before any work.
"""

import inspect
import time
from dataclasses import dataclass, fields

from .. import fast
from ..exceptions import NoFastSolver, ValidationError
from ..training import Backend, FastBackend
from . import kernels, wstep
from .chunks import compute, map_columns, persist
from .detect import require_dask
from .state import PREACTIVATIONS, DaskState

__all__ = ["DaskBackend", "DaskBlockResult", "combine_reports"]


@dataclass
class DaskBlockResult(fast.BlockResult):
    """A :class:`~cvxlift.fast.BlockResult` over column chunks.

    Attributes
    ----------
    chunks : int
        Number of column chunks solved (``iterations`` and ``certificate`` are the largest
        over chunks, ``converged`` holds when every chunk converged, ``seconds`` is the
        wall-clock time of the block seen from the client).
    """

    chunks: int = 1


def combine_reports(reports, seconds):
    """One :class:`DaskBlockResult` from the chunks' :class:`~cvxlift.fast.BlockResult` reports.

    The largest iteration count and certificate, ``converged`` when every chunk converged; the
    per-column fields that a report may carry are summed (``n_fallback``) or joined
    (``fallback``); per-column certificate arrays stay on the workers (``certificates`` is None).

    Parameters
    ----------
    reports : list of BlockResult
    seconds : float
        Wall-clock time of the block.

    Returns
    -------
    DaskBlockResult
    """
    reports = list(reports)
    kw = dict(
        iterations=max(r.iterations for r in reports),
        certificate=max(float(r.certificate) for r in reports),
        converged=all(bool(r.converged) for r in reports),
        seconds=float(seconds),
        objective=float("nan"),
        solver="+".join(sorted({r.solver for r in reports})),
        chunks=len(reports),
    )
    names = {f.name for f in fields(DaskBlockResult)}
    if "n_fallback" in names:
        kw["n_fallback"] = int(sum(getattr(r, "n_fallback", 0) for r in reports))
    if "fallback" in names:
        kw["fallback"] = "+".join(sorted({getattr(r, "fallback", "") for r in reports} - {""}))
    if "tol" in names:
        kw["tol"] = next((float(r.tol) for r in reports if getattr(r, "tol", None) is not None), float("nan"))
    return DaskBlockResult(**kw)


def _defaults(fn, names):
    params = inspect.signature(fn).parameters
    return {k: params[k].default for k in names if k in params}


class DaskBackend(Backend):
    """The fast block solvers on column-chunked Dask arrays (see the module docstring).

    Parameters
    ----------
    options : dict, optional
        Keyword arguments of the fast solvers by block kind, as :class:`~cvxlift.training.FastBackend`'s
        (``{"w_step": {"max_iter": 20}}``, ``{"x_step": {"tol": 1e-8}}``, ...).
    preactivations : {"persist", "recompute"}
        Keep the products :math:`W_lX_l + b_l\\mathbf 1^T` on the workers, or recompute them
        inside each task that reads them (see :class:`~cvxlift.distributed.DaskState`).
    """

    name = "dask"

    def __init__(self, options=None, preactivations="persist"):
        require_dask()
        if preactivations not in PREACTIVATIONS:
            raise ValidationError(f"preactivations must be one of {PREACTIVATIONS}, got {preactivations!r}")
        self.options = {k: dict(v) for k, v in (options or {}).items()}
        self.preactivations = preactivations
        self._inputs = {}

    # ------------------------------------------------------------------ the run
    def make_state(self, net, X, Y):
        """A :class:`DaskState` for ``X``, ``Y`` (column-chunked Dask arrays)."""
        self._inputs = {}
        return DaskState(net, X, Y, preactivations=self.preactivations)

    def begin(self, net):
        """Check, before any work, that every block of ``net`` has a distributed solver."""
        for l, (d, f) in enumerate(zip(net.activations_, net.forms_)):
            if net.rho_[l] == 0:  # as in memory: the fast W-steps solve the strongly convex step only
                raise NoFastSolver(
                    f"layer {l}, W-step: rho[{l}] = 0: the fast W-steps need rho > 0 (a strongly "
                    "convex step), and a Dask fit has no CVXPY fallback"
                )
            try:
                wstep.select(d, f, self._opts("w_step").get("method"))
            except NoFastSolver as exc:
                raise NoFastSolver(f"layer {l}, W-step: no distributed solver: {exc}") from None
        props = [fast.atom_props(d, f) for d, f in zip(net.activations_, net.forms_)]
        L1 = net.n_layers - 1
        fast.select("output_step", atom=props[L1], loss=net.loss_.name)
        for l in range(1, net.n_layers):
            fast.select("x_step", prev=props[l - 1], next=props[l], q=net.u_dims_[l])

    def _opts(self, kind):
        return self.options.get(kind, {})

    def _input(self, l, A):
        """The cached sums of layer ``l``'s input while it is the same array."""
        inp = self._inputs.get(l)
        if inp is None or inp.A is not A:
            inp = self._inputs[l] = wstep.LayerInput(A)
        return inp

    def _solve(self, fn, arrays, params, rows, name):
        """Run ``fn`` per chunk; persist the outputs with the reports; combine the reports."""
        t0 = time.perf_counter()
        outs, reports = map_columns(fn, arrays, params, rows, info=True, name=name)
        *outs, reports = persist(*outs, reports)
        reports = compute(*reports)
        return outs, combine_reports(reports, time.perf_counter() - t0)

    # ------------------------------------------------------------------ blocks
    def w_step(self, net, l, A, Z):
        opts = {**_defaults(fast.w_step, ("tol", "max_iter", "method")), **self._opts("w_step")}
        return wstep.w_step(
            self._input(l, A),
            Z,
            net.activations_[l],
            net.forms_[l],
            net.lam_[l],
            net.rho_[l],
            W0=net.weights_[l],
            b0=net.biases_[l],
            tol=opts["tol"],
            max_iter=opts["max_iter"],
            method=opts["method"],
        )

    def x_step(self, net, l, U0, Zn, Z0=None):
        params = (
            net.weights_[l],
            net.biases_[l],
            net.activations_[l - 1],
            net.forms_[l - 1],
            net.activations_[l],
            net.forms_[l],
            net.lam_[l - 1],
            net.lam_[l],
            self._opts("x_step"),
        )
        (Z,), info = self._solve(kernels.x_step, [U0, Zn, Z0], params, (net.sizes[l],), f"x-step-{l}")
        return Z, info

    def output_step(self, net, U0, Y, Z0=None):
        L1 = net.n_layers - 1
        params = (net.activations_[L1], net.forms_[L1], net.lam_[L1], net.loss_.name)
        (Z,), info = self._solve(kernels.output_step, [U0, Y], params, (net.sizes[-1],), "output-step")
        return Z, info

    def supports_joint(self, net):
        """Whether the fast path has a joint X-step for ``net`` (it then runs per chunk):
        :meth:`cvxlift.training.FastBackend.supports_joint`.

        Parameters
        ----------
        net : LiftedNetwork

        Returns
        -------
        bool
        """
        return FastBackend().supports_joint(net)

    def joint_x_step(self, net, U0, Y, states0):
        if getattr(fast, "joint_x_step", None) is None:
            raise NoFastSolver("the joint X-step has no fast solver yet: use xstep='cyclic'")
        params = (
            net.weights_,
            net.biases_,
            net.activations_,
            net.forms_,
            net.lam_,
            net.loss_.name,
            self._opts("joint_x_step"),
        )
        states, info = self._solve(
            kernels.joint_x_step, [U0, Y, *states0], params, tuple(net.sizes[1:]), "joint-x-step"
        )
        return states, info

    def predict(self, net, X, max_iter=100, tol=1e-9):
        params = (
            net.weights_,
            net.biases_,
            net.activations_,
            net.forms_,
            net.lam_,
            tol,
            max_iter,
            self._opts("predict"),
        )
        return self._solve(kernels.lifted_predict, [X], params, tuple(net.sizes[1:]), "lifted-predict")
