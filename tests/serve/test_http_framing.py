"""HTTP/1.1 framing through llhttp on a real server process: chunked bodies, Content-Length rules,
header limits, Expect: 100-continue, truncated input, pipelining, and a seeded fuzz run."""

from __future__ import annotations

import json
import random
import socket
import time

import numpy as np
from _helpers import records_of

HTTP_STATUSES = {200, 400, 401, 404, 405, 413, 431, 505}  # never 500: nothing here may break the server


def _read_responses(sock: socket.socket, want: int | None = None) -> tuple[list[tuple[int, bytes, bytes]], str]:
    """Responses read from ``sock`` until it closes (or ``want`` arrived): [(status, head, body)], and how it
    ended: "eof", "reset" or "enough". A hang fails on the socket's timeout."""
    buf = b""
    out: list[tuple[int, bytes, bytes]] = []
    end = "eof"
    while want is None or len(out) < want:
        try:
            chunk = sock.recv(262144)
        except ConnectionResetError:
            end = "reset"
            break
        if not chunk:
            break
        buf += chunk
        while True:
            head, sep, rest = buf.partition(b"\r\n\r\n")
            if not sep:
                break
            status = int(head.split(b" ", 2)[1])
            if status == 100:  # interim: no body
                out.append((status, head, b""))
                buf = rest
                continue
            length = next(
                int(line.split(b":", 1)[1])
                for line in head.split(b"\r\n")
                if line.lower().startswith(b"content-length:")
            )
            if len(rest) < length:
                break
            out.append((status, head, rest[:length]))
            buf = rest[length:]
    else:
        end = "enough"
    return out, end


def _exchange(server, data: bytes, *, shut: bool = True, timeout: float = 10.0):
    """Send ``data`` on a fresh connection (then end the sending side); the responses and how it ended."""
    with socket.create_connection((server.host, server.port), timeout=timeout) as sock:
        try:
            sock.sendall(data)
            if shut:
                sock.shutdown(socket.SHUT_WR)
        except OSError:  # EPIPE, ECONNRESET, ENOTCONN: the server answered and closed before reading everything
            pass
        return _read_responses(sock)


def _post(path: str, body: bytes, extra: bytes = b"") -> bytes:
    return (
        f"POST {path} HTTP/1.1\r\nHost: edge\r\nContent-Type: application/json\r\n".encode()
        + extra
        + f"Content-Length: {len(body)}\r\n\r\n".encode()
        + body
    )


def _chunked(path: str, body: bytes, sizes: list[int], extra: bytes = b"") -> bytes:
    out = f"POST {path} HTTP/1.1\r\nHost: edge\r\nTransfer-Encoding: chunked\r\n".encode() + extra + b"\r\n"
    i = 0
    for k, size in enumerate(sizes + [len(body)]):
        piece = body[i : i + size]
        i += len(piece)
        if piece:
            ext = b";note=x" if k % 2 else b""
            out += f"{len(piece):x}".encode() + ext + b"\r\n" + piece + b"\r\n"
    return out + b"0\r\n\r\n"


def test_chunked_bodies_on_predict_and_infer(serve, logreg_bundle, logreg):
    server = serve(logreg_bundle.path, "--backend", "native")
    X = logreg.X_test.iloc[:7]
    expected = logreg.model.predict(X).tolist()
    body = json.dumps({"records": records_of(X)}).encode()
    responses, _ = _exchange(server, _chunked("/predict", body, [1, 10, 100, 1000]))
    assert [r[0] for r in responses] == [200]
    assert json.loads(responses[0][2])["predictions"] == expected
    infer = json.dumps(
        {"inputs": [{"name": "x", "shape": [len(X), X.shape[1]], "datatype": "FP64", "data": X.to_numpy().tolist()}]}
    ).encode()
    responses, _ = _exchange(server, _chunked("/v2/models/cancer/infer", infer, [3, 333]))
    assert [r[0] for r in responses] == [200]
    outputs = {o["name"]: o for o in json.loads(responses[0][2])["outputs"]}
    assert outputs["predict"]["data"] == expected
    np.testing.assert_allclose(
        np.reshape(outputs["predict_proba"]["data"], (len(X), 2)), logreg.model.predict_proba(X), rtol=1e-12
    )
    # the standard library's client streams a chunked body the same way
    import http.client

    conn = http.client.HTTPConnection(server.host, server.port, timeout=10)
    conn.request("POST", "/predict", body=iter([body[:50], body[50:]]), headers={"Content-Type": "application/json"})
    resp = conn.getresponse()
    assert resp.status == 200 and json.loads(resp.read())["predictions"] == expected
    conn.close()


def test_content_length_conflicts_and_malformed_values_are_400(serve, logreg_bundle, logreg):
    server = serve(logreg_bundle.path)
    body = json.dumps({"records": records_of(logreg.X_test.iloc[:1])}).encode()
    n = len(body)
    head = b"POST /predict HTTP/1.1\r\nHost: edge\r\n"
    cases = {
        "two different lengths": head + f"Content-Length: {n}\r\nContent-Length: {n + 5}\r\n\r\n".encode() + body,
        "the same length twice": head + f"Content-Length: {n}\r\nContent-Length: {n}\r\n\r\n".encode() + body,
        "a length list": head + f"Content-Length: {n}, {n}\r\n\r\n".encode() + body,
        "length beside chunked": head + f"Content-Length: {n}\r\nTransfer-Encoding: chunked\r\n\r\n".encode() + body,
        "chunked beside length": head + f"Transfer-Encoding: chunked\r\nContent-Length: {n}\r\n\r\n".encode() + body,
        "not a number": head + b"Content-Length: ten\r\n\r\n" + body,
        "negative": head + b"Content-Length: -1\r\n\r\n" + body,
        "signed": head + f"Content-Length: +{n}\r\n\r\n".encode() + body,
        "hex": head + b"Content-Length: 0x10\r\n\r\n" + body,
        "overflow": head + b"Content-Length: 184467440737095516160\r\n\r\n" + body,
        "unknown coding": head + b"Transfer-Encoding: gzip\r\n\r\n" + body,
        "bad chunk size": head + b"Transfer-Encoding: chunked\r\n\r\nzz\r\n" + body + b"\r\n0\r\n\r\n",
    }
    for what, data in cases.items():
        responses, end = _exchange(server, data)
        assert [r[0] for r in responses] == [400], what
        error = json.loads(responses[0][2])["error"]
        assert error.startswith("malformed") or "Content-Length" in error or "Transfer-Encoding" in error, error
        assert b"Connection: close" in responses[0][1] and end in ("eof", "reset"), what
    assert server.post("/predict", json.loads(body))[0] == 200


def test_oversized_headers_are_431_in_one_piece_or_trickled(serve, logreg_bundle):
    server = serve(logreg_bundle.path)
    responses, _ = _exchange(server, b"GET /v2/health/ready HTTP/1.1\r\nX-Big: " + b"a" * 70000 + b"\r\n\r\n")
    assert [r[0] for r in responses] == [431]
    many = b"".join(f"X-H{i}: {'v' * 60}\r\n".encode() for i in range(1200))  # ~80 KB of small headers
    responses, _ = _exchange(server, b"GET /v2/health/ready HTTP/1.1\r\n" + many + b"\r\n")
    assert [r[0] for r in responses] == [431]
    long_target = b"GET /" + b"p" * 70000 + b" HTTP/1.1\r\n\r\n"
    responses, _ = _exchange(server, long_target)
    assert [r[0] for r in responses] == [431]
    # a header that never ends, sent in small pieces: refused once past the limit, not buffered forever
    with socket.create_connection((server.host, server.port), timeout=10) as sock:
        sock.sendall(b"GET / HTTP/1.1\r\nX-Slow: ")
        sent = 0
        try:
            while sent < 1_000_000:
                sock.sendall(b"b" * 8192)
                sent += 8192
                time.sleep(0.001)
        except (BrokenPipeError, ConnectionResetError):
            pass
        assert sent < 1_000_000  # the server stopped it
        responses, _ = _read_responses(sock)
    assert [r[0] for r in responses] in ([431], [])  # 431, unless the reset overtook it
    assert server.get("/v2/health/ready")[:2] == (200, {"ready": True})


def test_expect_100_continue(serve, logreg_bundle, logreg):
    server = serve(logreg_bundle.path)
    body = json.dumps({"records": records_of(logreg.X_test.iloc[:2])}).encode()
    head = _post("/predict", b"", extra=b"Expect: 100-continue\r\n").replace(
        b"Content-Length: 0", b"Content-Length: %d" % len(body)
    )
    with socket.create_connection((server.host, server.port), timeout=10) as sock:
        sock.sendall(head)
        assert sock.recv(100) == b"HTTP/1.1 100 Continue\r\n\r\n"  # before the body is sent
        sock.sendall(body)
        responses, end = _read_responses(sock, want=1)
        assert [r[0] for r in responses] == [200] and end == "enough"
        assert json.loads(responses[0][2])["predictions"] == logreg.model.predict(logreg.X_test.iloc[:2]).tolist()
        # the same connection goes on (keep-alive), chunked this time
        sock.sendall(_chunked("/predict", body, [7], extra=b"Expect: 100-continue\r\n"))
        responses, _ = _read_responses(sock, want=2)
        assert [r[0] for r in responses] == [100, 200]
    # a body over the limit gets 413 instead of 100, and is never read
    big = b"POST /predict HTTP/1.1\r\nHost: edge\r\nExpect: 100-continue\r\nContent-Length: 999999999\r\n\r\n"
    responses, _ = _exchange(server, big, shut=False)
    assert [r[0] for r in responses] == [413]


def test_truncated_requests_get_400_or_a_clean_close(serve, logreg_bundle, logreg):
    server = serve(logreg_bundle.path)
    good = _post("/predict", json.dumps({"records": records_of(logreg.X_test.iloc[:1])}).encode())
    for cut in (1, 10, good.index(b"\r\n\r\n"), good.index(b"\r\n\r\n") + 4, len(good) - 1):
        responses, end = _exchange(server, good[:cut])
        assert [r[0] for r in responses] == [400], cut
        assert "ended early" in json.loads(responses[0][2])["error"] and end == "eof"
    # a complete request, then the client's side closes: answered, then closed
    responses, end = _exchange(server, good)
    assert [r[0] for r in responses] == [200] and end == "eof"


def test_pipelined_mix_of_lengths_chunked_and_a_bad_request(serve, logreg_bundle, logreg):
    server = serve(logreg_bundle.path)
    rows = [logreg.X_test.iloc[[i]] for i in range(4)]
    bodies = [json.dumps({"records": records_of(r)}).encode() for r in rows]
    data = (
        _post("/predict", bodies[0])
        + _chunked("/predict", bodies[1], [5, 5])
        + b"GET /v2/health/live HTTP/1.1\r\nHost: edge\r\n\r\n"
        + _post("/predict", bodies[2])
        + b"GET /v2/health/live HTTP/1.1\r\nContent-Length: 1\r\nContent-Length: 2\r\n\r\n"
        + _post("/predict", bodies[3])  # after the bad one: never read
    )
    responses, end = _exchange(server, data, shut=False)
    assert [r[0] for r in responses] == [200, 200, 200, 200, 400] and end in ("eof", "reset")
    for i, r in zip((0, 1, 2), (responses[0], responses[1], responses[3])):
        assert json.loads(r[2])["predictions"] == logreg.model.predict(rows[i]).tolist()
    assert json.loads(responses[2][2]) == {"live": True}


# ------------------------------------------------------------------ fuzz
N_FUZZ = 10_000
#: the server's resident memory may grow by at most this much over the run (after a warm-up of 500)
RSS_GROWTH_LIMIT = 16 * 1024 * 1024
MALFORMED = {400, 413, 431, 505}


def _malformed(rng: random.Random, good: bytes, body: bytes) -> tuple[bytes, set[int] | None]:
    """One malformed request and the statuses it may get (None: any, it may be valid by chance)."""
    kind = rng.randrange(12)
    n = len(body)
    if kind == 0:  # random bytes
        return rng.randbytes(rng.randint(1, 2000)), MALFORMED
    if kind == 1:  # truncated
        return good[: rng.randint(1, len(good) - 1)], {400}
    if kind == 2:  # bit flips
        data = bytearray(good)
        for _ in range(rng.randint(1, 4)):
            data[rng.randrange(len(data))] ^= 1 << rng.randrange(8)
        return bytes(data), None
    if kind == 3:  # conflicting lengths
        a, b = n, n + rng.randint(1, 50)
        pair = (
            f"Content-Length: {a}\r\nContent-Length: {b}\r\n" if rng.random() < 0.5 else f"Content-Length: {a}, {b}\r\n"
        )
        return b"POST /predict HTTP/1.1\r\nHost: e\r\n" + pair.encode() + b"\r\n" + body, {400}
    if kind == 4:  # malformed length
        value = rng.choice(["-1", "ten", "1e3", "0x1f", "1 2", "+3", "", "99999999999999999999999", "3.0", "٣"])
        return b"POST /predict HTTP/1.1\r\nContent-Length: " + value.encode() + b"\r\n\r\n" + body, {400}
    if kind == 5:  # length and chunked together
        return (
            f"POST /predict HTTP/1.1\r\nContent-Length: {n}\r\nTransfer-Encoding: chunked\r\n\r\n".encode() + body,
            {400},
        )
    if kind == 6:  # oversized headers (1 in 4 of these: keep the run short)
        if rng.random() < 0.25:
            return b"GET / HTTP/1.1\r\nX-Big: " + b"z" * rng.randint(66_000, 150_000) + b"\r\n\r\n", {431}
        return b"GET / HTTP/1.1\r\nX-Small: y\r\n\r\n", {200}
    if kind == 7:  # bad chunked bodies
        bad = rng.choice(
            [
                b"zz\r\n" + body + b"\r\n0\r\n\r\n",
                f"{n:x}\r\n".encode() + body + b"XX0\r\n\r\n",
                b"fffffffffffffffffffff\r\n" + body,
                f"{n:x}\r\n".encode() + body[: n // 2],
                f"{n:x};".encode() + b"\x00\r\n" + body + b"\r\n0\r\n\r\n",
            ]
        )
        return b"POST /predict HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n" + bad, {400, 413}
    if kind == 8:  # bad request lines and header lines
        return (
            rng.choice(
                [
                    b"GET /v2 HTTP/1.1\r\nBad Header: x\r\n\r\n",
                    b"GET /v2 HTTP/3.7\r\n\r\n",
                    b"G@T /v2 HTTP/1.1\r\n\r\n",
                    b"GET /v2 HTTP/1.1\r\nX: a\x00b\r\n\r\n",
                    b"GET /v2 HTTP/1.1\r\nX: a\r\n folded\r\n\r\n",
                    b"GET /v2 HTTP/1.1\nX: lf\n\n",
                    b"GET /v2 x HTTP/1.1\r\n\r\n",
                    b"GET /v2\r\n\r\n",
                    b"GET /v2 HTTP/1.1\r\n: empty\r\n\r\n",
                    b"\x16\x03\x01\x00\xa5\x01\x00\x00\xa1\x03\x03",  # TLS hello
                    b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n",
                ]
            ),
            MALFORMED,
        )
    if kind == 9:  # transfer codings the runtime does not take
        coding = rng.choice([b"gzip", b"chunked, gzip", b"identity", b"chunkedx"])
        return b"POST /predict HTTP/1.1\r\nTransfer-Encoding: " + coding + b"\r\n\r\n" + body, {400}
    if kind == 10:  # a good request, then garbage on the same connection
        return good + rng.randbytes(rng.randint(1, 200)), None
    # random printable junk shaped like a request
    junk = "".join(rng.choice("GETPOS /:\r\n HTTP1.\t-=") for _ in range(rng.randint(1, 300)))
    return junk.encode(), MALFORMED


def _rss(pid: int) -> int:
    with open(f"/proc/{pid}/status") as fh:
        for line in fh:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) * 1024
    raise AssertionError("no VmRSS")


def test_fuzz_malformed_requests_then_a_good_one(serve, logreg_bundle, logreg):
    """10,000 seeded malformed requests, each on its own connection then half-closed: every one is
    answered with an HTTP status or closed cleanly (a hang fails on the socket timeout); afterwards the
    process is alive, answers correctly, and its memory has not grown by more than RSS_GROWTH_LIMIT."""
    server = serve(logreg_bundle.path)
    rows = logreg.X_test.iloc[:3]
    body = json.dumps({"records": records_of(rows)}).encode()
    good = _post("/predict", body)
    rng = random.Random(19)
    seen: dict[int | str, int] = {}
    rss_start = 0
    for i in range(N_FUZZ):
        if i == 500:
            rss_start = _rss(server.proc.pid)
        data, allowed = _malformed(rng, good, body)
        responses, end = _exchange(server, data)
        statuses = [r[0] for r in responses]
        for s in statuses:
            seen[s] = seen.get(s, 0) + 1
        if not statuses:
            seen[end] = seen.get(end, 0) + 1
        assert all(s in HTTP_STATUSES for s in statuses), (i, data[:80], statuses)
        if allowed is not None and statuses:
            assert statuses[-1] in allowed, (i, data[:80], statuses)
    assert server.proc.poll() is None
    status, answer, _ = server.post("/predict", {"records": records_of(rows)})
    assert status == 200 and answer["predictions"] == logreg.model.predict(rows).tolist()
    growth = _rss(server.proc.pid) - rss_start
    print(f"fuzz: {N_FUZZ} requests, answers {seen}, RSS {rss_start / 2**20:.1f} MiB + {growth / 2**20:.2f} MiB")
    assert growth <= RSS_GROWTH_LIMIT, f"RSS grew by {growth / 2**20:.1f} MiB ({seen})"
    assert seen.get(400, 0) > N_FUZZ // 2 and seen.get(431, 0) > 0  # the run did reach the error paths
