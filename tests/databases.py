"""The opt-in that runs a test module's ``cloud``/``api`` tests on both back ends.

Why not in conftest.py: a fixture defined there under the name ``cloud`` would replace the plain SQLite
``cloud`` for every module (pytest keeps the last of two same-named fixtures of one plugin), which silently ran
the whole in-process API suite twice.
"""

from __future__ import annotations

import pytest

from twinstack.cloud import Cloud


@pytest.fixture(name="cloud")
def on_each_database(cloud_on_each_database: Cloud) -> Cloud:
    """Import as ``cloud`` into a test module to run its ``cloud``/``api`` tests on SQLite and PostgreSQL."""
    return cloud_on_each_database
