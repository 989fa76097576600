"""Model bundles: a self-contained directory (and ``.tar.gz``) an edge host can serve.

>>> from jupyter_stratum.bundle import build_bundle
>>> b = build_bundle("churn@3", "dist/churn-3", wheelhouse=True)
>>> b.path, b.tarball, b.manifest["onnx"]

Contract (kept stable for the deploy side): ``manifest.json`` (name, version, task,
input_schema, classes, sample, requirements, files {relpath: sha256}, onnx
{available, reason}), ``requirements.txt`` (pinned), ``model/``,
``runtime/stratum_serve/``, ``README.md``, ``Dockerfile``, optional ``wheelhouse/``.
Start: ``PYTHONPATH=<bundle>/runtime python -m stratum_serve <bundle> --host H --port P``.
"""

from __future__ import annotations

from .builder import Bundle, build_bundle, write_bundle

__all__ = ["Bundle", "build_bundle", "write_bundle"]
