"""Go's encoding/json output, checked against the real Go encoder (sprig's toJson)."""

from __future__ import annotations

from typing import Any

import pytest

from sidecar_injector import gojson
from sidecar_injector.gotemplate.values import Int

CASES: list[Any] = [
    {"b": "<a href='x'>&amp;</a>", "a": '\u2028\u2029 é \x01\b\f\x7f \\ " \n\r\t'},
    {"n": 15020.0, "f": 0.1, "big": 1e21, "small": 1e-7, "neg": -2.5, "z": 0.0},
    {"edge": [1e-6, 9.99e-7, 1e20, 123456789012345680.0, 1e-5, 2.5e-5, -0.0]},
    [True, False, None, "", [], {}],
    {"nested": {"z": [1.0, {"y": "x"}], "a": None}, "10": 1, "9": 2},
]


@pytest.mark.oracle
@pytest.mark.parametrize("value", CASES)
def test_marshal_matches_go(value: Any, go_oracle: Any) -> None:
    theirs = go_oracle.render("{{ toJson .v }}", {"v": value}, sprig=True)
    assert gojson.marshal(value) == theirs["output"]


def test_struct_order_is_kept_when_asked() -> None:
    assert gojson.marshal({"name": "a", "containerPort": 1}, sort_keys=False) == (
        '{"name":"a","containerPort":1}'
    )
    assert gojson.marshal({"name": "a", "containerPort": 1}) == '{"containerPort":1,"name":"a"}'


@pytest.mark.parametrize("bad", [float("nan"), float("inf"), {1, 2}])
def test_unsupported_values(bad: object) -> None:
    with pytest.raises(gojson.UnsupportedValueError):
        gojson.marshal({"v": bad})


def test_lone_surrogates_become_replacement_characters() -> None:
    assert gojson.quote("a\ud800b") == '"a\ufffdb"'


def test_typed_integers_are_written_as_numbers_at_any_size() -> None:
    big = 2**63 - 1
    assert gojson.marshal({"a": Int(big, "int64"), "b": Int(5, "int32")}) == (
        f'{{"a":{big},"b":5}}'
    )
