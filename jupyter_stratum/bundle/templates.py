"""The operator-facing files of a bundle: README.md and Dockerfile."""

from __future__ import annotations

import json

DOCKERFILE = """\
# Serves {name} version {version} with stratum-serve.
#   docker build -t {image} .            (add --build-arg BASE_IMAGE=... for a local base image)
#   docker run -p 8500:8500 {image}
# A bearer token for /predict and /infer: docker run -e STRATUM_SERVE_TOKEN=... {image}
ARG BASE_IMAGE=python:{python}-slim
FROM ${{BASE_IMAGE}}
WORKDIR /bundle
COPY . /bundle
RUN if [ -d wheelhouse ]; then \\
      python -m pip install --no-cache-dir --no-index --find-links wheelhouse -r requirements.txt; \\
    else \\
      python -m pip install --no-cache-dir -r requirements.txt; \\
    fi
ENV PYTHONPATH=/bundle/runtime PYTHONUNBUFFERED=1
EXPOSE 8500
USER 65534
HEALTHCHECK --interval=10s --timeout=3s --start-period=20s \\
  CMD ["python", "-c", "import urllib.request; urllib.request.urlopen('http://127.0.0.1:8500/v2/health/ready', timeout=2)"]
CMD ["python", "-m", "stratum_serve", "/bundle", "--host", "0.0.0.0", "--port", "8500"]
"""


def readme(manifest: dict) -> str:
    name, version = manifest["name"], manifest["version"]
    schema = manifest["input_schema"]
    if "columns" in schema:
        cols = schema["columns"]
        example_record = {c["name"]: _example_value(c.get("dtype", "float64")) for c in cols[:4]}
        shown = ", ".join(f"`{c['name']}` ({c.get('dtype', 'float64')})" for c in cols[:12])
        more = f", … ({len(cols)} columns in all)" if len(cols) > 12 else ""
        inputs = f"Columns: {shown}{more}."
    else:
        example_record = None
        inputs = f"One array of shape {schema.get('shape')} per row."
    sample = manifest.get("sample") or {}
    if sample.get("records"):
        example_body = json.dumps({"records": sample["records"][:1]})
    elif example_record is not None:
        example_body = json.dumps({"records": [example_record]}) + "   # (all columns are needed)"
    else:
        example_body = '{"instances": [[...]]}'
    onnx, tflite = manifest.get("onnx", {}), manifest.get("tflite") or {}
    keras = manifest.get("flavor") == "keras"
    if keras:
        backend = (
            "the Keras network through TensorFlow (`.keras`, outputs equal to the notebook's model within "
            f"{(manifest.get('sample') or {}).get('tolerance')}); "
            + (
                f"`--backend tflite` runs the TFLite copy ({tflite.get('reason')})"
                if tflite.get("available")
                else f"no TFLite copy: {tflite.get('reason', 'not built')}"
            )
        )
    else:
        backend = (
            "ONNX Runtime (exact copy, verified at build time)"
            if onnx.get("available")
            else f"native scikit-learn (no ONNX copy: {onnx.get('reason', 'not built')})"
        )
    model_rows = (
        "| `model/model.keras` | the Keras network (loaded with `safe_mode`: no code from the file) |\n"
        "| `model/preprocess.skops` | the fitted preprocessing before the network, when there is any |\n"
        "| `model/model.tflite` | the TFLite copy, when `tflite.available` |"
        if keras
        else "| `model/model.skops` | the scikit-learn model (skops: loading runs no pickle code) |\n"
        "| `model/model.onnx` | the exact ONNX copy, when `onnx.available` |"
    )
    wheelhouse = manifest.get("wheelhouse")
    install = (
        "pip install --no-index --find-links wheelhouse -r requirements.txt   # offline, from the bundle"
        if wheelhouse
        else "pip install -r requirements.txt        # needs a package index; rebuild with --wheelhouse for offline hosts"
    )
    return f"""# Model bundle: {name} version {version}

{manifest.get("task", "")} model `{manifest.get("algorithm", "")}`, built {manifest.get("created_at", "")}
from registry version `{manifest.get("source", {}).get("ref", f"{name}@{version}")}`.
Serving backend by default: {backend}.

## Run it

```sh
python3 -m venv venv && . venv/bin/activate      # Python {manifest.get("python", "3")}
{install}
PYTHONPATH=runtime python -m stratum_serve . --host 0.0.0.0 --port 8500
```

or with Docker: `docker build -t {name}:{version} . && docker run -p 8500:8500 {name}:{version}`
(no registry? `--build-arg BASE_IMAGE=<a local python:{manifest.get("python", "3")} image>`).

Ready when `GET /v2/health/ready` answers 200. Stop with SIGTERM.

Options: `--backend auto|onnx|native|tflite`, `--max-batch-size 64` (a batch is what is already queued; nothing waits),
`--max-body-bytes 8388608`, `--max-rows 10000`, `--idle-timeout 60`, `--threads 1`,
`--token-file FILE` or env `STRATUM_SERVE_TOKEN` (bearer token for /predict and /infer),
`--access-log`, `--no-verify`, `--grpc-port P` (OIP over gRPC too; needs grpcio and protobuf: `stratum bundle --grpc` pins them),
`--workers N|auto` (N serving processes on one port). Exit status 2: the bundle cannot be served (the message says why).

## Ask it

{inputs}

```sh
curl -s localhost:8500/predict -H 'Content-Type: application/json' \\
     -d '{example_body}'
```

→ `{{"predictions": [...], "probabilities": [[...]], "classes": [...]}}` (`probabilities` only for
classifiers with `predict_proba`, `classes` only for classifiers).

Open Inference Protocol v2 (KServe, Triton, MLServer clients):
`GET /v2/health/live`, `GET /v2/health/ready`, `GET /v2/models/{name}` (metadata: one input tensor
per column, outputs `predict` and `predict_proba`), `POST /v2/models/{name}/infer`.
Prometheus metrics: `GET /metrics` (`stratum_requests_total`, `stratum_request_errors_total{{kind}}`,
`stratum_request_duration_seconds`, `stratum_batch_size_rows`, `process_cpu_seconds_total`,
`process_resident_memory_bytes`, …).

Bad requests get 400 naming the field, 401 without the token, 404 for an unknown model or path,
405 for a wrong method, 413 for bodies over the limit, 431 for headers over 64 KiB. Bodies come with a
Content-Length or chunked; two Content-Length headers, or one beside Transfer-Encoding, get 400.

## What is in here (the bundle contract)

| path | what |
|---|---|
| `manifest.json` | name, version, task, input_schema, classes, sample (records + expected predictions), requirements, files (relpath → sha256), onnx / tflite (available, reason), metrics, library versions, source |
| `requirements.txt` | pinned to the versions used in training |
{model_rows}
| `runtime/stratum_serve/` | the serving runtime (stdlib + httptools + numpy + the model's libraries) |
| `Dockerfile`, `README.md` | this |
| `wheelhouse/` | wheels for every requirement, when built with `--wheelhouse` |

The runtime checks every file's sha256 against the manifest at start (wheelhouse excepted) and
refuses to start on a mismatch. Check the samples after a deploy: POST `sample.records` to `/predict`
and compare with `sample.expected`.
"""


def _example_value(dtype: str):
    d = dtype.lower()
    if d.startswith("float"):
        return 0.0
    if d.startswith(("int", "uint")):
        return 0
    if d.startswith("bool"):
        return False
    return "a"
