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
        """Called once at the start of each fit (resets per-fit warnings).

        Parameters
        ----------
        net : LiftedNetwork
            The network whose block is solved (atoms, forms, ``lam_``, ``rho_``, weights).
        """

    def cached_preactivation(self, l, W, b, A):
        """:math:`WA + b\\mathbf 1^T` when the backend formed it already (e.g. inside the W-step of
        layer ``l`` that had input ``A`` and returned ``W``, ``b``), else ``None``.

        Parameters
        ----------
        l : int
            Layer index.
        W, b : ndarray
            The layer's weights and bias (compared by identity).
        A : ndarray
            The layer's input states (compared by identity).

        Returns
        -------
        ndarray or None
        """
        return None

    def w_step(self, net, l, A, Z):
        """The W-step of layer ``l`` with input ``A`` and target state ``Z``.

        Parameters
        ----------
        net : LiftedNetwork
            The network whose block is solved (atoms, forms, ``lam_``, ``rho_``, weights).
        l : int
            Layer index, 0-based.
        A : ndarray (n_l, m)
            The layer's input states :math:`X_l`.
        Z : ndarray (n_{l+1}, m)
            The layer's output states :math:`X_{l+1}`.

        Returns
        -------
        W : ndarray (n_{l+1}, n_l)
        b : ndarray (n_{l+1},)
        info : BlockResult or CvxpyInfo
        """
        raise NotImplementedError

    def x_step(self, net, l, U0, Zn, Z0):
        """The X-step of hidden layer ``l`` (``1 <= l <= L``).

        Parameters
        ----------
        net : LiftedNetwork
            The network whose block is solved (atoms, forms, ``lam_``, ``rho_``, weights).
        l : int
            Index of the state :math:`X_l` solved for.
        U0 : ndarray (n_l, m)
            :math:`W_{l-1}X_{l-1} + b_{l-1}\\mathbf 1^T`, the pre-activation feeding :math:`X_l`.
        Zn : ndarray (n_{l+1}, m)
            The next state :math:`X_{l+1}` (fixed).
        Z0 : ndarray (n_l, m)
            The current :math:`X_l` (a warm start).

        Returns
        -------
        Z : ndarray (n_l, m)
        info : BlockResult or CvxpyInfo
        """
        raise NotImplementedError

    def output_step(self, net, U0, Y, Z0=None):
        """The output step: the last state given the loss and its pre-activation.

        Parameters
        ----------
        net : LiftedNetwork
            The network whose block is solved (atoms, forms, ``lam_``, ``rho_``, weights).
        U0 : ndarray (K, m)
            The output layer's pre-activation.
        Y : ndarray (K, m)
            Targets.
        Z0 : ndarray (K, m), optional
            The current output state (a warm start).

        Returns
        -------
        Z : ndarray (K, m)
        info : BlockResult or CvxpyInfo
        """
        raise NotImplementedError

    def joint_x_step(self, net, U0, Y, states0):
        """Every state at once (jointly convex forms).

        Parameters
        ----------
        net : LiftedNetwork
            The network whose block is solved (atoms, forms, ``lam_``, ``rho_``, weights).
        U0 : ndarray (n_1, m)
            The first layer's pre-activation :math:`W_0X_0 + b_0\\mathbf 1^T`.
        Y : ndarray (K, m)
            Targets.
        states0 : list of ndarray
            The current ``[X_1, ..., X_{L+1}]`` (a warm start).

        Returns
        -------
        states : list of ndarray
        info : BlockResult or CvxpyInfo
        """
        raise NotImplementedError

    def supports_joint(self, net):
        """Whether :meth:`joint_x_step` has a solver of this backend for ``net``.

        Parameters
        ----------
        net : LiftedNetwork
            The network whose block is solved (atoms, forms, ``lam_``, ``rho_``, weights).

        Returns
        -------
        bool
        """
        return net.jointly_convex

    def predict(self, net, X, max_iter, tol):
        """The lifted prediction rule (12) for the columns of ``X``.

        Parameters
        ----------
        net : LiftedNetwork
            The network whose block is solved (atoms, forms, ``lam_``, ``rho_``, weights).
        X : ndarray (n_0, m)
            Inputs, one column per sample.
        max_iter : int
            Iteration budget of iterative solvers.
        tol : float
            Certificate tolerance.

        Returns
        -------
        states : list of ndarray
            ``[X_1, ..., X_{L+1}]``.
        info : BlockResult or CvxpyInfo
        """
        raise NotImplementedError
