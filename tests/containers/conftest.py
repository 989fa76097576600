"""Fixtures: a private dockerd (own data root and socket) and a base image made from Debian's packages.

The base image is bootstrapped once (debootstrap, about a minute) and saved under
``$STRATUM_TEST_IMAGE_CACHE`` (default ``~/.cache/jupyter-stratum/images``), so later runs,
CI included, load it in seconds. Nothing is pulled from outside: the one registry the tests use
(``image_registry``, Debian's docker-registry) is started here and holds only what the tests push.
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

from jupyter_stratum.testing.dockerd import LocalDockerd, LocalRegistry, dockerd_support, registry_support

IMAGE_CACHE = Path(os.environ.get("STRATUM_TEST_IMAGE_CACHE", Path.home() / ".cache" / "jupyter-stratum" / "images"))
#: the edge hosts' links (LocalEdgeHosts): their engines and the controller's reach image_registry there over HTTP
EDGE_NETS = ("10.77.0.0/16",)


@pytest.fixture(scope="session")
def engine(tmp_path_factory):
    ok, why = dockerd_support()
    if not ok:
        pytest.skip(why)
    # a short path: dockerd's socket path must fit in sockaddr_un
    workdir = Path(tmp_path_factory.mktemp("dk", numbered=True))
    dockerd = LocalDockerd(workdir, insecure_registries=EDGE_NETS)
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


@pytest.fixture(scope="session")
def docker_edge(tmp_path_factory, engine, base_image):
    """Two edge hosts (network namespace + sshd), each with its own dockerd in its namespace (own data
    root, no route out), and the controller's engine as $DOCKER_HOST for image builds."""
    from jupyter_stratum.testing import LocalEdgeHosts, edge_mode

    mode, why = edge_mode()
    if mode != "netns":
        pytest.skip(why or f"docker edge hosts need network namespaces (found only {mode})")
    hosts = LocalEdgeHosts(2, Path(tmp_path_factory.mktemp("dke")))
    try:
        hosts.start()
    except Exception as exc:  # noqa: BLE001 - environment specific
        hosts.stop()
        pytest.skip(f"edge hosts could not be started: {exc}")
    engines = {}
    try:
        for h in hosts.hosts:
            engines[h.name] = LocalDockerd(
                Path(h.root) / "dk", namespace=h.namespace, insecure_registries=EDGE_NETS
            ).start()
    except RuntimeError as exc:
        for e in engines.values():
            e.stop()
        hosts.stop()
        pytest.skip(f"dockerd cannot run in an edge host's network namespace: {exc}")
    saved = os.environ.get("DOCKER_HOST")
    os.environ["DOCKER_HOST"] = engine.url
    yield hosts, engines
    if saved is None:
        os.environ.pop("DOCKER_HOST", None)
    else:
        os.environ["DOCKER_HOST"] = saved
    for e in engines.values():
        e.stop()
    hosts.stop()


@pytest.fixture(scope="session")
def image_registry(tmp_path_factory):
    """A distribution registry (Debian's docker-registry) on this machine; edge host N reaches it at
    ``10.77.N.1:PORT``, the near end of its link."""
    ok, why = registry_support()
    if not ok:
        pytest.skip(why)
    reg = LocalRegistry(tmp_path_factory.mktemp("dkreg"))
    try:
        reg.start()
    except RuntimeError as exc:
        pytest.skip(f"docker-registry cannot run here: {exc}")
    yield reg
    reg.stop()
