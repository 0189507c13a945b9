r"""The network description and the DSL training loop: :class:`LiftedNetwork`.

The lifted training problem (paper eq. 10, with the output layer lifted as in eq. 14):

.. math::
    \min_{(W_l, b_l), (X_l)}\ \mathcal L(Y, X_{L+1}) + \sum_{l=0}^{L} \rho_l \|W_l\|_F^2
    + \sum_{l=0}^{L} \lambda_{l+1} D_l(W_l X_l + b_l \mathbf 1^T, X_{l+1}),\qquad X_0 = X.

Data are columns: ``X`` is ``n_0 x m``. Block-coordinate descent (section 6) sweeps
W-steps (all layers), X-steps (hidden layers, in order, or all states at once when every
form is jointly convex) and the output step. Each step solves its convex block exactly;
a step whose solution would raise the objective (a solver inaccuracy) is rejected, so
``history_`` never increases.
"""
import time
import warnings

import numpy as np

from . import assembly, cvxsolve
from .divergences import Divergence, get_divergence
from .divergences.identity import Identity
from .divergences.simplex import Simplex
from .exceptions import NotFittedError, SolverError, ValidationError
from .losses import get_loss
from .validation import check_matrix, check_positive

RULES = ("forward", "lifted")


class LiftedNetwork:
    r"""A lifted feed-forward network.

    Parameters
    ----------
    sizes : sequence of int
        ``[n_0, ..., n_{L+1}]``: input size, hidden sizes, output size.
    activations : str, Divergence, or sequence of them
        One divergence per layer (``len(sizes) - 1`` of them: every hidden layer and the
        output layer). A single spec is used for every hidden layer, and the output layer
        gets ``Identity`` (squared loss) or ``Simplex`` (cross-entropy).
    loss : {"squared", "cross_entropy"}
    lam : float or sequence
        Penalty weights :math:`\\lambda_1..\\lambda_{L+1}` (> 0).
    rho : float or sequence
        Weight regularisation :math:`\\rho_0..\\rho_L` (> 0), on :math:`\\|W_l\\|_F^2`.
    form : None, str, or sequence
        ``"fenchel"`` or ``"joint"`` per layer; ``None`` takes the joint form where the atom
        has one (paper section 3) and the Fenchel-Young form otherwise;
        ``"fenchel_hidden"`` takes the Fenchel-Young form for every hidden layer that has one
        and the default for the output layer. For ReLU-type hidden layers this is the more
        accurate model: the joint form :math:`\|z - u\|^2 + I_{z \ge 0}` penalises negative
        pre-activations (so the W-steps push units into their linear regime), the
        Fenchel-Young form does not (see ``docs/benchmarks.md``, accuracy).
    random_state : int or None
        Seed of the weight initialisation.
    """

    def __init__(self, sizes, activations="relu", loss="squared", lam=1.0, rho=1e-3, form=None,
                 random_state=None):
        self.sizes = [int(s) for s in _check_sizes(sizes)]
        self.loss = loss
        self.lam = lam
        self.rho = rho
        self.form = form
        self.activations = activations
        self.random_state = random_state
        _check_random_state(random_state)
        self.loss_ = get_loss(loss)
        L1 = len(self.sizes) - 1
        self.activations_ = _resolve_activations(activations, L1, self.loss_.name)
        self.forms_ = _resolve_forms(form, self.activations_)
        self.lam_ = check_positive(lam, "lam", L1)
        self.rho_ = check_positive(rho, "rho", L1)
        self.u_dims_ = []
        for l, d in enumerate(self.activations_):
            n_u = d.in_dim(self.sizes[l + 1])
            if d.out_dim(n_u) != self.sizes[l + 1]:
                raise ValidationError(f"activations[{l}]={d!r} cannot produce {self.sizes[l + 1]} outputs")
            self.u_dims_.append(n_u)
        if self.loss_.name == "cross_entropy" and not isinstance(self.activations_[-1], Simplex):
            warnings.warn("cross_entropy is meant for a Simplex output layer (paper eq. 11/15)", stacklevel=2)
        self._blocks = {}
        self.weights_ = None

    # ------------------------------------------------------------------ description
    @property
    def n_layers(self):
        """Number of weight layers, L + 1."""
        return len(self.sizes) - 1

    @property
    def jointly_convex(self):
        """True when every layer uses a jointly convex form (one convex X-step / prediction)."""
        return all(f == "joint" for f in self.forms_)

    def __repr__(self):
        acts = ", ".join(repr(a) for a in self.activations_)
        return (f"LiftedNetwork(sizes={self.sizes}, activations=[{acts}], forms={self.forms_}, "
                f"loss={self.loss_.name!r})")

    def __getstate__(self):
        """Pickle without the compiled CVXPY blocks (solver objects do not pickle; they are
        rebuilt on demand) and without the pre-activation cache."""
        state = self.__dict__.copy()
        state["_blocks"] = {}
        state.pop("_ucache", None)
        state.pop("_tcache", None)
        return state

    def _check_fitted(self):
        if self.weights_ is None:
            raise NotFittedError("this LiftedNetwork has no weights yet: call fit() or init_weights() first")

    # ------------------------------------------------------------------ weights and states
    def init_weights(self, random_state=None):
        """Random weights (scaled normal, :math:`1/\\sqrt{n_l}`) and zero biases."""
        seed = self.random_state if random_state is None else random_state
        try:
            rng = np.random.default_rng(seed)
        except (TypeError, ValueError):
            raise ValidationError(f"random_state must be None, an integer or a numpy Generator, got {seed!r}") from None
        self.weights_ = [rng.normal(scale=1.0 / np.sqrt(self.sizes[l]), size=(self.u_dims_[l], self.sizes[l]))
                         for l in range(self.n_layers)]
        self.biases_ = [np.zeros(self.u_dims_[l]) for l in range(self.n_layers)]
        return self

    def set_weights(self, weights, biases):
        """Set ``weights_``/``biases_`` (shapes checked)."""
        if len(weights) != self.n_layers or len(biases) != self.n_layers:
            raise ValidationError(f"weights and biases must have {self.n_layers} entries each")
        W = [check_matrix(w, f"weights[{l}]", shape=(self.u_dims_[l], self.sizes[l])) for l, w in enumerate(weights)]
        b = [check_matrix(np.reshape(v, (-1, 1)), f"biases[{l}]", shape=(self.u_dims_[l], 1))[:, 0]
             for l, v in enumerate(biases)]
        self.weights_, self.biases_ = W, b
        return self

    def preactivation(self, l, Xl):
        """:math:`W_l X_l + b_l \\mathbf 1^T`."""
        return self.weights_[l] @ Xl + self.biases_[l][:, None]

    def _pre(self, l, Xl):
        """``preactivation(l, Xl)``, cached while ``W_l``, ``b_l`` and ``Xl`` are the same
        objects (block updates replace arrays, never write into them): during ``fit`` each
        product :math:`W_lX_l` is formed once per change of its factors."""
        cache = self.__dict__.setdefault("_ucache", {})
        key = (self.weights_[l], self.biases_[l], Xl)
        hit = cache.get(l)
        if hit is not None and all(a is b for a, b in zip(hit[0], key)):
            return hit[1]
        from .fast._common import mm   # counted: the benchmarks report the sweep's GFLOP/s

        U = mm(self.weights_[l], Xl) + self.biases_[l][:, None]
        cache[l] = (key, U)
        return U

    def forward(self, X):
        """All states of the plain forward pass: ``[X_1, ..., X_{L+1}]`` (eq. 2)."""
        self._check_fitted()
        X = check_matrix(X, "X", rows=self.sizes[0])
        states, cur = [], X
        for l, d in enumerate(self.activations_):
            cur = d.forward(self.preactivation(l, cur))
            states.append(cur)
        return states

    # ------------------------------------------------------------------ objective
    def objective(self, X, Y, states=None, parts=False):
        """The lifted objective (10) at the current weights and ``states`` (default ``states_``)."""
        self._check_fitted()
        X, Y = self._check_XY(X, Y)
        if states is not None:
            if len(states) != self.n_layers:
                raise ValidationError(f"states must hold {self.n_layers} arrays (one per layer), got {len(states)}")
            states = [check_matrix(S, f"states[{l}]", shape=(self.sizes[l + 1], X.shape[1]))
                      for l, S in enumerate(states)]
        return self._objective(X, Y, states, parts, cached=False)

    def _objective(self, X, Y, states=None, parts=False, cached=True):
        states = self.states_ if states is None else states
        term = self._term if cached else (lambda name, key, fn: fn())
        terms = {"loss": term("loss", (Y, states[-1]), lambda: self.loss_.value(Y, states[-1]))}
        prev = X
        for l, d in enumerate(self.activations_):
            U = self._pre(l, prev) if cached else self.preactivation(l, prev)
            S, lam, form = states[l], self.lam_[l], self.forms_[l]
            terms[f"D{l}"] = lam * term(f"D{l}", (U, S),
                                        lambda U=U, S=S, d=d, form=form: float(np.sum(d.divergence_value(U, S, form))))
            W = self.weights_[l]
            terms[f"W{l}"] = self.rho_[l] * term(f"W{l}", (W,), lambda W=W: float(np.sum(W * W)))
            prev = states[l]
        total = float(sum(terms.values()))
        return (total, terms) if parts else total

    def _term(self, name, key, fn):
        """A term of the objective, cached while its arrays are the same objects (``fit``
        replaces arrays, never writes into them): each block update re-evaluates only the
        terms it changed."""
        cache = self.__dict__.setdefault("_tcache", {})
        hit = cache.get(name)
        if hit is not None and len(hit[0]) == len(key) and all(a is b for a, b in zip(hit[0], key)):
            return hit[1]
        value = fn()
        cache[name] = (key, value)
        return value

    def _train_score(self, X, Y):
        """``score(X, Y)`` inside ``fit``: the first layer's product comes from the cache."""
        cur = self.activations_[0].forward(self._pre(0, X))
        for l in range(1, self.n_layers):
            cur = self.activations_[l].forward(self.preactivation(l, cur))
        return self._score_output(cur, Y)

    def prediction_objective(self, X, states):
        """Objective of the lifted prediction rule (12): the divergence terms only."""
        prev, total = X, 0.0
        for l, d in enumerate(self.activations_):
            total += self.lam_[l] * float(np.sum(d.divergence_value(self.preactivation(l, prev), states[l], self.forms_[l])))
            prev = states[l]
        return total

    # ------------------------------------------------------------------ blocks
    def block(self, kind, l=None, m=1):
        """The compiled CVXPY block ``kind`` (``"w_step"``, ``"x_step"``, ``"output_step"``,
        ``"joint_x_step"``, ``"prediction"``) for layer ``l`` and ``m`` columns (cached)."""
        if isinstance(m, bool) or not isinstance(m, (int, np.integer)) or m < 1:
            raise ValidationError(f"m must be a positive integer (number of columns), got {m!r}")
        layered = {"w_step": range(self.n_layers), "x_step": range(1, self.n_layers)}
        if kind in layered and l not in layered[kind]:
            raise ValidationError(f"l must be a layer index in {list(layered[kind])} for kind={kind!r}, got {l!r}")
        if kind not in assembly.KINDS:
            raise ValidationError(f"kind must be one of {sorted(assembly.KINDS)}, got {kind!r}")
        key = (kind, l, m)
        if key not in self._blocks:
            self._blocks[key] = assembly.for_network(self, kind, l, m)
        else:
            assembly.set_network_penalties(self._blocks[key], self, l)
        return self._blocks[key]

    def problems(self, m=4):
        """Every assembled block for ``m`` columns, by name (for printing and inspection)."""
        if self.weights_ is None:
            self.init_weights()
        out = {f"W-step {l}": self.block("w_step", l, m) for l in range(self.n_layers)}
        out.update({f"X-step {l}": self.block("x_step", l, m) for l in range(1, self.n_layers)})
        out["output step"] = self.block("output_step", None, m)
        if self.jointly_convex:
            out["joint X-step"] = self.block("joint_x_step", None, m)
            out["prediction"] = self.block("prediction", None, m)
        return out

    def _chunk(self, kind, l, m):
        """Chunk size of a column-separable block (bounded DPP tensor size)."""
        if kind == "x_step":
            cost = self.u_dims_[l] * self.sizes[l] + self.u_dims_[l - 1] + self.sizes[l + 1]
        elif kind in ("joint_x_step", "prediction"):
            cost = sum(self.u_dims_[j] * self.sizes[j] for j in range(1, self.n_layers)) + self.u_dims_[0]
        else:
            cost = self.u_dims_[-1] + 2 * self.sizes[-1]
        return assembly.chunk_size(m, cost, self.chunk_budget)

    chunk_budget = assembly.DPP_BUDGET

    def _by_chunks(self, kind, l, m, setter, solver):
        """Solve a column-separable block chunk by chunk; ``setter(block, cols)`` sets data."""
        c = self._chunk(kind, l, m)
        blk = self.block(kind, l, c)
        outs = []
        for start in range(0, m, c):
            cols = np.arange(start, min(start + c, m))
            padded = np.concatenate([cols, np.full(c - cols.size, cols[-1])]) if cols.size < c else cols
            setter(blk, padded)
            self._solve_block(blk, solver)
            res = blk.result()
            outs.append([r[:, : cols.size] for r in res] if isinstance(res, list) else res[:, : cols.size])
        if isinstance(outs[0], list):
            return [np.concatenate([o[j] for o in outs], axis=1) for j in range(len(outs[0]))]
        return np.concatenate(outs, axis=1)

    def _clean(self, l, Z):
        """Project a solver's state onto the atom's domain where a projection exists."""
        d, f = self.activations_[l], self.forms_[l]
        return d.project_domain(Z) if d.z_quadratic(f) is not None else Z

    # the DSL (CVXPY) block solvers -----------------------------------------------------
    def _cvx_w_step(self, l, A, Z, solver):
        blk = self.block("w_step", l, A.shape[1])
        blk.set(A, Z)
        self._solve_block(blk, solver)
        return blk.result()

    def _solve_block(self, blk, solver):
        """Solve a DSL block. When every solver stops at ``optimal_inaccurate`` (seen on the
        cross-entropy output step as the states approach the simplex's vertices), the
        inaccurate solution is used: ``fit`` accepts a block update only if the exact
        objective does not rise, so it cannot do harm. It is recorded in
        ``block_info_["inaccurate"]`` and warned about once per fit."""
        info = blk.solve(solver=solver, allow_inaccurate=True)
        if info.status != "optimal":
            log = getattr(self, "block_info_", {}).setdefault("inaccurate", [])
            if not log:
                warnings.warn(f"{blk.name}: every solver stopped at {info.status} ({info.attempts}); using "
                              "the inaccurate solution, guarded by the objective check", stacklevel=3)
            log.append((blk.name, info.solver, info.status))
        return info

    def _cvx_x_step(self, l, U0, Zn, solver):
        W, b = self.weights_[l], self.biases_[l]

        def setter(blk, cols):
            blk.set(U0[:, cols], W, b, Zn[:, cols])

        return self._clean(l - 1, self._by_chunks("x_step", l, U0.shape[1], setter, solver))

    def _cvx_output_step(self, U0, Y, solver):
        def setter(blk, cols):
            blk.set(U0[:, cols], Y[:, cols])

        return self._clean(self.n_layers - 1, self._by_chunks("output_step", None, U0.shape[1], setter, solver))

    def _cvx_joint_x_step(self, U0, Y, solver):
        def setter(blk, cols):
            blk.set(U0[:, cols], self.weights_, self.biases_, Y[:, cols])

        states = self._by_chunks("joint_x_step", None, U0.shape[1], setter, solver)
        return [self._clean(l, s) for l, s in enumerate(states)]

    # ------------------------------------------------------------------ training
    def _check_XY(self, X, Y, names=("X", "Y")):
        X = check_matrix(X, names[0], rows=self.sizes[0])
        Y = check_matrix(Y, names[1], rows=self.sizes[-1])
        if X.shape[1] != Y.shape[1]:
            raise ValidationError(
                f"{names[0]} and {names[1]} must have the same number of columns (data points); "
                f"got {X.shape[1]} and {Y.shape[1]}"
            )
        return X, self.loss_.check_targets(Y)

    def fit(self, X, Y, solver="cvxpy", max_iter=20, tol=1e-6, xstep="auto", callback=None,
            warm_start=False, cvxpy_solver=None, verbose=False, lam_growth=1.0, lam_max=1e6,
            validation_data=None, early_stopping=False, n_iter_no_change=3, fast_options=None):
        r"""Train by block-coordinate descent.

        Parameters
        ----------
        X : array (n_0, m)
            Inputs, one column per data point.
        Y : array (n_{L+1}, m)
            Targets (one-hot columns for cross-entropy).
        solver : {"cvxpy", "fast"}
            ``"cvxpy"`` solves every block with its assembled CVXPY problem; ``"fast"`` uses
            the hand-coded solvers of :mod:`cvxlift.fast` and falls back to CVXPY for a
            block that has none.
        max_iter : int
            Maximum number of sweeps.
        tol : float
            Stop when a sweep lowers the objective by less than ``tol`` (relative).
        xstep : {"auto", "cyclic", "joint"}
            ``"joint"`` updates every state in one convex problem (jointly convex forms only);
            ``"auto"`` does so when possible.
        callback : callable, optional
            ``callback(net, sweep, objective)`` after each sweep; returning True stops.
        warm_start : bool
            Keep the current weights and states instead of re-initialising.
        cvxpy_solver : str, optional
            Pin the CVXPY solver of the DSL blocks.
        lam_growth : float >= 1
            Penalty continuation: after each sweep every :math:`\lambda_l` is multiplied by
            ``lam_growth`` (capped at ``lam_max``), driving the states onto the activations'
            graphs. The objective is re-evaluated at the new penalties (a ``"lam"`` entry of
            ``history_``); it is non-increasing between those entries. ``1`` (default): fixed
            penalties. The DSL blocks are recompiled when the penalties change.
        lam_max : float
            Cap of the continuation.
        validation_data : (X_val, Y_val), optional
            Columns to score after every sweep (``validation_scores_``); training scores are
            always recorded (``train_scores_``). The score is :meth:`score`.
        early_stopping : bool
            Stop when the validation score has not improved for ``n_iter_no_change`` sweeps,
            and restore the weights and states of the best sweep (needs ``validation_data``).
        n_iter_no_change : int
        fast_options : dict, optional
            Keyword arguments for the fast block solvers, by block kind, e.g.
            ``{"w_step": {"tol": 1e-6, "max_iter": 50}}``: an iterative block may then stop
            before its certificate reaches the default tolerance (inexact block-coordinate
            descent). Every update is still accepted only if it does not raise the objective.
        """
        X, Y = self._check_XY(X, Y)
        if solver not in ("cvxpy", "fast"):
            raise ValidationError(f"solver must be 'cvxpy' or 'fast', got {solver!r}")
        if xstep not in ("auto", "cyclic", "joint"):
            raise ValidationError(f"xstep must be 'auto', 'cyclic' or 'joint', got {xstep!r}")
        if xstep == "joint" and not self.jointly_convex:
            raise ValidationError("xstep='joint' needs every layer in the jointly convex form (form='joint')")
        _check_iter_tol(max_iter, tol)
        if callback is not None and not callable(callback):
            raise ValidationError(f"callback must be callable as callback(net, sweep, objective), got {callback!r}")
        _check_cvxpy_solver(cvxpy_solver)
        lam_growth = _to_float(lam_growth, "lam_growth")
        if not (np.isfinite(lam_growth) and lam_growth >= 1.0):
            raise ValidationError(f"lam_growth must be a finite number >= 1, got {lam_growth!r}")
        lam_max = _to_float(lam_max, "lam_max")
        if not (np.isfinite(lam_max) and lam_max > 0):
            raise ValidationError(f"lam_max must be a positive finite number, got {lam_max!r}")
        if validation_data is not None:
            try:
                Xv, Yv = validation_data
            except (TypeError, ValueError):
                raise ValidationError("validation_data must be a pair (X_val, Y_val) of column arrays") from None
            Xv, Yv = self._check_XY(Xv, Yv, names=("validation_data[0]", "validation_data[1]"))
        if early_stopping and validation_data is None:
            raise ValidationError("early_stopping=True needs validation_data=(X_val, Y_val)")
        if not (isinstance(n_iter_no_change, (int, np.integer)) and n_iter_no_change >= 1):
            raise ValidationError(f"n_iter_no_change must be a positive integer, got {n_iter_no_change!r}")
        use_joint = xstep == "joint" or (xstep == "auto" and self.jointly_convex and solver == "cvxpy")
        if fast_options is not None:
            bad = sorted(set(fast_options) - {"w_step", "x_step"}) if isinstance(fast_options, dict) else None
            if bad is None or bad:
                raise ValidationError(f"fast_options must be a dict with keys 'w_step'/'x_step', got {fast_options!r}")
        self._fast_options = fast_options
        self._solver, self._cvxpy_solver = solver, cvxpy_solver
        self.block_info_ = {}
        if not (warm_start and self.weights_ is not None and getattr(self, "states_", None) is not None
                and self.states_[0].shape[1] == X.shape[1]):
            lam0 = check_positive(self.lam, "lam", self.n_layers)
            if not np.array_equal(lam0, self.lam_):   # undo an earlier fit's continuation
                self._set_lam(lam0)
            self._initialise(X, Y)
        self._ucache, self._tcache = {}, {}
        self.history_, self.history_blocks_ = [self._objective(X, Y)], ["init"]
        self.loss_curve_, self.train_scores_, self.validation_scores_, self.lam_path_ = [], [], [], []
        self.best_iter_ = None
        best, best_score, since_best = None, -np.inf, 0
        self.n_iter_ = 0
        self.interrupted_ = False
        t0 = time.perf_counter()
        try:
            for sweep in range(max_iter):
                start = self.history_[-1]
                self._sweep(X, Y, use_joint)
                self.n_iter_ = sweep + 1
                obj = self.history_[-1]
                self.loss_curve_.append(obj)
                self.lam_path_.append(self.lam_.copy())
                self.train_scores_.append(self._train_score(X, Y))
                if validation_data is not None:
                    score = self.score(Xv, Yv)
                    self.validation_scores_.append(score)
                    if score > best_score:
                        best_score, since_best, self.best_iter_ = score, 0, sweep + 1
                        best = self._snapshot()
                    else:
                        since_best += 1
                if verbose:
                    val = f", validation score {self.validation_scores_[-1]:.4f}" if validation_data is not None else ""
                    print(f"sweep {sweep + 1}: objective {obj:.6g}, train score {self.train_scores_[-1]:.4f}{val} "
                          f"({time.perf_counter() - t0:.1f} s)")
                if callback is not None and callback(self, sweep, obj):
                    break
                if early_stopping and since_best >= n_iter_no_change:
                    break
                if lam_growth > 1.0 and np.any(self.lam_ < lam_max):
                    self._set_lam(np.minimum(self.lam_ * lam_growth, np.maximum(lam_max, self.lam_)))
                    self.history_.append(self._objective(X, Y))
                    self.history_blocks_.append("lam")
                    continue
                if start - obj <= tol * max(1.0, abs(start)):
                    break
        except KeyboardInterrupt:
            self.interrupted_ = True
            warnings.warn("training interrupted: the network keeps the last complete iterate", stacklevel=2)
        if early_stopping and best is not None:
            self._restore(best)
        self.fit_seconds_ = time.perf_counter() - t0
        return self

    def _set_lam(self, lam):
        """New penalties (the compiled DSL blocks take them as Parameters: no recompilation)."""
        self.lam_ = np.asarray(lam, dtype=float)

    def _snapshot(self):
        return ([w.copy() for w in self.weights_], [b.copy() for b in self.biases_],
                [s.copy() for s in self.states_], self.lam_.copy())

    def _restore(self, snap):
        W, b, S, lam = snap
        self.weights_, self.biases_, self.states_ = W, b, S
        if not np.array_equal(lam, self.lam_):
            self._set_lam(lam)

    def score(self, X, Y, rule="forward"):
        r"""Accuracy of the predicted classes (``cross_entropy``: argmax of the output column
        against argmax of ``Y``) or, for the squared loss, the coefficient of determination
        :math:`R^2 = 1 - \|Y - \hat Y\|_F^2 / \|Y - \bar Y\|_F^2` (as scikit-learn's)."""
        X, Y = self._check_XY(X, Y)
        return self._score_output(self.predict(X, rule=rule), Y)

    def _score_output(self, P, Y):
        if self.loss_.name == "cross_entropy":
            return float(np.mean(P.argmax(axis=0) == Y.argmax(axis=0)))
        den = float(np.sum((Y - Y.mean(axis=1, keepdims=True)) ** 2))
        num = float(np.sum((Y - P) ** 2))
        return 1.0 - num / den if den > 0 else (1.0 if num == 0 else 0.0)

    def _initialise(self, X, Y):
        if self.weights_ is None or not getattr(self, "_keep_weights", False):
            self.init_weights()
        states = self.forward(X)
        states[-1] = self._step_output(self.preactivation(self.n_layers - 1, states[-2] if self.n_layers > 1 else X), Y)
        self.states_ = states

    def _accept(self, X, Y, name, apply, undo):
        """Apply a block update; keep it only if the objective does not rise."""
        before = self.history_[-1]
        apply()
        after = self._objective(X, Y)
        if not np.isfinite(after) or after > before + 1e-12 * max(1.0, abs(before)):
            undo()
            after = before
            self.block_info_.setdefault("rejected", []).append(name)
        self.history_.append(after)
        self.history_blocks_.append(name)

    def _sweep(self, X, Y, use_joint):
        inputs = [X] + self.states_[:-1]
        # W-steps (independent across layers)
        for l in range(self.n_layers):
            W, b = self._step_w(l, inputs[l], self.states_[l])
            old = (self.weights_[l], self.biases_[l])

            def apply(l=l, W=W, b=b):
                self.weights_[l], self.biases_[l] = W, b

            def undo(l=l, old=old):
                self.weights_[l], self.biases_[l] = old

            self._accept(X, Y, f"W{l}", apply, undo)
        # X-steps
        if use_joint:
            new = self._cvx_joint_x_step(self._pre(0, X), Y, self._cvxpy_solver)
            old_states = list(self.states_)

            def apply_all(new=new):
                self.states_ = list(new)

            def undo_all(old_states=old_states):
                self.states_ = old_states

            self._accept(X, Y, "X (joint)", apply_all, undo_all)
            return
        for l in range(1, self.n_layers):
            prev = X if l == 1 else self.states_[l - 2]
            Z = self._step_x(l, self._pre(l - 1, prev), self.states_[l])
            old = self.states_[l - 1]

            def apply(l=l, Z=Z):
                self.states_[l - 1] = Z

            def undo(l=l, old=old):
                self.states_[l - 1] = old

            self._accept(X, Y, f"X{l}", apply, undo)
        prev = X if self.n_layers == 1 else self.states_[-2]
        Z = self._step_output(self._pre(self.n_layers - 1, prev), Y)
        old = self.states_[-1]

        def apply_out(Z=Z):
            self.states_[-1] = Z

        def undo_out(old=old):
            self.states_[-1] = old

        self._accept(X, Y, "output", apply_out, undo_out)

    # block dispatch: fast kernels with a CVXPY fallback ------------------------------------
    def _fast(self):
        if getattr(self, "_solver", "cvxpy") != "fast":
            return None
        from . import fast

        return fast

    def _block_options(self, kind):
        return dict((getattr(self, "_fast_options", None) or {}).get(kind, {}))

    def _step_w(self, l, A, Z):
        fast = self._fast()
        if fast is not None:
            try:
                W, b, info = fast.w_step(A, Z, self.activations_[l], self.forms_[l], self.lam_[l], self.rho_[l],
                                         W0=self.weights_[l], b0=self.biases_[l], evaluate=False,
                                         **self._block_options("w_step"))
                self.block_info_[f"W{l}"] = info
                return W, b
            except fast.NoFastSolver:
                pass
        return self._cvx_w_step(l, A, Z, getattr(self, "_cvxpy_solver", None))

    def _step_x(self, l, U0, Zn):
        fast = self._fast()
        if fast is not None:
            try:
                Z, info = fast.x_step(U0, self.weights_[l], self.biases_[l], Zn,
                                      self.activations_[l - 1], self.forms_[l - 1],
                                      self.activations_[l], self.forms_[l],
                                      self.lam_[l - 1], self.lam_[l], Z0=self.states_[l - 1], evaluate=False,
                                      **self._block_options("x_step"))
                self.block_info_[f"X{l}"] = info
                return Z
            except fast.NoFastSolver:
                pass
        return self._cvx_x_step(l, U0, Zn, getattr(self, "_cvxpy_solver", None))

    def _step_output(self, U0, Y):
        fast = self._fast()
        L1 = self.n_layers - 1
        if fast is not None:
            try:
                Z, info = fast.output_step(U0, Y, self.activations_[L1], self.forms_[L1], self.lam_[L1],
                                           self.loss_.name)
                self.block_info_["output"] = info
                return Z
            except fast.NoFastSolver:
                pass
        return self._cvx_output_step(U0, Y, getattr(self, "_cvxpy_solver", None))

    # ------------------------------------------------------------------ prediction
    def predict(self, X, rule="forward", solver="cvxpy", max_iter=100, tol=1e-9, return_states=False):
        """Network output for the columns of ``X``.

        ``rule="forward"``: the plain network (eq. 2). ``rule="lifted"``: the lifted
        prediction rule (12) with the loss minimised out (:math:`y = x_{L+1}`): one convex
        problem when every form is jointly convex; otherwise block-coordinate descent over
        the layers from the forward pass, stopped when a sweep lowers the objective by less
        than ``tol`` (relative) or after ``max_iter`` sweeps.
        """
        self._check_fitted()
        X = check_matrix(X, "X", rows=self.sizes[0])
        if rule not in RULES:
            raise ValidationError(f"rule must be one of {RULES}, got {rule!r}")
        if solver not in ("cvxpy", "fast"):
            raise ValidationError(f"solver must be 'cvxpy' or 'fast', got {solver!r}")
        _check_iter_tol(max_iter, tol)
        if rule == "forward":
            states = self.forward(X)
        elif solver == "fast":
            from . import fast

            states, _ = fast.lifted_predict(X, self.weights_, self.biases_, self.activations_, self.forms_,
                                            self.lam_, tol=tol, max_iter=max_iter, evaluate=False)
        elif self.jointly_convex:
            U0 = self.preactivation(0, X)

            def setter(blk, cols):
                blk.set(U0[:, cols], self.weights_, self.biases_)

            states = self._by_chunks("prediction", None, X.shape[1], setter, None)
        else:
            states = self._predict_bcd(X, max_iter, tol)
        return (states[-1], states) if return_states else states[-1]

    def _predict_bcd(self, X, max_iter, tol):
        states = self.forward(X)
        obj = self.prediction_objective(X, states)
        self.predict_history_ = [obj]
        for _ in range(max_iter):
            if obj <= 0.0:
                break
            for l in range(1, self.n_layers):
                prev = X if l == 1 else states[l - 2]
                new = self._cvx_x_step(l, self.preactivation(l - 1, prev), states[l], None)
                trial = states[: l - 1] + [new] + states[l:]
                if self.prediction_objective(X, trial) <= obj:
                    states = trial
                    obj = self.prediction_objective(X, states)
            last = self.activations_[-1].forward(self.preactivation(self.n_layers - 1, states[-2] if self.n_layers > 1 else X))
            trial = states[:-1] + [last]
            new_obj = self.prediction_objective(X, trial)
            if new_obj <= obj:
                states = trial
            previous, obj = obj, min(obj, new_obj)
            self.predict_history_.append(obj)
            if previous - obj <= tol * max(1.0, abs(previous)):
                break
        return states


def _to_float(x, name):
    """``float(x)``; a non-number raises :class:`ValidationError` naming ``name``."""
    try:
        return float(x)
    except (TypeError, ValueError):
        raise ValidationError(f"{name} must be a number, got {x!r}") from None


def _check_iter_tol(max_iter, tol):
    if isinstance(max_iter, bool) or not (isinstance(max_iter, (int, np.integer)) and max_iter >= 0):
        raise ValidationError(f"max_iter must be a non-negative integer, got {max_iter!r}")
    if isinstance(tol, bool) or not isinstance(tol, (int, float, np.integer, np.floating)) \
            or not np.isfinite(tol) or tol < 0:
        raise ValidationError(f"tol must be a finite number >= 0, got {tol!r}")


def _check_cvxpy_solver(name):
    """``cvxpy_solver``: None or the name of an installed CVXPY solver (checked before training)."""
    if name is None:
        return
    if not isinstance(name, str):
        raise ValidationError(f"cvxpy_solver must be None or a solver name such as 'CLARABEL', got {name!r}")
    have = sorted(cvxsolve.installed_solvers())
    if name.upper() not in have:
        raise SolverError(f"cvxpy_solver={name!r} is not installed; installed CVXPY solvers: {have}")


def _check_random_state(seed):
    if seed is None or isinstance(seed, (np.random.Generator, np.random.SeedSequence)):
        return
    if isinstance(seed, bool) or not isinstance(seed, (int, np.integer)) or seed < 0:
        raise ValidationError(f"random_state must be None or a non-negative integer, got {seed!r}")


def _check_sizes(sizes):
    try:
        sizes = list(sizes)
    except TypeError:
        raise ValidationError(f"sizes must be a sequence of positive integers, got {sizes!r}") from None
    if len(sizes) < 2:
        raise ValidationError(f"sizes must list at least the input and output sizes, got {sizes!r}")
    for i, s in enumerate(sizes):
        if isinstance(s, bool) or not isinstance(s, (int, np.integer)) or s < 1:
            raise ValidationError(f"sizes[{i}] must be a positive integer, got {s!r}")
    return sizes


def _resolve_activations(spec, n_layers, loss_name):
    if isinstance(spec, (str, Divergence)) or (isinstance(spec, type) and issubclass(spec, Divergence)):
        hidden = get_divergence(spec)
        out = Simplex() if loss_name == "cross_entropy" else Identity()
        return [hidden] * (n_layers - 1) + [out]
    try:
        specs = list(spec)
    except TypeError:
        raise ValidationError(f"activations must be a name, a Divergence or a list of them, got {spec!r}") from None
    if len(specs) != n_layers:
        raise ValidationError(
            f"activations must have one entry per layer (len(sizes) - 1 = {n_layers}), got {len(specs)}"
        )
    return [get_divergence(s) for s in specs]


#: ``form`` policies: a name for a per-layer rule instead of a list of forms.
FORM_POLICIES = ("fenchel_hidden",)


def _resolve_forms(form, activations):
    if form is None:
        return ["joint" if "joint" in d.forms else d.forms[0] for d in activations]
    if form == "fenchel_hidden":
        hidden = ["fenchel" if "fenchel" in d.forms else d.forms[0] for d in activations[:-1]]
        last = activations[-1]
        return hidden + ["joint" if "joint" in last.forms else last.forms[0]]
    try:
        forms = [form] * len(activations) if isinstance(form, str) else list(form)
    except TypeError:
        raise ValidationError(f"form must be None, 'fenchel', 'joint' or one of them per layer, got {form!r}") from None
    if len(forms) != len(activations):
        raise ValidationError(f"form must be a string or one entry per layer ({len(activations)}), got {form!r}")
    return [d.check_form(f) for d, f in zip(activations, forms)]
