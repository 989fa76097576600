"""pytest-jupyter's server fixtures (jp_fetch & co.) for the handler tests only.

Imported here rather than named in ``pytest_plugins`` because a non-root
conftest may not declare plugins; the browser tests run in their own pytest
invocation so that these fixtures' event loop never meets Playwright's.
"""

from __future__ import annotations

import pytest
from pytest_jupyter.jupyter_server import *  # noqa: F403


@pytest.fixture
def jp_server_config():
    """A server with our extension enabled, as the shipped config file enables it."""
    return {"ServerApp": {"jpserver_extensions": {"jupyter_stratum": True}}}
