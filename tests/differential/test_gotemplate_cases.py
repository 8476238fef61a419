"""The 50 cases shipped with shared/tools' oracle (testdata/cases.json), when ../shared is there."""

from __future__ import annotations

import json
from typing import Any

import pytest

from tests.conftest import SHARED
from tests.differential import gotemplate_harness as harness

CASES_FILE = SHARED / "tools/gotmpl-oracle/testdata/cases.json"
CASES: list[dict[str, Any]] = json.loads(CASES_FILE.read_text()) if CASES_FILE.is_file() else []
needs_cases = pytest.mark.skipif(
    not CASES, reason=f"the oracle's shipped cases are optional and not at {CASES_FILE} (../shared)"
)


def _is_harness_only(request: dict[str, Any]) -> bool:
    """Requests the oracle rejects before any template work (a bad `numbers` mode)."""
    return request.get("numbers") not in (None, "float64", "int")


@needs_cases
@pytest.mark.oracle
@pytest.mark.parametrize("entry", CASES, ids=[c["title"] for c in CASES])
def test_shipped_case(entry: dict[str, Any]) -> None:
    request = entry["request"]
    if _is_harness_only(request):
        assert entry["expect"]["phase"] == "request"
        return
    if request.get("sprig") and not harness.sprig_available():
        pytest.skip("gotemplate.sprig has not landed yet")
    expect = entry["expect"]
    ours = harness.render(request)
    if "error_contains" in expect:
        assert ours.get("phase") == expect["phase"]
        assert expect["error_contains"] in ours["error"]
    else:
        assert ours == expect


@needs_cases
def test_the_shipped_file_has_fifty_cases() -> None:
    assert len(CASES) == 50
