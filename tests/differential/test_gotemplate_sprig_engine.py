"""sprig through the template engine: `gotemplate.parse(...).execute(data)` against Go.

`DATA` is what Go's JSON decoding gives the oracle (numbers are float64).

These cover what a direct call cannot: Go's argument conversion into sprig's signatures,
`time.Time` and `*semver.Version` values flowing through pipelines, methods on them, and
how results print.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from sidecar_injector import gotemplate
from sidecar_injector.gotemplate import values
from tests.conftest import GoOracle

DATA = {
    "f": 1.5,
    "n": 3.0,
    "s": "héllo wörld",
    "l": [1.0, "a", None, 2.5],
    "m": {"a": 1.0, "b": {"c": [1.0, 2.0]}},
    "empty": "",
    "annotations": {"sidecar.istio.io/proxyCPU": "100m", "x": "1"},
}

CASES_FILE = Path(__file__).with_name("test_gotemplate_sprig_engine_cases.txt")
TEMPLATES = [
    line for line in CASES_FILE.read_text(encoding="utf-8").splitlines() if line and line[0] != "#"
]


@pytest.mark.oracle
@pytest.mark.parametrize("template", TEMPLATES)
def test_sprig_through_the_engine_matches_go(go_oracle: GoOracle, template: str) -> None:
    go = go_oracle.render(template, DATA, sprig=True, name=None)
    try:
        ours = {"output": gotemplate.parse(template, "oracle").execute(DATA)}
    except gotemplate.TemplateError as exc:
        ours = {"error": str(exc)}
    assert ours == {k: go[k] for k in ("output", "error") if k in go}


# Typed Go structs hold int64 fields: the oracle's "numbers": "int" mode, `values.Int` here.
TYPED_GO = {"n": 3, "big": 1600000000, "neg": -5, "l": [1, 2, "a"], "m": {"a": 1}}
TYPED = {
    "n": values.Int(3, "int64"),
    "big": values.Int(1600000000, "int64"),
    "neg": values.Int(-5, "int64"),
    "l": [values.Int(1, "int64"), values.Int(2, "int64"), "a"],
    "m": {"a": values.Int(1, "int64")},
}
TYPED_TEMPLATES = [
    "{{ .n | typeOf }} {{ .n | kindOf }} {{ .n | toString }} {{ .n | quote }} {{ add .n 1 }}",
    '{{ duration .big }} {{ dateInZone "2006-01-02" .big "UTC" }} {{ durationRound .big }}',
    "{{ .l | has 1 }} {{ .l | has .n }} {{ has (int64 1) .l }} {{ .l | uniq }} {{ .l | toJson }}",
    "{{ empty .neg }} {{ default 5 .n }} {{ .m | toJson }} {{ max .n .neg }} {{ float64 .n }}",
    "{{ mul .n .n }} {{ div .neg 2 }} {{ mod .neg 3 }} {{ toDecimal .n }} {{ until .n }}",
    '{{ trunc .n "abcdef" }} {{ seq .n }} {{ repeat .n "x" }} {{ chunk .n (until 7) }}',
    "{{ randAlpha .n | len }} {{ untilStep 0 .big 500000000 }} {{ .l | sortAlpha }}",
    '{{ deepEqual .n 3 }} {{ deepEqual .n (int64 3) }} {{ typeIs "int64" .n }} {{ cat .n .l }}',
    '{{ dict "k" .n | toJson }} {{ toPrettyJson .l }} {{ .n | add1 | typeOf }}',
    "{{ int .n | typeOf }}",
]


@pytest.mark.oracle
@pytest.mark.parametrize("template", TYPED_TEMPLATES)
def test_sprig_on_int64_fields_matches_go(go_oracle: GoOracle, template: str) -> None:
    go = go_oracle.render(template, TYPED_GO, sprig=True, numbers="int")
    try:
        ours = {"output": gotemplate.parse(template, "oracle").execute(TYPED)}
    except gotemplate.TemplateError as exc:
        ours = {"error": str(exc)}
    assert ours == {k: go[k] for k in ("output", "error") if k in go}
