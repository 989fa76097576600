"""What a retrain learns from: the rows the hosts captured, with the labels sent back for them
(``GET /v2/models/NAME/capture``, bearer token required), as a table in the version's own columns."""

from __future__ import annotations

import json
import urllib.error
import urllib.request
from typing import Any

from ..errors import SuperviseError
from ..serve.capture import CapturedRow


def fetch_capture(url: str, name: str, token: str | None, timeout: float = 30.0) -> list[CapturedRow]:
    """The captured rows of the runtime at ``url``, oldest first."""
    request = urllib.request.Request(f"{url.rstrip('/')}/v2/models/{name}/capture")
    if token:
        request.add_header("Authorization", f"Bearer {token}")
    try:
        with urllib.request.urlopen(request, timeout=timeout) as r:
            body = json.loads(r.read())
    except urllib.error.HTTPError as exc:
        detail = exc.read().decode("utf-8", "replace")[:300]
        raise SuperviseError(
            f"{url} refused its capture ({exc.code}): {detail}. Start the runtime with --capture N and a token, "
            "and give the supervisor the same token (--token-file or STRATUM_SERVE_TOKEN)."
        ) from None
    except (urllib.error.URLError, OSError, ValueError) as exc:
        raise SuperviseError(f"Cannot read the capture of {url}: {type(exc).__name__}: {exc}.") from None
    return [
        CapturedRow(str(r["id"]), float(r["time"]), dict(r["row"]), r["prediction"], r["label"]) for r in body["rows"]
    ]


def labelled_frame(rows: list[CapturedRow], input_schema: dict, target: str) -> Any:
    """The labelled rows as a DataFrame: the version's input columns (with their dtypes) and ``target``."""
    import pandas as pd

    columns = [c["name"] for c in (input_schema or {}).get("columns", [])]
    if not columns:
        raise SuperviseError("The version has no input schema: captured rows cannot be matched to its columns.")
    labelled = [r for r in rows if r.label is not None]
    frame = pd.DataFrame([[r.row.get(c) for c in columns] for r in labelled], columns=columns)
    for c in input_schema["columns"]:
        if c.get("dtype") and len(frame):
            frame[c["name"]] = frame[c["name"]].astype(c["dtype"])
    frame[target] = [r.label for r in labelled]
    return frame


def retrain_version(registry, mv, captured: Any, *, reason: dict, client=None, sources=("training", "captured")):
    """Train version ``mv``'s own spec on Dask, on its training data plus ``captured`` (a table from
    :func:`labelled_frame`), and register the winner with its parent and reason. The data trained on is
    kept beside the registry (``supervise/NAME/``) and named in the new version's spec; a failed retrain
    registers nothing and removes that file."""
    import pandas as pd

    from ..spec import parse_spec
    from ..training.data import resolve_frame
    from ..training.run import train

    if not mv.spec_yaml:
        raise SuperviseError(f"{mv.ref} has no spec (registered by hand): only versions trained by stratum retrain.")
    spec = parse_spec(mv.spec_yaml)
    parts = []
    if "training" in sources:
        parts.append(resolve_frame(spec.data)[0])
    if "captured" in sources and captured is not None and len(captured):
        parts.append(captured)
    if not parts:
        raise SuperviseError("Nothing to retrain on: no training data and no labelled captured rows.")
    frame = pd.concat(parts, ignore_index=True)
    folder = registry.root / "supervise" / mv.name
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / f"retrain-from-{mv.version}-{reason.get('event', 'manual')}.parquet"
    frame.to_parquet(path, index=False)
    extra = {
        "parent": {"version": mv.version, "ref": mv.ref},
        "retrain": {
            **reason,
            "data": str(path),
            "original_data": spec.data,
            "captured_rows": len(captured) if captured is not None else 0,
        },
    }
    try:
        result = train(
            spec.model_copy(update={"data": str(path)}), mv.name, client=client, registry=registry, lineage_extra=extra
        )
    except BaseException:
        path.unlink(missing_ok=True)
        raise
    return result.version
