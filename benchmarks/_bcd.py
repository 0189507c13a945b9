"""A compact block-coordinate-descent driver over the fast block solvers, for the benchmarks.

It runs the sweep of ``LiftedNetwork.fit(solver="fast")`` (W-steps of every layer, the hidden
X-steps in order, the output step) by calling ``cvxlift.fast.w_step`` / ``x_step`` /
``output_step`` directly, with what the training engine does not do (yet):

* one :class:`cvxlift.fast.WStepCache` per layer: the first layer's input Gram matrix and its
  factorisations are computed once per run, and each W-step hands back the pre-activation
  :math:`W_lX_l + b_l` of its solution, so no product is formed twice;
* a per-layer penalty schedule (``lam_schedule(sweep) -> [lam_1, ..., lam_{L+1}]``), e.g. a
  continuation of the hidden layers' penalties only;
* inertia (``extrapolate=beta``): after the W-steps of every sweep but the first, each
  :math:`(W_l, b_l)` moves on by ``beta`` times its change since the previous sweep's W-steps,
  :math:`W_l \\leftarrow W_l + \beta(W_l - W_l^{prev})` (an inertial block-coordinate method; the
  X-steps then see the extrapolated weights). The lifted objective may rise at that move; the
  blocks after it are descent steps again.

It keeps no accept/undo guard: every block solver is a descent method from its warm start
(the W-steps' line searches, exact X- and output steps), so the lifted objective does not
rise within a sweep at fixed penalties; ``objective`` evaluates it when asked. Not a test and
not library code: a benchmark helper (the engine in ``cvxlift`` is the reference).
"""

import time

import numpy as np

import cvxlift
from cvxlift import fast


class LiftedBCD:
    """Lifted ReLU network (Fenchel-Young hidden layers, simplex output, cross-entropy)."""

    def __init__(
        self,
        sizes,
        lam=1.0,
        rho=8.0,
        form="fenchel_hidden",
        loss="cross_entropy",
        activation="relu",
        seed=0,
        w_iter=20,
        w_tol=1e-10,
        x_iter=20000,
        x_tol=1e-9,
        extrapolate=0.0,
    ):
        self.net = cvxlift.LiftedNetwork(sizes, activation, loss=loss, lam=lam, rho=rho, form=form, random_state=seed)
        self.net.init_weights()
        self.L1 = self.net.n_layers
        self.lam = np.array(self.net.lam_, dtype=float)
        self.rho = np.array(self.net.rho_, dtype=float)
        self.w_iter, self.w_tol, self.x_iter, self.x_tol = w_iter, w_tol, x_iter, x_tol
        self.caches = [fast.WStepCache() for _ in range(self.L1)]
        self.info = {}
        self.extrapolate = float(extrapolate)
        self._last = None
        self.moves = 0

    # -------------------------------------------------------------- pieces
    @property
    def W(self):
        return self.net.weights_

    @property
    def b(self):
        return self.net.biases_

    def pre(self, l, A):
        U = self.caches[l].preactivation(self.W[l], self.b[l])
        if U is None:
            W = self.W[l]
            fast.add_flops(2.0 * W.shape[0] * W.shape[1] * A.shape[1])
            U = W @ A + self.b[l][:, None]
        return U

    def _w_step(self, l, A):
        """The fast W-step of layer ``l`` with input ``A`` (the driver's tolerance, budget and cache)."""
        net = self.net
        return fast.w_step(
            A,
            self.states[l],
            net.activations_[l],
            net.forms_[l],
            self.lam[l],
            self.rho[l],
            W0=self.W[l],
            b0=self.b[l],
            tol=self.w_tol,
            max_iter=self.w_iter,
            evaluate=False,
            cache=self.caches[l],
        )

    def start(self, X, Y):
        """States from the forward pass of the initial weights; the output state by the output step."""
        net = self.net
        states = net.forward(X)
        A = X if self.L1 == 1 else states[-2]
        states[-1], _ = fast.output_step(
            net.preactivation(self.L1 - 1, A), Y, net.activations_[-1], net.forms_[-1], self.lam[-1], net.loss_.name
        )
        self.states = states

    def sweep(self, X, Y):
        net, S = self.net, self.states
        inputs = [X] + S[:-1]
        for l in range(self.L1):
            W, b, info = self._w_step(l, inputs[l])
            net.weights_[l], net.biases_[l] = W, b
            self.info[f"W{l}"] = info
        if self.extrapolate:
            # inertial BCD: the weights move on by `extrapolate` times their change since the last
            # sweep's W-steps (experimental; the pre-activation cache then misses once)
            current = [(W, b) for W, b in zip(self.W, self.b)]
            if self._last is not None:
                beta = self.extrapolate
                self.moves += 1
                for l, (Wp, bp) in enumerate(self._last):
                    net.weights_[l] = self.W[l] + beta * (self.W[l] - Wp)
                    net.biases_[l] = self.b[l] + beta * (self.b[l] - bp)
            self._last = current
        for l in range(1, self.L1):
            prev = X if l == 1 else S[l - 2]
            Z, info = fast.x_step(
                self.pre(l - 1, prev),
                self.W[l],
                self.b[l],
                S[l],
                net.activations_[l - 1],
                net.forms_[l - 1],
                net.activations_[l],
                net.forms_[l],
                self.lam[l - 1],
                self.lam[l],
                Z0=S[l - 1],
                tol=self.x_tol,
                max_iter=self.x_iter,
                evaluate=False,
            )
            S[l - 1] = Z
            self.info[f"X{l}"] = info
        prev = X if self.L1 == 1 else S[-2]
        Z, info = fast.output_step(
            self.pre(self.L1 - 1, prev), Y, net.activations_[-1], net.forms_[-1], self.lam[-1], net.loss_.name
        )
        S[-1] = Z
        self.info["output"] = info

    def refit_readout(self, X, Y, rounds=5):
        """Replace the hidden states by the forward pass of the current weights and fit the last
        layer and the output state to them (``rounds`` alternations of its W-step and the output
        step): the readout then sees at training the features it sees at prediction."""
        net, S = self.net, self.states
        states = net.forward(X)
        for l in range(self.L1 - 1):
            S[l] = states[l]
        A = X if self.L1 == 1 else S[-2]
        l = self.L1 - 1
        for _ in range(rounds):
            W, b, _ = self._w_step(l, A)
            net.weights_[l], net.biases_[l] = W, b
            S[l], _ = fast.output_step(
                self.pre(l, A), Y, net.activations_[l], net.forms_[l], self.lam[l], net.loss_.name
            )

    def objective(self, X, Y):
        """The lifted objective (10) at the driver's weights and states (the network's public evaluation)."""
        return self.net.objective(X, Y, states=self.states)

    def accuracy(self, X, y):
        return float(np.mean(self.net.predict(X).argmax(0) == y))

    def set_lam(self, lam):
        self.lam = np.array(lam, dtype=float)
        self.net.lam_ = self.lam.copy()


def run(model, X, Y, sweeps, evaluate=None, lam_schedule=None, verbose=False, report=None):
    """``sweeps`` sweeps; after each, ``evaluate(model)`` (not timed) and ``report(sweep, seconds,
    value)``. Returns ``[(seconds, value)]``."""
    model.start(X, Y)
    curve, clock = [], 0.0
    for k in range(sweeps):
        if lam_schedule is not None:
            model.set_lam(lam_schedule(k))
        t0 = time.perf_counter()
        model.sweep(X, Y)
        clock += time.perf_counter() - t0
        value = evaluate(model) if evaluate is not None else None
        curve.append((clock, value))
        if report is not None:
            report(k + 1, clock, value)
        if verbose:
            blocks = {k2: (v.solver.split("/")[1], v.iterations) for k2, v in model.info.items()}
            print(
                f"  sweep {k + 1:3d} {clock:8.2f} s  {value}  lam {np.round(model.lam, 3).tolist()} {blocks}",
                flush=True,
            )
    return curve
