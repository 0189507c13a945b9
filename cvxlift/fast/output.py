r"""The output step (paper eq. 14/15): :math:`\min_Z \mathcal L(Y, Z) + \lambda D(U_0, Z)`.

``squared_prox`` (``loss="squared"``, every atom)
    :math:`\arg\min_Z \|Z - Y\|^2 + \lambda D(U_0, Z) = \mathrm{prox}_z(U_0, Y, \lambda/2)`,
    the atom's exact z-prox (closed form, or bisection to the last bit).
``ce_simplex_bisection`` (``loss="cross_entropy"``, ``z_quadratic = (mu, "simplex")``)
    Appendix A, vectorised over columns: with :math:`\Lambda = \lambda\mu`, one dual
    variable :math:`\nu` per column and
    :math:`z_i(\nu) = a_i/2 + \sqrt{a_i^2/4 + y_i/(2\Lambda)}`, :math:`a_i = x^0_i + \nu`
    (evaluated without cancellation; it is :math:`\max(a_i, 0)` where :math:`y_i = 0`),
    :math:`\nu` is the root of the increasing :math:`\mathbf 1^Tz(\nu) = 1`, bisected until
    the bracket stops shrinking in floating point. Certificate: :math:`\max_j|\mathbf 1^Tz_j - 1|`.

**Erratum (Appendix A's lower bound on** :math:`\nu` **).** The paper's
:math:`\underline\nu = \frac1p(1 - \mathbf 1^Tx^0 - \frac{\mathbf 1^Ty}{2\Lambda}e^\theta)` is
not a lower bound in general. Its derivation sums the stationarity conditions
:math:`z_i - x^0_i - \nu = y_i/(2\Lambda z_i)` over *all* :math:`i`, but for
:math:`y_i = 0` the optimality condition is :math:`z_i = \max(x^0_i + \nu, 0)`: the
multiplier of :math:`z_i \ge 0` is dropped. The correct sum is
:math:`p\nu = 1 - \mathbf 1^Tx^0 - \sum_{y_i>0} y_i/(2\Lambda z_i) - \sum_{y_i = 0}(x^0_i + \nu)_-`,
and the last term is large exactly when labels are one-hot and :math:`\Lambda` is small
(then :math:`\nu \approx 1 - x^0_{c} - 1/(2\Lambda)` and every other
:math:`x^0_i + \nu \ll 0`). On 30,000 random instances (``p`` 2..11,
:math:`\Lambda \in [10^{-3}, 10^3]`) the true :math:`\nu` fell below the paper's
:math:`\underline\nu` in 30% of the one-hot instances (and in 29% the paper's bracket was
empty, :math:`\underline\nu > \bar\nu`); e.g. :math:`p = 11`, :math:`\Lambda = 10^{-3}`,
:math:`x^0 \approx 0`, :math:`y = e_1`: :math:`\nu^* = -493.4 < \underline\nu = -44.9`.
(Two smaller issues: :math:`z^*_i \ge e^{-\theta}` uses :math:`y_i = 1`; for soft labels
only :math:`z^*_i \ge e^{-\theta/y_i}` follows. And :math:`e^\theta` overflows to
``inf`` once :math:`\theta > 709`, i.e. for moderate :math:`\Lambda\|z^0 - x^0\|^2`,
leaving :math:`\underline\nu = -\infty`.) The upper bound
:math:`\bar\nu = 1 - \max_i(x^0_i + y_i/(2\Lambda))` is correct (it only uses
:math:`z^*_i \le 1`) and is used here.

Safe lower bound used instead: :math:`\underline\nu = -\max_i x^0_i - \mathbf 1^Ty/(2\Lambda)`.
Proof: then every :math:`a_i \le -\delta` with :math:`\delta = \mathbf 1^Ty/(2\Lambda)`, and
:math:`z_i = 2c_i/(\sqrt{a_i^2 + 4c_i} - a_i) \le c_i/|a_i| \le c_i/\delta` with
:math:`c_i = y_i/(2\Lambda)`, so :math:`\mathbf 1^Tz \le 1`. The bracket has width
:math:`\le 1 + \mathbf 1^Ty/(2\Lambda)`, so bisection needs about 60 halvings.
"""

import time

import numpy as np
from scipy.special import xlogy

from .. import arrays as ax
from ..exceptions import ValidationError
from ..numeric import bisect_increasing
from ._common import as_matrix, positive
from .registry import atom_props, register, select
from .result import BlockResult

LOSS_NAMES = ("squared", "cross_entropy")


def _loss_name(loss):
    name = getattr(loss, "name", loss)
    if name not in LOSS_NAMES:
        raise ValidationError(f"loss must be one of {LOSS_NAMES}, got {loss!r}")
    return name


def loss_value(Y, Z, loss):
    r"""The loss :math:`\|Z - Y\|_F^2` or :math:`-\sum Y\log Z` (``inf`` where :math:`Y > 0 \ge Z`), a float."""
    xp = ax.namespace(Y, Z)
    if loss == "squared":
        return float(xp.sum((Z - Y) ** 2))
    pos = Y > 0
    if bool(xp.any(pos & (Z <= 0))):
        return float("inf")
    return float(-xp.sum(Y * xp.log(xp.where(pos, Z, 1.0))))  # y log z, 0 where y = 0


def output_step(U0, Y, d, form, lam, loss):
    """Solve the output step :math:`\\min_Z \\mathcal L(Y, Z) + \\lambda D(U_0, Z)`.

    Parameters
    ----------
    U0 : (n, m) array
        Pre-activation of the last layer, :math:`W_LX_L + b_L\\mathbf 1^T`.
    Y : (q, m) array
        Targets.
    d, form : the last layer's divergence and form
    lam : float > 0
    loss : {"squared", "cross_entropy"} (or an object with that ``name``)

    Returns
    -------
    Z : (q, m) array, info : BlockResult

    Raises
    ------
    NoFastSolver
        For cross-entropy with an atom whose z-side is not quadratic on the simplex.
    """
    t0 = time.perf_counter()
    form = d.check_form(form)
    loss = _loss_name(loss)
    props = atom_props(d, form)
    cand = select("output_step", atom=props, loss=loss)
    lam = positive(lam, "lam")
    U0 = as_matrix(U0, "U0")
    Y = ax.asarray(as_matrix(Y, "Y", rows=d.out_dim(U0.shape[0]), cols=U0.shape[1]), like=U0)
    d = ax.native(d, U0)
    Z, it, cert, conv = cand.solver(U0, Y, d, form, lam, props)
    obj = loss_value(Y, Z, loss) + lam * float(ax.namespace(U0).sum(d.divergence_value(U0, Z, form)))
    return Z, BlockResult(it, float(cert), bool(conv), time.perf_counter() - t0, obj, cand.label)


@register("output_step", "squared_prox", lambda atom, loss: loss == "squared", "loss='squared' (any atom: its z-prox)")
def _squared(U0, Y, d, form, lam, props):
    return d.prox_z(U0, Y, lam / 2.0, form), 0, 0.0, True


def simplex_ce_z(nu, X0, C):
    """:math:`z(\\nu)` of Appendix A: the root of :math:`z^2 - a z - c = 0` (:math:`a = x^0 + \\nu`),
    :math:`(a + \\sqrt{a^2 + 4c})/2`, computed as :math:`2c/(\\sqrt{a^2 + 4c} - a)` for
    :math:`a < 0` (no cancellation; exactly 0 where :math:`c = 0`)."""
    xp = ax.namespace(X0)
    a = X0 + nu
    r = xp.sqrt(a * a + 4.0 * C)
    neg = a < 0
    den = xp.where(neg, r - a, 1.0)
    return xp.where(neg, 2.0 * C / den, 0.5 * (a + r))


def paper_bracket(X0, Y, Lam):
    """Appendix A's bracket :math:`[\\underline\\nu, \\bar\\nu]` per column, as printed
    (kept to document the erratum; the lower end is not valid in general)."""
    p = X0.shape[0]
    k = np.maximum((Y != 0).sum(axis=0), 1)
    Z0 = np.where(Y != 0, 1.0 / k, 0.0)
    theta = -np.sum(xlogy(Y, np.where(Y != 0, Z0, 1.0)), axis=0) + Lam * np.sum((Z0 - X0) ** 2, axis=0)
    with np.errstate(over="ignore"):
        lo = (1.0 - X0.sum(axis=0) - Y.sum(axis=0) / (2.0 * Lam) * np.exp(theta)) / p
    hi = 1.0 - np.max(X0 + Y / (2.0 * Lam), axis=0)
    return lo, hi


def safe_bracket(X0, Y, Lam):
    """A bracket :math:`[\\underline\\nu, \\bar\\nu]` that provably contains the root (module docstring)."""
    xp = ax.namespace(X0)
    lo = -xp.max(X0, axis=0) - xp.sum(Y, axis=0) / (2.0 * Lam)
    hi = 1.0 - xp.max(X0 + Y / (2.0 * Lam), axis=0)
    return lo, hi


@register(
    "output_step",
    "ce_simplex_bisection",
    lambda atom, loss: loss == "cross_entropy" and atom.domain == "simplex",
    "loss='cross_entropy' and z_quadratic = (mu, 'simplex')",
)
def _ce_simplex(U0, Y, d, form, lam, props):
    xp = ax.namespace(U0)
    if bool(xp.any(Y < 0)):
        raise ValidationError("Y: cross-entropy targets must be non-negative")
    Lam = lam * props.mu
    C = Y / (2.0 * Lam)

    def excess(nu):
        return xp.sum(simplex_ce_z(nu, U0, C), axis=0) - 1.0

    lo, hi = safe_bracket(U0, Y, Lam)
    # the bounds are proved; guard against rounding at the ends anyway
    for _ in range(60):
        bad_lo, bad_hi = excess(lo) > 0, excess(hi) < 0
        if not (bool(xp.any(bad_lo)) or bool(xp.any(bad_hi))):
            break
        w = xp.maximum(hi - lo, 1.0)
        lo = xp.where(bad_lo, lo - w, lo)
        hi = xp.where(bad_hi, hi + w, hi)
    nu = [0]

    def g(v):
        nu[0] += 1
        return excess(v)

    root = bisect_increasing(g, lo, hi)
    Z = simplex_ce_z(root, U0, C)
    err = xp.abs(xp.sum(Z, axis=0) - 1.0)
    # bisection ends at a bracket of one ulp of nu: 1^T z is then exact to ~ p ulps of |a|
    bound = 8.0 * np.finfo(float).eps * U0.shape[0] * (1.0 + xp.abs(root) + xp.max(xp.abs(U0), axis=0))
    cert = ax.amax(err)
    return Z, nu[0], cert, bool(xp.all(err <= bound))


__all__ = ["output_step", "paper_bracket", "safe_bracket", "simplex_ce_z"]
