"""Kubernetes sidecar injection, compatible with Istio's injector configuration.

The core of the data path may be installed compiled (mypyc, see setup.py) beside its `.py`
sources. `SIDECAR_INJECTOR_PURE_PYTHON=1` makes this package import the sources instead, for
tests that replace functions inside those modules and to compare both builds.
"""

import os
import sys
from importlib.machinery import SOURCE_SUFFIXES, FileFinder, SourceFileLoader

__version__ = "0.1.0"

PURE_PYTHON_ENV = "SIDECAR_INJECTOR_PURE_PYTHON"
_PACKAGE_DIR = os.path.dirname(os.path.abspath(__file__))


def _sources_only(path: str) -> FileFinder:
    """Finds this package's modules as `.py` files only; other paths go to the usual hooks."""
    if os.path.abspath(path) == _PACKAGE_DIR or path.startswith(_PACKAGE_DIR + os.sep):
        return FileFinder(path, (SourceFileLoader, SOURCE_SUFFIXES))
    raise ImportError("not a sidecar_injector directory")


if os.environ.get(PURE_PYTHON_ENV, "") not in ("", "0"):
    sys.path_hooks.insert(0, _sources_only)
    for _cached in [p for p in sys.path_importer_cache if p.startswith(_PACKAGE_DIR)]:
        del sys.path_importer_cache[_cached]


def compiled_modules() -> list[str]:
    """Our modules loaded from compiled extensions, by name (empty when running pure Python)."""
    return sorted(
        name
        for name, module in list(sys.modules.items())
        if name.startswith(f"{__name__}.")
        and not name.endswith("__mypyc")
        and (getattr(module, "__file__", None) or "").endswith((".so", ".pyd"))
    )
