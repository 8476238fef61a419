"""The build: pyproject.toml says what the package is; this file adds the compiled core.

The modules every admission runs through are compiled with mypyc (a C extension per module, from
the same type-checked sources), which makes an injection about a third cheaper. The `.py` files
stay the reference: `SIDECAR_INJECTOR_PURE_PYTHON=1` runs them instead at run time (`scripts/test`
runs the suite both ways), and `SIDECAR_INJECTOR_COMPILE=0`, or a machine without a C compiler,
builds the pure-Python package.

Not compiled: modules that hand Go's typed integers (`gotemplate.values.Int`, a subclass of
`int`) to functions typed `int` (mypyc would pass a plain `int`, dropping the Go type), and
modules whose tests replace functions inside them (a compiled module calls its own functions
directly).
"""

from __future__ import annotations

import os
import shutil
import sys

from setuptools import Extension, setup

COMPILED = (
    "typedpod",
    "podshape",
    "podmerge",
    "patch",
    "gojson",
    "render",
    "blockyaml",
    "inject",
    "decision",
    "strategic",
    "merge",
    "probes",
    "sidecars",
    "quantity",
    "gotemplate/sprig/jsoncodec",
    "gotemplate/sprig/strings",
    "gotemplate/sprig/cast",
    "gotemplate/strconv",
)
"""Modules (paths under src/sidecar_injector, without `.py`) built as C extensions."""


def compiled_core() -> list[Extension]:
    if os.environ.get("SIDECAR_INJECTOR_COMPILE", "1") == "0":
        return []
    if shutil.which(os.environ.get("CC", "cc")) is None:
        print("setup.py: no C compiler found; building the pure-Python package", file=sys.stderr)
        return []
    from mypyc.build import mypycify

    paths = [f"src/sidecar_injector/{module}.py" for module in COMPILED]
    extensions: list[Extension] = mypycify(paths, group_name="sidecar_injector._native")
    return extensions


setup(ext_modules=compiled_core())
