"""Fixtures of the ingest tests."""

from __future__ import annotations

import pytest

from tests.ingest.site import serve


@pytest.fixture(scope="session")
def site():
    """The base URL of the local test site (``tests/ingest/site.py``)."""
    with serve() as url:
        yield url
