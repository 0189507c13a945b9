"""The atom contract (checked at class creation) and the registry (classes only, names, duplicates)."""

import cvxpy as cp
import numpy as np
import pytest
from cvxpy.transforms import indicator

import cvxlift
from cvxlift import Divergence, FormError, ValidationError
from cvxlift.divergences import registry
from cvxlift.divergences.base import CONTRACT


@pytest.fixture
def clean_registry(monkeypatch):
    """A private copy of the registry, restored after the test."""
    monkeypatch.setattr(registry, "_REGISTRY", dict(registry._REGISTRY))


def _fenchel_pieces(skip=()):
    """The methods of a complete elementwise Fenchel-Young atom (the identity), minus ``skip``."""
    pieces = dict(
        phi=lambda self, z: 0.5 * cp.sum_squares(z),
        phi_star=lambda self, u: 0.5 * cp.sum_squares(u),
        _forward=lambda self, U: U,
        phi_value=lambda self, z: 0.5 * np.sum(np.asarray(z) ** 2, axis=0),
        phi_star_value=lambda self, u: 0.5 * np.sum(np.asarray(u) ** 2, axis=0),
    )
    return {k: v for k, v in pieces.items() if k not in skip}


@pytest.mark.parametrize("missing", ["phi", "phi_star", "_forward", "phi_value", "phi_star_value"])
def test_class_creation_names_the_missing_method(missing, clean_registry):
    with pytest.raises(FormError, match=rf"declares the 'fenchel' form but does not implement {missing}\b"):
        type("Partial", (Divergence,), dict(_fenchel_pieces(skip=(missing,)), forms=("fenchel",), name="partial"))
    assert "partial" not in cvxlift.available()  # nothing registered on failure


def test_complete_class_registers_and_vector_atoms_need_a_prox(clean_registry):
    cls = type("MyIdentity", (Divergence,), dict(_fenchel_pieces(), forms=("fenchel",), name="my-identity"))
    assert registry.lookup("my_identity") is cls and registry.lookup("MY-IDENTITY") is cls
    # elementwise: the prox is derived from forward (exact); a vector atom must bring its own
    np.testing.assert_allclose(cls().prox_z(np.array([1.0]), np.array([2.0]), 0.5), [(2.0 + 0.5) / 1.5])
    with pytest.raises(FormError, match="does not implement prox_phi"):
        type("VecAtom", (Divergence,), dict(_fenchel_pieces(), forms=("fenchel",), elementwise=False))
    with pytest.raises(FormError, match="does not implement joint_value"):
        type(
            "J",
            (Divergence,),
            dict(joint=lambda self, u, z: cp.sum_squares(z - u), _forward=lambda self, U: U, forms=("joint",)),
        )
    with pytest.raises(FormError, match="forms must be"):
        type("Bad", (Divergence,), dict(_fenchel_pieces(), forms=("bogus",)))
    assert set(CONTRACT) == {"fenchel", "joint"}


def test_abstract_classes_are_not_checked_or_registered(clean_registry):
    base = type("Base", (Divergence,), {"name": "abstract_base"}, abstract=True)
    assert "abstract_base" not in cvxlift.available()
    sub = type("Sub", (base,), dict(_fenchel_pieces(), forms=("fenchel",), name="concrete_sub"))
    assert registry.lookup("concrete_sub") is sub


def test_registry_rejects_duplicates_and_holds_classes(clean_registry):
    first = type("A1", (Divergence,), dict(_fenchel_pieces(), forms=("fenchel",), name="soft-thr"))
    assert "soft_thr" in cvxlift.available() and registry.lookup("soft-thr") is first
    with pytest.raises(ValidationError, match="'soft_thr'.*taken by.*A1"):
        type("A2", (Divergence,), dict(_fenchel_pieces(), forms=("fenchel",), name="soft_thr"))
    second = type("A3", (Divergence,), dict(_fenchel_pieces(), forms=("fenchel",), name="Soft-Thr"), replace=True)
    assert registry.lookup("soft_thr") is second
    with pytest.raises(ValidationError, match="classes only"):
        registry.register(second(), "instance")
    with pytest.raises(ValidationError, match="non-empty"):
        registry.register(second, "  ")
    # a built-in name cannot be taken silently
    with pytest.raises(ValidationError, match="relu"):
        registry.register(second, "ReLU")
    # the names are normalised alike on register and lookup, and the entries are classes
    assert all(isinstance(registry.lookup(n), type) for n in cvxlift.available())
    assert isinstance(cvxlift.get_divergence("Soft-Thr"), second)


def test_declared_atoms_are_classes_and_duplicates_raise(clean_registry):
    def make(**kw):
        return cvxlift.declare_divergence(
            "my-soft",
            forward=lambda U: np.maximum(U, 0),
            phi=lambda z: 0.5 * cp.sum_squares(z) + indicator([z >= 0]),
            phi_star=lambda u: 0.5 * cp.sum_squares(cp.pos(u)),
            **kw,
        )

    d = make(register=True)
    assert isinstance(d, cvxlift.divergences.custom.CustomDivergence)
    assert registry.lookup("my_soft") is type(d)
    assert cvxlift.get_divergence("my-soft") == d
    with pytest.raises(ValidationError, match="taken"):
        make(register=True)
    assert registry.lookup("my_soft") is type(d)
    d2 = make(register=True, replace=True)
    assert registry.lookup("my-soft") is type(d2) and d2 != d
    # unregistered declarations do not touch the registry
    make()
    assert registry.lookup("my_soft") is type(d2)


def test_dead_names_are_gone():
    assert not hasattr(Divergence, "grad_phi_star")
    assert Divergence.lipschitz is None  # no silent default for the fast path
