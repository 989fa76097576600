"""Fixtures for the team-mode tests: one real PostgreSQL server (Debian's packages, run as a
non-root user) per session, and a fresh database in it for every test."""

from __future__ import annotations

import uuid

import pytest

from jupyter_stratum.testing.postgres import LocalPostgres, postgres_bin


@pytest.fixture(scope="session")
def postgres():
    if postgres_bin() is None:
        pytest.skip("PostgreSQL is not installed (`make system-deps` installs Debian's postgresql)")
    pytest.importorskip("psycopg")
    with LocalPostgres() as pg:
        yield pg


@pytest.fixture
def team_dsn(postgres):
    """A libpq URL to an empty database of its own."""
    import psycopg

    name = f"t_{uuid.uuid4().hex[:12]}"
    with psycopg.connect(postgres.dsn, autocommit=True) as conn:
        conn.execute(f"CREATE DATABASE {name}")
    return postgres.dsn.rsplit("/", 1)[0] + f"/{name}"
