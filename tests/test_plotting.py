"""Pictures of divergences: ``cvxlift.plotting.plot_divergence`` and ``cvxlift plot``.

The tests read the figure's artists back (``gid`` names them) and check what they show:
the plotted argmin is the CVXPY argmin, it equals ``forward`` where the atom is right and
differs where a declared claim is wrong, and the minimiser markers sit at the minimum of
their curves.
"""

import os
import sys

import cvxpy as cp
import numpy as np
import pytest

import cvxlift
from cvxlift import cli
from cvxlift.exceptions import ValidationError

pytest.importorskip("matplotlib")
from cvxlift.plotting import divergence_curves, plot_divergence  # noqa: E402


def _line(fig, gid):
    for ax in fig.axes:
        for line in ax.get_lines():
            if line.get_gid() == gid:
                return np.asarray(line.get_xdata(), float), np.asarray(line.get_ydata(), float)
    raise AssertionError(f"no line with gid {gid!r}")


def _soft(x, k):
    return np.sign(x) * np.maximum(np.abs(x) - k, 0.0)


def _soft_phi_claiming(forward):
    """The soft-threshold divergence of the tutorial, claiming ``forward``."""
    return cvxlift.declare_divergence(
        "soft_claim",
        forward=forward,
        phi=lambda z: 0.5 * cp.sum_squares(z) + cp.norm1(z),
        phi_star=lambda u: 0.5 * cp.sum_squares(cp.pos(cp.abs(u) - 1)),
        phi_value=lambda Z: np.sum(0.5 * Z**2 + np.abs(Z), axis=0),
        phi_star_value=lambda U: np.sum(0.5 * np.maximum(np.abs(U) - 1, 0) ** 2, axis=0),
        kinks=(-1.0, 1.0),
    )


@pytest.mark.parametrize("form", ["fenchel", "joint"])
def test_relu_argmin_curve_is_forward_and_markers_sit_at_minima(form):
    fig = plot_divergence("relu", form=form, u=[-2.0, 0.5, 3.0], n_line=81)
    s, argmin = _line(fig, "argmin")
    s2, claimed = _line(fig, "forward")
    np.testing.assert_array_equal(s, s2)
    np.testing.assert_allclose(claimed, np.maximum(s, 0.0), atol=0)
    np.testing.assert_allclose(argmin, np.maximum(s, 0.0), atol=1e-6)
    assert s[0] == -4.0 and s[-1] == 4.0 and s.size == 81
    for i, u in enumerate([-2.0, 0.5, 3.0]):
        t, D = _line(fig, f"curve-{i}")
        (t_min,), (d_min,) = _line(fig, f"minimiser-{i}")
        (t_claim,), _ = _line(fig, f"claimed-{i}")
        assert t_min == pytest.approx(max(u, 0.0), abs=1e-6) and t_claim == max(u, 0.0)
        assert d_min <= D.min() + 1e-9  # the marker is at the bottom of its curve
        # Fenchel-Young: D is zero at its minimiser; joint: ||z - u||^2 there, (u)_-^2
        expected = 0.0 if form == "fenchel" else min(u, 0.0) ** 2
        assert d_min == pytest.approx(expected, abs=1e-9)
        assert t.min() <= t_min <= t.max()  # drawn inside the window of its curve
    assert fig.cvxlift_curves.max_error < 1e-6


def test_argmin_is_computed_not_copied_from_forward():
    """A wrong claim: the plotted argmin is the soft threshold, the claim is the hard one."""
    hard = _soft_phi_claiming(lambda U: np.where(np.abs(U) > 1.0, U, 0.0))
    fig = plot_divergence(hard, u=[2.5], n_line=61)
    s, argmin = _line(fig, "argmin")
    _, claimed = _line(fig, "forward")
    np.testing.assert_allclose(argmin, _soft(s, 1.0), atol=1e-5)
    np.testing.assert_allclose(claimed, np.where(np.abs(s) > 1, s, 0.0))
    curves = fig.cvxlift_curves
    assert curves.max_error == pytest.approx(np.max(np.abs(_soft(s, 1) - claimed) / np.maximum(1, np.abs(s))), abs=1e-5)
    assert curves.max_error > 0.3
    (t_min,), _ = _line(fig, "minimiser-0")
    (t_claim,), _ = _line(fig, "claimed-0")
    assert t_min == pytest.approx(1.5, abs=1e-5) and t_claim == 2.5


def test_user_atom_that_is_right_matches():
    soft = _soft_phi_claiming(lambda U: _soft(U, 1.0))
    curves = divergence_curves(soft, n_line=41)
    assert curves.max_error < 1e-5
    np.testing.assert_allclose(curves.argmin, _soft(curves.s, 1.0), atol=1e-5)


def test_flat_maxpool_shows_the_interval_of_minimisers():
    fig = plot_divergence(cvxlift.MaxPool(weight=1.0), u=[3.0, -2.0], n_line=41)
    # u = (3, 1): the paper's divergence is flat on [1, 3]
    t, D = _line(fig, "flat-0")
    dt = np.diff(fig.cvxlift_curves.samples[0]["t"]).max()
    assert t[0] == pytest.approx(1.0, abs=dt) and t[1] == pytest.approx(3.0, abs=dt)
    assert D[0] == D[1] == pytest.approx(fig.cvxlift_curves.samples[0]["D_min"], abs=1e-6)
    # the corrected default (weight 2) has a unique minimiser at the max: no flat bar
    fig2 = plot_divergence(cvxlift.MaxPool(), u=[3.0], n_line=41)
    with pytest.raises(AssertionError):
        _line(fig2, "flat-0")
    s, argmin = _line(fig2, "argmin")
    np.testing.assert_allclose(argmin, np.maximum(s, 1.0), atol=1e-5)


def test_simplex_is_drawn_on_a_segment():
    curves = divergence_curves("simplex", form="joint", n_line=41)
    np.testing.assert_allclose(curves.argmin, np.clip((1 + curves.s) / 2, 0, 1), atol=1e-6)
    assert "u = (s/2, -s/2)" in curves.slice


def test_vector_atom_it_cannot_draw_says_what_it_draws():
    pair = cvxlift.declare_divergence(
        "pairwise",
        forward=lambda U: U,
        phi=lambda z: 0.5 * cp.sum_squares(z),
        phi_star=lambda u: 0.5 * cp.sum_squares(u),
        elementwise=False,
    )
    with pytest.raises(ValidationError, match="draws elementwise atoms"):
        plot_divergence(pair)


@pytest.mark.parametrize(
    "kwargs, match",
    [
        (dict(u_range=-1), "u_range"),
        (dict(u_range=(2, 1)), "u_range"),
        (dict(n_line=2), "n_line"),
        (dict(u=[np.nan]), "u must be"),
        (dict(form="joint", atom="sigmoid"), "no 'joint' form"),
    ],
)
def test_bad_arguments(kwargs, match):
    atom = kwargs.pop("atom", "relu")
    with pytest.raises(cvxlift.CvxliftError, match=match):
        divergence_curves(atom, **kwargs)


def test_draws_into_a_given_figure():
    from matplotlib.figure import Figure

    fig = Figure()
    assert plot_divergence("tanh", figure=fig, n_line=21) is fig and len(fig.axes) == 2


# ---------------------------------------------------------------------- the command
def test_cli_plot_writes_a_png(tmp_path, capsys):
    out = tmp_path / "relu.png"
    assert cli.main(["plot", "leaky_relu", "--form", "joint", "--out", str(out)]) == 0
    assert out.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    text = capsys.readouterr().out
    assert "LeakyReLU(negative_slope=0.01), form='joint'" in text and f"figure written to {out}" in text


@pytest.mark.parametrize(
    "argv, message",
    [
        (["plot", "nope"], "unknown activation 'nope'"),
        (["plot", "sigmoid", "--form", "joint"], "has no 'joint' form"),
        (["plot", "relu", "--out", "x.txt"], "unknown figure format 'txt'"),
        (["plot", "relu", "--out", "no/such/dir/x.png"], "does not exist"),
    ],
)
def test_cli_plot_errors_are_one_line(argv, message, capsys, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    assert cli.main(argv) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and err.startswith("cvxlift plot: error: ") and message in err
    assert os.listdir(tmp_path) == []


def test_cli_plot_never_writes_through_a_symlink(tmp_path, capsys):
    target = tmp_path / "elsewhere.png"
    link = tmp_path / "link.png"
    link.symlink_to(target)
    assert cli.main(["plot", "relu", "--out", str(link)]) == 2
    assert "symbolic link" in capsys.readouterr().err
    assert not target.exists()


_USER_ATOMS = """
import cvxpy as cp
import numpy as np
from cvxpy.transforms import indicator

import cvxlift


def _clip2(name, forward):
    return cvxlift.declare_divergence(
        name, forward=forward,
        phi=lambda z: 0.25 * cp.sum_squares(z) + indicator([z >= 0, z <= 1]),
        phi_star=lambda u: cp.sum(cp.huber(cp.pos(u), 0.5)),
        domain=(0.0, 1.0), lipschitz=2.0, kinks=(0.0, 0.5))


def clip2():
    return _clip2("clip2", lambda U: np.clip(2.0 * U, 0.0, 1.0))


wrong = _clip2("clip2 wrong", lambda U: np.clip(U, 0.0, 1.0))   # claims clip(u, 0, 1)
"""


def _gap(text):
    import re

    return float(re.search(r"largest scaled gap .*?: ([0-9.e+-]+) \(solver", text).group(1))


def test_cli_plot_draws_a_users_atom(tmp_path, capsys, monkeypatch):
    """``cvxlift plot`` loads a user's atom as ``cvxlift verify`` does (PATH.py:NAME, module:NAME),
    draws it (the default figure name is the atom's) and reports its own CVXPY argmin: right for
    the declared ``clip(2u, 0, 1)``, far from a wrong claim."""
    (tmp_path / "plot_user_atoms.py").write_text(_USER_ATOMS)
    monkeypatch.chdir(tmp_path)
    assert cli.main(["plot", "plot_user_atoms.py:clip2", "--u", "0.25", "--range", "2"]) == 0
    text = capsys.readouterr().out
    assert (tmp_path / "clip2-divergence.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert "declare_divergence('clip2'), form='fenchel'" in text and _gap(text) < 1e-3
    monkeypatch.syspath_prepend(str(tmp_path))
    try:
        assert cli.main(["plot", "plot_user_atoms:wrong", "--u", "0.25", "--range", "2", "--out", "w.svg"]) == 0
    finally:
        sys.modules.pop("plot_user_atoms", None)
    text = capsys.readouterr().out
    assert (tmp_path / "w.svg").is_file() and _gap(text) > 0.1
    assert not (tmp_path / "clip2_wrong-divergence.png").exists()


@pytest.mark.parametrize(
    "spec, message",
    [
        ("plot_user_atoms.py:nope", "has no attribute 'nope'; atoms there: wrong"),
        ("missing.py:clip2", "no such file 'missing.py'"),
        ("plot_user_atoms.py", "name the atom in the file as PATH.py:NAME"),
    ],
)
def test_cli_plot_users_atom_errors_are_one_line(spec, message, tmp_path, capsys, monkeypatch):
    (tmp_path / "plot_user_atoms.py").write_text(_USER_ATOMS)
    monkeypatch.chdir(tmp_path)
    assert cli.main(["plot", spec]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and err.startswith("cvxlift plot: error: ") and message in err
    assert sorted(os.listdir(tmp_path)) in (["plot_user_atoms.py"], ["__pycache__", "plot_user_atoms.py"])
