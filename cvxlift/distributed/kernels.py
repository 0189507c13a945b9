r"""The numpy work on one column chunk (the tasks of :mod:`cvxlift.distributed`).

Every function takes the chunk's columns first (``X_k``, ``Y_k``, states) and then the
parameters shared by every chunk; none keeps state. The column-separable blocks call the public
solvers of :mod:`cvxlift.fast` on the chunk; the W-step partials are the per-chunk terms of the
sums over columns that :mod:`cvxlift.distributed.wstep` needs.
"""
import numpy as np

from .. import fast
from ..exceptions import ValidationError

__all__ = [
    "as_float", "affine", "forward", "forward_from", "column_sums", "centred_products", "majorize_partials",
    "divergence_sum", "loss_sum", "x_step", "output_step", "joint_x_step", "lifted_predict", "check_chunk",
    "objective_terms", "accuracy_counts", "r2_partials",
]


def as_float(A, name="X"):
    """A chunk as a C-contiguous float64 array; a :class:`ValidationError` for NaN or inf."""
    A = np.ascontiguousarray(A, dtype=np.float64)
    if not np.all(np.isfinite(A)):
        raise ValidationError(f"{name} contains NaN or inf")
    return A


def affine(A, W, b):
    r""":math:`W A_k + b\mathbf 1^T`."""
    return W @ np.asarray(A, dtype=np.float64) + b[:, None]


def forward(X, weights, biases, divs):
    """Every state of the forward pass of chunk ``X`` (eq. 2), as a tuple."""
    cur = as_float(X)
    out = []
    for W, b, d in zip(weights, biases, divs):
        cur = d.forward(W @ cur + b[:, None])
        out.append(cur)
    return tuple(out)


def forward_from(U0, d0, weights, biases, divs):
    """The network output from the first pre-activation ``U0`` of a chunk."""
    cur = d0.forward(U0)
    for W, b, d in zip(weights, biases, divs):
        cur = d.forward(W @ cur + b[:, None])
    return cur


def column_sums(A):
    r"""``(m_k, A_k\mathbf 1)``: the chunk's number of columns and row sums."""
    A = np.asarray(A, dtype=np.float64)
    return A.shape[1], A.sum(axis=1)


def centred_products(A, Z, abar, gram):
    r"""``(G_k, ZA_k, z_k)`` of a chunk with :math:`A_c = A_k - \bar a\mathbf 1^T`:
    :math:`G_k = A_cA_c^T` (``None`` without ``gram``), :math:`ZA_k = Z_kA_c^T`,
    :math:`z_k = Z_k\mathbf 1`."""
    Ac = np.asarray(A, dtype=np.float64) - abar[:, None]
    G = Ac @ Ac.T if gram else 0.0
    return G, Z @ Ac.T, Z.sum(axis=1)


def majorize_partials(A, Z, abar, Wy, cy, d, form):
    r"""``(G_u A_c^T, G_u\mathbf 1)`` with :math:`G_u = \nabla_u D(W_yA_c + c_y\mathbf 1^T, Z_k)`: one
    chunk's share of the gradient of the majorise-minimise W-step."""
    Ac = np.asarray(A, dtype=np.float64) - abar[:, None]
    U = Wy @ Ac
    U += cy[:, None]
    Gu = d.u_gradient(U, Z, form)
    return Gu @ Ac.T, Gu.sum(axis=1)


def divergence_sum(U, S, d, form):
    r""":math:`\sum_j D(u_j, s_j)` over the chunk's columns."""
    return (float(np.sum(d.divergence_value(U, S, form))),)


def loss_sum(Y, Z, loss):
    """The loss of the chunk's columns (the losses are sums over columns)."""
    return (float(loss.value(np.asarray(Y, dtype=np.float64), Z)),)


def x_step(U0, Zn, Z0, W, b, d_prev, f_prev, d_next, f_next, lam_prev, lam_next, options):
    """:func:`cvxlift.fast.x_step` on one chunk: ``(Z, info)``."""
    return fast.x_step(U0, W, b, Zn, d_prev, f_prev, d_next, f_next, lam_prev, lam_next, Z0=Z0, evaluate=False,
                       **options)


def output_step(U0, Y, d, form, lam, loss):
    """:func:`cvxlift.fast.output_step` on one chunk: ``(Z, info)``."""
    return fast.output_step(U0, np.asarray(Y, dtype=np.float64), d, form, lam, loss)


def joint_x_step(U0, Y, *rest):
    """``cvxlift.fast.joint_x_step`` on one chunk: ``(X_1, ..., X_{L+1}, info)``."""
    *states0, weights, biases, divs, forms, lams, loss, options = rest
    states, info = fast.joint_x_step(U0, np.asarray(Y, dtype=np.float64), weights, biases, divs, forms, lams, loss,
                                     Z0=list(states0), evaluate=False, **options)
    return (*states, info)


def lifted_predict(X, weights, biases, divs, forms, lams, tol, max_iter, options):
    """:func:`cvxlift.fast.lifted_predict` on one chunk: ``(X_1, ..., X_{L+1}, info)``."""
    states, info = fast.lifted_predict(as_float(X), weights, biases, divs, forms, lams, tol=tol, max_iter=max_iter,
                                       evaluate=False, **options)
    return (*states, info)


def check_chunk(X, Y, loss):
    """``(bad_columns_of_X, bad_columns_of_Y, target_error)`` of a chunk: the number of columns
    with NaN or inf, and the loss's complaint about the targets (``""`` when none)."""
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
    """``(loss, D_0, ..., D_L)`` of a chunk (unweighted sums) for the states given."""
    *states, weights, biases, divs, forms, loss = rest
    prev = np.asarray(X, dtype=np.float64)
    out = [float(loss.value(np.asarray(Y, dtype=np.float64), states[-1]))]
    for W, b, d, f, S in zip(weights, biases, divs, forms, states):
        out.append(float(np.sum(d.divergence_value(W @ prev + b[:, None], S, f))))
        prev = S
    return tuple(out)


def accuracy_counts(P, Y):
    """``(correct, columns)``: columns whose argmax of ``P`` is that of ``Y``."""
    return int(np.count_nonzero(np.argmax(P, axis=0) == np.argmax(Y, axis=0))), P.shape[1]


def r2_partials(Y, P, ybar):
    r"""``(\sum_j (Y - P)^2, \sum_j (Y - \bar y)^2)`` per row over the chunk's columns."""
    Y = np.asarray(Y, dtype=np.float64)
    return np.sum((Y - P) ** 2, axis=1), np.sum((Y - ybar[:, None]) ** 2, axis=1)
