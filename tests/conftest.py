"""Shared pytest configuration: hypothesis profiles for the property tests.

``python -m pytest`` runs the property tests (``tests/test_properties.py``, marker
``properties``) under the ``"default"`` profile: few, derandomised examples (the same ones
on every run, so CI is deterministic), no deadline. A thorough run::

    python -m pytest tests/test_properties.py --hypothesis-profile=thorough

(``--hypothesis-profile`` comes with hypothesis's pytest plugin). ``CVXLIFT_HYPOTHESIS_PROFILE``
selects a profile too (the command-line option wins).
"""

import os

try:
    from hypothesis import HealthCheck, settings
except ImportError:  # hypothesis is a test extra; the property tests skip without it
    settings = None

if settings is not None:
    _SLOW_OK = [HealthCheck.too_slow, HealthCheck.data_too_large, HealthCheck.filter_too_much]
    # ~2 minutes for every property test together on 2 cores
    settings.register_profile(
        "default",
        max_examples=15,
        deadline=None,
        derandomize=True,
        database=None,
        suppress_health_check=_SLOW_OK,
        print_blob=True,
    )
    settings.register_profile(
        "thorough", max_examples=1000, deadline=None, suppress_health_check=_SLOW_OK, print_blob=True
    )
    settings.load_profile(os.environ.get("CVXLIFT_HYPOTHESIS_PROFILE", "default"))


def pytest_configure(config):
    config.addinivalue_line(
        "markers", "properties: hypothesis property tests (profile: --hypothesis-profile=default|thorough)"
    )
