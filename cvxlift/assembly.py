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

**Penalties are Parameters.** The weights :math:`\lambda_l, \rho_l` enter every block as
nonnegative :class:`cvxpy.Parameter` values (:meth:`Block.set_penalties`), so that penalty
continuation re-solves the same compiled problem. DPP allows a Parameter only as a factor of
a parameter-free expression, so each block is written accordingly: the W-step is divided by
:math:`\lambda` (its minimiser is unchanged), the X-step by :math:`\lambda_{next}`; a
divergence term whose arguments hold data gets an auxiliary variable tied to the data by an
equality constraint (:math:`V = U_0`, :math:`V_l = W_lX_l + b_l\mathbf 1^T`), and a
Fenchel-Young bilinear term takes its factor into a precomputed product
(:math:`\lambda\langle U_0, Z\rangle = \langle \lambda U_0, Z\rangle`).

Blocks are built from explicit pieces (atoms, forms, sizes; :func:`for_network` builds the
blocks of a :class:`~cvxlift.LiftedNetwork`), so that any block can be assembled without a
network (reference solutions, certification of user solvers).

Blocks (paper section 6):

==================  =========================================================================
``WStep(l)``        :math:`\min_{W,b}\ \lambda_{l+1} D_l(W X_l + b\mathbf 1^T, X_{l+1}) + \rho_l\|W\|_F^2`
``XStep(l)``        :math:`\min_Z\ \lambda_l D_{l-1}(U_0, Z) + \lambda_{l+1} D_l(W_lZ + b_l\mathbf 1^T, X_{l+1})` (13)
``OutputStep``      :math:`\min_Z\ \mathcal L(Y, Z) + \lambda_{L+1} D_L(U_0, Z)` (eq. 14/15)
``JointXStep``      all states at once (every form jointly convex)
``Prediction``      :math:`\min_{x_1..x_{L+1}} \sum_l \lambda_{l+1} D_l(W_l x_l + b_l, x_{l+1})` (12), joint forms
==================  =========================================================================

The column-separable blocks (all but the W-step) are built for a chunk of columns and
re-solved chunk by chunk (see :func:`chunk_size`).
"""

import cvxpy as cp
import numpy as np

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


def _weighted_z_side(d, form, n_u, m, Z, weight, tag):
    r""":math:`w\,D(U_0, Z)` up to terms constant in ``Z``, DPP with ``w`` a Parameter.

    Returns ``(expr, params, constraints, setter)``; ``setter(U0, w)`` gives the data their
    values. Fenchel-Young: :math:`w\Phi(Z) - \langle wU_0, Z\rangle` with the product
    :math:`wU_0` a Parameter. Joint: :math:`w D(V, Z)` with an auxiliary variable
    :math:`V = U_0`.
    """
    if form == "fenchel":
        G = cp.Parameter((n_u, m), name=f"{tag}U0")
        expr = weight * d.phi(Z) - cp.sum(cp.multiply(G, Z))

        def setter(U0, w):
            G.value = w * U0

        return expr, {"G_" + tag: G}, [], setter
    U0 = cp.Parameter((n_u, m), name=f"U{tag}")
    V = cp.Variable((n_u, m), name=f"V{tag}")

    def setter(U0v, w):
        U0.value = U0v

    return weight * d.joint(V, Z), {"U0_" + tag: U0}, [V == U0], setter


def _nonneg(name):
    return cp.Parameter(nonneg=True, name=name)


class Block:
    """A compiled block: a CVXPY problem, its Parameters and its Variables."""

    kind = "block"

    #: Number of blocks built in this process (one CVXPY compilation each: re-solves reuse it).
    built = 0

    def __init__(self, problem, params, variables, problem_class, name):
        self.problem = problem
        self.params = params
        self.variables = variables
        self.problem_class = problem_class
        self.name = name
        self.last = None
        Block.built += 1

    def set_penalties(self, **values):
        """Give the penalty Parameters (``lam``, ``rho``, ``lam_prev``, ``lam_next``, ``lams``)
        their values; each block documents the ones it takes."""
        raise NotImplementedError

    def solve(self, solver=None, accuracy="default", allow_inaccurate=False):
        self.last = cvxsolve.solve(
            self.problem,
            self.problem_class,
            solver=solver,
            block=self.name,
            accuracy=accuracy,
            allow_inaccurate=allow_inaccurate,
        )
        return self.last

    def is_dpp(self):
        return self.problem.is_dcp(dpp=True)

    def __str__(self):
        return f"{self.name}:\n{self.problem}"


class WStep(Block):
    r"""W-step of one layer for ``m`` columns: ridge / GLM fit of :math:`X_{l+1}` on :math:`X_l`.

    .. math:: \min_{W,b}\ D(WA + b\mathbf 1^T, Z) + (\rho/\lambda)\|W\|_F^2

    (the block objective divided by :math:`\lambda`). ``d`` maps columns of length
    ``d.in_dim(k)`` to length ``k``; ``A`` is ``p x m``.
    Data: :meth:`set` ``(A, Z)``; penalties: :meth:`set_penalties` ``(lam, rho)``.
    """

    kind = "w_step"

    def __init__(self, d, form, p, k, m, name="W-step", tag=""):
        form = d.check_form(form)
        n_u = d.in_dim(k)
        W = cp.Variable((n_u, p), name=f"W{tag}")
        b = cp.Variable(n_u, name=f"b{tag}")
        A = cp.Parameter((p, m), name=f"X{tag}")
        U = W @ A + _bias(b, m)
        params = {"A": A, "ratio": _nonneg("rho_over_lam")}
        if form == "fenchel":
            C = cp.Parameter((n_u, p), name="ZAT")
            c = cp.Parameter(n_u, name="Z1")
            params.update(C=C, c=c)
            D = d.phi_star(U) - cp.sum(cp.multiply(W, C)) - c @ b
        else:
            Z = cp.Parameter((k, m), name="Z")
            params["Z"] = Z
            D = d.joint(U, Z)
        obj = D + params["ratio"] * cp.sum_squares(W)
        super().__init__(cp.Problem(cp.Minimize(obj)), params, {"W": W, "b": b}, d.problem_class(form), name)
        self.form = form

    def set_penalties(self, lam, rho):
        self.params["ratio"].value = float(rho) / float(lam)

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
    r"""X-step of a hidden layer for a chunk of ``m`` columns (eq. 13), divided by :math:`\lambda_{next}`:

    .. math:: \min_Z\ (\lambda_{prev}/\lambda_{next}) D_{prev}(U_0, Z) + D_{next}(WZ + b\mathbf 1^T, Z_{next}).

    ``Z`` is ``p x m``; ``d_next`` produces ``k`` rows. Data: :meth:`set`
    ``(U0, W, b, Zn)``; penalties: :meth:`set_penalties` ``(lam_prev, lam_next)``.
    """

    kind = "x_step"

    def __init__(self, d_prev, f_prev, d_next, f_next, p, k, m, name="X-step", tag=""):
        fp, fn = d_prev.check_form(f_prev), d_next.check_form(f_next)
        n_u_prev, n_u = d_prev.in_dim(p), d_next.in_dim(k)
        Z = cp.Variable((p, m), name=f"X{tag}")
        W = cp.Parameter((n_u, p), name="W")
        b = cp.Parameter(n_u, name="b")
        ratio = _nonneg("lam_prev_over_lam_next")
        params = {"W": W, "b": b, "ratio": ratio}
        U = W @ Z + _bias(b, m)
        if fn == "fenchel":
            G = cp.Parameter((p, m), name="WTZn")
            params["G"] = G
            Dn = d_next.phi_star(U) - cp.sum(cp.multiply(G, Z))
        else:
            Zn = cp.Parameter((k, m), name="Zn")
            params["Zn"] = Zn
            Dn = d_next.joint(U, Zn)
        prev, p_params, cons, self._set_prev = _weighted_z_side(d_prev, fp, n_u_prev, m, Z, ratio, "prev")
        params.update(p_params)
        pclass = cvxsolve.combine_classes(d_prev.problem_class(fp), d_next.problem_class(fn))
        super().__init__(cp.Problem(cp.Minimize(prev + Dn), cons), params, {"Z": Z}, pclass, name)
        self.fn = fn
        self._U0 = None

    def set_penalties(self, lam_prev, lam_next):
        self.params["ratio"].value = float(lam_prev) / float(lam_next)
        if self._U0 is not None:
            self._set_prev(self._U0, self.params["ratio"].value)

    def set(self, U0, W, b, Zn):
        self._U0 = U0
        if self.params["ratio"].value is not None:
            self._set_prev(U0, self.params["ratio"].value)
        self.params["W"].value = W
        self.params["b"].value = b
        if self.fn == "fenchel":
            self.params["G"].value = W.T @ Zn  # <W Z + b, Zn> = <Z, W^T Zn> + const
        else:
            self.params["Zn"].value = Zn

    def result(self):
        return np.array(self.variables["Z"].value)


class OutputStep(Block):
    r"""Output step for a chunk of ``m`` columns (eq. 14/15):

    .. math:: \min_Z\ \mathcal L(Y, Z) + \lambda D(U_0, Z).

    Data: :meth:`set` ``(U0, Y)``; penalty: :meth:`set_penalties` ``(lam)``.
    """

    kind = "output_step"

    def __init__(self, d, form, loss, k, m, name="output step", tag=""):
        form = d.check_form(form)
        Z = cp.Variable((k, m), name=f"X{tag}")
        Y = cp.Parameter((k, m), name="Y", nonneg=loss.name == "cross_entropy")
        lam = _nonneg("lam")
        term, params, cons, self._set_prev = _weighted_z_side(d, form, d.in_dim(k), m, Z, lam, "out")
        params.update(Y=Y, lam=lam)
        pclass = cvxsolve.combine_classes(d.problem_class(form), loss.problem_class)
        super().__init__(cp.Problem(cp.Minimize(loss.expr(Y, Z) + term), cons), params, {"Z": Z}, pclass, name)
        self._U0 = None

    def set_penalties(self, lam):
        self.params["lam"].value = float(lam)
        if self._U0 is not None:
            self._set_prev(self._U0, float(lam))

    def set(self, U0, Y):
        self._U0 = U0
        if self.params["lam"].value is not None:
            self._set_prev(U0, self.params["lam"].value)
        self.params["Y"].value = Y

    def result(self):
        return np.array(self.variables["Z"].value)


class _AllStates(Block):
    r"""Shared builder of the blocks over every state :math:`X_1..X_{L+1}` at once.

    ``sizes`` is ``[n_0, ..., n_{L+1}]`` as in :class:`~cvxlift.LiftedNetwork`; the data are
    :math:`U_0 = W_0X_0 + b_0\mathbf 1^T` and the weights of layers ``1..L``.
    """

    def _build(self, divs, forms, sizes, m, loss):
        Ls = len(divs)
        forms = [d.check_form(f) for d, f in zip(divs, forms)]
        X = [cp.Variable((sizes[l + 1], m), name=f"X{l + 1}") for l in range(Ls)]
        lams = [_nonneg(f"lam{l + 1}") for l in range(Ls)]
        params = {"lams": lams}
        Ws, bs = [None], [None]
        terms, cons = [], []
        first, p0, c0, self._set_first = _weighted_z_side(
            divs[0], forms[0], divs[0].in_dim(sizes[1]), m, X[0], lams[0], "0"
        )
        params.update(p0)
        cons += c0
        terms.append(first)
        for l in range(1, Ls):
            n_u = divs[l].in_dim(sizes[l + 1])
            Ws.append(cp.Parameter((n_u, sizes[l]), name=f"W{l}"))
            bs.append(cp.Parameter(n_u, name=f"b{l}"))
            V = cp.Variable((n_u, m), name=f"U{l}")
            cons.append(V == Ws[l] @ X[l - 1] + _bias(bs[l], m))
            terms.append(lams[l] * divs[l].divergence(V, X[l], forms[l]))
        params["W"], params["b"] = Ws, bs
        classes = [a.problem_class(f) for a, f in zip(divs, forms)]
        if loss is not None:
            Y = cp.Parameter((sizes[-1], m), name="Y", nonneg=loss.name == "cross_entropy")
            params["Y"] = Y
            terms.append(loss.expr(Y, X[-1]))
            classes.append(loss.problem_class)
        self._U0 = None
        self.n_layers = Ls
        problem = cp.Problem(cp.Minimize(cp.sum(cp.hstack(terms))), cons)
        return problem, params, {"X": X}, cvxsolve.combine_classes(*classes)

    def set_penalties(self, lams):
        r"""``lams``: :math:`\lambda_1..\lambda_{L+1}`, one per layer."""
        if len(lams) != self.n_layers:
            raise ValueError(f"lams must have {self.n_layers} entries, got {len(lams)}")
        for P, v in zip(self.params["lams"], lams):
            P.value = float(v)
        if self._U0 is not None:
            self._set_first(self._U0, float(lams[0]))

    def set_weights(self, U0, weights, biases):
        """``U0`` and the weights/biases of layers ``1..L`` (``weights[0]`` is not used)."""
        self._U0 = U0
        if self.params["lams"][0].value is not None:
            self._set_first(U0, self.params["lams"][0].value)
        for l in range(1, self.n_layers):
            self.params["W"][l].value = weights[l]
            self.params["b"][l].value = biases[l]

    def result(self):
        return [np.array(x.value) for x in self.variables["X"]]


class JointXStep(_AllStates):
    """Every state at once, with the loss: one convex problem when every form is joint.

    Data: :meth:`set` ``(U0, weights, biases, Y)``; penalties: :meth:`set_penalties` ``(lams)``.
    """

    kind = "joint_x_step"

    def __init__(self, divs, forms, loss, sizes, m, name="joint X-step"):
        super().__init__(*self._build(divs, forms, sizes, m, loss), name)

    def set(self, U0, weights, biases, Y):
        self.set_weights(U0, weights, biases)
        self.params["Y"].value = Y


class Prediction(_AllStates):
    """The lifted prediction rule (12) with the loss minimised out (``y = x_{L+1}``).

    Data: :meth:`set` ``(U0, weights, biases)``; penalties: :meth:`set_penalties` ``(lams)``.
    """

    kind = "prediction"

    def __init__(self, divs, forms, sizes, m, name="lifted prediction (12)"):
        super().__init__(*self._build(divs, forms, sizes, m, None), name)

    def set(self, U0, weights, biases):
        self.set_weights(U0, weights, biases)


#: Block kinds of :func:`for_network`.
KINDS = ("w_step", "x_step", "output_step", "joint_x_step", "prediction")


def for_network(net, kind, l, m):
    """The block ``kind`` of layer ``l`` of network ``net`` for ``m`` columns, its penalties set
    to the network's ``lam_``/``rho_``.

    Parameters
    ----------
    net : LiftedNetwork
        The description (atoms, forms, sizes, loss, penalties).
    kind : {"w_step", "x_step", "output_step", "joint_x_step", "prediction"}
    l : int or None
        Layer: ``0..L`` for ``"w_step"``, ``1..L`` for ``"x_step"``; ``None`` otherwise.
    m : int
        Columns.

    Returns
    -------
    Block
    """
    A, F, S = net.activations_, net.forms_, net.sizes
    if kind == "w_step":
        blk = WStep(A[l], F[l], S[l], S[l + 1], m, name=f"layer {l}, W-step", tag=str(l))
    elif kind == "x_step":
        blk = XStep(A[l - 1], F[l - 1], A[l], F[l], S[l], S[l + 1], m, name=f"layer {l}, X-step", tag=str(l))
    elif kind == "output_step":
        blk = OutputStep(A[-1], F[-1], net.loss_, S[-1], m, tag=str(len(A)))
    elif kind == "joint_x_step":
        blk = JointXStep(A, F, net.loss_, S, m)
    elif kind == "prediction":
        blk = Prediction(A, F, S, m)
    else:
        raise ValueError(f"kind must be one of {KINDS}, got {kind!r}")
    set_network_penalties(blk, net, l)
    return blk


def set_network_penalties(blk, net, l=None):
    """Set the penalties of a block built by :func:`for_network` to ``net``'s current values."""
    if blk.kind == "w_step":
        blk.set_penalties(lam=net.lam_[l], rho=net.rho_[l])
    elif blk.kind == "x_step":
        blk.set_penalties(lam_prev=net.lam_[l - 1], lam_next=net.lam_[l])
    elif blk.kind == "output_step":
        blk.set_penalties(lam=net.lam_[-1])
    else:
        blk.set_penalties(lams=list(net.lam_))
