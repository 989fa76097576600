"""Every scikit-learn classifier, regressor and transformer as an :class:`Algorithm`."""

from __future__ import annotations

import functools
import inspect
import warnings

from .algorithm import Algorithm, first_doc_line, snake_case
from .schema import estimator_schema

_KIND_FILTER = {"classifier": "classifier", "regressor": "regressor", "transformer": "transformer"}

# friendly names users of the field type, on top of the systematic ones
_EXTRA_ALIASES = {
    "knn": ("k_neighbors_classifier", "k_neighbors_regressor"),
    "svm": ("svc", "svr"),
    "linear_svm": ("linear_svc", "linear_svr"),
    "naive_bayes": ("gaussian_nb",),
    "lasso_regression": ("lasso",),
    "scaler": ("standard_scaler",),
}


def _constructible(cls: type) -> bool:
    """Can be built with no arguments (meta-estimators needing `estimator=` are left out)."""
    try:
        signature = inspect.signature(cls.__init__)  # type: ignore[misc]  # the class's own parameters
    except (TypeError, ValueError):
        return False
    return all(
        p.default is not inspect.Parameter.empty
        for name, p in signature.parameters.items()
        if name != "self" and p.kind not in (p.VAR_KEYWORD, p.VAR_POSITIONAL)
    )


_IGNORED_PARTS = {"tests", "externals", "setup", "conftest", "experimental", "estimator_checks"}


#: transformers of the target (y), not of the features: never a preprocessing step
_TARGET_TRANSFORMERS = {"LabelEncoder", "LabelBinarizer", "MultiLabelBinarizer"}


def _public_estimators(kind: str) -> list[tuple[str, type]]:
    from sklearn.base import ClassifierMixin, ClusterMixin, RegressorMixin, TransformerMixin

    mixin = {"classifier": ClassifierMixin, "regressor": RegressorMixin, "transformer": TransformerMixin}[kind]
    found = [(name, cls) for name, cls in _all_public_estimators() if issubclass(cls, mixin)]
    if kind == "transformer":
        # a preprocessing step must transform new rows at predict time (TSNE only fit_transforms),
        # work on the features (not y), and not be a clusterer (KMeans transforms to distances)
        found = [
            (name, cls)
            for name, cls in found
            if callable(getattr(cls, "transform", None))
            and name not in _TARGET_TRANSFORMERS
            and not issubclass(cls, ClusterMixin)
        ]
    return found


@functools.lru_cache(maxsize=1)
def _all_public_estimators() -> tuple[tuple[str, type], ...]:
    """Like ``sklearn.utils.all_estimators(kind)``, but never imports a private or
    vendored package (``sklearn.externals`` would import Dask and CuPy shims)."""
    import importlib
    import pkgutil

    import sklearn
    from sklearn.base import BaseEstimator

    seen: dict[str, type] = {}

    def walk(package) -> None:
        for info in pkgutil.iter_modules(package.__path__):
            if info.name.startswith("_") or info.name in _IGNORED_PARTS:
                continue
            try:
                module = importlib.import_module(f"{package.__name__}.{info.name}")
            except ImportError:
                continue
            for name, cls in inspect.getmembers(module, inspect.isclass):
                if (
                    not name.startswith("_")
                    and issubclass(cls, BaseEstimator)
                    and cls.__module__.startswith("sklearn.")
                    and not getattr(cls, "__abstractmethods__", None)
                ):
                    seen.setdefault(name, cls)
            if info.ispkg:
                walk(module)

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        walk(sklearn)
    return tuple(sorted(seen.items()))


def algorithms() -> list[Algorithm]:
    found: dict[str, Algorithm] = {}
    for kind in ("classifier", "regressor", "transformer"):
        for class_name, cls in _public_estimators(kind):
            if not _constructible(cls):
                continue
            name = snake_case(class_name)
            if name in found:  # e.g. a class that is both transformer and classifier
                continue
            found[name] = Algorithm(
                name=name,
                class_name=class_name,
                kind=kind,
                factory=cls,
                source="scikit-learn",
                doc=first_doc_line(cls),
                schema_factory=functools.partial(estimator_schema, cls),
            )
    # systematic aliases: random_forest -> random_forest_classifier / _regressor
    for algo in list(found.values()):
        for suffix in ("_classifier", "_regressor"):
            if algo.name.endswith(suffix):
                stem = algo.name[: -len(suffix)]
                algo.aliases += (stem,)
    for alias, targets in _EXTRA_ALIASES.items():
        for target in targets:
            if target in found:
                found[target].aliases += (alias,)
    return list(found.values())
