"""OIP binary tensor data: the bytes of one tensor, and the HTTP extension that carries them.

A tensor's raw form (the same over HTTP's ``binary_tensor_data`` extension and gRPC's
``raw_input_contents`` / ``raw_output_contents``): its elements flattened row-major,
little-endian, no padding, each in its datatype's native size; BOOL one byte (0 or 1);
BYTES each element a 4-byte little-endian unsigned length followed by that many bytes.

Over HTTP the request body is the JSON inference header, then the inputs' bytes one after
the other in input order; the header's size is given by ``Inference-Header-Content-Length``
and each binary input says its size in ``parameters.binary_data_size`` (and has no
``data``). The response does the same for outputs asked for in binary: the request's
``parameters.binary_data_output`` (every output) or an output's ``parameters.binary_data``.
"""

from __future__ import annotations

import math
import struct

import numpy as np

from .errors import RequestError
from .schema import typename

#: datatype -> little-endian NumPy dtype (BYTES has no fixed size)
NUMPY_OF = {
    "BOOL": np.dtype("?"),
    "UINT8": np.dtype("<u1"),
    "UINT16": np.dtype("<u2"),
    "UINT32": np.dtype("<u4"),
    "UINT64": np.dtype("<u8"),
    "INT8": np.dtype("<i1"),
    "INT16": np.dtype("<i2"),
    "INT32": np.dtype("<i4"),
    "INT64": np.dtype("<i8"),
    "FP16": np.dtype("<f2"),
    "FP32": np.dtype("<f4"),
    "FP64": np.dtype("<f8"),
}
HEADER_LENGTH = "inference-header-content-length"
_LENGTH = struct.Struct("<I")


# ---------------------------------------------------------------- one tensor
def decode_tensor(raw: bytes | memoryview, datatype: str, shape: list[int], where: str) -> list | np.ndarray:
    """The elements of a raw tensor, flat, checked against ``shape``: a 1-D NumPy array for numbers and
    BOOL (read in place, no copy), a list of str for BYTES."""
    count = math.prod(shape)
    if datatype == "BYTES":
        return _decode_bytes(raw, count, where)
    dtype = NUMPY_OF.get(datatype)
    if dtype is None:
        raise RequestError(f"{where}: datatype {datatype!r} has no binary form; use one of {sorted(NUMPY_OF)} or BYTES")
    expected = count * dtype.itemsize
    if len(raw) != expected:
        raise RequestError(
            f"{where}: {len(raw)} bytes of {datatype} data, but shape {shape} of {datatype} "
            f"({dtype.itemsize} bytes each) needs {expected}"
        )
    if datatype == "BOOL":
        octets = np.frombuffer(raw, dtype=np.uint8)
        if octets.size and octets.max() > 1:
            raise RequestError(f"{where}: BOOL elements are one byte each, 0 or 1; found {int(octets.max())}")
    return np.frombuffer(raw, dtype=dtype)


def _decode_bytes(raw: bytes | memoryview, count: int, where: str) -> list:
    view = memoryview(raw)
    size = len(view)
    out: list = []
    pos = 0
    for i in range(count):
        if pos + 4 > size:
            raise RequestError(
                f"{where}: BYTES data ends after {i} of {count} elements; each element is a 4-byte "
                "little-endian length, then that many bytes"
            )
        (n,) = _LENGTH.unpack_from(view, pos)
        pos += 4
        if pos + n > size:
            raise RequestError(
                f"{where}: BYTES element {i} claims {n} bytes, but only {size - pos} remain in the tensor's data"
            )
        try:
            out.append(bytes(view[pos : pos + n]).decode("utf-8"))
        except UnicodeDecodeError:
            raise RequestError(f"{where}: BYTES element {i} is not UTF-8 text") from None
        pos += n
    if pos != size:
        raise RequestError(f"{where}: {size - pos} bytes left after the {count} BYTES elements of the shape")
    return out


def encode_tensor(values: list, datatype: str) -> bytes:
    """The raw form of a flat list of values of ``datatype``."""
    if datatype == "BYTES":
        parts = []
        for v in values:
            b = v if isinstance(v, bytes) else str(v).encode("utf-8")
            parts.append(_LENGTH.pack(len(b)))
            parts.append(b)
        return b"".join(parts)
    return np.asarray(values, dtype=NUMPY_OF[datatype]).tobytes()


# ---------------------------------------------------------------- HTTP requests
def split_body(body: bytes, header_length: str | None) -> tuple[bytes, memoryview | None]:
    """(JSON header, binary tail or None) of an inference request body."""
    if header_length is None:
        return body, None
    try:
        size = int(header_length.strip())
    except ValueError:
        size = -1
    if size < 0 or str(size) != header_length.strip():
        raise RequestError(
            f"Inference-Header-Content-Length {header_length!r} is not a byte count; it gives the size of the "
            "JSON header at the start of the body"
        )
    if size > len(body):
        raise RequestError(
            f"Inference-Header-Content-Length is {size}, but the body has only {len(body)} bytes; it gives the "
            "size of the JSON header at the start of the body"
        )
    return body[:size], memoryview(body)[size:]


def attach_binary_inputs(request: dict, tail: memoryview | None) -> None:
    """Decode the binary inputs of a parsed request header into their ``data`` (in place).

    Every input with ``parameters.binary_data_size`` takes its bytes from ``tail``, in
    input order; the sizes must add up to the tail exactly."""
    inputs = request.get("inputs")
    pos = 0
    size = 0 if tail is None else len(tail)
    if isinstance(inputs, list):
        for i, t in enumerate(inputs):
            if not isinstance(t, dict):
                continue
            params = t.get("parameters")
            if params is None or not isinstance(params, dict) or "binary_data_size" not in params:
                continue
            name = t.get("name")
            where = f"inputs[{i}] ('{name}')" if isinstance(name, str) else f"inputs[{i}]"
            n = params["binary_data_size"]
            if type(n) is not int or n < 0:
                raise RequestError(f"{where}.parameters.binary_data_size must be a byte count, got {typename(n)}")
            if "data" in t:
                raise RequestError(f"{where} has both 'data' and binary_data_size; send the tensor one way")
            if tail is None:
                raise RequestError(
                    f"{where} has binary_data_size but the request has no Inference-Header-Content-Length header "
                    "saying where the JSON header ends"
                )
            if pos + n > size:
                raise RequestError(
                    f"{where}: binary_data_size {n} goes past the end of the body ({size - pos} bytes of binary "
                    "data left): the tensor is truncated or a size is wrong"
                )
            datatype, shape = t.get("datatype"), t.get("shape")
            if not isinstance(shape, list) or not shape or not all(type(d) is int and d >= 0 for d in shape):
                raise RequestError(f"{where}.shape must be a list of non-negative integers, got {shape!r}")
            if not isinstance(datatype, str):
                raise RequestError(f"{where}.datatype must be a string, got {typename(datatype)}")
            t["data"] = decode_tensor(tail[pos : pos + n], datatype, shape, where)
            pos += n
    if pos != size:
        raise RequestError(
            f"the body has {size - pos} bytes after the JSON header and the binary inputs it declares "
            "(check Inference-Header-Content-Length and each input's binary_data_size)"
        )


def binary_outputs(request: dict, names: list[str]) -> set[str]:
    """The outputs to answer in binary: ``parameters.binary_data_output``, overridden per output by
    the requested output's ``parameters.binary_data``."""
    params = request.get("parameters")
    default = False
    if params is not None:
        if not isinstance(params, dict):
            raise RequestError(f"'parameters' must be an object, got {typename(params)}")
        default = params.get("binary_data_output", False)
        if type(default) is not bool:
            raise RequestError(f"parameters.binary_data_output must be true or false, got {typename(default)}")
    chosen = set(names) if default else set()
    for i, o in enumerate(request.get("outputs") or []):
        p = o.get("parameters") if isinstance(o, dict) else None
        if isinstance(p, dict) and "binary_data" in p:
            flag = p["binary_data"]
            if type(flag) is not bool:
                raise RequestError(f"outputs[{i}].parameters.binary_data must be true or false, got {typename(flag)}")
            (chosen.add if flag else chosen.discard)(o["name"])
    return chosen


# ---------------------------------------------------------------- HTTP responses
def move_outputs_to_binary(response: dict, binary: set[str]) -> tuple[dict, list[bytes]]:
    """Replace the ``data`` of the outputs named in ``binary`` by ``parameters.binary_data_size``;
    return the response header and the outputs' bytes, in output order."""
    parts: list[bytes] = []
    for out in response["outputs"]:
        if out["name"] in binary:
            raw = encode_tensor(out.pop("data"), out["datatype"])
            out["parameters"] = {"binary_data_size": len(raw)}
            parts.append(raw)
    return response, parts
