"""Masterminds/sprig v3.2.3's `TxtFuncMap()`: every function, by family.

`FUNCS` maps each sprig name to its `values.Func` (with its Go signature). Functions that
read the clock take it from `dates.clock`, which tests may replace.
"""

from __future__ import annotations

from .. import values
from . import casing, crypto, dicts, encoding, flow, lists, numbers, reflection, regex, strings

_FAMILIES = (strings, casing, lists, dicts, numbers, encoding, flow, reflection, regex, crypto)

FUNCS: dict[str, values.Func] = {f.name: f for family in _FAMILIES for f in family.FUNCS}
