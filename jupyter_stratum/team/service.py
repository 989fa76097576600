"""The team registry as a JupyterHub service (``stratum-registry``): every request carries a hub
token (``Authorization: token …``: the user's API token in kernels and the CLI), checked with
:class:`jupyterhub.services.auth.HubAuth` for the scope ``access:services!service=stratum-registry``;
permissions come from the user's hub groups (:mod:`.permissions`) and are enforced here.

Run by the hub (``c.JupyterHub.services``) with ``STRATUM_REGISTRY_DSN`` (PostgreSQL) and
``STRATUM_ARTIFACTS_URL`` in its environment::

    python -m jupyter_stratum.team.service --port 9302

Routes (under ``$JUPYTERHUB_SERVICE_PREFIX``): see :data:`ROUTES`.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import tempfile
from pathlib import Path
from typing import Any

from ..errors import RegistryError
from .permissions import PermissionDenied, TeamUser
from .team_model import LastDeployment, TeamModel
from .upload import UploadError, UploadReceiver, row_length

SERVICE_NAME = "stratum-registry"
#: bytes of an artifact read and sent at a time
ARTIFACT_CHUNK = 1 << 20
#: (method, path pattern under the prefix, what it does, the role it needs)
ROUTES = [
    ("GET", "api/whoami", "the caller and their roles", "any hub user with access to the service"),
    ("GET", "api/models", "models of the caller's teams: owner, aliases, last deployment, allowed actions", "viewer"),
    ("GET", "api/models/{name}/versions", "versions of a model", "viewer of its team"),
    ("GET", "api/models/{name}/versions/{ref}", "one version (number, alias or 'latest')", "viewer of its team"),
    ("GET", "api/models/{name}/versions/{version}/artifact", "the artifact's bytes", "viewer of its team"),
    ("POST", "api/models/{name}/versions", "register a version (streamed: row, then artifact)", "trainer in its team"),
    ("GET", "api/models/{name}/aliases", "aliases of a model", "viewer of its team"),
    ("PUT", "api/models/{name}/aliases/{alias}", "set or move an alias ({version, fleet})", "deployer for fleet"),
    ("DELETE", "api/models/{name}/aliases/{alias}", "remove an alias (?fleet=)", "deployer for fleet"),
    ("GET", "api/models/{name}/events", "the model's event log", "viewer of its team"),
    ("GET", "api/models/{name}/deployments", "the model's deployment records", "viewer of its team"),
    ("GET", "api/deployments", "deployment records of the caller's teams' models", "viewer"),
    ("POST", "api/deployments", "record a deployment ({model, fleet, ...})", "deployer for fleet"),
    ("GET", "api/deployments/{id}", "one deployment record", "viewer of its model's team"),
    ("PUT", "api/deployments/{id}", "merge changes into a deployment record", "deployer for its fleet"),
    ("GET", "api/models/{name}/rollouts", "the model's rollout records (deploys in waves)", "viewer of its team"),
    ("GET", "api/rollouts", "rollout records of the caller's teams' models", "viewer"),
    (
        "POST",
        "api/rollouts",
        "start a rollout record ({model: NAME, state, record: {fleet, ...}})",
        "deployer for fleet",
    ),
    ("GET", "api/rollouts/{id}", "one rollout record", "viewer of its model's team"),
    (
        "PUT",
        "api/rollouts/{id}",
        "replace its record ({state, record}; a stored 'aborting' stays)",
        "deployer for its fleet",
    ),
    ("PUT", "api/rollouts/{id}/state", "set its state ({state, reason}), e.g. aborting", "deployer for its fleet"),
    ("GET", "api/audit", "the audit log of the caller's teams", "viewer"),
]
TEAMS_TABLE = "CREATE TABLE IF NOT EXISTS model_teams (name TEXT PRIMARY KEY, team TEXT NOT NULL)"


class TeamRegistryService:
    """The service's state: the registry (PostgreSQL + fsspec) and the hub's auth client."""

    def __init__(self, registry: Any, hub_auth: Any):
        self.registry = registry
        self.hub_auth = hub_auth
        with registry.index.transaction() as conn:
            conn.execute(TEAMS_TABLE)

    def team_of(self, name: str) -> str | None:
        with self.registry.index.connect() as conn:
            found = conn.execute("SELECT team FROM model_teams WHERE name = %s", (name,)).fetchone()
        return found["team"] if found else None

    def teams(self) -> dict[str, str]:
        with self.registry.index.connect() as conn:
            return {r["name"]: r["team"] for r in conn.execute("SELECT name, team FROM model_teams").fetchall()}

    def user_for(self, token: str) -> TeamUser | None:
        model = self.hub_auth.user_for_token(token, use_cache=True)
        if model is None or model.get("kind", "user") != "user":
            return None
        if not self.hub_auth.check_scopes(self.hub_auth.access_scopes, model):
            raise PermissionDenied(
                f"The token of {model.get('name')} lacks the scope access:services!service={SERVICE_NAME}. "
                "Use the API token a notebook server gets ($JUPYTERHUB_API_TOKEN) or create one on the hub's "
                "Token page with that scope."
            )
        # the groups as the hub has them now, asked with the service's own token (the user's token may not read them)
        return TeamUser(
            name=model["name"], groups=frozenset(self._hub_get(f"/users/{model['name']}").get("groups", []))
        )

    def fleets(self) -> list[str]:
        """Every fleet the hub has a deployer group for (the service's role has the scope ``list:groups``)."""
        from .permissions import fleets_of

        return fleets_of(g["name"] for g in self._hub_get("/groups"))

    def team_models(self, user: TeamUser) -> list[TeamModel]:
        """The models of ``user``'s teams, with owner, aliases, last deployment and what ``user`` may do."""
        teams, registry = self.teams(), self.registry
        fleets = self.fleets()
        owners = {row["name"]: row.get("author") or "" for row in registry.index.latest_versions()}
        found = []
        for summary in registry.list_models():
            name = summary.name
            if name not in teams or not user.can_view(teams[name]):
                continue
            deployments = registry.deployments(name)
            last = deployments[-1] if deployments else None
            found.append(
                TeamModel(
                    summary=summary,
                    team=teams[name],
                    owner=owners.get(name, ""),
                    aliases=registry.aliases(name),
                    last_deployment=LastDeployment(
                        version=last.model_version,
                        fleet=str(last.extra.get("fleet", "")),
                        user=last.user,
                        time=last.time,
                        action=last.action,
                        status=last.status,
                    )
                    if last
                    else None,
                    actions=user.actions(teams[name], name, fleets),
                )
            )
        return found

    def _hub_get(self, path: str) -> Any:
        import urllib.request

        request = urllib.request.Request(
            self.hub_auth.api_url.rstrip("/") + path, headers={"Authorization": f"token {self.hub_auth.api_token}"}
        )
        with urllib.request.urlopen(request, timeout=30) as response:
            return json.loads(response.read())


def make_app(service: TeamRegistryService, prefix: str = "/") -> Any:
    from tornado import web
    from tornado.http1connection import HTTP1Connection

    class Base(web.RequestHandler):
        user: TeamUser

        def check_xsrf_cookie(self) -> None:  # token-authenticated API, no cookies
            pass

        def prepare(self) -> None:
            header = self.request.headers.get("Authorization", "")
            token = header.split(None, 1)[1] if header.lower().startswith(("token ", "bearer ")) else ""
            if not token:
                raise web.HTTPError(401, "missing token")
            try:
                user = service.user_for(token)
            except PermissionDenied as exc:
                self._deny(403, str(exc))
                return
            if user is None:
                raise web.HTTPError(401, "invalid token")
            self.user = user

        def _deny(self, status: int, message: str) -> None:
            self.set_status(status)
            self.finish({"error": message, "status": status})

        def write_error(self, status_code: int, **kwargs: Any) -> None:
            exc = kwargs.get("exc_info", (None, None, None))[1]
            message = exc.log_message if isinstance(exc, web.HTTPError) and exc.log_message else self._reason
            self.finish({"error": message, "status": status_code})

        def fail(self, exc: RegistryError) -> None:
            self._deny(403 if isinstance(exc, PermissionDenied) else 404, str(exc))

        def team(self, name: str) -> str:
            team = service.team_of(name)
            if team is None:
                raise RegistryError(f"No model named {name!r} in the team registry.")
            self.user.require_view(team, name)
            return team

        def deployment(self, deployment_id: str) -> tuple[dict, str]:
            """A stored deployment record and its model's team (the caller must see that team)."""
            found = service.registry.index.get_deployment(int(deployment_id))
            if found is None:
                raise RegistryError(f"There is no deployment #{deployment_id} in the team registry.")
            return found, self.team(found["model_name"])

        def rollout(self, rollout_id: str, action: str) -> tuple[dict, str]:
            """A stored rollout record and its fleet; ``action`` (when given) is a write the caller must be
            allowed (:meth:`TeamUser.require_fleet_write`), else the caller must see the model's team."""
            found = service.registry.index.get_rollout(int(rollout_id))
            if found is None:
                raise RegistryError(f"There is no rollout #{rollout_id} in the team registry.")
            team, fleet = self.team(found["model_name"]), str(found.get("fleet", ""))
            if action:
                self.user.require_fleet_write(team, found["model_name"], fleet, f"{action} rollout #{rollout_id}")
            return found, fleet

        def state(self, body: dict) -> str:
            from ..registry.rollout import ROLLOUT_STATES

            state = str(body.get("state", ""))
            if state not in ROLLOUT_STATES:
                raise web.HTTPError(400, f"'state' must be one of {', '.join(ROLLOUT_STATES)}, not {state!r}")
            return state

        def rollout_body(self, body: dict) -> tuple[str, dict]:
            """``{state, record}`` where the record is a :class:`~jupyter_stratum.registry.rollout.Rollout`'s."""
            from ..registry.rollout import Rollout

            state, record = self.state(body), body.get("record")
            try:
                if not isinstance(record, dict):
                    raise TypeError("no record")
                Rollout.from_row({**record, "id": 0, "created_at": "", "updated_at": ""})
            except (TypeError, ValueError, AttributeError) as exc:
                raise web.HTTPError(
                    400, f"send {{state, record}} with a rollout's record (Rollout.to_record()): {exc}"
                ) from None
            return state, record

        def rollout_event(self, found: dict, kind: str, details: dict) -> None:
            """The audit log's entry for a rollout: who, which rollout, which fleet."""
            version = str(found.get("model", "")).rpartition("@")[2]
            service.registry.add_event(
                found["model_name"],
                kind,
                version=int(version) if version.isdigit() else None,
                actor=self.user.name,
                details={"rollout": int(found["id"]), "fleet": str(found.get("fleet", "")), **details},
            )

        def visible(self, records: list[dict]) -> list[dict]:
            """The records (deployments, rollouts) of models of the caller's teams."""
            teams = service.teams()
            return [r for r in records if self.user.can_view(teams.get(r["model_name"], ""))]

        def body(self) -> dict:
            try:
                found = json.loads(self.request.body or b"{}")
            except ValueError as exc:
                raise web.HTTPError(400, f"the body is not JSON: {exc}") from exc
            if not isinstance(found, dict):
                raise web.HTTPError(400, "the body must be a JSON object")
            return found

    def guarded(method: Any) -> Any:
        def run(self: Base, *args: str) -> None:
            try:
                result = method(self, *args)
            except RegistryError as exc:
                self.fail(exc)
                return
            if not self._finished and result is not None:
                self.finish(json.dumps(result, default=str))

        return run

    class WhoAmI(Base):
        @guarded
        def get(self) -> dict:
            groups = sorted(self.user.groups)
            return {"name": self.user.name, "teams": self.user.teams, "groups": groups}

    class Models(Base):
        @guarded
        def get(self) -> list:
            return [m.to_dict() for m in service.team_models(self.user)]

    @web.stream_request_body
    class Versions(Base):
        """GET: a model's versions. POST: register one, streamed (:mod:`.upload`): who may is decided from the
        headers, and the artifact goes to a staged file as it arrives (a refused caller's is read and dropped)."""

        receiver: UploadReceiver | None = None
        upload_error = ""
        #: a refusal decided from the headers, answered once the body is in: a reply sent while the client is
        #: still sending makes the connection close under it, and the hub's proxy then answers 503 instead
        refusal: tuple[int, str] | None = None
        deciding = False

        def _deny(self, status: int, message: str) -> None:
            if self.deciding:
                self.refusal = self.refusal or (status, message)
                return
            super()._deny(status, message)

        def prepare(self) -> None:
            if self.request.method != "POST":
                super().prepare()
                return
            if isinstance(self.request.connection, HTTP1Connection):
                self.request.connection.set_max_body_size(max_upload_bytes())
            self.deciding = True
            try:
                self.admit()
            except web.HTTPError as exc:
                self._deny(exc.status_code, exc.log_message or exc.reason or "")
            finally:
                self.deciding = False

        def admit(self) -> None:
            """Who may register, from the headers; then the receiver that stages the artifact as it arrives."""
            from ..registry.refs import validate_name

            super().prepare()
            if self.refusal is not None:
                return
            name = self.path_args[0]
            try:
                validate_name(name)
                existing = service.team_of(name)
                if existing is not None:  # a model's team is fixed by its first version
                    self.user.require_train(existing, name)
                length = row_length(self.request.headers)
            except RegistryError as exc:
                self.fail(exc)
                return
            except UploadError as exc:
                self._deny(415, str(exc))
                return
            self.staging = contextlib.ExitStack()
            self.receiver = UploadReceiver(
                length, lambda suffix: self.staging.enter_context(service.registry.store.staging(suffix))
            )

        def data_received(self, chunk: bytes) -> None:
            if self.receiver is None or self.upload_error:
                return
            try:
                self.receiver.feed(chunk)
            except (UploadError, OSError) as exc:
                self.upload_error = str(exc)
                self.receiver.close()

        def on_finish(self) -> None:
            self.end_upload()

        def on_connection_close(self) -> None:  # the client went away mid-body: the staged part goes
            self.end_upload()

        def end_upload(self) -> None:
            if self.receiver is not None:
                self.receiver.close()
                self.staging.close()

        @guarded
        def get(self, name: str) -> list:
            self.team(name)
            return [v.to_dict() for v in service.registry.versions(name)]

        @guarded
        def post(self, name: str) -> dict | None:
            if self.refusal is not None:
                self._deny(*self.refusal)
                return None
            assert self.receiver is not None
            try:
                if self.upload_error:
                    raise UploadError(self.upload_error)
                row, staged, sha256 = self.receiver.finish()
            except UploadError as exc:
                raise web.HTTPError(400, f"the upload of {name!r} failed: {exc}") from None
            team = service.team_of(name) or row.pop("team", None) or (self.user.teams[:1] or [""])[0]
            row.pop("team", None)
            self.user.require_train(team, name)
            mv = register_upload(service, name, team, row, staged, sha256, self.user.name)
            self.set_status(201)
            return mv.to_dict()

    class Version(Base):
        @guarded
        def get(self, name: str, ref: str) -> dict:
            self.team(name)
            found = service.registry.get(name if ref == "latest" else f"{name}@{ref}")
            return found.to_dict()

    class Artifact(Base):
        async def get(self, name: str, version: str) -> None:
            """The artifact, checked against its sha256 first, then sent a chunk at a time: many users
            loading a large model do not hold it in the service's memory once each."""
            try:
                self.team(name)
                mv = service.registry.get(f"{name}@{int(version)}")
                path = service.registry.verify(mv)
            except RegistryError as exc:
                self.fail(exc)
                return
            self.set_header("Content-Type", "application/octet-stream")
            self.set_header("Content-Length", str(path.stat().st_size))
            self.set_header("X-Stratum-Sha256", mv.sha256)
            with path.open("rb") as artifact:
                while chunk := artifact.read(ARTIFACT_CHUNK):
                    self.write(chunk)
                    await self.flush()  # sent before the next chunk is read
            self.finish()

    class Aliases(Base):
        @guarded
        def get(self, name: str) -> list:
            self.team(name)
            return [a.to_dict() for a in service.registry.aliases(name)]

    class AliasOne(Base):
        @guarded
        def put(self, name: str, alias: str) -> dict:
            self.team(name)
            body = self.body()
            fleet = str(body.get("fleet", ""))
            self.user.require_deploy(fleet, f"move {name}@{alias}")
            reason = f"fleet {fleet}" + (f": {body['reason']}" if body.get("reason") else "")
            found = service.registry.set_alias(name, alias, int(body["version"]), actor=self.user.name, reason=reason)
            return found.to_dict()

        @guarded
        def delete(self, name: str, alias: str) -> dict:
            self.team(name)
            fleet = self.get_query_argument("fleet", "")
            self.user.require_deploy(fleet, f"remove {name}@{alias}")
            version = service.registry.delete_alias(name, alias, actor=self.user.name, reason=f"fleet {fleet}")
            return {"name": name, "alias": alias, "version": version}

    class Events(Base):
        @guarded
        def get(self, name: str) -> list:
            self.team(name)
            return [e.to_dict() for e in service.registry.events(name)]

    class Deployments(Base):
        @guarded
        def get(self) -> list:
            return self.visible(service.registry.list_deployments())

        @guarded
        def post(self) -> dict:
            record = self.body()
            fleet = str(record.get("fleet", ""))
            mv = service.registry.get(str(record.get("model", "")))
            team = self.team(mv.name)
            self.user.require_fleet_write(team, mv.name, fleet, f"deploy {mv.ref} to fleet {fleet!r}")
            record["user"] = self.user.name
            deployment_id = service.registry.record_deployment(record)
            service.registry.add_event(
                mv.name, "deployed", version=mv.version, actor=self.user.name, details={"fleet": fleet}
            )
            self.set_status(201)
            return {"id": deployment_id}

    class ModelDeployments(Base):
        @guarded
        def get(self, name: str) -> list:
            self.team(name)
            return service.registry.list_deployments(name)

    class DeploymentOne(Base):
        @guarded
        def get(self, deployment_id: str) -> dict:
            return self.deployment(deployment_id)[0]

        @guarded
        def put(self, deployment_id: str) -> dict:
            found, team = self.deployment(deployment_id)
            fleet, ref = str(found.get("fleet", "")), str(found.get("model", ""))
            self.user.require_fleet_write(
                team, found["model_name"], fleet, f"update deployment #{deployment_id} of {ref} on fleet {fleet!r}"
            )
            changes = self.body()
            for key in ("fleet", "model"):  # what the permission was checked on stays as recorded
                if key in changes and str(changes[key]) != str(found.get(key, "")):
                    raise web.HTTPError(
                        400, f"deployment #{deployment_id} is of {ref} on fleet {fleet!r}; record a new one instead"
                    )
            changes["user"] = found.get("user", "")  # who deployed; who updated is `updated_by` and the audit log
            changes["updated_by"] = self.user.name
            updated = service.registry.update_deployment(int(deployment_id), changes)
            service.registry.add_event(
                found["model_name"],
                "deployment_updated",
                version=found["model_version"],
                actor=self.user.name,
                details={"deployment": int(deployment_id), "fleet": fleet, "status": updated.get("status", "")},
            )
            return updated

    class ModelRollouts(Base):
        @guarded
        def get(self, name: str) -> list:
            self.team(name)
            return service.registry.index.rollouts(name)

    class Rollouts(Base):
        @guarded
        def get(self) -> list:
            return self.visible(service.registry.index.rollouts(None))

        @guarded
        def post(self) -> dict:
            from ..registry.registry import now_utc

            body = self.body()
            given = body.get("record")
            name = str(body.get("model", "")).split("@", 1)[0]
            fleet = str(given.get("fleet", "")) if isinstance(given, dict) else ""
            team = self.team(name)
            self.user.require_fleet_write(team, name, fleet, f"start a rollout of {name!r} on fleet {fleet!r}")
            state, record = self.rollout_body(body)
            if str(record.get("model")).split("@", 1)[0] != name:
                raise web.HTTPError(400, f"the record's model is not {name!r}")
            record = {**record, "fleet": fleet, "user": self.user.name}
            rollout_id = service.registry.index.add_rollout(name, state, now_utc(), record)
            self.rollout_event({**record, "id": rollout_id, "model_name": name}, "rollout_started", {"state": state})
            self.set_status(201)
            return {"id": rollout_id}

    class RolloutOne(Base):
        @guarded
        def get(self, rollout_id: str) -> dict:
            return self.rollout(rollout_id, "")[0]

        @guarded
        def put(self, rollout_id: str) -> dict:
            from ..registry.registry import now_utc

            found, fleet = self.rollout(rollout_id, "update")
            state, record = self.rollout_body(self.body())
            if str(record.get("fleet", fleet)) != fleet or str(record.get("model", found.get("model"))) != str(
                found.get("model")
            ):
                raise web.HTTPError(
                    400, f"rollout #{rollout_id} is of {found['model']} on fleet {fleet!r}; start a new one"
                )
            record = {**record, "fleet": fleet, "user": found.get("user", "")}  # as recorded when it started
            state, reason = service.registry.index.update_rollout(int(rollout_id), state, now_utc(), record)
            if state != found["state"]:  # the audit log keeps state changes, not every host's progress
                self.rollout_event(found, "rollout_state", {"from": found["state"], "to": state, "reason": reason})
            return {"state": state, "reason": reason}

    class RolloutState(Base):
        @guarded
        def put(self, rollout_id: str) -> dict:
            from ..registry.registry import now_utc

            found, _fleet = self.rollout(rollout_id, "change the state of")
            body = self.body()
            state, reason = self.state(body), str(body.get("reason", ""))
            service.registry.index.set_rollout_state(int(rollout_id), state, reason, now_utc())
            self.rollout_event(found, "rollout_state", {"from": found["state"], "to": state, "reason": reason})
            return {"state": state, "reason": reason}

    class Audit(Base):
        @guarded
        def get(self) -> list:
            teams = service.teams()
            visible = sorted(n for n, t in teams.items() if self.user.can_view(t))
            events = [e.to_dict() | {"team": teams[e.name]} for n in visible for e in service.registry.events(n)]
            return sorted(events, key=lambda e: e["time"])

    p = prefix.rstrip("/") + "/"
    name_re, part = r"([A-Za-z0-9][A-Za-z0-9_.-]*)", r"([^/]+)"
    return web.Application(
        [
            (p + "api/whoami", WhoAmI),
            (p + "api/models", Models),
            (p + f"api/models/{name_re}/versions", Versions),
            (p + f"api/models/{name_re}/versions/([0-9]+)/artifact", Artifact),
            (p + f"api/models/{name_re}/versions/{part}", Version),
            (p + f"api/models/{name_re}/aliases", Aliases),
            (p + f"api/models/{name_re}/aliases/{part}", AliasOne),
            (p + f"api/models/{name_re}/events", Events),
            (p + f"api/models/{name_re}/deployments", ModelDeployments),
            (p + "api/deployments", Deployments),
            (p + "api/deployments/([0-9]+)", DeploymentOne),
            (p + f"api/models/{name_re}/rollouts", ModelRollouts),
            (p + "api/rollouts", Rollouts),
            (p + "api/rollouts/([0-9]+)", RolloutOne),
            (p + "api/rollouts/([0-9]+)/state", RolloutState),
            (p + "api/audit", Audit),
        ]
    )


def max_upload_bytes() -> int:
    """The largest upload the service takes (``STRATUM_REGISTRY_MAX_UPLOAD_MB``, default 2048)."""
    return int(os.environ.get("STRATUM_REGISTRY_MAX_UPLOAD_MB", "2048")) << 20


def register_upload(
    service: TeamRegistryService, name: str, team: str, row: dict, staged: Path, sha256: str, actor: str
) -> Any:
    """Register an uploaded artifact, ``staged`` in the store with its ``sha256``: index row and artifact in one
    transaction (as Registry.register), the model's team recorded with its first version; the author is the
    hub user, whatever the row says."""
    from ..registry.model_version import ModelVersion
    from ..registry.registry import now_utc

    registry = service.registry
    suffix = str(row.get("suffix", ""))
    if row.get("sha256") and row["sha256"] != sha256:
        raise RegistryError(f"The upload of {name!r} arrived damaged (sha256 {sha256}, sent {row['sha256']}).")
    fields = {k: v for k, v in row.items() if k not in ("name", "version", "artifact", "sha256", "suffix")}
    published: list[dict] = []

    def build_row(version: int) -> dict:
        return {
            **fields,
            "author": actor,
            "name": name,
            "version": version,
            "created_at": now_utc(),
            "artifact": registry.store.key_for(name, version, suffix),
            "sha256": sha256,
        }

    def publish(new: dict) -> None:
        published.append(new)
        registry.store.publish(staged, new["artifact"])

    try:
        with registry.index.transaction() as conn:
            conn.execute("INSERT INTO model_teams (name, team) VALUES (%s, %s) ON CONFLICT DO NOTHING", (name, team))
        new = registry.index.add_version(name, build_row, publish)
    except BaseException:
        for attempt in published:
            registry._undo_publish(attempt)
        raise
    mv = ModelVersion.from_dict(new, registry=registry)
    registry.add_event(name, "registered", version=mv.version, actor=actor, details={"sha256": sha256, "team": team})
    return mv


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m jupyter_stratum.team.service", description=__doc__)
    parser.add_argument("--port", type=int, default=int(os.environ.get("STRATUM_REGISTRY_PORT", "9302")))
    parser.add_argument("--host", default="127.0.0.1")
    args = parser.parse_args(argv)
    from jupyterhub.services.auth import HubAuth
    from tornado import ioloop

    from . import ARTIFACTS_ENV, DSN_ENV, open_team_registry

    dsn = os.environ.get(DSN_ENV, "")
    if not dsn:
        raise SystemExit(f"Set {DSN_ENV} (a PostgreSQL URL) in the service's environment (c.JupyterHub.services).")
    cache = Path(os.environ.get("STRATUM_HOME") or tempfile.mkdtemp(prefix="stratum-registry-"))
    registry = open_team_registry(dsn, os.environ.get(ARTIFACTS_ENV) or str(cache / "shared"), cache)
    service = TeamRegistryService(registry, HubAuth(cache_max_age=10))
    app = make_app(service, os.environ.get("JUPYTERHUB_SERVICE_PREFIX", "/"))
    # JSON bodies are held in memory (tornado's default limit, 100 MB); an upload streams to a staged file
    # and raises its own limit to max_upload_bytes()
    app.listen(args.port, args.host)
    print(f"stratum-registry listening on http://{args.host}:{args.port}", flush=True)
    ioloop.IOLoop.current().start()


if __name__ == "__main__":
    main()
