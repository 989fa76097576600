"""A pipeline bundle served as one model: its pinned models loaded in process, the graph run per batch.

A pipeline bundle (``manifest["kind"] == "pipeline"``, written by ``stratum bundle`` for a registered
pipeline) holds every model as a bundle of its own under ``models/`` and the graph in ``pipeline.json``.
:func:`load_pipeline` loads each model with its own backend (ONNX Runtime where the bundle has an exact
copy), then answers as one :class:`ServedModel`: the micro-batcher batches at the entry, and the
executor runs a switch's branch only on the rows the switch sends there. Each batch's per-step
timings are kept for ``parameters: {"trace": true}`` and feed :class:`PipelineMetrics`.
"""

from __future__ import annotations

import json
from pathlib import Path

from .errors import BundleLoadError, PipelineError
from .metrics import LATENCY_BUCKETS, Histogram, _escape
from .pipeline import PipelineExecutor, load_step_functions, parse_pipeline
from .served import ServedModel

GRAPH = "pipeline.json"


class PipelineMetrics:
    """Per-step latency histograms and row counts, in the Prometheus text format."""

    def __init__(self, steps: list[str]):
        self.steps = list(steps)
        self.latency = {s: Histogram(LATENCY_BUCKETS) for s in steps}
        self.rows = dict.fromkeys(steps, 0)

    def observe(self, step: str, rows: int, seconds: float) -> None:
        self.latency[step].observe(seconds)
        self.rows[step] += rows

    def render(self) -> list[str]:
        out = [
            "# HELP stratum_pipeline_step_seconds Time each pipeline step took per batch (with the steps it calls).",
            "# TYPE stratum_pipeline_step_seconds histogram",
        ]
        for step, hist in self.latency.items():
            out += hist.render("stratum_pipeline_step_seconds", f'step="{_escape(step)}"')
        out += [
            "# HELP stratum_pipeline_step_rows_total Rows each pipeline step ran on.",
            "# TYPE stratum_pipeline_step_rows_total counter",
        ]
        out += [f'stratum_pipeline_step_rows_total{{step="{_escape(s)}"}} {n}' for s, n in self.rows.items()]
        return out


def load_pipeline(root: Path, manifest: dict, backend: str, threads: int, max_rows: int, verify: bool):
    """The pipeline bundle at ``root`` as one :class:`ServedModel` (``backend`` applies to every model)."""
    from .model_loader import load_bundle

    try:
        graph = json.loads((root / GRAPH).read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise BundleLoadError(f"{root / GRAPH} cannot be read: {exc}; rebuild the bundle") from None
    members: dict[str, str] = manifest["model"]["members"]  # pinned ref -> bundle directory
    models = {}
    for ref, rel in members.items():
        try:
            models[ref] = load_bundle(root / rel, backend=backend, verify=verify, threads=threads, max_rows=max_rows)
        except BundleLoadError as exc:
            raise BundleLoadError(f"pipeline model {ref} ({rel}): {exc}") from None
    try:
        spec = parse_pipeline(graph, list(models))
    except PipelineError as exc:
        raise BundleLoadError(f"{GRAPH}: {exc}") from None
    model = ServedModel(root, manifest, "pipeline", max_rows)
    columns = [c.get("name") for c in manifest["input_schema"].get("columns", [])]
    wanted = [str(s.function) for s in spec.steps if s.kind == "function"]
    try:
        sources = {m: (root / "steps" / f"{m}.py").read_text(encoding="utf-8") for m in graph.get("modules", [])}
        functions = load_step_functions(sources, wanted, where=str(root / "steps"))
        executor = PipelineExecutor(spec, models, columns, functions)
    except OSError as exc:
        raise BundleLoadError(f"a step function's module cannot be read: {exc}; rebuild the bundle") from None
    except PipelineError as exc:
        raise BundleLoadError(f"{GRAPH}: {exc}") from None
    # per-step figures; the server starts a fresh one, so that the start-up check is not counted
    model.pipeline_metrics = PipelineMetrics([s.name for s in spec.steps])
    model.last_trace = []

    def predict(batch, n):
        trace: list[dict] = []

        metrics = model.pipeline_metrics

        def on_step(step: str, rows: int, seconds: float) -> None:
            metrics.observe(step, rows, seconds)
            trace.append({"step": step, "rows": rows, "ms": round(seconds * 1000.0, 4)})

        out = executor.run(batch, n, on_step=on_step)
        model.last_trace = trace
        return out.labels, None if out.proba is None else out.proba.tolist()

    model.predictor = predict
    model.has_proba = bool(manifest["model"].get("has_proba"))
    return model
