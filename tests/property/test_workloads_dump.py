"""workloads.dump writes exactly what PyYAML writes (block style, sorted keys), only faster."""

from __future__ import annotations

from typing import Any

import yaml
from hypothesis import given, settings
from hypothesis import strategies as st

from sidecar_injector import workloads

TRICKY = st.sampled_from(
    [
        "",
        " ",
        "yes",
        "no",
        "on",
        "null",
        "~",
        "true",
        "1e3",
        "0x1F",
        "012",
        "1.0",
        "-",
        "- a",
        "a: b",
        "#x",
        "@x",
        "*",
        "!x",
        "'q'",
        '"q"',
        "x\n",
        "line one\nline two\n",
        "a\n\nb",
        " lead",
        "trail ",
        "tab\there",
        "2024-01-02T03:04:05Z",
        "é ünï",
        "\u2028",
        "\x07",
        "{}",
        "[]",
        "a\n b\n",
        "\n",
        "x\n\n",
        "  two\nlines",
        "%x",
        "`x",
    ]
)
SCALARS = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(),
    st.floats(allow_nan=False),
    st.text(max_size=12),
    TRICKY,
)
KEYS = st.one_of(st.text(max_size=10), TRICKY)
VALUES: st.SearchStrategy[Any] = st.recursive(
    SCALARS,
    lambda inner: st.one_of(st.lists(inner, max_size=4), st.dictionaries(KEYS, inner, max_size=4)),
    max_leaves=25,
)


@settings(max_examples=150, deadline=None, derandomize=True)
@given(st.dictionaries(KEYS, VALUES, min_size=1, max_size=5))
def test_dump_is_pyyaml_byte_for_byte(obj: dict[str, Any]) -> None:
    expected = yaml.dump(
        obj,
        sort_keys=True,
        default_flow_style=False,
        allow_unicode=True,
        width=1 << 30,
        Dumper=workloads._Dumper,
    )
    assert workloads.dump(obj) == expected
