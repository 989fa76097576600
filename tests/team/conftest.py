"""Fixtures for the team-mode tests: one real PostgreSQL server (Debian's packages, run as a
non-root user) per session, and a fresh database in it for every test; one JupyterHub (with
configurable-http-proxy, the registry service and the Dask Gateway) per session."""

from __future__ import annotations

import importlib.util
import uuid

import pytest

from jupyter_stratum.testing.postgres import LocalPostgres, postgres_bin
from jupyter_stratum.testing.team_hub import LocalTeamHub, chp_command

GROUPS = {
    "team-fraud": ["ana", "ben"],
    "team-fraud-trainers": ["ana"],
    "team-churn": ["cat"],
    "team-churn-trainers": ["cat"],
    "fleet-plant-a-deployers": ["ben"],
}
#: one Dask Gateway cluster of one worker per team at a time
GATEWAY_QUOTAS = {"fraud": {"clusters": 1, "workers": 1}, "churn": {"clusters": 1, "workers": 1}}


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


@pytest.fixture(scope="session")
def hub(postgres, tmp_path_factory):
    """The hub's URLs and a hub API token of each user (as the hub's Token page gives)."""
    pytest.importorskip("httpx")
    pytest.importorskip("jupyterhub")
    if chp_command() is None:
        pytest.skip("configurable-http-proxy is not installed (`make venv` puts it in .venv/chp)")
    team_hub = LocalTeamHub(
        GROUPS,
        workdir=tmp_path_factory.mktemp("hub"),
        postgres=postgres,
        gateway_quotas=GATEWAY_QUOTAS if importlib.util.find_spec("dask_gateway_server") else None,
    ).start()
    try:
        tokens = {user: team_hub.token_for(user) for user in ("ana", "ben", "cat")}
        yield {"url": team_hub.service_url + "api", "tokens": tokens, "gateway": team_hub.gateway_url}
    finally:
        team_hub.stop()
