r"""The description of a lifted network and its doors: :class:`LiftedNetwork`.

The lifted training problem (paper eq. 10, with the output layer lifted as in eq. 14):

.. math::
    \min_{(W_l, b_l), (X_l)}\ \mathcal L(Y, X_{L+1}) + \sum_{l=0}^{L} \rho_l \|W_l\|_F^2
    + \sum_{l=0}^{L} \lambda_{l+1} D_l(W_l X_l + b_l \mathbf 1^T, X_{l+1}),\qquad X_0 = X.

Data are columns: ``X`` is ``n_0 x m``. This module holds what the network *is* (sizes,
atoms, forms, loss, penalties, weights and states) and what it computes in numpy (the forward
pass, the objective (10), the prediction objective (12), scores). Training runs in
:mod:`cvxlift.training` (one block-coordinate-descent engine over a CVXPY or a fast backend);
the CVXPY blocks are assembled by :mod:`cvxlift.assembly`.
"""

import copy
import warnings

import numpy as np

from . import arrays as ax
from .divergences import Divergence, get_divergence
from .divergences.identity import Identity
from .divergences.simplex import Simplex
from .exceptions import NotFittedError, ValidationError
from .losses import get_loss
from .scoring import score_output
from .validation import (
    LAM_RANGE,
    RHO_MAX,
    check_int,
    check_matrix,
    check_memory,
    check_number,
    check_penalty,
    check_scale,
)

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
        Penalty weights :math:`\\lambda_1..\\lambda_{L+1}`, in ``[1e-6, 1e6]``
        (:data:`cvxlift.validation.LAM_RANGE`; see ``docs/bad-input.md``, scale).
    rho : float or sequence
        Weight regularisation :math:`\\rho_0..\\rho_L` (0 or positive, at most 1e100), on
        :math:`\\|W_l\\|_F^2`.
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

    def __init__(self, sizes, activations="relu", loss="squared", lam=1.0, rho=1e-3, form=None, random_state=None):
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
        self.lam_ = check_penalty(lam, "lam", L1, *LAM_RANGE)
        self.rho_ = check_penalty(rho, "rho", L1, high=RHO_MAX, allow_zero=True)
        self.u_dims_ = []
        for l, d in enumerate(self.activations_):
            n_u = d.in_dim(self.sizes[l + 1])
            if d.out_dim(n_u) != self.sizes[l + 1]:
                raise ValidationError(f"activations[{l}]={d!r} cannot produce {self.sizes[l + 1]} outputs")
            self.u_dims_.append(n_u)
        n_params = sum(self.u_dims_[l] * (self.sizes[l] + 1) for l in range(L1))
        check_memory(8.0 * n_params, f"the weights of this network ({n_params:.3g} numbers)", "sizes")
        if self.loss_.name == "cross_entropy" and not isinstance(self.activations_[-1], Simplex):
            warnings.warn("cross_entropy is meant for a Simplex output layer (paper eq. 11/15)", stacklevel=2)
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
        return f"LiftedNetwork(sizes={self.sizes}, activations=[{acts}], forms={self.forms_}, loss={self.loss_.name!r})"

    def _check_fitted(self):
        if self.weights_ is None:
            raise NotFittedError("this LiftedNetwork has no weights yet: call fit() or init_weights() first")

    # ------------------------------------------------------------------ weights and states
    def init_weights(self, random_state=None):
        """Random weights (scaled normal, :math:`1/\\sqrt{n_l}`) and zero biases.

        Parameters
        ----------
        random_state : None, int or numpy.random.Generator, optional
            Seed of the draw; default: the network's ``random_state``.

        Returns
        -------
        LiftedNetwork
            ``self``, with ``weights_`` and ``biases_`` set.
        """
        seed = self.random_state if random_state is None else random_state
        try:
            rng = np.random.default_rng(seed)
        except (TypeError, ValueError):
            raise ValidationError(f"random_state must be None, an integer or a numpy Generator, got {seed!r}") from None
        self.weights_ = [
            rng.normal(scale=1.0 / np.sqrt(self.sizes[l]), size=(self.u_dims_[l], self.sizes[l]))
            for l in range(self.n_layers)
        ]
        self.biases_ = [np.zeros(self.u_dims_[l]) for l in range(self.n_layers)]
        return self

    def set_weights(self, weights, biases):
        """Set ``weights_``/``biases_`` (shapes checked).

        Parameters
        ----------
        weights : sequence of arrays
            ``weights[l]`` of shape ``(u_dims_[l], sizes[l])``.
        biases : sequence of arrays
            ``biases[l]`` of length ``u_dims_[l]``.

        Returns
        -------
        self
        """
        for name, value in (("weights", weights), ("biases", biases)):
            if isinstance(value, (str, bytes, np.ndarray)) or not hasattr(value, "__len__"):
                raise ValidationError(
                    f"{name} must be a list of {self.n_layers} arrays (one per layer), got {type(value).__name__}"
                )
        if len(weights) != self.n_layers or len(biases) != self.n_layers:
            raise ValidationError(f"weights and biases must have {self.n_layers} entries each")
        W = [check_matrix(w, f"weights[{l}]", shape=(self.u_dims_[l], self.sizes[l])) for l, w in enumerate(weights)]
        b = [
            check_matrix(np.reshape(v, (-1, 1)), f"biases[{l}]", shape=(self.u_dims_[l], 1))[:, 0]
            for l, v in enumerate(biases)
        ]
        self.weights_, self.biases_ = W, b
        return self

    def move_to(self, like):
        """Put the weights, biases and states in the library and on the device of array ``like``.

        Parameters
        ----------
        like : array or None
            ``None``: numpy (copied to the host from a GPU).

        Returns
        -------
        self
        """
        conv = (lambda a: ax.to_numpy(a)) if like is None else (lambda a: ax.asarray(a, like=like))
        if self.weights_ is not None:
            self.weights_ = [conv(W) for W in self.weights_]
            self.biases_ = [conv(b) for b in self.biases_]
        if getattr(self, "states_", None) is not None:
            self.states_ = [conv(S) for S in self.states_]
        return self

    def _on_host(self):
        """This network, or a shallow copy with numpy weights and states when they live in another
        library (torch, cupy): for the numpy-only evaluations and the CVXPY blocks."""
        if self.weights_ is None or all(ax.is_numpy(W) for W in self.weights_):
            return self
        host = copy.copy(self)
        return host.move_to(None)

    def _input(self, X, name="X"):
        """``X`` checked, in the library and on the device of the weights; and a function that
        takes a result back to ``X``'s library and device."""
        if ax.is_foreign(X):
            X = ax.check_matrix(X, name, rows=self.sizes[0])
        else:
            X = check_matrix(X, name, rows=self.sizes[0])
        W0 = self.weights_[0]
        if ax.same_place(X, W0):
            return X, (lambda a: a)
        like = X
        X = ax.to_numpy(X) if ax.is_numpy(W0) else ax.asarray(X, like=W0)
        if ax.is_numpy(like):
            return X, ax.to_numpy
        return X, (lambda a: ax.asarray(a, like=like))

    def preactivation(self, l, Xl):
        """The pre-activation :math:`W_l X_l + b_l \\mathbf 1^T` of layer ``l``.

        Parameters
        ----------
        l : int
            Layer index, 0-based.
        Xl : ndarray (n_l, m)
            The layer's input states, one column per sample.

        Returns
        -------
        ndarray (n_{l+1}, m)
        """
        return self.weights_[l] @ Xl + self.biases_[l][:, None]

    def forward(self, X):
        """All states of the plain forward pass (eq. 2): :math:`X_{l+1} = \\phi_l(W_l X_l + b_l)`.

        Parameters
        ----------
        X : array-like (n_0, m)
            Inputs, one column per sample.

        Returns
        -------
        list of ndarray
            ``[X_1, ..., X_{L+1}]``; the last is the network's output.
        """
        self._check_fitted()
        distributed = _dask_doors(X)
        if distributed is not None:
            return distributed.forward(self, X)
        X, back = self._input(X)
        states, cur = [], X
        for l, d in enumerate(self.activations_):
            cur = ax.native(d, cur).forward(self.preactivation(l, cur))
            states.append(cur)
        return [back(S) for S in states]

    # ------------------------------------------------------------------ objective
    def objective(self, X, Y, states=None, parts=False):
        r"""The lifted objective (10) at the current weights and ``states`` (default ``states_``).

        Parameters
        ----------
        X : array of shape (n_0, m)
        Y : array of shape (n_{L+1}, m)
        states : list of arrays, optional
            :math:`X_1, \dots, X_{L+1}`; default: the fitted ``states_``.
        parts : bool
            Also return the terms (``"loss"``, ``"D<l>"``, ``"W<l>"``) as a dict.

        Returns
        -------
        float, or (float, dict) with ``parts``
        """
        self._check_fitted()
        if ax.is_foreign(X) or ax.is_foreign(Y) or self._on_host() is not self:  # evaluated on the host
            if states is None:
                states = getattr(self, "states_", None)
            states = None if states is None else [ax.to_numpy(S) for S in states]
            return self._on_host().objective(ax.to_numpy(X), ax.to_numpy(Y), states, parts)
        X, Y = self._check_XY(X, Y)
        if states is None:
            states = getattr(self, "states_", None)
            if states is None or states[0].shape[1] != X.shape[1]:
                raise ValidationError("states must be given: the network holds no states for these data")
        if len(states) != self.n_layers:
            raise ValidationError(f"states must hold {self.n_layers} arrays (one per layer), got {len(states)}")
        distributed = _dask_doors(X)
        if distributed is not None:
            return distributed.objective(self, X, Y, states, parts)
        states = [check_matrix(S, f"states[{l}]", shape=(self.sizes[l + 1], X.shape[1])) for l, S in enumerate(states)]
        terms = {"loss": self.loss_.value(Y, states[-1])}
        prev = X
        for l, d in enumerate(self.activations_):
            U = self.preactivation(l, prev)
            terms[f"D{l}"] = self.lam_[l] * float(np.sum(d.divergence_value(U, states[l], self.forms_[l])))
            terms[f"W{l}"] = self.rho_[l] * float(np.sum(self.weights_[l] ** 2))
            prev = states[l]
        total = float(sum(terms.values()))
        return (total, terms) if parts else total

    def prediction_objective(self, X, states):
        r"""Objective of the lifted prediction rule (12): :math:`\sum_l \lambda_{l+1} D_l(W_lX_l + b_l, X_{l+1})`.

        Parameters
        ----------
        X : ndarray (n_0, m)
            Inputs, one column per sample.
        states : list of ndarray
            ``[X_1, ..., X_{L+1}]``, candidate states.

        Returns
        -------
        float
        """
        host = self._on_host()
        if host is not self or ax.is_foreign(X):
            return host.prediction_objective(ax.to_numpy(X), [ax.to_numpy(S) for S in states])
        prev, total = X, 0.0
        for l, d in enumerate(self.activations_):
            total += self.lam_[l] * float(
                np.sum(d.divergence_value(self.preactivation(l, prev), states[l], self.forms_[l]))
            )
            prev = states[l]
        return total

    # ------------------------------------------------------------------ blocks
    def block(self, kind, l=None, m=1):
        """The compiled CVXPY block ``kind`` (``"w_step"``, ``"x_step"``, ``"output_step"``,
        ``"joint_x_step"``, ``"prediction"``) of layer ``l`` for ``m`` columns, built once and
        cached (see :func:`cvxlift.training.cvxpy_backend.block`); its penalties are the
        network's current ``lam_``/``rho_``.

        Parameters
        ----------
        kind : str
            ``"w_step"``, ``"x_step"``, ``"output_step"``, ``"joint_x_step"`` or ``"prediction"``.
        l : int, optional
            Layer index (W-steps and X-steps).
        m : int, default 1
            Number of data columns.

        Returns
        -------
        cvxlift.assembly.Block
            The parametrized ``cvxpy.Problem`` with its parameters and variables.
        """
        from .training.cvxpy_backend import block

        return block(self, kind, l, m)

    def problems(self, m=4):
        """Every assembled block for ``m`` columns, by name (for printing and inspection).

        Parameters
        ----------
        m : int, default 4
            Number of data columns.

        Returns
        -------
        dict of str to cvxlift.assembly.Block
            ``"W-step l"``, ``"X-step l"``, ``"output step"`` and, for a jointly convex
            network, ``"joint X-step"`` and ``"prediction"``.
        """
        if self.weights_ is None:
            self.init_weights()
        out = {f"W-step {l}": self.block("w_step", l, m) for l in range(self.n_layers)}
        out.update({f"X-step {l}": self.block("x_step", l, m) for l in range(1, self.n_layers)})
        out["output step"] = self.block("output_step", None, m)
        if self.jointly_convex:
            out["joint X-step"] = self.block("joint_x_step", None, m)
            out["prediction"] = self.block("prediction", None, m)
        return out

    # ------------------------------------------------------------------ training
    def _check_XY(self, X, Y, names=("X", "Y")):
        distributed = _dask_doors(X, Y)
        if distributed is not None:
            return distributed.check_XY(self, X, Y, names)
        X = check_matrix(X, names[0], rows=self.sizes[0])
        Y = check_matrix(Y, names[1], rows=self.sizes[-1])
        if X.shape[1] != Y.shape[1]:
            raise ValidationError(
                f"{names[0]} and {names[1]} must have the same number of columns (data points); "
                f"got {X.shape[1]} and {Y.shape[1]}"
            )
        return X, self.loss_.check_targets(Y)

    def fit(
        self,
        X,
        Y,
        solver="cvxpy",
        max_iter=20,
        tol=1e-6,
        xstep="auto",
        callback=None,
        warm_start=False,
        cvxpy_solver=None,
        verbose=False,
        lam_growth=1.0,
        lam_max=1e6,
        validation_data=None,
        early_stopping=False,
        n_iter_no_change=3,
        fast_options=None,
        fallback="warn",
        callbacks=None,
        inertia=0.0,
    ):
        r"""Train by block-coordinate descent (:class:`cvxlift.training.BCD`).

        Parameters
        ----------
        X : array (n_0, m)
            Inputs, one column per data point; entries at most ``1e6`` in magnitude
            (:data:`cvxlift.validation.DATA_MAX`: the lifted objective is not unit-free, so the
            network trains in your units and refuses data beyond the range its solvers handle;
            the estimators rescale for you). A Dask array chunked along columns trains on the
            Dask workers (:mod:`cvxlift.distributed`, ``solver="fast"``): the states stay there
            (``states_`` are persisted Dask arrays), the column-separable blocks run per chunk,
            the W-steps from reductions; see ``docs/distributed.md``.
        Y : array (n_{L+1}, m)
            Targets (one-hot columns for cross-entropy), entries at most ``1e6`` in magnitude;
            chunked like ``X`` for Dask input.
        solver : {"cvxpy", "fast"}
            ``"cvxpy"`` solves every block with its assembled CVXPY problem; ``"fast"`` uses
            the hand-coded solvers of :mod:`cvxlift.fast`; a block without one runs on CVXPY
            with a :class:`~cvxlift.exceptions.FastPathFallbackWarning` (see ``fallback``).
        max_iter : int
            Maximum number of sweeps.
        tol : float
            Stop when a sweep lowers the objective by less than ``tol`` (relative); also the
            margin of early stopping.
        xstep : {"auto", "cyclic", "joint"}
            ``"joint"`` updates every state in one convex problem (jointly convex forms only);
            ``"auto"`` does so when every form is jointly convex (on both backends).
        callback : callable, optional
            ``callback(net, sweep, objective)`` after each sweep; returning True stops.
        warm_start : bool
            Keep the current weights (whatever the number of columns) and, when they fit the
            data, the current states; otherwise the states are rebuilt from the weights.
        cvxpy_solver : str, optional
            Pin the CVXPY solver of the DSL blocks.
        verbose : bool or int
            Print one line per sweep.
        lam_growth : float >= 1
            Penalty continuation: after each sweep every :math:`\lambda_l` is multiplied by
            ``lam_growth`` (capped at ``lam_max``). The objective is re-evaluated at the new
            penalties (a ``"lam"`` entry of ``history_``); it is non-increasing between those
            entries. The CVXPY blocks take the penalties as Parameters: no recompilation.
        lam_max : float
            Cap of the continuation.
        validation_data : (X_val, Y_val), optional
            Columns scored after every sweep (``validation_scores_``); training scores are
            always recorded (``train_scores_``). The score is :meth:`score`.
        early_stopping : bool
            Stop when the validation score has not risen by more than ``tol`` for
            ``n_iter_no_change`` sweeps, and restore the weights and states of the best sweep
            (needs ``validation_data``).
        n_iter_no_change : int
        fast_options : dict, optional
            Keyword arguments of the fast block solvers by block kind, e.g.
            ``{"w_step": {"tol": 1e-6, "max_iter": 50}}``: an iterative block may then stop
            before its certificate reaches the default tolerance (inexact block-coordinate
            descent). Every update is still accepted only if it does not raise the objective.
        fallback : {"warn", "error"}
            Under ``solver="fast"``, what a block without a fast solver does: run on CVXPY
            with a warning (recorded in ``block_info_[block].fallback``), or raise
            :class:`~cvxlift.exceptions.NoFastSolver`.
        inertia : float in [0, 1)
            Inertial block-coordinate descent (see :class:`cvxlift.training.BCD`): after the
            W-steps of every sweep but the first the weights move on by ``inertia`` times their
            change since the previous sweep; that move is an ``"inertia"`` entry of ``history_``
            (the objective may rise there; it is non-increasing between such entries).
        callbacks : sequence of cvxlift.training.Callback, optional
            Engine callbacks (e.g. :class:`~cvxlift.training.ProgressBar`), called after the
            scores, early stopping and ``callback``.

        Returns
        -------
        self
        """
        from .training import (
            BCD,
            EarlyStopping,
            FunctionCallback,
            PenaltyContinuation,
            PrintSweeps,
            Scores,
            fit_options,
            make_backend,
        )

        like = X if ax.is_foreign(X) else None  # torch/cupy data: trained and returned in its library
        Xin = X
        if like is not None:
            X, Y = self._check_XY(ax.to_numpy(X), ax.to_numpy(Y))
        else:
            X, Y = self._check_XY(X, Y)
        m = X.shape[1]
        distributed = _dask_doors(X)
        if distributed is None:  # Dask arrays: their scale is checked in the one pass over their values below
            check_scale(X, "X")
            check_scale(Y, "Y")
            check_memory(
                8.0 * 3 * m * sum(self.u_dims_[l] + self.sizes[l + 1] for l in range(self.n_layers)),
                f"the states and pre-activations of {m} columns",
                "X",
            )
        if like is not None and solver == "fast":  # the fast solvers run on the input's library and device
            X, Y = ax.as_float64(Xin), ax.asarray(Y, like=Xin)
        opts = fit_options(
            solver=solver,
            max_iter=max_iter,
            tol=tol,
            xstep=xstep,
            callback=callback,
            warm_start=warm_start,
            cvxpy_solver=cvxpy_solver,
            verbose=verbose,
            lam_growth=lam_growth,
            lam_max=lam_max,
            validation_data=validation_data,
            early_stopping=early_stopping,
            n_iter_no_change=n_iter_no_change,
            fast_options=fast_options,
            fallback=fallback,
            callbacks=callbacks,
            inertia=inertia,
        )
        if opts["xstep"] == "joint" and not self.jointly_convex:
            raise ValidationError("xstep='joint' needs every layer in the jointly convex form (form='joint')")
        validation = None
        if validation_data is not None:
            try:
                Xv, Yv = validation_data
            except (TypeError, ValueError):
                raise ValidationError("validation_data must be a pair (X_val, Y_val) of column arrays") from None
            Xv, Yv = self._check_XY(Xv, Yv, names=("validation_data[0]", "validation_data[1]"))

            def validation(run):
                return self.score(Xv, Yv)

        Y_host = ax.to_numpy(Y)
        scores = Scores(
            train=lambda run: self._score_output(ax.to_numpy(run.state.forward_output()), Y_host), validation=validation
        )
        cbs = [scores]
        early = EarlyStopping(scores, opts["n_iter_no_change"], opts["tol"]) if opts["early_stopping"] else None
        if early is not None:
            cbs.append(early)
        if opts["verbose"]:
            cbs.append(PrintSweeps(scores))
        if opts["callback"] is not None:
            cbs.append(FunctionCallback(opts["callback"]))
        cbs += opts["callbacks"]
        cbs.append(PenaltyContinuation(opts["lam_growth"], opts["lam_max"]))
        if distributed is None:
            backend = make_backend(opts["solver"], opts["cvxpy_solver"], opts["fast_options"], opts["fallback"])
        else:  # Dask arrays: the fast solvers per column chunk, the W-steps from reductions
            distributed.check_values(self, X, Y)
            backend = distributed.make_backend(opts)
        run = BCD(
            backend,
            max_iter=opts["max_iter"],
            tol=opts["tol"],
            xstep=opts["xstep"],
            callbacks=cbs,
            inertia=opts["inertia"],
        )
        if like is not None and opts["solver"] != "fast":  # the CVXPY backend works on numpy: convert back after
            self.move_to(None)
        run.fit(self, X, Y, warm_start=opts["warm_start"])
        if like is not None:
            self.move_to(like)
        self.history_, self.history_blocks_, self.block_info_ = run.history, run.history_blocks, run.block_info
        self.loss_curve_, self.lam_path_ = run.loss_curve, run.lam_path
        self.train_scores_, self.validation_scores_ = scores.train, scores.validation
        self.best_iter_ = None if early is None else early.best_iter
        self.n_iter_, self.interrupted_, self.fit_seconds_ = run.n_iter, run.interrupted, run.seconds
        return self

    # ------------------------------------------------------------------ scores and prediction
    def score(self, X, Y, rule="forward"):
        r"""Accuracy of the predicted classes (``cross_entropy``: argmax of the output column
        against argmax of ``Y``) or, for the squared loss, the coefficient of determination
        :math:`R^2` averaged over the outputs, as scikit-learn's (:func:`cvxlift.scoring.r2`).

        Parameters
        ----------
        X : array of shape (n_0, m)
        Y : array of shape (n_{L+1}, m)
        rule : {"forward", "lifted"}

        Returns
        -------
        float
        """
        X, Y = self._check_XY(ax.to_numpy(X), ax.to_numpy(Y))
        return self._score_output(ax.to_numpy(self.predict(X, rule=rule)), Y)

    def _score_output(self, P, Y):
        distributed = _dask_doors(P, Y)
        if distributed is not None:
            return distributed.score_output(self.loss_.name, P, Y)
        return score_output(self.loss_.name, P, Y)

    def predict(self, X, rule="forward", solver="cvxpy", max_iter=100, tol=1e-9, return_states=False):
        """Network output for the columns of ``X``.

        Parameters
        ----------
        X : array of shape (n_0, m)
        rule : {"forward", "lifted"}
            ``"forward"``: the plain network (eq. 2). ``"lifted"``: the lifted prediction rule
            (12) with the loss minimised out (:math:`y = x_{L+1}`): one convex problem when
            every form is jointly convex; otherwise block-coordinate descent over the layers
            from the forward pass, stopped when a sweep lowers the objective by less than
            ``tol`` (relative) or after ``max_iter`` sweeps.
        solver : {"cvxpy", "fast"}
            Solvers of the lifted rule (a fast rule without a solver falls back to CVXPY with
            a warning). ``predict_info_`` holds what the solve reported (for the fast solvers a
            :class:`~cvxlift.fast.BlockResult` with a certificate per column); columns that miss
            the certificate tolerance are reported with a warning, never silently.
        max_iter : int
        tol : float
        return_states : bool
            Also return every state :math:`X_1..X_{L+1}`.

        Returns
        -------
        array of shape (n_{L+1}, m), or (array, list of arrays) with ``return_states``
        """
        from .training import make_backend

        self._check_fitted()
        distributed = _dask_doors(X)
        back = lambda a: a
        if distributed is None:
            X, back = self._input(X)
        else:
            X = distributed.check_X(self, X)
        if rule not in RULES:
            raise ValidationError(f"rule must be one of {RULES}, got {rule!r}")
        if solver not in ("cvxpy", "fast"):
            raise ValidationError(f"solver must be 'cvxpy' or 'fast', got {solver!r}")
        max_iter = check_int(max_iter, "max_iter", 0)
        tol = check_number(tol, "tol", 0.0)
        if rule == "forward":
            states = self.forward(X)
        else:
            backend = make_backend(solver) if distributed is None else distributed.predict_backend(solver)
            if solver == "cvxpy" and distributed is None and not ax.is_numpy(X):  # CVXPY takes numpy
                states, info = backend.predict(self._on_host(), ax.to_numpy(X), max_iter=max_iter, tol=tol)
                states = [ax.asarray(S, like=X) for S in states]
            else:
                states, info = backend.predict(self, X, max_iter=max_iter, tol=tol)
            self.predict_info_ = info
            self.predict_history_ = getattr(info, "history", None)
            if getattr(info, "converged", True) is False:
                left = getattr(info, "n_uncertified", None)
                warnings.warn(
                    f"lifted prediction: {'some' if left is None else left} column(s) did not reach the "
                    f"certificate tolerance (see predict_info_); their states are the best found",
                    stacklevel=2,
                )
        states = [back(S) for S in states]
        return (states[-1], states) if return_states else states[-1]


def _dask_doors(*arrays):
    """:mod:`cvxlift.distributed.doors` when an argument is a Dask collection, else ``None``
    (Dask is never imported here: see :func:`cvxlift.distributed.is_dask`)."""
    from .distributed.detect import is_dask

    if not is_dask(*arrays):
        return None
    from .distributed import doors

    return doors


def _check_random_state(seed):
    if seed is None or isinstance(seed, (np.random.Generator, np.random.SeedSequence)):
        return
    if isinstance(seed, bool) or not isinstance(seed, (int, np.integer)) or seed < 0:
        raise ValidationError(f"random_state must be None or a non-negative integer, got {seed!r}")


def _check_sizes(sizes):
    if isinstance(sizes, (str, bytes, set, frozenset, dict)) or not hasattr(sizes, "__len__"):
        raise ValidationError(
            f"sizes must be an ordered sequence (list, tuple or 1-D array) of positive integers, got {sizes!r}"
        )
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
