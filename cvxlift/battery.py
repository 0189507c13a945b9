r"""The battery of block instances on which fast block solvers are certified.

One list of instances serves both the test suite (``tests/fast/``: every built-in fast
solver against the CVXPY reference of the same block) and :func:`cvxlift.certify` /
:func:`cvxlift.register_solver` (a user's block solver): the same random and hard
instances, checked by the same :meth:`cvxlift.reference.BlockReference.check`.

Each :class:`Instance` holds the positional arguments of the :mod:`cvxlift.fast` function
of its kind, so ``fast.w_step(*inst.args)`` (or a user's solver with that signature)
solves it, and ``inst.check(candidate)`` grades the answer against the block's tight CVXPY
solution (computed once per instance, on first use).

Instances (``instances(kind)``, the built-in atoms of :data:`ATOMS`):

``w_step``
    12 (atom, form) cases x :math:`\lambda/\rho \in \{0.1, 1, 10\}` x two inputs: well
    conditioned (``6 x 25``), and ill conditioned (singular values :math:`10^{-3}..10^2`
    plus a large mean).
``x_step``
    every previous-layer (atom, form) with three next layers, x three ratios
    :math:`\lambda_{next}/\lambda_{prev}`, x wide, tall and ill-conditioned ``W``.
``output_step``
    squared loss for 13 (atom, form) cases, and cross-entropy with the simplex (one-hot
    labels, soft labels with zero entries), x :math:`\lambda \in \{0.1, 1, 10\}`.
``lifted_predict``
    six networks of two and three layers (jointly convex forms) x three penalty profiles,
    and one-hidden-layer networks with a Fenchel-Young first layer.
``joint_x_step``
    the jointly convex networks of ``lifted_predict`` with a loss (cross-entropy for a
    simplex output, squared otherwise).

``instances(kind, atoms=[(d, form), ...])`` builds the same recipes around other atoms
(a user's), e.g. to certify a solver written for them.
"""

import zlib
from dataclasses import dataclass, field

import numpy as np

from .divergences.clipped import Clipped
from .divergences.entropy import Sigmoid, Tanh
from .divergences.identity import Identity
from .divergences.rectifier import LeakyReLU, ReLU
from .divergences.simplex import Simplex
from .divergences.sine import Sin
from .exceptions import ValidationError

#: The built-in atoms of the battery, by short name.
ATOMS = {
    "relu": ReLU(),
    "leaky_relu": LeakyReLU(0.1),
    "clipped": Clipped(),
    "sigmoid": Sigmoid(),
    "tanh": Tanh(),
    "identity": Identity(),
    "simplex": Simplex(),
    "sin": Sin(),
}

KINDS = ("w_step", "x_step", "output_step", "joint_x_step", "lifted_predict")


def seed_of(*parts):
    """A deterministic seed from the parts of an instance's name (``hash`` of a str is salted
    per process).

    Returns
    -------
    int
        The CRC-32 of ``repr(parts)``.
    """
    return zlib.crc32(repr(parts).encode())


def ill_conditioned(rng, q, p, lo=-3.0, hi=2.0):
    """A ``q x p`` matrix with singular values ``logspace(lo, hi, min(q, p))``.

    Returns
    -------
    (q, p) array
    """
    U, _ = np.linalg.qr(rng.normal(size=(q, q)))
    V, _ = np.linalg.qr(rng.normal(size=(p, p)))
    k = min(q, p)
    return U[:, :k] @ np.diag(np.logspace(lo, hi, k)) @ V[:, :k].T


@dataclass
class Instance:
    """One block instance of the battery.

    Attributes
    ----------
    kind : str
        ``"w_step"``, ``"x_step"``, ``"output_step"``, ``"joint_x_step"`` or ``"lifted_predict"``.
    id : str
        A readable name (atoms, forms, penalty ratio, shape).
    args : tuple
        The positional arguments of the :mod:`cvxlift.fast` function of ``kind``.
    meta : dict
        The recipe (atom names, forms, ratio, shape, ...).
    """

    kind: str
    id: str
    args: tuple
    meta: dict = field(default_factory=dict)
    _reference: object = field(default=None, repr=False, compare=False)

    def props(self):
        """The keyword arguments of the fast registry's predicates for this instance.

        Returns
        -------
        dict
            ``atom`` (W-step); ``prev``, ``next``, ``q`` (X-step); ``atom``, ``loss`` (output
            step); ``layers`` (prediction; and ``loss`` for the joint X-step).
        """
        from .fast import atom_props

        a = self.args
        if self.kind == "w_step":
            return {"atom": atom_props(a[2], a[3])}
        if self.kind == "x_step":
            return {"prev": atom_props(a[4], a[5]), "next": atom_props(a[6], a[7]), "q": np.shape(a[1])[0]}
        if self.kind == "output_step":
            return {"atom": atom_props(a[2], a[3]), "loss": getattr(a[5], "name", a[5])}
        if self.kind == "joint_x_step":  # (U0, Y, weights, biases, divs, forms, lams, loss)
            layers = tuple(atom_props(d, f) for d, f in zip(a[4], a[5]))
            return {"layers": layers, "loss": getattr(a[7], "name", a[7])}
        return {"layers": tuple(atom_props(d, f) for d, f in zip(a[3], a[4]))}

    def reference(self):
        """The block's tight CVXPY solution (solved once, then cached).

        Returns
        -------
        BlockReference
        """
        if self._reference is None:
            from .reference import block_reference

            self._reference = block_reference(self.kind, *self.args, block=self.id)
        return self._reference

    def check(self, candidate, **tolerances):
        """Grade ``candidate``: ``self.reference().check(candidate, **tolerances)``.

        Parameters
        ----------
        candidate : tuple, ndarray or list
            The candidate solution, as :meth:`cvxlift.reference.BlockReference.check` takes it.
        **tolerances
            Tolerances passed to :meth:`~cvxlift.reference.BlockReference.check`.

        Returns
        -------
        CheckReport
        """
        return self.reference().check(candidate, **tolerances)


# ---------------------------------------------------------------------------- recipes
W_CASES = [
    ("relu", "joint"),
    ("relu", "fenchel"),
    ("leaky_relu", "fenchel"),
    ("clipped", "joint"),
    ("clipped", "fenchel"),
    ("sigmoid", "fenchel"),
    ("tanh", "fenchel"),
    ("identity", "fenchel"),
    ("identity", "joint"),
    ("simplex", "joint"),
    ("simplex", "fenchel"),
    ("sin", "fenchel"),
]
RATIOS = (0.1, 1.0, 10.0)


def _w_instance(d, form, ratio, shape, seed, label):
    rng = np.random.default_rng(seed)
    if shape == "well":
        p, q, m = 6, 4, 25
        A = rng.normal(size=(p, m))
    else:  # input with singular values 1e-3 .. 1e2 and a large mean
        p, q, m = 8, 3, 30
        A = ill_conditioned(rng, p, m) + 5.0
    Z = d.forward(2.0 * rng.normal(size=(d.in_dim(q), m)))
    return Instance(
        "w_step",
        f"{label}:r{ratio}:{shape}",
        (A, Z, d, form, ratio, 1.0),
        {"atom": label.split("-")[0], "form": form, "ratio": ratio, "shape": shape},
    )


X_PREV = [
    ("relu", "joint"),
    ("relu", "fenchel"),
    ("leaky_relu", "fenchel"),
    ("leaky_relu", "joint"),
    ("clipped", "joint"),
    ("clipped", "fenchel"),
    ("sigmoid", "fenchel"),
    ("tanh", "fenchel"),
    ("identity", "fenchel"),
    ("simplex", "joint"),
    ("simplex", "fenchel"),
    ("sin", "fenchel"),
]
X_NEXT = [
    ("relu", "joint"),
    ("sigmoid", "fenchel"),
    ("simplex", "fenchel"),
    ("identity", "joint"),
    ("tanh", "fenchel"),
    ("relu", "fenchel"),
    ("clipped", "fenchel"),
    ("leaky_relu", "fenchel"),
    ("simplex", "joint"),
    ("sin", "fenchel"),
    ("identity", "fenchel"),
    ("clipped", "joint"),
]
#: atoms whose prox is a bisection (expensive): ill-conditioned only at the mildest ratio
SLOW_PROX = {"sigmoid", "tanh", "sin"}


def _x_cases():
    cases = []
    for i, prev in enumerate(X_PREV):
        for j, ratio in enumerate(RATIOS):
            nxt = X_NEXT[(i + 5 * j) % len(X_NEXT)]
            exp_cone = {prev[0], nxt[0]} & {"sigmoid", "tanh"}
            if exp_cone and nxt[0] == "sin" or prev[0] == "sin" and nxt[0] in ("sigmoid", "tanh"):
                nxt = ("relu", "joint")  # exponential cone + 64-piece max-affine: CVXPY stalls
            cases.append((prev, nxt, ratio, "wide"))
            cases.append((prev, nxt, ratio, "tall"))
            if prev[0] not in SLOW_PROX or ratio == 0.1:
                cases.append((prev, nxt, ratio, "ill"))
    # the exact solver (identity prev, quadratic next) at an ill-conditioned W
    cases.append((("identity", "joint"), ("relu", "joint"), 10.0, "ill"))
    return cases


def x_step_data(rng, shape, d_prev, d_next):
    """``W, b, U0, Znext`` of an X-step instance: ``shape`` is ``"wide"`` (p, q, m = 6, 4, 20),
    ``"tall"`` (5, 8, 15) or ``"ill"`` (6, 8, 15, ``W`` with singular values 1e-3 .. 1e2)."""
    if shape == "wide":
        p, q, m = 6, 4, 20
        W = rng.normal(size=(d_next.in_dim(q), p))
    elif shape == "tall":
        p, q, m = 5, 8, 15
        W = rng.normal(size=(d_next.in_dim(q), p)) / 2
    else:  # singular values 1e-3 .. 1e2
        p, q, m = 6, 8, 15
        W = ill_conditioned(rng, d_next.in_dim(q), p)
    b = rng.normal(size=W.shape[0])
    U0 = 2.0 * rng.normal(size=(d_prev.in_dim(p), m))
    Znext = d_next.forward(2.0 * rng.normal(size=(W.shape[0], m)))
    return W, b, U0, Znext


def _x_instance(dp, fp, dn, fn, ratio, shape, seed, label):
    W, b, U0, Znext = x_step_data(np.random.default_rng(seed), shape, dp, dn)
    return Instance(
        "x_step",
        f"{label}:r{ratio}:{shape}",
        (U0, W, b, Znext, dp, fp, dn, fn, 1.0, ratio),
        {"ratio": ratio, "shape": shape},
    )


OUT_SQUARED = [
    ("relu", "joint"),
    ("relu", "fenchel"),
    ("leaky_relu", "fenchel"),
    ("leaky_relu", "joint"),
    ("clipped", "joint"),
    ("clipped", "fenchel"),
    ("sigmoid", "fenchel"),
    ("tanh", "fenchel"),
    ("identity", "fenchel"),
    ("identity", "joint"),
    ("simplex", "joint"),
    ("simplex", "fenchel"),
    ("sin", "fenchel"),
]
OUT_CE = [(form, lam, labels) for form in ("joint", "fenchel") for lam in RATIOS for labels in ("onehot", "soft")]


def _targets(rng, loss, d, q, m, labels):
    if loss == "squared":
        return d.forward(rng.normal(size=(d.in_dim(q), m)))
    if labels == "onehot":
        return np.eye(q)[:, rng.integers(q, size=m)]
    Y = rng.dirichlet(np.full(q, 0.5), size=m).T
    Y[:, :3] = np.r_[0.6, 0.4, np.zeros(q - 2)][:, None]  # soft labels with zero entries
    return Y


def _out_instance(loss, d, form, lam, labels, seed, label):
    rng = np.random.default_rng(seed)
    q, m = 5, 30
    U0 = 2.0 * rng.normal(size=(d.in_dim(q), m))
    Y = _targets(rng, loss, d, q, m, labels)
    return Instance(
        "output_step",
        f"{loss}:{label}:lam{lam}:{labels}",
        (U0, Y, d, form, lam, loss),
        {"loss": loss, "form": form, "lam": lam, "labels": labels},
    )


NETS = {
    "relu-relu-simplex": (["relu", "relu", "simplex"], [5, 6, 4, 3]),
    "clipped-relu-identity": (["clipped", "relu", "identity"], [5, 6, 4, 3]),
    "relu-simplex": (["relu", "simplex"], [6, 7, 4]),  # -> dual_newton (and joint, bcd)
    "clipped-relu": (["clipped", "relu"], [6, 7, 4]),  # -> dual_newton, box last layer
    "identity-clipped-relu": (["identity", "clipped", "relu"], [4, 5, 5, 2]),
    "leaky-relu-simplex": (["leaky_relu", "relu", "simplex"], [5, 6, 4, 3]),  # -> bcd
}
LAMS = {"flat": [1.0, 1.0, 1.0], "up": [0.1, 1.0, 10.0], "down": [10.0, 1.0, 0.1]}
FY_FIRST = [("relu", "simplex"), ("clipped", "relu"), ("relu", "clipped")]


def _network(rng, divs, sizes, scale=1.0):
    Ws = [scale * rng.normal(size=(d.in_dim(sizes[i + 1]), sizes[i])) / np.sqrt(sizes[i]) for i, d in enumerate(divs)]
    bs = [0.5 * rng.normal(size=W.shape[0]) for W in Ws]
    return Ws, bs


def _predict_instance(divs, forms, sizes, lam, m, seed, label, meta):
    rng = np.random.default_rng(seed)
    Ws, bs = _network(rng, divs, sizes)
    X = rng.normal(size=(sizes[0], m))
    return Instance("lifted_predict", label, (X, Ws, bs, list(divs), list(forms), list(lam)), meta)


def _joint_instance(divs, forms, sizes, lam, m, seed, label, meta):
    rng = np.random.default_rng(seed)
    Ws, bs = _network(rng, divs, sizes)
    X = rng.normal(size=(sizes[0], m))
    q = sizes[-1]
    if isinstance(divs[-1], Simplex):
        loss = "cross_entropy"
        Y = np.eye(q)[:, rng.integers(q, size=m)]
    else:
        loss = "squared"
        Y = rng.normal(size=(q, m))
    U0 = Ws[0] @ X + bs[0][:, None]
    return Instance(
        "joint_x_step", label, (U0, Y, Ws, bs, list(divs), list(forms), list(lam), loss), dict(meta, loss=loss)
    )


# ---------------------------------------------------------------------------- built-in battery
def _builtin(kind):
    A = ATOMS
    out = []
    if kind == "w_step":
        for name, form in W_CASES:
            for ratio in RATIOS:
                for shape in ("well", "ill"):
                    out.append(
                        _w_instance(A[name], form, ratio, shape, seed_of(name, form, ratio, shape), f"{name}-{form}")
                    )
    elif kind == "x_step":
        for prev, nxt, ratio, shape in _x_cases():
            inst = _x_instance(
                A[prev[0]],
                prev[1],
                A[nxt[0]],
                nxt[1],
                ratio,
                shape,
                seed_of(prev, nxt, ratio, shape),
                f"{prev[0]}-{prev[1]}:{nxt[0]}-{nxt[1]}",
            )
            inst.meta.update(prev=prev, next=nxt)
            out.append(inst)
    elif kind == "output_step":
        for name, form in OUT_SQUARED:
            for lam in RATIOS:
                out.append(
                    _out_instance(
                        "squared",
                        A[name],
                        form,
                        lam,
                        "targets",
                        seed_of("squared", name, form, lam, "targets"),
                        f"{name}-{form}",
                    )
                )
                out[-1].meta["atom"] = name
        for form, lam, labels in OUT_CE:
            out.append(
                _out_instance(
                    "cross_entropy",
                    A["simplex"],
                    form,
                    lam,
                    labels,
                    seed_of("cross_entropy", "simplex", form, lam, labels),
                    f"simplex-{form}",
                )
            )
            out[-1].meta["atom"] = "simplex"
    elif kind == "lifted_predict":
        for net, (names, sizes) in NETS.items():
            for lams in LAMS:
                if net.startswith("leaky") and lams == "up":
                    continue
                divs = [A[n] for n in names]
                out.append(
                    _predict_instance(
                        divs,
                        ["joint"] * len(names),
                        sizes,
                        LAMS[lams][: len(names)],
                        15,
                        seed_of(net, lams),
                        f"{net}:{lams}",
                        {"net": net, "lams": lams},
                    )
                )
        for first, last in FY_FIRST:
            out.append(
                _predict_instance(
                    [A[first], A[last]],
                    ["fenchel", "joint"],
                    [5, 7, 4],
                    [1.0, 3.0],
                    15,
                    seed_of(first, last, "fy"),
                    f"{first}-fenchel:{last}-joint",
                    {"net": f"{first}-{last}", "lams": "fy"},
                )
            )
    elif kind == "joint_x_step":
        for net, (names, sizes) in NETS.items():
            for lams in ("flat", "up"):
                divs = [A[n] for n in names]
                out.append(
                    _joint_instance(
                        divs,
                        ["joint"] * len(names),
                        sizes,
                        LAMS[lams][: len(names)],
                        15,
                        seed_of(net, lams, "joint"),
                        f"{net}:{lams}",
                        {"net": net, "lams": lams},
                    )
                )
    return out


# ---------------------------------------------------------------------------- around given atoms
def _u_side_ok(d, form):
    """Whether the atom's divergence can be built with ``u`` a variable (Fenchel-Young: ``phi_star``)."""
    import cvxpy as cp

    try:
        d.divergence(cp.Variable((d.in_dim(2), 3)), cp.Parameter((2, 3)), form)
        return True
    except Exception:  # noqa: BLE001  (a user atom without phi_star, or another missing piece)
        return False


def _label(d, form):
    return f"{d!r}-{form}"


def _around(kind, d, form):
    A = ATOMS
    lab = _label(d, form)
    key = (repr(d), form)
    out = []
    if kind == "w_step":
        if not _u_side_ok(d, form):
            return out
        for ratio in RATIOS:
            for shape in ("well", "ill"):
                out.append(_w_instance(d, form, ratio, shape, seed_of(key, ratio, shape), lab))
    elif kind == "x_step":
        pairs = [((d, form), (A["relu"], "joint")), ((d, form), (A["sigmoid"], "fenchel"))]
        if _u_side_ok(d, form):
            pairs.append(((A["relu"], "joint"), (d, form)))
        for (dp, fp), (dn, fn) in pairs:
            for ratio in RATIOS:
                for shape in ("wide", "tall", "ill"):
                    label = f"{_label(dp, fp)}:{_label(dn, fn)}"
                    out.append(_x_instance(dp, fp, dn, fn, ratio, shape, seed_of(label, ratio, shape), label))
    elif kind == "output_step":
        for lam in RATIOS:
            out.append(_out_instance("squared", d, form, lam, "targets", seed_of(key, "squared", lam), lab))
            for labels in ("onehot", "soft"):
                out.append(
                    _out_instance(
                        "cross_entropy", d, form, lam, labels, seed_of(key, "cross_entropy", lam, labels), lab
                    )
                )
    elif kind in ("lifted_predict", "joint_x_step"):
        nets = [
            ([d, A["simplex"]], [form, "joint"], [6, 7, 4]),
            ([d, A["relu"], A["identity"]], [form, "joint", "joint"], [5, 6, 4, 3]),
        ]
        if form == "joint" and _u_side_ok(d, form):
            nets.append(([A["relu"], d, A["identity"]], ["joint", form, "joint"], [5, 6, 4, 3]))
        make = _predict_instance if kind == "lifted_predict" else _joint_instance
        for divs, forms, sizes in nets:
            for lams in ("flat", "up"):
                label = "-".join(_label(x, f) for x, f in zip(divs, forms)) + f":{lams}"
                out.append(make(divs, forms, sizes, LAMS[lams][: len(divs)], 15, seed_of(label), label, {"lams": lams}))
    return out


def instances(kind, atoms=None):
    """The battery of ``kind``.

    Parameters
    ----------
    kind : {"w_step", "x_step", "output_step", "joint_x_step", "lifted_predict"}
    atoms : list of (Divergence, form), optional
        Build the recipes around these atoms instead of the built-in cases (each atom in
        each role its kind has: the W-step's atom; the previous and the next layer of an
        X-step; the output atom under both losses; the first (and, jointly convex, a middle)
        layer of a network).

    Returns
    -------
    list of Instance
    """
    if kind not in KINDS:
        raise ValidationError(f"kind must be one of {KINDS}, got {kind!r}")
    if atoms is None:
        if kind not in _CACHE:
            _CACHE[kind] = _builtin(kind)
        return list(_CACHE[kind])
    out = []
    for entry in atoms:
        try:
            d, form = entry
        except (TypeError, ValueError):
            raise ValidationError(f"atoms must be a list of (divergence, form) pairs, got {entry!r}") from None
        form = d.check_form(form)
        key = (kind, id(d), form)
        if key not in _CACHE or _CACHE[key][0] is not d:
            _CACHE[key] = (d, _around(kind, d, form))
        out.extend(_CACHE[key][1])
    return out


#: The instances built so far in this process, with their solved references: the tests and
#: :func:`cvxlift.certify` share them (a solver gets copies of the arrays).
_CACHE = {}


__all__ = ["ATOMS", "Instance", "KINDS", "ill_conditioned", "instances", "seed_of", "x_step_data"]
