"""The parse tree, after Go's text/template/parse/node.go.

Every node carries `pos`, the character offset of its start in the template text; line and
column are computed only when an error is reported. `str(node)` is Go's `Node.String()`, which
error messages quote (`at <.Values.x>`).
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, fields

from .errors import go_quote

# Go's `unicode.IsSpace`, which `bytes.TrimSpace` uses.
GO_SPACE = (
    "\t\n\v\f\r \x85\xa0\u1680"
    + "".join(map(chr, range(0x2000, 0x200B)))
    + "\u2028\u2029\u202f\u205f\u3000"
)


@dataclass(frozen=True, slots=True)
class Node:
    pos: int


@dataclass(frozen=True, slots=True)
class TextNode(Node):
    text: str

    def __str__(self) -> str:
        return self.text


@dataclass(frozen=True, slots=True)
class CommentNode(Node):
    text: str

    def __str__(self) -> str:
        return "{{" + self.text + "}}"


@dataclass(frozen=True, slots=True)
class ListNode(Node):
    nodes: tuple[Node, ...]

    def __str__(self) -> str:
        return "".join(str(n) for n in self.nodes)


@dataclass(frozen=True, slots=True)
class IdentifierNode(Node):
    ident: str

    def __str__(self) -> str:
        return self.ident


@dataclass(frozen=True, slots=True)
class VariableNode(Node):
    ident: tuple[str, ...]

    def __str__(self) -> str:
        return ".".join(self.ident)


@dataclass(frozen=True, slots=True)
class DotNode(Node):
    def __str__(self) -> str:
        return "."


@dataclass(frozen=True, slots=True)
class NilNode(Node):
    def __str__(self) -> str:
        return "nil"


@dataclass(frozen=True, slots=True)
class FieldNode(Node):
    ident: tuple[str, ...]

    def __str__(self) -> str:
        return "".join("." + name for name in self.ident)


@dataclass(frozen=True, slots=True)
class BoolNode(Node):
    value: bool

    def __str__(self) -> str:
        return "true" if self.value else "false"


@dataclass(frozen=True, slots=True)
class NumberNode(Node):
    """A numeric constant with every Go type it fits, as Go's `NumberNode` records them."""

    text: str
    is_int: bool = False
    is_uint: bool = False
    is_float: bool = False
    is_complex: bool = False
    int64: int = 0
    uint64: int = 0
    float64: float = 0.0
    complex128: complex = 0j

    def __str__(self) -> str:
        return self.text


@dataclass(frozen=True, slots=True)
class StringNode(Node):
    quoted: str
    text: str

    def __str__(self) -> str:
        return self.quoted


@dataclass(frozen=True, slots=True)
class CommandNode(Node):
    args: tuple[Node, ...]

    def __str__(self) -> str:
        parts = []
        for arg in self.args:
            parts.append(f"({arg})" if isinstance(arg, PipeNode) else str(arg))
        return " ".join(parts)


@dataclass(frozen=True, slots=True)
class PipeNode(Node):
    line: int
    is_assign: bool
    decl: tuple[VariableNode, ...]
    cmds: tuple[CommandNode, ...]

    def __str__(self) -> str:
        text = ""
        if self.decl:
            text = ", ".join(str(v) for v in self.decl) + " := "
        return text + " | ".join(str(c) for c in self.cmds)


@dataclass(frozen=True, slots=True)
class ChainNode(Node):
    node: Node
    fields: tuple[str, ...]

    def __str__(self) -> str:
        head = f"({self.node})" if isinstance(self.node, PipeNode) else str(self.node)
        return head + "".join("." + name for name in self.fields)


@dataclass(frozen=True, slots=True)
class ActionNode(Node):
    line: int
    pipe: PipeNode

    def __str__(self) -> str:
        return "{{" + str(self.pipe) + "}}"


@dataclass(frozen=True, slots=True)
class BranchNode(Node):
    line: int
    pipe: PipeNode
    list: ListNode
    else_list: ListNode | None

    keyword = ""

    def __str__(self) -> str:
        text = "{{" + self.keyword + " " + str(self.pipe) + "}}" + str(self.list)
        if self.else_list is not None:
            text += "{{else}}" + str(self.else_list)
        return text + "{{end}}"


@dataclass(frozen=True, slots=True)
class IfNode(BranchNode):
    keyword = "if"


@dataclass(frozen=True, slots=True)
class RangeNode(BranchNode):
    keyword = "range"


@dataclass(frozen=True, slots=True)
class WithNode(BranchNode):
    keyword = "with"


@dataclass(frozen=True, slots=True)
class BreakNode(Node):
    line: int

    def __str__(self) -> str:
        return "{{break}}"


@dataclass(frozen=True, slots=True)
class ContinueNode(Node):
    line: int

    def __str__(self) -> str:
        return "{{continue}}"


@dataclass(frozen=True, slots=True)
class TemplateNode(Node):
    line: int
    name: str
    pipe: PipeNode | None

    def __str__(self) -> str:
        if self.pipe is None:
            return "{{template " + go_quote(self.name) + "}}"
        return "{{template " + go_quote(self.name) + " " + str(self.pipe) + "}}"


@dataclass(frozen=True, slots=True)
class EndNode(Node):
    """`{{end}}`: returned by the parser to close a list, never kept in the tree."""

    def __str__(self) -> str:
        return "{{end}}"


@dataclass(frozen=True, slots=True)
class ElseNode(Node):
    """`{{else}}`: returned by the parser to split a list, never kept in the tree."""

    line: int

    def __str__(self) -> str:
        return "{{else}}"


def identifiers(node: Node) -> Iterator[str]:
    """The names of the functions `node` and everything under it call."""
    if isinstance(node, IdentifierNode):
        yield node.ident
        return
    for spec in fields(node):
        child = getattr(node, spec.name)
        for item in child if isinstance(child, tuple) else (child,):
            if isinstance(item, Node):
                yield from identifiers(item)


def is_empty_tree(node: Node | None) -> bool:
    """Go's `IsEmptyTree`: only whitespace text and comments (may be replaced by a definition)."""
    if node is None or isinstance(node, CommentNode):
        return True
    if isinstance(node, ListNode):
        return all(is_empty_tree(n) for n in node.nodes)
    if isinstance(node, TextNode):
        return not node.text.strip(GO_SPACE)
    return False


class LiteralError(ValueError):
    """A constant Go rejects; the message is Go's (`invalid syntax`, `integer overflow: "08"`)."""


_SIMPLE_ESCAPES = {"a": 7, "b": 8, "f": 12, "n": 10, "r": 13, "t": 9, "v": 11, "\\": 92}
_HEX = "0123456789abcdefABCDEF"


def _unquote_char(s: str, i: int, quote: str) -> tuple[int, bool, int]:
    """Go's `strconv.UnquoteChar` at `s[i]`: (value, is_byte, next index)."""
    c = s[i]
    if c == quote and quote in "'\"":
        raise LiteralError("invalid syntax")
    if c != "\\":
        return ord(c), False, i + 1
    if i + 1 >= len(s):
        raise LiteralError("invalid syntax")
    c = s[i + 1]
    i += 2
    if c in _SIMPLE_ESCAPES:
        return _SIMPLE_ESCAPES[c], False, i
    if c in "xuU":
        n = {"x": 2, "u": 4, "U": 8}[c]
        digits = s[i : i + n]
        if len(digits) < n or any(d not in _HEX for d in digits):
            raise LiteralError("invalid syntax")
        value = int(digits, 16)
        if c == "x":
            return value, True, i + n
        if value > 0x10FFFF or 0xD800 <= value <= 0xDFFF:
            raise LiteralError("invalid syntax")
        return value, False, i + n
    if "0" <= c <= "7":
        digits = s[i - 1 : i + 2]
        if len(digits) < 3 or any(not "0" <= d <= "7" for d in digits):
            raise LiteralError("invalid syntax")
        value = int(digits, 8)
        if value > 255:
            raise LiteralError("invalid syntax")
        return value, True, i + 2
    if c in "'\"":
        if c != quote:
            raise LiteralError("invalid syntax")
        return ord(c), False, i
    raise LiteralError("invalid syntax")


def unquote(quoted: str) -> str:
    """Go's `strconv.Unquote` of a `"..."` or `` `...` `` literal."""
    if len(quoted) < 2 or quoted[0] != quoted[-1]:
        raise LiteralError("invalid syntax")
    quote, body = quoted[0], quoted[1:-1]
    if quote == "`":
        if "`" in body:
            raise LiteralError("invalid syntax")
        return body.replace("\r", "")
    if quote != '"' or "\n" in body:
        raise LiteralError("invalid syntax")
    if "\\" not in body and '"' not in body:
        return body
    out = bytearray()
    i = 0
    while i < len(body):
        value, is_byte, i = _unquote_char(body, i, '"')
        if is_byte:
            out.append(value)
        else:
            out += chr(value).encode("utf-8", "surrogatepass")
    return out.decode("utf-8", "replace")


def _underscore_ok(s: str) -> bool:
    """Go's rule for `_` in number literals: only between digits or after a base prefix."""
    saw = "^"
    i = 0
    if s[:1] in ("+", "-"):
        s = s[1:]
    hexa = False
    if len(s) >= 2 and s[0] == "0" and s[1].lower() in "box":
        i = 2
        saw = "0"
        hexa = s[1].lower() == "x"
    while i < len(s):
        ch = s[i]
        if "0" <= ch <= "9" or (hexa and "a" <= ch.lower() <= "f"):
            saw = "0"
        elif ch == "_":
            if saw != "0":
                return False
            saw = "_"
        else:
            if saw == "_":
                return False
            saw = "!"
        i += 1
    return saw != "_"


def _parse_uint(s: str) -> int | None:
    """Go's `strconv.ParseUint(s, 0, 64)`, None on any error."""
    if not s:
        return None
    body, base = s, 10
    if s[0] == "0":
        prefix = s[1:2].lower()
        if len(s) >= 3 and prefix in ("b", "o", "x"):
            base = {"b": 2, "o": 8, "x": 16}[prefix]
            body = s[2:]
        else:
            base, body = 8, s[1:]
    digits = body.replace("_", "")
    if "_" in body and not _underscore_ok(s):
        return None
    if not digits:
        return 0 if base == 8 and not body else None
    try:
        value = int(digits, base)
    except ValueError:
        return None
    if any(not (d.isascii() and d.isalnum()) for d in digits):
        return None
    return value if value < 1 << 64 else None


def _parse_int(s: str) -> int | None:
    sign = 1
    body = s
    if s[:1] in ("+", "-"):
        sign = -1 if s[0] == "-" else 1
        body = s[1:]
    magnitude = _parse_uint(body)
    if magnitude is None:
        return None
    value = sign * magnitude
    return value if -(1 << 63) <= value < 1 << 63 else None


def _parse_float(s: str) -> float | None:
    """Go's `strconv.ParseFloat(s, 64)` for the literals the lexer lets through."""
    import math
    import re

    body = s[1:] if s[:1] in ("+", "-") else s
    if body[:2].lower() == "0x":
        if not re.fullmatch(r"0[xX][0-9a-fA-F_]*(\.[0-9a-fA-F_]*)?[pP][+-]?[0-9][0-9_]*", body):
            return None
        if not re.search(r"[0-9a-fA-F]", body[2:].split("p")[0].split("P")[0]):
            return None
    elif not re.fullmatch(r"[0-9_]*(\.[0-9_]*)?([eE][+-]?[0-9][0-9_]*)?", body) or not re.search(
        r"[0-9]", re.split(r"[eE]", body)[0]
    ):
        return None
    if "_" in s and not _underscore_ok(s):
        return None
    clean = s.replace("_", "")
    try:
        value = float.fromhex(clean) if body[:2].lower() == "0x" else float(clean)
    except ValueError:
        return None
    return None if math.isinf(value) else value


def _simplify_complex(pos: int, text: str, value: complex) -> NumberNode:
    if value.imag != 0:
        return NumberNode(pos, text, is_complex=True, complex128=value)
    real = value.real
    as_int = int(real) if real.is_integer() else None
    return NumberNode(
        pos,
        text,
        is_complex=True,
        complex128=value,
        is_float=True,
        float64=real,
        is_int=as_int is not None and -(1 << 63) <= as_int < 1 << 63,
        int64=as_int or 0,
        is_uint=as_int is not None and 0 <= as_int < 1 << 64,
        uint64=as_int or 0,
    )


def number_node(pos: int, text: str, *, kind: str) -> NumberNode:
    """Go's `newNumber`: `kind` is "char", "complex" or "number"."""
    if kind == "char":
        value, _, end = _unquote_char(text, 1, "'")
        if text[end:] != "'":
            raise LiteralError(f"malformed character constant: {text}")
        return NumberNode(
            pos, text, is_int=True, is_uint=True, is_float=True,
            int64=value, uint64=value, float64=float(value),
        )  # fmt: skip
    if kind == "complex":
        try:
            value_c = complex(text.replace("_", "")[:-1] + "j")
        except ValueError as err:
            raise LiteralError("expected integer") from err
        return _simplify_complex(pos, text, value_c)
    if text.endswith("i"):
        imag = _parse_float(text[:-1])
        if imag is not None:
            return _simplify_complex(pos, text, complex(0, imag))
    return _real_number(pos, text)


def _real_number(pos: int, text: str) -> NumberNode:
    unsigned = _parse_uint(text)
    signed = _parse_int(text)
    is_uint = unsigned is not None
    uint64 = unsigned or 0
    is_int = signed is not None
    int64 = signed or 0
    if is_int and int64 == 0:
        is_uint, uint64 = True, 0
    if is_int:
        return NumberNode(pos, text, is_int=True, is_uint=is_uint, is_float=True,
                          int64=int64, uint64=uint64, float64=float(int64))  # fmt: skip
    if is_uint:
        return NumberNode(pos, text, is_uint=True, is_float=True, uint64=uint64,
                          float64=float(uint64))  # fmt: skip
    value = _parse_float(text)
    if value is None:
        raise LiteralError(f"illegal number syntax: {go_quote(text)}")
    if not any(ch in text for ch in ".eEpP"):
        raise LiteralError(f"integer overflow: {go_quote(text)}")
    as_int = int(value) if value.is_integer() else None
    fits_int = as_int is not None and -(1 << 63) <= as_int < 1 << 63
    fits_uint = as_int is not None and 0 <= as_int < 1 << 64
    return NumberNode(
        pos, text, is_float=True, float64=value,
        is_int=fits_int, int64=as_int if fits_int and as_int is not None else 0,
        is_uint=fits_uint, uint64=as_int if fits_uint and as_int is not None else 0,
    )  # fmt: skip
