"""Masterminds/sprig v3.2.3's `TxtFuncMap()`: every function, by family.

`FUNCS` maps each sprig name to its `values.Func` (with its Go signature). Functions that
read the clock take it from `dates.clock`, which tests may replace.
"""

from __future__ import annotations

from .. import values
from . import (
    casing,
    crypto,
    dates,
    dicts,
    encoding,
    flow,
    lists,
    numbers,
    paths,
    reflection,
    regex,
    semver,
    strings,
)

_FAMILIES = (
    strings,
    casing,
    lists,
    dicts,
    numbers,
    encoding,
    flow,
    reflection,
    regex,
    crypto,
    dates,
    paths,
    semver,
)

FUNCS: dict[str, values.Func] = {f.name: f for family in _FAMILIES for f in family.FUNCS}
