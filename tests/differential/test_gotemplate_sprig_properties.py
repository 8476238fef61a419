"""Property tests: sprig's string, list and dict families on generated input, against Go.

Each example renders several calls in one template (one round trip to the oracle); Go
stops at the first failing call, and so does the comparison.
"""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from sidecar_injector.gotemplate.sprig import FUNCS
from tests.conftest import GoOracle
from tests.differential.test_gotemplate_sprig import go_output, python_output, template_of

pytestmark = pytest.mark.oracle

# Text as Go templates can spell it; U+FFFD is left out because Go's decoders treat the
# encoded replacement character as an invalid rune, which these strings never contain.
_INTERESTING = list("aAzZ09 _-.,!?/:@$'\t\nÀéßİ\u0131ǅǆΣςᾔᾮῳ中文😀\u00a0\u2028\u0085\u2c2f\u061d")
TEXT = st.text(
    alphabet=st.sampled_from(_INTERESTING)
    | st.characters(exclude_categories=["Cs"], exclude_characters="\ufffd\x1e"),
    max_size=24,
)
WORDY = st.text(alphabet=st.sampled_from(list("ab CD_-12xYé中 ")), max_size=20)
ANY_TEXT = TEXT | WORDY
SMALL = st.integers(min_value=-6, max_value=30)
SCALAR: st.SearchStrategy[object] = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(-5, 5),
    st.sampled_from([0.0, 1.5, -2.25, 1e21]),
    st.text(alphabet="ab1 ", max_size=3),
)
LIST = st.lists(SCALAR, max_size=6)
NESTED = st.recursive(
    SCALAR,
    lambda inner: (
        st.lists(inner, max_size=3)
        | st.dictionaries(st.sampled_from(["a", "b", "c"]), inner, max_size=3)
    ),
    max_leaves=8,
)
DICT = st.dictionaries(st.sampled_from(["a", "b", "c", "d"]), NESTED, max_size=4)

SETTINGS = settings(max_examples=100, deadline=None, derandomize=True)
SEPARATOR = "\x1e"

Call = tuple[str, tuple[object, ...], str]


def calls_same_as_go(oracle: GoOracle, calls: list[Call]) -> None:
    """The calls, separated, in one template; Go's answer against ours."""
    template = SEPARATOR.join(template_of(name, args, pipe=pipe) for name, args, pipe in calls)
    reply = oracle.render(template, sprig=True)
    texts: list[str] = []
    for name, args, pipe in calls:
        kind, text = python_output(name, args, pipe=pipe)
        if kind == "error":
            assert go_output(reply, name) == ("error", text), (name, args)
            return
        texts.append(text)
    assert "output" in reply, (reply, calls)
    assert texts == str(reply["output"]).split(SEPARATOR), calls


def unary(names: list[str], *args: object) -> list[Call]:
    return [(name, args, "") for name in names]


UNARY_TEXT = [
    "initials", "title", "untitle", "upper", "lower", "swapcase", "camelcase", "snakecase",
    "kebabcase", "trim", "nospace", "quote", "squote", "b64enc", "b32enc", "sha1sum",
    "adler32sum", "regexQuoteMeta", "toString", "toStrings", "base", "dir", "clean", "ext",
]  # fmt: skip


@SETTINGS
@given(text=ANY_TEXT)
def test_unary_string_functions_match_go(go_oracle: GoOracle, text: str) -> None:
    calls_same_as_go(go_oracle, unary(UNARY_TEXT, text))


@SETTINGS
@given(a=SMALL, b=SMALL, text=ANY_TEXT, other=ANY_TEXT)
def test_string_functions_with_sizes_match_go(
    go_oracle: GoOracle, a: int, b: int, text: str, other: str
) -> None:
    calls_same_as_go(
        go_oracle,
        [
            *unary(["trunc", "abbrev", "wrap"], a, text),
            ("abbrevboth", (a, b, text), ""),
            ("wrapWith", (a, "<br>", other), ""),
            ("plural", (text, other, a), ""),
            ("indent", (abs(a) % 5, text), ""),
            ("nindent", (abs(b) % 5, other), ""),
            ("splitn", (text[:1], a, other), "toJson"),
            ("substr", (a, b, text), ""),
        ],
    )


@SETTINGS
@given(text=ANY_TEXT, other=ANY_TEXT, short=st.text(alphabet="ab, é", max_size=2))
def test_string_functions_of_two_texts_match_go(
    go_oracle: GoOracle, text: str, other: str, short: str
) -> None:
    calls_same_as_go(
        go_oracle,
        [
            *unary(["trimAll", "trimPrefix", "trimSuffix", "contains", "hasPrefix"], short, text),
            ("replace", (short, other, text), ""),
            ("splitList", (short, text), ""),
            ("split", (short, text), "toJson"),
            ("cat", (text, None, other), ""),
            ("quote", (text, other), ""),
        ],
    )


@SETTINGS
@given(
    b64=st.text(alphabet="QUJD=\nab+/!", max_size=10),
    b32=st.text(alphabet="MFRG=\nab7", max_size=12),
)
def test_decoders_match_go(go_oracle: GoOracle, b64: str, b32: str) -> None:
    calls_same_as_go(go_oracle, [("b64dec", (b64,), ""), ("b32dec", (b32,), "")])


UNARY_LIST = [
    "uniq", "compact", "reverse", "first", "last", "rest", "initial", "sortAlpha", "toStrings",
    "toJson", "toPrettyJson", "toRawJson", "empty", "all", "any", "typeOf", "kindOf", "cat",
    "deepCopy", "toString",
]  # fmt: skip


@SETTINGS
@given(items=LIST)
def test_unary_list_functions_match_go(go_oracle: GoOracle, items: list[object]) -> None:
    calls_same_as_go(go_oracle, unary(UNARY_LIST, items))


@SETTINGS
@given(items=LIST, other=LIST, scalar=SCALAR, size=st.integers(1, 4), a=st.integers(0, 7))
def test_list_functions_with_arguments_match_go(
    go_oracle: GoOracle, items: list[object], other: list[object], scalar: object, size: int, a: int
) -> None:
    calls_same_as_go(
        go_oracle,
        [
            ("has", (scalar, items), ""),
            ("without", (items, scalar, other[0] if other else None), ""),
            ("chunk", (size, items), ""),
            ("concat", (items, other), ""),
            ("join", (",", items), ""),
            ("append", (items, scalar), ""),
            ("prepend", (other, scalar), ""),
            ("coalesce", (scalar, *items), ""),
            ("default", (scalar, *items[:1]), ""),
            ("slice", (items, size - 1, a), ""),
        ],
    )


@SETTINGS
@given(a=NESTED, b=NESTED)
def test_nested_values_match_go(go_oracle: GoOracle, a: object, b: object) -> None:
    calls_same_as_go(
        go_oracle,
        [
            ("deepEqual", (a, b), ""),
            ("deepEqual", (a, a), ""),
            ("toJson", (a,), ""),
            ("toPrettyJson", (b,), ""),
            ("toString", (a,), ""),
            ("empty", (b,), ""),
        ],
    )


@SETTINGS
@given(dst=DICT, src=DICT, more=DICT, pairs=st.lists(SCALAR, max_size=5))
def test_dict_merges_match_go(
    go_oracle: GoOracle,
    dst: dict[str, object],
    src: dict[str, object],
    more: dict[str, object],
    pairs: list[object],
) -> None:
    calls_same_as_go(
        go_oracle,
        [
            ("merge", (dst, src), "toJson"),
            ("mergeOverwrite", (dst, src, more), "toJson"),
            ("dict", tuple(pairs), "toJson"),
            ("pick", (dst, "a", "c"), "toJson"),
            ("omit", (src, "a", "c"), "toJson"),
            ("pluck", ("a", dst, src, more), "toJson"),
            ("hasKey", (dst, "b"), ""),
            ("get", (src, "c"), "toJson"),
            ("set", (more, "a", pairs), "toJson"),
            ("unset", (dst, "a"), "toJson"),
            ("dig", ("a", "b", "none", src), "toJson"),
        ],
    )


REGEX_PIECES = [
    "a",
    "b*",
    "a?",
    "(a|b)",
    "[ab]+",
    "^",
    "$",
    ".",
    "\\b",
    "x*",
    "(?i)A",
    "\\s",
    "[^a]",
]
REGEX = st.lists(st.sampled_from(REGEX_PIECES), min_size=1, max_size=3).map("".join)
REGEX_TEXT = st.text(alphabet="abAB x\n", max_size=10)


@SETTINGS
@given(pattern=REGEX, text=REGEX_TEXT, n=st.integers(-1, 3))
def test_regex_functions_match_go(go_oracle: GoOracle, pattern: str, text: str, n: int) -> None:
    calls_same_as_go(
        go_oracle,
        [
            ("regexMatch", (pattern, text), ""),
            ("regexFind", (pattern, text), ""),
            ("regexFindAll", (pattern, text, n), "toJson"),
            ("regexSplit", (pattern, text, n), "toJson"),
            ("regexReplaceAll", (pattern, text, "<$0|${1}>"), ""),
            ("regexReplaceAllLiteral", (pattern, text, "$0"), ""),
        ],
    )


PART = st.sampled_from(["0", "1", "2", "10", "x", "*"])
PRE = st.sampled_from(["", "-alpha", "-beta.2", "-0", "-rc.1"])
VERSION = st.builds(
    lambda a, b, c, pre: f"{a}.{b}.{c}{pre}",
    st.sampled_from(["0", "1", "2"]),
    st.sampled_from(["0", "1", "2", "10"]),
    st.sampled_from(["0", "1", "3"]),
    PRE,
)
CONSTRAINT_VERSION = st.builds(
    lambda parts, pre: ".".join(parts) + pre, st.lists(PART, min_size=1, max_size=3), PRE
)
OP = st.sampled_from(["", "=", "!=", ">", "<", ">=", "<=", "~", "~>", "^", "=>", "=<"])
CONSTRAINT = st.builds(lambda op, v: op + v, OP, CONSTRAINT_VERSION)


@SETTINGS
@given(
    first=CONSTRAINT,
    second=CONSTRAINT,
    version=VERSION,
    join=st.sampled_from([" ", ", ", " || ", " - "]),
)
def test_semver_constraints_match_go(
    go_oracle: GoOracle, first: str, second: str, version: str, join: str
) -> None:
    calls_same_as_go(
        go_oracle,
        [
            ("semverCompare", (first, version), ""),
            ("semverCompare", (first + join + second, version), ""),
        ],
    )


URL = st.builds(
    lambda *parts: "".join(parts),
    st.sampled_from(["", "http:", "HTTPS:", "mailto:", "a+b.c-d:", "1x:"]),
    st.sampled_from(["", "//", "//host", "//u@h:80", "//u:p%40@h", "//[::1]:8080", "//h:port"]),
    st.sampled_from(["", "/", "/a b", "/a%20b/c", "rel", "a:b", "/x?y", "//z", "/%zz"]),
    st.sampled_from(["", "?", "?x=1&y=%zz", "?a b"]),
    st.sampled_from(["", "#", "#f g", "#%41", "#%"]),
)


@SETTINGS
@given(url=URL)
def test_url_functions_match_go(go_oracle: GoOracle, url: str) -> None:
    calls_same_as_go(go_oracle, [("urlParse", (url,), "toJson"), ("urlParse", (url,), "urlJoin")])


LAYOUT_PIECES = [
    "2006", "06", "01", "1", "Jan", "January", "02", "2", "_2", "002", "__2", "Mon", "Monday",
    "15", "03", "3", "04", "4", "05", "5", "PM", "pm", "MST", "-0700", "-07:00", "-07", "Z0700",
    "Z07:00", "Z07", ".000", ".999999999", ",000", ".9", " ", "-", ":", "T", "/", "x", "Janet",
]  # fmt: skip
LAYOUT = st.lists(st.sampled_from(LAYOUT_PIECES), min_size=1, max_size=8).map("".join)
ZONE = st.sampled_from(
    ["UTC", "Local", "", "America/New_York", "Asia/Kolkata", "Australia/Lord_Howe",
     "Europe/Dublin", "Pacific/Chatham", "America/Sao_Paulo", "Africa/Casablanca"]
)  # fmt: skip
UNIX = st.integers(min_value=-(2**34), max_value=2**34)


@SETTINGS
@given(layout=LAYOUT, zone=ZONE, unix=UNIX)
def test_date_formatting_matches_go(go_oracle: GoOracle, layout: str, zone: str, unix: int) -> None:
    calls_same_as_go(go_oracle, [("dateInZone", (layout, unix, zone), "")])


@SETTINGS
@given(layout=LAYOUT, unix=UNIX, zone=ZONE)
def test_date_parsing_matches_go(go_oracle: GoOracle, layout: str, unix: int, zone: str) -> None:
    text = FUNCS["dateInZone"].fn(layout, unix, zone)
    calls_same_as_go(
        go_oracle,
        [
            ("toDate", (layout, text), ""),
            ("mustToDate", (layout, text), "unixEpoch"),
        ],
    )


VALUE_TEXT = st.text(alphabet="0123456789 -+:.,ZTJanFebMonPMamUTCGMT", max_size=16)


@SETTINGS
@given(layout=LAYOUT, text=VALUE_TEXT)
def test_date_parse_errors_match_go(go_oracle: GoOracle, layout: str, text: str) -> None:
    calls_same_as_go(go_oracle, [("mustToDate", (layout, text), "")])


NUMBER_TEXT = st.text(alphabet="0123456789_.eExXoObB+-pPinfatyINF ", max_size=8)
NUMBER: st.SearchStrategy[object] = st.one_of(
    st.integers(-(2**63), 2**63 - 1),
    st.integers(-100, 100),
    st.floats(allow_nan=False, allow_infinity=False, width=64),
    st.sampled_from([0.5, -0.5, 2.5, 1e-7, 123456.789, 1e15 + 0.3]),
    NUMBER_TEXT,
    st.none(),
    st.booleans(),
)


@SETTINGS
@given(text=NUMBER_TEXT)
def test_number_conversions_of_text_match_go(go_oracle: GoOracle, text: str) -> None:
    calls_same_as_go(
        go_oracle,
        unary(["int64", "int", "float64", "atoi", "toDecimal", "add1", "floor"], text),
    )


@SETTINGS
@given(a=NUMBER, b=NUMBER, places=st.integers(-3, 4))
def test_arithmetic_matches_go(go_oracle: GoOracle, a: object, b: object, places: int) -> None:
    calls = [
        *unary(["add", "sub", "mul", "max", "min", "maxf", "minf", "addf", "subf", "mulf"], a, b),
        ("round", (a, places), ""),
        ("ceil", (a,), ""),
        ("int64", (a,), ""),
        ("float64", (b,), ""),
        ("toString", (a,), ""),
    ]
    calls_same_as_go(go_oracle, calls)
    calls_same_as_go(go_oracle, [("divf", (a, b), ""), ("div", (a, b), ""), ("mod", (a, b), "")])


JSON_TEXT = st.text(alphabet='{}[]",:0123456789.-+eEtruefalsn \\/u\n\tab', max_size=14)


@SETTINGS
@given(text=JSON_TEXT)
def test_json_decoding_matches_go(go_oracle: GoOracle, text: str) -> None:
    calls_same_as_go(go_oracle, [("fromJson", (text,), "toJson"), ("mustFromJson", (text,), "")])


EXTREME = st.sampled_from([-(2**63), -(2**31), -400, 2**31, 2**63 - 1]) | st.integers(-340, 340)


@SETTINGS
@given(
    value=st.floats(allow_nan=False, allow_infinity=False) | st.integers(-(10**6), 10**6),
    places=EXTREME,
    at=st.sampled_from([0.5, 0.3, 0.0, 1.0]),
    a=EXTREME,
    b=EXTREME,
)
def test_extreme_integer_arguments_match_go(
    go_oracle: GoOracle, value: object, places: int, at: float, a: int, b: int
) -> None:
    text = "héllo wörld abc"
    calls_same_as_go(
        go_oracle, [("round", (value, places), ""), ("round", (value, places, at), "")]
    )
    calls_same_as_go(
        go_oracle,
        [("abbrevboth", (a, b, text), ""), ("abbrev", (a, text), ""), ("trunc", (a, text), "")],
    )
    calls_same_as_go(go_oracle, [("substr", (a, b, text), "")])
    calls_same_as_go(go_oracle, [("slice", ([1, 2, 3], a, b), "")])
