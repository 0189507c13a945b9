"""``python -m cvxlift``: the same as the ``cvxlift`` command (see :mod:`cvxlift.cli`)."""

import sys

from .cli import main

if __name__ == "__main__":
    sys.exit(main())
