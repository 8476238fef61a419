"""blockyaml against PyYAML (boundedyaml.load): the same value, with the same types and key
order, or `Unsupported`; never a different answer, and never an answer where PyYAML fails.

Texts come from PyYAML's own dumper, from a writer of our own that picks every style the
subset has (and some it refuses) for random trees and tricky scalars, then breaks lines now and
then, and from every template output the embedded config and Istio's kit render. Hand-written
cases pin what must be refused.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any, Literal

import pytest
import yaml
from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st

from sidecar_injector import (
    blockyaml,
    boundedyaml,
    config,
    inject,
    render,
    templatedata,
    workloads,
)
from tests.conftest import KIT, NO_KIT, admission_samples

LIMITS = boundedyaml.Limits(max_bytes=1024 * 1024, max_expanded=4 * 1024 * 1024)
SETTINGS = settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
WHOLE_DOCUMENTS = settings(SETTINGS, max_examples=150)
"""For the tests that draw a whole document each time (their data costs more than the loads)."""
Outcome = Literal["accepted", "refused", "error"]
Draw = Callable[[st.SearchStrategy[Any]], Any]


def same(got: Any, want: Any) -> bool:
    """Equal with the same types all the way down (`True` is not `1`, `1` is not `1.0`), the
    same key order, and floats by their repr (so `nan` equals `nan` and `-0.0` is not `0.0`)."""
    if type(got) is not type(want):
        return False
    if isinstance(got, dict):
        return same(list(got), list(want)) and all(same(got[k], want[k]) for k in got)
    if isinstance(got, list):
        return len(got) == len(want) and all(map(same, got, want))
    if isinstance(got, float):
        return repr(got) == repr(want)
    return bool(got == want)


MEMO = blockyaml.Memo(entries=4096)
"""Shared by every text of this module, so that a block one text read is served to the next
text that holds the same lines: with it, blockyaml must give what it gives without."""


def compare(text: str) -> Outcome:
    """blockyaml's answer is PyYAML's, or it refuses; where PyYAML fails, it refuses. Read
    with the memo, the answer is the same."""
    try:
        want = boundedyaml.load(text, limits=LIMITS, source="test")
    except Exception:  # PyYAML's errors, and the ValueError of `0b_`
        with pytest.raises(blockyaml.Unsupported):
            blockyaml.load(text)
        with pytest.raises(blockyaml.Unsupported):
            blockyaml.load(text, MEMO)
        return "error"
    try:
        got = blockyaml.load(text)
    except blockyaml.Unsupported:
        with pytest.raises(blockyaml.Unsupported):
            blockyaml.load(text, MEMO)
        return "refused"
    assert same(got, want), f"{text!r}\n blockyaml: {got!r}\n PyYAML:    {want!r}"
    remembered = blockyaml.load(text, MEMO)
    assert same(remembered, got), f"{text!r}\n memo: {remembered!r}\n without: {got!r}"
    return "accepted"


# --- PyYAML's dumper ---------------------------------------------------------------------

TRICKY = [
    *("", " ", "  x", "x  ", "a b", "~", "null", "Null", "NULL", "nULL"),
    *("yes", "Yes", "YES", "yES", "no", "NO", "y", "Y", "n", "N", "on", "On", "off", "OFF"),
    *("true", "True", "TRUE", "tRUE", "false", "False"),
    *("0", "00", "-0", "+0", "017", "018", "0o17", "0x1F", "0X1F", "-0x1f", "0b101", "0b_"),
    *("0x_", "1_000", "_1", "1__0", "+12", "-12", "1:20", "-1:20", "1:20:30", "1:60", "01:20"),
    *("1.0", "1.", ".5", "-.5", "1_0.5", "1.0e3", "1.0e+3", "1.0E-3", "1e3", "1e+3", "1:20.5"),
    *(".inf", ".Inf", "-.INF", "+.inf", ".nan", ".NaN", ".NAN", "-.nan", "1.2.3", "0.", "-."),
    *("2001-12-14", "2001-12-14t21:59:43.10-05:00", "2001-12-14 21:59:43.10 -5", "=", "<<"),
    *("-", "--", "---", "...", "- a", "-a", "?", "? a", "?a", ":", ":a", "a:", "a:b", "a: b"),
    *("a #b", "a#b", "#a", " #a", "[]", "{}", "[a]", "{a: b}", "a,b", "a]", "&a", "*a", "!a"),
    *("|", "|-", ">", "'", '"', "''", "'a'", '"a"', "%a", "@a", "`a", "\\", "a\\nb", "a\tb"),
    *("\t", "é", "日本", "😀", "\x85", "\u2028", "\ufeff", "\x7f", "\x00", "\r", "a\nb", "a\n"),
    *("\n", "a\n\nb\n", " a\nb", "a \nb", "a\n ", "x" * 1100),
]
"""Every case of PyYAML's implicit resolvers, the indicators, and characters YAML treats
specially."""

SCALAR_CHARS = st.sampled_from(
    [*"ab xyz019-_.:#,[]{}&*!|>'\"%@`\\?~=<+eE/\t", "é", "😀", "\x85", "\u2028", "\x01", "\r"]
)
TEXT = st.one_of(
    st.sampled_from(TRICKY),
    st.text(SCALAR_CHARS, max_size=12),
    st.text(max_size=8),
    st.from_regex(r"[a-z][a-z0-9.-]{0,10}", fullmatch=True),
)
SCALARS = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(),
    st.floats(),
    TEXT,
)
KEYS = st.one_of(st.from_regex(r"[a-zA-Z][a-zA-Z0-9./-]{0,12}", fullmatch=True), TEXT)


def trees(scalars: st.SearchStrategy[Any], keys: st.SearchStrategy[str]) -> st.SearchStrategy[Any]:
    return st.recursive(
        scalars,
        lambda inner: st.one_of(
            st.lists(inner, max_size=4), st.dictionaries(keys, inner, max_size=4)
        ),
        max_leaves=15,
    )


DOCUMENTS = st.dictionaries(KEYS, trees(SCALARS, KEYS), min_size=1, max_size=5)


@WHOLE_DOCUMENTS
@given(
    document=DOCUMENTS,
    flow=st.sampled_from([False, None]),
    width=st.sampled_from([20, 80, 100_000]),
    indent=st.integers(2, 5),
    unicode=st.booleans(),
    start=st.booleans(),
)
def test_what_pyyaml_dumps(
    document: dict[str, Any], flow: bool | None, width: int, indent: int, unicode: bool, start: bool
) -> None:
    text = yaml.safe_dump(
        document,
        default_flow_style=flow,
        sort_keys=False,
        width=width,
        indent=indent,
        allow_unicode=unicode,
        explicit_start=start,
    )
    event(compare(text))


PLAIN_TEXT = st.from_regex(r"[a-zA-Z/][a-zA-Z0-9./=-]{0,15}( [a-z0-9]{1,5}){0,2}", fullmatch=True)
PLAIN_KEYS = st.from_regex(r"[a-zA-Z][a-zA-Z0-9./-]{0,15}", fullmatch=True)


@WHOLE_DOCUMENTS
@given(
    document=st.dictionaries(
        PLAIN_KEYS,
        trees(st.one_of(st.none(), st.booleans(), st.integers(), PLAIN_TEXT), PLAIN_KEYS),
        min_size=1,
        max_size=5,
    ),
    indent=st.integers(2, 4),
)
def test_plain_block_documents_are_accepted(document: dict[str, Any], indent: int) -> None:
    """The shape of a pod overlay: block style, plain keys, every scalar type."""
    text = yaml.safe_dump(document, default_flow_style=False, sort_keys=False, indent=indent)
    assert compare(text) == "accepted", text


# --- our writer: every style of the subset, and some outside it -------------------------


class Writer:
    """Writes a tree as block YAML, drawing each choice of style: quoting, literal scalars
    with each chomping, flow collections on one line or many, indentless sequences, compact
    `- key: v` items, comments, blank lines; the text need not be valid YAML."""

    def __init__(self, draw: Draw) -> None:
        self.draw = draw

    def choice(self, *options: str) -> str:
        return str(self.draw(st.sampled_from(options)))

    def document(self, tree: dict[str, Any]) -> str:
        lines = self.mapping(tree, indent=0)
        if self.draw(st.booleans()):
            lines.insert(0, self.choice("---", "--- # start", "# a comment", ""))
        return "\n".join(lines) + self.choice("\n", "", "\n\n")

    def mapping(self, tree: dict[str, Any], *, indent: int) -> list[str]:
        lines: list[str] = []
        for key, value in tree.items():
            head = " " * indent + self.scalar(key, context="key") + ":"
            lines += self.entry(head, value, indent=indent, in_mapping=True)
            if self.draw(st.integers(0, 9)) == 0:
                lines.append(" " * self.draw(st.integers(0, indent + 2)) + "# comment: x")
            if self.draw(st.integers(0, 9)) == 0:
                lines.append(" " * self.draw(st.integers(0, 3)))
        return lines

    def sequence(self, items: list[Any], *, indent: int) -> list[str]:
        lines: list[str] = []
        for item in items:
            gap = self.draw(st.integers(1, 3))
            if isinstance(item, (dict, list)) and item and self.draw(st.booleans()):
                inner = (
                    self.mapping(item, indent=indent + 1 + gap)
                    if isinstance(item, dict)
                    else self.sequence(item, indent=indent + 1 + gap)
                )
                inner[0] = " " * indent + "-" + inner[0][indent + 1 :]
                lines += inner
            else:
                lines += self.entry(" " * indent + "-", item, indent=indent, in_mapping=False)
        return lines

    def entry(self, head: str, value: Any, *, indent: int, in_mapping: bool) -> list[str]:
        deeper = indent + self.draw(st.integers(1, 4))
        if isinstance(value, dict) and value:
            if self.scalars_only(value) and self.draw(st.booleans()):
                return self.flow(head, value, indent=indent)
            return [head, *self.mapping(value, indent=deeper)]
        if isinstance(value, list) and value:
            if self.scalars_only(value) and self.draw(st.booleans()):
                return self.flow(head, value, indent=indent)
            own = indent if in_mapping and self.draw(st.booleans()) else deeper
            return [head, *self.sequence(value, indent=own)]
        if isinstance(value, str) and "\n" in value and self.draw(st.booleans()):
            return self.literal(head, value, indent=deeper)
        if isinstance(value, (dict, list)):
            text = "{}" if isinstance(value, dict) else "[]"
        else:
            text = self.scalar(value, context="value")
        comment = self.choice("", "", "", " # note", "  #: x")
        return [f"{head} {text}{comment}"]

    def scalars_only(self, value: dict[str, Any] | list[Any]) -> bool:
        values = value.values() if isinstance(value, dict) else value
        return not any(isinstance(v, (dict, list)) for v in values)

    def flow(self, head: str, value: dict[str, Any] | list[Any], *, indent: int) -> list[str]:
        if isinstance(value, dict):
            parts = [
                f"{self.scalar(k, context='flow')}: {self.scalar(v, context='flow')}"
                for k, v in value.items()
            ]
            opening, closing = "{", "}"
        else:
            parts = [self.scalar(v, context="flow") for v in value]
            opening, closing = "[", "]"
        trailing = self.choice("", ",")
        if self.draw(st.booleans()):
            return [f"{head} {opening}{', '.join(parts)}{trailing}{closing}"]
        inner = " " * (indent + self.draw(st.integers(0, 3)))
        body = [f"{inner}{part}," for part in parts]
        body[-1] = body[-1][:-1] + trailing
        return [f"{head} {opening}", *body, " " * indent + closing]

    def literal(self, head: str, value: str, *, indent: int) -> list[str]:
        chomp = self.choice("", "-", "+")
        body = value[:-1] if value.endswith("\n") else value
        lines = [f"{head} |{chomp}"]
        lines += [" " * indent + line if line else "" for line in body.split("\n")]
        lines += [""] * self.draw(st.integers(0, 2))
        return lines

    def scalar(self, value: Any, *, context: Literal["key", "value", "flow"]) -> str:
        if value is None:
            return self.choice("~", "null", "Null", "NULL", "" if context == "value" else "~")
        if isinstance(value, bool):
            words = ("true", "True", "yes", "On") if value else ("false", "FALSE", "no", "off")
            return self.choice(*words)
        if isinstance(value, int):
            return self.choice(
                str(value), hex(value), f"0{value:o}", f"{value:_}", f"{value // 60}:{value % 60}"
            )
        if isinstance(value, float):
            return self.choice(repr(value), f"{value:.3f}", f"{value:e}")
        tame = re.fullmatch(r"[A-Za-z0-9/][A-Za-z0-9 ./_=-]*", value) is not None
        style = self.choice(
            "plain", "plain", "single", "double", "escaped", *["single"] * 5 * (not tame)
        )
        if style == "plain":
            return str(value)
        if style == "single":
            return "'" + str(value).replace("'", "''") + "'"
        return '"' + "".join(self.escape(char, always=style == "escaped") for char in value) + '"'

    def escape(self, char: str, *, always: bool) -> str:
        named = {"\\": "\\\\", '"': '\\"', "\n": "\\n", "\t": "\\t", "\x00": "\\0", "/": "\\/"}
        if char in named and (always or char in '\\"\n'):
            return named[char]
        if always or not char.isprintable():
            form = self.choice("x", "u", "U") if ord(char) < 0x100 else self.choice("u", "U")
            width = {"x": 2, "u": 4, "U": 8}[form]
            if ord(char) >= 16**width:
                form, width = "U", 8
            return f"\\{form}{ord(char):0{width}X}"
        return char


WRITTEN_TEXT = st.one_of(
    st.sampled_from(TRICKY),
    st.text(SCALAR_CHARS.filter(lambda char: char.isprintable() or char == "\t"), max_size=12),
    st.text(st.characters(blacklist_categories=("Cc", "Cs", "Zl", "Zp")), max_size=8),
    PLAIN_TEXT,
    PLAIN_TEXT,
)
WRITTEN_KEYS = st.one_of(PLAIN_KEYS, PLAIN_KEYS, WRITTEN_TEXT)
WRITTEN = st.dictionaries(
    WRITTEN_KEYS,
    trees(
        st.one_of(st.none(), st.booleans(), st.integers(), st.floats(), WRITTEN_TEXT), WRITTEN_KEYS
    ),
    min_size=1,
    max_size=5,
)
"""Trees whose scalars are mostly printable and often plain, so that many texts are valid."""


@st.composite
def written(draw: Draw) -> str:
    tree = draw(WRITTEN)
    text: str = Writer(draw).document(tree)
    return text


@st.composite
def broken(draw: Draw) -> str:
    """A written text with one line changed the way a template goes wrong."""
    lines = draw(written()).split("\n")
    at = draw(st.integers(0, len(lines) - 1))
    line = lines[at]
    change = draw(
        st.sampled_from(["indent", "dedent", "tab", "trailing", "duplicate", "end", "join"])
    )
    if change == "indent":
        lines[at] = " " + line
    elif change == "dedent":
        lines[at] = line[1:] if line.startswith(" ") else line
    elif change == "tab":
        cut = draw(st.integers(0, len(line)))
        lines[at] = line[:cut] + "\t" + line[cut:]
    elif change == "trailing":
        lines[at] = line + draw(st.sampled_from(["  ", " #", ":", " x", "\t", ",", "}", "]"]))
    elif change == "duplicate":
        lines.insert(at, line)
    elif change == "end":
        lines.insert(at, draw(st.sampled_from(["...", "---", "--- x", "%YAML 1.1"])))
    elif at + 1 < len(lines):
        lines[at : at + 2] = [line + " " + lines[at + 1].lstrip(" ")]
    return "\n".join(lines)


@WHOLE_DOCUMENTS
@given(text=written())
def test_what_our_writer_writes(text: str) -> None:
    event(compare(text))


@WHOLE_DOCUMENTS
@given(text=broken())
def test_broken_texts(text: str) -> None:
    event(compare(text))


FRAGMENTS = [
    *("a: 1", "b:", "c: x y", "d: 'q'", 'e: "r\\ts"', "f: [1, x]", "g: {}", "h: ~ # c"),
    *("- 1", "-", "- a: 2", "- - 3", "-   b: 4", "- |", "- {a: 5}", "- # c", "-  - c: 6"),
    *("i: |", "j: |-", "k: |+", "l: |2", "text", " more text", "# c", "", " ", "---", "..."),
    *("m: {", "n: 7,", '"o": p,', "}", "}  # c", "q: [", "r,", "s", "]", "t: u: v", "w :x"),
]
"""Lines from which random texts are put together at random indentations: structure more
than content, to reach the corners of indentation, item, literal and flow handling."""


@SETTINGS
@given(
    lines=st.lists(
        st.tuples(
            st.sampled_from([0, 0, 0, 2, 2, 2, 4, 4, 1, 3, 5, 6]), st.sampled_from(FRAGMENTS)
        ),
        max_size=14,
    ),
    end=st.sampled_from(["\n", ""]),
)
def test_lines_put_together(lines: list[tuple[int, str]], end: str) -> None:
    event(compare("\n".join(" " * indent + line for indent, line in lines) + end))


@SETTINGS
@given(
    key=TEXT,
    value=TEXT,
    quote=st.sampled_from(["", "'", '"']),
    form=st.sampled_from(["{k}: {v}", "- {v}", "- {k}: {v}", "{k}: [{v}]", "{k}: {{{k}: {v}}}"]),
)
def test_tricky_scalars_in_place(key: str, value: str, quote: str, form: str) -> None:
    """Each tricky text, verbatim or quoted without escaping, as key, value, item, flow entry."""
    line = form.format(k=key, v=f"{quote}{value}{quote}")
    event(compare(f"root:\n  {line}\n"))
    event(compare(f"{line}\n"))


@SETTINGS
@given(
    chars=st.lists(st.characters(codec="utf-8") | st.sampled_from(list("\\\"'")), max_size=10),
    escapes=st.lists(
        st.sampled_from(
            [
                *("\\0", "\\a", "\\b", "\\t", "\\n", "\\v", "\\f", "\\r", "\\e", "\\ ", '\\"'),
                *("\\/", "\\\\", "\\N", "\\_", "\\L", "\\P", "\\'", "\\q", "\\x4", "\\x41"),
                *("\\xzz", "\\u00e9", "\\u00E9", "\\ud800", "\\U0001F600", "\\U00110000"),
                *("\\u+123", "\\x-1", "\\U0000_041", "\\"),
            ]
        ),
        max_size=4,
    ),
)
def test_double_quoted_escapes(chars: list[str], escapes: list[str]) -> None:
    body = "".join(chars[: len(chars) // 2] + escapes + chars[len(chars) // 2 :])
    event(compare(f'a: "{body}"\n'))


# --- real template outputs ---------------------------------------------------------------


def _kit_texts() -> Iterator[tuple[str, str]]:
    """(suite, text) for every template each kit case's config renders for its pods."""
    for suite in ("modern", "legacy-1.0"):
        manifest = KIT / suite / "cases" / "manifest.json"
        if not manifest.exists():
            continue
        for case in json.loads(manifest.read_text()):
            if case.get("golden"):
                settings_ = _case_settings(suite, case)
                text = (KIT / suite / "cases" / case["input"]).read_text()
                for template in workloads.iter_pod_templates(text):
                    injected = inject.inject_pod(
                        template.pod, namespace=template.namespace or "default", config=settings_
                    )
                    yield from ((suite, r.text) for r in injected.rendered)


def _case_settings(suite: str, case: dict[str, Any]) -> config.Config:
    def path(name: str) -> Path:
        own = KIT / suite / "cases" / str(case.get("settings_dir")) / name
        return own if case.get("settings_dir") and own.exists() else KIT / suite / "config" / name

    return config.load_files(
        config=path("config.yaml"),
        values=path("values.json"),
        mesh=path("mesh.yaml"),
        env=case.get("env") or {},
    )


def _default_texts() -> Iterator[str]:
    """What the embedded config renders for the admission samples, in two namespaces."""
    default = config.load_default()
    for sample in admission_samples():
        pod = json.loads(sample.read_bytes())["request"]["object"]
        for namespace in ("default", "shop"):
            injected = inject.inject_pod(pod, namespace=namespace, config=default)
            yield from (r.text for r in injected.rendered)


def test_the_embedded_config_renders_what_blockyaml_reads() -> None:
    texts = set(_default_texts())
    assert texts
    assert all(compare(text) == "accepted" for text in texts)


@pytest.mark.skipif(not KIT.is_dir(), reason=NO_KIT)
def test_istios_templates_render_what_blockyaml_reads() -> None:
    """Every output of Istio's modern templates is read by blockyaml; of the 1.0 templates,
    which write a multi-line plain scalar for some pods, every other one."""
    outcomes: dict[str, dict[str, list[str]]] = {"modern": {}, "legacy-1.0": {}}
    for suite, text in dict.fromkeys(_kit_texts()):
        outcomes[suite].setdefault(compare(text), []).append(text)
    assert set(outcomes["modern"]) == {"accepted"}
    assert set(outcomes["legacy-1.0"]) <= {"accepted", "refused"}
    assert all("\n      " in text for text in outcomes["legacy-1.0"].get("refused", []))
    assert len(outcomes["legacy-1.0"]["accepted"]) >= 5


# --- what the subset holds, and what it refuses ------------------------------------------

ACCEPTED = {
    "indentless": ("a:\n- 1\n- x\nb: 2\n", {"a": [1, "x"], "b": 2}),
    "compact": ("x:\n- a: 1\n  b:\n  - c\n  d: 2\n-   e: f\n", None),
    "nested-items": (
        "a:\n  - - x\n    - y\n  -\n    b: c\n  -\n",
        {"a": [["x", "y"], {"b": "c"}, None]},
    ),
    "literal": ("a: |\n  x\n\n    y\n\n\nb: 1\n", {"a": "x\n\n  y\n", "b": 1}),
    "literal-strip": ("a: |-\n  x\n\nb: 1\n", {"a": "x", "b": 1}),
    "literal-keep": ("a: |+\n  x\n\n   \nb: 1\n", {"a": "x\n\n \n", "b": 1}),
    "literal-at-end": ("a: |+\n  x\n  ", {"a": "x\n"}),
    "literal-leading-blank": ("a: |\n\n  # not a comment\n", {"a": "\n# not a comment\n"}),
    "escapes": ('a: "\\x41\\u00e9\\t\\/\\"\\\\\\N"\n', {"a": 'Aé\t/"\\\x85'}),
    "single": ("a: 'it''s # not: a comment'\n", {"a": "it's # not: a comment"}),
    "quoted-key": ("\"a: b\": 1\n'c': 2\n", {"a: b": 1, "c": 2}),
    "literal-header-comment": ("a: |- # c\n  x\nb: |+  #\n  y\n", {"a": "x", "b": "y\n"}),
    "comments": ("# top\n---  # start\na: 1 # one\n  # deeper\nb: x#y\n", None),
    "flow": (
        'a: {\n    x: "1",\n\n    y: 2,\n  }\nb: [1, \'q\', "r"]\nc: []\nd: {} # e\n',
        {"a": {"x": "1", "y": 2}, "b": [1, "q", "r"], "c": [], "d": {}},
    ),
    "resolution": (
        "a: [yes, No, on, OFF, y, ~, null, '', 0x1f, 017, 1_000, .inf, 1.0e+3, 1e3, 0o7]\n"
        "b: 1:20\nc: -1_0:2_0.5\nd: 0b1_0\ne: -.NaN\nf: +12\ng: 1.\nh: .5\ni: 1e+3\n",
        None,
    ),
    "timestamp": ("a: 2001-12-14\nb: 2001-12-14 21:59:43.10 -5\n", None),
    "comment-after-indicator": (
        "a: # c\n  b: 1\nc:\n- # d\n  e: 2\n-  # f\n",
        {"a": {"b": 1}, "c": [{"e": 2}, None]},
    ),
    "indented-root": ("  a: 1\n  b:\n  - 2\n", {"a": 1, "b": [2]}),
    "comment-items": ("a:\n- #: x\n- b #: c\n", {"a": [None, "b"]}),
    "empty": ("# only a comment\n\n", None),
    "marker-only": ("---\n", None),
}


@pytest.mark.parametrize(("text", "value"), ACCEPTED.values(), ids=ACCEPTED)
def test_the_subset(text: str, value: Any) -> None:
    assert compare(text) == "accepted"
    if value is not None:
        assert same(blockyaml.load(text), value)


REFUSED = {
    "anchor-alias": "a: &x 1\nb: *x\n",
    "tag": "a: !!str 1\n",
    "local-tag": "a: !x 1\n",
    "folded": "a: >\n  x\n",
    "multi-line-plain": "a: b\n  c\n",
    "multi-line-plain-item": "- a\n  - b\n",
    "multi-line-double": 'a: "b\n  c"\n',
    "multi-line-single": "a: 'b\n  c'\n",
    "line-continuation": 'a: "b\\\n  c"\n',
    "complex-key": "? a\n: b\n",
    "tab-indent": "a:\n\tb: 1\n",
    "tab-separator": "a:\tb\n",
    "tab-in-value": "a: b\tc\n",
    "duplicate-key": "a: 1\na: 2\n",
    "directive": "%YAML 1.1\n---\na: 1\n",
    "document-end": "a: 1\n...\n",
    "two-documents": "a: 1\n---\nb: 2\n",
    "root-sequence": "- a\n",
    "root-scalar": "a\n",
    "root-flow": "{a: 1}\n",
    "indentation-indicator": "a: |2\n  x\n",
    "empty-literal": "a: |\nb: 1\n",
    "literal-blank-deeper": "a: |\n    \n  x\n",
    "escape-unknown": 'a: "\\q"\n',
    "escape-quote": 'a: "\\\'"\n',
    "escape-surrogate": 'a: "\\ud800"\n',
    "int-key": "1: a\n",
    "bool-key": "yes: a\n",
    "null-key": "~: a\n",
    "merge-key": "<<: {a: 1}\n",
    "value-tag": "a: =\n",
    "merge-value": "a: <<\n",
    "bad-binary": "a: 0b_\n",
    "nested-flow": "a: [b, [c]]\n",
    "flow-comment": "a: {b: 1, # c\n  c: 2}\n",
    "flow-plain-colon": "a: {b: x:1}\n",
    "flow-json-key": 'a: {"b":1}\n',
    "unclosed-flow": "a: [b, c\n",
    "bom": "\ufeffa: 1\n",
    "crlf": "a: 1\r\nb: 2\r\n",
    "nel": "a: 1\x85b: 2\n",
    "line-separator": "a: 1\u2028b: 2\n",
    "control": "a: \x01\n",
    "dash-value": "a: -\n",
    "mapping-in-value": "a: b: c\n",
    "text-after-quote": "a: 'x' y\n",
    "scalar-line": "a:\n  b\n",
    "deeper-key": "a: 1\n  b: 2\n",
    "question-plain": "a: ?x\n",
    "key-space-colon": "a : b\n",
    "long-key": "k" * 1001 + ": v\n",
    "long-flow-key": "a: {" + "k" * 1030 + ": v}\n",
    "deep": "".join(" " * i + "a:\n" for i in range(blockyaml.MAX_DEPTH + 2)),
}


@pytest.mark.parametrize("text", REFUSED.values(), ids=REFUSED)
def test_refused(text: str) -> None:
    with pytest.raises(blockyaml.Unsupported):
        blockyaml.load(text)
    compare(text)


def test_render_reads_the_rest_with_pyyaml() -> None:
    """A template that writes an anchor and an alias still renders what PyYAML reads."""
    template = "metadata:\n  labels: &labels\n    app: x\n  annotations: *labels\n"
    indented = "".join(f"    {line}\n" for line in template.splitlines())
    current = config.load(config=f"policy: enabled\ntemplates:\n  sidecar: |\n{indented}")
    data = templatedata.build(
        {"metadata": {"name": "p"}, "spec": {}}, config=current, namespace="ns"
    )
    (rendered,) = render.render(data, injection=current.injection, names=("sidecar",))
    labels = {"app": "x"}
    assert rendered.overlay == {"metadata": {"labels": labels, "annotations": labels}}


# --- the memo -------------------------------------------------------------------------------

CONTAINER = """\
  - name: {name}
    image: proxy
    env:
    - name: LABELS
      value: "{labels}"
    - name: MODE
      value: REDIRECT
    resources:
      limits:
        cpu: "2"
"""


def test_a_memo_serves_the_blocks_a_new_text_shares() -> None:
    """Two pods' texts differ in one env value: the second text's unchanged blocks are the
    very objects read for the first, and its answer is what a fresh read gives."""
    memo = blockyaml.Memo()
    first_text = "spec:\n  containers:\n" + CONTAINER.format(name="proxy", labels="a=1")
    second_text = "spec:\n  containers:\n" + CONTAINER.format(name="proxy", labels="a=2")
    first = blockyaml.load(first_text, memo)
    second = blockyaml.load(second_text, memo)
    assert same(second, blockyaml.load(second_text))
    old, new = first["spec"]["containers"][0], second["spec"]["containers"][0]
    assert new is not old
    assert new["env"][0] is not old["env"][0]
    assert new["env"][1] is old["env"][1]
    assert new["resources"] is old["resources"]


@pytest.mark.parametrize(
    "texts",
    [
        ("a:\n- b: [1,\n2]\n", "a:\n- b: [1,\n3]\n"),
        ("a:\n  b: {k: 1,\nj: 2}\n", "a:\n  b: {k: 1,\nj: 3}\n"),
        ("a:\n- b: |\n    x", "a:\n- b: |\n    x\n- c"),
        ("a:\n- b: |+\n    x\n\n", "a:\n- b: |+\n    x\n\n- c"),
        ("a:\n- b: 1\n# note\n  c: 2\n", "a:\n- b: 1\n# note\n  c: 3\n"),
        ("a:\n  - - b: 1\n    - c\n", "a:\n- - b: 1\n  - c\n"),
    ],
    ids=["flow-item", "flow-value", "literal-at-end", "kept-literal", "comment", "nested-items"],
)
def test_a_memo_never_serves_a_block_that_reads_differently(texts: tuple[str, str]) -> None:
    """Lines alike whose meaning depends on what follows them (a flow collection goes on
    unindented, a literal scalar at the end of the text keeps no line break) or on where they
    are: each text read after the other with one memo gives what it gives alone."""
    memo = blockyaml.Memo()
    for text in (*texts, *reversed(texts)):
        assert same(blockyaml.load(text, memo), blockyaml.load(text)), text
        assert compare(text) == "accepted"


def test_a_memo_is_bounded() -> None:
    memo = blockyaml.Memo(entries=8, max_text=64)
    for index in range(50):
        blockyaml.load(f"a:\n- b: {index}\n  c: x\n", memo)
    assert len(memo) == 8
    long_item = "a:\n- b: " + "x" * 100 + "\n  c: 1\n"
    blockyaml.load(long_item, memo)
    assert all(len(key[-1]) <= 64 for key in memo._blocks)
