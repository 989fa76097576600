"""Fixtures for the team-mode tests: the session's PostgreSQL and JupyterHub (``postgres``, ``hub``:
shared with tests_browser, in tests/_helpers.py), and a fresh database in that PostgreSQL per test."""

from __future__ import annotations

import uuid

import pytest
from _helpers import hub, postgres  # noqa: F401 - fixtures, found by pytest by name


@pytest.fixture
def team_dsn(postgres):  # noqa: F811 - the imported fixture
    """A libpq URL to an empty database of its own."""
    import psycopg

    name = f"t_{uuid.uuid4().hex[:12]}"
    with psycopg.connect(postgres.dsn, autocommit=True) as conn:
        conn.execute(f"CREATE DATABASE {name}")
    return postgres.dsn.rsplit("/", 1)[0] + f"/{name}"
