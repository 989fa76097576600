"""How a version travels to the registry service: one streamed request, never whole in memory on either end.

The body is the version's row (JSON, ``X-Stratum-Row-Length`` bytes) followed by the artifact's bytes, sent
as ``application/x-stratum-upload`` with a Content-Length. The client reads the staged file a chunk at a
time (:func:`upload_request`); the service writes what arrives into a staged file of its store, hashing on
the way (:class:`UploadReceiver`), and registers it once the body is complete.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import IO, Any

CONTENT_TYPE = "application/x-stratum-upload"
ROW_LENGTH_HEADER = "X-Stratum-Row-Length"
#: a row is lineage, parameters and reference statistics: tens of KB; more is not a row
MAX_ROW_BYTES = 16 << 20
CHUNK = 1 << 20


class UploadError(ValueError):
    """The body is not a version's upload (the message says what is wrong with it)."""


def upload_request(row: dict, artifact: Path, chunk: int = CHUNK) -> tuple[Iterator[bytes], dict[str, str]]:
    """The body (read from ``artifact`` a chunk at a time as it is sent) and the headers of an upload."""
    head = json.dumps(row).encode()
    size = len(head) + Path(artifact).stat().st_size

    def body() -> Iterator[bytes]:
        yield head
        with Path(artifact).open("rb") as f:
            while block := f.read(chunk):
                yield block

    headers = {"Content-Type": CONTENT_TYPE, ROW_LENGTH_HEADER: str(len(head)), "Content-Length": str(size)}
    return body(), headers


def row_length(headers: Any) -> int:
    """The row's length from the request's headers; an :class:`UploadError` when they are not an upload's."""
    content_type = str(headers.get("Content-Type", "")).split(";", 1)[0].strip()
    if content_type != CONTENT_TYPE:
        raise UploadError(
            f"send the version as {CONTENT_TYPE} (its row, then the artifact), not {content_type or 'no type'}: "
            "the notebook's jupyter-stratum is older than the service's, upgrade it"
        )
    raw = str(headers.get(ROW_LENGTH_HEADER, ""))
    if not raw.isdigit() or not 0 < int(raw) <= MAX_ROW_BYTES:
        raise UploadError(f"{ROW_LENGTH_HEADER} must be the row's length in bytes (1 to {MAX_ROW_BYTES}), not {raw!r}")
    return int(raw)


class UploadReceiver:
    """The service's end: :meth:`feed` it the body as it arrives. The row is parsed once its bytes are in;
    then ``open_staged(suffix)`` gives the file the artifact is written to, hashed as it goes."""

    def __init__(self, row_length: int, open_staged: Callable[[str], Path]):
        self.row_length = row_length
        self.open_staged = open_staged
        self.row: dict | None = None
        self.staged: Path | None = None
        self.size = 0
        self._head = bytearray()
        self._file: IO[bytes] | None = None
        self._digest = hashlib.sha256()

    def feed(self, chunk: bytes) -> None:
        if self.row is None:
            need = self.row_length - len(self._head)
            self._head += chunk[:need]
            chunk = chunk[need:]
            if len(self._head) < self.row_length:
                return
            self._start(bytes(self._head))
        if chunk:
            assert self._file is not None
            self._file.write(chunk)
            self._digest.update(chunk)
            self.size += len(chunk)

    def _start(self, head: bytes) -> None:
        try:
            row = json.loads(head)
        except ValueError as exc:
            raise UploadError(f"the row (the first {self.row_length} bytes) is not JSON: {exc}") from None
        if not isinstance(row, dict):
            raise UploadError("the row must be a JSON object")
        self.row = row
        self.staged = self.open_staged(str(row.get("suffix", "")))
        self._file = self.staged.open("wb")

    def finish(self) -> tuple[dict, Path, str]:
        """The row, the staged artifact (complete, closed) and its sha256, once the whole body arrived."""
        self.close()
        if self.row is None or self.staged is None:
            raise UploadError(f"the body ended before the row's {self.row_length} bytes")
        return self.row, self.staged, self._digest.hexdigest()

    def close(self) -> None:
        if self._file is not None:
            self._file.close()
            self._file = None
