"""A wall-clock limit for the tests that promise "ends within a fixed time" (no hang)."""

import signal
from contextlib import contextmanager


@contextmanager
def time_limit(seconds, what="the call"):
    """Raise ``TimeoutError`` in the main thread when the block runs longer than ``seconds``."""

    def handler(signum, frame):
        raise TimeoutError(f"{what} did not finish within {seconds} s")

    old = signal.signal(signal.SIGALRM, handler)
    signal.setitimer(signal.ITIMER_REAL, seconds)
    try:
        yield
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, old)
