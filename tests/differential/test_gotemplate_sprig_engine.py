"""sprig through the template engine: `gotemplate.parse(...).execute(data)` against Go.

`DATA` is what Go's JSON decoding gives the oracle (numbers are float64).

These cover what a direct call cannot: Go's argument conversion into sprig's signatures,
`time.Time` and `*semver.Version` values flowing through pipelines, methods on them, and
how results print.
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from sidecar_injector import gotemplate
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


@pytest.fixture(scope="module", autouse=True)
def _environment() -> None:
    os.environ.setdefault("HOME", "/root")


@pytest.mark.oracle
@pytest.mark.parametrize("template", TEMPLATES)
def test_sprig_through_the_engine_matches_go(go_oracle: GoOracle, template: str) -> None:
    go = go_oracle.render(template, DATA, sprig=True, name=None)
    try:
        ours = {"output": gotemplate.parse(template, "oracle").execute(DATA)}
    except gotemplate.TemplateError as exc:
        ours = {"error": str(exc)}
    assert ours == {k: go[k] for k in ("output", "error") if k in go}
