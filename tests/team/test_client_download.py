"""The service client's artifact download, against a real HTTP server on a socket: a chunked copy into the
cache, and a connection that drops before the Content-Length is met leaves nothing in the cache."""

from __future__ import annotations

import hashlib
import http.server
import threading

import pytest

from jupyter_stratum.errors import RegistryError
from jupyter_stratum.team.client import ServiceConnection, ServiceStore

PAYLOAD = bytes(range(256)) * 12_000  # 3 MB: more than one chunk


class _Artifact(http.server.BaseHTTPRequestHandler):
    def do_GET(self):  # noqa: N802 (http.server's name)
        if self.headers.get("Authorization") != "token t0ken":
            self.send_error(401)
            return
        short = "/models/short/" in self.path
        self.send_response(200)
        self.send_header("Content-Type", "application/octet-stream")
        self.send_header("Content-Length", str(len(PAYLOAD)))
        self.end_headers()
        self.wfile.write(PAYLOAD[:10] if short else PAYLOAD)  # short: the service went away mid-body
        self.wfile.flush()
        self.close_connection = True

    def log_message(self, *args):
        pass


@pytest.fixture
def service():
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _Artifact)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield f"http://127.0.0.1:{server.server_address[1]}"
    server.shutdown()
    server.server_close()


def test_download_lands_whole_in_the_cache(service, tmp_path):
    store = ServiceStore(ServiceConnection(service, "t0ken"), tmp_path)
    path = store.local_path("artifacts/fraud/v3-abc.skops")
    assert path == tmp_path / "downloads" / "fraud" / "v3-abc.skops"
    assert hashlib.sha256(path.read_bytes()).digest() == hashlib.sha256(PAYLOAD).digest()


def test_a_download_cut_short_keeps_nothing(service, tmp_path):
    store = ServiceStore(ServiceConnection(service, "t0ken"), tmp_path)
    with pytest.raises(RegistryError, match=r"stopped after 10 bytes .*nothing was kept"):
        store.local_path("artifacts/short/v1-abc.skops")
    assert not [p for p in (tmp_path / "downloads").rglob("*") if p.is_file()]  # nor a staged part of it
    with pytest.raises(RegistryError, match="refused the token"):
        ServiceStore(ServiceConnection(service, "wrong"), tmp_path).local_path("artifacts/fraud/v1-abc.skops")
