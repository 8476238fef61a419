"""The block YAML that injection templates render, read fast and exactly, or refused.

A new pod renders a text no cache has seen, and PyYAML (libyaml events, then its Python
composer, resolver and constructor) spends more on it than the rest of the injection. This
reader covers what templates write: block mappings and sequences by indentation, one-line plain
and quoted scalars, flow collections of such scalars (Istio writes its annotations so), literal
block scalars and comments. It gives exactly what `boundedyaml.load` gives (PyYAML's YAML 1.1
resolution, with its own regexes; timestamps stay strings), or raises `Unsupported` for anything
else, and the caller then asks PyYAML, whose answers, errors and budgets stay the reference.
Refusing costs only time; a different answer would change the patch, so every doubt refuses.
PyYAML's loader also leaves reference cycles for the garbage collector, which this one does not.
"""

from __future__ import annotations

import re
import threading
from typing import Any, Final

import yaml

JSON = Any

MAX_DEPTH: Final = 64
"""Nesting refused beyond this (real pods nest about 12 deep), before recursion gets costly."""
MAX_KEY: Final = 1000
"""libyaml refuses an implicit key longer than 1024 characters."""

RESOLVED_SIZE: Final = 1024
RESOLVED_MAX_TEXT: Final = 64
"""The resolved values of the short plain scalars PyYAML would resolve by regex (`name`,
`false`, `15020`: the same few in every text) are kept, up to this many."""

_INDICATORS: Final = frozenset("-?:,[]{}#&*!|>'\"%@`")
_ESCAPES: Final = {
    "0": "\x00",
    "a": "\x07",
    "b": "\x08",
    "t": "\t",
    "n": "\n",
    "v": "\x0b",
    "f": "\x0c",
    "r": "\r",
    "e": "\x1b",
    " ": " ",
    '"': '"',
    "/": "/",
    "\\": "\\",
    "N": "\x85",
    "_": "\xa0",
    "L": "\u2028",
    "P": "\u2029",
}
_FLOW_STOPS: Final = frozenset(" ,[]{}:#")
_HEX_ESCAPES: Final = {"x": 2, "u": 4, "U": 8}
_HEX_DIGITS: Final = frozenset("0123456789abcdefABCDEF")
_BOOLS: Final = {"yes": True, "no": False, "true": True, "false": False, "on": True, "off": False}
_ASCII: Final = bytes([9, 10, *range(0x20, 0x7F)])
_REFUSED: Final = re.compile(
    "[^\t\n\x20-\x7e\xa0-\u2027\u202a-\ud7ff\ue000-\ufefe\uff00-\ufffd\U00010000-\U0010ffff]"
)
"""What libyaml refuses (control characters, surrogates that PyYAML cannot encode for it) and
what this reader does (line breaks other than `\\n`: YAML 1.1 has `\\r`, NEL, LS and PS; a
byte-order mark); `_ASCII` is the same for ASCII text, whose bytes `translate` checks fast."""


MEMO_ENTRIES: Final = 512
MEMO_MAX_TEXT: Final = 4096
"""A `Memo` keeps this many blocks of at most this many characters: about 2 MB of text."""

_RESOLVED: dict[str, JSON] = {}
_UNKNOWN: Final = object()


class Unsupported(Exception):
    """YAML outside what this reader covers: the caller parses the text with PyYAML."""


def _resolvers() -> dict[str, list[tuple[str, re.Pattern[str]]]]:
    """PyYAML's implicit resolvers by first character, the table its loaders consult."""
    table: dict[Any, list[tuple[str, re.Pattern[str]]]]
    table = yaml.resolver.Resolver.yaml_implicit_resolvers
    if table.get(None):
        raise ImportError("PyYAML resolves some scalars whatever their first character")
    return {key: list(value) for key, value in table.items() if isinstance(key, str)}


_RESOLVERS: Final = _resolvers()


class Memo:
    """The blocks read before, by their exact lines: a new pod renders a text that differs from
    the last pod's in a line or two (a label, a port), so most of its blocks (a container, an
    env entry, a volume) were read already. Bounded: past `entries`, the oldest block goes (a
    block still in use is read again once, which costs less than keeping an order per read).

    What it returns is shared by every text that held the same block: whoever loads with a memo
    must copy the result before changing any of it."""

    def __init__(self, entries: int = MEMO_ENTRIES, max_text: int = MEMO_MAX_TEXT) -> None:
        self.entries = entries
        self.max_text = max_text
        self._blocks: dict[tuple[str, int, int, bool, str], JSON] = {}
        self._lock = threading.Lock()

    def __len__(self) -> int:
        return len(self._blocks)

    def get(self, key: tuple[str, int, int, bool, str]) -> JSON:
        return self._blocks.get(key, _UNKNOWN)

    def put(self, key: tuple[str, int, int, bool, str], value: JSON) -> None:
        with self._lock:
            blocks = self._blocks
            blocks[key] = value
            if len(blocks) > self.entries:
                del blocks[next(iter(blocks))]


def load(text: str, memo: Memo | None = None) -> JSON:
    """The document in `text` as `boundedyaml.load` would give it, when `text` is block YAML
    whose root is a mapping (or has no content); raises `Unsupported` otherwise. With `memo`,
    blocks read before are not read again, and the result shares them (see `Memo`)."""
    if text.encode().translate(None, _ASCII) if text.isascii() else _REFUSED.search(text):
        raise Unsupported("a character outside the subset")
    reader = _Reader(text, memo)
    at = reader.skip_document_start()
    if at >= reader.count:
        return None
    if _is_item(reader.contents[at]):
        raise Unsupported("the root is not a block mapping")
    document = reader.mapping(reader.indents[at], 0)
    if reader.next_content() < reader.count:
        raise Unsupported("a line less indented than the root")
    return document


class _Reader:
    """The lines of one text: the raw ones for literal scalars, and each line's indentation and
    stripped content for the structure (a `- key: v` line becomes `key: v` further in)."""

    def __init__(self, text: str, memo: Memo | None = None) -> None:
        self.text = text
        self.raw = raw = text.split("\n")
        self.memo = memo
        self.count = len(raw)
        self.pos = 0
        indents: list[int] = []
        contents: list[str] = []
        starts: list[int] = []
        start = 0
        for line in raw:
            size = len(line)
            indent = 0
            while indent < size and line[indent] == " ":
                indent += 1
            end = size
            while end > indent and line[end - 1] == " ":
                end -= 1
            indents.append(indent)
            contents.append(line[indent:end] if indent or end < size else line)
            starts.append(start)
            start += size + 1
        starts.append(start)
        self.indents = indents
        self.contents = contents
        self.starts = starts
        """Where each line starts in `text`, and where a line after the last would."""

    def next_content(self) -> int:
        """The next line with content (not blank, not a comment), from `pos`."""
        pos = self.pos
        contents = self.contents
        while pos < self.count:
            content = contents[pos]
            if content and content[0] != "#":
                if "\t" in content:
                    raise Unsupported("a tab outside a literal scalar")
                if self.indents[pos] == 0 and (content[:3] == "---" or content[:3] == "..."):
                    raise Unsupported("a document marker")
                break
            pos += 1
        self.pos = pos
        return pos

    def skip_document_start(self) -> int:
        """Past a leading `---` line, at the first line with content."""
        pos = self.pos
        contents = self.contents
        while pos < self.count and (not contents[pos] or contents[pos][0] == "#"):
            pos += 1
        if pos < self.count and self.indents[pos] == 0 and contents[pos][:3] == "---":
            rest = contents[pos][3:].lstrip(" ")
            if rest and (rest[0] != "#" or contents[pos][3] != " "):
                raise Unsupported("content on the `---` line")
            pos += 1
        self.pos = pos
        return self.next_content()

    def block(self, col: int, depth: int) -> JSON:
        """The mapping or sequence whose first line, at `pos`, is indented `col`."""
        if depth > MAX_DEPTH:
            raise Unsupported("nesting too deep")
        if _is_item(self.contents[self.pos]):
            return self.sequence(col, depth)
        return self.mapping(col, depth)

    def remembered(self, kind: str, col: int, depth: int) -> JSON:
        """The block at `pos` (a sequence item's, `kind` "-", or a key's nested value, ":")
        that ends before the next line indented `col` or less, from the memo when its lines
        were read before at this depth and place. A block read on into a later line (a flow
        collection's lines need no indentation) is not remembered."""
        memo = self.memo
        pos = self.pos
        if memo is None:
            return self.block(self.indents[pos], depth)
        end = self.block_end(pos, col)
        start, stop = self.starts[pos], self.starts[end] - 1
        if stop - start > memo.max_text:
            return self.block(self.indents[pos], depth)
        key = (kind, col, depth, end >= self.count, self.text[start:stop])
        value = memo.get(key)
        if value is not _UNKNOWN:
            self.pos = end
            return value
        value = self.block(self.indents[pos], depth)
        if self.pos == end:
            memo.put(key, value)
        return value

    def block_end(self, pos: int, col: int) -> int:
        """The first line after `pos` with content (not blank, not a comment) indented `col` or
        less: where the block that starts at `pos` ends."""
        indents = self.indents
        contents = self.contents
        end = pos + 1
        while end < self.count:
            content = contents[end]
            if content and indents[end] <= col and content[0] != "#":
                return end
            end += 1
        return end

    def mapping(self, col: int, depth: int) -> dict[str, JSON]:
        result: dict[str, JSON] = {}
        while True:
            pos = self.next_content()
            if pos >= self.count or self.indents[pos] < col:
                return result
            if self.indents[pos] > col:
                raise Unsupported("a line indented deeper than its mapping's keys")
            content = self.contents[pos]
            end = _key_end(content)
            if end < 0:
                raise Unsupported("a line in a mapping that is not `key: value`")
            key = _key(content, end)
            if key in result:
                raise Unsupported("a duplicate key")
            self.pos = pos + 1
            result[key] = self.value(content[end + 1 :], col=col, depth=depth, in_mapping=True)

    def sequence(self, col: int, depth: int) -> list[JSON]:
        result: list[JSON] = []
        while True:
            pos = self.next_content()
            if pos >= self.count or self.indents[pos] < col:
                return result
            if self.indents[pos] > col:
                raise Unsupported("a line indented deeper than its sequence's items")
            content = self.contents[pos]
            if not _is_item(content):
                return result
            rest = content[1:]
            item = rest.lstrip(" ")
            if item and item[0] not in "#{[" and (_is_item(item) or _key_end(item) >= 0):
                self.indents[pos] = col + len(content) - len(item)
                self.contents[pos] = item
                result.append(self.remembered("-", col, depth + 1))
            else:
                self.pos = pos + 1
                result.append(self.value(rest, col=col, depth=depth, in_mapping=False))

    def value(self, rest: str, *, col: int, depth: int, in_mapping: bool) -> JSON:
        """The node after `key:` or `-` (`rest`, the line's remainder) in a collection at `col`;
        `pos` is at the next line."""
        text = rest.lstrip(" ")
        if not text or text[0] == "#":
            return self.nested(col, depth=depth, in_mapping=in_mapping)
        first = text[0]
        if first == "|":
            return self.literal(text, col)
        if first == "{" or first == "[":
            return self.flow(text)
        if first == '"' or first == "'":
            scalar, end = _quoted(text, 0)
            if end < len(text) and (text[end] != " " or text[end:].lstrip(" ")[0] != "#"):
                raise Unsupported("text after a quoted scalar")
            return scalar
        return _plain_value(text)

    def flow(self, text: str) -> JSON:
        """A flow mapping or sequence of one-line scalars, `{a: "b", c: d}` or `[a, b]`, on its
        line or on the lines up to its closing bracket (Istio writes annotations so)."""
        closing = "}" if text[0] == "{" else "]"
        mapping: dict[str, JSON] = {}
        sequence: list[JSON] = []
        line, at = self.flow_skip(text, 1)
        while line[at] != closing:
            start = at
            value, at = _flow_scalar(line, at)
            if closing == "}":
                if not isinstance(value, str) or line[at : at + 2] != ": " or value in mapping:
                    raise Unsupported("a flow mapping entry other than `key: value`")
                if at - start > MAX_KEY:
                    raise Unsupported("a key longer than libyaml allows")
                at = len(line) - len(line[at + 2 :].lstrip(" "))
                if at >= len(line):
                    raise Unsupported("a flow mapping value on another line")
                mapping[value], at = _flow_scalar(line, at)
            else:
                sequence.append(value)
            line, at = self.flow_skip(line, at)
            if line[at] == ",":
                line, at = self.flow_skip(line, at + 1)
            elif line[at] != closing:
                raise Unsupported("a flow collection of more than scalars")
        tail = line[at + 1 :]
        if tail and (tail[0] != " " or tail.lstrip(" ")[0] != "#"):
            raise Unsupported("text after a flow collection")
        return mapping if closing == "}" else sequence

    def flow_skip(self, line: str, at: int) -> tuple[str, int]:
        """The next character of a flow collection past spaces, blank lines and comment lines."""
        while True:
            while at < len(line) and line[at] == " ":
                at += 1
            if at < len(line):
                if line[at] == "#":
                    raise Unsupported("a comment inside a flow collection")
                return line, at
            if self.pos >= self.count:
                raise Unsupported("a flow collection without its closing bracket")
            self.next_content()
            if self.pos >= self.count:
                raise Unsupported("a flow collection without its closing bracket")
            line, at = self.contents[self.pos], 0
            self.pos += 1

    def nested(self, col: int, *, depth: int, in_mapping: bool) -> JSON:
        """The node on the lines after an empty `key:` or `-`: more indented, or a sequence at
        the key's own indentation, or else null."""
        pos = self.next_content()
        if pos >= self.count:
            return None
        indent = self.indents[pos]
        if indent > col:
            return self.remembered(":", col, depth + 1)
        if in_mapping and indent == col and _is_item(self.contents[pos]):
            return self.sequence(col, depth + 1)
        return None

    def literal(self, header: str, col: int) -> str:
        """A `|` block scalar of a collection at `col`, its lines from `pos` on (libyaml's
        yaml_parser_scan_block_scalar, literal style, without indentation indicators)."""
        chomp = header[1] if len(header) > 1 and header[1] in "+-" else ""
        tail = header[1 + len(chomp) :]
        if tail and (tail[0] != " " or tail.lstrip(" ")[0] != "#"):
            raise Unsupported("a block scalar header other than |, |- or |+")
        indent = self.literal_indent(col)
        last = self.count - 1
        parts: list[str] = []
        line_break = ""
        breaks = ""
        pos = self.pos
        while pos <= last:
            line = self.raw[pos]
            if self.indents[pos] >= indent and len(line) > indent:
                parts += (line_break, breaks, line[indent:])
                line_break = "\n" if pos < last else ""
                breaks = ""
            elif not self.contents[pos]:
                breaks += "\n" if pos < last else ""
            elif self.contents[pos][0] == "\t":
                raise Unsupported("a tab where a literal scalar's indentation is expected")
            else:
                break
            pos += 1
        self.pos = pos
        if chomp == "-":
            return "".join(parts)
        if chomp == "+":
            parts += (line_break, breaks)
            return "".join(parts)
        parts.append(line_break)
        return "".join(parts)

    def literal_indent(self, col: int) -> int:
        """The indentation of a literal scalar's first non-blank line, more than `col`."""
        widest = 0
        for pos in range(self.pos, self.count):
            spaces = self.indents[pos]
            content = self.contents[pos]
            if content:
                if spaces <= col or spaces < widest or content[0] == "\t":
                    raise Unsupported("an empty or oddly indented literal scalar")
                return spaces
            widest = max(widest, spaces)
        raise Unsupported("an empty literal scalar")


def _is_item(content: str) -> bool:
    """A block sequence entry: `-` alone or followed by a space."""
    return content[0] == "-" and (len(content) == 1 or content[1] == " ")


def _key_end(content: str) -> int:
    """Where the `:` of a `key: value` line is, or -1 when the line is not one."""
    first = content[0]
    if first == '"' or first == "'":
        end = _quoted(content, 0)[1]
        if content[end : end + 1] != ":" or content[end + 1 : end + 2] not in ("", " "):
            return -1
        return end
    end = content.find(": ")
    if end < 0:
        if content[-1] != ":":
            return -1
        end = len(content) - 1
    comment = content.find(" #")
    if 0 <= comment < end:
        return -1
    return end


def _key(content: str, end: int) -> str:
    """The key of a `key: value` line whose `:` is at `end`; only keys that are strings."""
    if end > MAX_KEY:
        raise Unsupported("a key longer than libyaml allows")
    first = content[0]
    if first == '"' or first == "'":
        return _quoted(content, 0)[0]
    text = content[:end]
    if not _plain_start(text) or text[-1] == " ":
        raise Unsupported("a key that is not a plain scalar")
    key = _resolve(text)
    if not isinstance(key, str):
        raise Unsupported("a key that is not a string")
    return key


def _plain_start(text: str) -> bool:
    """Whether a plain scalar may begin with `text`'s first character in block context."""
    if not text:
        return False
    first = text[0]
    if first in _INDICATORS:
        return first == "-" and len(text) > 1 and text[1] != " "
    return True


def _plain_value(text: str) -> JSON:
    """A plain scalar that is the rest of its line (a ` #` comment may follow), resolved."""
    comment = text.find(" #")
    if comment >= 0:
        text = text[:comment].rstrip(" ")
    if not _plain_start(text) or ": " in text or text[-1] == ":":
        raise Unsupported("a value that is not a one-line plain scalar")
    return _resolve(text)


def _flow_scalar(line: str, at: int) -> tuple[JSON, int]:
    """A one-line scalar inside a flow collection, and the index after it."""
    first = line[at]
    if first == '"' or first == "'":
        return _quoted(line, at)
    end = at
    while end < len(line) and line[end] not in _FLOW_STOPS:
        end += 1
    text = line[at:end]
    if not _plain_start(text):
        raise Unsupported("a flow entry that is not a scalar")
    return _resolve(text), end


def _quoted(text: str, start: int) -> tuple[str, int]:
    """The quoted scalar at `start` and the index after its closing quote; one line only."""
    if text[start] == "'":
        return _single_quoted(text, start)
    close = text.find('"', start + 1)
    escape = text.find("\\", start + 1)
    if close < 0:
        raise Unsupported("a double-quoted scalar that goes on past its line")
    if escape < 0 or escape > close:
        return text[start + 1 : close], close + 1
    return _double_quoted(text, start)


def _single_quoted(text: str, start: int) -> tuple[str, int]:
    parts: list[str] = []
    pos = start + 1
    while True:
        close = text.find("'", pos)
        if close < 0:
            raise Unsupported("a single-quoted scalar that goes on past its line")
        parts.append(text[pos:close])
        if text[close + 1 : close + 2] != "'":
            return "".join(parts), close + 1
        parts.append("'")
        pos = close + 2


def _double_quoted(text: str, start: int) -> tuple[str, int]:
    """A double-quoted scalar with escapes (libyaml's list; a line break escape refuses)."""
    parts: list[str] = []
    pos = start + 1
    while True:
        close = text.find('"', pos)
        if close < 0:
            raise Unsupported("a double-quoted scalar that goes on past its line")
        escape = text.find("\\", pos, close)
        if escape < 0:
            parts.append(text[pos:close])
            return "".join(parts), close + 1
        parts.append(text[pos:escape])
        pos = escape
        code = text[pos + 1 : pos + 2]
        if code in _ESCAPES:
            parts.append(_ESCAPES[code])
            pos += 2
            continue
        width = _HEX_ESCAPES.get(code, 0)
        digits = text[pos + 2 : pos + 2 + width]
        if not width or len(digits) != width or not _HEX_DIGITS.issuperset(digits):
            raise Unsupported("an escape outside the subset")
        value = int(digits, 16)
        if 0xD800 <= value <= 0xDFFF or value > 0x10FFFF:
            raise Unsupported("an escape for a surrogate or beyond Unicode")
        parts.append(chr(value))
        pos += 2 + width


def _resolve(text: str) -> JSON:
    """A plain scalar's value: PyYAML's implicit resolvers for its first character, in order,
    and SafeConstructor's conversions (a timestamp stays its text, as boundedyaml keeps it)."""
    resolvers = _RESOLVERS.get(text[:1])
    if resolvers is None:
        return text
    known = _RESOLVED.get(text, _UNKNOWN)
    if known is not _UNKNOWN:
        return known
    value: JSON = text
    for tag, pattern in resolvers:
        if pattern.match(text):
            value = _construct(tag, text)
            break
    if len(text) <= RESOLVED_MAX_TEXT:
        if len(_RESOLVED) >= RESOLVED_SIZE:
            _RESOLVED.clear()
        _RESOLVED[text] = value
    return value


def _construct(tag: str, text: str) -> JSON:
    if tag == "tag:yaml.org,2002:null":
        return None
    if tag == "tag:yaml.org,2002:bool":
        return _BOOLS[text.lower()]
    if tag == "tag:yaml.org,2002:timestamp":
        return text
    try:
        if tag == "tag:yaml.org,2002:int":
            return _int(text)
        if tag == "tag:yaml.org,2002:float":
            return _float(text)
    except ValueError:
        raise Unsupported("a number PyYAML cannot convert") from None
    raise Unsupported(f"a plain scalar resolved to {tag}")


def _int(text: str) -> int:
    """SafeConstructor.construct_yaml_int: YAML 1.1 binary, octal, hex and base 60."""
    digits = text.replace("_", "")
    sign = -1 if digits[0] == "-" else 1
    if digits[0] in "+-":
        digits = digits[1:]
    if digits == "0":
        return 0
    if digits.startswith("0b"):
        return sign * int(digits[2:], 2)
    if digits.startswith("0x"):
        return sign * int(digits[2:], 16)
    if digits[0] == "0":
        return sign * int(digits, 8)
    if ":" in digits:
        value = 0
        for part in digits.split(":"):
            value = value * 60 + int(part)
        return sign * value
    return sign * int(digits)


def _float(text: str) -> float:
    """SafeConstructor.construct_yaml_float: `.inf`, `.nan` and base 60 too."""
    digits = text.replace("_", "").lower()
    sign = -1 if digits[0] == "-" else 1
    if digits[0] in "+-":
        digits = digits[1:]
    if digits == ".inf":
        return sign * _INF
    if digits == ".nan":
        return _NAN
    if ":" in digits:
        parts = [float(part) for part in digits.split(":")]
        parts.reverse()
        value = 0.0
        base = 1
        for part in parts:
            value += part * base
            base *= 60
        return sign * value
    return sign * float(digits)


_INF: Final[float] = yaml.constructor.SafeConstructor.inf_value
_NAN: Final[float] = yaml.constructor.SafeConstructor.nan_value
