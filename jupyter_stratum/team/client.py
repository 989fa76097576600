"""The registry service's client behind the :class:`~jupyter_stratum.registry.Registry` interface:
:class:`ServiceIndex` (a ModelIndex over HTTP) and :class:`ServiceStore` (an ArtifactStore that
uploads with the registration and downloads into a local cache), so that ``%stratum models``, the
CLI and ``jupyter_stratum.load("name@alias")`` work unchanged when ``STRATUM_REGISTRY_URL`` is set
(the hub's spawner environment sets it; the token is ``$JUPYTERHUB_API_TOKEN``, the user's own)."""

from __future__ import annotations

import contextlib
import json
import os
import urllib.error
import urllib.parse
import urllib.request
import uuid
from collections.abc import Callable, Iterable, Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any

from ..errors import RegistryError
from .permissions import PermissionDenied
from .upload import upload_request

if TYPE_CHECKING:
    from .team_model import TeamModel

URL_ENV = "STRATUM_REGISTRY_URL"
TOKEN_ENVS = ("STRATUM_REGISTRY_TOKEN", "JUPYTERHUB_API_TOKEN")
_PENDING = "pending-upload"


class ServiceConnection:
    """HTTP calls to the service with the user's hub token; errors become :class:`RegistryError`."""

    def __init__(self, url: str, token: str, timeout_s: float = 300.0):
        self.base = url.rstrip("/") + "/api"
        self.token = token
        self.timeout_s = timeout_s

    def request(
        self,
        method: str,
        path: str,
        body: bytes | Iterable[bytes] | None = None,
        content_type: str = "",
        headers: dict[str, str] | None = None,
    ) -> bytes:
        with self.open(method, path, body, content_type, headers) as response:
            return response.read()

    def download(self, path: str, target: Path, chunk: int = 1 << 20) -> None:
        """GET ``path`` into the file ``target`` a chunk at a time (an artifact is never whole in memory; a
        body shorter than its Content-Length raises)."""
        import http.client
        import shutil

        with self.open("GET", path) as response, Path(target).open("wb") as out:
            expected = int(response.headers.get("Content-Length") or -1)
            try:
                shutil.copyfileobj(response, out, chunk)  # read(n) ends quietly at a closed connection:
                if expected >= 0 and out.tell() != expected:  # so the length is checked here
                    raise http.client.IncompleteRead(b"", expected - out.tell())
            except (http.client.HTTPException, OSError) as exc:
                raise RegistryError(
                    f"The download of {self.base + path} stopped after {out.tell()} bytes "
                    f"({type(exc).__name__}: {exc}); nothing was kept. Try again."
                ) from None

    @contextlib.contextmanager
    def open(
        self,
        method: str,
        path: str,
        body: bytes | Iterable[bytes] | None = None,
        content_type: str = "",
        headers: dict[str, str] | None = None,
    ) -> Iterator[Any]:
        """The service's response to one call, with its errors as :class:`RegistryError` (401 and 403 as
        :class:`PermissionDenied`, 404 as LookupError). ``body`` may be an iterable of chunks, sent as they
        come (give its Content-Length in ``headers``)."""
        sent = {**(headers or {}), "Authorization": f"token {self.token}"}
        if content_type:
            sent["Content-Type"] = content_type
        req = urllib.request.Request(self.base + path, data=body, method=method, headers=sent)
        try:
            response = urllib.request.urlopen(req, timeout=self.timeout_s)
        except urllib.error.HTTPError as exc:
            try:
                message = json.loads(exc.read()).get("error") or exc.reason
            except ValueError:
                message = exc.reason
            if exc.code == 401:
                raise PermissionDenied(
                    f"The registry service at {self.base} refused the token ({message}). In a notebook on the hub "
                    "$JUPYTERHUB_API_TOKEN is used; elsewhere set STRATUM_REGISTRY_TOKEN to a token from the "
                    "hub's Token page."
                ) from None
            if exc.code == 403:
                raise PermissionDenied(message) from None
            if exc.code == 404:
                raise LookupError(message) from None
            raise RegistryError(f"The registry service answered {exc.code}: {message}") from None
        except urllib.error.URLError as exc:
            raise RegistryError(
                f"Cannot reach the registry service at {self.base}: {exc.reason}. Check {URL_ENV}."
            ) from None
        with response:
            yield response

    def json(self, method: str, path: str, payload: Any = None) -> Any:
        body = json.dumps(payload).encode() if payload is not None else None
        return json.loads(self.request(method, path, body, "application/json" if body else ""))


def _fleet(action: str) -> str:
    """The fleet a write is for (``$STRATUM_FLEET``): the service checks the deployer role for it."""
    fleet = os.environ.get("STRATUM_FLEET", "").strip()
    if not fleet:
        raise RegistryError(
            f"{action} on the team registry needs the fleet it is for: set STRATUM_FLEET "
            "(you need the deployer role for it, hub group 'fleet-<FLEET>-deployers')."
        )
    return fleet


def _quote(name: str) -> str:
    return urllib.parse.quote(name, safe="")


class ServiceIndex:
    """A :class:`~jupyter_stratum.registry.ModelIndex` answered by the registry service."""

    def __init__(self, conn: ServiceConnection, store: ServiceStore):
        self.conn = conn
        self.store = store

    def add_version(self, name: str, build_row: Callable[[int], dict], publish: Callable[[dict], None]) -> dict:
        row = build_row(0)  # the service assigns the version and the artifact's key
        publish(row)  # the store keeps the staged file; it travels with the row in one request
        staged = self.store.pending.pop(row["artifact"])
        suffix = row["artifact"].split(":", 1)[1]
        fields = {k: v for k, v in row.items() if k not in ("version", "artifact")}
        body, headers = upload_request({**fields, "suffix": suffix}, staged)  # read from the file as it is sent
        return json.loads(self.conn.request("POST", f"/models/{_quote(name)}/versions", body, headers=headers))

    def get_version(self, name: str, version: int | None) -> dict | None:
        try:
            return self.conn.json("GET", f"/models/{_quote(name)}/versions/{'latest' if version is None else version}")
        except LookupError:
            return None

    def versions(self, name: str) -> list[dict]:
        try:
            return self.conn.json("GET", f"/models/{_quote(name)}/versions")
        except LookupError:
            return []

    def names(self) -> list[str]:
        return [m["name"] for m in self.conn.json("GET", "/models")]

    def latest_versions(self) -> list[dict]:
        return [
            {**m, "version": m["latest_version"], "created_at": m["updated_at"]}
            for m in self.conn.json("GET", "/models")
        ]

    def team_models(self) -> list[TeamModel]:
        """The team's models as the service shows them to this token's user: owner, aliases, last
        deployment, and the actions the user may take (each refusal with the service's reason)."""
        from .team_model import TeamModel

        return [TeamModel.from_dict(m) for m in self.conn.json("GET", "/models")]

    def add_deployment(self, row: dict) -> int:
        record = row["record"]
        record = {**record, "fleet": record.get("fleet") or _fleet(f"Recording a deployment of {record.get('model')}")}
        return int(self.conn.json("POST", "/deployments", record)["id"])

    def update_deployment(self, deployment_id: int, record: dict, updated_at: str) -> None:
        """Merge ``record`` into deployment ``deployment_id`` (the service stamps the time and who updated)."""
        self.conn.json("PUT", f"/deployments/{int(deployment_id)}", record)

    def get_deployment(self, deployment_id: int) -> dict | None:
        return self._record("deployments", deployment_id)

    def deployments(self, name: str | None) -> list[dict]:
        return self._records("deployments", name)

    def _record(self, kind: str, record_id: int) -> dict | None:
        """One deployment or rollout record (``kind``), None when there is none with that id."""
        try:
            return self.conn.json("GET", f"/{kind}/{int(record_id)}")
        except LookupError:
            return None

    def _records(self, kind: str, name: str | None) -> list[dict]:
        """The deployment or rollout records (``kind``) of model ``name``, or of every model the user may see."""
        if name is None:
            return self.conn.json("GET", f"/{kind}")
        try:
            return self.conn.json("GET", f"/models/{_quote(name)}/{kind}")
        except LookupError:
            return []

    # -- rollouts (jupyter_stratum.registry.rollout works unchanged over these) ----------------------
    def add_rollout(self, name: str, state: str, now: str, record: dict) -> int:
        """Start a rollout record; its fleet is the record's or ``$STRATUM_FLEET`` (the service checks the
        deployer role for it and keeps it with the record). The service stamps the times."""
        fleet = record.get("fleet") or _fleet(f"Starting a rollout of {record.get('model') or name}")
        found = self.conn.json(
            "POST", "/rollouts", {"model": name, "state": state, "record": {**record, "fleet": fleet}}
        )
        return int(found["id"])

    def update_rollout(self, rollout_id: int, state: str, now: str, record: dict) -> tuple[str, str]:
        """Replace a rollout's record; the service keeps a stored ``aborting`` and answers the state and reason."""
        found = self.conn.json("PUT", f"/rollouts/{int(rollout_id)}", {"state": state, "record": record})
        return str(found["state"]), str(found["reason"])

    def set_rollout_state(self, rollout_id: int, state: str, reason: str, now: str) -> None:
        self.conn.json("PUT", f"/rollouts/{int(rollout_id)}/state", {"state": state, "reason": reason})

    def get_rollout(self, rollout_id: int) -> dict | None:
        return self._record("rollouts", rollout_id)

    def rollouts(self, name: str | None) -> list[dict]:
        return self._records("rollouts", name)

    def rollout_state(self, rollout_id: int) -> str:
        found = self.get_rollout(rollout_id)
        return str(found["state"]) if found is not None else ""

    def set_alias(self, name: str, alias: str, version: int, updated_at: str, updated_by: str, event: dict) -> None:
        fleet = _fleet(f"Moving {name}@{alias}")
        reason = (event.get("details") or {}).get("reason", "")
        self.conn.json(
            "PUT",
            f"/models/{_quote(name)}/aliases/{_quote(alias)}",
            {"version": version, "fleet": fleet, "reason": reason},
        )

    def delete_alias(self, name: str, alias: str, event: dict) -> int | None:
        fleet = urllib.parse.quote(os.environ.get("STRATUM_FLEET", ""))
        try:
            return self.conn.json("DELETE", f"/models/{_quote(name)}/aliases/{_quote(alias)}?fleet={fleet}")["version"]
        except LookupError:
            return None

    def aliases(self, name: str) -> list[dict]:
        try:
            return self.conn.json("GET", f"/models/{_quote(name)}/aliases")
        except LookupError:
            return []

    def add_event(self, event: dict) -> int:
        if event["kind"] == "registered":  # the service wrote it with the registration, under the hub name
            return 0
        raise RegistryError(f"The team registry records {event['kind']!r} events itself; the client cannot add them.")

    def events(self, name: str, after_id: int = 0) -> list[dict]:
        try:
            found = self.conn.json("GET", f"/models/{_quote(name)}/events")
        except LookupError:
            return []
        return [e for e in found if e["id"] > after_id]


class ServiceStore:
    """An :class:`~jupyter_stratum.registry.ArtifactStore` whose files live in the service: staged
    locally, uploaded with the registration, downloaded (once, sha256 checked by the Registry) to load."""

    def __init__(self, conn: ServiceConnection, cache: Path):
        self.conn = conn
        self.cache = Path(cache)
        self.staging_dir = self.cache / "staging"
        self.staging_dir.mkdir(parents=True, exist_ok=True)
        self.pending: dict[str, Path] = {}

    def key_for(self, name: str, version: int, suffix: str) -> str:
        return f"{_PENDING}-{uuid.uuid4().hex[:8]}:{suffix}"

    def staging(self, suffix: str) -> contextlib.AbstractContextManager[Path]:
        from ..registry.store import staged_path

        return staged_path(self.staging_dir, suffix)

    def publish(self, staged: Path, key: str) -> None:
        self.pending[key] = staged

    def remove(self, key: str) -> None:
        self.pending.pop(key, None)

    def exists(self, key: str) -> bool:
        return True

    def orphans(self, referenced: set[str], older_than_s: float) -> list[str]:
        return []

    def local_path(self, key: str) -> Path:
        """Download ``artifacts/<name>/v<version>-<token><suffix>`` into the cache (keys never change)."""
        _, name, file = key.split("/", 2)
        version = int(file[1:].split("-", 1)[0])
        cached = self.cache / "downloads" / name / file
        if not cached.exists():
            from ..registry.store import write_into_place

            path = f"/models/{_quote(name)}/versions/{version}/artifact"
            write_into_place(cached, lambda staged: self.conn.download(path, staged))
        return cached


def open_service_registry(url: str, token: str | None = None, cache: str | os.PathLike | None = None) -> Any:
    """A :class:`~jupyter_stratum.registry.Registry` answered by the registry service at ``url``."""
    from ..registry.registry import Registry, default_root

    token = token or next((os.environ[e] for e in TOKEN_ENVS if os.environ.get(e)), "")
    if not token:
        raise RegistryError(
            f"{URL_ENV} points at the team registry but there is no token: set STRATUM_REGISTRY_TOKEN "
            "(a token from the hub's Token page) or run inside a hub notebook ($JUPYTERHUB_API_TOKEN)."
        )
    conn = ServiceConnection(url, token)
    root = Path(cache) if cache is not None else default_root()
    store = ServiceStore(conn, root / "service-cache")
    return Registry(root, index=ServiceIndex(conn, store), store=store)
