"""Load BokehJS into the notebook page once per kernel (jupyter_bokeh renders with the page's BokehJS).

Inline by default, because the page may have no internet (air-gapped clusters,
CI), and only the bundles the views use (bokeh, widgets, tables: about 2 MB,
against 8 MB for ``output_notebook(INLINE)``, which also inlines MathJax and GL
and publishes everything twice). ``STRATUM_BOKEH_RESOURCES=cdn`` loads BokehJS
from the CDN instead (a few KB in the notebook).
"""

from __future__ import annotations

import os

COMPONENTS = ["bokeh", "bokeh-widgets", "bokeh-tables"]
_loaded = False


def load_bundle(mode: str | None = None) -> dict:
    """The display bundle that loads BokehJS in JupyterLab (and in Notebook 7, built on it)."""
    from bokeh.embed.bundle import bundle_for_objs_and_resources
    from bokeh.io.notebook import LOAD_MIME_TYPE, _loading_js
    from bokeh.resources import Resources

    mode = (mode or os.environ.get("STRATUM_BOKEH_RESOURCES", "inline")).strip().lower()
    resources = Resources(mode="cdn" if mode == "cdn" else "inline", components=COMPONENTS)
    bundle = bundle_for_objs_and_resources(None, resources)
    return {LOAD_MIME_TYPE: _loading_js(bundle, None, 5000, register_mime=False)}


def ensure_loaded() -> None:
    """Publish BokehJS (one hidden output) before the first Bokeh view of this kernel."""
    global _loaded
    if _loaded:
        return
    try:
        from IPython.display import publish_display_data

        publish_display_data(load_bundle())
    except (ImportError, AttributeError, TypeError):  # Bokeh moved its internals: the public way
        from bokeh.io import output_notebook
        from bokeh.resources import CDN, INLINE

        cdn = os.environ.get("STRATUM_BOKEH_RESOURCES", "inline").strip().lower() == "cdn"
        output_notebook(resources=CDN if cdn else INLINE, hide_banner=True)
    _loaded = True
