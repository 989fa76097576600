"""Adaptive micro-batching: concurrent requests share model calls, each gets its own
answers, and a lone request is not held back by the batching wait."""

from __future__ import annotations

import threading
import time

import numpy as np
from _helpers import Server, records_of


def test_concurrent_requests_are_merged_and_answers_stay_apart(serve, logreg_bundle, logreg):
    server = serve(logreg_bundle.path, "--backend", "native", "--max-wait-ms", "5", "--max-batch-size", "64")
    X = logreg.X_test
    expected = logreg.model.predict(X).tolist()
    expected_proba = logreg.model.predict_proba(X)
    n_clients, per_client = 16, 12
    errors: list[str] = []

    def client(k: int) -> None:
        own = Server(server.proc, server.host, server.port)  # its own keep-alive connection
        try:
            for j in range(per_client):
                i = (k * per_client + j) % len(X)
                rows = [i, (i + 7) % len(X)]  # two rows per request, different for every request
                status, body, _ = own.post("/predict", {"records": records_of(X.iloc[rows])})
                if status != 200:
                    errors.append(f"{status} {body}")
                elif (
                    body["predictions"] != [expected[r] for r in rows]
                    or np.abs(np.asarray(body["probabilities"]) - expected_proba[rows]).max() > 1e-12
                ):
                    errors.append(f"client {k} request {j}: answers of other rows {body['predictions']}")
        finally:
            if own._conn is not None:
                own._conn.close()

    threads = [threading.Thread(target=client, args=(k,)) for k in range(n_clients)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(120)
    assert not errors, errors[:3]
    m = server.metrics()
    n_requests = n_clients * per_client
    batches = m["stratum_batch_size_requests_count"]
    merged = batches - m['stratum_batch_size_requests_bucket{le="1"}']
    assert m["stratum_batch_size_requests_sum"] == n_requests
    assert m["stratum_rows_total"] == 2 * n_requests
    assert merged > 0, "no batch merged two or more requests"
    assert batches < n_requests


def test_lone_requests_do_not_wait_for_a_batch(serve, logreg_bundle, logreg):
    # a long max wait: if a lone request waited for company, each would take >= 300 ms
    server = serve(logreg_bundle.path, "--max-wait-ms", "300")
    rows = {"records": records_of(logreg.X_test.iloc[:1])}
    server.post("/predict", rows)
    took = []
    for _ in range(20):
        t0 = time.perf_counter()
        status, _, _ = server.post("/predict", rows)
        took.append(time.perf_counter() - t0)
        assert status == 200
    assert max(took) < 0.15, took
    m = server.metrics()
    assert m['stratum_batch_size_requests_bucket{le="1"}'] == m["stratum_batch_size_requests_count"] == 21
