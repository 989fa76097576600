"""Which types a skops artifact may contain before the registry agrees to load it.

skops never unpickles; it rebuilds objects from a JSON schema, and rebuilds a type
that is not on its own safe list only when the caller trusts it. We trust a type
only when its module is on :data:`ALLOWED_PREFIXES` and it is not a known way to run
code or touch files (:data:`DENIED`): ``builtins.exec`` is in ``builtins`` but skops
would *call* it while loading.
"""

from __future__ import annotations

import builtins

from ..errors import RegistryError

ALLOWED_PREFIXES = ("sklearn", "numpy", "scipy", "builtins", "collections", "jupyter_stratum")

#: modules/names inside allowed packages that read or write files, import or run code
DENIED = (
    "numpy.load",
    "numpy.loadtxt",
    "numpy.genfromtxt",
    "numpy.fromfile",
    "numpy.memmap",
    "numpy.save",
    "numpy.savez",
    "numpy.savez_compressed",
    "numpy.savetxt",
    "numpy.tofile",
    "numpy.lib.npyio",
    "numpy.lib.format",
    "numpy.lib.utils",
    "numpy.ctypeslib",
    "numpy.f2py",
    "numpy.distutils",
    "numpy.testing",
    "numpy.compat",
    "numpy.core.memmap",
    "numpy._core.memmap",
    "numpy.lib._npyio_impl",
    "numpy.lib._datasource",
    "numpy.DataSource",
    "scipy.io",
    "scipy._lib",
    "scipy.weave",
    "scipy.datasets",
    "sklearn.datasets",
    "sklearn.externals",
    "sklearn.utils._testing",
    "sklearn.utils._joblib",
    "sklearn.utils.fixes",
    "sklearn.utils._show_versions",
    "jupyter_stratum.registry",
)


def _module_path(type_name: str) -> str:
    return type_name.split(".", 1)[0]


def is_trusted(type_name: str) -> bool:
    """True when ``type_name`` (``"module.Qualified"``) may be rebuilt while loading."""
    if _module_path(type_name) not in ALLOWED_PREFIXES:
        return False
    for denied in DENIED:
        if type_name == denied or type_name.startswith(denied + "."):
            return False
    if _module_path(type_name) == "builtins":
        # builtins holds eval, exec, open, getattr, __import__...: only classes, never functions
        obj = getattr(builtins, type_name.partition(".")[2], None)
        if not isinstance(obj, type):
            return False
    return True


def check_types(untrusted: list[str], artifact: str) -> list[str]:
    """Return ``untrusted`` when every type may be trusted, else raise :class:`RegistryError`."""
    refused = sorted(t for t in untrusted if not is_trusted(t))
    if refused:
        raise RegistryError(
            f"Refusing to load {artifact}: it contains types the registry does not trust: "
            f"{', '.join(refused)}. Only types from {', '.join(ALLOWED_PREFIXES)} are loaded "
            "(never functions that run code or touch files). If you trust this file, load it "
            "yourself with skops.io.load(path, trusted=[...]) after inspecting "
            "skops.io.get_untrusted_types(file=path)."
        )
    return list(untrusted)
