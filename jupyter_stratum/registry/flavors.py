"""Flavors: how a kind of model is written to and read from one artifact file.

``sklearn`` (skops) is built in. Another flavor is one call away::

    register_flavor("keras", save=lambda m, p: m.save(p),
                    load=lambda p: keras.models.load_model(p), suffix=".keras")
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ..errors import RegistryError
from .trust import ALLOWED_PREFIXES, check_types, is_trusted


@dataclass(frozen=True)
class Flavor:
    name: str
    save: Callable[[Any, Path], None]  # write the model to exactly this path
    load: Callable[[Path], Any]
    suffix: str  # file suffix of the artifact, e.g. ".skops"
    #: optional: raise RegistryError when a just-saved file could not be loaded back
    check: Callable[[Path], None] | None = None


_FLAVORS: dict[str, Flavor] = {}


def register_flavor(
    name: str,
    save: Callable[[Any, Path], None],
    load: Callable[[Path], Any],
    suffix: str,
    *,
    check: Callable[[Path], None] | None = None,
    replace: bool = False,
) -> Flavor:
    """Make ``flavor=name`` available to :meth:`Registry.register` and loading.

    ``save(model, path)`` writes exactly ``path`` (which ends in ``suffix``); ``load(path)``
    returns the model; ``check(path)``, if given, runs before the version is recorded.
    """
    if not suffix.startswith("."):
        raise ValueError(f"suffix must start with '.', got {suffix!r}")
    if name in _FLAVORS and not replace:
        raise ValueError(f"flavor {name!r} is already registered; pass replace=True to override it")
    flavor = Flavor(name=name, save=save, load=load, suffix=suffix, check=check)
    _FLAVORS[name] = flavor
    return flavor


# flavors that ship with jupyter-stratum but live beside heavy libraries: imported on first use
_BUILTIN_PROVIDERS = {"keras": "jupyter_stratum.keras.flavor"}


def get_flavor(name: str) -> Flavor:
    if name not in _FLAVORS and name in _BUILTIN_PROVIDERS:
        import importlib

        # its register() is idempotent; called, not left to the import's side effect, so the flavor is
        # back even when the module was imported before the table was reset
        importlib.import_module(_BUILTIN_PROVIDERS[name]).register()
    try:
        return _FLAVORS[name]
    except KeyError:
        raise RegistryError(
            f"Unknown model flavor {name!r}. Available flavors: {', '.join(sorted(_FLAVORS))}. "
            "A package that adds a flavor must be imported first (it calls "
            "jupyter_stratum.registry.register_flavor)."
        ) from None


def flavor_names() -> list[str]:
    return sorted(_FLAVORS)


# -- sklearn via skops -------------------------------------------------------
def _save_sklearn(model: Any, path: Path) -> None:
    import skops.io

    skops.io.dump(model, path)


def _untrusted_types(path: Path) -> list[str]:
    import skops.io

    try:
        return skops.io.get_untrusted_types(file=path)
    except Exception as exc:  # not a zip / no schema
        raise RegistryError(f"{path} is not a readable skops file ({exc}). Re-register the model.") from exc


def _load_sklearn(path: Path) -> Any:
    """Load with ``trusted=`` only the file's own untrusted types, and only when each is allowed."""
    import skops.io

    trusted = check_types(_untrusted_types(path), str(path))
    return skops.io.load(path, trusted=trusted)


def _check_sklearn(path: Path) -> None:
    """Refuse to register what the registry would refuse to load (notebook classes, lambdas)."""
    refused = sorted(t for t in _untrusted_types(path) if not is_trusted(t))
    if refused:
        raise RegistryError(
            f"the model holds types the registry will not load: {', '.join(refused)}. "
            f"Only types from {', '.join(ALLOWED_PREFIXES)} are loaded, so that loading never runs "
            "arbitrary code. Use scikit-learn / numpy functions instead of lambdas or functions "
            "and classes defined in a notebook."
        )


register_flavor("sklearn", _save_sklearn, _load_sklearn, ".skops", check=_check_sklearn)


# -- pipelines: the checked graph, as JSON (registry/pipelines.py) ---------------
def _save_pipeline(graph: Any, path: Path) -> None:
    import json

    path.write_text(json.dumps(graph, indent=2, sort_keys=False), encoding="utf-8")


def _load_pipeline(path: Path) -> Any:
    import json

    return json.loads(path.read_text(encoding="utf-8"))


register_flavor("pipeline", _save_pipeline, _load_pipeline, ".pipeline.json")
