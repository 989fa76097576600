"""The upload's wire format on its own: what the client sends is what the service's receiver rebuilds, however
the body is cut into chunks on the way, and a body that is not an upload says what is wrong with it."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import pytest

from jupyter_stratum.team.upload import (
    CONTENT_TYPE,
    ROW_LENGTH_HEADER,
    UploadError,
    UploadReceiver,
    row_length,
    upload_request,
)

ARTIFACT = bytes(range(256)) * 9_000  # 2.3 MB: more than one chunk


def _receive(chunks, headers, tmp_path: Path):
    opened: list[str] = []

    def open_staged(suffix: str) -> Path:
        opened.append(suffix)
        return tmp_path / f"staged{suffix}"

    receiver = UploadReceiver(row_length(headers), open_staged)
    for chunk in chunks:
        receiver.feed(chunk)
    return receiver, opened


@pytest.mark.parametrize("cut", [1, 7, 4096, 1 << 20, None])
def test_the_receiver_rebuilds_row_and_artifact_however_the_body_is_cut(tmp_path, cut):
    artifact = tmp_path / "model.skops"
    artifact.write_bytes(ARTIFACT)
    row = {"flavor": "sklearn", "suffix": ".skops", "params": {"C": 1.0}, "note": "é"}
    body, headers = upload_request(row, artifact, chunk=300_000)
    sent = b"".join(body)
    assert headers["Content-Type"] == CONTENT_TYPE and int(headers["Content-Length"]) == len(sent)
    chunks = [sent] if cut is None else [sent[i : i + cut] for i in range(0, len(sent), cut)]
    receiver, opened = _receive(chunks, headers, tmp_path)
    got_row, staged, sha256 = receiver.finish()
    assert got_row == row and opened == [".skops"]
    assert staged.read_bytes() == ARTIFACT and sha256 == hashlib.sha256(ARTIFACT).hexdigest()
    assert receiver.size == len(ARTIFACT)


def test_a_body_that_is_not_an_upload_says_what_is_wrong(tmp_path):
    with pytest.raises(UploadError, match="upgrade it"):
        row_length({"Content-Type": "multipart/form-data; boundary=x", ROW_LENGTH_HEADER: "2"})
    for bad in ("", "-1", "0", "abc", str((16 << 20) + 1)):
        with pytest.raises(UploadError, match=ROW_LENGTH_HEADER):
            row_length({"Content-Type": CONTENT_TYPE, ROW_LENGTH_HEADER: bad})
    headers = {"Content-Type": CONTENT_TYPE, ROW_LENGTH_HEADER: "9"}
    with pytest.raises(UploadError, match="is not JSON"):
        _receive([b"{not json", b"rest"], headers, tmp_path)
    with pytest.raises(UploadError, match="JSON object"):
        _receive([json.dumps([1, 2, 3]).encode()], headers, tmp_path)
    receiver, opened = _receive([b'{"a": '], headers, tmp_path)
    with pytest.raises(UploadError, match="ended before the row"):
        receiver.finish()
    assert opened == []  # nothing was staged
