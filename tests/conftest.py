"""Fixtures every test gets."""

from __future__ import annotations

import pytest


@pytest.fixture(autouse=True)
def _own_user_catalog(monkeypatch):
    """Paths a test loads or registers (``iov.load_catalog``, ``iov.register``) stay in that
    test: a test that walks every catalog path must not meet another test's custom path
    (xdist puts tests on workers in no fixed order)."""
    from iovmodel.spec import catalog

    monkeypatch.setattr(catalog, "_user_paths", dict(catalog._user_paths))
