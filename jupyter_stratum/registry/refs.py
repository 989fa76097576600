"""Model names and references ("churn", "churn@3") and their validation."""

from __future__ import annotations

import re

from ..errors import RegistryError

NAME_PATTERN = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,127}$")
NAME_RULE = "letters, digits, '-', '_' and '.', starting with a letter or digit, at most 128 characters"


def validate_name(name: object) -> str:
    """Return ``name`` if it is a valid model name, else raise :class:`RegistryError`."""
    if not isinstance(name, str) or not NAME_PATTERN.match(name):
        raise RegistryError(f"{name!r} is not a valid model name: use {NAME_RULE} (for example 'churn' or 'churn-v2').")
    return name


def parse_ref(ref: object) -> tuple[str, int | None]:
    """Split ``"churn@3"`` into ``("churn", 3)``; ``"churn"`` / ``"churn@latest"`` give ``("churn", None)``."""
    if not isinstance(ref, str) or not ref.strip():
        raise RegistryError(
            f"{ref!r} is not a model reference: write 'NAME' for the latest version or 'NAME@N' for version N."
        )
    name, sep, version = ref.strip().partition("@")
    validate_name(name)
    if not sep or version == "latest":
        return name, None
    if not version.isdigit() or int(version) < 1:
        raise RegistryError(
            f"{ref!r}: the version after '@' must be a whole number >= 1 (for example '{name}@3'), "
            f"or leave it out for the latest version ('{name}')."
        )
    return name, int(version)


def format_ref(name: str, version: int) -> str:
    return f"{name}@{version}"
