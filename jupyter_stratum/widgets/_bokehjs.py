"""Load BokehJS into the notebook page once per kernel (jupyter_bokeh renders with the page's BokehJS).

Inline by default: the page may have no internet (air-gapped clusters, CI);
``STRATUM_BOKEH_RESOURCES=cdn`` loads it from the CDN instead (smaller notebooks).
"""
from __future__ import annotations

import os

_loaded = False


def ensure_loaded() -> None:
    """Publish BokehJS (one hidden output) before the first Bokeh view of this kernel."""
    global _loaded
    if _loaded:
        return
    from bokeh.io import output_notebook
    from bokeh.resources import CDN, INLINE

    mode = os.environ.get("STRATUM_BOKEH_RESOURCES", "inline").strip().lower()
    output_notebook(resources=CDN if mode == "cdn" else INLINE, hide_banner=True)
    _loaded = True
