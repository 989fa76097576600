"""Release ids: ``v<version>-<first 8 hex of the manifest's sha256>`` (see :func:`.project.release_id`)."""

from __future__ import annotations


def version_of_release(release: str) -> str:
    """The model version of release id ``release`` (``"v2-1aeafabc"`` -> ``"2"``; ``""`` for none)."""
    if release.startswith("v") and "-" in release:
        return release[1:].rsplit("-", 1)[0]
    return ""
