"""jupyter_server extension: the REST API behind the Stratum sidebar.

Routes live under ``{base_url}/jupyter-stratum/``; see :mod:`.handlers`. The
handlers only translate HTTP to calls of the core (catalog, spec, registry,
cluster) and back: every rule lives in the core, none here.
"""

from __future__ import annotations

from typing import Any


def _jupyter_server_extension_points() -> list[dict[str, str]]:
    return [{"module": "jupyter_stratum.server"}]


def _load_jupyter_server_extension(server_app: Any) -> None:
    """Register the handlers with the running Jupyter server."""
    from .handlers import setup_handlers, warm_catalog

    setup_handlers(server_app.web_app)
    warm_catalog()
    server_app.log.info("jupyter_stratum: REST API at %sjupyter-stratum/", server_app.base_url)


# jupyter_server < 2 looked for this name
load_jupyter_server_extension = _load_jupyter_server_extension
