"""The :class:`Registry`: register, find and load model versions; record deployments."""

from __future__ import annotations

import os
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, NoReturn

from ..errors import RegistryError
from ..jsonsafe import to_jsonable
from ..secret_keys import is_secret
from .deployment import Deployment, newest_live
from .events import ALIAS_DELETED, ALIAS_MOVED, ALIAS_SET, REGISTERED, Alias, ModelEvent, validate_alias, validate_kind
from .flavors import get_flavor
from .index import ModelIndex, SQLiteIndex
from .lineage import build_lineage, current_user
from .model_version import ModelSummary, ModelVersion
from .refs import split_ref, validate_name
from .store import ArtifactStore, LocalArtifactStore, sha256_of

INDEX_FILE = "registry.sqlite3"


def now_utc() -> str:
    return datetime.now(timezone.utc).isoformat(timespec="milliseconds")


def default_root() -> Path:
    """``$STRATUM_HOME``, else the platform's user data dir for jupyter-stratum."""
    env = os.environ.get("STRATUM_HOME", "").strip()
    if env:
        return Path(env).expanduser()
    import platformdirs

    return Path(platformdirs.user_data_dir("jupyter-stratum"))


class Registry:
    """Model versions (index) and their artifact files (store) under one root."""

    def __init__(self, root: Path, index: ModelIndex | None = None, store: ArtifactStore | None = None):
        self.root = Path(root).expanduser().resolve()
        try:
            self.root.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise RegistryError(
                f"Cannot create the registry directory {self.root}: {exc}. Set STRATUM_HOME to a writable directory."
            ) from exc
        self.store: ArtifactStore = store if store is not None else LocalArtifactStore(self.root)
        self.index: ModelIndex = index if index is not None else SQLiteIndex(self.root / INDEX_FILE)

    def __repr__(self) -> str:
        return f"Registry({str(self.root)!r})"

    # -- registering ---------------------------------------------------------
    def register(self, name: str, model: Any, *, lineage: dict, flavor: str = "sklearn") -> ModelVersion:
        """Store ``model`` as the next version of ``name``. All or nothing: on any error
        no index row and no artifact file remain."""
        validate_name(name)
        flav = get_flavor(flavor)
        fields = build_lineage(model, lineage)
        with self.store.staging(flav.suffix) as staged:
            try:
                flav.save(model, staged)
            except Exception as exc:
                raise RegistryError(
                    f"Could not save {name!r} with the {flavor!r} flavor: {type(exc).__name__}: {exc}. "
                    "Nothing was registered. Check that the model is a fitted estimator of that "
                    "flavor (custom classes must be importable, lambdas cannot be stored)."
                ) from exc
            if flav.check is not None:
                try:
                    flav.check(staged)
                except RegistryError as exc:
                    raise RegistryError(f"Could not register {name!r}: {exc} Nothing was registered.") from exc
            sha256 = sha256_of(staged)
            published: list[dict] = []

            def build_row(version: int) -> dict:
                return {
                    **fields,
                    "name": name,
                    "version": version,
                    "created_at": now_utc(),
                    "flavor": flavor,
                    "artifact": self.store.key_for(name, version, flav.suffix),
                    "sha256": sha256,
                }

            def publish(row: dict) -> None:
                published.append(row)  # before the move: it may fail half-way
                self.store.publish(staged, row["artifact"])

            try:
                row = self.index.add_version(name, build_row, publish)
            except BaseException:
                for attempt in published:
                    self._undo_publish(attempt)
                raise
        mv = ModelVersion.from_dict(row, registry=self)
        self.add_event(name, REGISTERED, version=mv.version, actor=mv.author, details={"sha256": mv.sha256})
        return mv

    def _undo_publish(self, row: dict) -> None:
        """Remove the file of a failed attempt, but only once sure its row was not committed
        (an interrupt right after COMMIT must not delete a registered artifact)."""
        try:
            found = self.index.get_version(row["name"], row["version"])
        except Exception:  # cannot tell: an orphan file is harmless, a lost artifact is not  # noqa: BLE001
            return
        if found is None or found["artifact"] != row["artifact"]:
            self.store.remove(row["artifact"])

    def collect_garbage(self, older_than_s: float = 3600.0) -> list[str]:
        """Delete artifact files no version refers to (left by a process killed between moving
        its file and committing), if older than ``older_than_s``; return their keys."""
        referenced = {v["artifact"] for n in self.index.names() for v in self.index.versions(n)}
        orphans = self.store.orphans(referenced, older_than_s)
        for key in orphans:
            self.store.remove(key)
        return orphans

    # -- finding -------------------------------------------------------------
    def names(self) -> list[str]:
        return self.index.names()

    def get(self, ref: str) -> ModelVersion:
        """``"churn"`` (latest), ``"churn@3"`` or ``"churn@champion"`` (the version the alias points at)."""
        parsed = split_ref(ref)
        name, version = parsed.name, parsed.version
        if parsed.alias is not None:
            version = self._resolve_alias(name, parsed.alias)
        row = self.index.get_version(name, version)
        if row is None:
            self._raise_missing(name, version)
        return ModelVersion.from_dict(row, registry=self)

    def versions(self, name: str) -> list[ModelVersion]:
        validate_name(name)
        rows = self.index.versions(name)
        if not rows:
            self._raise_missing(name, None)
        return [ModelVersion.from_dict(r, registry=self) for r in rows]

    def list_models(self) -> list[ModelSummary]:
        return [
            ModelSummary(
                name=r["name"],
                latest_version=r["version"],
                n_versions=r["n_versions"],
                task=r["task"],
                algorithm=r["algorithm"],
                metric=r["metric"],
                cv_score=r["cv_score"],
                holdout_score=r["holdout_score"],
                updated_at=r["created_at"],
            )
            for r in self.index.latest_versions()
        ]

    def _raise_missing(self, name: str, version: int | None) -> NoReturn:
        versions = [r["version"] for r in self.index.versions(name)] if version is not None else []
        if versions:
            span = f"version {versions[0]}" if len(versions) == 1 else f"versions {versions[0]}-{versions[-1]}"
            if len(versions) != versions[-1] - versions[0] + 1:
                span = "versions " + ", ".join(map(str, versions))
            raise RegistryError(
                f"{name} has {span}; there is no version {version}. "
                f"Use '{name}' for the latest or '{name}@N' with one of those."
            )
        names = self.index.names()
        if names:
            raise RegistryError(f"No model named {name!r}. Registered models: {', '.join(names)}.")
        raise RegistryError(
            f"No model named {name!r}: the registry at {self.root} is empty. "
            f"Train and register one with `%%stratum train {name}`, or set STRATUM_HOME to the "
            "registry you meant."
        )

    # -- aliases and events --------------------------------------------------
    def _resolve_alias(self, name: str, alias: str) -> int:
        found = {a["alias"]: a["version"] for a in self.index.aliases(name)}
        if alias in found:
            return found[alias]
        if not self.index.versions(name):
            self._raise_missing(name, None)
        known = ", ".join(f"{name}@{a}" for a in sorted(found)) or "none"
        raise RegistryError(
            f"{name} has no alias {alias!r} (its aliases: {known}). Set it with "
            f"`stratum alias {name}@VERSION {alias}` or Registry.set_alias({name!r}, {alias!r}, VERSION)."
        )

    def set_alias(self, name: str, alias: str, version: int, *, actor: str | None = None, reason: str = "") -> Alias:
        """Point ``name@alias`` at ``version`` (creating or moving it); writes an ``alias_set`` or
        ``alias_moved`` event in the same transaction."""
        validate_name(name)
        validate_alias(alias)
        mv = self.get(f"{name}@{int(version)}")
        actor = actor or current_user()
        previous = {a.alias: a.version for a in self.aliases(name)}.get(alias)
        kind = ALIAS_SET if previous is None else ALIAS_MOVED
        details = {"alias": alias, **({"reason": reason} if reason else {})}
        time = now_utc()
        event = {"name": name, "kind": kind, "time": time, "actor": actor, "version": mv.version, "details": details}
        self.index.set_alias(name, alias, mv.version, time, actor, event)
        return Alias(name=name, alias=alias, version=mv.version, updated_at=time, updated_by=actor)

    def delete_alias(self, name: str, alias: str, *, actor: str | None = None, reason: str = "") -> int:
        """Remove ``name@alias``; returns the version it pointed at. Writes an ``alias_deleted`` event."""
        validate_name(name)
        validate_alias(alias)
        details = {"alias": alias, **({"reason": reason} if reason else {})}
        event = {"name": name, "kind": ALIAS_DELETED, "time": now_utc(), "actor": actor or current_user()}
        removed = self.index.delete_alias(name, alias, {**event, "details": details})
        if removed is None:
            self._resolve_alias(name, alias)  # raises the helpful error
        return int(removed)  # type: ignore[arg-type]

    def aliases(self, name: str) -> list[Alias]:
        """The aliases of model ``name``, by alias."""
        validate_name(name)
        return [Alias(**row) for row in self.index.aliases(name)]

    def add_event(
        self,
        name: str,
        kind: str,
        *,
        version: int | None = None,
        actor: str | None = None,
        details: dict | None = None,
    ) -> ModelEvent:
        """Append an event to the log of model ``name`` (append-only: events are never changed)."""
        validate_name(name)
        validate_kind(kind)
        clean = _redact(to_jsonable(dict(details or {})))
        row = {
            "name": name,
            "kind": kind,
            "time": now_utc(),
            "actor": actor or current_user(),
            "version": int(version) if version is not None else None,
            "details": clean,
        }
        return ModelEvent.from_row({**row, "id": self.index.add_event(row)})

    def events(self, name: str, *, after_id: int = 0, kinds: tuple[str, ...] | None = None) -> list[ModelEvent]:
        """The event log of model ``name`` (a ref works too), oldest first; only ids > ``after_id``
        and, when given, only ``kinds``."""
        model = split_ref(name).name
        found = [ModelEvent.from_row(r) for r in self.index.events(model, after_id)]
        return [e for e in found if kinds is None or e.kind in kinds]

    # -- loading -------------------------------------------------------------
    def load(self, ref: str) -> Any:
        """Load a model after checking its artifact's sha256."""
        return self.load_version(self.get(ref))

    def load_version(self, mv: ModelVersion) -> Any:
        path = self.verify(mv)
        return get_flavor(mv.flavor).load(path)

    def verify(self, mv: ModelVersion) -> Path:
        """Check the artifact's sha256 against the index; return its local path."""
        path = self.store.local_path(mv.artifact)
        if not path.is_file():
            raise RegistryError(
                f"The artifact of {mv.ref} is missing ({path}). Restore the file from a backup or "
                f"register the model again."
            )
        found = sha256_of(path)
        if found != mv.sha256:
            raise RegistryError(
                f"The artifact {path} of {mv.ref} was modified after it was registered "
                f"(expected sha256 {mv.sha256}, found {found}). Refusing to load it: restore the "
                "original file or register the model again."
            )
        return path

    # -- deployments ---------------------------------------------------------
    def record_deployment(self, record: dict) -> int:
        """Store a deployment record; return its id.

        ``record["model"]`` (or ``"model_ref"``) names the model; ``"churn"`` is resolved to
        the concrete latest version. ``time``/``user`` default to now and the current user.
        Values under secret keys (password, token, private_key, ..._key_data: the rule of
        :mod:`jupyter_stratum.secret_keys`) are never stored.
        """
        if not isinstance(record, dict):
            raise RegistryError("A deployment record must be a dict with at least a 'model' key.")
        ref = record.get("model") or record.get("model_ref")
        if not ref:
            raise RegistryError("A deployment record needs the model it deploys: add 'model': 'NAME@VERSION'.")
        mv = self.get(ref)
        clean = _redact(to_jsonable(dict(record)))
        clean.setdefault("time", now_utc())
        clean.setdefault("user", current_user())
        clean["model"] = mv.ref
        clean["model_ref"] = mv.ref
        return self.index.add_deployment(
            {"model_name": mv.name, "model_version": mv.version, "created_at": clean["time"], "record": clean}
        )

    def update_deployment(self, deployment_id: int, changes: dict) -> dict:
        """Merge ``changes`` (e.g. per-host status) into deployment ``deployment_id``."""
        current = self.index.get_deployment(deployment_id)
        if current is None:
            raise RegistryError(f"There is no deployment with id {deployment_id}; list them with list_deployments().")
        for key in ("id", "model_name", "model_version", "created_at", "updated_at"):
            current.pop(key, None)
        current.update(_redact(to_jsonable(dict(changes))))
        self.index.update_deployment(deployment_id, current, now_utc())
        updated = self.index.get_deployment(deployment_id)
        if updated is None:  # removed by another process between the update and this read
            raise RegistryError(
                f"Deployment {deployment_id} disappeared while it was updated; list them with list_deployments()."
            )
        return updated

    def list_deployments(self, name: str | None = None) -> list[dict]:
        """Deployment records as stored (JSON, what the server sends), oldest first; of one
        model when ``name`` is given. :meth:`deployments` gives them typed."""
        if name is not None:
            name = split_ref(name).name
        return self.index.deployments(name)

    def deployments(self, name: str | None = None) -> list[Deployment]:
        """Deployment records as :class:`Deployment`, oldest first; of one model when ``name`` is given."""
        return [Deployment.from_record(r) for r in self.list_deployments(name)]

    def live_deployment(self, name: str | None = None) -> Deployment | None:
        """The newest live deployment of model ``name`` (a ref works too), or of any model
        when None: a deploy or rollback with a host serving it and no undeploy after it."""
        model = split_ref(name).name if name is not None else None
        return newest_live(self.deployments(model), model)


def _redact(value: Any) -> Any:
    if isinstance(value, dict):
        return {k: ("<redacted>" if is_secret(k, v) and v not in (None, "") else _redact(v)) for k, v in value.items()}
    if isinstance(value, list):
        return [_redact(v) for v in value]
    return value


def open_registry(root: str | os.PathLike | None = None) -> Registry:
    """The registry at ``root``, else ``$STRATUM_HOME``, else the user data dir; created on first use.
    With ``$STRATUM_REGISTRY_URL`` (the hub's registry service) or ``$STRATUM_REGISTRY_DSN`` (its PostgreSQL)
    set and no ``root``: the team's registry (:mod:`jupyter_stratum.team`)."""
    if root is None and os.environ.get("STRATUM_REGISTRY_URL", "").strip():
        from ..team.client import open_service_registry

        return open_service_registry(os.environ["STRATUM_REGISTRY_URL"].strip())
    dsn = os.environ.get("STRATUM_REGISTRY_DSN", "").strip()
    if dsn and root is None:
        from ..team import open_team_registry

        return open_team_registry(dsn)
    return Registry(Path(root) if root is not None else default_root())


def load(ref: str) -> Any:
    """``jupyter_stratum.load("churn")`` / ``load("churn@3")`` / ``load("churn@champion")``: load a model
    from the default registry."""
    return open_registry().load(ref)
