"""Random templates and data, rendered by our engine and by Go: same output or same error."""

from __future__ import annotations

from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tests.differential.gotemplate_harness import case, render

SETTINGS = settings(
    max_examples=100,
    deadline=None,
    derandomize=True,
    database=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)

KEYS = ["a", "b", "l", "m", "n"]

scalars = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(-3, 1000),
    st.sampled_from([0.5, 1e6, -2.25, 1e21, 3.0]),
    st.sampled_from(["", "x", "héllo", "a b", "<&>", "1"]),
)
json_values = st.recursive(
    scalars,
    lambda inner: st.one_of(
        st.lists(inner, max_size=3),
        st.dictionaries(st.sampled_from(KEYS), inner, max_size=3),
    ),
    max_leaves=8,
)
data_strategy = st.dictionaries(st.sampled_from(KEYS), json_values, max_size=5)

fields = st.lists(st.sampled_from(KEYS), min_size=1, max_size=3).map(
    lambda names: "".join("." + name for name in names)
)
literals = st.sampled_from(["1", "0", "2.5", '"s"', '""', "true", "false", "nil", "'a'", "-1"])
variables = st.sampled_from(["$", "$x", "$.a", "$x.a"])
operands = st.one_of(fields, literals, variables, st.just("."))

FUNCS_1 = ["len", "not", "print", "html", "js", "urlquery", "println"]
FUNCS_2 = ["eq", "ne", "lt", "le", "gt", "ge", "and", "or", "index", "slice", "print"]


def _commands(inner: st.SearchStrategy[str]) -> st.SearchStrategy[str]:
    return st.one_of(
        operands,
        st.tuples(st.sampled_from(FUNCS_1), operands).map(" ".join),
        st.tuples(st.sampled_from(FUNCS_2), st.lists(operands, min_size=1, max_size=3)).map(
            lambda t: f"{t[0]} {' '.join(t[1])}"
        ),
        st.tuples(operands, operands).map(lambda t: f'printf "%v-%d" {t[0]} {t[1]}'),
        inner.map(lambda c: f"({c})"),
    )


commands = _commands(_commands(_commands(operands)))
plain_pipelines = st.tuples(
    commands, st.lists(st.sampled_from(["print", "len", "html", "not", "printf %q"]), max_size=2)
).map(lambda t: " | ".join([t[0], *t[1]]))
pipelines = st.one_of(plain_pipelines, plain_pipelines.map(lambda p: f"$x := {p}"))
trims = st.tuples(st.booleans(), st.booleans())
texts = st.sampled_from(["x", " ", "\n", "a\n  b", "  ", "é"])


def _action(inner: str, trim: tuple[bool, bool]) -> str:
    return "{{" + ("- " if trim[0] else " ") + inner + (" -" if trim[1] else " ") + "}}"


def _block(parts: tuple[str, str, tuple[bool, bool], str, str | None, str]) -> str:
    keyword, pipe, trim, body, else_body, extra = parts
    if keyword.startswith("range"):
        body += extra
    tail = "" if else_body is None else "{{else}}" + else_body
    return _action(f"{keyword} {pipe}", trim) + body + tail + "{{end}}"


def _bodies(inner: st.SearchStrategy[str] | None, *, calls: bool = True) -> st.SearchStrategy[str]:
    """Bodies nesting `inner`; `calls` adds `{{template}}` calls (never inside definitions)."""
    part = st.one_of(texts, st.tuples(pipelines, trims).map(lambda t: _action(*t)))
    if calls:
        part |= st.tuples(st.sampled_from(["d", "b", "missing"]), operands).map(
            lambda t: f'{{{{template "{t[0]}" {t[1]}}}}}'
        )
    if inner is not None:
        block = st.tuples(
            st.sampled_from(["if", "with", "range", "range $i, $v :="]),
            plain_pipelines,
            trims,
            inner,
            st.none() | inner,
            st.sampled_from(["", "{{break}}", "{{continue}}", "{{ $i }}{{ $v }}"]),
        ).map(_block)
        part = st.one_of(part, block)
    return st.lists(part, min_size=1, max_size=4).map("".join)


bodies = _bodies(_bodies(_bodies(None)))
flat_bodies = _bodies(None, calls=False)
definitions = st.tuples(flat_bodies, st.none() | flat_bodies, operands).map(
    lambda t: (
        '{{define "d"}}'
        + t[0]
        + "{{end}}"
        + ("" if t[1] is None else f'{{{{block "b" {t[2]}}}}}{t[1]}{{{{end}}}}')
    )
)


@pytest.mark.oracle
@SETTINGS
@given(
    template=bodies,
    defined=definitions,
    data=data_strategy,
    numbers=st.sampled_from(["float64", "int"]),
)
def test_random_templates_match_go(
    go_oracle: Any, template: str, defined: str, data: Any, numbers: str
) -> None:
    request = case("{{ $x := 1 }}" + template + defined, data, numbers=numbers).request()
    assert render(request) == go_oracle.render(**request)


TOKENS = ["{{", "}}", "{{- ", " -}}", "/*", "*/", " ", "\n", ".", "a", "1", '"', "`", "'",
          "|", "(", ")", "$", ":=", "=", ",", "if", "end", "else", "range", "-", "x.y"]  # fmt: skip


@pytest.mark.oracle
@settings(SETTINGS, max_examples=200)
@given(pieces=st.lists(st.sampled_from(TOKENS), max_size=14))
def test_random_token_soup_lexes_and_fails_like_go(go_oracle: Any, pieces: list[str]) -> None:
    request = case("".join(pieces), {"a": 1, "x": {"y": "z"}}).request()
    assert render(request) == go_oracle.render(**request)
