r"""The training engine: block-coordinate descent on the lifted problem, :class:`BCD`.

One engine under every door (:meth:`cvxlift.LiftedNetwork.fit`, the scikit-learn estimators,
the ``cvxlift`` command). A sweep (paper section 6) solves, in this order,

1. the W-step of every layer,
2. the X-steps: one joint step over every state when the schedule is ``"joint"``
   (the default when every form is jointly convex and the backend has a joint solver),
   otherwise the hidden X-steps in order and then the output step.

**The guard.** Each block update is applied, the exact objective (10) is evaluated (only the
terms that the block changed), and the update is undone if the objective rose (beyond
:math:`10^{-12}` relative) or is not finite; the block's name is then listed in
``block_info["rejected"]``. So the history is non-increasing whatever a solver returns.
Block updates replace arrays and never write into them, so an undo is a pointer swap.

**Scale.** The initial objective must be finite: otherwise no block step could ever be
accepted (every comparison with ``inf`` or NaN fails), so :meth:`BCD.fit` raises
:class:`~cvxlift.exceptions.ValidationError` naming the magnitudes of ``X``, ``Y``, ``lam`` and
``rho`` instead of returning the initial weights with an ``inf`` history.

**Interrupts.** ``KeyboardInterrupt`` during a sweep restores the iterate (and the history)
of the last complete sweep, sets ``interrupted``, warns, and ends the fit normally.
"""

import time
import warnings

import numpy as np

from .. import arrays as ax
from ..exceptions import ValidationError
from ..validation import LAM_RANGE, check_penalty
from .backend import Backend
from .callbacks import Callback

__all__ = ["BCD", "SCHEDULES"]

#: Values of ``xstep``.
SCHEDULES = ("auto", "cyclic", "joint")
#: Relative rise of the objective that the guard tolerates (round-off of the evaluation).
RISE_RTOL = 1e-12


class BCD:
    r"""Block-coordinate descent with a monotone guard.

    Parameters
    ----------
    backend : Backend
        The block solvers (:class:`~cvxlift.training.CvxpyBackend`,
        :class:`~cvxlift.training.FastBackend`, or your own).
    max_iter : int
        Maximum number of sweeps.
    tol : float
        Stop when a sweep lowers the objective by less than ``tol`` relative to
        :math:`\max(1, |F|)`.
    xstep : {"auto", "cyclic", "joint"}
        The X-step schedule; ``"auto"`` is ``"joint"`` when every form is jointly convex and
        the backend supports it, else ``"cyclic"``.
    inertia : float in [0, 1)
        Inertial block-coordinate descent: after the W-steps of every sweep but the first, each
        :math:`(W_l, b_l)` moves on by ``inertia`` times its change since the previous sweep's
        W-steps, :math:`W_l \leftarrow W_l + \beta(W_l - W_l^{prev})`, before the X-steps. The
        objective may rise at that move, which is recorded as an ``"inertia"`` history entry
        (not guarded); every block step after it is guarded as usual. ``0`` (default): off.
    callbacks : sequence of Callback
        Called in order after each sweep; once one asks to stop, ``stopping`` is True for
        the ones after it (penalty continuation then leaves the penalties alone).

    Attributes (after :meth:`fit`)
    ------------------------------
    history, history_blocks : list
        The objective after initialisation and after each block step, and the step's name.
    loss_curve, lam_path : list
        The objective and the penalties after each sweep.
    block_info : dict
        The ``info`` of each block's last solve, ``"rejected"`` and ``"inaccurate"`` lists.
    n_iter : int
        Complete sweeps.
    interrupted : bool
    seconds : float
    """

    def __init__(self, backend, max_iter=20, tol=1e-6, xstep="auto", callbacks=(), inertia=0.0):
        if not isinstance(backend, Backend):
            raise TypeError(f"backend must be a cvxlift.training.Backend, got {backend!r}")
        if xstep not in SCHEDULES:
            raise ValueError(f"xstep must be one of {SCHEDULES}, got {xstep!r}")
        for cb in callbacks:
            if not isinstance(cb, Callback):
                raise TypeError(f"callbacks must be cvxlift.training.Callback instances, got {cb!r}")
        if not 0.0 <= float(inertia) < 1.0:
            raise ValueError(f"inertia must be in [0, 1), got {inertia!r}")
        self.backend, self.max_iter, self.tol, self.xstep = backend, int(max_iter), float(tol), xstep
        self.inertia = float(inertia)
        self.callbacks = list(callbacks)
        self.net = self.state = None

    # ------------------------------------------------------------------ schedule
    def uses_joint(self, net):
        """Whether the sweeps take one joint X-step (see ``xstep``).

        Parameters
        ----------
        net : LiftedNetwork
            The network being trained.

        Returns
        -------
        bool
        """
        if self.xstep == "joint":
            return True
        return self.xstep == "auto" and net.jointly_convex and self.backend.supports_joint(net)

    # ------------------------------------------------------------------ run
    def fit(self, net, X, Y, warm_start=False):
        """Train ``net`` on columns ``X`` (inputs) and ``Y`` (targets); return ``self``.

        With ``warm_start`` the current weights are kept (whatever the number of columns);
        the current states are kept too when they fit the data, otherwise they are rebuilt
        from the weights (forward pass, exact output step). Without it the weights are drawn
        afresh and the penalties reset to ``net.lam``.

        Parameters
        ----------
        net : LiftedNetwork
            The network being trained.
        X : ndarray (n_0, m)
            Inputs, one column per sample.
        Y : ndarray (K, m)
            Targets, one column per sample.
        warm_start : bool, default False
            Start from the network's current weights (and states, where they fit).

        Returns
        -------
        BCD
            ``self``; ``history`` holds the objective after every accepted block and sweep.
        """
        if self.xstep == "joint" and not net.jointly_convex:
            raise ValueError("xstep='joint' needs every layer in the jointly convex form (form='joint')")
        self.net, self.state = net, self.backend.make_state(net, X, Y)
        self.block_info = {}
        self.backend.begin(net)
        self._initialise(warm_start)
        self.history, self.history_blocks = [self.objective()], ["init"]
        if not np.isfinite(self.history[0]):
            raise ValidationError(self._not_finite(self.history[0]))
        self.loss_curve, self.lam_path = [], []
        self.n_iter, self.interrupted = 0, False
        self._last_w = None
        joint = self.uses_joint(net)
        t0 = time.perf_counter()
        for cb in self.callbacks:
            cb.on_fit_begin(self)
        mark, complete = None, True
        try:
            for sweep in range(self.max_iter):
                mark, complete = self.snapshot(), False
                start = self.history[-1]
                self._skip_convergence = False
                self.sweep(joint)
                complete = True
                self.n_iter = sweep + 1
                obj = self.history[-1]
                self.loss_curve.append(obj)
                self.lam_path.append(np.array(net.lam_, dtype=float))
                self.stopping = False
                for cb in self.callbacks:
                    self.stopping = bool(cb.on_sweep_end(self, sweep, obj)) or self.stopping
                if self.stopping:
                    break
                if not self._skip_convergence and start - obj <= self.tol * max(1.0, abs(start)):
                    break
        except KeyboardInterrupt:
            if not complete:
                self.restore(mark, history=True)
            self.interrupted = True
            warnings.warn(
                f"training interrupted: the network keeps the iterate of the last complete sweep "
                f"({self.n_iter} of {self.max_iter})",
                stacklevel=2,
            )
        finally:
            for cb in self.callbacks:
                cb.on_fit_end(self)
            self.seconds = time.perf_counter() - t0
        return self

    def _initialise(self, warm_start):
        net, X, Y = self.net, self.state.X, self.state.Y
        if not warm_start or net.weights_ is None:
            lam0 = check_penalty(net.lam, "lam", net.n_layers, *LAM_RANGE)
            if not np.array_equal(lam0, net.lam_):  # undo an earlier fit's continuation
                net.lam_ = lam0
            net.init_weights()
        if not ax.is_numpy(X):  # torch/cupy data: the weights live in its library, on its device
            net.weights_ = [ax.asarray(W, like=X) for W in net.weights_]
            net.biases_ = [ax.asarray(b, like=X) for b in net.biases_]
        states = getattr(net, "states_", None)
        fits = (
            warm_start
            and states is not None
            and len(states) == net.n_layers
            and all(
                tuple(S.shape) == (net.sizes[l + 1], X.shape[1]) and ax.same_place(S, X) for l, S in enumerate(states)
            )
        )
        if not fits:
            states = self.state.forward()
            last_in = states[-2] if net.n_layers > 1 else X
            states[-1], _ = self.backend.output_step(net, self.state.pre(net.n_layers - 1, last_in), Y, states[-1])
        net.states_ = list(states)

    def _not_finite(self, value):
        """The message when the initial objective is not finite: what overflowed, and why."""
        st, net = self.state, self.net
        tops = {"X": st.X, "Y": st.Y, "lam": net.lam_, "rho": net.rho_}
        sizes = ", ".join(
            f"max |{k}| = {float(np.max(np.abs(ax.to_numpy(v)), initial=0.0)):.3g}" for k, v in tops.items()
        )
        return (
            f"the lifted objective at the initial iterate is {value}: the data or the penalties are too large "
            f"for float64 arithmetic ({sizes}); rescale X and Y (or lower lam / rho) so that every term of "
            f"the objective is finite"
        )

    # ------------------------------------------------------------------ the iterate
    def objective(self):
        """The lifted objective at the current iterate (cached terms).

        Returns
        -------
        float
        """
        return self.state.objective()

    def snapshot(self, copy=False):
        """The current weights, biases, states, penalties and history length.

        Parameters
        ----------
        copy : bool, default False
            Copy the arrays; otherwise they are shared (block updates replace arrays, never
            write into them, so a shared snapshot stays valid).

        Returns
        -------
        tuple
            ``(weights, biases, states, lam, history length)``, for :meth:`restore`.
        """
        net = self.net
        grab = ax.copy if copy else (lambda a: a)
        return (
            [grab(w) for w in net.weights_],
            [grab(b) for b in net.biases_],
            [grab(s) for s in net.states_],
            np.array(net.lam_, dtype=float),
            len(self.history),
        )

    def restore(self, snap, history=False):
        """Go back to a :meth:`snapshot`.

        Parameters
        ----------
        snap : tuple
            What :meth:`snapshot` returned.
        history : bool, default False
            Also cut the history back to its length at the snapshot.
        """
        W, b, S, lam, n_hist = snap
        net = self.net
        net.weights_, net.biases_, net.states_ = list(W), list(b), list(S)
        net.lam_ = np.array(lam, dtype=float)
        if history:
            del self.history[n_hist:]
            del self.history_blocks[n_hist:]

    def set_lam(self, lam):
        """New penalties :math:`\\lambda` (continuation): records a ``"lam"`` history entry at the
        new objective and skips this sweep's convergence test.

        Parameters
        ----------
        lam : array-like (L + 1,)
            The new penalties, one per layer.
        """
        self.net.lam_ = np.asarray(lam, dtype=float)
        self.history.append(self.objective())
        self.history_blocks.append("lam")
        self._skip_convergence = True

    # ------------------------------------------------------------------ one sweep
    def _record(self, name, info):
        self.block_info[name] = info
        status = getattr(info, "status", "optimal")
        if status not in ("optimal", None) and hasattr(info, "attempts"):
            log = self.block_info.setdefault("inaccurate", [])
            if not log:
                warnings.warn(
                    f"{info.block}: every solver stopped at {status} ({info.attempts}); using the "
                    "inaccurate solution, guarded by the objective check",
                    stacklevel=4,
                )
            log.append((info.block, info.solver, status))

    def _accept(self, name, apply, undo):
        """Apply a block update; keep it only if the objective does not rise."""
        before = self.history[-1]
        apply()
        after = self.objective()
        if not np.isfinite(after) or after > before + RISE_RTOL * max(1.0, abs(before)):
            undo()
            after = before
            self.block_info.setdefault("rejected", []).append(name)
        self.history.append(after)
        self.history_blocks.append(name)

    def _set(self, attr, index, value):
        """Replace ``net.<attr>[index]`` (a new list: snapshots keep the old one)."""
        items = list(getattr(self.net, attr))
        items[index] = value
        setattr(self.net, attr, items)

    def _extrapolate(self):
        """The inertial move after the W-steps (see ``inertia``); an ``"inertia"`` history entry."""
        net, beta = self.net, self.inertia
        current = (list(net.weights_), list(net.biases_))
        if self._last_w is not None:
            Wp, bp = self._last_w
            net.weights_ = [W + beta * (W - P) for W, P in zip(current[0], Wp)]
            net.biases_ = [b + beta * (b - P) for b, P in zip(current[1], bp)]
            self.history.append(self.objective())
            self.history_blocks.append("inertia")
        self._last_w = current

    def sweep(self, joint):
        """One sweep of block-coordinate descent (see the module docstring).

        Parameters
        ----------
        joint : bool
            Take one joint X-step instead of the cyclic X-steps and output step.
        """
        net, st, be = self.net, self.state, self.backend
        for l in range(net.n_layers):
            W, b, info = be.w_step(net, l, st.layer_input(l), net.states_[l])
            self._record(f"W{l}", info)
            old = (net.weights_[l], net.biases_[l])
            self._accept(
                f"W{l}",
                lambda l=l, W=W, b=b: (self._set("weights_", l, W), self._set("biases_", l, b)),
                lambda l=l, old=old: (self._set("weights_", l, old[0]), self._set("biases_", l, old[1])),
            )
        if self.inertia > 0.0:
            self._extrapolate()
        if joint:
            new, info = be.joint_x_step(net, st.pre(0), st.Y, list(net.states_))
            self._record("X (joint)", info)
            old = list(net.states_)
            self._accept("X (joint)", lambda: setattr(net, "states_", list(new)), lambda: setattr(net, "states_", old))
            return
        for l in range(1, net.n_layers):
            Z, info = be.x_step(net, l, st.pre(l - 1), net.states_[l], net.states_[l - 1])
            self._record(f"X{l}", info)
            old = net.states_[l - 1]
            self._accept(
                f"X{l}",
                lambda l=l, Z=Z: self._set("states_", l - 1, Z),
                lambda l=l, old=old: self._set("states_", l - 1, old),
            )
        L1 = net.n_layers - 1
        Z, info = be.output_step(net, st.pre(L1), st.Y, net.states_[-1])
        self._record("output", info)
        old = net.states_[-1]
        self._accept("output", lambda: self._set("states_", L1, Z), lambda: self._set("states_", L1, old))
