"""Fixtures: a private dockerd (own data root and socket) and a base image made from Debian's packages.

The base image is bootstrapped once (debootstrap, about a minute) and saved under
``$STRATUM_TEST_IMAGE_CACHE`` (default ``~/.cache/jupyter-stratum/images``), so later runs,
CI included, load it in seconds. Nothing is pulled from a registry.
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from _helpers import (  # noqa: F401 - fixtures, found by pytest by name
    bundles,
    cancer,
    logreg,
    logreg_bundle,
    registry,
)

from jupyter_stratum.testing.dockerd import LocalDockerd, dockerd_support

IMAGE_CACHE = Path(os.environ.get("STRATUM_TEST_IMAGE_CACHE", Path.home() / ".cache" / "jupyter-stratum" / "images"))


@pytest.fixture(scope="session")
def engine(tmp_path_factory):
    ok, why = dockerd_support()
    if not ok:
        pytest.skip(why)
    # a short path: dockerd's socket path must fit in sockaddr_un
    workdir = Path(tmp_path_factory.mktemp("dk", numbered=True))
    dockerd = LocalDockerd(workdir)
    try:
        dockerd.start()
    except RuntimeError as exc:
        pytest.skip(f"dockerd cannot run here: {exc}")
    yield dockerd
    dockerd.stop()


@pytest.fixture(scope="session")
def base_image(engine):
    from jupyter_stratum.bundle.base_image import ensure_base_image

    return ensure_base_image(engine.client(), cache=IMAGE_CACHE)
