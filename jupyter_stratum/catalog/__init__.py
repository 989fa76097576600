"""The catalog: every algorithm a pipeline can name.

- every scikit-learn classifier, regressor and transformer, by its snake_case
  short name (``random_forest_classifier``), its class name
  (``RandomForestClassifier``) and, for classifier/regressor pairs, the shared
  stem (``random_forest``) resolved by the task;
- Keras templates (``keras_mlp``, ``keras_cnn``) when that module is present;
- third-party algorithms registered under the entry point group
  ``jupyter_stratum.algorithms``: each entry point loads either an estimator
  class or a callable returning a list of :class:`Algorithm`.
"""

from __future__ import annotations

import difflib
import functools
import importlib
import threading
from importlib.metadata import entry_points

from ..errors import SpecError
from .algorithm import Algorithm, ParamError, snake_case

ENTRY_POINT_GROUP = "jupyter_stratum.algorithms"
# built-in providers beyond scikit-learn ("module:function"); missing modules are skipped
_BUILTIN_PROVIDERS = ("jupyter_stratum.keras.catalog:algorithms",)

_TASK_KIND = {"classification": "classifier", "regression": "regressor"}

_lock = threading.Lock()
_cache: list[Algorithm] | None = None

__all__ = ["Algorithm", "ParamError", "catalog", "catalog_json", "resolve", "lookup", "refresh", "snake_case"]


def _from_entry_point(ep) -> list[Algorithm]:
    obj = ep.load()
    if isinstance(obj, type):
        from sklearn.base import is_classifier, is_regressor

        from .schema import estimator_schema

        probe = obj()
        kind = "classifier" if is_classifier(probe) else "regressor" if is_regressor(probe) else "transformer"
        return [
            Algorithm(
                name=ep.name,
                class_name=obj.__name__,
                kind=kind,
                factory=obj,
                source=ep.dist.name if ep.dist else ep.value,
                doc=(obj.__doc__ or "").strip().splitlines()[0] if obj.__doc__ else "",
                schema_factory=functools.partial(estimator_schema, obj),
            )
        ]
    result = obj()
    return list(result)


def _discover() -> list[Algorithm]:
    from .sklearn_algorithms import algorithms as sklearn_algorithms

    found = {a.name: a for a in sklearn_algorithms()}
    for provider in _BUILTIN_PROVIDERS:
        module_name, func = provider.split(":")
        try:
            module = importlib.import_module(module_name)
        except ImportError:
            continue
        for algo in getattr(module, func)():
            found[algo.name] = algo
    for ep in entry_points(group=ENTRY_POINT_GROUP):
        try:
            for algo in _from_entry_point(ep):
                found[algo.name] = algo
        except Exception as exc:  # a broken plugin must not break the catalog  # noqa: BLE001
            import warnings

            warnings.warn(f"jupyter_stratum: algorithm plugin {ep.name!r} failed to load: {exc}", stacklevel=2)
    return sorted(found.values(), key=lambda a: a.name)


def catalog(kind: str | None = None) -> list[Algorithm]:
    """All algorithms, or those of one kind ('classifier', 'regressor', 'transformer')."""
    global _cache
    with _lock:
        if _cache is None:
            _cache = _discover()
        algos = _cache
    return [a for a in algos if kind is None or a.kind == kind]


def refresh() -> None:
    """Forget the cached catalog (after installing a plugin)."""
    global _cache
    with _lock:
        _cache = None


def catalog_json(kind: str | None = None) -> dict:
    """The catalog as the sidebar reads it, so that it keeps no rule of its own.

    - ``algorithms``: one JSON-ready dict per algorithm (name, class_name, kind, aliases,
      source, doc, default_resources, schema);
    - ``task_kinds``: the kind of estimator each task takes (``classification`` → ``classifier``);
    - ``resolves``: what each alias means, by :func:`resolve` itself:
      ``{alias: {task: name, ..., "default": name}}`` (``default``: when the task is not known
      yet); a task the alias has no variant for is left out.
    """
    algos = catalog(kind)
    resolves: dict[str, dict[str, str]] = {}
    for alias in sorted({al for a in algos for al in a.aliases}):
        if any(a.kind == "transformer" for a in _candidates(alias)):
            meanings = {"default": _resolved(alias, kinds=("transformer",))}
        else:
            meanings = {task: _resolved(alias, task=task) for task in _TASK_KIND}
            meanings["default"] = _resolved(alias)
        answer = {key: name for key, name in meanings.items() if name is not None}
        if answer:
            resolves[alias] = answer
    return {"algorithms": [a.to_json() for a in algos], "task_kinds": dict(_TASK_KIND), "resolves": resolves}


def _resolved(name: str, *, task: str | None = None, kinds: tuple[str, ...] | None = None) -> str | None:
    """The name :func:`resolve` gives ``name``, or None where it has no meaning."""
    try:
        return resolve(name, task=task, kinds=kinds).name
    except SpecError:
        return None


def _candidates(name: str) -> list[Algorithm]:
    key = name.strip()
    snake = snake_case(key) if any(c.isupper() for c in key) else key.lower()
    return [a for a in catalog() if snake == a.name or key == a.class_name or snake in a.aliases]


def lookup(name: str) -> list[Algorithm]:
    """Every algorithm a name may mean (several for a stem such as ``random_forest``)."""
    return _candidates(name)


def resolve(name: str, *, task: str | None = None, kinds: tuple[str, ...] | None = None) -> Algorithm:
    """The algorithm ``name`` means for ``task``; :class:`SpecError` with a suggestion if none."""
    want = kinds or ((_TASK_KIND[task],) if task in _TASK_KIND else ("classifier", "regressor"))
    found = [a for a in _candidates(name) if a.kind in want]
    if found:
        # a stem means the variant of the task; an exact name wins over an alias
        exact = [a for a in found if a.name == name or a.class_name == name]
        return (exact or found)[0]
    other = _candidates(name)
    if other:
        kinds_found = ", ".join(sorted({a.kind for a in other}))
        what = " or ".join(want)
        raise SpecError(
            f"'{name}' is a {kinds_found}, not a {what}"
            + (f" (the task is {task})" if task else "")
            + ". Choose an algorithm of that kind; `%stratum catalog` lists them."
        )
    names = [a.name for a in catalog() if a.kind in want]
    names += sorted({al for a in catalog() if a.kind in want for al in a.aliases})
    close = difflib.get_close_matches(name.lower(), names, n=3, cutoff=0.6)
    hint = f"Did you mean {' or '.join(repr(c) for c in close)}? " if close else ""
    raise SpecError(
        f"Unknown algorithm '{name}'. {hint}"
        "`stratum catalog` (or jupyter_stratum.catalog()) lists every available name."
    )
