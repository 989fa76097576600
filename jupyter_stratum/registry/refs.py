"""Model names and references ("churn", "churn@3", "churn@champion") and their validation."""

from __future__ import annotations

import re
from dataclasses import dataclass

from ..errors import RegistryError

NAME_PATTERN = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,127}$")
NAME_RULE = "letters, digits, '-', '_' and '.', starting with a letter or digit, at most 128 characters"


def validate_name(name: object) -> str:
    """Return ``name`` if it is a valid model name, else raise :class:`RegistryError`."""
    if not isinstance(name, str) or not NAME_PATTERN.match(name):
        raise RegistryError(f"{name!r} is not a valid model name: use {NAME_RULE} (for example 'churn' or 'churn-v2').")
    return name


@dataclass(frozen=True)
class Ref:
    """A parsed reference: ``name`` and at most one of ``version`` / ``alias`` (neither: the latest)."""

    name: str
    version: int | None = None
    alias: str | None = None


def split_ref(ref: object) -> Ref:
    """``"churn"`` / ``"churn@latest"`` (latest), ``"churn@3"`` (version 3), ``"churn@champion"`` (an alias)."""
    from .events import ALIAS_PATTERN, ALIAS_RULE

    if not isinstance(ref, str) or not ref.strip():
        raise RegistryError(
            f"{ref!r} is not a model reference: write 'NAME' for the latest version, 'NAME@N' for version N "
            "or 'NAME@ALIAS' (for example 'churn@champion')."
        )
    name, sep, version = ref.strip().partition("@")
    validate_name(name)
    if not sep or version == "latest":
        return Ref(name)
    if version.isdigit() and int(version) >= 1:
        return Ref(name, version=int(version))
    if ALIAS_PATTERN.match(version):
        return Ref(name, alias=version)
    raise RegistryError(
        f"{ref!r}: after '@' write a version number >= 1 (for example '{name}@3') or an alias ({ALIAS_RULE}, "
        f"for example '{name}@champion'), or leave it out for the latest version ('{name}')."
    )


def parse_ref(ref: object) -> tuple[str, int | None]:
    """Split ``"churn@3"`` into ``("churn", 3)``; ``"churn"`` / ``"churn@latest"`` give ``("churn", None)``.
    An alias (``"churn@champion"``) names no fixed version: resolve it with ``Registry.get``."""
    parsed = split_ref(ref)
    if parsed.alias is not None:
        raise RegistryError(
            f"{ref!r} names an alias, which points at different versions over time; resolve it with "
            f"Registry.get({ref!r}) (or `stratum show {ref}`) to get its version."
        )
    return parsed.name, parsed.version


def format_ref(name: str, version: int) -> str:
    return f"{name}@{version}"
