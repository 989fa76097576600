"""``%stratum bundle NAME[@V]`` / ``stratum bundle NAME[@V] --out DIR``: package a model for the edge."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

HELP = "Package a registered model as a self-contained bundle (directory + .tar.gz) for stratum-serve."


def add_arguments(parser) -> None:
    parser.add_argument(
        "ref", metavar="NAME[@VERSION]", help="Registered model, e.g. churn or churn@3 (latest by default)."
    )
    parser.add_argument(
        "--out",
        help="Bundle directory to create (default: ./bundles/NAME-VERSION); "
        "the tarball is written beside it as OUT.tar.gz.",
    )
    parser.add_argument(
        "--wheelhouse",
        action="store_true",
        help="Add the wheels of every requirement, so an offline host installs from the bundle alone.",
    )
    parser.add_argument(
        "--platform",
        help="the edge host's platform: a pip tag for --wheelhouse (e.g. manylinux2014_aarch64), "
        "Docker's form for --image (e.g. linux/arm64); default: this machine's.",
    )
    parser.add_argument(
        "--image",
        action="store_true",
        help="Also build an OCI image of the bundle with the Docker engine at $DOCKER_HOST (tag "
        "stratum-NAME:VERSION; non-root, HEALTHCHECK, layers cached across model versions, built offline).",
    )
    parser.add_argument(
        "--base",
        help="Base image for --image (default python:X.Y-slim, X.Y the training Python; never pulled: "
        "docker pull/load it first, or build one with python -m jupyter_stratum.bundle.base_image).",
    )
    parser.add_argument(
        "--push",
        metavar="HOST:PORT",
        action="append",
        default=[],
        help="With --image: push the image to this registry as HOST:PORT/stratum-NAME:VERSION (the push "
        "stratum deploy makes for hosts with stratum_registry); repeat for several. A plain-HTTP registry "
        "must be listed in insecure-registries of the engine's daemon.json.",
    )
    parser.add_argument(
        "--grpc",
        action="store_true",
        help="Also pin grpcio and protobuf, for a runtime started with --grpc-port (OIP over gRPC).",
    )
    parser.add_argument("--force", action="store_true", help="Replace an existing bundle at --out.")
    parser.add_argument("--no-tarball", action="store_true", help="Write only the directory.")
    parser.add_argument("--home", help="Registry directory (default: $STRATUM_HOME or the user data dir).")


def run(args, ctx):
    from ..bundle import build_bundle
    from ..errors import BundleError
    from ..registry import open_registry

    if args.platform and not (args.wheelhouse or args.image):
        raise BundleError("--platform only makes sense with --wheelhouse or --image (it picks the host's platform).")
    if args.base and not args.image:
        raise BundleError("--base only makes sense with --image.")
    if args.push and not args.image:
        raise BundleError("--push only makes sense with --image (it pushes the image built from the bundle).")
    registry = open_registry(args.home)
    bundle = build_bundle(
        args.ref,
        args.out,
        wheelhouse=args.wheelhouse,
        platform=None if args.image else args.platform,
        registry=registry,
        force=args.force,
        tarball=not args.no_tarball,
        grpc=args.grpc,
    )
    if not args.image:
        return bundle
    from ..bundle.image import build_image, docker_client

    client = docker_client()
    image = build_image(
        bundle, base=args.base, platform=args.platform, client=client, wheel_cache=registry.root / "wheels"
    )
    pushed: list[str] = []
    if args.push:
        from ..deploy.docker_image import publish_image
        from ..errors import DeployError

        try:
            pushed = publish_image(client, client.images.get(image.tag), image.tag, args.push)
        except DeployError as exc:
            raise BundleError(str(exc)) from None
    return BundleWithImage(bundle, image, pushed)


@dataclass(repr=False)
class BundleWithImage:
    """A bundle and the image built from it (what ``--image`` prints)."""

    bundle: Any
    image: Any
    pushed: list[str] = field(default_factory=list)

    def to_text(self) -> str:
        lines = [self.bundle.to_text(), self.image.to_text()]
        lines += [f"  pushed:  {ref}" for ref in self.pushed]
        return "\n".join(lines)

    def __repr__(self) -> str:
        return self.to_text()
