r"""Export a lifted network to PyTorch: :func:`to_torch`.

A trained :class:`~cvxlift.LiftedNetwork` is, at prediction time (``rule="forward"``), the
plain feed-forward network of paper eq. (2),

.. math:: x_{l+1} = \phi_l(W_l x_l + b_l),\qquad l = 0, \dots, L,

with :math:`\phi_l(u) = \arg\min_z D_l(u, z)` the map of layer ``l``'s divergence atom.
:func:`to_torch` returns it as a :class:`torch.nn.Sequential` of ``nn.Linear`` layers
(``weight = W_l`` of shape ``(n_u, n_in)``, ``bias = b_l``) each followed by the torch
module of :math:`\phi_l`. PyTorch works on rows (``(batch, features)``); the network's
columns become rows, so ``module(torch.from_numpy(X.T)).T == network.forward(X)[-1]``.

The activation module comes from the atom itself: :meth:`Divergence.torch_module`
(a declared atom: ``declare_divergence(..., torch_module=factory)``), so a new atom is one
file. The built-in atoms return:

==============  ============================================================
atom            torch module
==============  ============================================================
``relu``        ``nn.ReLU()``
``leaky_relu``  ``nn.LeakyReLU(negative_slope)``
``clipped``     ``nn.Hardtanh(lower, upper)``
``sigmoid``     ``nn.Sigmoid()``
``tanh``        ``nn.Tanh()``
``identity``    ``nn.Identity()``
``simplex``     :class:`SimplexProjection` (Euclidean projection onto the simplex,
                sort-based; *not* softmax)
``maxpool``     :class:`GroupMax` (max over consecutive groups of ``pool_size``)
``sin``         :class:`ClippedSine`, :math:`\sin(\mathrm{clip}(u, -\pi/2, \pi/2))`
==============  ============================================================

:func:`register_torch_activation` (a name -> factory table, :data:`TORCH_ACTIVATIONS`) still
works and takes precedence, but is deprecated: it warns once per call.

PyTorch is imported only when a module is built; without it :func:`to_torch` raises an
``ImportError`` naming ``pip install cvxlift[torch]``.
"""

import functools
import math
import warnings
from collections import OrderedDict

import numpy as np

from .exceptions import CvxliftError, NotFittedError, NoTorchEquivalent, ValidationError

__all__ = [
    "NoTorchEquivalent",
    "OUTPUTS",
    "TORCH_ACTIVATIONS",
    "register_torch_activation",
    "to_torch",
    "activation_module",
    "module_class",
    "torch_nn",
    "SimplexProjection",
    "GroupMax",
    "ClippedSine",
]

#: Values of the ``output`` argument of :func:`to_torch`.
OUTPUTS = ("activation", "logits")
_MODULE_CLASSES = ("SimplexProjection", "GroupMax", "ClippedSine")


def _import_torch():
    try:
        import torch
    except ImportError as exc:
        raise ImportError(
            "cvxlift.torch_export needs PyTorch, which is not installed; install it with "
            "`pip install cvxlift[torch]` (or `pip install torch`)"
        ) from exc
    return torch


@functools.lru_cache(maxsize=None)
def _module_classes():
    """The torch modules cvxlift defines (built on first use, so torch is imported lazily)."""
    torch = _import_torch()
    nn = torch.nn

    class SimplexProjection(nn.Module):
        r"""Euclidean projection of each row onto the probability simplex.

        :math:`\Pi_\Delta(v) = (v - \tau\mathbf 1)_+` with :math:`\tau` from the sorted
        entries (Held et al.; Duchi et al. 2008), as :func:`cvxlift.numeric.project_simplex`
        and the ``Simplex`` atom's ``forward``. Acts on the last dimension.
        """

        def forward(self, x):
            w = x - x.amax(dim=-1, keepdim=True)  # shift-equivariant; shifted for accuracy
            s, _ = torch.sort(w, dim=-1, descending=True)
            css = torch.cumsum(s, dim=-1) - 1.0
            k = torch.arange(1, x.shape[-1] + 1, device=x.device, dtype=x.dtype)
            cond = s - css / k > 0
            idx = torch.arange(1, x.shape[-1] + 1, device=x.device)
            rho = torch.where(cond, idx, torch.zeros_like(idx)).amax(dim=-1, keepdim=True)  # last true (>= 1)
            tau = torch.gather(css, -1, rho - 1) / rho.to(x.dtype)
            return torch.clamp(w - tau, min=0.0)

    class GroupMax(nn.Module):
        """Max over consecutive groups of ``pool_size`` entries of the last dimension
        (the ``MaxPool`` atom: entries ``j k .. j k + k - 1`` form output ``j``)."""

        def __init__(self, pool_size):
            super().__init__()
            self.pool_size = int(pool_size)

        def forward(self, x):
            return x.unflatten(-1, (-1, self.pool_size)).amax(dim=-1)

        def extra_repr(self):
            return f"pool_size={self.pool_size}"

    class ClippedSine(nn.Module):
        r""":math:`\sin(\mathrm{clip}(u, -\pi/2, \pi/2))`, the map of the ``Sin`` atom
        (its divergence realises the clipped sine, see ``cvxlift/divergences/sine.py``)."""

        def forward(self, x):
            return torch.sin(torch.clamp(x, -0.5 * math.pi, 0.5 * math.pi))

    classes = {"SimplexProjection": SimplexProjection, "GroupMax": GroupMax, "ClippedSine": ClippedSine}
    for name, cls in classes.items():  # picklable as cvxlift.torch_export.<name> (see __getattr__)
        cls.__module__ = __name__
        cls.__qualname__ = name
    return classes


def __getattr__(name):
    if name in _MODULE_CLASSES:
        return _module_classes()[name]
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


# ---------------------------------------------------------------------------- the modules
def torch_nn():
    """``torch.nn``, imported on first use (an ``ImportError`` naming the extra without torch).

    Returns
    -------
    module
    """
    return _import_torch().nn


def module_class(name):
    """One of cvxlift's torch module classes by name (built on first use).

    Parameters
    ----------
    name : {"SimplexProjection", "GroupMax", "ClippedSine"}

    Returns
    -------
    type
        A ``torch.nn.Module`` subclass.
    """
    if name not in _MODULE_CLASSES:
        raise ValidationError(f"name must be one of {_MODULE_CLASSES}, got {name!r}")
    return _module_classes()[name]


#: Deprecated: atom registry name -> ``factory(atom) -> torch.nn.Module``, filled by
#: :func:`register_torch_activation`; an entry here overrides the atom's own
#: :meth:`~cvxlift.divergences.base.Divergence.torch_module`.
TORCH_ACTIVATIONS = {}


def register_torch_activation(name, factory):
    """Deprecated: map the atom registered as ``name`` to ``factory(atom) -> torch.nn.Module``.

    Define ``torch_module()`` on the atom's class (or pass ``torch_module=`` to
    :func:`~cvxlift.declare_divergence`) instead. An entry made here takes precedence over
    the atom's own module. :func:`to_torch` checks the export numerically (``check=True``),
    so a wrong factory is caught at export time.

    Parameters
    ----------
    name : str
        Registry name of the atom (normalised as the registry does).
    factory : callable
        ``factory(atom) -> torch.nn.Module`` computing ``forward`` on the last dimension.

    Returns
    -------
    callable
        ``factory``.
    """
    if not isinstance(name, str) or not name:
        raise ValidationError(f"name must be an atom's registry name, got {name!r}")
    if not callable(factory):
        raise ValidationError(f"factory must be callable (atom -> torch.nn.Module), got {factory!r}")
    warnings.warn(
        "register_torch_activation is deprecated: define torch_module() on the atom's class, or pass "
        "torch_module=... to declare_divergence",
        DeprecationWarning,
        stacklevel=2,
    )
    from .divergences.registry import normalize

    TORCH_ACTIVATIONS[normalize(name)] = factory
    return factory


def activation_module(atom):
    """The torch module of ``atom``'s map: a :func:`register_torch_activation` entry, else
    ``atom.torch_module()``.

    Parameters
    ----------
    atom : Divergence

    Returns
    -------
    torch.nn.Module

    Raises
    ------
    NoTorchEquivalent
        The atom has none.
    """
    from .divergences.registry import normalize

    factory = TORCH_ACTIVATIONS.get(normalize(atom.name or ""))
    if factory is not None:
        return factory(atom)
    return atom.torch_module()


# ---------------------------------------------------------------------------- export
def to_torch(network, dtype=None, output="activation", check=True):
    r"""A fitted lifted network as a :class:`torch.nn.Sequential`.

    Parameters
    ----------
    network : LiftedNetwork or fitted cvxlift estimator
        The network (an estimator's ``network_`` is used). It must have weights.
    dtype : torch.dtype, optional
        Floating dtype of the parameters (default ``torch.float64``, the precision the
        network was trained in).
    output : {"activation", "logits"}
        ``"activation"``: the last module is the output atom's map, so the module computes
        ``network.forward(X)[-1]`` (for a cross-entropy network, probabilities from the
        simplex projection). ``"logits"``: the last module is ``nn.Identity``, giving the
        output layer's pre-activation :math:`W_L x_L + b_L`.
    check : bool
        Compare the module with the numpy forward pass on a few random inputs and raise
        :class:`~cvxlift.exceptions.CvxliftError` on a mismatch (guards custom factories).

    Returns
    -------
    torch.nn.Sequential
        Modules ``linear0, <atom>0, linear1, <atom>1, ...``; ``linear<l>`` has
        ``weight = W_l`` (``(n_u, n_in)``) and ``bias = b_l``. Input: ``(batch, n_0)``.
    """
    net = getattr(network, "network_", network)
    from .network import LiftedNetwork

    if not isinstance(net, LiftedNetwork):
        raise ValidationError(
            f"to_torch expects a LiftedNetwork or a fitted cvxlift estimator, got {type(network).__name__}"
        )
    if getattr(net, "weights_", None) is None:
        raise NotFittedError("to_torch: the network has no weights yet; call fit() (or init_weights()) first")
    if output not in OUTPUTS:
        raise ValidationError(f"output must be one of {OUTPUTS}, got {output!r}")
    torch = _import_torch()
    dtype = torch.float64 if dtype is None else dtype
    if not (isinstance(dtype, torch.dtype) and dtype.is_floating_point):
        raise ValidationError(f"dtype must be a floating torch.dtype (e.g. torch.float32), got {dtype!r}")
    nn = torch.nn
    layers = OrderedDict()
    last = net.n_layers - 1
    for l, atom in enumerate(net.activations_):
        W = np.asarray(net.weights_[l], dtype=np.float64)
        b = np.asarray(net.biases_[l], dtype=np.float64)
        lin = nn.Linear(W.shape[1], W.shape[0], bias=True, dtype=dtype)
        with torch.no_grad():
            lin.weight.copy_(torch.from_numpy(W))
            lin.bias.copy_(torch.from_numpy(b))
        layers[f"linear{l}"] = lin
        if l == last and output == "logits":
            layers["logits"] = nn.Identity()
        else:
            layers[f"{atom.name}{l}"] = activation_module(atom)
    module = nn.Sequential(layers)
    if check:
        _check_export(net, module, dtype, output, torch)
    return module


def _check_export(net, module, dtype, output, torch):
    rng = np.random.default_rng(0)
    X = rng.normal(size=(net.sizes[0], 16))
    states = net.forward(X)
    if output == "logits":
        prev = states[-2] if net.n_layers > 1 else X
        ref = net.preactivation(net.n_layers - 1, prev)
    else:
        ref = states[-1]
    with torch.no_grad():
        got = module(torch.from_numpy(X.T.copy()).to(dtype)).to(torch.float64).numpy().T
    tol = 1e-6 if dtype == torch.float64 else 1e-3 if dtype in (torch.float32,) else 5e-2
    scale = max(1.0, float(np.max(np.abs(ref))))
    err = float(np.max(np.abs(got - ref))) if ref.size else 0.0
    if got.shape != ref.shape or not np.isfinite(err) or err > tol * scale:
        raise CvxliftError(
            f"to_torch: the torch module does not reproduce network.forward (max abs error {err:.3g} on "
            f"random inputs, shape {got.shape} vs {ref.shape}); check the torch modules of "
            f"{[a.name for a in net.activations_]}"
        )
