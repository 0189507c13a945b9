r"""Automatic assembly of the block subproblems of a lifted network, as CVXPY problems.

Every block is a DPP-compliant :class:`cvxpy.Problem` built once per shape and re-solved
with new :class:`cvxpy.Parameter` values. Products of data that would break DPP
(parameter times parameter-affine) are precomputed in numpy and passed as Parameters.
No block knows about a particular activation: each calls the atoms' own expressions,

* the **u-side** of layer ``l``, :math:`D_l(u, Z)` with ``u`` affine in the variables and
  ``Z`` data: ``joint(u, Z)``, or :math:`\Phi^*(u) - \langle u, Z\rangle` with the
  bilinear term rewritten on precomputed products (e.g. :math:`\langle WA, Z\rangle =
  \langle W, ZA^T\rangle`);
* the **z-side**, :math:`D_l(U_0, z)` with ``U_0`` data: ``joint(U0, z)``, or
  :math:`\Phi(z) - \langle U_0, z\rangle`.

Terms constant in a block's variables (e.g. :math:`\Phi^*(U_0)`) are left out of the block;
the network evaluates the full objective (10) in numpy.

Blocks (paper section 6):

==================  =========================================================================
``WStep(l)``        :math:`\min_{W,b}\ \lambda_{l+1} D_l(W X_l + b\mathbf 1^T, X_{l+1}) + \rho_l\|W\|_F^2`
``XStep(l)``        :math:`\min_Z\ \lambda_l D_{l-1}(U_0, Z) + \lambda_{l+1} D_l(W_l Z + b_l\mathbf 1^T, X_{l+1})` (eq. 13)
``OutputStep``      :math:`\min_Z\ \mathcal L(Y, Z) + \lambda_{L+1} D_L(U_0, Z)` (eq. 14/15)
``JointXStep``      all states at once (every form jointly convex)
``Prediction``      :math:`\min_{x_1..x_{L+1}} \sum_l \lambda_{l+1} D_l(W_l x_l + b_l, x_{l+1})` (eq. 12, jointly convex forms)
==================  =========================================================================

The column-separable blocks (all but the W-step) are built for a chunk of columns and
re-solved chunk by chunk (see :func:`chunk_size`).
"""
import numpy as np
import cvxpy as cp

from . import cvxsolve

#: Budget on the entries of the DPP parameter tensor of one block (sets the chunk size).
DPP_BUDGET = 2_000_000


def chunk_size(m, cost_per_column, budget=DPP_BUDGET):
    """Columns per chunk so that ``cost_per_column * chunk <= budget`` (at least 1, at most m)."""
    return int(max(1, min(m, budget // max(1, int(cost_per_column)))))


def _bias(b, m):
    """``b 1^T`` for a bias vector expression ``b``."""
    return cp.reshape(b, (b.shape[0], 1), order="F") @ np.ones((1, m))


def z_side(d, form, U0, Z):
    """:math:`D(U_0, Z)` up to terms constant in ``Z`` (``U0`` data, ``Z`` variable)."""
    if form == "fenchel":
        return d.phi(Z) - cp.sum(cp.multiply(U0, Z))
    return d.joint(U0, Z)


class Block:
    """A compiled block: a CVXPY problem, its Parameters and its Variables."""

    kind = "block"

    def __init__(self, problem, params, variables, problem_class, name):
        self.problem = problem
        self.params = params
        self.variables = variables
        self.problem_class = problem_class
        self.name = name
        self.last = None

    def solve(self, solver=None, accuracy="default", allow_inaccurate=False):
        self.last = cvxsolve.solve(self.problem, self.problem_class, solver=solver, block=self.name,
                                   accuracy=accuracy, allow_inaccurate=allow_inaccurate)
        return self.last

    def is_dpp(self):
        return self.problem.is_dcp(dpp=True)

    def __str__(self):
        return f"{self.name}:\n{self.problem}"


class WStep(Block):
    r"""W-step of layer ``l`` for ``m`` columns: ridge / GLM fit of :math:`X_{l+1}` on :math:`X_l`."""

    kind = "w_step"

    def __init__(self, net, l, m):
        d, form = net.activations_[l], net.forms_[l]
        p, n_u, k = net.sizes[l], net.u_dims_[l], net.sizes[l + 1]
        W = cp.Variable((n_u, p), name=f"W{l}")
        b = cp.Variable(n_u, name=f"b{l}")
        A = cp.Parameter((p, m), name=f"X{l}")
        U = W @ A + _bias(b, m)
        params = {"A": A}
        if form == "fenchel":
            C = cp.Parameter((n_u, p), name=f"X{l + 1}X{l}T")
            c = cp.Parameter(n_u, name=f"X{l + 1}1")
            params.update(C=C, c=c)
            D = d.phi_star(U) - cp.sum(cp.multiply(W, C)) - c @ b
        else:
            Z = cp.Parameter((k, m), name=f"X{l + 1}")
            params["Z"] = Z
            D = d.joint(U, Z)
        obj = net.lam_[l] * D + net.rho_[l] * cp.sum_squares(W)
        super().__init__(cp.Problem(cp.Minimize(obj)), params, {"W": W, "b": b},
                         d.problem_class(form), f"layer {l}, W-step")
        self.form = form

    def set(self, A, Z):
        self.params["A"].value = A
        if self.form == "fenchel":
            self.params["C"].value = Z @ A.T
            self.params["c"].value = Z.sum(axis=1)
        else:
            self.params["Z"].value = Z

    def result(self):
        return np.array(self.variables["W"].value), np.array(self.variables["b"].value)


class XStep(Block):
    r"""X-step of hidden layer ``l`` (1 <= l <= L) for a chunk of ``m`` columns (eq. 13)."""

    kind = "x_step"

    def __init__(self, net, l, m):
        dp, fp = net.activations_[l - 1], net.forms_[l - 1]
        dn, fn = net.activations_[l], net.forms_[l]
        p, n_u_prev, n_u, k = net.sizes[l], net.u_dims_[l - 1], net.u_dims_[l], net.sizes[l + 1]
        Z = cp.Variable((p, m), name=f"X{l}")
        U0 = cp.Parameter((n_u_prev, m), name=f"U{l - 1}")
        W = cp.Parameter((n_u, p), name=f"W{l}")
        b = cp.Parameter(n_u, name=f"b{l}")
        params = {"U0": U0, "W": W, "b": b}
        U = W @ Z + _bias(b, m)
        if fn == "fenchel":
            G = cp.Parameter((p, m), name=f"W{l}TX{l + 1}")
            params["G"] = G
            Dn = dn.phi_star(U) - cp.sum(cp.multiply(G, Z))
        else:
            Zn = cp.Parameter((k, m), name=f"X{l + 1}")
            params["Zn"] = Zn
            Dn = dn.joint(U, Zn)
        obj = net.lam_[l - 1] * z_side(dp, fp, U0, Z) + net.lam_[l] * Dn
        pclass = cvxsolve.combine_classes(dp.problem_class(fp), dn.problem_class(fn))
        super().__init__(cp.Problem(cp.Minimize(obj)), params, {"Z": Z}, pclass, f"layer {l}, X-step")
        self.fn = fn

    def set(self, U0, W, b, Zn):
        self.params["U0"].value = U0
        self.params["W"].value = W
        self.params["b"].value = b
        if self.fn == "fenchel":
            self.params["G"].value = W.T @ Zn  # <W Z + b, Zn> = <Z, W^T Zn> + const
        else:
            self.params["Zn"].value = Zn

    def result(self):
        return np.array(self.variables["Z"].value)


class OutputStep(Block):
    r"""Output step for a chunk of ``m`` columns (eq. 14/15)."""

    kind = "output_step"

    def __init__(self, net, m):
        L1 = net.n_layers - 1
        d, form = net.activations_[L1], net.forms_[L1]
        k = net.sizes[-1]
        Z = cp.Variable((k, m), name=f"X{L1 + 1}")
        U0 = cp.Parameter((net.u_dims_[L1], m), name=f"U{L1}")
        Y = cp.Parameter((k, m), name="Y", nonneg=net.loss_.name == "cross_entropy")
        obj = net.loss_.expr(Y, Z) + net.lam_[L1] * z_side(d, form, U0, Z)
        pclass = cvxsolve.combine_classes(d.problem_class(form), net.loss_.problem_class)
        super().__init__(cp.Problem(cp.Minimize(obj)), {"U0": U0, "Y": Y}, {"Z": Z}, pclass, "output step")

    def set(self, U0, Y):
        self.params["U0"].value = U0
        self.params["Y"].value = Y

    def result(self):
        return np.array(self.variables["Z"].value)


class _AllStates(Block):
    """Shared builder of the blocks over every state X_1..X_{L+1} at once."""

    def _build(self, net, m, with_loss):
        Ls = net.n_layers
        X = [cp.Variable((net.sizes[l + 1], m), name=f"X{l + 1}") for l in range(Ls)]
        U0 = cp.Parameter((net.u_dims_[0], m), name="U0")
        params = {"U0": U0}
        Ws, bs = [None], [None]
        for l in range(1, Ls):
            Ws.append(cp.Parameter((net.u_dims_[l], net.sizes[l]), name=f"W{l}"))
            bs.append(cp.Parameter(net.u_dims_[l], name=f"b{l}"))
        params["W"], params["b"] = Ws, bs
        terms = [net.lam_[0] * z_side(net.activations_[0], net.forms_[0], U0, X[0])]
        for l in range(1, Ls):
            U = Ws[l] @ X[l - 1] + _bias(bs[l], m)
            terms.append(net.lam_[l] * net.activations_[l].divergence(U, X[l], net.forms_[l]))
        classes = [a.problem_class(f) for a, f in zip(net.activations_, net.forms_)]
        if with_loss:
            Y = cp.Parameter((net.sizes[-1], m), name="Y", nonneg=net.loss_.name == "cross_entropy")
            params["Y"] = Y
            terms.append(net.loss_.expr(Y, X[-1]))
            classes.append(net.loss_.problem_class)
        return cp.Problem(cp.Minimize(cp.sum(cp.hstack(terms)))), params, {"X": X}, cvxsolve.combine_classes(*classes)

    def set_weights(self, net, U0):
        self.params["U0"].value = U0
        for l in range(1, net.n_layers):
            self.params["W"][l].value = net.weights_[l]
            self.params["b"][l].value = net.biases_[l]

    def result(self):
        return [np.array(x.value) for x in self.variables["X"]]


class JointXStep(_AllStates):
    """Every state at once, with the loss: one convex problem when every form is joint."""

    kind = "joint_x_step"

    def __init__(self, net, m):
        super().__init__(*self._build(net, m, with_loss=True), "joint X-step")

    def set(self, net, U0, Y):
        self.set_weights(net, U0)
        self.params["Y"].value = Y


class Prediction(_AllStates):
    """The lifted prediction rule (12) with the loss minimised out (``y = x_{L+1}``)."""

    kind = "prediction"

    def __init__(self, net, m):
        super().__init__(*self._build(net, m, with_loss=False), "lifted prediction (12)")

    def set(self, net, U0):
        self.set_weights(net, U0)
