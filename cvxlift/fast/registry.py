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
    (so the W-step is a ridge regression), else ``None``
    (:meth:`Divergence.u_quadratic`: derived from ``z_quadratic`` for the built-ins --
    for the Fenchel-Young form with :math:`\Phi = \tfrac12\|z\|^2 + I_C`,
    :math:`h(u) = -\tfrac12\,\mathrm{dist}(u, C)^2` is constant only for ``C = "real"``, so a
    Fenchel-Young ReLU W-step is *not* a ridge regression -- declared and checked for user
    atoms).
``coupling``
    :math:`\kappa` when :math:`D(u, z) = A(z) - \kappa\langle u, z\rangle + B(u)` (the tilt
    structure, :meth:`Divergence.coupling_scale`): the tilted argmin is ``forward`` at a
    shifted input, which the generic dual Newton X-step uses.
``elementwise``, ``z_domain``
    Whether the atom acts entry by entry; the name of its z-domain.
``prox``, ``u_prox``
    How the z- and u-proximal maps are computed (:meth:`Divergence.prox_kind`):
    ``"exact"``, ``"numeric"`` (values only, about 1e-8), ``"dsl"`` (a CVXPY solve: no fast
    solver uses it) or ``None``.

For a user atom (one with ``declared_facts``) :func:`atom_props` first runs
:func:`cvxlift.divergences.facts.probe`: a declared fact that is false on a small sample
raises a :class:`~cvxlift.exceptions.ValidationError` naming it, once per atom and form.

:func:`select` returns the first candidate whose predicate holds, or raises
:class:`NoFastSolver` naming the block, the atoms and their forms, what each candidate
needed and the value each property has. No solver looks at an atom's name.
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
    coupling: Optional[float] = None
    elementwise: bool = True
    z_domain: str = "real"
    prox: Optional[str] = "exact"
    u_prox: Optional[str] = None
    dsl: bool = True

    @property
    def domain(self):
        """Name of the z-domain ``C`` (``None`` when ``D`` is not quadratic in ``z``)."""
        return None if self.z_quadratic is None else self.z_quadratic[1]

    @property
    def mu(self):
        return None if self.z_quadratic is None else float(self.z_quadratic[0])

    def __str__(self):
        return f"{self.atom} (form={self.form!r})"

    def describe(self):
        """The properties the fast solvers read, e.g. for error messages."""
        zq = "None" if self.z_quadratic is None else f"{self.z_quadratic}"
        text = (
            f"{self}: u_quadratic={self.u_quadratic}, u_lipschitz={self.u_lipschitz}, z_quadratic={zq}, "
            f"coupling={self.coupling}, elementwise={self.elementwise}, z_domain={self.z_domain!r}, "
            f"prox={self.prox!r}, u_prox={self.u_prox!r}"
        )
        if not self.elementwise and (self.prox in (None, "dsl") or self.u_prox is None):
            text += (
                " [a vector atom: the generic solvers need elementwise atoms; give it numpy prox_phi/"
                "prox_joint/prox_u and certify them with cvxlift.verify]"
            )
        return text


def _maybe(fn, *args):
    try:
        return fn(*args)
    except (FormError, NotImplementedError):
        return None


def atom_props(d, form=None):
    """:class:`AtomProps` of divergence ``d`` in ``form`` (``None``: its default form).

    Parameters
    ----------
    d : Divergence
    form : {"fenchel", "joint"}, optional

    Returns
    -------
    AtomProps

    Raises
    ------
    ValidationError
        A user atom declares a fact that its own numbers contradict
        (:func:`cvxlift.divergences.facts.probe`).
    """
    from ..divergences.facts import probe

    form = d.check_form(form)
    probe(d, form)
    zq = _maybe(d.z_quadratic, form)
    lu = _maybe(d.u_lipschitz, form)
    uq = _maybe(d.u_quadratic, form)
    kappa = _maybe(d.coupling_scale, form)
    dom = _maybe(d.z_domain)
    return AtomProps(
        repr(d),
        form,
        None if zq is None else (float(zq[0]), zq[1]),
        None if lu is None else float(lu),
        None if uq is None else float(uq),
        None if kappa is None else float(kappa),
        bool(d.elementwise),
        "real" if dom is None else dom.name,
        _maybe(d.prox_kind, form),
        _maybe(d.u_prox_kind, form),
        bool(_maybe(d.has_dsl, form)),
    )


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


def register(kind, name, predicate, needs, before=None):
    """Decorator: register ``solver`` as a candidate for ``kind`` (tried in registration order).

    Parameters
    ----------
    kind : str
        One of :data:`KINDS`.
    name : str
        Candidate name (a re-registration under the same name replaces it).
    predicate : callable
        ``predicate(**props) -> bool`` on :class:`AtomProps` (and the block's sizes).
    needs : str
        What the predicate asks for, in words (shown by :class:`NoFastSolver`).
    before : str, optional
        Insert before the candidate of that name (when registered), instead of last.

    Returns
    -------
    callable
        The decorator.
    """
    if kind not in _CANDIDATES:
        raise ValueError(f"kind must be one of {KINDS}, got {kind!r}")

    def deco(solver):
        cands = [c for c in _CANDIDATES[kind] if c.name != name]
        new = Candidate(kind, name, predicate, solver, needs)
        at = next((i for i, c in enumerate(cands) if c.name == before), None) if before else None
        if at is None:
            cands.append(new)
        else:
            cands.insert(at, new)
        _CANDIDATES[kind] = cands
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


def select(kind, method=None, block=None, **props):
    """The first candidate for ``kind`` whose predicate holds for ``props``.

    No candidate looks at an atom's name: predicates read the structure in :class:`AtomProps`.

    Parameters
    ----------
    kind : str
        The block kind: ``"w_step"``, ``"x_step"``, ``"output_step"``, ``"joint_x_step"`` or
        ``"lifted_predict"``.
    method : str, optional
        Name of one candidate to use (it must apply); default: the first that applies.
    block : str, optional
        The block (e.g. ``"W0"``), named in the message.
    **props
        Keyword arguments of the predicates: ``atom`` (an :class:`AtomProps`) for the W-step;
        ``prev`` and ``next`` (and ``q``, the next layer's width) for the X-step; ``atom`` and
        ``loss`` (a name) for the output step; ``layers`` (a tuple of :class:`AtomProps`, one
        per layer) for the lifted prediction.

    Returns
    -------
    Candidate
        The registered solver: ``name``, ``solver``, ``predicate`` and ``needs``.

    Raises
    ------
    NoFastSolver
        When no candidate applies: the message names the block, each candidate with what it
        needs, and the value of every property of the atoms.
    ValidationError
        When ``method`` names no candidate of ``kind``.
    """
    cands = candidates(kind)
    if method is not None:
        named = [c for c in cands if c.name == method]
        if not named:
            raise ValidationError(
                f"method must be one of {[c.name for c in cands]} for the {kind} block, got {method!r}"
            )
        if not named[0].predicate(**props):
            raise NoFastSolver(
                f"method {method!r} does not apply to the {kind} block "
                f"(it needs {named[0].needs}; {_props_text(props)})"
            )
        cands = named
    for c in cands:
        if c.predicate(**props):
            return c
    tried = "; ".join(f"{c.name} needs {c.needs}" for c in cands) or "no candidates registered"
    where = f"block {block} ({kind})" if block else f"the {kind} block"
    raise NoFastSolver(f"no fast solver for {where}: {tried}. The atoms have: {_props_text(props)}")


def _props_text(props):
    parts = []
    for k, v in props.items():
        if isinstance(v, AtomProps):
            parts.append(f"{k} = {v.describe()}")
        elif isinstance(v, (list, tuple)) and v and isinstance(v[0], AtomProps):
            parts.append(f"{k} = [" + "; ".join(a.describe() for a in v) + "]")
        else:
            parts.append(f"{k}={_show(v)}")
    return "; ".join(parts)


# ---------------------------------------------------------------------- certified user pieces
#: ``(atom key, form, part)`` of the user-written numpy pieces that passed certification.
_CERTIFIED = set()


def _atom_key(d):
    """Identity of an atom for certification: its class object (a declared atom is a class of
    its own, holding its callables), its parameters, and any user callables it holds."""
    params = tuple(sorted((k, repr(v)) for k, v in d.get_params().items()))
    callables = tuple(sorted((k, id(v)) for k, v in vars(d).items() if callable(v)))
    return (type(d), params, callables)


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
