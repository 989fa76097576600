"""One authenticated ``APIHandler`` per resource of the sidebar's REST API.

============================  ======  =================================================
route (under base_url)        method  core call
============================  ======  =================================================
jupyter-stratum/catalog       GET     ``catalog.catalog_json()`` (algorithms, aliases resolved)
jupyter-stratum/spec/schema   GET     ``spec.PipelineSpec.model_json_schema()``
jupyter-stratum/spec/validate POST    ``spec.validate_text(yaml, task)``
jupyter-stratum/models        GET     ``registry.list_models()`` (team registry: ``ServiceIndex.team_models()``)
jupyter-stratum/models/NAME   GET     ``registry.versions(NAME)`` + its deployments + the record's fields
jupyter-stratum/deployments   GET     ``registry.list_deployments(name=?name)``
jupyter-stratum/metrics       GET     ``evaluate.metrics.METRICS`` (names, task, direction)
jupyter-stratum/cluster       GET     ``cluster.configured_scheduler()`` + ``cluster.probe()``
============================  ======  =================================================

The handlers hold no rules of their own: validation, defaults and messages come
from the core, so the sidebar and the ``%%stratum`` magic can never disagree.
Core calls run in a worker thread so that a slow one (the first catalog build
imports every scikit-learn estimator) never blocks the server's event loop.
A user's mistake (a :class:`~jupyter_stratum.errors.StratumError`) becomes a
4xx answer ``{"message": ..., "area": ...}``; anything else stays a 500.
"""

from __future__ import annotations

import asyncio
import gzip
import json
from collections.abc import Callable
from typing import Any

import tornado.web
from jupyter_server.base.handlers import APIHandler
from jupyter_server.utils import url_path_join

from ..errors import StratumError
from ..jsonsafe import to_jsonable

NAMESPACE = "jupyter-stratum"


class StratumHandler(APIHandler):
    """Base: runs a core call off the event loop and answers JSON."""

    async def call_core(self, fn: Callable[..., Any], *args: Any, status: int = 400, **kwargs: Any) -> Any:
        """``fn(*args, **kwargs)`` in a thread; a StratumError becomes ``status`` with its message."""
        try:
            return await asyncio.to_thread(fn, *args, **kwargs)
        except StratumError as exc:
            raise _UserError(status, exc) from exc

    #: answers longer than this are gzipped for clients that accept it (the catalog: 400 KB -> ~80 KB)
    GZIP_MIN_BYTES = 8192

    def answer(self, data: Any, status: int = 200) -> None:
        self.set_status(status)
        self.set_header("Content-Type", "application/json")
        body = json.dumps(to_jsonable(data)).encode()
        if len(body) >= self.GZIP_MIN_BYTES and "gzip" in self.request.headers.get("Accept-Encoding", ""):
            body = gzip.compress(body, compresslevel=1)
            self.set_header("Content-Encoding", "gzip")
            self.set_header("Vary", "Accept-Encoding")
        self.finish(body)

    def write_error(self, status_code: int, **kwargs: Any) -> None:
        exc_info = kwargs.get("exc_info")
        exc = exc_info[1] if exc_info else None
        if isinstance(exc, _UserError):
            self.set_header("Content-Type", "application/json")
            self.finish(json.dumps(exc.payload))
            return
        super().write_error(status_code, **kwargs)

    def json_body(self) -> dict:
        """The request body as a JSON object, or a 400 that says what is wrong with it."""
        try:
            body = json.loads(self.request.body or b"{}")
        except (ValueError, UnicodeDecodeError) as exc:
            raise _UserError(400, message=f"The request body is not valid JSON ({exc}); send a JSON object.") from None
        if not isinstance(body, dict):
            raise _UserError(400, message='The request body must be a JSON object, e.g. {"yaml": "..."}.')
        return body


class _UserError(tornado.web.HTTPError):
    """A 4xx whose JSON body carries the core's message."""

    def __init__(self, status: int, exc: StratumError | None = None, message: str | None = None):
        text = message if message is not None else str(exc)
        super().__init__(status, log_message=text.replace("%", "%%"))
        self.payload: dict[str, Any] = {
            "message": text,
            "area": getattr(exc, "area", "request"),
        }
        errors = getattr(exc, "errors", None)
        if errors:
            self.payload["errors"] = to_jsonable(errors)


# --------------------------------------------------------------------- catalog / spec
class CatalogHandler(StratumHandler):
    """Every algorithm the core knows, with the JSON Schema of its hyperparameters."""

    @tornado.web.authenticated
    async def get(self) -> None:
        from ..catalog import catalog_json

        self.answer(await self.call_core(catalog_json))


class SpecSchemaHandler(StratumHandler):
    """JSON Schema of ``PipelineSpec``: the Data, Split and Evaluate editors are built from it."""

    @tornado.web.authenticated
    async def get(self) -> None:
        from ..spec import PipelineSpec

        self.answer(await self.call_core(PipelineSpec.model_json_schema))


class SpecValidateHandler(StratumHandler):
    """POST ``{"yaml": TEXT, "task": null|str}`` → ``validate_text``'s answer, unchanged."""

    @tornado.web.authenticated
    async def post(self) -> None:
        from ..spec import validate_text

        body = self.json_body()
        text = body.get("yaml")
        task = body.get("task")
        if not isinstance(text, str):
            raise _UserError(400, message='Send the spec as {"yaml": "<the cell body>"}; "yaml" must be a string.')
        if task is not None and not isinstance(task, str):
            raise _UserError(400, message='"task" must be a string (e.g. "classification") or null.')
        self.answer(await self.call_core(validate_text, text, task))


# --------------------------------------------------------------------- registry
def _registry():
    from ..registry import open_registry

    return open_registry()


def _list_models() -> list:
    """The registry's models; on a team registry (the hub's service) each with its team, owner, aliases,
    last deployment and the actions the user may take, as the service decided them (never decided here)."""
    from ..team.client import ServiceIndex

    reg = _registry()
    if isinstance(reg.index, ServiceIndex):
        return [m.to_dict() for m in reg.index.team_models()]
    return reg.list_models()


def _model_detail(name: str) -> dict:
    from ..registry.model_version import lineage_fields

    reg = _registry()
    # the lineage the sidebar shows for each version: the record's own fields, in order; the raw
    # sample rows and the reference statistics (tens of KB per version) stay on the kernel side
    fields = lineage_fields()
    versions = reg.versions(name)  # RegistryError when there is no such model
    return {
        "name": name,
        "versions": [{f: getattr(v, f) for f in fields} for v in versions],
        "deployments": reg.list_deployments(name=name),
        "fields": fields,
    }


def _list_deployments(name: str | None) -> list:
    return _registry().list_deployments(name=name)


class ModelsHandler(StratumHandler):
    """Registered models, one summary per name (latest version, metric, scores, date)."""

    @tornado.web.authenticated
    async def get(self) -> None:
        self.answer(await self.call_core(_list_models))


class ModelHandler(StratumHandler):
    """One model: every version (metrics, params, lineage) and its deployments."""

    @tornado.web.authenticated
    async def get(self, name: str) -> None:
        # the registry's only complaint here is "no such model" (or a malformed name)
        self.answer(await self.call_core(_model_detail, name, status=404))


class DeploymentsHandler(StratumHandler):
    """Deployments recorded in the registry (``?name=`` keeps one model's)."""

    @tornado.web.authenticated
    async def get(self) -> None:
        name = self.get_query_argument("name", None) or None
        self.answer(await self.call_core(_list_deployments, name))


# --------------------------------------------------------------------- metrics
def _metrics() -> list[dict]:
    from ..evaluate.metrics import METRICS

    return [
        {"name": m.name, "task": m.task, "greater_is_better": m.greater_is_better, "description": m.description}
        for m in METRICS.values()
    ]


class MetricsHandler(StratumHandler):
    """The metrics a spec may name (suggestions for the Evaluate block)."""

    @tornado.web.authenticated
    async def get(self) -> None:
        self.answer(await self.call_core(_metrics))


# --------------------------------------------------------------------- cluster
class ClusterHandler(StratumHandler):
    """The configured Dask scheduler (``STRATUM_SCHEDULER``) and its workers, or the embedded default.

    ``?workers=0`` skips asking the scheduler (the sidebar's footer only needs the address).
    A scheduler that does not answer gives ``error`` (the core's message), not a failed request.
    """

    @tornado.web.authenticated
    async def get(self) -> None:
        from ..cluster.client import configured_scheduler, probe
        from ..errors import ClusterError

        scheduler = await self.call_core(configured_scheduler)
        answer: dict[str, Any] = {"scheduler": scheduler, "embedded": scheduler is None}
        if scheduler is not None and self.get_argument("workers", "1") != "0":
            try:
                info = await asyncio.to_thread(probe, scheduler)
            except ClusterError as exc:
                answer.update(workers=[], dashboard_link=None, error=str(exc))
            else:
                answer.update(
                    workers=info.workers, dashboard_link=info.dashboard_link, resources=info.resources, error=None
                )
        self.answer(answer)


def setup_handlers(web_app: Any) -> None:
    """Add the routes under ``{base_url}/jupyter-stratum/``."""
    base_url = web_app.settings["base_url"]

    def route(*parts: str) -> str:
        return url_path_join(base_url, NAMESPACE, *parts)

    handlers = [
        (route("catalog"), CatalogHandler),
        (route("spec", "schema"), SpecSchemaHandler),
        (route("spec", "validate"), SpecValidateHandler),
        (route("models"), ModelsHandler),
        (route("models", r"(?P<name>[^/]+)"), ModelHandler),
        (route("deployments"), DeploymentsHandler),
        (route("metrics"), MetricsHandler),
        (route("cluster"), ClusterHandler),
    ]
    web_app.add_handlers(".*$", handlers)


def warm_catalog() -> None:
    """Build the catalog once in the background, so the sidebar's first request is quick.

    The first build imports every scikit-learn estimator (seconds); the core caches it.
    """
    import threading

    def build() -> None:
        try:
            from ..catalog import catalog_json

            catalog_json()
        except Exception:  # the request itself will report the error  # noqa: BLE001
            pass

    threading.Thread(target=build, name="jupyter-stratum-catalog", daemon=True).start()
