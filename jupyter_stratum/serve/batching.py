"""Adaptive micro-batching on the event loop: a batch is what is already queued, never more.

Requests are queued as they are parsed; a flush is scheduled with
``loop.call_soon``, so it runs right after the loop has handled every socket
that was readable in the same poll. Because the model runs on the loop thread,
requests that arrive while a batch is computing pile up in the socket buffers
and are parsed together on the next poll: the batch grows with the load, and a
lone request is answered at once.

Nothing ever waits for rows that have not arrived. (An earlier version held a
batch up to ``--max-wait-ms`` once recent batches had merged requests; with a few
closed-loop clients, each waiting for its answer before sending again, the rows
it waited for could not come, and 2-8 clients got less throughput than one.)
"""

from __future__ import annotations

import time
from collections import deque
from collections.abc import Callable
from typing import Any

from .errors import RequestError

# exceptions a model raises for inputs it cannot use (unknown category, ...):
# answered 400 for the request at fault, not 500
MODEL_INPUT_ERRORS = (ValueError, TypeError, KeyError, IndexError)


class _Pending:
    __slots__ = ("batch", "n", "callback", "gone")

    def __init__(self, batch, n, callback, gone):
        self.batch = batch
        self.n = n
        self.callback = callback
        self.gone = gone  # () -> True once the client has disconnected


class MicroBatcher:
    def __init__(
        self,
        loop,
        model,
        *,
        max_batch_size: int = 64,
        metrics=None,
    ):
        self.loop = loop
        self.model = model
        self.merge = model.schema.merge
        self.take = model.schema.take
        self.max_batch_size = max(1, int(max_batch_size))
        self.metrics = metrics
        self.queue: deque[_Pending] = deque()
        self.queued_rows = 0
        self.scheduled = False
        # () -> True when a single client is connected (set by the server)
        self.solo: Callable[[], bool] = lambda: False

    def submit(
        self, batch: Any, n: int, callback: Callable[[Any, Any], None], gone: Callable[[], bool] | None = None
    ) -> None:
        """Queue ``n`` checked rows; ``callback((predictions, probabilities), None)``
        or ``callback(None, exception)`` is called on the loop thread. Rows of a
        client that disconnected before its turn (``gone()``) are dropped unpredicted."""
        item = _Pending(batch, n, callback, gone)
        if not self.queue and not self.scheduled and self.solo():
            # one client, nothing queued: nobody to batch with, answer now
            self._run([item], n)
            return
        self.queue.append(item)
        self.queued_rows += n
        if not self.scheduled:
            self.scheduled = True
            self.loop.call_soon(self._flush)

    def _flush(self) -> None:
        self.scheduled = False
        queue = self.queue
        if not queue:
            return
        while queue and queue[0].gone is not None and queue[0].gone():
            dropped = queue.popleft()
            self.queued_rows -= dropped.n
            dropped.callback(None, _GONE)
        if not queue:
            return
        items = [queue.popleft()]
        rows = items[0].n
        limit = self.max_batch_size
        while queue and rows + queue[0].n <= limit:
            item = queue.popleft()
            if item.gone is not None and item.gone():
                self.queued_rows -= item.n
                item.callback(None, _GONE)
                continue
            items.append(item)
            rows += item.n
        self.queued_rows -= rows
        self._run(items, rows)
        if queue and not self.scheduled:
            self.scheduled = True
            self.loop.call_soon(self._flush)

    def _run(self, items: list[_Pending], rows: int) -> None:
        t0 = time.perf_counter()
        try:
            merged = self.merge([it.batch for it in items])
            predictions, probabilities = self.model.predict(merged, rows)
        except Exception as exc:  # noqa: BLE001 - one bad request must not fail the others
            if len(items) > 1:
                for it in items:  # isolate the request at fault
                    self._run([it], it.n)
                return
            items[0].callback(None, _as_request_error(exc))
            return
        if self.metrics is not None:
            self.metrics.observe_batch(len(items), rows, time.perf_counter() - t0)
        if len(items) == 1:
            items[0].callback((predictions, probabilities), None)
            return
        start = 0
        for it in items:
            stop = start + it.n
            it.callback(
                (predictions[start:stop], probabilities[start:stop] if probabilities is not None else None),
                None,
            )
            start = stop


class ClientGone(Exception):
    """The client disconnected before its rows were predicted."""


_GONE = ClientGone()


def _as_request_error(exc: Exception) -> Exception:
    if isinstance(exc, RequestError):
        return exc
    if isinstance(exc, MODEL_INPUT_ERRORS):
        text = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        return RequestError(f"the model rejected the input: {text}", status=400, kind="model_error")
    return exc
