"""``%stratum bundle NAME[@V]`` / ``stratum bundle NAME[@V] --out DIR``: package a model for the edge."""

from __future__ import annotations

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
        help="pip platform tag of the edge host for --wheelhouse "
        "(e.g. manylinux2014_aarch64); default: this machine's.",
    )
    parser.add_argument("--force", action="store_true", help="Replace an existing bundle at --out.")
    parser.add_argument("--no-tarball", action="store_true", help="Write only the directory.")
    parser.add_argument("--home", help="Registry directory (default: $STRATUM_HOME or the user data dir).")


def run(args, ctx):
    from ..bundle import build_bundle
    from ..errors import BundleError
    from ..registry import open_registry

    if args.platform and not args.wheelhouse:
        raise BundleError("--platform only makes sense with --wheelhouse (it picks the wheels' platform).")
    registry = open_registry(args.home)
    return build_bundle(
        args.ref,
        args.out,
        wheelhouse=args.wheelhouse,
        platform=args.platform,
        registry=registry,
        force=args.force,
        tarball=not args.no_tarball,
    )
