"""Helpers shared by the test folders (import with ``from _helpers import ...``; pytest puts tests/ on sys.path).

Each section belongs to one area and stands on its own.
"""

from __future__ import annotations

# ============================================================ serve and bundle
# Real registries, real bundles, real runtime processes for tests/serve and tests/bundle.
# Models are fitted on scikit-learn's datasets, registered in a real registry (its own
# directory, shared by the session to keep the 2-core machine free) and bundled with the
# real builder. Each server is a real ``python -m ...`` process on 127.0.0.1 with a port
# the OS picked (``--port 0``; the runtime prints it). The fixtures are defined here and
# imported by tests/serve/conftest.py and tests/bundle/conftest.py.
import http.client
import json
import os
import re
import signal
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

REPO = Path(__file__).resolve().parents[1]


# ------------------------------------------------------------------ models
@pytest.fixture(scope="session")
def cancer():
    from sklearn.datasets import load_breast_cancer
    from sklearn.model_selection import train_test_split

    X, y = load_breast_cancer(return_X_y=True, as_frame=True)
    return train_test_split(X, y, test_size=0.25, random_state=0)


@pytest.fixture(scope="session")
def mixed():
    """Numeric, integer and string columns; string labels."""
    from sklearn.model_selection import train_test_split

    rng = np.random.default_rng(0)
    n = 600
    df = pd.DataFrame(
        {
            "age": rng.normal(40, 12, n).round(1),
            "visits": rng.integers(0, 20, n).astype("int64"),
            "plan": rng.choice(["basic", "plus", "pro"], n).astype(object),
            "spend": rng.gamma(2.0, 30.0, n),
        }
    )
    logit = 0.04 * (df.age - 40) + 0.15 * (df.visits - 10) + df.plan.map({"basic": -1, "plus": 0, "pro": 1.2})
    y = np.where(logit + rng.normal(0, 0.5, n) > 0, "stay", "churn")
    return train_test_split(df, pd.Series(y, name="label"), test_size=0.25, random_state=0)


def schema_of(X: pd.DataFrame) -> dict:
    # the same as jupyter_stratum.data.input_schema
    return {"columns": [{"name": str(c), "dtype": str(t)} for c, t in X.dtypes.items()]}


def lineage_of(model, X_train, X_test, task, classes=None) -> dict:
    sample = X_test.head(5)
    return {
        "task": task,
        "metric": "accuracy" if task == "classification" else "r2",
        "input_schema": schema_of(X_train),
        "classes": classes,
        "sample": {
            "records": json.loads(sample.to_json(orient="records")),
            "expected": np.asarray(model.predict(sample)).tolist(),
        },
    }


@dataclass
class Fitted:
    ref: str
    model: object
    X_test: pd.DataFrame
    y_test: pd.Series


@pytest.fixture(scope="session")
def registry(tmp_path_factory):
    from jupyter_stratum.registry import open_registry

    return open_registry(tmp_path_factory.mktemp("serve-registry"))


@pytest.fixture(scope="session")
def logreg(registry, cancer):
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    X_train, X_test, y_train, y_test = cancer
    model = make_pipeline(StandardScaler(), LogisticRegression(max_iter=2000)).fit(X_train, y_train)
    mv = registry.register("cancer", model, lineage=lineage_of(model, X_train, X_test, "classification", [0, 1]))
    return Fitted(mv.ref, model, X_test, y_test)


@pytest.fixture(scope="session")
def churn(registry, mixed):
    from sklearn.compose import ColumnTransformer
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import Pipeline
    from sklearn.preprocessing import OneHotEncoder, StandardScaler

    X_train, X_test, y_train, y_test = mixed
    pre = ColumnTransformer(
        [
            ("num", StandardScaler(), ["age", "visits", "spend"]),
            ("cat", OneHotEncoder(handle_unknown="error"), ["plan"]),
        ]
    )
    model = Pipeline([("pre", pre), ("clf", LogisticRegression(max_iter=1000))]).fit(X_train, y_train)
    mv = registry.register(
        "churn", model, lineage=lineage_of(model, X_train, X_test, "classification", ["churn", "stay"])
    )
    return Fitted(mv.ref, model, X_test, y_test)


@pytest.fixture(scope="session")
def diabetes(registry):
    from sklearn.datasets import load_diabetes
    from sklearn.linear_model import Ridge
    from sklearn.model_selection import train_test_split

    X, y = load_diabetes(return_X_y=True, as_frame=True)
    X_train, X_test, y_train, y_test = train_test_split(X, y, test_size=0.25, random_state=0)
    model = Ridge(alpha=0.5).fit(X_train, y_train)
    mv = registry.register("diabetes", model, lineage=lineage_of(model, X_train, X_test, "regression"))
    return Fitted(mv.ref, model, X_test, y_test)


@pytest.fixture(scope="session")
def bundles(tmp_path_factory):
    return tmp_path_factory.mktemp("bundles")


def make_bundle(registry, fitted: Fitted, out: Path, **kw):
    from jupyter_stratum.bundle import build_bundle

    return build_bundle(fitted.ref, out, registry=registry, force=True, **kw)


@pytest.fixture(scope="session")
def logreg_bundle(registry, logreg, bundles):
    return make_bundle(registry, logreg, bundles / "cancer-1")


@pytest.fixture(scope="session")
def churn_bundle(registry, churn, bundles):
    return make_bundle(registry, churn, bundles / "churn-1")


@pytest.fixture(scope="session")
def diabetes_bundle(registry, diabetes, bundles):
    return make_bundle(registry, diabetes, bundles / "diabetes-1")


# ------------------------------------------------------------------ servers
@dataclass
class Server:
    """A runtime process and a keep-alive HTTP client to it."""

    proc: subprocess.Popen
    host: str
    port: int
    token: str | None = None
    log: list[str] = field(default_factory=list)
    _conn: http.client.HTTPConnection | None = None

    @property
    def url(self) -> str:
        return f"http://{self.host}:{self.port}"

    def request(self, method: str, path: str, body=None, headers: dict | None = None, auth: bool = True):
        """(status, parsed JSON or text, headers) over one kept-alive connection."""
        hdrs = {"Content-Type": "application/json"}
        if auth and self.token:
            hdrs["Authorization"] = f"Bearer {self.token}"
        hdrs.update(headers or {})
        if body is not None and not isinstance(body, (bytes, str)):
            body = json.dumps(body)
        for attempt in range(2):
            if self._conn is None:
                self._conn = http.client.HTTPConnection(self.host, self.port, timeout=30)
            try:
                self._conn.request(method, path, body=body, headers=hdrs)
                resp = self._conn.getresponse()
                data = resp.read()
                break
            except (ConnectionError, http.client.RemoteDisconnected, http.client.BadStatusLine):
                self._conn.close()
                self._conn = None
                if attempt:
                    raise
        if resp.will_close:
            self._conn.close()
            self._conn = None
        ctype = resp.getheader("Content-Type", "")
        payload = json.loads(data) if "json" in ctype and data else data.decode("utf-8", "replace")
        return resp.status, payload, dict(resp.getheaders())

    def get(self, path: str, **kw):
        return self.request("GET", path, **kw)

    def post(self, path: str, body, **kw):
        return self.request("POST", path, body=body, **kw)

    def metrics(self) -> dict[str, float]:
        status, text, _ = self.get("/metrics")
        assert status == 200
        return parse_prometheus(text)

    def stop(self) -> None:
        if self._conn is not None:
            self._conn.close()
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(5)


def parse_prometheus(text: str) -> dict[str, float]:
    out = {}
    for line in text.splitlines():
        if not line or line.startswith("#"):
            continue
        name, _, value = line.rpartition(" ")
        out[name] = float(value)
    return out


LISTENING = re.compile(r"listening on http://([\d.]+):(\d+)")


def start_server(
    cmd: list[str], *, env: dict | None = None, cwd=None, token: str | None = None, timeout: float = 60.0
) -> Server:
    full_env = {**os.environ, **(env or {})}
    if token:
        full_env["STRATUM_SERVE_TOKEN"] = token
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, env=full_env, cwd=cwd)
    deadline = time.monotonic() + timeout
    log: list[str] = []
    while time.monotonic() < deadline:
        line = proc.stdout.readline()
        if not line:
            break
        log.append(line)
        m = LISTENING.search(line)
        if m:
            server = Server(proc, m.group(1), int(m.group(2)), token=token, log=log)
            status, body, _ = server.get("/v2/health/ready")
            assert status == 200 and body == {"ready": True}
            return server
    proc.kill()
    rest = proc.stdout.read() if proc.stdout else ""
    raise AssertionError(f"the runtime did not start: {''.join(log)}{rest}")


def serve_cmd(bundle_path, *args: str) -> list[str]:
    return [
        sys.executable,
        "-m",
        "jupyter_stratum.serve",
        str(bundle_path),
        "--host",
        "127.0.0.1",
        "--port",
        "0",
        *args,
    ]


@pytest.fixture
def serve():
    """``serve(bundle_path, *args, token=None)`` -> a running :class:`Server`, stopped after the test."""
    started: list[Server] = []

    def _serve(bundle_path, *args, token=None, env=None):
        server = start_server(
            serve_cmd(bundle_path, *args), token=token, env={"PYTHONPATH": str(REPO), **(env or {})}, cwd=REPO
        )
        started.append(server)
        return server

    yield _serve
    for server in started:
        server.stop()


def records_of(X: pd.DataFrame) -> list[dict]:
    """Rows as JSON-ready dicts with full float precision (to_json rounds to 10 digits)."""
    return X.to_dict(orient="records")


# ============================================================ team (tests/team, tests_browser)
# One real PostgreSQL (Debian's packages, run as a non-root user) and one JupyterHub (with
# configurable-http-proxy, the registry service and the Dask Gateway) per pytest session; both the
# team tests and the browser test that logs into the hub import these fixtures by name.

#: three hub users in two teams: ana trains in fraud, ben views fraud and deploys to plant-a, cat trains in churn
TEAM_GROUPS = {
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
    from jupyter_stratum.testing.postgres import LocalPostgres, postgres_bin

    if postgres_bin() is None:
        pytest.skip("PostgreSQL is not installed (`make system-deps` installs Debian's postgresql)")
    pytest.importorskip("psycopg")
    with LocalPostgres() as pg:
        yield pg


@pytest.fixture(scope="session")
def hub(postgres, tmp_path_factory):
    """The service's API URL, the hub's URL, each user's hub API token (as the hub's Token page gives), the
    gateway's address and the directory under which each user's notebook server has its home."""
    import importlib.util

    from jupyter_stratum.testing.team_hub import LocalTeamHub, chp_command

    pytest.importorskip("httpx")
    pytest.importorskip("jupyterhub")
    if chp_command() is None:
        pytest.skip("configurable-http-proxy is not installed (`make venv` puts it in .venv/chp)")
    team_hub = LocalTeamHub(
        TEAM_GROUPS,
        workdir=tmp_path_factory.mktemp("hub"),
        postgres=postgres,
        gateway_quotas=GATEWAY_QUOTAS if importlib.util.find_spec("dask_gateway_server") else None,
    ).start()
    try:
        tokens = {user: team_hub.token_for(user) for user in ("ana", "ben", "cat")}
        yield {
            "url": team_hub.service_url + "api",
            "tokens": tokens,
            "gateway": team_hub.gateway_url,
            "hub_url": team_hub.url,
            "homes": team_hub.workdir / "homes",
            "service_pid": team_hub.service_pid(),
        }
    finally:
        team_hub.stop()
