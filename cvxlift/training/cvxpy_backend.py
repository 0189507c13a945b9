r"""The CVXPY backend: every block solved as its assembled DPP problem (:mod:`cvxlift.assembly`).

Compiled blocks are kept per network (weakly: they go with the network) and per shape, and
re-solved with new Parameter values; the penalties :math:`\lambda, \rho` are Parameters too,
so penalty continuation never recompiles. The column-separable blocks (all but the W-step)
are solved chunk by chunk so that the DPP parameter tensor stays under ``chunk_budget``
entries; the last chunk is padded with copies of a real column. A solved state is projected
onto its atom's domain where the atom has a projection (a solver's 1e-12 excursion must not
make the exact objective infinite).
"""

import time
import weakref

import numpy as np

from .. import assembly
from ..exceptions import BlockMemoryError, ValidationError
from ..validation import physical_memory
from .backend import Backend, CvxpyInfo

__all__ = ["CvxpyBackend", "compiled_blocks"]

_BLOCKS = weakref.WeakKeyDictionary()


def compiled_blocks(net):
    """The compiled CVXPY blocks of ``net``, by ``(kind, layer, columns)`` (a live dict).

    Parameters
    ----------
    net : LiftedNetwork

    Returns
    -------
    dict
    """
    blocks = _BLOCKS.get(net)
    if blocks is None:
        blocks = _BLOCKS[net] = {}
    return blocks


def block(net, kind, l=None, m=1):
    """The compiled block ``kind`` of layer ``l`` of ``net`` for ``m`` columns (built once, then
    cached), its penalties set to the network's current ``lam_``/``rho_``.

    Parameters
    ----------
    net : LiftedNetwork
    kind : {"w_step", "x_step", "output_step", "joint_x_step", "prediction"}
    l : int or None
        ``0..L`` for ``"w_step"``, ``1..L`` for ``"x_step"``, ignored otherwise.
    m : int
        Number of columns.

    Returns
    -------
    cvxlift.assembly.Block
    """
    if isinstance(m, bool) or not isinstance(m, (int, np.integer)) or m < 1:
        raise ValidationError(f"m must be a positive integer (number of columns), got {m!r}")
    if kind not in assembly.KINDS:
        raise ValidationError(f"kind must be one of {sorted(assembly.KINDS)}, got {kind!r}")
    layered = {"w_step": range(net.n_layers), "x_step": range(1, net.n_layers)}
    if kind in layered and l not in layered[kind]:
        raise ValidationError(f"l must be a layer index in {list(layered[kind])} for kind={kind!r}, got {l!r}")
    if kind not in layered:
        l = None
    key = (kind, l, int(m))
    blocks = compiled_blocks(net)
    if key not in blocks:
        blocks[key] = assembly.for_network(net, kind, l, int(m))
    else:
        assembly.set_network_penalties(blocks[key], net, l)
    return blocks[key]


class CvxpyBackend(Backend):
    """Every block as its CVXPY problem.

    Parameters
    ----------
    solver : str, optional
        Pin the CVXPY solver (default: by problem class, with fallbacks; see
        :mod:`cvxlift.cvxsolve`).
    chunk_budget : int
        Bound on the entries of the DPP parameter tensor of one column chunk.
    accuracy : {"default", "tight"}
        Solver tolerances.
    """

    name = "cvxpy"

    def __init__(self, solver=None, chunk_budget=assembly.DPP_BUDGET, accuracy="default"):
        self.solver = solver
        self.chunk_budget = int(chunk_budget)
        self.accuracy = accuracy

    # ------------------------------------------------------------------ chunks
    def chunk(self, net, kind, l, m):
        """Columns per chunk of a column-separable block, from ``chunk_budget``.

        Parameters
        ----------
        net : LiftedNetwork
            The network (layer widths).
        kind : str
            ``"x_step"``, ``"output_step"``, ``"joint_x_step"`` or ``"prediction"``.
        l : int or None
            Layer index of an X-step.
        m : int
            Number of data columns.

        Returns
        -------
        int
            At least 1, at most ``m``.
        """
        u, s = net.u_dims_, net.sizes
        if kind == "x_step":
            cost = u[l] * s[l] + u[l - 1] + s[l + 1]
        elif kind in ("joint_x_step", "prediction"):
            cost = sum(u[j] * s[j] for j in range(1, net.n_layers)) + u[0]
        else:
            cost = u[-1] + 2 * s[-1]
        return assembly.chunk_size(m, cost, self.chunk_budget)

    def _solve(self, blk, m):
        try:
            return blk.solve(solver=self.solver, accuracy=self.accuracy, allow_inaccurate=True)
        except MemoryError as exc:
            raise BlockMemoryError(
                f"{blk.name}: CVXPY ran out of memory on {m} columns ({exc}); use solver='fast' where the "
                f"block has a fast solver, or a smaller chunk budget (CvxpyBackend(chunk_budget=...), now "
                f"{self.chunk_budget})"
            ) from None

    def _by_chunks(self, net, kind, l, m, setter):
        """Solve a column-separable block chunk by chunk; ``setter(block, cols)`` sets the data."""
        c = self.chunk(net, kind, l, m)
        t0 = time.perf_counter()
        try:
            blk = block(net, kind, l, c)
        except MemoryError as exc:
            raise BlockMemoryError(
                f"{kind} (layer {l}): building the CVXPY problem for {c} columns ran out of "
                f"memory ({exc}); use solver='fast' or a smaller chunk budget"
            ) from None
        outs, infos = [], []
        for start in range(0, m, c):
            cols = np.arange(start, min(start + c, m))
            padded = np.concatenate([cols, np.full(c - cols.size, cols[-1])]) if cols.size < c else cols
            setter(blk, padded)
            infos.append(self._solve(blk, c))
            res = blk.result()
            outs.append([r[:, : cols.size] for r in res] if isinstance(res, list) else res[:, : cols.size])
        if isinstance(outs[0], list):
            out = [np.concatenate([o[j] for o in outs], axis=1) for j in range(len(outs[0]))]
        else:
            out = np.concatenate(outs, axis=1)
        return out, _info(blk.name, infos, time.perf_counter() - t0)

    @staticmethod
    def _check_w_step_size(net, l, m):
        """Refuse, before compiling, a W-step whose DPP parameter tensor cannot fit in memory.

        The product :math:`WA` with ``A`` a Parameter gives CVXPY a parameter tensor of about
        :math:`n_u(p+1) \times (p + n_u)m` entries, which its canonicalisation holds densely
        (784 inputs, 32 units, 300 columns: 49 GiB); the fast W-steps have no such limit."""
        p, n_u = net.sizes[l], net.u_dims_[l]
        nbytes = 8.0 * n_u * (p + 1) * (p + n_u) * m
        have = physical_memory()
        if nbytes > have / 2:
            raise BlockMemoryError(
                f"layer {l}, W-step: the CVXPY problem for {m} columns ({p} inputs, {n_u} units) needs a parameter "
                f"tensor of about {nbytes / 2**30:.3g} GiB, more than half of this machine's {have / 2**30:.3g} GiB; "
                f"use solver='fast' (its W-steps are certified against this block on small sizes) or fewer columns"
            )

    @staticmethod
    def project_state(net, l, Z):
        """Project a solver's state onto the atom's domain where a projection exists."""
        d, f = net.activations_[l], net.forms_[l]
        return d.project_domain(Z) if d.z_quadratic(f) is not None else Z

    # ------------------------------------------------------------------ blocks
    def w_step(self, net, l, A, Z):
        t0 = time.perf_counter()
        m = A.shape[1]
        self._check_w_step_size(net, l, m)
        try:
            blk = block(net, "w_step", l, m)
        except MemoryError as exc:
            raise BlockMemoryError(
                f"layer {l}, W-step: building the CVXPY problem for {m} columns ran out of "
                f"memory ({exc}); use solver='fast' or fewer columns"
            ) from None
        blk.set(A, Z)
        solved = self._solve(blk, m)
        W, b = blk.result()
        return W, b, _info(blk.name, [solved], time.perf_counter() - t0)

    def x_step(self, net, l, U0, Zn, Z0=None):
        W, b = net.weights_[l], net.biases_[l]

        def setter(blk, cols):
            blk.set(U0[:, cols], W, b, Zn[:, cols])

        Z, info = self._by_chunks(net, "x_step", l, U0.shape[1], setter)
        return self.project_state(net, l - 1, Z), info

    def output_step(self, net, U0, Y, Z0=None):
        def setter(blk, cols):
            blk.set(U0[:, cols], Y[:, cols])

        Z, info = self._by_chunks(net, "output_step", None, U0.shape[1], setter)
        return self.project_state(net, net.n_layers - 1, Z), info

    def joint_x_step(self, net, U0, Y, states0=None):
        def setter(blk, cols):
            blk.set(U0[:, cols], net.weights_, net.biases_, Y[:, cols])

        states, info = self._by_chunks(net, "joint_x_step", None, U0.shape[1], setter)
        return [self.project_state(net, l, s) for l, s in enumerate(states)], info

    # ------------------------------------------------------------------ prediction
    def predict(self, net, X, max_iter=100, tol=1e-9):
        """The lifted prediction (12): one convex problem when every form is jointly convex,
        otherwise block-coordinate descent over the layers from the forward pass (CVXPY
        X-steps, the last state in closed form), stopped when a sweep lowers (12) by less than
        ``tol`` (relative) or after ``max_iter`` sweeps. ``info.history`` holds (12) per sweep."""
        if net.jointly_convex:
            U0 = net.preactivation(0, X)

            def setter(blk, cols):
                blk.set(U0[:, cols], net.weights_, net.biases_)

            return self._by_chunks(net, "prediction", None, X.shape[1], setter)
        return self._predict_bcd(net, X, max_iter, tol)

    def _predict_bcd(self, net, X, max_iter, tol):
        t0 = time.perf_counter()
        states = net.forward(X)
        obj = net.prediction_objective(X, states)
        history, infos = [obj], []
        for _ in range(max_iter):
            if obj <= 0.0:
                break
            for l in range(1, net.n_layers):
                prev = X if l == 1 else states[l - 2]
                new, info = self.x_step(net, l, net.preactivation(l - 1, prev), states[l])
                infos.append(info)
                trial = states[: l - 1] + [new] + states[l:]
                if net.prediction_objective(X, trial) <= obj:
                    states = trial
                    obj = net.prediction_objective(X, states)
            last_in = states[-2] if net.n_layers > 1 else X
            trial = states[:-1] + [net.activations_[-1].forward(net.preactivation(net.n_layers - 1, last_in))]
            new_obj = net.prediction_objective(X, trial)
            if new_obj <= obj:
                states = trial
            previous, obj = obj, min(obj, new_obj)
            history.append(obj)
            if previous - obj <= tol * max(1.0, abs(previous)):
                break
        info = _merge(infos, time.perf_counter() - t0)
        info.history = history
        return states, info


def _info(name, solved, seconds):
    """One :class:`CvxpyInfo` from the ``SolveInfo`` of each chunk."""
    worst = next((s for s in solved if s.status != "optimal"), solved[-1])
    attempts = [a for s in solved for a in s.attempts]
    return CvxpyInfo(name, worst.solver, worst.status, seconds, len(solved), attempts)


def _merge(infos, seconds):
    if not infos:
        return CvxpyInfo("lifted prediction (12)", "none", "optimal", seconds, 0, [])
    worst = next((i for i in infos if i.status != "optimal"), infos[-1])
    return CvxpyInfo(
        "lifted prediction (12)",
        worst.solver,
        worst.status,
        seconds,
        sum(i.chunks for i in infos),
        [a for i in infos for a in i.attempts],
    )
