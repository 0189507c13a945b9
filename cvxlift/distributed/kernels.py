r"""The numpy work on one column chunk (the tasks of :mod:`cvxlift.distributed`).

Every function takes the chunk's columns first (``X_k``, ``Y_k``, states: arrays with the
chunk's :math:`n_k` columns) and then the parameters shared by every chunk, keeps no state,
and returns a tuple (the outputs of a map, or the partial sums of a reduction). The
column-separable blocks call the public solvers of :mod:`cvxlift.fast` on the chunk; the
W-step partials are the chunk's terms of the sums over columns that
:mod:`cvxlift.distributed.wstep` needs.
"""

import numpy as np

from .. import fast
from ..exceptions import ValidationError

__all__ = [
    "as_float",
    "affine",
    "forward",
    "forward_from",
    "column_sums",
    "centred_products",
    "majorize_partials",
    "divergence_sum",
    "loss_sum",
    "x_step",
    "output_step",
    "joint_x_step",
    "lifted_predict",
    "check_chunk",
    "objective_terms",
    "accuracy_counts",
    "r2_partials",
]


def as_float(A, name="X"):
    """A chunk as a C-contiguous float64 array.

    Parameters
    ----------
    A : array (p, n_k)
    name : str
        Argument name for the error.

    Returns
    -------
    ndarray

    Raises
    ------
    ValidationError
        For NaN or inf.
    """
    A = np.ascontiguousarray(A, dtype=np.float64)
    if not np.all(np.isfinite(A)):
        raise ValidationError(f"{name} contains NaN or inf")
    return A


def affine(A, W, b):
    r""":math:`W A_k + b\mathbf 1^T`.

    Parameters
    ----------
    A : array (p, n_k)
    W : ndarray (q, p)
    b : ndarray (q,)

    Returns
    -------
    ndarray (q, n_k)
    """
    return W @ np.asarray(A, dtype=np.float64) + b[:, None]


def forward(X, weights, biases, divs):
    r"""Every state of the forward pass (eq. 2) of a chunk, :math:`X_{l+1} = \phi_l(W_lX_l + b_l\mathbf 1^T)`.

    Parameters
    ----------
    X : array (n_0, n_k)
    weights, biases, divs : the layers' :math:`W_l`, :math:`b_l` and divergences

    Returns
    -------
    tuple of ndarrays
        :math:`X_1, \dots, X_{L+1}`.
    """
    cur = as_float(X)
    out = []
    for W, b, d in zip(weights, biases, divs):
        cur = d.forward(W @ cur + b[:, None])
        out.append(cur)
    return tuple(out)


def forward_from(U0, d0, weights, biases, divs):
    r"""The network output of a chunk from its first pre-activation :math:`U_0 = W_0X + b_0\mathbf 1^T`.

    Parameters
    ----------
    U0 : ndarray (n_u, n_k)
    d0 : Divergence
        The first layer's atom.
    weights, biases, divs : the later layers'

    Returns
    -------
    ndarray (n_{L+1}, n_k)
    """
    cur = d0.forward(U0)
    for W, b, d in zip(weights, biases, divs):
        cur = d.forward(W @ cur + b[:, None])
    return cur


def column_sums(A):
    r"""The chunk's number of columns and row sums, :math:`(n_k, A_k\mathbf 1)`.

    Parameters
    ----------
    A : array (p, n_k)

    Returns
    -------
    (int, ndarray (p,))
    """
    A = np.asarray(A, dtype=np.float64)
    return A.shape[1], A.sum(axis=1)


def centred_products(A, Z, abar, gram):
    r"""A chunk's terms of the ridge W-step's sums, with :math:`A_c = A_k - \bar a\mathbf 1^T`.

    Parameters
    ----------
    A : array (p, n_k)
        Layer input.
    Z : ndarray (q, n_k)
        Layer state.
    abar : ndarray (p,)
        Mean column of the whole input.
    gram : bool
        Also return :math:`A_cA_c^T`.

    Returns
    -------
    tuple
        :math:`A_cA_c^T` (or 0 without ``gram``), :math:`Z_kA_c^T`, :math:`Z_k\mathbf 1`.
    """
    Ac = np.asarray(A, dtype=np.float64) - abar[:, None]
    G = Ac @ Ac.T if gram else 0.0
    return G, Z @ Ac.T, Z.sum(axis=1)


def majorize_partials(A, Z, abar, Wy, cy, d, form):
    r"""A chunk's share of the gradient of the majorise-minimise W-step: with
    :math:`G_u = \nabla_u D(W_yA_c + c_y\mathbf 1^T, Z_k)`, :math:`(G_uA_c^T, G_u\mathbf 1)`.

    Parameters
    ----------
    A : array (p, n_k)
    Z : ndarray (q, n_k)
    abar : ndarray (p,)
    Wy : ndarray (q, p)
    cy : ndarray (q,)
        The centred bias :math:`c = b + W\bar a` of the extrapolated point.
    d, form : the layer's divergence and form

    Returns
    -------
    (ndarray (q, p), ndarray (q,))
    """
    Ac = np.asarray(A, dtype=np.float64) - abar[:, None]
    U = Wy @ Ac
    U += cy[:, None]
    Gu = d.u_gradient(U, Z, form)
    return Gu @ Ac.T, Gu.sum(axis=1)


def divergence_sum(U, S, d, form):
    r""":math:`\sum_{j} D(u_j, s_j)` over the chunk's columns.

    Parameters
    ----------
    U, S : ndarrays
        Pre-activations and states of the chunk.
    d, form : the divergence and its form

    Returns
    -------
    (float,)
    """
    return (float(np.sum(d.divergence_value(U, S, form))),)


def loss_sum(Y, Z, loss):
    r""":math:`\mathcal L(Y_k, Z_k)` (the losses are sums over columns).

    Parameters
    ----------
    Y, Z : arrays
        Targets and output states of the chunk.
    loss : cvxlift.losses.Loss

    Returns
    -------
    (float,)
    """
    return (float(loss.value(np.asarray(Y, dtype=np.float64), Z)),)


def x_step(U0, Zn, Z0, W, b, d_prev, f_prev, d_next, f_next, lam_prev, lam_next, options):
    """:func:`cvxlift.fast.x_step` on one chunk (its arguments, the chunk's columns first).

    Parameters
    ----------
    U0, Zn, Z0 : the chunk's previous pre-activation, next state and warm start
    W, b, d_prev, f_prev, d_next, f_next, lam_prev, lam_next : as :func:`cvxlift.fast.x_step`
    options : dict
        Its keyword options.

    Returns
    -------
    (ndarray, BlockResult)
    """
    return fast.x_step(
        U0, W, b, Zn, d_prev, f_prev, d_next, f_next, lam_prev, lam_next, Z0=Z0, evaluate=False, **options
    )


def output_step(U0, Y, d, form, lam, loss):
    """:func:`cvxlift.fast.output_step` on one chunk.

    Parameters
    ----------
    U0, Y : the chunk's last pre-activation and targets
    d, form, lam, loss : as :func:`cvxlift.fast.output_step`

    Returns
    -------
    (ndarray, BlockResult)
    """
    return fast.output_step(U0, np.asarray(Y, dtype=np.float64), d, form, lam, loss)


def joint_x_step(U0, Y, *rest):
    """``cvxlift.fast.joint_x_step`` on one chunk.

    Parameters
    ----------
    U0, Y : the chunk's first pre-activation and targets
    *rest
        The chunk's current states :math:`X_1..X_{L+1}` (warm start), then ``weights, biases,
        divs, forms, lams, loss, options`` as ``cvxlift.fast.joint_x_step``.

    Returns
    -------
    tuple
        :math:`X_1, \\dots, X_{L+1}` and the BlockResult.
    """
    *states0, weights, biases, divs, forms, lams, loss, options = rest
    states, info = fast.joint_x_step(
        U0,
        np.asarray(Y, dtype=np.float64),
        weights,
        biases,
        divs,
        forms,
        lams,
        loss,
        Z0=list(states0),
        evaluate=False,
        **options,
    )
    return (*states, info)


def lifted_predict(X, weights, biases, divs, forms, lams, tol, max_iter, options):
    """:func:`cvxlift.fast.lifted_predict` on one chunk.

    Parameters
    ----------
    X : array (n_0, n_k)
    weights, biases, divs, forms, lams, tol, max_iter : as :func:`cvxlift.fast.lifted_predict`
    options : dict
        Its other keyword options.

    Returns
    -------
    tuple
        :math:`X_1, \\dots, X_{L+1}` and the BlockResult.
    """
    states, info = fast.lifted_predict(
        as_float(X), weights, biases, divs, forms, lams, tol=tol, max_iter=max_iter, evaluate=False, **options
    )
    return (*states, info)


def check_chunk(X, Y, loss):
    """The values of a chunk of data: finite, and targets that the loss accepts.

    Parameters
    ----------
    X, Y : arrays
        Inputs and targets of the chunk.
    loss : cvxlift.losses.Loss

    Returns
    -------
    (int, int, str)
        Columns of ``X`` and of ``Y`` with NaN or inf, and the loss's complaint about the
        targets (``""`` when none).
    """
    X = np.asarray(X)
    Y = np.asarray(Y, dtype=np.float64)
    bad_x = int(np.count_nonzero(~np.all(np.isfinite(X), axis=0)))
    bad_y = int(np.count_nonzero(~np.all(np.isfinite(Y), axis=0)))
    message = ""
    if not bad_y:
        try:
            loss.check_targets(Y)
        except ValidationError as exc:
            message = str(exc)
    return bad_x, bad_y, message


def objective_terms(X, Y, *rest):
    r"""The chunk's unweighted terms of the objective (10) at given states.

    Parameters
    ----------
    X, Y : arrays
        Inputs and targets of the chunk.
    *rest
        The chunk's states :math:`X_1..X_{L+1}`, then ``weights, biases, divs, forms, loss``.

    Returns
    -------
    tuple of float
        :math:`\mathcal L(Y, X_{L+1})` and :math:`\sum_j D_l` for every layer.
    """
    *states, weights, biases, divs, forms, loss = rest
    prev = np.asarray(X, dtype=np.float64)
    out = [float(loss.value(np.asarray(Y, dtype=np.float64), states[-1]))]
    for W, b, d, f, S in zip(weights, biases, divs, forms, states):
        out.append(float(np.sum(d.divergence_value(W @ prev + b[:, None], S, f))))
        prev = S
    return tuple(out)


def accuracy_counts(P, Y):
    """Columns whose largest entry of ``P`` sits where ``Y``'s does, and the chunk's columns.

    Parameters
    ----------
    P, Y : arrays (k, n_k)

    Returns
    -------
    (int, int)
    """
    return int(np.count_nonzero(np.argmax(P, axis=0) == np.argmax(Y, axis=0))), P.shape[1]


def r2_partials(Y, P, ybar):
    r"""The chunk's terms of :math:`R^2` per row: :math:`\sum_j (Y - P)^2` and :math:`\sum_j (Y - \bar y)^2`.

    Parameters
    ----------
    Y, P : arrays (k, n_k)
    ybar : ndarray (k,)
        Row means of the whole ``Y``.

    Returns
    -------
    (ndarray (k,), ndarray (k,))
    """
    Y = np.asarray(Y, dtype=np.float64)
    return np.sum((Y - P) ** 2, axis=1), np.sum((Y - ybar[:, None]) ** 2, axis=1)
