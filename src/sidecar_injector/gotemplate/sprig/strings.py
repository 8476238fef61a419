"""sprig's string functions: case, trimming, slicing, wrapping, quoting.

Go slices and measures strings in UTF-8 bytes, so `trunc`, `substr`, `abbrev`, `wrap`,
`initials` and `nospace` work on bytes here too (see `runes`).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import replace as alias

from .. import printing, strconv, values
from . import cast, runes

MSTRING = "map[string]string"
_NEGATIVE_REPEAT = "strings: negative Repeat count"


def _string_map(parts: list[str]) -> values.Map:
    return values.Map({f"_{i}": part for i, part in enumerate(parts)}, MSTRING, zero="")


@values.func("hello", result="string")
def hello() -> str:
    """sprig's greeting, kept for completeness."""
    return "Hello!"


def _abbreviate(b: bytes, *, offset: int, width: int) -> bytes:
    """goutils `AbbreviateFull` on the bytes; callers have checked the widths."""
    if len(b) <= width:
        return b
    offset = min(offset, len(b))
    if cast.wrap_int64(len(b) - offset) < width - 3:
        offset = len(b) - (width - 3)
    if offset <= 4:
        return b[: width - 3] + b"..."
    if offset + width - 3 < len(b):
        return b"..." + _abbreviate(b[offset:], offset=0, width=width - 3)
    return b"..." + b[len(b) - (width - 3) :]


@values.func("abbrev", "int", "string", result="string")
def abbrev(width: int, s: str) -> str:
    """Shorten to `width` bytes ending in `...`."""
    if width < 4 or not s:
        return s
    return runes.from_bytes(_abbreviate(runes.to_bytes(s), offset=0, width=width))


@values.func("abbrevboth", "int", "int", "string", result="string")
def abbrevboth(left: int, right: int, s: str) -> str:
    """Shorten with `...` on both sides around byte offset `left`."""
    if right < 4 or (left > 0 and right < 7) or not s:
        return s
    return runes.from_bytes(_abbreviate(runes.to_bytes(s), offset=left, width=right))


@values.func("trunc", "int", "string", result="string")
def trunc(count: int, s: str) -> str:
    """The first `count` bytes, or the last `-count` bytes when negative."""
    n = runes.byte_len(s)
    if count < 0 and n + count > 0:
        return runes.byte_slice(s, n + count)
    if count >= 0 and n > count:
        return runes.byte_slice(s, 0, count)
    return s


def _trim_func(s: str, strip: Callable[[str], bool]) -> str:
    start, end = 0, len(s)
    while start < end and strip(s[start]):
        start += 1
    while end > start and strip(s[end - 1]):
        end -= 1
    return s[start:end]


@values.func("trim", "string", result="string")
def trim(s: str) -> str:
    """Go's `strings.TrimSpace`."""
    return _trim_func(s, runes.is_space)


@values.func("upper", "string", result="string")
def upper(s: str) -> str:
    """Go's `strings.ToUpper` (rune by rune, never expanding)."""
    return "".join(map(runes.to_upper, runes.go_runes(s)))


@values.func("lower", "string", result="string")
def lower(s: str) -> str:
    """Go's `strings.ToLower`."""
    return "".join(map(runes.to_lower, runes.go_runes(s)))


def _is_title_separator(ch: str) -> bool:
    """Go's `strings.Title` word boundary test."""
    if ch <= "\x7f":
        return not (ch.isascii() and (ch.isalnum() or ch == "_"))
    if runes.is_letter(ch) or runes.is_digit(ch):
        return False
    return runes.is_space(ch)


@values.func("title", "string", result="string")
def title(s: str) -> str:
    """Go's `strings.Title`: title-case the first letter of each word."""
    out: list[str] = []
    prev = " "
    for ch in runes.go_runes(s):
        out.append(runes.to_title(ch) if _is_title_separator(prev) else ch)
        prev = ch
    return "".join(out)


@values.func("untitle", "string", result="string")
def untitle(s: str) -> str:
    """Lower-case the first letter of each space-separated word."""
    out: list[str] = []
    at_start = True
    for ch in runes.go_runes(s):
        if runes.is_space(ch):
            at_start = True
            out.append(ch)
        elif at_start:
            out.append(runes.to_lower(ch))
            at_start = False
        else:
            out.append(ch)
    return "".join(out)


@values.func("substr", "int", "int", "string", result="string")
def substr(start: int, end: int, s: str) -> str:
    """Bytes `start` to `end`; a negative start means from 0, a bad end means to the end."""
    if start < 0:
        return runes.byte_slice(s, 0, end)
    if end < 0 or end > runes.byte_len(s):
        return runes.byte_slice(s, start)
    return runes.byte_slice(s, start, end)


@values.func("repeat", "int", "string", result="string")
def repeat(count: int, s: str) -> str:
    """`s` repeated; Go panics on a negative count."""
    if count < 0:
        raise values.GoError(_NEGATIVE_REPEAT)
    return s * count


@values.func("trimAll", "string", "string", result="string")
def trim_all(cutset: str, s: str) -> str:
    """Go's `strings.Trim(s, cutset)`: note the argument order."""
    cut = set(runes.go_runes(cutset))
    return _trim_func(runes.go_runes(s), cut.__contains__)


@values.func("trimSuffix", "string", "string", result="string")
def trim_suffix(suffix: str, s: str) -> str:
    """`s` without `suffix`."""
    return s[: -len(suffix)] if suffix and s.endswith(suffix) else s


@values.func("trimPrefix", "string", "string", result="string")
def trim_prefix(prefix: str, s: str) -> str:
    """`s` without `prefix`."""
    return s[len(prefix) :] if s.startswith(prefix) else s


@values.func("nospace", "string", result="string")
def nospace(s: str) -> str:
    """goutils `DeleteWhiteSpace`, which reads each byte as a Latin-1 rune."""
    chars = runes.latin1_runes(s)
    kept = [ch for ch in chars if not runes.is_space(ch)]
    return s if len(kept) == len(chars) else "".join(kept)


@values.func("initials", "string", result="string")
def initials(s: str) -> str:
    """The first byte of each space-separated word, read as a Latin-1 rune (goutils)."""
    out: list[str] = []
    gap = True
    for ch in runes.latin1_runes(s):
        if runes.is_space(ch):
            gap = True
        elif gap:
            out.append(ch)
            gap = False
    return "".join(out)


@values.func("swapcase", "string", result="string")
def swapcase(s: str) -> str:
    """goutils `SwapCase`: upper to lower, lower to upper, title case after whitespace."""
    out: list[str] = []
    after_space = True
    for ch in runes.go_runes(s):
        if runes.is_upper(ch) or runes.is_title(ch):
            out.append(runes.to_lower(ch))
            after_space = False
        elif runes.is_lower(ch):
            out.append(runes.to_title(ch) if after_space else runes.to_upper(ch))
            after_space = False
        else:
            out.append(ch)
            after_space = runes.is_space(ch)
    return "".join(out)


def _wrap(s: str, *, width: int, newline: str, long_words: bool) -> str:
    """goutils `WrapCustom` over the UTF-8 bytes."""
    if not s:
        return ""
    b = runes.to_bytes(s)
    nl = runes.to_bytes(newline or "\n")
    width = max(width, 1)
    out = bytearray()
    offset = 0
    while len(b) - offset > width:
        if b[offset] == 0x20:
            offset += 1
            continue
        space = b.rfind(b" ", offset, width + offset + 1)
        if space >= offset:
            out += b[offset:space] + nl
            offset = space + 1
        elif long_words:
            out += b[offset : offset + width] + nl
            offset += width
        else:
            space = b.find(b" ", offset + width)
            if space == -1:
                out += b[offset:]
                offset = len(b)
            else:
                out += b[offset:space] + nl
                offset = space + 1
    out += b[offset:]
    return runes.from_bytes(bytes(out))


@values.func("wrap", "int", "string", result="string")
def wrap(width: int, s: str) -> str:
    """Word-wrap at `width` bytes, leaving long words whole."""
    return _wrap(s, width=width, newline="\n", long_words=False)


@values.func("wrapWith", "int", "string", "string", result="string")
def wrap_with(width: int, sep: str, s: str) -> str:
    """Word-wrap at `width` bytes with `sep` as the line break, cutting long words."""
    return _wrap(s, width=width, newline=sep, long_words=True)


@values.func("contains", "string", "string", result="bool")
def contains(sub: str, s: str) -> bool:
    """Whether `s` contains `sub`."""
    return sub in s


@values.func("hasPrefix", "string", "string", result="bool")
def has_prefix(prefix: str, s: str) -> bool:
    """Whether `s` starts with `prefix`."""
    return s.startswith(prefix)


@values.func("hasSuffix", "string", "string", result="bool")
def has_suffix(suffix: str, s: str) -> bool:
    """Whether `s` ends with `suffix`."""
    return s.endswith(suffix)


def go_quote(s: str) -> str:
    """Go's `strconv.Quote` (`%q`); it reads lone surrogates as U+FFFD itself."""
    return strconv.quote(s)


def _present(args: Iterable[object]) -> list[object]:
    return [a for a in args if a is not None and a is not values.NO_VALUE]


@values.func("quote", variadic=values.ANY, result="string")
def quote(*args: object) -> str:
    """Each non-nil argument as a Go double-quoted string."""
    return " ".join(go_quote(cast.strval(a)) for a in _present(args))


def _sprint_v(value: object) -> str:
    return printing.format_value(value)


@values.func("squote", variadic=values.ANY, result="string")
def squote(*args: object) -> str:
    """Each non-nil argument in single quotes (no escaping)."""
    return " ".join(f"'{_sprint_v(a)}'" for a in _present(args))


@values.func("cat", variadic=values.ANY, result="string")
def cat(*args: object) -> str:
    """The non-nil arguments printed with `%v`, space-separated."""
    return " ".join(_sprint_v(a) for a in _present(args))


@values.func("indent", "int", "string", result="string")
def indent(spaces: int, s: str) -> str:
    """Every line of `s` indented by `spaces` spaces."""
    return _indent(spaces, s)


def _indent(spaces: int, s: str) -> str:
    if spaces < 0:
        raise values.GoError(_NEGATIVE_REPEAT)
    pad = " " * spaces
    return pad + s.replace("\n", "\n" + pad)


@values.func("nindent", "int", "string", result="string")
def nindent(spaces: int, s: str) -> str:
    """`indent` after a newline."""
    return "\n" + _indent(spaces, s)


@values.func("replace", "string", "string", "string", result="string")
def replace(old: str, new: str, s: str) -> str:
    """Go's `strings.Replace(s, old, new, -1)`; an empty `old` matches between runes."""
    if old:
        return s.replace(old, new)
    chars = runes.go_runes(s)
    return new + "".join(ch + new for ch in chars)


@values.func("plural", "string", "string", "int", result="string")
def plural(one: str, many: str, count: int) -> str:
    """`one` when `count` is 1, otherwise `many`."""
    return one if count == 1 else many


@values.func("toString", values.ANY, result="string")
def to_string(value: object) -> str:
    """sprig's `strval`."""
    return cast.strval(value)


def _go_split(s: str, sep: str, limit: int = -1) -> list[str]:
    """Go's `strings.SplitN`; an empty separator splits into runes."""
    if limit == 0:
        return []
    if sep:
        return s.split(sep, limit - 1) if limit > 0 else s.split(sep)
    chars = list(runes.go_runes(s))
    if 0 < limit < len(chars):
        return [*chars[: limit - 1], "".join(chars[limit - 1 :])]
    return chars


@values.func("split", "string", "string", result=MSTRING)
def split(sep: str, s: str) -> values.Map:
    """The parts of `s` as a map `_0`, `_1`, ..."""
    return _string_map(_go_split(s, sep))


@values.func("splitList", "string", "string", result="[]string")
def split_list(sep: str, s: str) -> values.Slice:
    """The parts of `s` as a list."""
    return values.Slice(_go_split(s, sep), "[]string")


@values.func("splitn", "string", "int", "string", result=MSTRING)
def splitn(sep: str, n: int, s: str) -> values.Map:
    """At most `n` parts of `s` as a map `_0`, `_1`, ..."""
    return _string_map(_go_split(s, sep, n))


def string_list(value: object) -> list[str]:
    """sprig's `strslice`: a list of strings from a slice (nil elements dropped) or a value."""
    items = cast.list_items(value)
    if items is None:
        if value is None or value is values.NO_VALUE:
            return []
        return [cast.strval(value)]
    if isinstance(value, values.Slice) and value.go_type == "[]string":
        return [str(v) for v in items]
    return [cast.strval(v) for v in _present(items)]


@values.func("toStrings", values.ANY, result="[]string")
def to_strings(value: object) -> values.Slice:
    """A list of strings from a list (nil elements dropped) or a single value."""
    return values.Slice(string_list(value), "[]string")


@values.func("join", "string", values.ANY, result="string")
def join(sep: str, value: object) -> str:
    """The elements of a list as strings, joined by `sep`."""
    return sep.join(string_list(value))


FUNCS: list[values.Func] = [
    hello,
    abbrev,
    abbrevboth,
    trunc,
    trim,
    upper,
    lower,
    title,
    untitle,
    substr,
    repeat,
    trim_all,
    alias(trim_all, name="trimall"),
    trim_suffix,
    trim_prefix,
    nospace,
    initials,
    swapcase,
    wrap,
    wrap_with,
    contains,
    has_prefix,
    has_suffix,
    quote,
    squote,
    cat,
    indent,
    nindent,
    replace,
    plural,
    to_string,
    split,
    split_list,
    splitn,
    to_strings,
    join,
]
