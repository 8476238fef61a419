"""patch.make_patch: the ops turn any JSON document into any other, with JSON types kept apart."""

from __future__ import annotations

import json
from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st

from sidecar_injector.patch import apply_patch, make_patch, same

KEYS = st.sampled_from(["a", "b", "c", "x/y", "m~n", ""])
SCALARS = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(-3, 3),
    st.floats(-3, 3, allow_nan=False).map(lambda f: float(int(f))),
    st.sampled_from(["", "s", "t"]),
)
DOCS = st.recursive(
    SCALARS,
    lambda inner: st.lists(inner, max_size=5) | st.dictionaries(KEYS, inner, max_size=4),
    max_leaves=25,
)
MAPS = st.dictionaries(KEYS, DOCS, max_size=4)


def canonical(value: Any) -> str:
    return json.dumps(value, sort_keys=True)


@settings(max_examples=120, deadline=None, derandomize=True)
@given(MAPS, MAPS)
def test_the_ops_turn_one_document_into_the_other(a: dict[str, Any], b: dict[str, Any]) -> None:
    before = canonical(a)
    patched = apply_patch(a, make_patch(a, b))
    assert canonical(patched) == canonical(b)
    assert canonical(a) == before


@settings(max_examples=60, deadline=None, derandomize=True)
@given(MAPS, st.lists(DOCS, max_size=3), st.lists(DOCS, max_size=3), st.booleans())
def test_elements_added_at_one_end_are_only_adds(
    a: dict[str, Any], front: list[Any], back: list[Any], which: bool
) -> None:
    items = [{"name": f"c{i}", "v": v} for i, v in enumerate(a.values())]
    added = [{"name": f"new{i}", "v": v} for i, v in enumerate(front or back)]
    longer = added + items if which else items + added
    ops = make_patch({"l": items}, {"l": longer})
    assert {op["op"] for op in ops} <= {"add"}
    assert len(ops) == len(added)
    assert canonical(apply_patch({"l": items}, ops)) == canonical({"l": longer})


@settings(max_examples=80, deadline=None, derandomize=True)
@given(DOCS, DOCS)
def test_same_is_json_equality(a: Any, b: Any) -> None:
    assert same(a, b) == (canonical(a) == canonical(b))
