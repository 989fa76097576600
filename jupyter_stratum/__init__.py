"""jupyter-stratum: declare, train, compare, register and deploy ML pipelines in JupyterLab.

Importing this package is cheap: the public API is resolved lazily through
``__getattr__`` so that ``import jupyter_stratum`` and ``%load_ext jupyter_stratum``
import neither Dask, TensorFlow, Bokeh nor Ansible.
"""

from __future__ import annotations

import importlib
from typing import Any

try:
    from ._version import __version__  # written from package.json by the build (hatch-nodejs-version)
except ImportError:  # a source tree that was never installed
    __version__ = "0+unknown"

# public name -> "module:attribute"
_LAZY = {
    "PipelineSpec": "jupyter_stratum.spec:PipelineSpec",
    "parse_spec": "jupyter_stratum.spec:parse_spec",
    "catalog": "jupyter_stratum.catalog:catalog",
    "connect": "jupyter_stratum.cluster:connect",
    "train": "jupyter_stratum.training:train",
    "plan": "jupyter_stratum.training.plan:make_plan",
    "load": "jupyter_stratum.registry:load",
    "open_registry": "jupyter_stratum.registry:open_registry",
    "StratumError": "jupyter_stratum.errors:StratumError",
}

__all__ = sorted(_LAZY) + ["load_ipython_extension", "__version__"]


def __getattr__(name: str) -> Any:
    try:
        target = _LAZY[name]
    except KeyError:
        raise AttributeError(f"module 'jupyter_stratum' has no attribute {name!r}") from None
    module_name, attr = target.split(":")
    value = getattr(importlib.import_module(module_name), attr)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return __all__


def load_ipython_extension(ipython) -> None:
    """``%load_ext jupyter_stratum``: register the ``%stratum`` / ``%%stratum`` magics."""
    from .magics import StratumMagics

    ipython.register_magics(StratumMagics)


def _jupyter_labextension_paths() -> list[dict[str, str]]:
    return [{"src": "labextension", "dest": "jupyter-stratum"}]


def _jupyter_server_extension_points() -> list[dict[str, str]]:
    return [{"module": "jupyter_stratum.server"}]
