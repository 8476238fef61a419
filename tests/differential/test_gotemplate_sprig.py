"""sprig functions called from Python against the same calls in Go's text/template."""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from pathlib import Path

import pytest

from sidecar_injector.gotemplate import printing, values
from sidecar_injector.gotemplate.sprig import FUNCS
from tests.conftest import GoOracle


@dataclass(frozen=True, slots=True)
class Raw:
    """An argument given to Go as template text and to Python as `value`."""

    text: str
    value: object


def go_literal(value: object) -> str:
    """Template text that makes Go build the same value."""
    if isinstance(value, Raw):
        return value.text
    if value is None:
        return "nil"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int):
        return str(value)
    if isinstance(value, float):
        return repr(value)
    if isinstance(value, str):
        return json.dumps(value, ensure_ascii=False)
    if isinstance(value, list):
        return "(list " + " ".join(map(go_literal, value)) + ")" if value else "(list)"
    if isinstance(value, dict):
        pairs = " ".join(f"{go_literal(k)} {go_literal(v)}" for k, v in value.items())
        return f"(dict {pairs})" if pairs else "(dict)"
    raise TypeError(value)


def python_arg(value: object) -> object:
    """The Python value of an argument (fresh, so that mutating functions see their own)."""
    if isinstance(value, Raw):
        return value.value
    if isinstance(value, list):
        return [python_arg(v) for v in value]
    if isinstance(value, dict):
        return {k: python_arg(v) for k, v in value.items()}
    return value


def template_of(name: str, args: tuple[object, ...], *, pipe: str = "") -> str:
    """`{{ name arg ... | pipe }}`."""
    call = " ".join([name, *map(go_literal, args)])
    return "{{ " + call + (f" | {pipe}" if pipe else "") + " }}"


def python_output(name: str, args: tuple[object, ...], *, pipe: str = "") -> tuple[str, str]:
    """("output", text) or ("error", message), as the template would print it."""
    try:
        result = FUNCS[name].fn(*map(python_arg, args))
        if pipe:
            result = FUNCS[pipe].fn(result)
    except values.GoError as exc:
        return "error", str(exc)
    if result is None:
        return "output", "<no value>"
    return "output", printing.format_value(result)


def go_output(reply: dict[str, object], name: str) -> tuple[str, str]:
    """The oracle's reply in the same form; an error keeps only the function's message."""
    if "output" in reply:
        return "output", str(reply["output"])
    error = str(reply["error"])
    marker = "error calling "
    at = error.find(marker)
    assert at != -1, error
    message = error[at + len(marker) :]
    return "error", message.split(": ", 1)[1]


S = Raw('(splitList "," "b,a,c")', values.Slice(["b", "a", "c"], "[]string"))
NESTED = {"a": {"b": {"c": 1}}, "l": [1, "x"]}

CASES: list[tuple[str, tuple[object, ...]]] = [
    # strings
    ("hello", ()),
    ("abbrev", (5, "hello world")),
    ("abbrev", (3, "hello world")),
    ("abbrev", (20, "hello")),
    ("abbrev", (6, "héllo wörld")),
    ("abbrevboth", (5, 10, "1234 5678 9123 4567")),
    ("abbrevboth", (0, 8, "abcdefghijklmnop")),
    ("abbrevboth", (1, 6, "abcdefghijklmnop")),
    ("abbrevboth", (20, 10, "abcdefghijklmnopqrstuvwxyz")),
    ("trunc", (2, "héllo")),
    ("trunc", (-3, "hello")),
    ("trunc", (-10, "hello")),
    ("trunc", (0, "hello")),
    ("trunc", (99, "hello")),
    ("trim", ("  \t hi \n\u00a0",)),
    ("trim", ("\u001chi\u001c",)),
    ("upper", ("héllo ß ǆ",)),
    ("lower", ("HÉLLO İ ǅ",)),
    ("title", ("hello wORLD foo_bar 3d-print ǆx",)),
    ("untitle", ("Hello World  FOO",)),
    ("substr", (1, 3, "hello")),
    ("substr", (-1, 3, "hello")),
    ("substr", (2, -1, "hello")),
    ("substr", (2, 99, "hello")),
    ("substr", (2, 1, "abc")),
    ("substr", (-1, -1, "abc")),
    ("substr", (0, 2, "é")),
    ("repeat", (3, "ab")),
    ("repeat", (-1, "ab")),
    ("trimAll", ("$-", "$-$abc-$")),
    ("trimall", ("é", "éaé")),
    ("trimSuffix", ("-", "a-b-")),
    ("trimSuffix", ("", "abc")),
    ("trimPrefix", ("a", "aab")),
    ("nospace", (" a b\tc\n d ",)),
    ("nospace", ("àb c",)),
    ("nospace", ("é",)),
    ("initials", ("hello World  foo",)),
    ("initials", ("élan vital",)),
    ("swapcase", ("Hello World aBc ǅ",)),
    ("wrap", (5, "the quick brown fox jumps")),
    ("wrap", (3, "abcdefgh ij")),
    ("wrap", (0, "a b")),
    ("wrapWith", (5, "<br>", "the quick brown fox")),
    ("wrapWith", (3, "|", "abcdefgh ij")),
    ("contains", ("ell", "hello")),
    ("contains", ("xyz", "hello")),
    ("hasPrefix", ("he", "hello")),
    ("hasSuffix", ("lo", "hello")),
    ("quote", ('a"b\\c\n\u0001é\u200b',)),
    ("quote", ("a", None, 1.5, 3, True)),
    ("quote", ()),
    ("squote", ("a", None, 2, [1, "x"])),
    ("cat", ("a", None, 1, [1, 2], {"k": "v"})),
    ("cat", ()),
    ("indent", (2, "a\nb\n")),
    ("nindent", (4, "a\nb")),
    ("replace", ("l", "L", "hello")),
    ("replace", ("", "-", "héllo")),
    ("plural", ("one", "many", 1)),
    ("plural", ("one", "many", 2)),
    ("toString", (1.5,)),
    ("toString", (1e6,)),
    ("toString", (None,)),
    ("toString", ([1, "a", None],)),
    ("toString", ({"b": 1, "a": [True]},)),
    ("toString", (True,)),
    ("split", (",", "a,b,,c")),
    ("splitList", (",", "a,b,,c")),
    ("splitList", ("", "héllo")),
    ("splitList", (",", "")),
    ("splitn", (",", 2, "a,b,c")),
    ("splitn", (",", 0, "a,b,c")),
    ("splitn", ("", 3, "abcdef")),
    ("toStrings", ([1, None, "a", 2.5],)),
    ("toStrings", ("abc",)),
    ("toStrings", (None,)),
    ("toStrings", (S,)),
    ("join", ("-", [1, None, "a"])),
    ("join", ("-", "abc")),
    ("join", ("-", None)),
    ("join", (", ", S)),
    ("snakecase", ("HTTPServerError",)),
    ("snakecase", ("fooBar_baz-Qux 12ab",)),
    ("snakecase", ("a1b2C3",)),
    ("snakecase", ("__init__",)),
    ("snakecase", ("Ünïcode Wörld",)),
    ("kebabcase", ("FooBar baz",)),
    ("kebabcase", ("IDs-And.Dots!",)),
    ("camelcase", ("http_server",)),
    ("camelcase", ("foo-bar baz",)),
    ("camelcase", ("_a__b",)),
    ("camelcase", ("",)),
    ("camelcase", ("ALL_CAPS",)),
    # lists
    ("list", (1, "a", None)),
    ("tuple", (1, 2)),
    ("append", ([1, 2], 3)),
    ("push", (S, "d")),
    ("mustAppend", ("abc", 1)),
    ("mustPush", (None, 1)),
    ("prepend", ([1, 2], 0)),
    ("mustPrepend", (3, 1)),
    ("chunk", (2, [1, 2, 3, 4, 5])),
    ("chunk", (3, [1, 2, 3])),
    ("chunk", (2, [])),
    ("chunk", (0, [1])),
    ("mustChunk", (2, "ab")),
    ("first", ([1, 2],)),
    ("first", ([],)),
    ("first", (None,)),
    ("mustFirst", ({"a": 1},)),
    ("last", ([1, 2],)),
    ("mustLast", ([],)),
    ("rest", ([1, 2, 3],)),
    ("rest", ([],)),
    ("mustRest", (1.5,)),
    ("initial", ([1, 2, 3],)),
    ("mustInitial", ([],)),
    ("reverse", ([1, 2, 3],)),
    ("mustReverse", ("abc",)),
    ("compact", ([0, 1, "", "a", None, [], {}, False, True, 0.0],)),
    ("mustCompact", (True,)),
    ("uniq", ([1, 1, "1", 1.0, [1], [1], None, None],)),
    ("mustUniq", (7,)),
    ("without", ([1, 2, 3, 2], 2, 3)),
    ("mustWithout", ([1, 2], 5)),
    ("has", (2, [1, 2])),
    ("has", ("2", [1, 2])),
    ("has", (1, None)),
    ("mustHas", (1, "abc")),
    ("slice", ([1, 2, 3, 4], 1, 3)),
    ("slice", ([1, 2, 3, 4], 2)),
    ("slice", ([1, 2, 3, 4],)),
    ("slice", ([],)),
    ("slice", ([1, 2, 3], 2, 1)),
    ("slice", ([1, 2, 3], "1", 2.0)),
    ("mustSlice", (S, 1)),
    ("mustSlice", ("abc", 1)),
    ("concat", ([1], [2, 3], S)),
    ("concat", ()),
    ("concat", ([1], 2)),
    ("sortAlpha", ([3, "b", None, "a", 1.5],)),
    ("sortAlpha", ("zz",)),
    ("sortAlpha", (5,)),
    ("sortAlpha", (S,)),
    # dicts
    ("dict", ("a", 1, "b")),
    ("dict", (1, 2, True, "x")),
    ("get", ({"a": 1}, "a")),
    ("get", ({"a": 1}, "b")),
    ("set", ({"a": 1}, "b", 2)),
    ("unset", ({"a": 1, "b": 2}, "a")),
    ("hasKey", ({"a": None}, "a")),
    ("hasKey", ({"a": None}, "b")),
    ("pluck", ("a", {"a": 1}, {"b": 2}, {"a": 3})),
    ("pick", ({"a": 1, "b": 2, "c": 3}, "a", "c", "z")),
    ("omit", ({"a": 1, "b": 2, "c": 3}, "a", "z")),
    (
        "merge",
        (
            {"a": "", "b": 0, "c": {"d": 1, "e": []}, "f": [1]},
            {"a": "y", "b": 2, "c": {"d": 2, "e": [3], "g": 1}, "f": [2], "h": None},
        ),
    ),
    ("merge", ({}, {"a": [1]}, {"a": [2], "b": 1})),
    ("merge", ({"a": "x"}, {"a": {"b": 1}})),
    ("mustMerge", ({"a": {"b": 1}}, {"a": {"c": 2}, "d": False})),
    ("mergeOverwrite", ({"a": "x", "b": 1, "c": {"d": 1}}, {"a": "", "b": 0, "c": "s"})),
    ("mergeOverwrite", ({"c": {"d": 1}, "f": [1], "n": 1}, {"c": {"e": 2}, "f": [], "n": None})),
    ("mergeOverwrite", ({"a": "x"}, {"a": {"b": 1}})),
    ("mustMergeOverwrite", ({"a": 1}, {"a": 2}, {"a": 3})),
    ("deepCopy", (NESTED,)),
    ("mustDeepCopy", ([1, {"a": [2]}],)),
    ("dig", ("a", "b", "c", "dflt", NESTED)),
    ("dig", ("a", "x", "c", "dflt", NESTED)),
    ("dig", ("l", "x", "dflt", NESTED)),
    ("dig", ("a", "dflt", 1)),
    ("dig", (1, "dflt", NESTED)),
    ("dig", ("a", "b")),
    # numbers
    ("atoi", ("42",)),
    ("atoi", ("+7",)),
    ("atoi", ("3.9",)),
    ("atoi", (" 5",)),
    ("atoi", ("99999999999999999999",)),
    ("int64", ("0x1F",)),
    ("int64", ("1_000",)),
    ("int64", ("017",)),
    ("int64", ("08",)),
    ("int64", ("5.000",)),
    ("int64", ("5.10",)),
    ("int64", ("-0b101",)),
    ("int64", ("9223372036854775808",)),
    ("int64", (1e19,)),
    ("int64", (-3.9,)),
    ("int64", (True,)),
    ("int64", (None,)),
    ("int64", ([1],)),
    ("int", ("12",)),
    ("int", (3.99,)),
    ("int", ("1e3",)),
    ("float64", ("1e3",)),
    ("float64", ("1_000.5",)),
    ("float64", ("0x1p-2",)),
    ("float64", ("inf",)),
    ("float64", ("-Infinity",)),
    ("float64", (" 1",)),
    ("float64", ("1e400",)),
    ("float64", ("nan",)),
    ("float64", (7,)),
    ("float64", (False,)),
    ("toDecimal", ("777",)),
    ("toDecimal", (17,)),
    ("toDecimal", ("8",)),
    ("toDecimal", (1.5,)),
    ("until", (5,)),
    ("until", (-3,)),
    ("until", (0,)),
    ("untilStep", (0, 10, 3)),
    ("untilStep", (10, 0, -4)),
    ("untilStep", (0, 10, -1)),
    ("untilStep", (0, 10, 0)),
    ("seq", (5,)),
    ("seq", (0,)),
    ("seq", (-2,)),
    ("seq", (2, 5)),
    ("seq", (5, 2)),
    ("seq", (0, 2, 7)),
    ("seq", (7, -2, 0)),
    ("seq", (7, 2, 0)),
    ("seq", ()),
    ("seq", (1, 2, 3, 4)),
    ("add1", (1.9,)),
    ("add1", ("41",)),
    ("add", (1, 2.5, "3", None)),
    ("add", ()),
    ("add", (9223372036854775807, 1)),
    ("sub", (10, 3)),
    ("div", (7, 2)),
    ("div", (-7, 2)),
    ("div", (1, 0)),
    ("mod", (-7, 3)),
    ("mod", (7, -3)),
    ("mod", (7, 0)),
    ("mul", (2, 3, "4")),
    ("mul", (4611686018427387904, 4)),
    ("add1f", (1.5,)),
    ("addf", (0.1, 0.2)),
    ("addf", ()),
    ("subf", (1, 0.9)),
    ("mulf", (0.1, 3)),
    ("divf", (1, 3)),
    ("divf", (2, 3)),
    ("divf", (10, 4, 2)),
    ("divf", (1, 0)),
    ("divf", (-2, 3)),
    ("max", (1, 5, "7", 3.9)),
    ("biggest", (-1, -5)),
    ("min", (4, 2, "9")),
    ("maxf", (1, 2.5, "3.5")),
    ("minf", (1, -2.5, "x")),
    ("floor", (-1.5,)),
    ("floor", ("2.7",)),
    ("ceil", (1.2,)),
    ("ceil", (-0.5,)),
    ("round", (2.345, 2)),
    ("round", (2.5, 0)),
    ("round", (-2.5, 0)),
    ("round", (1.2345, 3, 0.4)),
    ("round", (123.456, -1)),
    # encoding
    ("b64enc", ("héllo",)),
    ("b64dec", ("aMOpbGxv",)),
    ("b64dec", ("!!",)),
    ("b64dec", ("YQ=",)),
    ("b64dec", ("YQ==YQ",)),
    ("b64dec", ("Y",)),
    ("b64dec", ("YQ=a",)),
    ("b64dec", ("YWJj\nZA==",)),
    ("b32enc", ("héllo",)),
    ("b32dec", ("NBSWY3DP",)),
    ("b32dec", ("NBSWY3D",)),
    ("b32dec", ("MFRGG===",)),
    ("fromJson", ('{"a": [1, 2.5, "x", null, true], "b": {}}',)),
    ("fromJson", ("tru",)),
    ("fromJson", ("1e400",)),
    ("mustFromJson", ('"\\u00e9\\ud83d\\ude00"',)),
    ("mustFromJson", ("[1,2",)),
    ("mustFromJson", ("tru",)),
    ("mustFromJson", ('{"a" 1}',)),
    ("mustFromJson", ("1e400",)),
    ("mustFromJson", ("",)),
    ("mustFromJson", ("[1,]",)),
    ("mustFromJson", ('"\\x"',)),
    ("mustFromJson", ("-",)),
    ("mustFromJson", ("1.",)),
    ("mustFromJson", ("01",)),
    ("mustFromJson", ('{"a":1,}',)),
    ("mustFromJson", ("[1] x",)),
    ("mustFromJson", ('"a\nb"',)),
    ("mustFromJson", ("nul",)),
    ("mustFromJson", ("fals e",)),
    ("toJson", ({"b": [1, 1.5, 1e21, 1e20, 1e-7, 0.000001, "<&>"], "a": None},)),
    ("toJson", ("a\b\f\u0001<>&\u2028",)),
    ("toJson", ([],)),
    ("toJson", ({},)),
    ("toJson", (S,)),
    ("toRawJson", ({"html": "<a href='x'>&</a>"},)),
    ("toPrettyJson", ({"a": [1, {}], "b": [], "c": {"d": "<"}},)),
    ("mustToJson", ([1.5, -0.0, 123456789.0],)),
    ("mustToPrettyJson", ([],)),
    ("mustToRawJson", ("<>",)),
    # flow
    ("default", ("d", "")),
    ("default", ("d", 0)),
    ("default", ("d", "x")),
    ("default", ("d", [])),
    ("default", ("d", {"a": 1})),
    ("default", ("d",)),
    ("default", ("d", None)),
    ("default", ("d", False)),
    ("default", ("d", 0.0)),
    ("empty", ("",)),
    ("empty", ([0],)),
    ("empty", (None,)),
    ("empty", ({},)),
    ("coalesce", (None, "", 0, "x", "y")),
    ("coalesce", (None, "")),
    ("all", (1, "a", [1])),
    ("all", (1, "")),
    ("all", ()),
    ("any", (0, "", "a")),
    ("any", (0, "")),
    ("any", ()),
    ("ternary", ("yes", "no", True)),
    ("ternary", ("yes", "no", False)),
    ("fail", ("boom",)),
    # reflection
    ("typeOf", (1,)),
    ("typeOf", (1.5,)),
    ("typeOf", (None,)),
    ("typeOf", ([1],)),
    ("typeOf", ({"a": 1},)),
    ("typeOf", (S,)),
    ("typeIs", ("string", "a")),
    ("typeIs", ("int", 1.0)),
    ("typeIsLike", ("int", 1)),
    ("kindOf", (None,)),
    ("kindOf", ({"a": 1},)),
    ("kindOf", ([1],)),
    ("kindOf", (1,)),
    ("kindOf", (True,)),
    ("kindOf", (S,)),
    ("kindIs", ("map", {})),
    ("kindIs", ("slice", "x")),
    ("deepEqual", (1, 1.0)),
    ("deepEqual", ([1, "a", None], [1, "a", None])),
    ("deepEqual", ({"a": [1]}, {"a": [1]})),
    ("deepEqual", ({"a": [1]}, {"a": [2]})),
    ("deepEqual", (S, ["b", "a", "c"])),
    # regex
    ("regexMatch", ("^a.c$", "abc")),
    ("regexMatch", ("^a.c$", "abc\n")),
    ("regexMatch", ("(", "abc")),
    ("mustRegexMatch", ("(", "abc")),
    ("mustRegexMatch", ("\\d+", "a1")),
    ("regexFindAll", ("a*", "baaac", -1)),
    ("regexFindAll", ("[0-9]+", "a1b22c333", 2)),
    ("regexFindAll", ("x", "abc", -1)),
    ("regexFindAll", ("", "abc", -1)),
    ("mustRegexFindAll", ("b+", "abbcb", -1)),
    ("mustRegexFindAll", ("(", "abc", -1)),
    ("regexFindAll", ("(", "abc", -1)),
    ("regexFind", ("[a-z]+", "123abc456")),
    ("regexFind", ("(", "a")),
    ("mustRegexFind", ("(", "a")),
    ("mustRegexFind", ("[[:alpha:]]+", "12ab3")),
    ("regexFind", ("a\\z", "ba")),
    ("regexReplaceAll", ("a(x*)b", "-ab-axxb-", "${1}W")),
    ("regexReplaceAll", ("a(x*)b", "-ab-axxb-", "$1W")),
    ("regexReplaceAll", ("(?P<n>\\d)", "a1b2", "<$n$$>")),
    ("regexReplaceAll", ("a*", "baaac", "-")),
    ("regexReplaceAll", ("", "abc", "-")),
    ("mustRegexReplaceAll", ("[", "a", "b")),
    ("regexReplaceAllLiteral", ("a(x*)b", "-ab-axxb-", "${1}")),
    ("mustRegexReplaceAllLiteral", ("x", "axbx", "$")),
    ("regexSplit", ("z+", "pizza", -1)),
    ("regexSplit", ("z+", "pizza", 1)),
    ("regexSplit", ("z+", "pizza", 0)),
    ("regexSplit", ("", "abc", -1)),
    ("regexSplit", ("a", "", -1)),
    ("regexSplit", (",", "a,b,c,", 2)),
    ("mustRegexSplit", ("(", "a", -1)),
    ("regexQuoteMeta", ("1.5+[x]{y}$^\\|?*()",)),
    # crypto
    ("sha256sum", ("héllo",)),
    ("sha1sum", ("",)),
    ("adler32sum", ("héllo",)),
    ("derivePassword", (1, "long", "pw", "user", "example.com")),
    ("derivePassword", (7, "pin", "pw", "üser", "site")),
    ("derivePassword", (1, "nope", "pw", "user", "site")),
]


@pytest.mark.oracle
@pytest.mark.parametrize(
    ("name", "args"), CASES, ids=[f"{n}-{i}" for i, (n, _) in enumerate(CASES)]
)
def test_sprig_function_matches_go(
    go_oracle: GoOracle, name: str, args: tuple[object, ...]
) -> None:
    reply = go_oracle.render(template_of(name, args), sprig=True)
    assert python_output(name, args) == go_output(reply, name)


PIPED: list[tuple[str, tuple[object, ...]]] = [
    ("fromJson", ('{"a": [1, 2.5, "x", null, true], "b": {"c": "<"}}',)),
    ("split", (",", "a,b")),
    ("chunk", (2, [1, 2, 3])),
    ("rest", ([],)),
    ("until", (3,)),
    ("concat", ()),
    ("regexFindAll", ("x", "abc", -1)),
    ("dict", ("a", [1, {"b": None}])),
]


@pytest.mark.oracle
@pytest.mark.parametrize(("name", "args"), PIPED)
def test_sprig_result_types_survive_to_json(
    go_oracle: GoOracle, name: str, args: tuple[object, ...]
) -> None:
    reply = go_oracle.render(template_of(name, args, pipe="toJson"), sprig=True)
    assert python_output(name, args, pipe="toJson") == go_output(reply, name)


def test_every_sprig_name_is_present() -> None:
    source = _SPRIG_SOURCE.read_text()
    generic_map = source[source.index("var genericMap") :]
    generic_map = generic_map[: generic_map.index("\n}\n")]
    code = "\n".join(line for line in generic_map.splitlines() if not line.strip().startswith("//"))
    names = set(re.findall(r'"(\w+)":\s', code))
    assert names and names == set(FUNCS)


_SPRIG_SOURCE = Path("/usr/share/gocode/src/github.com/Masterminds/sprig/functions.go")
