"""Request and response bodies: Open Inference Protocol v2 and the plain ``/predict``.

OIP v2 (KServe, Triton, MLServer) -- JSON over HTTP:

- ``GET /v2/models/{name}`` -> metadata: ``{name, versions, platform, inputs, outputs}``;
  a tabular model has one input tensor per column (shape ``[-1]``), outputs
  ``predict`` (labels or values) and, for classifiers, ``predict_proba`` (``[-1, K]``).
- ``POST /v2/models/{name}/infer`` with ``{"id"?, "inputs": [{name, shape, datatype,
  data}], "outputs"?: [{name}]}``. A tabular model takes either one tensor per
  column (shape ``[N]`` or ``[N, 1]``) or, when every column is numeric, one 2-D
  tensor ``[N, n_columns]`` in the metadata's column order.

Plain JSON: ``POST /predict`` with ``{"records": [{column: value, ...}, ...]}``
(tensor models: ``{"instances": [array, ...]}``) -> ``{"predictions": [...],
"probabilities": [[...]] (classifiers with predict_proba), "classes": [...]
(classifiers)}``.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np

from .errors import RequestError
from .schema import TabularSchema, typename

OIP_NUMERIC = {"UINT8", "UINT16", "UINT32", "UINT64", "INT8", "INT16", "INT32", "INT64", "FP16", "FP32", "FP64"}
OIP_INT = {"UINT8", "UINT16", "UINT32", "UINT64", "INT8", "INT16", "INT32", "INT64"}
OIP_TYPES = OIP_NUMERIC | {"BOOL", "BYTES"}
_ACCEPTS = {
    "float": OIP_NUMERIC,
    "int": OIP_INT,
    "bool": {"BOOL"},
    "string": {"BYTES"},
}


# ---------------------------------------------------------------- /predict
def decode_predict(body: Any, model) -> tuple[Any, int]:
    schema = model.schema
    if not isinstance(body, dict):
        raise RequestError(f'the body must be a JSON object like {{"records": [...]}}, got {typename(body)}')
    if isinstance(schema, TabularSchema):
        if "records" not in body:
            raise RequestError(
                "the body has no 'records': send {\"records\": [{column: value, ...}, ...]} "
                f"with the columns {schema._names_text()}"
            )
        return schema.from_records(body["records"])
    key = "instances" if "instances" in body else "records"
    if key not in body:
        raise RequestError("the body has no 'instances': send {\"instances\": [array, ...]}")
    return schema.check_array(body[key], key)


def encode_predict(model, predictions: list, probabilities: list | None) -> dict:
    out: dict[str, Any] = {"predictions": predictions}
    if model.task == "classification":
        if probabilities is not None:
            out["probabilities"] = probabilities
        out["classes"] = model.classes
    return out


# ---------------------------------------------------------------- OIP v2
#: OIP extensions this runtime speaks (listed in the server metadata, HTTP and gRPC)
EXTENSIONS = ["binary_tensor_data"]


def server_metadata(version: str) -> dict:
    return {"name": "stratum-serve", "version": version, "extensions": list(EXTENSIONS)}


def model_metadata(model) -> dict:
    schema = model.schema
    if isinstance(schema, TabularSchema):
        inputs = [{"name": c.name, "datatype": c.oip_type, "shape": [-1]} for c in schema.columns]
    else:
        inputs = [
            {
                "name": schema.names[0],
                "datatype": _oip_for_numpy(schema.dtype),
                "shape": [-1] + [(-1 if d is None else d) for d in schema.shape],
            }
        ]
    outputs = [{"name": "predict", "datatype": model.label_datatype(), "shape": [-1]}]
    if model.has_proba:
        outputs.append({"name": "predict_proba", "datatype": "FP64", "shape": [-1, len(model.classes or [])]})
    meta = {
        "name": model.name,
        "versions": [model.version],
        "platform": model.platform,
        "inputs": inputs,
        "outputs": outputs,
        "parameters": {"task": model.task, "backend": model.backend},
    }
    if model.task == "classification":
        meta["parameters"]["classes"] = model.classes
    return meta


def _oip_for_numpy(dtype: str) -> str:
    d = dtype.lower()
    table = {
        "float16": "FP16",
        "float32": "FP32",
        "float64": "FP64",
        "int8": "INT8",
        "int16": "INT16",
        "int32": "INT32",
        "int64": "INT64",
        "uint8": "UINT8",
        "uint16": "UINT16",
        "uint32": "UINT32",
        "uint64": "UINT64",
        "bool": "BOOL",
    }
    return table.get(d, "BYTES")


def _flatten(data: list, where: str) -> list:
    if not data or not isinstance(data[0], list):
        for v in data:
            if isinstance(v, (list, dict)):
                raise RequestError(f"{where}.data mixes nested lists and values")
        return data
    flat: list = []

    # depth-first, row-major
    def walk(node, depth):
        if depth > 32:
            raise RequestError(f"{where}.data is nested too deeply")
        for v in node:
            if isinstance(v, list):
                walk(v, depth + 1)
            elif isinstance(v, dict):
                raise RequestError(f"{where}.data holds an object; tensor data are numbers, booleans or strings")
            else:
                flat.append(v)

    walk(data, 0)
    return flat


def _parse_tensor(t: Any, i: int) -> tuple[str, list, str, list]:
    where = f"inputs[{i}]"
    if not isinstance(t, dict):
        raise RequestError(f"{where} must be an object {{name, shape, datatype, data}}, got {typename(t)}")
    for key in ("name", "shape", "datatype", "data"):
        if key not in t:
            raise RequestError(f"{where} has no '{key}'; an input tensor needs name, shape, datatype and data")
    name, shape, datatype, data = t["name"], t["shape"], t["datatype"], t["data"]
    if not isinstance(name, str):
        raise RequestError(f"{where}.name must be a string, got {typename(name)}")
    where = f"inputs[{i}] ('{name}')"
    if not isinstance(shape, list) or not shape or not all(type(d) is int and d >= 0 for d in shape):
        raise RequestError(f"{where}.shape must be a list of non-negative integers, got {shape!r}")
    if datatype not in OIP_TYPES:
        raise RequestError(f"{where}.datatype {datatype!r} is not an OIP datatype; use one of {sorted(OIP_TYPES)}")
    if isinstance(data, np.ndarray):  # a binary tensor, decoded flat (binary.decode_tensor)
        flat: Any = data
    elif not isinstance(data, list):
        raise RequestError(f"{where}.data must be a list, got {typename(data)}")
    else:
        flat = _flatten(data, where)
    expected = math.prod(shape)
    if len(flat) != expected:
        raise RequestError(f"{where}: shape {shape} needs {expected} values, data holds {len(flat)}")
    return name, shape, datatype, flat


def decode_infer(body: Any, model) -> tuple[Any, int, Any, list[str]]:
    """Checked batch, row count, request id, names of the outputs to return."""
    if not isinstance(body, dict):
        raise RequestError(f"the body must be an OIP inference request object, got {typename(body)}")
    inputs = body.get("inputs")
    if not isinstance(inputs, list) or not inputs:
        raise RequestError("'inputs' must be a non-empty list of tensors {name, shape, datatype, data}")
    names = ["predict"] + (["predict_proba"] if model.has_proba else [])
    wanted = names
    if body.get("outputs") is not None:
        outs = body["outputs"]
        if not isinstance(outs, list) or not all(isinstance(o, dict) and isinstance(o.get("name"), str) for o in outs):
            raise RequestError("'outputs' must be a list of objects {\"name\": ...}")
        wanted = [o["name"] for o in outs]
        for w in wanted:
            if w not in names:
                raise RequestError(f"unknown output '{w}'; this model has outputs {names}")
    request_id = body.get("id")
    tensors = [_parse_tensor(t, i) for i, t in enumerate(inputs)]
    schema = model.schema
    fast = _numeric_matrix(tensors, schema)
    if fast is not None:
        return fast, len(fast), request_id, wanted
    tensors = [
        (name, shape, dt, flat.tolist() if isinstance(flat, np.ndarray) else flat) for name, shape, dt, flat in tensors
    ]
    if not isinstance(schema, TabularSchema):
        if len(tensors) != 1:
            raise RequestError(f"this model takes one input tensor '{schema.names[0]}', got {len(tensors)}")
        name, shape, datatype, flat = tensors[0]
        rows = _reshape(flat, shape)
        batch, n = schema.check_array(rows, f"inputs[0] ('{name}')")
        return batch, n, request_id, wanted
    if (
        len(tensors) == 1
        and tensors[0][0] not in schema.nameset
        and len(tensors[0][1]) == 2
        and tensors[0][1][1] == len(schema.columns)
        and len(schema.columns) > 1
    ):
        name, shape, datatype, flat = tensors[0]
        if not schema.all_numeric:
            raise RequestError(
                f"inputs[0] ('{name}'): a single [N, {len(schema.columns)}] tensor works only for numeric columns; "
                "send one tensor per column"
            )
        if datatype not in OIP_NUMERIC:
            raise RequestError(f"inputs[0] ('{name}'): datatype {datatype} does not suit numeric columns")
        k = shape[1]
        rows = [flat[r * k : (r + 1) * k] for r in range(shape[0])]
        batch, n = schema.from_matrix(rows, f"inputs[0] ('{name}')")
        return batch, n, request_id, wanted
    if (
        len(tensors) == 1
        and tensors[0][0] not in schema.nameset
        and len(tensors[0][1]) == 2
        and tensors[0][1][1] > 1
        and schema.all_numeric
    ):
        name, shape = tensors[0][:2]
        raise RequestError(
            f"inputs[0] ('{name}'): a single [N, K] tensor needs K = {len(schema.columns)} "
            f"(one value per column), got shape {shape}; or send one tensor per column"
        )
    named: dict[str, list] = {}
    for i, (name, shape, datatype, flat) in enumerate(tensors):
        col = schema.by_name.get(name)
        if col is None:
            raise RequestError(f"inputs[{i}]: unknown input '{name}'; the model takes {schema._names_text()}")
        if name in named:
            raise RequestError(f"inputs[{i}]: input '{name}' is given twice")
        if len(shape) > 2 or (len(shape) == 2 and shape[1] != 1):
            raise RequestError(f"inputs[{i}] ('{name}'): shape must be [N] or [N, 1] for a column, got {shape}")
        if datatype not in _ACCEPTS[col.kind]:
            raise RequestError(
                f"inputs[{i}] ('{name}'): datatype {datatype} does not suit column '{name}' ({col.dtype}); "
                f"use {col.oip_type}"
            )
        named[name] = flat
    batch, n = schema.from_columns(named, "inputs")
    return batch, n, request_id, wanted


def _numeric_matrix(tensors: list, schema) -> list[list] | None:
    """The fast path of a binary ``[N, n_columns]`` numeric tensor for an all-float schema: the rows
    straight from the array (only a finiteness check left to do); None when another path applies."""
    if len(tensors) != 1 or not isinstance(schema, TabularSchema) or not schema.fast_numeric:
        return None
    name, shape, datatype, flat = tensors[0]
    k = len(schema.columns)
    if not isinstance(flat, np.ndarray) or name in schema.nameset or len(shape) != 2 or shape[1] != k or k < 2:
        return None
    if datatype not in OIP_NUMERIC:
        return None  # refused with its reason by the general path
    schema._check_rows(shape[0], f"inputs[0] ('{name}')")
    if flat.dtype.kind == "f" and not np.isfinite(flat).all():
        bad = int(np.flatnonzero(~np.isfinite(flat))[0])
        raise RequestError(
            f"inputs[0] ('{name}')[{bad // k}][{schema.names[bad % k]}]: {float(flat[bad])!r} is out of range; "
            "expected a finite number"
        )
    return flat.reshape(shape[0], k).tolist()


def _reshape(flat: list, shape: list) -> list:
    if len(shape) == 1:
        return flat
    step = math.prod(shape[1:])
    return [_reshape(flat[i * step : (i + 1) * step], shape[1:]) for i in range(shape[0])]


def encode_infer(model, predictions: list, probabilities: list | None, request_id: Any, wanted: list[str]) -> dict:
    n = len(predictions)
    outputs = []
    for name in wanted:
        if name == "predict":
            outputs.append({"name": "predict", "datatype": model.label_datatype(), "shape": [n], "data": predictions})
        elif name == "predict_proba" and probabilities is not None:
            k = len(probabilities[0]) if probabilities else 0
            flat = [p for row in probabilities for p in row]
            outputs.append({"name": "predict_proba", "datatype": "FP64", "shape": [n, k], "data": flat})
    out = {"model_name": model.name, "model_version": model.version, "outputs": outputs}
    if request_id is not None:
        out["id"] = request_id
    return out
