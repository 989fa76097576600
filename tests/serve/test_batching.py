"""Adaptive micro-batching: concurrent requests share model calls, each gets its own
answers, and nothing waits for rows that have not arrived."""

from __future__ import annotations

import asyncio
import threading

import numpy as np
from _helpers import Server, records_of


def test_concurrent_requests_are_merged_and_answers_stay_apart(serve, logreg_bundle, logreg):
    server = serve(logreg_bundle.path, "--backend", "native", "--max-batch-size", "64")
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


def test_lone_requests_are_answered_alone(serve, logreg_bundle, logreg):
    server = serve(logreg_bundle.path)
    rows = {"records": records_of(logreg.X_test.iloc[:1])}
    for _ in range(21):
        assert server.post("/predict", rows)[0] == 200
    m = server.metrics()
    assert m['stratum_batch_size_requests_bucket{le="1"}'] == m["stratum_batch_size_requests_count"] == 21


class _Model:
    """Doubles its input rows; counts its calls."""

    class schema:
        merge = staticmethod(lambda parts: [r for p in parts for r in p])
        take = staticmethod(lambda rows, a, b: rows[a:b])

    def __init__(self):
        self.calls: list[int] = []

    def predict(self, rows, n):
        self.calls.append(n)
        return [2 * r for r in rows], None


def test_a_batch_is_what_is_queued_and_never_waits():
    """Closed-loop clients (each sends again only once answered): every round is answered on the
    loop's next turns, with no timer, however many rounds merged requests before. (The old batcher,
    after a few merged rounds, held each batch for rows that could not come.)"""
    from jupyter_stratum.serve.batching import MicroBatcher

    async def rounds() -> list[list[int]]:
        loop = asyncio.get_running_loop()
        model = _Model()
        batcher = MicroBatcher(loop, model, max_batch_size=64)
        answers: list[list[int]] = []
        for k in range(20):
            got: list = []
            for client in range(3):
                batcher.submit([10 * k + client], 1, lambda result, error, got=got: got.append((result, error)))
            for _ in range(3):  # a few turns of the loop: no time passes that a timer could use
                await asyncio.sleep(0)
            assert len(got) == 3, f"round {k}: {len(got)} of 3 answered without waiting"
            assert all(error is None for _, error in got)
            answers.append([result[0][0] for result, _ in got])
        assert model.calls == [3] * 20  # each round one model call of the three queued rows
        return answers

    answers = asyncio.run(rounds())
    assert answers[5] == [100, 102, 104]
