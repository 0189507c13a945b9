r"""Standard feed-forward baselines in PyTorch, for comparison with lifted networks.

The paper (section 7) trains ordinary ReLU networks by plain mini-batch SGD from three
initialisations (normal, Xavier, and the weights of a trained lifted network) and compares
test accuracy and convergence. This module provides the two pieces needed:

* :func:`make_mlp` builds a ReLU multilayer perceptron (``torch.nn.Linear`` layers, ReLU
  between them, no activation after the last layer: it outputs logits) and initialises it;
* :func:`sgd_train` trains it by plain mini-batch SGD with a constant learning rate on the
  softmax cross-entropy, recording the test accuracy after each epoch (or every
  ``eval_every`` mini-batches) and the training wall time, and the time at which a target
  accuracy is first reached;
* :func:`tune_learning_rate` picks the learning rate from a grid (default {0.01, 0.1, 0.5}) by
  the accuracy on a validation split, and :func:`tuned_sgd` does the whole baseline: tune on
  the held-out tail of the training rows, then train on all of them. Every comparison of the
  lifted model with backprop in ``benchmarks/`` goes through :func:`tuned_sgd`.

PyTorch is an optional dependency (``pip install cvxlift[torch]``); it is imported on first
use, so ``import cvxlift.baselines`` works without it.

Conventions
-----------
* **Rows are samples** here (``X`` is ``m x n_0``, the PyTorch convention), while
  :class:`~cvxlift.LiftedNetwork` takes columns. ``y`` holds integer class labels.
* ``LiftedNetwork.weights_[l]`` has shape ``(n_{l+1}, n_l)``, which is exactly the shape of
  ``nn.Linear(n_l, n_{l+1}).weight``, so lifted weights are copied without transposition.
* **Regularisation.** The objective minimised by :func:`sgd_train` is

  .. math::
      \frac{1}{|B|} \sum_{i \in B} \mathrm{CE}(y_i, f(x_i)) + \rho \sum_l \|W_l\|_F^2

  on each mini-batch :math:`B`: the *mean* cross-entropy of the batch plus the paper's
  penalty :math:`\rho \|W_l\|_F^2` on the weight matrices (biases are not penalised, as in
  the lifted problem (11)). Its gradient adds :math:`2\rho W_l`, so it is implemented as
  ``torch.optim.SGD`` weight decay ``weight_decay = 2 * rho`` on the weight matrices only.
  Note the scaling: the lifted objective sums the loss over the ``m`` training points,
  so the same ``rho`` weighs the penalty ``m`` times less there than in this per-sample
  mean objective. We follow the paper, which holds ``rho = 1e-3`` fixed in both.
"""

import time

import numpy as np

INITS = ("normal", "xavier")


def _torch():
    try:
        import torch
    except ImportError as exc:  # pragma: no cover - exercised only without torch
        raise ImportError(
            f"cvxlift.baselines needs PyTorch ({exc}); install it with `pip install cvxlift[torch]`"
        ) from exc
    return torch


def make_mlp(sizes, init="xavier", seed=0, normal_std=np.sqrt(0.1), bias_init=0.1, dtype=None):
    """A ReLU multilayer perceptron ``sizes[0] -> ... -> sizes[-1]`` (logits out).

    Parameters
    ----------
    sizes : sequence of int
        ``[n_0, ..., n_{L+1}]``, as for :class:`~cvxlift.LiftedNetwork`.
    init : {"normal", "xavier"} or (weights, biases)
        ``"normal"``: every weight drawn from :math:`N(0, \\sigma^2)` with
        ``sigma = normal_std`` (default :math:`\\sqrt{0.1}`, the paper's
        :math:`\\sigma^2 = 0.1`, Table 1 caption). ``"xavier"``: Glorot-uniform
        (``nn.init.xavier_uniform_``, the TensorFlow default the paper refers to). In both
        cases the biases are set to ``bias_init`` (paper: 0.1). A pair
        ``(weights, biases)`` (e.g. ``(net.weights_, net.biases_)`` of a fitted
        :class:`~cvxlift.LiftedNetwork`) is copied in: ``weights[l]`` of shape
        ``(n_{l+1}, n_l)``, ``biases[l]`` of length ``n_{l+1}``.
    seed : int
        Seed of the random initialisation (a local ``torch.Generator``; the global torch
        RNG is not touched).
    dtype : torch dtype, optional
        Default ``torch.float32``.

    Returns
    -------
    torch.nn.Sequential
    """
    torch = _torch()
    nn = torch.nn
    sizes = [int(s) for s in sizes]
    if len(sizes) < 2 or min(sizes) < 1:
        raise ValueError(f"sizes must list at least two positive sizes, got {sizes!r}")
    dtype = torch.float32 if dtype is None else dtype
    layers = []
    linears = []
    for l in range(len(sizes) - 1):
        lin = nn.Linear(sizes[l], sizes[l + 1], dtype=dtype)
        linears.append(lin)
        layers.append(lin)
        if l < len(sizes) - 2:
            layers.append(nn.ReLU())
    model = nn.Sequential(*layers)
    gen = torch.Generator().manual_seed(int(seed))
    with torch.no_grad():
        if isinstance(init, str):
            if init not in INITS:
                raise ValueError(f"init must be one of {INITS} or a (weights, biases) pair, got {init!r}")
            for lin in linears:
                if init == "normal":
                    lin.weight.normal_(0.0, float(normal_std), generator=gen)
                else:
                    nn.init.xavier_uniform_(lin.weight, generator=gen)
                lin.bias.fill_(float(bias_init))
        else:
            try:
                weights, biases = init
            except (TypeError, ValueError):
                raise ValueError("init must be 'normal', 'xavier' or a (weights, biases) pair") from None
            if len(weights) != len(linears) or len(biases) != len(linears):
                raise ValueError(
                    f"init needs {len(linears)} weight matrices and bias vectors, got {len(weights)} and {len(biases)}"
                )
            for l, (lin, W, b) in enumerate(zip(linears, weights, biases)):
                W = np.asarray(W)
                b = np.asarray(b).reshape(-1)
                if W.shape != tuple(lin.weight.shape) or b.shape != tuple(lin.bias.shape):
                    raise ValueError(
                        f"layer {l}: expected weight {tuple(lin.weight.shape)} and bias "
                        f"{tuple(lin.bias.shape)}, got {W.shape} and {b.shape}"
                    )
                lin.weight.copy_(torch.as_tensor(W, dtype=dtype))
                lin.bias.copy_(torch.as_tensor(b, dtype=dtype))
    return model


def accuracy(model, X, y, batch_size=4096):
    """Fraction of rows of ``X`` whose arg-max logit equals the label ``y``."""
    torch = _torch()
    X, y = _as_tensors(model, X, y)
    correct = 0
    with torch.no_grad():
        for s in range(0, X.shape[0], batch_size):
            correct += int((model(X[s : s + batch_size]).argmax(1) == y[s : s + batch_size]).sum())
    return correct / max(1, X.shape[0])


def _as_tensors(model, X, y):
    torch = _torch()
    dtype = next(model.parameters()).dtype
    X = torch.as_tensor(np.asarray(X), dtype=dtype) if not torch.is_tensor(X) else X.to(dtype)
    y = torch.as_tensor(np.asarray(y), dtype=torch.long) if not torch.is_tensor(y) else y.long()
    return X, y


def sgd_train(
    model,
    Xtr,
    ytr,
    Xte,
    yte,
    epochs=17,
    batch_size=100,
    lr=0.1,
    rho=1e-3,
    weight_decay=None,
    seed=0,
    target_accuracy=None,
    eval_every=None,
):
    """Plain mini-batch SGD (constant learning rate, no momentum) on the softmax cross-entropy.

    Parameters
    ----------
    model : torch.nn.Module
        E.g. from :func:`make_mlp`; trained in place.
    Xtr, ytr, Xte, yte : arrays
        Rows are samples; ``y`` are integer labels.
    epochs, batch_size, lr :
        Passes over the training rows (reshuffled each epoch), mini-batch size, learning rate.
    rho : float
        Penalty :math:`\\rho \\|W_l\\|_F^2` added to the mean batch cross-entropy, i.e.
        ``weight_decay = 2 * rho`` on weight matrices (not biases). See the module docstring.
    weight_decay : float, optional
        Give the SGD weight decay directly instead (overrides ``rho``).
    seed : int
        Seeds the shuffling (a local ``torch.Generator``).
    target_accuracy : float, optional
        Record the training wall time at which the test accuracy first reaches it.
    eval_every : int, optional
        Also evaluate the test accuracy every ``eval_every`` mini-batches (evaluation time
        excluded from the clock), for a finer time-to-accuracy; the per-epoch lists stay
        as they are and the fine ones go to ``curve``.

    Returns
    -------
    dict
        ``test_accuracy``: list of ``epochs + 1`` test accuracies (index 0 = before
        training); ``time``: cumulative training wall time (seconds, evaluation excluded) at
        the same points (``time[0] = 0``); ``train_loss``: mean batch cross-entropy of each epoch
        (penalty excluded); ``curve``: ``(time, accuracy)`` pairs at every evaluation (the
        epochs' and, with ``eval_every``, the intermediate ones), in time order;
        ``time_to_target``: the first time in ``curve`` whose accuracy is
        ``>= target_accuracy`` (``None`` if never, or no target); ``diverged``: the epoch at
        which the loss became non-finite (training stops there; the remaining entries repeat
        the last accuracy), else ``None``; ``lr``, ``weight_decay``, ``batch_size``, ``seed``.
    """
    torch = _torch()
    nn = torch.nn
    Xtr, ytr = _as_tensors(model, Xtr, ytr)
    Xte, yte = _as_tensors(model, Xte, yte)
    wd = 2.0 * float(rho) if weight_decay is None else float(weight_decay)
    weights = [p for n, p in model.named_parameters() if n.endswith("weight")]
    others = [p for n, p in model.named_parameters() if not n.endswith("weight")]
    opt = torch.optim.SGD(
        [{"params": weights, "weight_decay": wd}, {"params": others, "weight_decay": 0.0}], lr=float(lr), momentum=0.0
    )
    loss_fn = nn.CrossEntropyLoss()
    gen = torch.Generator().manual_seed(int(seed))
    m = Xtr.shape[0]
    if eval_every is not None and (isinstance(eval_every, bool) or int(eval_every) != eval_every or eval_every < 1):
        raise ValueError(f"eval_every must be None or a positive integer, got {eval_every!r}")
    acc = [accuracy(model, Xte, yte)]
    times = [0.0]
    curve = [(0.0, acc[0])]
    losses = []
    diverged = None
    elapsed = 0.0
    batches = 0
    for epoch in range(1, int(epochs) + 1):
        if diverged is not None:
            acc.append(acc[-1])
            times.append(elapsed)
            losses.append(float("nan"))
            continue
        model.train()
        t0 = time.perf_counter()
        perm = torch.randperm(m, generator=gen)
        total, count = 0.0, 0
        for s in range(0, m, int(batch_size)):
            idx = perm[s : s + int(batch_size)]
            opt.zero_grad(set_to_none=True)
            loss = loss_fn(model(Xtr[idx]), ytr[idx])
            loss.backward()
            opt.step()
            lv = float(loss.detach())
            total += lv * idx.numel()
            count += idx.numel()
            if not np.isfinite(lv):
                diverged = epoch
                break
            batches += 1
            if eval_every is not None and batches % int(eval_every) == 0 and s + int(batch_size) < m:
                elapsed += time.perf_counter() - t0
                model.eval()
                curve.append((elapsed, accuracy(model, Xte, yte)))
                model.train()
                t0 = time.perf_counter()
        elapsed += time.perf_counter() - t0
        model.eval()
        losses.append(total / max(1, count))
        acc.append(accuracy(model, Xte, yte))
        times.append(elapsed)
        curve.append((elapsed, acc[-1]))
    return {
        "test_accuracy": acc,
        "time": times,
        "train_loss": losses,
        "curve": curve,
        "time_to_target": time_to_accuracy([a for _, a in curve], [t for t, _ in curve], target_accuracy),
        "diverged": diverged,
        "lr": float(lr),
        "weight_decay": wd,
        "batch_size": int(batch_size),
        "seed": int(seed),
    }


#: The learning rates :func:`tune_learning_rate` tries by default.
LEARNING_RATES = (0.01, 0.1, 0.5)


def tune_learning_rate(
    sizes,
    Xtr,
    ytr,
    Xval,
    yval,
    lrs=LEARNING_RATES,
    epochs=17,
    batch_size=100,
    rho=1e-3,
    weight_decay=None,
    init="xavier",
    seed=0,
):
    """The learning rate of :func:`sgd_train` with the best validation accuracy.

    Parameters
    ----------
    sizes : sequence of int
        Layer sizes (:func:`make_mlp`).
    Xtr, ytr : arrays
        Training rows and labels for the tuning runs.
    Xval, yval : arrays
        Validation rows and labels (the accuracy after the last epoch decides).
    lrs : sequence of float
        Candidate learning rates (default {0.01, 0.1, 0.5}).
    epochs, batch_size, rho, weight_decay, init, seed :
        As for :func:`make_mlp` and :func:`sgd_train`; every candidate starts from the same
        initialisation and sees the same shuffles.

    Returns
    -------
    best : float
        The learning rate with the highest validation accuracy (the smaller one on a tie; a
        diverged run counts with its accuracy at divergence).
    scores : dict
        ``{lr: validation accuracy}``.
    """
    lrs = [float(v) for v in lrs]
    if not lrs or any(not (np.isfinite(v) and v > 0) for v in lrs):
        raise ValueError(f"lrs must be a non-empty sequence of positive numbers, got {lrs!r}")
    scores = {}
    for lr in sorted(lrs):
        model = make_mlp(sizes, init=init, seed=seed)
        res = sgd_train(
            model,
            Xtr,
            ytr,
            Xval,
            yval,
            epochs=epochs,
            batch_size=batch_size,
            lr=lr,
            rho=rho,
            weight_decay=weight_decay,
            seed=seed,
        )
        scores[lr] = res["test_accuracy"][-1]
    best = max(sorted(scores), key=lambda v: (scores[v], -v))
    return best, scores


def tuned_sgd(
    sizes,
    Xtr,
    ytr,
    Xte,
    yte,
    lrs=LEARNING_RATES,
    val_rows=1000,
    epochs=17,
    batch_size=100,
    rho=1e-3,
    weight_decay=None,
    init="xavier",
    seed=0,
    tune_seed=None,
    target_accuracy=None,
    eval_every=None,
    lr=None,
):
    """The SGD baseline: the learning rate tuned on a validation split, then SGD on every training row.

    Parameters
    ----------
    sizes : sequence of int
    Xtr, ytr : arrays
        Training rows and labels; the last ``val_rows`` of them are the validation split
        for the tuning (then training uses all of them).
    Xte, yte : arrays
        Test rows and labels (accuracy after each epoch).
    lrs : sequence of float
        Candidate learning rates (default {0.01, 0.1, 0.5}).
    val_rows : int
        Size of the validation split.
    epochs, batch_size, rho, weight_decay, init, eval_every, target_accuracy :
        As for :func:`sgd_train` (``weight_decay`` overrides ``rho``: ``2 rho`` on the weights).
    seed : int
        Seed of the initialisation and shuffles of the final run.
    tune_seed : int, optional
        Seed of the tuning runs (default ``seed``).
    lr : float, optional
        Skip the tuning and use this learning rate (e.g. the one tuned for another seed).

    Returns
    -------
    dict
        What :func:`sgd_train` returns, plus ``lr_scores`` (``{lr: validation accuracy}``,
        empty when ``lr`` was given) and ``model`` (the trained ``torch.nn.Sequential``).
    """
    m = len(ytr)
    scores = {}
    if lr is None:
        if isinstance(val_rows, bool) or not (isinstance(val_rows, (int, np.integer)) and 0 < val_rows < m):
            raise ValueError(f"val_rows must be an integer in (0, {m}), got {val_rows!r}")
        lr, scores = tune_learning_rate(
            sizes,
            Xtr[:-val_rows],
            ytr[:-val_rows],
            Xtr[-val_rows:],
            ytr[-val_rows:],
            lrs=lrs,
            epochs=epochs,
            batch_size=batch_size,
            rho=rho,
            weight_decay=weight_decay,
            init=init,
            seed=seed if tune_seed is None else tune_seed,
        )
    model = make_mlp(sizes, init=init, seed=seed)
    res = sgd_train(
        model,
        Xtr,
        ytr,
        Xte,
        yte,
        epochs=epochs,
        batch_size=batch_size,
        lr=lr,
        rho=rho,
        weight_decay=weight_decay,
        seed=seed,
        target_accuracy=target_accuracy,
        eval_every=eval_every,
    )
    res["lr_scores"] = scores
    res["model"] = model
    return res


def time_to_accuracy(accuracies, times, target):
    """The first ``times[i]`` with ``accuracies[i] >= target`` (``None`` if never or no target)."""
    if target is None:
        return None
    for a, t in zip(accuracies, times):
        if a >= target:
            return float(t)
    return None
