r"""One registry that picks a fast solver for a block from the atoms' own properties.

Each block kind (``"w_step"``, ``"x_step"``, ``"output_step"``, and the whole-network
``"lifted_predict"``) has an ordered list of
candidate solvers; each candidate has a predicate on the *structure* of the atoms, read
through :func:`atom_props`:

``z_quadratic``
    ``(mu, domain)`` when :math:`D(u, z) = \mu\|z - u\|^2 + I_C(z) + h(u)`
    (:meth:`Divergence.z_quadratic`).
``u_lipschitz``
    Lipschitz constant of :math:`\nabla_u D` or ``None`` where ``D`` is nonsmooth in ``u``
    (:meth:`Divergence.u_lipschitz`).
``u_quadratic``
    ``mu`` when, as a function of ``u``, :math:`D(u, z) = \mu\|u - z\|^2 + g(z)` exactly
    (so the W-step is a ridge regression), else ``None``. Derived from ``z_quadratic``:
    for the jointly convex form :math:`h = 0`; for the Fenchel-Young form with
    :math:`\Phi = \tfrac12\|z\|^2 + I_C` one has
    :math:`h(u) = \Phi^*(u) - \tfrac12\|u\|^2 = -\tfrac12\,\mathrm{dist}(u, C)^2`, which is
    constant only for ``C = "real"``. (So a Fenchel-Young ReLU W-step is *not* a ridge
    regression: it goes to the majorise-minimise solver, with :math:`L_u = 1`.)

:func:`select` returns the first candidate whose predicate holds, or raises
:class:`NoFastSolver` naming the block, the atoms and their forms, and what each
candidate needed. No solver looks at an atom's name.
"""
from dataclasses import dataclass
from typing import Callable, Optional

from ..exceptions import FormError, NoFastSolver, ValidationError

KINDS = ("w_step", "x_step", "output_step", "joint_x_step", "lifted_predict")


@dataclass(frozen=True)
class AtomProps:
    """The structure of one divergence in one form, as the fast solvers see it."""

    atom: str
    form: str
    z_quadratic: Optional[tuple]
    u_lipschitz: Optional[float]
    u_quadratic: Optional[float]

    @property
    def domain(self):
        """Name of the z-domain ``C`` (``None`` when ``D`` is not quadratic in ``z``)."""
        return None if self.z_quadratic is None else self.z_quadratic[1]

    @property
    def mu(self):
        return None if self.z_quadratic is None else float(self.z_quadratic[0])

    def __str__(self):
        return f"{self.atom} (form={self.form!r})"


def _maybe(fn, *args):
    try:
        return fn(*args)
    except (FormError, NotImplementedError):
        return None


def atom_props(d, form=None):
    """:class:`AtomProps` of divergence ``d`` in ``form`` (``None``: its default form)."""
    form = d.check_form(form)
    zq = _maybe(d.z_quadratic, form)
    lu = _maybe(d.u_lipschitz, form)
    uq = None
    if zq is not None and (form == "joint" or zq[1] == "real"):
        uq = float(zq[0])
    return AtomProps(repr(d), form, None if zq is None else (float(zq[0]), zq[1]),
                     None if lu is None else float(lu), uq)


@dataclass(frozen=True)
class Candidate:
    """A fast solver for one block kind, usable where ``predicate(**props)`` holds.

    Attributes
    ----------
    kind : str
        The block kind (one of ``KINDS``).
    name : str
        The solver's name within its kind (``label`` is ``"kind/name"``).
    predicate : callable
        ``predicate(**props) -> bool``: reads atom structure, never an atom's name.
    solver : callable
        The solving function.
    needs : str
        In words, what ``predicate`` requires (shown when no solver applies).
    """

    kind: str
    name: str
    predicate: Callable[..., bool]
    solver: Callable
    needs: str

    @property
    def label(self):
        return f"{self.kind}/{self.name}"


_CANDIDATES = {k: [] for k in KINDS}


def register(kind, name, predicate, needs):
    """Decorator: register ``solver`` as a candidate for ``kind`` (tried in registration order)."""
    if kind not in _CANDIDATES:
        raise ValueError(f"kind must be one of {KINDS}, got {kind!r}")

    def deco(solver):
        _CANDIDATES[kind] = [c for c in _CANDIDATES[kind] if c.name != name]
        _CANDIDATES[kind].append(Candidate(kind, name, predicate, solver, needs))
        return solver

    return deco


def candidates(kind):
    """The candidates registered for ``kind``, in the order :func:`select` tries them."""
    if kind not in _CANDIDATES:
        raise ValueError(f"kind must be one of {KINDS}, got {kind!r}")
    return list(_CANDIDATES[kind])


def _show(v):
    if isinstance(v, (list, tuple)):
        return "[" + ", ".join(str(x) for x in v) + "]"
    return str(v)


def select(kind, method=None, **props):
    """The first candidate for ``kind`` whose predicate holds for ``props``.

    No candidate looks at an atom's name: predicates read the structure in :class:`AtomProps`.

    Parameters
    ----------
    kind : str
        The block kind: ``"w_step"``, ``"x_step"``, ``"output_step"``, ``"joint_x_step"`` or
        ``"lifted_predict"``.
    method : str, optional
        Name of one candidate to use (it must apply); default: the first that applies.
    **props
        Keyword arguments of the predicates: ``atom`` (an :class:`AtomProps`) for the W-step;
        ``prev`` and ``next`` (and ``q``, the next layer's width) for the X-step; ``atom`` and
        ``loss`` (a name) for the output step; ``layers`` (a tuple of :class:`AtomProps`, one
        per layer) for the lifted prediction.

    Returns
    -------
    Candidate
        The registered solver: ``name``, ``fn``, ``predicate`` and ``needs``.

    Raises
    ------
    NoFastSolver
        When no candidate applies (the message lists what each needs).
    ValidationError
        When ``method`` names no candidate of ``kind``.
    """
    cands = candidates(kind)
    if method is not None:
        named = [c for c in cands if c.name == method]
        if not named:
            raise ValidationError(f"method must be one of {[c.name for c in cands]} for the {kind} block, "
                                  f"got {method!r}")
        if not named[0].predicate(**props):
            raise NoFastSolver(f"method {method!r} does not apply to the {kind} block "
                               f"(it needs {named[0].needs})")
        cands = named
    for c in cands:
        if c.predicate(**props):
            return c
    what = ", ".join(f"{k}={_show(v)}" for k, v in props.items())
    tried = "; ".join(f"{c.name}: needs {c.needs}" for c in cands) or "no candidates registered"
    raise NoFastSolver(f"no fast solver for the {kind} block with {what} ({tried})")


# ---------------------------------------------------------------------- certified user pieces
#: ``(atom key, form, part)`` of the user-written numpy pieces that passed certification.
_CERTIFIED = set()


def _atom_key(d):
    """Identity of an atom for certification: its class object, its parameters, and the user
    callables it holds (two declarations with the same name and new callables differ)."""
    params = tuple(sorted((k, repr(v)) for k, v in d.get_params().items()))
    callables = tuple(sorted((k, id(v)) for k, v in vars(d).items() if callable(v)))
    return (id(type(d)), type(d).__qualname__, params, callables)


def mark_certified(d, form, part="prox"):
    """Record that the user-written ``part`` (e.g. ``"prox"``) of atom ``d`` in ``form`` passed
    :func:`cvxlift.certify` in this process, so that the fast path may rely on it.

    Parameters
    ----------
    d : Divergence
        The atom (instances with equal parameters share the record).
    form : {"fenchel", "joint"}
    part : str
        The piece that was certified.
    """
    _CERTIFIED.add((_atom_key(d), d.check_form(form), part))


def is_certified(d, form, part="prox"):
    """``True`` when :func:`mark_certified` recorded ``part`` of ``d`` in ``form``."""
    return (_atom_key(d), d.check_form(form), part) in _CERTIFIED
