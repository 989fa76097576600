"""What every live Bokeh panel shares (the monitor's and the supervisor's): shown as a jupyter_bokeh widget,
updated from a background thread on the kernel's own event loop (Bokeh documents are not thread-safe), and
stopped at interpreter exit.

Imports nothing heavy at import time: Bokeh, jupyter_bokeh and IPython load when a panel is built or shown.
"""

from __future__ import annotations

import asyncio
import atexit
import weakref
from collections.abc import Callable
from typing import Any

_LIVE: weakref.WeakSet[LivePanel] = weakref.WeakSet()


class LivePanel:
    """Subclasses set :attr:`layout` (a Bokeh layout) and call :meth:`watch_kernel_loop` when they start
    polling; a thread hands redraws to :meth:`schedule`. They give :attr:`running` and :meth:`stop`."""

    layout: Any
    _widget: Any = None
    _loop: asyncio.AbstractEventLoop | None = None

    def register(self) -> None:
        """Count this panel among those :func:`stop_all` stops."""
        _LIVE.add(self)

    def watch_kernel_loop(self) -> None:
        """Remember the loop redraws must run on: the running one, else the kernel's (tornado's) one."""
        try:
            self._loop = asyncio.get_running_loop()
        except RuntimeError:
            try:
                from tornado.ioloop import IOLoop

                # tornado's AsyncIOLoop has it; its stubs type only the base IOLoop
                self._loop = getattr(IOLoop.current(), "asyncio_loop", None)
            except Exception:  # noqa: BLE001
                self._loop = None

    def schedule(self, fn: Callable[[], Any]) -> None:
        """Run ``fn`` on the kernel's loop when it runs (the document is shown there), else now."""
        loop = self._loop
        if loop is not None and loop.is_running():
            loop.call_soon_threadsafe(fn)
        else:
            fn()

    @property
    def running(self) -> bool:  # pragma: no cover - every panel has its own
        raise NotImplementedError

    def stop(self) -> None:  # pragma: no cover - every panel has its own
        raise NotImplementedError

    # -- display ---------------------------------------------------------------------
    @property
    def widget(self) -> Any:
        if self._widget is None:
            from jupyter_bokeh.widgets import BokehModel

            self._widget = BokehModel(self.layout)
        return self._widget

    def _ipython_display_(self) -> None:
        from IPython.display import display

        display(self.widget)


def stop_panels(kind: type[LivePanel] | None = None) -> int:
    """Stop every polling panel (of class ``kind`` when given); how many were polling. All of them stop at
    interpreter exit."""
    n = 0
    for p in list(_LIVE):
        if (kind is None or isinstance(p, kind)) and p.running:
            p.stop()
            n += 1
    return n


atexit.register(stop_panels)
