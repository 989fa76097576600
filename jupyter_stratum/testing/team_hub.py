"""The team stack on one machine: PostgreSQL (:mod:`.postgres`), JupyterHub with
configurable-http-proxy and the ``stratum-registry`` service, with the hub config of
``cluster/team/jupyterhub_config.py``, and optionally the ``dask-gateway`` service (per-team
quotas, ``cluster/team/dask_gateway_config.py``). Used by ``cluster/team/launch.py`` and tests/team.

>>> with LocalTeamHub(groups={"team-fraud": ["ana"], ...}, gateway_quotas={"*": {"clusters": 1, "workers": 1}}) as hub:
...     hub.url, hub.service_url, hub.gateway_url, hub.token_for("ana")
"""

from __future__ import annotations

import contextlib
import json
import os
import secrets
import shutil
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
from pathlib import Path

from .postgres import LocalPostgres, free_port

REPO = Path(__file__).resolve().parents[2]
HUB_CONFIG = REPO / "cluster" / "team" / "jupyterhub_config.py"


def chp_command() -> str | None:
    """configurable-http-proxy: the Makefile's copy in ``.venv/chp``, else on PATH."""
    local = Path(sys.prefix) / "chp" / "node_modules" / ".bin" / "configurable-http-proxy"
    return str(local) if local.exists() else shutil.which("configurable-http-proxy")


class LocalTeamHub:
    """Start :meth:`start` / stop :meth:`stop` PostgreSQL, the hub, its proxy and the registry service."""

    def __init__(
        self,
        groups: dict[str, list[str]],
        workdir: Path | None = None,
        password: str = "",
        admins: tuple[str, ...] = (),
        postgres: LocalPostgres | None = None,
        gateway_quotas: dict[str, dict[str, int]] | None = None,
    ):
        self.groups = groups
        self.own_workdir = workdir is None
        self.workdir = Path(workdir) if workdir else Path(tempfile.mkdtemp(prefix="stratum-team-"))
        self.password = password
        self.admins = list(admins)
        self.own_postgres = postgres is None
        self.postgres = postgres or LocalPostgres()
        self.admin_token = secrets.token_hex(16)
        self.gateway_quotas = gateway_quotas  # None: no Dask Gateway
        self.proc: subprocess.Popen | None = None
        self.port = 0
        self.gateway_port = 0

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def service_url(self) -> str:
        return f"{self.url}/services/stratum-registry/"

    @property
    def gateway_url(self) -> str:
        """The Dask Gateway's address (its HTTP API and the schedulers' TLS proxy share it)."""
        return f"http://127.0.0.1:{self.gateway_port}" if self.gateway_port else ""

    def start(self, timeout_s: float = 180.0) -> LocalTeamHub:
        chp = chp_command()
        if chp is None:
            raise RuntimeError("configurable-http-proxy is not installed: `npm install -g configurable-http-proxy`.")
        if self.own_postgres:
            self.postgres.start()
        import psycopg

        database = f"registry_{secrets.token_hex(4)}"
        with psycopg.connect(self.postgres.dsn, autocommit=True) as conn:
            conn.execute(f"CREATE DATABASE {database}")
        self.port, proxy_api, hub_api, service_port = (free_port(range(p, 9400)) for p in (9310, 9320, 9330, 9340))
        settings = {
            "port": self.port,
            "proxy_api": proxy_api,
            "hub_port": hub_api,
            "chp": chp,
            "service_port": service_port,
            "dsn": self.postgres.dsn.rsplit("/", 1)[0] + f"/{database}",
            "artifacts": str(self.workdir / "artifacts"),
            "home": str(self.workdir / "service-home"),
            "homes": str(self.workdir / "homes"),
            "admin_token": self.admin_token,
            "groups": self.groups,
            "admins": self.admins,
            "password": self.password,
            "python": sys.executable,
            "repo": str(REPO),
        }
        if self.gateway_quotas is not None:
            self.gateway_port = free_port(range(9350, 9400))
            settings.update(gateway_port=self.gateway_port, gateway_quotas=self.gateway_quotas)
        (self.workdir / "settings.json").write_text(json.dumps(settings))
        log = open(self.workdir / "hub.log", "w")  # noqa: SIM115  (closed by the hub process's end)
        self.proc = subprocess.Popen(
            [str(Path(sys.executable).parent / "jupyterhub"), "-f", str(HUB_CONFIG)],
            cwd=self.workdir,
            stdout=log,
            stderr=subprocess.STDOUT,
            env={**os.environ, "STRATUM_TEAM_SETTINGS": str(self.workdir / "settings.json")},
            start_new_session=True,
        )
        log.close()
        deadline = time.monotonic() + timeout_s
        while not (self._service_answers() and self._gateway_answers()):
            if self.proc.poll() is not None or time.monotonic() > deadline:
                tail = self.log_tail()
                self.stop()
                raise RuntimeError(f"JupyterHub, the registry service or the gateway did not start:\n{tail}")
            time.sleep(0.5)
        return self

    def _service_answers(self) -> bool:
        try:
            urllib.request.urlopen(self.service_url + "api/models", timeout=5)
        except urllib.error.HTTPError as exc:
            return exc.code == 401  # the service itself answers (the proxy would say 503 or 404)
        except OSError:
            return False
        return False

    def _gateway_answers(self) -> bool:
        if not self.gateway_port:
            return True
        try:  # the proxy answers 404 until the gateway's API is up: ask its health check
            with urllib.request.urlopen(self.gateway_url + "/api/health", timeout=5) as reply:
                return reply.status == 200
        except OSError:
            return False

    def token_for(self, user: str) -> str:
        """A new API token of ``user`` (as the hub's Token page gives), made with the admin service's token."""
        request = urllib.request.Request(
            f"{self.url}/hub/api/users/{user}/tokens",
            data=json.dumps({"note": "stratum"}).encode(),
            method="POST",
            headers={"Authorization": f"token {self.admin_token}", "Content-Type": "application/json"},
        )
        with urllib.request.urlopen(request, timeout=60) as response:
            return json.loads(response.read())["token"]

    def service_pid(self) -> int | None:
        """The process id of the registry service the hub runs (None when it does not run)."""
        import psutil

        if self.proc is None:
            return None
        for child in psutil.Process(self.proc.pid).children(recursive=True):
            with contextlib.suppress(psutil.Error):
                if "jupyter_stratum.team.service" in " ".join(child.cmdline()):
                    return child.pid
        return None

    def log_tail(self, n: int = 40) -> str:
        try:
            return "\n".join((self.workdir / "hub.log").read_text().splitlines()[-n:])
        except OSError:
            return ""

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            import psutil

            children = psutil.Process(self.proc.pid).children(recursive=True)  # proxy, services (own sessions)
            self.proc.terminate()  # the hub stops its proxy and its managed services ...
            try:
                self.proc.wait(30)
            except subprocess.TimeoutExpired:
                os.killpg(self.proc.pid, 9)
                self.proc.wait(10)
            for child in children:  # ... unless it was killed first
                with contextlib.suppress(psutil.Error):
                    child.terminate()
            psutil.wait_procs(children, timeout=10)
        self.proc = None
        if self.own_postgres:
            self.postgres.stop()
        if self.own_workdir:
            shutil.rmtree(self.workdir, ignore_errors=True)

    def __enter__(self) -> LocalTeamHub:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()
