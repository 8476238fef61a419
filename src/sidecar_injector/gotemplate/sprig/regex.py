"""sprig's regular expressions: Go's RE2 syntax run on Python's `re`.

Translated: `\\z` (end of text); `$` outside multi-line mode (Go's `$` does not match
before a final newline); POSIX classes (`[[:alpha:]]`, `[[:^alpha:]]`); ASCII-only
`\\d \\w \\s \\b` as in Go, while `(?i)` folds case in all of Unicode; Go's rules for
successive and empty matches in `FindAll`, `ReplaceAll` and `Split`; `$1`/`${name}` in
replacements. Not translated: Unicode classes (`\\pL`, `\\p{Greek}`), which Python's `re`
rejects with an error, and RE2's guaranteed linear time.
"""

from __future__ import annotations

import functools
import re
from collections.abc import Iterator
from dataclasses import replace as alias
from typing import Final

from .. import strconv, values

_POSIX_CLASSES: Final = {
    "alnum": "0-9A-Za-z",
    "alpha": "A-Za-z",
    "ascii": "\\x00-\\x7f",
    "blank": "\\t ",
    "cntrl": "\\x00-\\x1f\\x7f",
    "digit": "0-9",
    "graph": "!-~",
    "lower": "a-z",
    "print": " -~",
    "punct": "!-/:-@\\[-`{-~",
    "space": "\\t\\n\\v\\f\\r ",
    "upper": "A-Z",
    "word": "0-9A-Za-z_",
    "xdigit": "0-9A-Fa-f",
}
_PYTHON_ERRORS: Final = (
    ("missing ), unterminated subpattern", "missing closing )"),
    ("unbalanced parenthesis", "unexpected )"),
    ("unterminated character set", "missing closing ]"),
    ("nothing to repeat", "missing argument to repetition operator"),
    ("multiple repeat", "invalid nested repetition operator"),
    ("bad escape", "invalid escape sequence"),
    ("bad character range", "invalid character class range"),
    ("unknown extension", "invalid or unsupported Perl syntax"),
)


_FLAGS: Final = re.compile(r"\(\?([a-zA-Z]*(?:-[a-zA-Z]*)?)\)")


def _translate(pattern: str) -> str:
    multiline = re.search(r"\(\?[a-zA-Z]*m", pattern) is not None
    out: list[str] = []
    closers = [0]
    i, in_class = 0, False
    while i < len(pattern):
        ch = pattern[i]
        if ch == "\\" and i + 1 < len(pattern):
            out.append(_escape(pattern[i + 1], in_class=in_class))
            i += 2
            continue
        if in_class:
            i = _class_member(pattern, i, out)
            in_class = ch != "]"
            continue
        flags = _FLAGS.match(pattern, i)
        if flags:
            out.append(f"(?{flags.group(1)}:")
            closers[-1] += 1
            i = flags.end()
            continue
        if ch == "[":
            in_class = True
            i = _class_start(pattern, i, out)
            continue
        if ch == "(":
            closers.append(0)
        elif ch == ")" and len(closers) > 1:
            out.append(")" * closers.pop())
        elif ch == "$" and not multiline:
            ch = "(?!(?s:.))"
        out.append(ch)
        i += 1
    out.append(")" * closers[0])
    return "".join(out)


def _class_start(pattern: str, i: int, out: list[str]) -> int:
    """Open a class at `pattern[i]`; a `]` first in the class is a member, as in Go."""
    out.append("[")
    i += 1
    if pattern.startswith("^", i):
        out.append("^")
        i += 1
    if pattern.startswith("]", i):
        out.append("\\]")
        i += 1
    return i


def _class_member(pattern: str, i: int, out: list[str]) -> int:
    """One member of a class (or its closing `]`); the index after it."""
    if pattern.startswith("[:", i):
        end = pattern.find(":]", i + 2)
        name = pattern[i + 2 : end] if end != -1 else ""
        if name.lstrip("^") in _POSIX_CLASSES:
            members = _POSIX_CLASSES[name.lstrip("^")]
            out.append(_complement(members) if name.startswith("^") else members)
            return end + 2
    out.append("\\[" if pattern[i] == "[" else pattern[i])
    return i + 1


_WORD: Final = "0-9A-Za-z_"
_PERL_CLASSES: Final = {"d": "0-9", "w": _WORD, "s": "\\t\\n\\f\\r "}
_BOUNDARIES: Final = {
    "b": f"(?:(?<=[{_WORD}])(?![{_WORD}])|(?<![{_WORD}])(?=[{_WORD}]))",
    "B": f"(?:(?<=[{_WORD}])(?=[{_WORD}])|(?<![{_WORD}])(?![{_WORD}]))",
}


def _escape(letter: str, *, in_class: bool) -> str:
    """A backslash escape with Go's meaning: `\\d \\w \\s \\b` are ASCII-only, `\\z` ends text."""
    members = _PERL_CLASSES.get(letter.lower())
    if members is not None:
        negated = letter.isupper()
        if in_class:
            return _complement(members) if negated else members
        return f"[{'^' if negated else ''}{members}]"
    if not in_class and letter in _BOUNDARIES:
        return _BOUNDARIES[letter]
    if not in_class and letter == "z":
        return "\\Z"
    return "\\" + letter


def _complement(members: str) -> str:
    """Class ranges for every code point outside an ASCII POSIX class (`[:^alpha:]`)."""
    inside = {code for code in range(128) if re.fullmatch(f"[{members}]", chr(code))}
    ranges: list[str] = []
    start: int | None = None
    for code in range(128):
        if code not in inside and start is None:
            start = code
        elif code in inside and start is not None:
            ranges.append(f"\\x{start:02x}-\\x{code - 1:02x}")
            start = None
    ranges.append(f"\\x{0x80 if start is None else start:02x}-\\U0010ffff")
    return "".join(ranges)


@functools.lru_cache(maxsize=256)
def compile_go(pattern: str) -> re.Pattern[str]:
    """`regexp.Compile`; `GoError` with Go's `error parsing regexp: ...` text."""
    translated = _translate(pattern)
    try:
        return re.compile(translated)
    except re.error as exc:
        raise values.GoError(f"error parsing regexp: {_go_error(exc, pattern)}") from exc


def _go_error(exc: re.error, pattern: str) -> str:
    message = str(exc.msg)
    for python, go in _PYTHON_ERRORS:
        if message.startswith(python):
            return f"{go}: `{_fragment(exc, pattern, go)}`"
    return f"{message}: `{pattern}`"


def _fragment(exc: re.error, pattern: str, go: str) -> str:
    """The part of the pattern Go's message quotes."""
    pos = exc.pos or 0
    if go == "missing closing ]":
        return pattern[pattern.rfind("[") :]
    if go == "invalid character class range":
        return str(exc.msg).removeprefix("bad character range ")
    if go == "invalid or unsupported Perl syntax":
        return pattern[max(pos - 1, 0) : pos + 2]
    if go == "invalid nested repetition operator":
        return pattern[max(pos - 1, 0) : pos + 1]
    if go == "invalid escape sequence":
        return pattern[pos : pos + 2]
    if go == "missing argument to repetition operator":
        return pattern[pos : pos + 1]
    return pattern


def _must_compile(pattern: str) -> re.Pattern[str]:
    """`regexp.MustCompile`: its panic text names the pattern."""
    try:
        return compile_go(pattern)
    except values.GoError as exc:
        shown = f"`{pattern}`" if strconv.can_backquote(pattern) else strconv.quote(pattern)
        raise values.GoError(f"regexp: Compile({shown}): {exc}") from exc


def _matches(regex: re.Pattern[str], s: str, limit: int) -> Iterator[re.Match[str]]:
    """Go's successive matches: an empty match right after a match is skipped."""
    pos, count, prev_end = 0, 0, -1
    while (limit < 0 or count < limit) and pos <= len(s):
        match = regex.search(s, pos)
        if match is None:
            return
        start, end = match.span()
        accept = True
        if end == pos:
            accept = start != prev_end
            pos += 1
        else:
            pos = end
        prev_end = end
        if accept:
            count += 1
            yield match


def _expand(template: str, match: re.Match[str]) -> str:
    """Go's `Regexp.Expand`: `$1`, `$name`, `${name}`, `$$`."""
    out: list[str] = []
    i = 0
    while i < len(template):
        ch = template[i]
        if ch != "$":
            out.append(ch)
            i += 1
            continue
        name, i = _reference(template, i + 1)
        if name is None or name == "$":
            out.append("$")
        else:
            out.append(_group(match, name))
    return "".join(out)


def _reference(template: str, i: int) -> tuple[str | None, int]:
    if template.startswith("$", i):
        return "$", i + 1
    if template.startswith("{", i):
        end = template.find("}", i)
        name = template[i + 1 : end] if end != -1 else ""
        if name and re.fullmatch(r"\w+", name, re.ASCII):
            return name, end + 1
        return None, i
    name_match = re.compile(r"\w+", re.ASCII).match(template, i)
    if name_match is None:
        return None, i
    return name_match.group(), name_match.end()


def _group(match: re.Match[str], name: str) -> str:
    try:
        found = match.group(int(name)) if name.isdigit() else match.group(name)
    except IndexError:
        return ""
    return found or ""


def _replace_all(regex: re.Pattern[str], s: str, repl: str, *, literal: bool) -> str:
    out: list[str] = []
    last_end, pos = 0, 0
    while pos <= len(s):
        match = regex.search(s, pos)
        if match is None:
            break
        start, end = match.span()
        out.append(s[last_end:start])
        if end > last_end or start == 0:
            out.append(repl if literal else _expand(repl, match))
        last_end = end
        pos = pos + 1 if pos + 1 > end else end
    out.append(s[last_end:])
    return "".join(out)


def _split(regex: re.Pattern[str], s: str, n: int) -> list[str]:
    if n == 0:
        return []
    if regex.pattern and not s:
        return [""]
    parts: list[str] = []
    begin = end = 0
    for match in _matches(regex, s, n):
        if n > 0 and len(parts) == n - 1:
            break
        end = match.start()
        if match.end() != 0:
            parts.append(s[begin:end])
        begin = match.end()
    if end != len(s):
        parts.append(s[begin:])
    return parts


def _pair(fn: values.Func) -> list[values.Func]:
    """The `must` form reports Go's compile error; the plain one panics with MustCompile's."""

    def plain(pattern: str, *args: object) -> object:
        _must_compile(pattern)
        return fn.fn(pattern, *args)

    must = f"must{fn.name[0].upper()}{fn.name[1:]}"
    return [alias(fn, fn=plain), alias(fn, name=must, returns_error=True)]


@values.func("regexMatch", "string", "string", result="bool")
def regex_match(pattern: str, s: str) -> bool:
    """Whether the pattern matches anywhere in `s`."""
    return compile_go(pattern).search(s) is not None


@values.func("regexFindAll", "string", "string", "int", result="[]string")
def regex_find_all(pattern: str, s: str, n: int) -> values.Slice | values.Nil:
    """Up to `n` matches (all when `n` < 0); nil when there are none."""
    found = [m.group() for m in _matches(compile_go(pattern), s, n)]
    return values.Slice(found, "[]string") if found else values.Nil("[]string")


@values.func("regexFind", "string", "string", result="string")
def regex_find(pattern: str, s: str) -> str:
    """The first match, or `""`."""
    match = compile_go(pattern).search(s)
    return match.group() if match else ""


@values.func("regexReplaceAll", "string", "string", "string", result="string")
def regex_replace_all(pattern: str, s: str, repl: str) -> str:
    """Every match replaced, with `$1` and `${name}` expanded."""
    return _replace_all(compile_go(pattern), s, repl, literal=False)


@values.func("regexReplaceAllLiteral", "string", "string", "string", result="string")
def regex_replace_all_literal(pattern: str, s: str, repl: str) -> str:
    """Every match replaced by `repl` as it is."""
    return _replace_all(compile_go(pattern), s, repl, literal=True)


@values.func("regexSplit", "string", "string", "int", result="[]string")
def regex_split(pattern: str, s: str, n: int) -> values.Slice | values.Nil:
    """`s` cut at the matches, into at most `n` parts (all when `n` < 0; nil when 0)."""
    regex = compile_go(pattern)
    return values.Slice(_split(regex, s, n), "[]string") if n else values.Nil("[]string")


_META: Final = frozenset("\\.+*?()|[]{}^$")


@values.func("regexQuoteMeta", "string", result="string")
def regex_quote_meta(s: str) -> str:
    """`s` with Go's regexp metacharacters escaped."""
    return "".join("\\" + ch if ch in _META else ch for ch in s)


def _quiet_match(pattern: str, s: str) -> bool:
    try:
        return bool(regex_match.fn(pattern, s))
    except values.GoError:
        return False


FUNCS: list[values.Func] = [
    alias(regex_match, fn=_quiet_match),
    alias(regex_match, name="mustRegexMatch", returns_error=True),
    *_pair(regex_find_all),
    *_pair(regex_find),
    *_pair(regex_replace_all),
    *_pair(regex_replace_all_literal),
    *_pair(regex_split),
    regex_quote_meta,
]
