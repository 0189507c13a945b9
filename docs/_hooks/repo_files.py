r"""MkDocs hooks: repository links outside ``docs/``, and ``|`` inside math in tables.

1. Links to files of the repository outside ``docs/``.

A page may link to a repository file with a relative path that leaves ``docs/``, e.g.
``[examples/custom_divergence.py](../examples/custom_divergence.py)``. On GitHub such a
link works; in the built site it would be broken (and ``mkdocs build --strict`` warns).
This hook copies each such target (an existing file inside the repository, outside
``docs/``) into the site under ``repo/<path>`` and points the link there. A link whose
target does not exist is left alone, so MkDocs still reports it.

2. A bare ``|`` inside ``$...$`` on a Markdown table row (``$|u| \le 1$``) would end the
table cell. On table rows, such bars (not ``\|``, the norm) become ``\vert`` before the
Markdown is parsed; the page sources stay as they are.
"""
import os
import posixpath
import re

from mkdocs.structure.files import File

_LINK = re.compile(r"(\]\()(\.\./[^)\s#]+)((?:#[^)\s]*)?\))")
_PREFIX = "repo"


def _repo_root(config):
    return os.path.dirname(os.path.abspath(config["config_file_path"]))


def _targets(config):
    """Repository paths (POSIX, relative to the root) linked from any page, outside docs/."""
    docs = os.path.abspath(config["docs_dir"])
    root = _repo_root(config)
    found = {}
    for folder, _dirs, names in os.walk(docs):
        for name in names:
            if not name.endswith(".md"):
                continue
            page = os.path.join(folder, name)
            with open(page, encoding="utf-8") as fh:
                text = fh.read()
            for m in _LINK.finditer(text):
                target = os.path.normpath(os.path.join(folder, m.group(2)))
                inside_repo = os.path.commonpath([target, root]) == root
                inside_docs = os.path.commonpath([target, docs]) == docs
                if inside_repo and not inside_docs and os.path.isfile(target):
                    found[target] = posixpath.join(*os.path.relpath(target, root).split(os.sep))
    return found


def on_files(files, config):
    root = _repo_root(config)
    for rel in sorted(set(_targets(config).values())):
        src_uri = posixpath.join(_PREFIX, rel)
        if files.get_file_from_path(src_uri) is None:
            files.append(File.generated(config, src_uri, abs_src_path=os.path.join(root, *rel.split("/"))))
    return files


def on_page_markdown(markdown, page, config, files):
    docs = os.path.abspath(config["docs_dir"])
    root = _repo_root(config)
    folder = os.path.dirname(os.path.join(docs, *page.file.src_uri.split("/")))

    def fix(m):
        target = os.path.normpath(os.path.join(folder, m.group(2)))
        if os.path.commonpath([target, docs]) == docs or not os.path.isfile(target):
            return m.group(0)
        if os.path.commonpath([target, root]) != root:
            return m.group(0)
        rel = posixpath.join(*os.path.relpath(target, root).split(os.sep))
        copy = posixpath.join(_PREFIX, rel)
        link = posixpath.relpath(copy, posixpath.dirname(page.file.src_uri) or ".")
        return m.group(1) + link + m.group(3)

    return _protect_table_math(_LINK.sub(fix, markdown))


_INLINE_MATH = re.compile(r"(?<![\\$])\$(?!\$)(.+?)(?<![\\$])\$(?!\$)")
_BARE_BAR = re.compile(r"(?<!\\)\|")


def _protect_table_math(markdown):
    out, fence = [], None
    for line in markdown.split("\n"):
        stripped = line.lstrip()
        if stripped.startswith(("```", "~~~")):
            fence = None if fence and stripped.startswith(fence) else (fence or stripped[:3])
        elif fence is None and stripped.startswith("|") and "$" in line:
            line = _INLINE_MATH.sub(lambda m: "$" + _BARE_BAR.sub(r"\\vert{}", m.group(1)) + "$", line)
        out.append(line)
    return "\n".join(out)
