"""A tiny progress bar: tqdm when it is installed, a plain line printer otherwise.

``tqdm`` is an optional extra (``pip install "cvxlift[progress]"``) and is imported
lazily, only when a bar is made, so ``import cvxlift`` never pulls it in.

>>> from cvxlift.progress import progress
>>> with progress(total=3, desc="sweeps", enabled=False) as bar:
...     for k in range(3):
...         bar.update(1, objective=1.0 / (k + 1))
"""

import sys
import time

__all__ = ["progress", "PlainProgress"]


class PlainProgress:
    """Fallback bar: one line per update, ``desc k/total (p%) key=value ... [t s]``.

    Lines go to ``file`` (standard error by default); :meth:`write` prints to standard
    output, and a step reported with :meth:`write` gets no second line from :meth:`update`.
    """

    def __init__(self, total=None, desc="", file=None, enabled=True):
        self.total, self.desc, self.n = total, desc, 0
        self.file = sys.stderr if file is None else file
        self.enabled = enabled
        self._t0 = time.perf_counter()
        self._wrote = False

    def write(self, message, file=None):
        """Print ``message`` on its own line (standard output by default)."""
        print(message, file=sys.stdout if file is None else file, flush=True)
        self._wrote = True

    def update(self, n=1, **postfix):
        """Advance by ``n`` and print a line with the ``postfix`` values.

        A step that already reported itself with :meth:`write` prints no extra line.
        """
        self.n += n
        wrote, self._wrote = self._wrote, False
        if not self.enabled or wrote:
            return
        count = f"{self.n}/{self.total}" if self.total else f"{self.n}"
        pct = f" ({100.0 * self.n / self.total:3.0f}%)" if self.total else ""
        extra = "".join(f" {k}={_fmt(v)}" for k, v in postfix.items())
        elapsed = time.perf_counter() - self._t0
        print(f"{self.desc} {count}{pct}{extra} [{elapsed:.1f} s]".strip(), file=self.file, flush=True)

    def close(self):
        pass

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()
        return False


class _TqdmProgress:
    """Adapter: the same ``update(n, **postfix)`` on top of a ``tqdm`` bar."""

    def __init__(self, tqdm_cls, total, desc, file, enabled):
        self._tqdm = tqdm_cls
        self._bar = tqdm_cls(total=total, desc=desc, file=file, disable=not enabled, leave=True, dynamic_ncols=True)

    @property
    def n(self):
        return self._bar.n

    def write(self, message, file=None):
        """Print ``message`` above the bar (standard output by default)."""
        self._tqdm.write(message, file=sys.stdout if file is None else file)

    def update(self, n=1, **postfix):
        if postfix:
            self._bar.set_postfix({k: _fmt(v) for k, v in postfix.items()}, refresh=False)
        self._bar.update(n)

    def close(self):
        self._bar.close()

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()
        return False


def _fmt(value):
    if isinstance(value, float):
        return f"{value:.4g}"
    return str(value)


def progress(total=None, desc="", file=None, enabled=True, use_tqdm=None):
    """A progress bar with ``update(n=1, **postfix)``, ``write(message)``, ``close()``, usable as a context manager.

    Parameters
    ----------
    total : int, optional
        Number of steps.
    desc : str
        Label printed before the count.
    file : file object, optional
        Where to write (default: standard error).
    enabled : bool
        ``False`` makes a silent bar.
    use_tqdm : bool, optional
        ``None`` (default) uses tqdm when it can be imported; ``False`` forces the plain
        line printer; ``True`` requires tqdm (ImportError if it is missing).

    Returns
    -------
    PlainProgress or tqdm-backed bar
        An object with ``update(n=1, **postfix)``, ``write(message)`` and ``close()``.
    """
    if use_tqdm is not False:
        try:
            from tqdm import tqdm
        except ImportError:
            if use_tqdm:
                raise
        else:
            return _TqdmProgress(tqdm, total, desc, sys.stderr if file is None else file, enabled)
    return PlainProgress(total=total, desc=desc, file=file, enabled=enabled)
