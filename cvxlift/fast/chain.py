r"""Problems over every state of a lifted network at once: the *chain*.

Both the lifted prediction rule (12) and the joint X-step minimise, column by column,

.. math:: F(x_1, \dots, x_{L+1}) = \ell(y, x_{L+1}) + \sum_{l=0}^{L} \lambda_l D_l(u_l, x_{l+1}),
          \qquad u_0 \text{ fixed},\quad u_l = W_lx_l + b_l \ (l \ge 1),

with :math:`\ell = 0` for the prediction (the loss minimised out, :math:`y = x_{L+1}`) and
:math:`\ell` the training loss for the joint X-step. Within a column the variables form a
chain: :math:`x_l` meets only :math:`x_{l-1}` and :math:`x_{l+1}`.

The last state is minimised out in closed form, :math:`x_{L+1} = x^\star(u_L)`, leaving the
*envelope* :math:`E(u_L) = \min_z \ell(y, z) + \lambda_L D_L(u_L, z)`, whose gradient is
:math:`\lambda_L\nabla_uD_L(u_L, x^\star)` (Danskin). Where the structure allows it, the
envelope also gives its generalised Hessian :math:`K = c\,(I - \partial x^\star)`, with
:math:`\partial x^\star = \mathrm{diag}(\delta) - s\,\delta\delta^T/\mathbf 1^T\delta`
(:math:`s = 1` for a simplex output, else 0; :math:`0 \le \delta \le 1`), so that
:math:`0 \preceq K \preceq cI`:

=====================================================  ===========================================
last layer (and loss)                                  :math:`x^\star`, :math:`K`
=====================================================  ===========================================
prediction, Fenchel-Young form                         :math:`\phi(u)`; :math:`E = 0`, :math:`K = 0`
prediction, :math:`\mu\|z - u\|^2 + I_C(z)`            :math:`\Pi_C(u)`; :math:`E = \lambda\mu\,\mathrm{dist}_C(u)^2`,
                                                       :math:`c = 2\lambda\mu`, :math:`\delta` the free
                                                       coordinates (box) or the support (simplex)
squared loss, :math:`\mu\|z - u\|^2 + I_C(z)`          :math:`\Pi_C((y + \Lambda u)/(1 + \Lambda))`,
                                                       :math:`\Lambda = \lambda\mu`; :math:`c = 2\Lambda`,
                                                       :math:`\delta = \Lambda/(1+\Lambda)` on the free
                                                       coordinates (box) or the support (simplex)
cross-entropy, :math:`\mu\|z - u\|^2 + I_\Delta(z)`    Appendix A; :math:`c = 2\Lambda`,
                                                       :math:`\delta_i = z_i^2/(z_i^2 + y_i/(2\Lambda))` on the support
other smooth-in-``u`` last layers                      ``forward`` / the output step; gradient only
=====================================================  ===========================================

(The cross-entropy row by implicit differentiation of Appendix A's optimality condition
:math:`z_i^2 - (u_i + \nu)z_i - y_i/(2\Lambda) = 0`, :math:`\mathbf 1^Tz = 1`.)

:class:`ChainProblem` holds the data; the solvers are in :mod:`cvxlift.fast.chain_newton`
and :mod:`cvxlift.fast.chain_first_order`.
"""

import math

from .. import arrays as ax
from ..exceptions import ValidationError
from ._common import as_matrix, as_vector, colnorm
from .registry import NoFastSolver, atom_props, candidates, select

#: z-domains whose projection acts entry by entry (boxes, possibly unbounded).
BOX = ("real", "nonneg", "box")
LOSSES = ("squared", "cross_entropy")


def colsq(A):
    """Squared norm of each column."""
    return ax.coldot(A, A)


# ---------------------------------------------------------------------------------------- envelopes
def envelope_structure(last, loss=None):
    """What the envelope of the last layer (its :class:`~cvxlift.fast.AtomProps` ``last``) offers.

    Returns ``(smooth, hessian, constant)``: the envelope is smooth and convex (a gradient
    method applies), its generalised Hessian :math:`K` is known, and :math:`K` is the same
    for every column. Matches the classes below.
    """
    quad = last.u_quadratic is not None and last.domain in BOX + ("simplex",)
    if loss is None:
        if last.form == "fenchel":
            return True, True, True
        smooth = last.u_lipschitz is not None
        return smooth, quad, quad and last.domain == "real"
    if last.form != "joint" or last.u_lipschitz is None:
        return False, False, False
    if loss == "cross_entropy":
        ok = last.domain == "simplex"
        return ok, ok and quad, False
    return True, quad, quad and last.domain == "real"


class Envelope:
    r"""The last layer with its state minimised out: :math:`E(u) = \min_z \ell(y, z) + \lambda D(u, z)`.

    Subclasses give :meth:`state` (the minimiser :math:`x^\star(u)`), :meth:`value` and
    :meth:`grad` per column, ``lipschitz`` (of the gradient), and, where known, the
    generalised Hessian through :meth:`hessian`.
    """

    #: Lipschitz constant of :math:`\nabla E`.
    lipschitz = 0.0
    #: ``c`` of :math:`K = c(I - \partial x^\star)` when :math:`K` is available, else ``None``.
    c = None
    #: ``True`` when :math:`\partial x^\star` has the simplex's rank-one term.
    simplex = False
    #: When :math:`\partial x^\star = \theta I` for every column, ``theta`` (then ``K`` is constant).
    constant_theta = None

    def __init__(self, d, form, lam, props, Y=None):
        self.d, self.form, self.lam, self.props, self.Y = d, form, lam, props, Y

    def sub(self, cols):
        """The envelope of the columns ``cols`` (targets sliced)."""
        out = object.__new__(type(self))
        out.__dict__.update(self.__dict__)
        if self.Y is not None:
            out.Y = self.Y[:, cols]
        return out

    def state(self, U):
        raise NotImplementedError

    def value(self, U, Z):
        raise NotImplementedError

    def grad(self, U, Z):
        return self.lam * self.d.u_gradient(U, Z, self.form)

    def hessian(self, U, Z):
        """``delta`` (``(q, m)``) of :math:`\\partial x^\\star` at ``(U, Z = state(U))``."""
        raise NotImplementedError


class ZeroEnvelope(Envelope):
    """Prediction with a Fenchel-Young last layer: :math:`\\min_z D(u, z) = 0` at :math:`z = \\phi(u)`."""

    c = 0.0
    constant_theta = 1.0

    def state(self, U):
        return self.d.forward(U)

    def value(self, U, Z):
        xp = ax.namespace(U)
        return xp.zeros(U.shape[1], dtype=xp.float64, device=ax.device_of(U))

    def grad(self, U, Z):
        return ax.namespace(U).zeros_like(U)


class DistEnvelope(Envelope):
    r"""Prediction with :math:`D = \mu\|z - u\|^2 + I_C(z)`: :math:`E = \lambda\mu\,\mathrm{dist}_C(u)^2`."""

    def __init__(self, d, form, lam, props, Y=None):
        super().__init__(d, form, lam, props, Y)
        self.a = lam * props.u_quadratic
        self.lipschitz = 2.0 * self.a
        self.c = 2.0 * self.a
        self.simplex = props.domain == "simplex"
        self.constant_theta = 1.0 if props.domain == "real" else None

    def state(self, U):
        return self.d.project_domain(U)

    def value(self, U, Z):
        return self.a * colsq(U - Z)

    def grad(self, U, Z):
        return self.c * (U - Z)

    def hessian(self, U, Z):
        xp = ax.namespace(Z)
        return xp.astype((Z > 0) if self.simplex else ~at_bound(self.d, Z), xp.float64)


class GenericEnvelope(Envelope):
    """Prediction with a last layer smooth in ``u``: :math:`x^\\star = \\phi(u)`, gradient only."""

    def __init__(self, d, form, lam, props, Y=None):
        super().__init__(d, form, lam, props, Y)
        self.lipschitz = None if props.u_lipschitz is None else lam * props.u_lipschitz

    def state(self, U):
        return self.d.forward(U)

    def value(self, U, Z):
        return self.lam * self.d.divergence_value(U, Z, self.form)


def loss_columns(Y, Z, loss):
    """The loss per column (``inf`` where cross-entropy meets a zero probability of a positive target)."""
    if loss == "squared":
        return colsq(Z - Y)
    xp = ax.namespace(Z)
    pos = Y > 0
    bad = xp.any(pos & (Z <= 0), axis=0)
    with ax.errstate(xp, divide="ignore", invalid="ignore"):
        val = -xp.sum(Y * xp.log(xp.where(pos, Z, 1.0)), axis=0)  # y log z, 0 where y = 0
    return xp.where(bad, xp.inf, val)


class OutputEnvelope(Envelope):
    r"""Joint X-step: :math:`E(u) = \min_z \ell(y, z) + \lambda D(u, z)`, solved by the output step."""

    def __init__(self, d, form, lam, props, Y, loss):
        super().__init__(d, form, lam, props, Y)
        self.loss = loss
        self.out = select("output_step", atom=props, loss=loss)
        self.lipschitz = None if props.u_lipschitz is None else lam * props.u_lipschitz
        uq = props.u_quadratic
        if uq is not None and props.domain in BOX + ("simplex",):
            self.Lam = lam * uq
            self.c = 2.0 * self.Lam
            self.simplex = props.domain == "simplex"
            if loss == "squared" and props.domain == "real":
                self.constant_theta = self.Lam / (1.0 + self.Lam)
            if loss == "cross_entropy" and not self.simplex:
                self.c = None

    def state(self, U):
        return self.out.solver(U, self.Y, self.d, self.form, self.lam, self.props)[0]

    def value(self, U, Z):
        return loss_columns(self.Y, Z, self.loss) + self.lam * self.d.divergence_value(U, Z, self.form)

    def grad(self, U, Z):
        if self.c is not None:
            return self.c * (U - Z)
        return super().grad(U, Z)

    def hessian(self, U, Z):
        if self.loss == "cross_entropy":
            xp = ax.namespace(Z)
            C = self.Y / (2.0 * self.Lam)
            Z2 = Z * Z
            with ax.errstate(xp, invalid="ignore", divide="ignore"):
                delta = xp.where(Z > 0, Z2 / (Z2 + C), 0.0)
            return delta
        theta = self.Lam / (1.0 + self.Lam)
        xp = ax.namespace(Z)
        return theta * xp.astype((Z > 0) if self.simplex else ~at_bound(self.d, Z), xp.float64)


# ---------------------------------------------------------------------------------------- the problem
class ChainProblem:
    r"""The data of one chain problem (see the module docstring), for all columns.

    Parameters
    ----------
    U0 : (n_u0, m) array
        The first pre-activation :math:`u_0 = W_0x_0 + b_0` (fixed).
    weights, biases : sequences of the L+1 layers' :math:`W_l`, :math:`b_l` (entry 0 unused).
    divs, forms : the L+1 layers' divergences and forms.
    lams : L+1 positive numbers; ``lams[l]`` multiplies :math:`D_l`.
    loss : None (prediction) or ``"squared"`` / ``"cross_entropy"`` (joint X-step), with ``Y``.
    """

    def __init__(self, U0, weights, biases, divs, forms, lams, loss=None, Y=None):
        n = len(divs)
        if n == 0 or not (len(weights) == len(biases) == len(forms) == len(lams) == n):
            raise ValidationError(
                "weights, biases, divs, forms and lams must have the same positive length "
                f"(one entry per layer); got {len(weights)}, {len(biases)}, {len(divs)}, "
                f"{len(forms)} and {len(lams)}"
            )
        self.n = n
        raw = list(divs)
        self.forms = [d.check_form(f) for d, f in zip(raw, forms)]
        self.lams = [float(v) for v in lams]
        if any(not (math.isfinite(v) and v > 0) for v in self.lams):
            raise ValidationError(f"lams must be positive finite numbers, got {list(lams)}")
        self.U0 = as_matrix(U0, "U0")
        like = self.U0
        self.xp = ax.namespace(like)
        # atoms without array-API code are called through numpy (cvxlift.arrays.native)
        self.divs = [ax.native(d, like) for d in raw]
        self.m = self.U0.shape[1]
        self.divs[0].check_input_dim(self.U0.shape[0])
        rows = self.divs[0].out_dim(self.U0.shape[0])
        self.sizes = [rows]  # sizes[l] = rows of x_{l+1}
        self.weights, self.biases = [None], [None]
        for l in range(1, n):
            W = ax.asarray(as_matrix(weights[l], f"weights[{l}]"), like=like)
            if W.shape[1] != rows:
                raise ValidationError(
                    f"weights[{l}] must have {rows} columns (the output of layer {l - 1}); got shape {W.shape}"
                )
            self.divs[l].check_input_dim(W.shape[0])
            self.weights.append(W)
            self.biases.append(ax.asarray(as_vector(biases[l], f"biases[{l}]", W.shape[0]), like=like))
            rows = self.divs[l].out_dim(W.shape[0])
            self.sizes.append(rows)
        self.props = tuple(atom_props(d, f) for d, f in zip(raw, self.forms))
        self.loss = loss
        if loss is not None:
            if loss not in LOSSES:
                raise ValidationError(f"loss must be one of {LOSSES}, got {loss!r}")
            self.Y = ax.asarray(as_matrix(Y, "Y", rows=self.sizes[-1], cols=self.m), like=like)
            if loss == "cross_entropy" and bool(self.xp.any(self.Y < 0)):
                raise ValidationError("Y: cross-entropy targets must be non-negative")
        else:
            self.Y = None
        self._envelope = None

    @property
    def envelope(self):
        """The :class:`Envelope` of the last layer (built on first use)."""
        if self._envelope is None:
            self._envelope = self._make_envelope()
        return self._envelope

    def _make_envelope(self):
        d, f, lam, pr = self.divs[-1], self.forms[-1], self.lams[-1], self.props[-1]
        if self.loss is not None:
            return OutputEnvelope(d, f, lam, pr, self.Y, self.loss)
        if f == "fenchel":
            return ZeroEnvelope(d, f, lam, pr)
        if pr.u_quadratic is not None and pr.domain in BOX + ("simplex",):
            return DistEnvelope(d, f, lam, pr)
        return GenericEnvelope(d, f, lam, pr)

    # ------------------------------------------------------------------ states and objective
    def pre(self, l, Xl):
        """:math:`u_l = W_lx_l + b_l` (``l >= 1``)."""
        U = self.weights[l] @ Xl
        U += self.biases[l][:, None]
        return U

    def forward(self):
        """The forward pass from :math:`u_0`: every state :math:`x_{l+1} = \\phi_l(u_l)`."""
        states = [self.divs[0].forward(self.U0)]
        for l in range(1, self.n):
            states.append(self.divs[l].forward(self.pre(l, states[-1])))
        return states

    def complete(self, hidden, env=None, U0=None):
        """``hidden + [x_{L+1}]`` with the last state minimised out."""
        env = self.envelope if env is None else env
        if self.n == 1:
            return [env.state(self.U0 if U0 is None else U0)]
        return list(hidden) + [env.state(self.pre(self.n - 1, hidden[-1]))]

    def objective_columns(self, states, cols=None):
        """:math:`F` per column, with the atoms' exact numpy values (``inf`` outside a domain)."""
        U0 = self.U0 if cols is None else self.U0[:, cols]
        total = self.lams[0] * self.divs[0].divergence_value(U0, states[0], self.forms[0])
        for l in range(1, self.n):
            U = self.pre(l, states[l - 1])
            total = total + self.lams[l] * self.divs[l].divergence_value(U, states[l], self.forms[l])
        if self.loss is not None:
            Y = self.Y if cols is None else self.Y[:, cols]
            total = total + loss_columns(Y, states[-1], self.loss)
        return total

    def objective(self, states):
        """:math:`F` summed over the columns."""
        return float(self.xp.sum(self.objective_columns(states)))

    def check_states(self, Z0, name="Z0"):
        """``Z0`` as a list of float arrays of the right shapes (one per layer)."""
        if len(Z0) != self.n:
            raise ValidationError(f"{name} must hold {self.n} states (one per layer); got {len(Z0)}")
        return [
            ax.asarray(as_matrix(S, f"{name}[{l}]", rows=self.sizes[l], cols=self.m), like=self.U0)
            for l, S in enumerate(Z0)
        ]


def bounds(d, Z):
    r"""Masks of the entries of ``Z`` (in the box ``C`` of ``d``) at the lower and at the upper bound.

    Found with the atom's own projection: :math:`z_i` is at its lower bound exactly when
    :math:`\Pi_C(z - s)_i = z_i` for a step :math:`s > 0`."""
    step = 1.0 + ax.namespace(Z).abs(Z)
    return d.project_domain(Z - step) == Z, d.project_domain(Z + step) == Z


def at_bound(d, Z):
    """Mask of the entries of ``Z`` at a bound of the box ``C`` of ``d``."""
    lo, hi = bounds(d, Z)
    return lo | hi


def choose(kind, method, props, fits):
    """The registry's choice for ``kind`` (:func:`~cvxlift.fast.select` with ``props``), skipping the
    candidates whose size check ``fits[name]()`` fails (a structure that suits a solver whose
    per-column work grows too fast with the widths).

    The predicates only see the documented properties (``layers``, and ``loss`` for the joint
    X-step), so user-registered candidates keep working; sizes are checked here.
    """
    if method is not None:
        cand = select(kind, method=method, **props)
        check = fits.get(cand.name)
        if check is not None and not check():
            raise NoFastSolver(f"method {method!r} does not suit the sizes of this {kind} block")
        return cand
    for c in candidates(kind):
        check = fits.get(c.name)
        if c.predicate(**props) and (check is None or check()):
            return c
    cand = select(kind, **props)  # raises NoFastSolver, naming what each candidate needs
    raise NoFastSolver(f"no fast solver for the {kind} block suits its sizes ({cand.name} is too large)")


#: A column's new objective counts as worse than its warm start's only beyond this (relative)
#: rounding slack: the two are sums of the same terms evaluated at nearby points.
WORSE_RTOL = 1e-13


def worse_columns(new, old):
    """Indices of the columns whose objective ``new`` exceeds ``old`` beyond rounding (:data:`WORSE_RTOL`)."""
    xp = ax.namespace(new)
    return xp.nonzero(~(new <= old + WORSE_RTOL * xp.maximum(xp.abs(old), 1.0)))[0]


def relative(res, G):
    """The certificate: residual norm over ``1 + ||gradient||`` per column."""
    return colnorm(res) / (1.0 + colnorm(G))


__all__ = [
    "BOX",
    "at_bound",
    "bounds",
    "choose",
    "envelope_structure",
    "ChainProblem",
    "DistEnvelope",
    "Envelope",
    "GenericEnvelope",
    "OutputEnvelope",
    "ZeroEnvelope",
    "colsq",
    "loss_columns",
    "relative",
    "worse_columns",
]
