r"""The z-domain :math:`C = \mathrm{dom}\,\Phi` of a divergence, as the fast path sees it.

Every atom names its domain (:meth:`Divergence.z_domain`); a user atom declares it
(``declare_divergence(..., domain=...)``) and ``verify`` checks the declaration. A domain
knows its Euclidean projection and a tolerance: solver states within
:data:`DOMAIN_TOL` (relative) of :math:`C` are *inside* -- they are projected onto
:math:`C` before a value is computed -- and states farther away are outside (value
:math:`+\infty`). So a CVXPY state at :math:`-10^{-22}` for a domain :math:`z \ge 0`
gives a finite objective, and a fit never rejects a step for a rounding excursion.

=================  ========================================================  ============
domain             :math:`C`                                                 elementwise
=================  ========================================================  ============
``Real()``         :math:`\mathbb R^k`                                       yes
``Interval(l, h)`` :math:`[l, h]^k` (``l = -inf`` or ``h = inf`` allowed;     yes
                   ``Interval(0, inf)`` is the nonnegative orthant)
``SimplexDomain``  each column on the probability simplex                    no
``Projection(P)``  the set a user projection ``P`` projects onto             declared
=================  ========================================================  ============
"""

import math

import numpy as np

from ..exceptions import ValidationError
from ..numeric import project_simplex

#: Relative distance to the domain within which a state counts as inside (and is projected).
DOMAIN_TOL = 1e-7


class Domain:
    """A closed convex set :math:`C` with its projection (see the module docstring).

    Attributes
    ----------
    name : str
        ``"real"``, ``"nonneg"``, ``"box"``, ``"simplex"`` or ``"projection"``: the names
        :meth:`Divergence.z_quadratic` uses.
    elementwise : bool
        ``True`` when :math:`C` is a product of intervals (the projection acts per entry).
    """

    name = "real"
    elementwise = True

    def project(self, Z):
        """Euclidean projection of each column of ``Z`` onto :math:`C`.

        Parameters
        ----------
        Z : ndarray
            Points, one column per data point.

        Returns
        -------
        ndarray
            :math:`\\Pi_C(Z)`, same shape.
        """
        return np.asarray(Z, dtype=float)

    def violation(self, Z):
        r"""Relative distance of each entry to :math:`C`: :math:`|z - \Pi_C(z)| / (1 + |z|)`.

        Parameters
        ----------
        Z : ndarray

        Returns
        -------
        ndarray
            Same shape as ``Z``.
        """
        Z = np.asarray(Z, dtype=float)
        with np.errstate(invalid="ignore"):
            return np.abs(Z - self.project(Z)) / (1.0 + np.abs(Z))

    def inside(self, Z, tol=DOMAIN_TOL):
        """Per column: ``True`` when every entry is within ``tol`` (relative) of :math:`C`.

        Parameters
        ----------
        Z : (k, m) ndarray
        tol : float

        Returns
        -------
        (m,) bool ndarray
        """
        Z = np.asarray(Z, dtype=float)
        v = self.violation(Z)
        ok = np.isfinite(Z) & (v <= tol)
        return ok.all(axis=0) if ok.ndim == 2 else ok.all(keepdims=True)

    def clean(self, Z, tol=DOMAIN_TOL):
        """``(projection of Z, inside per column)``: what the value methods evaluate.

        Parameters
        ----------
        Z : (k, m) ndarray
        tol : float

        Returns
        -------
        P : (k, m) ndarray
            :math:`\\Pi_C(Z)`.
        ok : (m,) bool ndarray
            Columns within ``tol`` of :math:`C` (outside ones get the value ``inf``).
        """
        Z = np.asarray(Z, dtype=float)
        return self.project(Z), self.inside(Z, tol)

    def sample(self, rng, shape, scale=3.0):
        """Random points of :math:`C` (for ``verify``).

        Parameters
        ----------
        rng : numpy.random.Generator
        shape : tuple
            ``(k, m)``.
        scale : float
            Spread of the points.

        Returns
        -------
        ndarray
        """
        return self.project(rng.normal(scale=scale, size=shape))

    def outside(self, rng, shape, scale=1.0):
        """Points at relative distance between 1e-2 (beyond any solver's or CVXPY's
        feasibility tolerance) and ``scale`` *outside* :math:`C`, or ``None`` when :math:`C`
        is the whole space (or unknown).

        Parameters
        ----------
        rng : numpy.random.Generator
        shape : tuple
        scale : float

        Returns
        -------
        ndarray or None
        """
        return None

    def describe(self):
        """A short description for reports, e.g. ``"[0, 1]"``."""
        return "the whole space"

    def __eq__(self, other):
        return type(self) is type(other) and self.__dict__ == other.__dict__

    def __hash__(self):
        return hash((type(self).__name__, tuple(sorted(self.__dict__.items()))))

    def __repr__(self):
        return f"{type(self).__name__}()"


class Real(Domain):
    r""":math:`C = \mathbb R^k` (no constraint)."""

    name = "real"


class Interval(Domain):
    """:math:`C = [l, h]^k`, entrywise; ``l`` may be ``-inf`` and ``h`` ``inf``.

    Parameters
    ----------
    lower, upper : float
        ``lower < upper``; ``Interval(0, inf)`` is the nonnegative orthant.
    """

    def __init__(self, lower=-math.inf, upper=math.inf):
        try:
            lo, hi = float(lower), float(upper)
        except (TypeError, ValueError):
            raise ValidationError(
                f"an interval domain needs two numbers lower < upper; got {lower!r}, {upper!r}"
            ) from None
        if math.isnan(lo) or math.isnan(hi) or not lo < hi or lo == math.inf or hi == -math.inf:
            raise ValidationError(
                f"an interval domain needs lower < upper (infinite ends allowed); got lower={lower!r}, upper={upper!r}"
            )
        self.lower, self.upper = lo, hi

    @property
    def name(self):
        if self.lower == -math.inf and self.upper == math.inf:
            return "real"
        if self.lower == 0.0 and self.upper == math.inf:
            return "nonneg"
        return "box"

    def project(self, Z):
        return np.clip(np.asarray(Z, dtype=float), self.lower, self.upper)

    def sample(self, rng, shape, scale=3.0):
        lo, hi = self.lower, self.upper
        if math.isfinite(lo) and math.isfinite(hi):
            # the ends themselves, and interior points
            P = rng.uniform(lo, hi, size=shape)
            flat = P.reshape(-1)
            flat[: max(1, flat.size // 10)] = lo
            flat[max(1, flat.size // 10) : max(2, flat.size // 5)] = hi
            return P
        if math.isfinite(lo):
            return lo + np.abs(rng.normal(scale=scale, size=shape))
        if math.isfinite(hi):
            return hi - np.abs(rng.normal(scale=scale, size=shape))
        return rng.normal(scale=scale, size=shape)

    def outside(self, rng, shape, scale=1.0):
        sides = [s for s in (self.lower, self.upper) if math.isfinite(s)]
        if not sides:
            return None
        d = np.exp(rng.uniform(np.log(1e-2), np.log(scale), size=shape))
        which = rng.integers(0, len(sides), size=shape)
        out = np.empty(shape)
        for i, s in enumerate(sides):
            sign = -1.0 if s == self.lower else 1.0
            out = np.where(which == i, s + sign * d * (1.0 + abs(s)), out)
        return out

    def describe(self):
        def f(x):
            return "inf" if x == math.inf else "-inf" if x == -math.inf else f"{x:g}"

        return f"[{f(self.lower)}, {f(self.upper)}]"

    def __repr__(self):
        return f"Interval({self.lower!r}, {self.upper!r})"


class SimplexDomain(Domain):
    r"""Each column on the probability simplex :math:`\{z \ge 0, \mathbf 1^Tz = 1\}` (not elementwise)."""

    name = "simplex"
    elementwise = False

    def project(self, Z):
        Z = np.asarray(Z, dtype=float)
        return project_simplex(Z) if Z.ndim == 2 else project_simplex(Z[:, None])[:, 0]

    def violation(self, Z):
        Z = np.asarray(Z, dtype=float)
        neg = np.maximum(-Z, 0.0)
        k = Z.shape[0]
        tot = np.abs(Z.sum(axis=0) - 1.0) / k
        return np.maximum(neg, tot)

    def sample(self, rng, shape, scale=3.0):
        return self.project(rng.normal(scale=scale, size=shape))

    def outside(self, rng, shape, scale=1.0):
        P = self.sample(rng, shape)
        return P + scale * np.abs(rng.normal(size=shape)) + 2e-2

    def describe(self):
        return "the probability simplex (per column)"


class Projection(Domain):
    """The set :math:`C` a user-given Euclidean projection ``P`` projects onto.

    Parameters
    ----------
    projection : callable
        ``P(Z) -> Z'``, numpy, one column per data point; ``verify`` checks that it is a
        projection (idempotent, non-expansive, obtuse-angle condition).
    elementwise : bool
        ``True`` when ``P`` acts entry by entry (then ``C`` is a product of intervals).
    label : str
        Shown in reports.
    """

    name = "projection"

    def __init__(self, projection, elementwise=False, label="user projection"):
        if not callable(projection):
            raise ValidationError(f"domain: a projection must be callable (numpy Z -> Z), got {projection!r}")
        self.projection = projection
        self.elementwise = bool(elementwise)
        self.label = str(label)

    def project(self, Z):
        Z = np.asarray(Z, dtype=float)
        P = np.asarray(self.projection(Z), dtype=float)
        if P.shape != Z.shape:
            raise ValidationError(f"domain: the projection maps an array of shape {Z.shape} to shape {P.shape}")
        return P

    def outside(self, rng, shape, scale=1.0):
        return None  # unknown: verify checks the projection itself

    def describe(self):
        return self.label

    def __eq__(self, other):
        return type(self) is type(other) and self.projection is other.projection

    def __hash__(self):
        return hash(id(self.projection))

    def __repr__(self):
        return f"Projection({self.label!r})"


def as_domain(spec):
    """A :class:`Domain` from a declaration.

    Parameters
    ----------
    spec : None, str, tuple, callable or Domain
        ``None`` / ``"real"``: the whole space; ``"nonneg"``: :math:`z \\ge 0`;
        ``"simplex"``: each column on the probability simplex; ``(lower, upper)``: an
        interval (entrywise, infinite ends allowed); a callable: a Euclidean projection
        onto :math:`C` (column-wise; ``verify`` checks it); or a :class:`Domain`.

    Returns
    -------
    Domain
    """
    if spec is None:
        return Real()
    if isinstance(spec, Domain):
        return spec
    if isinstance(spec, str):
        key = spec.lower()
        if key == "real":
            return Real()
        if key in ("nonneg", "nonnegative"):
            return Interval(0.0, math.inf)
        if key == "simplex":
            return SimplexDomain()
        raise ValidationError(
            f"domain must be 'real', 'nonneg', 'simplex', an interval (lower, upper) or a "
            f"projection callable; got {spec!r}"
        )
    if isinstance(spec, (tuple, list)) and len(spec) == 2:
        return Interval(*spec)
    if callable(spec):
        return Projection(spec)
    raise ValidationError(
        f"domain must be 'real', 'nonneg', 'simplex', an interval (lower, upper) or a projection callable; got {spec!r}"
    )
