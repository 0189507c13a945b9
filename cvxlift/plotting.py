"""Plots for the command line (``cvxlift demo``). Needs matplotlib (``pip install "cvxlift[plot]"``).

matplotlib is imported inside the functions, so importing this module (or ``cvxlift``)
never pulls it in. The figures are drawn with matplotlib's object-oriented API and the
Agg canvas: no pyplot state and no change of the user's backend.
"""

__all__ = ["plot_training", "matplotlib_available"]


def matplotlib_available():
    """True when matplotlib can be imported."""
    try:
        import matplotlib  # noqa: F401
    except ImportError:
        return False
    return True


def plot_training(objective, accuracy, path, title=None, dpi=110):
    """Write a two-panel PNG: the lifted objective per sweep and the test accuracy per sweep.

    Parameters
    ----------
    objective : sequence of float
        Lifted objective after each sweep; entry 0 is the objective at initialisation.
    accuracy : sequence of float
        Test accuracy (fraction in [0, 1]) after each sweep, entry 0 at initialisation.
    path : str or path-like
        Output file (PNG).
    title : str, optional
        Title of the figure.

    Raises
    ------
    ImportError
        When matplotlib is not installed.
    """
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    fig = Figure(figsize=(9.0, 3.6), layout="constrained")
    FigureCanvasAgg(fig)
    ax_obj, ax_acc = fig.subplots(1, 2)
    sweeps = range(len(objective))
    ax_obj.plot(sweeps, objective, marker="o", color="tab:blue")
    if min(objective) > 0:
        ax_obj.set_yscale("log")
    ax_obj.set_xlabel("sweep")
    ax_obj.set_ylabel("lifted objective")
    ax_obj.set_title("lifted training objective")
    ax_obj.grid(True, alpha=0.3)
    ax_acc.plot(range(len(accuracy)), [100.0 * a for a in accuracy], marker="o", color="tab:green")
    ax_acc.set_xlabel("sweep")
    ax_acc.set_ylabel("test accuracy (%)")
    ax_acc.set_ylim(0, 100)
    ax_acc.set_title("test accuracy, forward prediction")
    ax_acc.grid(True, alpha=0.3)
    for ax in (ax_obj, ax_acc):
        ax.xaxis.get_major_locator().set_params(integer=True)
    if title:
        fig.suptitle(title)
    fig.savefig(path, dpi=dpi)
    return path
