r"""What the training engine asks of a family of block solvers: the :class:`Backend` interface.

A backend solves the blocks of the lifted problem (paper eq. 10, the output layer lifted as
in eq. 14) for one network, each block exactly (or to its certificate) from the data the
engine gives it:

==================  ========================================================================
``w_step``          :math:`\min_{W,b}\ \lambda_{l+1} D_l(WX_l + b\mathbf 1^T, X_{l+1}) + \rho_l\|W\|_F^2`
``x_step``          :math:`\min_Z\ \lambda_l D_{l-1}(U_0, Z) + \lambda_{l+1} D_l(W_lZ + b_l\mathbf 1^T, X_{l+1})`
``output_step``     :math:`\min_Z\ \mathcal L(Y, Z) + \lambda_{L+1} D_L(U_0, Z)`
``joint_x_step``    every state :math:`X_1..X_{L+1}` at once (every form jointly convex)
``predict``         the lifted prediction rule (12)
==================  ========================================================================

Each method returns the new iterate and an ``info`` object that the engine records in
``block_info_`` (a :class:`~cvxlift.fast.BlockResult` for the fast solvers, a
:class:`CvxpyInfo` for CVXPY). Backends keep no training state between fits except
compiled problems and factorisations keyed by the data they were built from.
"""
from dataclasses import dataclass, field

__all__ = ["Backend", "CvxpyInfo"]


@dataclass
class CvxpyInfo:
    """What the CVXPY solves of one block did.

    Attributes
    ----------
    block : str
        The block's name (``"layer 1, X-step"``).
    solver : str
        The CVXPY solver that succeeded (e.g. ``"OSQP"``; the worst chunk's).
    status : str
        ``"optimal"``, or the worst status accepted (``"optimal_inaccurate"``).
    seconds : float
        Wall-clock time of the solves (compilation included).
    chunks : int
        Number of column chunks solved.
    attempts : list
        ``(solver, status)`` of every attempt, chunk after chunk.
    fallback : str or None
        Under ``solver="fast"``: why no fast solver applied (``None`` otherwise).
    """

    block: str
    solver: str
    status: str
    seconds: float
    chunks: int = 1
    attempts: list = field(default_factory=list)
    fallback: str = None

    @property
    def converged(self):
        """``True`` when every chunk reached ``optimal``."""
        return self.status == "optimal"


class Backend:
    """Interface of a block-solver family; see the module docstring for the blocks.

    Subclasses implement every method. ``U0`` is the pre-activation that feeds the block's
    first state, ``Z0``/``states0`` the current iterate (a warm start).
    """

    #: Name used by ``fit(solver=...)``.
    name = None

    def make_state(self, net, X, Y):
        """The iterate of one fit on ``X``, ``Y``: a :class:`~cvxlift.training.state.LiftedState`
        that asks this backend for cached pre-activations (a backend over other arrays, e.g.
        :class:`cvxlift.distributed.DaskBackend`, returns its counterpart).

        Parameters
        ----------
        net : LiftedNetwork
        X, Y : arrays
            The data of the fit (validated).

        Returns
        -------
        LiftedState
        """
        from .state import LiftedState

        return LiftedState(net, X, Y, backend=self)

    def begin(self, net):
        """Called once at the start of each fit (resets per-fit warnings)."""

    def cached_preactivation(self, l, W, b, A):
        """:math:`WA + b\\mathbf 1^T` when the backend formed it already (e.g. inside the W-step of
        layer ``l`` that had input ``A`` and returned ``W``, ``b``), else ``None``."""
        return None

    def w_step(self, net, l, A, Z):
        """``(W, b, info)``: the W-step of layer ``l`` with input ``A`` and target state ``Z``."""
        raise NotImplementedError

    def x_step(self, net, l, U0, Zn, Z0):
        """``(Z, info)``: the X-step of hidden layer ``l`` (``1 <= l <= L``)."""
        raise NotImplementedError

    def output_step(self, net, U0, Y, Z0=None):
        """``(Z, info)``: the output step."""
        raise NotImplementedError

    def joint_x_step(self, net, U0, Y, states0):
        """``(states, info)``: every state at once (jointly convex forms)."""
        raise NotImplementedError

    def supports_joint(self, net):
        """``True`` when :meth:`joint_x_step` has a solver of this backend for ``net``."""
        return net.jointly_convex

    def predict(self, net, X, max_iter, tol):
        """``(states, info)``: the lifted prediction rule (12) for the columns of ``X``."""
        raise NotImplementedError
