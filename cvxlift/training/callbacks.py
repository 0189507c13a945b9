r"""Callbacks of the training engine: scores, early stopping, penalty continuation, progress.

A callback sees the run (:class:`~cvxlift.training.BCD` while it fits) at three moments:
:meth:`Callback.on_fit_begin`, :meth:`Callback.on_sweep_end` (after each complete sweep;
returning ``True`` stops training) and :meth:`Callback.on_fit_end`. The run exposes
``net``, ``state`` (data and caches), ``history``, ``n_iter`` and
:meth:`~cvxlift.training.BCD.set_lam`. The same callbacks serve
:meth:`cvxlift.LiftedNetwork.fit`, the scikit-learn estimators and the ``cvxlift`` command.
"""

import time

import numpy as np

__all__ = [
    "Callback",
    "Scores",
    "EarlyStopping",
    "PenaltyContinuation",
    "PrintSweeps",
    "ProgressBar",
    "FunctionCallback",
]


class Callback:
    """Base class: every hook does nothing."""

    def on_fit_begin(self, run):
        """Before the first sweep (the iterate is initialised, ``run.history`` has one entry).

        Parameters
        ----------
        run : BCD
            The training run: ``net``, ``state``, ``history``, ``n_iter``, ``set_lam``.
        """

    def on_sweep_end(self, run, sweep, objective):
        """After each complete sweep.

        Parameters
        ----------
        run : BCD
            The training run.
        sweep : int
            The sweep just completed, 0-based.
        objective : float
            The lifted objective after that sweep.

        Returns
        -------
        bool
            ``True`` stops training after this sweep.
        """
        return False

    def on_fit_end(self, run):
        """After the last sweep (also after an interrupt).

        Parameters
        ----------
        run : BCD
            The training run.
        """


class Scores(Callback):
    """Scores after every sweep: ``train`` and, with a validation scorer, ``validation``.

    Parameters
    ----------
    train : callable
        ``train(run) -> float`` (e.g. accuracy or :math:`R^2` on the training data).
    validation : callable, optional
        ``validation(run) -> float`` on held-out data.
    """

    def __init__(self, train, validation=None):
        self.train_scorer, self.validation_scorer = train, validation
        self.train, self.validation = [], []

    def on_fit_begin(self, run):
        self.train, self.validation = [], []

    def on_sweep_end(self, run, sweep, objective):
        self.train.append(float(self.train_scorer(run)))
        if self.validation_scorer is not None:
            self.validation.append(float(self.validation_scorer(run)))
        return False


class EarlyStopping(Callback):
    r"""Stop when the validation score has not risen by more than ``tol`` for
    ``n_iter_no_change`` sweeps, and restore the weights and states of the best sweep.

    The rule is scikit-learn's: a sweep whose score exceeds the best so far by more than
    ``tol`` resets the count; the best sweep is the one with the highest score.

    Parameters
    ----------
    scores : Scores
        Holds the validation scores (its ``validation`` scorer must be set).
    n_iter_no_change : int, default 3
        Sweeps without an improvement larger than ``tol`` before stopping.
    tol : float, default 0.0
        Smallest rise of the validation score that counts as an improvement.
    """

    def __init__(self, scores, n_iter_no_change=3, tol=0.0):
        self.scores, self.n_iter_no_change, self.tol = scores, int(n_iter_no_change), float(tol)
        self.best_score, self.best_iter, self.stopped = -np.inf, None, False
        self._best, self._count = None, 0

    def on_fit_begin(self, run):
        self.best_score, self.best_iter, self.stopped = -np.inf, None, False
        self._best, self._count = None, 0

    def on_sweep_end(self, run, sweep, objective):
        score = self.scores.validation[-1]
        if score > self.best_score + self.tol:
            self._count = 0
        else:
            self._count += 1
        if score > self.best_score:
            self.best_score, self.best_iter = score, sweep + 1
            self._best = run.snapshot(copy=True)
        if self._count >= self.n_iter_no_change:
            self.stopped = True
        return self.stopped

    def on_fit_end(self, run):
        if self._best is not None:
            run.restore(self._best)


class PenaltyContinuation(Callback):
    r"""After each sweep multiply every :math:`\lambda_l` by ``growth``, capped at ``lam_max``.

    The objective is re-evaluated at the new penalties (a ``"lam"`` entry of the history); the
    convergence test is skipped after a change. The CVXPY blocks take the penalties as
    Parameters, so nothing is recompiled.

    Parameters
    ----------
    growth : float, default 1.0
        Factor applied to every :math:`\lambda_l` after each sweep (1 leaves them unchanged).
    lam_max : float, default 1e6
        Cap on each penalty (a penalty already above it is kept).
    """

    def __init__(self, growth=1.0, lam_max=1e6):
        self.growth, self.lam_max = float(growth), float(lam_max)

    def on_sweep_end(self, run, sweep, objective):
        lam = run.net.lam_
        if self.growth > 1.0 and np.any(lam < self.lam_max) and not getattr(run, "stopping", False):
            run.set_lam(np.minimum(lam * self.growth, np.maximum(self.lam_max, lam)))
        return False


def _scores_of(run, scores):
    """``scores``, or the run's first :class:`Scores` callback."""
    if scores is not None:
        return scores
    return next((cb for cb in getattr(run, "callbacks", ()) if isinstance(cb, Scores)), None)


class PrintSweeps(Callback):
    """One line per sweep: ``sweep k: lifted objective F, train score s, validation score v (t s)``.

    Parameters
    ----------
    scores : Scores, optional
        Default: the run's first :class:`Scores` callback, if any.
    write : callable, optional
        ``write(line)``; default: print to standard output.
    """

    def __init__(self, scores=None, write=None):
        self.scores, self.write = scores, write
        self._t0 = time.perf_counter()

    def on_fit_begin(self, run):
        self._t0 = time.perf_counter()
        self._scores = _scores_of(run, self.scores)

    def on_sweep_end(self, run, sweep, objective):
        msg = f"sweep {sweep + 1}: lifted objective {objective:.6g}"
        scores = getattr(self, "_scores", self.scores)
        if scores is not None and scores.train:
            msg += f", train score {scores.train[-1]:.4f}"
        if scores is not None and scores.validation:
            msg += f", validation score {scores.validation[-1]:.4f}"
        line = f"{msg} ({time.perf_counter() - self._t0:.1f} s)"
        if self.write is None:
            print(line, flush=True)
        else:
            self.write(line)
        return False


class ProgressBar(Callback):
    """Advance a progress bar (:func:`cvxlift.progress.progress`) by one step per sweep, showing
    the objective and the last scores.

    Parameters
    ----------
    bar : object
        A bar with ``update(n, **postfix)``, as returned by :func:`cvxlift.progress.progress`.
    scores : Scores, optional
        Default: the run's first :class:`Scores` callback, if any.
    """

    def __init__(self, bar, scores=None):
        self.bar, self.scores = bar, scores

    def on_fit_begin(self, run):
        self.scores = _scores_of(run, self.scores)

    def on_sweep_end(self, run, sweep, objective):
        post = {"objective": float(objective)}
        if self.scores is not None and self.scores.train:
            post["train"] = f"{self.scores.train[-1]:.4f}"
        if self.scores is not None and self.scores.validation:
            post["validation"] = f"{self.scores.validation[-1]:.4f}"
        self.bar.update(1, **post)
        return False


class FunctionCallback(Callback):
    """A user function called after each sweep; a true result stops training.

    Parameters
    ----------
    fn : callable
        ``fn(net, sweep, objective)`` with the :class:`~cvxlift.LiftedNetwork`, the 0-based sweep
        and the lifted objective.
    """

    def __init__(self, fn):
        self.fn = fn

    def on_sweep_end(self, run, sweep, objective):
        return bool(self.fn(run.net, sweep, objective))
