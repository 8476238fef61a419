"""Go's fmt, as text/template's `printf`/`print`/`{{ . }}` use it, against our printing.

Each case renders a template in the Go oracle with JSON data and calls our function with the
same values. With `numbers="int"`, integral JSON numbers are Go `int64`, so they are passed as
`Int(n, "int64")`; with `"float64"` every number is a `float`.
"""

from __future__ import annotations

import json
import math
from typing import Any, Literal

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from sidecar_injector.gotemplate.printing import (
    format_value,
    html_escape,
    js_escape,
    query_escape,
    sprint,
    sprintf,
    sprintln,
)
from sidecar_injector.gotemplate.strconv import quote
from sidecar_injector.gotemplate.values import Int, Map, Slice, Struct
from tests.conftest import GoOracle

pytestmark = pytest.mark.oracle

Numbers = Literal["int", "float64"]


def model(value: Any, numbers: Numbers) -> Any:
    """The engine's value for what the oracle decodes from `json.dumps(value)`."""
    if isinstance(value, bool) or value is None or isinstance(value, str | float):
        return value
    if isinstance(value, int):
        return Int(value, "int64") if numbers == "int" else float(value)
    if isinstance(value, dict):
        return {k: model(v, numbers) for k, v in value.items()}
    return [model(v, numbers) for v in value]


def go_printf(oracle: GoOracle, fmt: str, args: list[Any], numbers: Numbers) -> str:
    operands = "".join(f" (index .a {i})" for i in range(len(args)))
    reply = oracle.render("{{ printf .f" + operands + " }}", {"f": fmt, "a": args}, numbers=numbers)
    assert "output" in reply, reply
    out: str = reply["output"]
    return out


def check_printf(oracle: GoOracle, fmt: str, args: list[Any], numbers: Numbers) -> None:
    expected = go_printf(oracle, fmt, args, numbers)
    assert sprintf(fmt, [model(a, numbers) for a in args]) == expected


# Every verb on every kind of JSON value.
VERBS = [*"vTsqdtxXoObeEfFgGcUp%", "+v", "#v"]
VALUES: list[Any] = [
    0,
    42,
    -7,
    233,
    3.5,
    -0.25,
    1e6,
    1e21,
    1.5e-7,
    -0.0,
    "",
    "héllo",
    'a"b\n\t\x01',
    "`raw`",
    True,
    False,
    None,
    [1, "a", None, 2.5],
    {"b": 2, "a": [True], "c": {"x": None}},
    {},
    [],
]


@pytest.mark.parametrize("verb", VERBS)
@pytest.mark.parametrize("value", VALUES, ids=json.dumps)
def test_every_verb_on_every_kind(go_oracle: GoOracle, verb: str, value: Any) -> None:
    if verb == "p" and isinstance(value, list | dict):
        pytest.skip("%p prints a Go address")
    check_printf(go_oracle, f"<%{verb}>", [value], "int")


# Flags, width and precision across kinds.
FLAGGED = [
    "%5v",
    "%-5v",
    "%05v",
    "%+v",
    "% v",
    "%.2v",
    "%8.3v",
    "%-08v",
    "%+05d",
    "% 05d",
    "%#08x",
    "%# x",
    "%+q",
    "%#q",
    "%.0d",
    "%5.0d",
    "%#.0f",
    "%#g",
    "%#.3g",
    "%#e",
    "%010.4f",
    "%-10.2e",
    "%+.2f",
    "% .2f",
    "%.1x",
    "%#U",
    "%.6U",
    "%08U",
    "%5c",
    "%-4q",
    "%#o",
    "%#b",
    "%6.2s",
    "%-6.1q",
    "%x",
    "%.3X",
    "%#X",
    "%+.3g",
    "%010v",
    "%.10g",
    "%- 8d",
    "%+ d",
    "% x",
    "% X",
    "%0-5d",
]
FLAGGED_VALUES: list[Any] = [0, 255, -3, 3.14159, -1e-9, "hi", "héllo wörld", [1, "x"], {"k": 1.5}]


@pytest.mark.parametrize("fmt", FLAGGED)
@pytest.mark.parametrize("value", FLAGGED_VALUES, ids=json.dumps)
def test_flags_width_and_precision(go_oracle: GoOracle, fmt: str, value: Any) -> None:
    check_printf(go_oracle, f"[{fmt}]", [value], "int")


# Directives that go wrong, argument indexes and `*`.
DIRECTIVES: list[tuple[str, list[Any]]] = [
    ("%d %d", [1]),
    ("%d", [1, "a", None, [1]]),
    ("no verbs", [1.5, None]),
    ("%", []),
    ("%-", [1]),
    ("abc%", [1]),
    ("%!", [1]),
    ("%z", ["x"]),
    ("%5.2", [1]),
    ("%.", [1]),
    ("%5%", []),
    ("%[3]%", [1]),
    ("%[2]d %[1]d", [1, 2]),
    ("%[2]d %d", [1, 2]),
    ("%[2]d %d %d", [1, 2, 3]),
    ("%[3]d", [1, 2]),
    ("%[0]d", [1]),
    ("%[x]d", [1]),
    ("%[1d", [1]),
    ("%[]d", [1]),
    ("%[1]*d", [5, 2]),
    ("%[2]*[1]d", [12, 3]),
    ("%[1]2d", [1]),
    ("%[1].2d", [1]),
    ("%.[2]*[1]d", [7, 3]),
    ("%[3]*.[2]*[1]f", [12.0, 2, 6]),
    ("%*d", [5, 1]),
    ("%-*d|", [5, 1]),
    ("%*d|", [-5, 1]),
    ("%.*f", [2, 3.14159]),
    ("%.*f", [-2, 3.14159]),
    ("%*.*f", [8, 2, 3.14159]),
    ("%*d", ["x", 1]),
    ("%*d", [1.5, 1]),
    ("%.*d", ["x", 1]),
    ("%*d", [10000000, 1]),
    ("%*d", []),
    ("%.*d", [3]),
    ("%d %s %v", [None, None, None]),
    ("%!(NOVERB)", []),
    ("%v %v", [{"a": None}, [None]]),
    ("%s", [[1, "a", True, None, 2.5]]),
    ("%d", [{"a": "x", "b": 1.5}]),
    ("%x %X", [[255, "hi", 1.0], {"k": "v"}]),
    ("%q", [["a", 1, None]]),
    ("%6.2f|%-8.3v|%08.3f", [3.14159, 2.0, -3.14159]),
    ("%+d %+v %#v", [5, 5, 5]),
    ("%1000001d", [1]),
    ("%12345678d|", [1]),
    ("%.12345678d|", [1]),
    ("%[1", [1]),
    ("%[", [1]),
    ("%[1]", [1]),
    ("%.1000001d", [1]),
    ("%10.1000001d", [1]),
    ("%03s|%-03s|%3s", ["ab", "ab", "abcd"]),
    ("%c|%c|%c|%q|%U|%#U", [-1, 1114112, 55296, 55296, -1, 128512]),
    ("%q|%+q|%#q|%#+q", ["日本\u2028", "日本", "a\u007fb", "`日`"]),
    ("%x|%X|% X|%#x|% #x|%.2x|%8x|%-8x|%08x", ["", "é", "ab", "ab", "ab", "abc", "a", "a", "a"]),
]


@pytest.mark.parametrize(("fmt", "args"), DIRECTIVES, ids=[f for f, _ in DIRECTIVES])
@pytest.mark.parametrize("numbers", ["int", "float64"])
def test_directives(go_oracle: GoOracle, fmt: str, args: list[Any], numbers: Numbers) -> None:
    check_printf(go_oracle, fmt, args, numbers)


# Floats: the shortest form `%v` uses, its exponent thresholds, and fixed precisions.
FLOATS = [
    0.0,
    1.0,
    -1.0,
    0.1,
    0.3,
    1 / 3,
    2 / 3,
    100000.0,
    999999.0,
    1000000.0,
    1234567.0,
    0.0001,
    0.00001,
    0.000123456,
    1e20,
    1e21,
    1e100,
    1.7976931348623157e308,
    5e-324,
    2.2250738585072014e-308,
    123456789.0,
    0.5,
    1.5,
    2.5,
    -2.5,
    1e15 + 0.3,
    9007199254740993.0,
]


@pytest.mark.parametrize("value", FLOATS, ids=repr)
def test_floats(go_oracle: GoOracle, value: float) -> None:
    fmt = "%v|%e|%E|%f|%g|%G|%.0f|%.1f|%.3e|%.2g|%.15g|%.17g|%b|%x|%X|%.3x|%#v|%.0e|%#.0e"
    check_printf(go_oracle, fmt, [value], "float64")


# What `{{ .a }}`, `print`, `println` and the escapers write.
OPERANDS: list[list[Any]] = [
    [1, 2],
    ["a", "b"],
    [1, "a", 2],
    ["a", 1, "b"],
    [1.5, None, True],
    [None, None],
    ["", ""],
    [[1, 2], {"a": 1}],
    [{"b": [1, {"c": None}], "a": "x y"}],
    [1e6, 1e-5, 100000, 0.0001],
    [],
    ["x", None, "y"],
]


@pytest.mark.parametrize("args", OPERANDS, ids=json.dumps)
@pytest.mark.parametrize("numbers", ["int", "float64"])
def test_print_and_println(go_oracle: GoOracle, args: list[Any], numbers: Numbers) -> None:
    operands = "".join(f" (index .a {i})" for i in range(len(args)))
    values = [model(a, numbers) for a in args]
    for builtin, ours in (("print", sprint), ("println", sprintln)):
        reply = go_oracle.render("{{ " + builtin + operands + " }}", {"a": args}, numbers=numbers)
        assert ours(values) == reply["output"], builtin


@pytest.mark.parametrize("value", [v for v in VALUES if v is not None], ids=json.dumps)
@pytest.mark.parametrize("numbers", ["int", "float64"])
def test_action_output(go_oracle: GoOracle, value: Any, numbers: Numbers) -> None:
    reply = go_oracle.render("{{ .a }}", {"a": value}, numbers=numbers)
    assert format_value(model(value, numbers)) == reply["output"]


ESCAPED = [
    "plain",
    "<a href=\"x\">Tom & 'Jerry'</a>",
    "nul\x00byte",
    "a\\b'c\"d<e>f&g=h",
    "ctrl\x01\x1f\x7f tab\t nl\n",
    "é 世界 \u2028\u2029 \u00a0 \ufeff \U0001f600 \u200b",
    "a b/c?d=e&f+g~h_i.j-k",
    "%20%zz",
    "",
]


@pytest.mark.parametrize("text", ESCAPED, ids=repr)
@pytest.mark.parametrize(
    ("builtin", "escape"), [("html", html_escape), ("js", js_escape), ("urlquery", query_escape)]
)
def test_escapers(go_oracle: GoOracle, text: str, builtin: str, escape: Any) -> None:
    reply = go_oracle.render("{{ " + builtin + " .a }}", {"a": text})
    assert escape(text) == reply["output"]


EVERY_RUNE = "".join(
    chr(c) for c in [*range(0x20, 0x32000), *range(0xE0000, 0xE0200)] if not 0xD800 <= c <= 0xDFFF
)


@pytest.mark.parametrize(("template", "ours"), [('printf "%q"', quote), ("js", js_escape)])
def test_printable_runes_are_gos(go_oracle: GoOracle, template: str, ours: Any) -> None:
    """`%q` and `js` escape exactly the runes that Go 1.19's Unicode tables call unprintable."""
    reply = go_oracle.render("{{ " + template + " .s }}", {"s": EVERY_RUNE})
    assert ours(EVERY_RUNE) == reply["output"]


@pytest.mark.parametrize(
    ("template", "value"),
    [
        ('splitList "," "a,b,"', Slice(["a", "b", ""], "[]string")),
        ("until 3", Slice([0, 1, 2], "[]int")),
        ('split "," "x,y"', Map({"_0": "x", "_1": "y"}, "map[string]string")),
        ('atoi "-42"', -42),
        ('int64 "7"', Int(7, "int64")),
        ('float64 "2.5"', 2.5),
        ('list 1 "a" nil', [1, "a", None]),
        ('dict "k" (list 1 2)', {"k": [1, 2]}),
    ],
)
@pytest.mark.parametrize("fmt", ["%v", "%+v", "%#v", "%T", "%s", "%q", "%d", "%x", "%5v", "%U"])
def test_typed_values_from_sprig(go_oracle: GoOracle, template: str, value: Any, fmt: str) -> None:
    """Sprig functions give Go values JSON cannot: `[]string`, `map[string]string`, `int`, ..."""
    reply = go_oracle.render("{{ printf " + json.dumps(fmt) + " (" + template + ") }}", sprig=True)
    assert sprintf(fmt, [value]) == reply["output"]


class Version(Struct):
    """Sprig's `semver` result: a `*semver.Version`, printed through its `String` method."""

    go_type = "*semver.Version"
    go_fields = ("original",)

    def __init__(self, text: str) -> None:
        self.original = text

    def String(self) -> str:
        return self.original


@pytest.mark.parametrize(
    "fmt", ["%v", "%s", "%q", "%x", "%X", "%T", "%8v", "%-8s|", "%.3s", "%#q", "%+q", "% x"]
)
def test_stringer_from_sprig(go_oracle: GoOracle, fmt: str) -> None:
    reply = go_oracle.render(
        "{{ printf " + json.dumps(fmt) + ' (semver "1.2.3-rc.1+b5") }}', sprig=True
    )
    assert sprintf(fmt, [Version("1.2.3-rc.1+b5")]) == reply["output"]
    action = go_oracle.render('{{ semver "1.2.3-rc.1+b5" }}', sprig=True)
    assert format_value(Version("1.2.3-rc.1+b5")) == action["output"]


def test_floats_in_actions(go_oracle: GoOracle) -> None:
    reply = go_oracle.render('{{ float64 "NaN" }} {{ float64 "-Inf" }} {{ 1e6 }}', sprig=True)
    assert " ".join(format_value(v) for v in (math.nan, -math.inf, 1e6)) == reply["output"]


# Random formats and JSON values.
_TEXT = st.text(
    st.sampled_from(list("ab %[]*.#0+- 19\\\"'`\n\t\x00\x7féü世\u2028\ufeff😀")), max_size=6
)
_SCALAR = (
    st.none()
    | st.booleans()
    | st.integers(min_value=-(2**63), max_value=2**63 - 1)
    | st.integers(min_value=-300, max_value=0x1F700)
    | st.floats(allow_nan=False, allow_infinity=False)
    | _TEXT
)
_JSON = st.recursive(
    _SCALAR,
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(_TEXT, inner, max_size=3),
    max_leaves=6,
)
_OPERAND = st.one_of(_SCALAR, _SCALAR, _SCALAR, _JSON)
_DIRECTIVE = st.tuples(
    st.sets(st.sampled_from("#0+- "), max_size=3).map(lambda flags: "".join(sorted(flags))),
    st.sampled_from(["", "", "", "3", "12", "-4", "*"]),
    st.sampled_from(["", "", "", ".0", ".2", ".10", ".", ".*"]),
    st.sampled_from([""] * 12 + ["[1]", "[2]", "[9]"]),
    st.sampled_from([*"vvvvsssdddqxXfegtcUobTE%F!", "G", "O"]),
).map(lambda parts: "%" + "".join(parts))


@st.composite
def formats_and_args(draw: st.DrawFn) -> tuple[str, list[Any]]:
    """A format of text and directives, with about as many operands as it asks for."""
    pieces = draw(st.lists(st.one_of(_DIRECTIVE, _DIRECTIVE, _TEXT), max_size=5))
    wanted = sum(piece.count("%") - 2 * piece.count("%%") for piece in pieces)
    count = max(0, wanted + draw(st.sampled_from([0, 0, 0, 0, -1, 1])))
    return "".join(pieces), draw(st.lists(_OPERAND, min_size=count, max_size=count))


@settings(
    max_examples=200,
    deadline=None,
    derandomize=True,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(case=formats_and_args(), numbers=st.sampled_from(["int", "float64"]))
def test_random_formats(go_oracle: GoOracle, case: tuple[str, list[Any]], numbers: Numbers) -> None:
    fmt, args = case
    check_printf(go_oracle, fmt, args, numbers)


@settings(
    max_examples=200,
    deadline=None,
    derandomize=True,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(args=st.lists(_JSON, max_size=4), numbers=st.sampled_from(["int", "float64"]))
def test_random_print(go_oracle: GoOracle, args: list[Any], numbers: Numbers) -> None:
    operands = "".join(f" (index .a {i})" for i in range(len(args)))
    reply = go_oracle.render("{{ print" + operands + " }}", {"a": args}, numbers=numbers)
    assert sprint([model(a, numbers) for a in args]) == reply["output"]


def test_model_keeps_json_kinds() -> None:
    assert model([1, 1.0, "1", None], "int") == [Int(1, "int64"), 1.0, "1", None]
    assert model({"a": 1}, "float64") == {"a": 1.0}
    assert not math.isnan(model(-0.0, "int"))
