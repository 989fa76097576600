"""The baseline: a plain FastAPI endpoint as one would write it, served by uvicorn.

One request, one ``predict`` + ``predict_proba`` on a DataFrame of its records:
no batching. Loads the same skops model file as the runtime (from a bundle).

    BUNDLE=path/to/bundle uvicorn fastapi_baseline:app --port 8600
"""

from __future__ import annotations

import json
import os
from pathlib import Path

import pandas as pd
import skops.io
from fastapi import FastAPI
from pydantic import BaseModel

BUNDLE = Path(os.environ["BUNDLE"])
MANIFEST = json.loads((BUNDLE / "manifest.json").read_text())
MODEL = skops.io.load(BUNDLE / MANIFEST["model"]["path"], trusted=MANIFEST["model"]["trusted_types"])
COLUMNS = [c["name"] for c in MANIFEST["input_schema"]["columns"]]
CLASSES = MANIFEST["classes"]

app = FastAPI()


class Records(BaseModel):
    records: list[dict[str, float]]


if os.environ.get("BASELINE_ENDPOINT", "async") == "async":

    @app.post("/predict")
    async def predict(body: Records):
        frame = pd.DataFrame(body.records, columns=COLUMNS)
        return {
            "predictions": MODEL.predict(frame).tolist(),
            "probabilities": MODEL.predict_proba(frame).tolist(),
            "classes": CLASSES,
        }
else:

    @app.post("/predict")
    def predict(body: Records):  # noqa: F811 - FastAPI runs plain def endpoints in its thread pool
        frame = pd.DataFrame(body.records, columns=COLUMNS)
        return {
            "predictions": MODEL.predict(frame).tolist(),
            "probabilities": MODEL.predict_proba(frame).tolist(),
            "classes": CLASSES,
        }


@app.get("/v2/health/ready")
async def ready():
    return {"ready": True}
