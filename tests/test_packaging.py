"""Packaging / front-door checks.

* ``import cvxlift`` must not pull in any optional extra;
* every ```python block in README.md must run as written;
* the README's test command and the one in ``.ci/run`` must not drift apart.
"""

import os
import re
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
README = ROOT / "README.md"
CI_RUN = ROOT / ".ci" / "run"
TEST_COMMAND = "python -m pytest -q"

OPTIONAL_MODULES = ("torch", "matplotlib", "tqdm", "dask", "sklearn")


def _env():
    """Environment for subprocesses: the checkout first on sys.path."""
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join(p for p in (str(ROOT), env.get("PYTHONPATH", "")) if p)
    env.setdefault("MPLBACKEND", "Agg")
    return env


def _run_python(code, timeout, cwd=ROOT):
    return subprocess.run(
        [sys.executable, "-c", code],
        cwd=str(cwd),
        env=_env(),
        stdin=subprocess.DEVNULL,
        capture_output=True,
        text=True,
        timeout=timeout,
    )


def _fenced_blocks(text, lang):
    pattern = re.compile(r"^```" + re.escape(lang) + r"[ \t]*\n(.*?)^```[ \t]*$", re.MULTILINE | re.DOTALL)
    return [m.group(1) for m in pattern.finditer(text)]


def _setup_section(text):
    m = re.search(r"^## Set-up[ \t]*\n(.*?)(?=^## |\Z)", text, re.MULTILINE | re.DOTALL)
    assert m, "README.md has no '## Set-up' section"
    return m.group(1)


_BLOCKER = """
import sys
attempts = []

class Blocker:
    def find_spec(self, name, path=None, target=None):
        if name.split(".")[0] in OPTIONAL:
            attempts.append(name)
            raise ImportError("blocked optional module " + name)
        return None

sys.meta_path.insert(0, Blocker())
import cvxlift
import cvxlift.training, cvxlift.fast, cvxlift.cli, cvxlift.persistence
assert not attempts, attempts
assert not [m for m in OPTIONAL if m in sys.modules]
print("ok")
"""


def test_import_pulls_in_no_optional_extra():
    """``import cvxlift`` (and its core modules) must not even try to import an optional extra:
    every such import is blocked and recorded in the subprocess, installed or not."""
    code = "OPTIONAL = %r\n" % (OPTIONAL_MODULES,) + _BLOCKER
    proc = _run_python(code, timeout=300)
    assert proc.returncode == 0 and proc.stdout.strip() == "ok", proc.stdout + proc.stderr


def test_import_blocker_catches_an_optional_import():
    """The check above can fail: importing an optional module under the blocker is reported."""
    try_dask = "import cvxlift\ntry:\n    import dask\nexcept ImportError:\n    pass\n"
    code = "OPTIONAL = %r\n" % (OPTIONAL_MODULES,) + _BLOCKER.replace("import cvxlift\n", try_dask, 1)
    proc = _run_python(code, timeout=300)
    assert proc.returncode != 0 and "dask" in proc.stderr


def test_readme_python_blocks_run(tmp_path):
    blocks = _fenced_blocks(README.read_text(encoding="utf-8"), "python")
    assert blocks, "README.md has no ```python block"
    for i, block in enumerate(blocks):
        proc = _run_python(block, timeout=600, cwd=tmp_path)  # files the blocks write land here
        assert proc.returncode == 0, "README python block %d failed:\n%s\n--- stdout ---\n%s\n--- stderr ---\n%s" % (
            i,
            block,
            proc.stdout,
            proc.stderr,
        )


def test_readme_and_ci_run_same_test_command():
    setup = _setup_section(README.read_text(encoding="utf-8"))
    bash_blocks = _fenced_blocks(setup, "bash")
    assert bash_blocks, "README Set-up section has no ```bash block"
    commands = [ln.strip() for ln in bash_blocks[0].splitlines() if ln.strip()]
    assert len(commands) == 2, commands
    assert commands[1] == TEST_COMMAND, commands

    ci_lines = [
        ln.strip()
        for ln in CI_RUN.read_text(encoding="utf-8").splitlines()
        if ln.strip() and not ln.strip().startswith("#")
    ]
    assert TEST_COMMAND in ci_lines, ".ci/run must run the README's test command %r on a line of its own" % TEST_COMMAND
