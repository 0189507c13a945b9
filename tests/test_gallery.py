"""The gallery scripts (examples/gallery/): structure and captions, checked on the sources.

``mkdocs build`` runs every script (CI fails when one fails) and ``tests/test_site_browser.py``
checks the built pages; these tests are the cheap part that runs by default: every figure a
script makes is followed by a numbered caption with the command that makes it, and the
Table 1 page (the only one that reads stored results) draws its figure when run as its
caption says.
"""

import ast
import re
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
GALLERY = ROOT / "examples" / "gallery"
SCRIPTS = sorted(GALLERY.glob("plot_*.py"))


def _new_figures(node, makers):
    """Calls in ``node`` (not inside function definitions) that open a figure: ``plt.figure`` or
    ``plt.subplots`` with a ``figsize``, or a call of a function of the script that does."""
    count = 0
    stack = [node]
    while stack:
        n = stack.pop()
        if isinstance(n, (ast.FunctionDef, ast.Lambda)) and n is not node:
            continue
        if isinstance(n, ast.Call):
            f = n.func
            if (
                isinstance(f, ast.Attribute)
                and f.attr in ("figure", "subplots")
                and isinstance(f.value, ast.Name)
                and f.value.id == "plt"
                and any(k.arg == "figsize" for k in n.keywords)
            ):
                count += 1
            elif isinstance(f, ast.Name) and f.id in makers:
                count += 1
        stack.extend(ast.iter_child_nodes(n))
    return count


def figure_counts(path, parts):
    """Figures opened by each cell's code."""
    tree = ast.parse(path.read_text(encoding="utf-8"))
    makers = {
        f.name for f in ast.walk(tree) if isinstance(f, ast.FunctionDef) and any(_new_figures(b, set()) for b in f.body)
    }
    return [_new_figures(ast.parse(code), makers) if code.strip() else 0 for _, code in parts]


def cells(path):
    """``[(text, code), ...]``: the text (comment lines) and the code of each ``# %%`` cell."""
    source = path.read_text(encoding="utf-8")
    body = source.split('"""', 2)[2]  # after the page's docstring
    out = []
    for chunk in re.split(r"^# %%[^\n]*\n", body, flags=re.M)[1:]:
        lines = chunk.splitlines()
        k = 0
        while k < len(lines) and (lines[k].startswith("#") or not lines[k].strip()):
            k += 1
        text = "\n".join(ln[1:].strip() for ln in lines[:k] if ln.startswith("#"))
        out.append((text, "\n".join(lines[k:])))
    return out


def test_the_gallery_has_its_pages():
    names = [p.stem for p in SCRIPTS]
    assert names == sorted(names) and len(names) >= 6, names
    assert (GALLERY / "README.md").is_file()
    for path in SCRIPTS:
        doc = path.read_text(encoding="utf-8").split('"""')[1]
        assert doc.lstrip().startswith("# "), f"{path.name}: the docstring must start with a '# Title' line"


@pytest.mark.parametrize("path", SCRIPTS, ids=lambda p: p.stem)
def test_every_figure_has_a_numbered_caption_with_its_command(path):
    parts = cells(path)
    number = 0
    for i, made in enumerate(figure_counts(path, parts)):
        if not made:
            continue
        assert made == 1, f"{path.name}: one figure per cell (so that each has its caption), found {made}"
        number += 1
        assert i + 1 < len(parts), f"{path.name}: figure {number} has no caption cell after it"
        caption = parts[i + 1][0]
        assert caption.startswith(f"**Figure {number}.**"), (path.name, caption[:60])
        commands = re.findall(r"`((?:python|cvxlift) [^`]+)`", caption)
        assert commands, f"{path.name}: the caption of figure {number} names no command"
        assert f"python examples/gallery/{path.name} OUT" in caption, (
            f"{path.name}: caption {number} must give the command that writes this very figure"
        )
        named = re.findall(re.escape(path.stem) + r"-(\d+)\.png", caption)
        assert all(int(k) == number for k in named), f"{path.name}: caption {number} names figure file(s) {named}"
    assert number >= 1, f"{path.name} makes no figure"
    assert 'savefig(f"{sys.argv[1]}/' + path.stem in path.read_text(encoding="utf-8"), (
        f"{path.name}: running it with a folder argument must write its figures (as its captions say)"
    )


def test_the_table1_page_draws_from_the_stored_results(tmp_path):
    proc = subprocess.run(
        [sys.executable, str(GALLERY / "plot_06_table1.py"), str(tmp_path)],
        cwd=str(ROOT),
        capture_output=True,
        text=True,
        timeout=300,
        env={"MPLBACKEND": "Agg", "PATH": ""},
    )
    assert proc.returncode == 0, proc.stderr
    assert (tmp_path / "plot_06_table1-1.png").read_bytes()[:4] == b"\x89PNG"
    assert "784-400-200-100-50-10" in proc.stdout and "NN[Lifted] - NN[Xavier]" in proc.stdout
