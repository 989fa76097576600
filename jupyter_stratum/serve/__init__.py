"""stratum-serve: the edge runtime that serves one model bundle over HTTP.

This package is copied verbatim into every bundle as ``runtime/stratum_serve/``,
so it imports nothing from Jupyter nor from the rest of ``jupyter_stratum``: only
the standard library, httptools (the HTTP/1.1 parser, llhttp), NumPy and the
model's own libraries (scikit-learn + skops for the native path, onnxruntime for
the fast path, pandas when the model was fitted on a DataFrame; TensorFlow,
imported in ``keras_backend`` only when a Keras bundle is loaded). Every import inside it is relative.

Start it with ``python -m jupyter_stratum.serve BUNDLE --port 8500`` or, from the
bundle alone, ``PYTHONPATH=BUNDLE/runtime python -m stratum_serve BUNDLE``.
"""

from __future__ import annotations

try:  # inside jupyter_stratum: the package's version (package.json, written at build time)
    from .._version import __version__
except ImportError:
    try:  # a bundle's standalone runtime: the bundle builder writes the version beside it
        from ._version import __version__  # type: ignore[no-redef]
    except ImportError:
        __version__ = "0+unknown"

__all__ = ["__version__", "load_bundle", "ServeApp", "main"]


def __getattr__(name: str):
    # lazy, so that ``python -m stratum_serve --help`` does not import NumPy
    if name == "load_bundle":
        from .model_loader import load_bundle

        return load_bundle
    if name == "ServeApp":
        from .app import ServeApp

        return ServeApp
    if name == "main":
        from .app import main

        return main
    raise AttributeError(name)
