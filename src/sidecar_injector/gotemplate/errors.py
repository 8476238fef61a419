"""Template errors whose `str()` is Go's error text, byte for byte.

```
TemplateError            any failure of the engine
├── ParseError           `template: NAME:LINE: MSG` (Go's parse.Tree.errorf)
└── ExecError            `template: NAME:LINE:COL: executing "T" at <NODE>: MSG` (Go's state.errorf)
```
"""

from __future__ import annotations


class TemplateError(Exception):
    """Root of the engine's errors; `str(err)` is what Go's `err.Error()` says."""

    def __init__(
        self, message: str, *, template_name: str, line: int | None = None, col: int | None = None
    ) -> None:
        super().__init__(message)
        self.message = message
        self.template_name = template_name
        self.line = line
        self.col = col

    def __str__(self) -> str:
        return self.message

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self.message!r})"


class ParseError(TemplateError):
    """A template that does not parse; Go reports the line (no column) of the last token read."""


class ExecError(TemplateError):
    """A failure while executing; `partial` is the output written before it, as Go writes it."""

    def __init__(
        self,
        message: str,
        *,
        template_name: str,
        line: int | None = None,
        col: int | None = None,
        partial: str = "",
    ) -> None:
        super().__init__(message, template_name=template_name, line=line, col=col)
        self.partial = partial


def go_quote(text: str) -> str:
    """Go's `strconv.Quote` (and `%q` of a string)."""
    out = ['"']
    for ch in text:
        out.append(_quote_rune(ch, '"'))
    out.append('"')
    return "".join(out)


def go_quote_prefix(text: str, runes: int) -> str:
    """Go's `%.Nq`: the first `runes` characters, quoted."""
    return go_quote(text[:runes])


def go_rune_repr(ch: str) -> str:
    """Go's `%#U`: `U+0023 '#'`, without the quoted rune when it is not printable."""
    code = ord(ch)
    if _printable(ch):
        return f"U+{code:04X} '{ch}'"
    return f"U+{code:04X}"


_ESCAPES = {
    "\a": "\\a",
    "\b": "\\b",
    "\f": "\\f",
    "\n": "\\n",
    "\r": "\\r",
    "\t": "\\t",
    "\v": "\\v",
    "\\": "\\\\",
}


def _printable(ch: str) -> bool:
    return ch == " " or (ch.isprintable() and not ch.isspace())


def _quote_rune(ch: str, quote: str) -> str:
    if ch == quote:
        return "\\" + ch
    escaped = _ESCAPES.get(ch)
    if escaped is not None:
        return escaped
    if _printable(ch):
        return ch
    code = ord(ch)
    if code < 0x80 or 0xDC80 <= code <= 0xDCFF:
        return f"\\x{code & 0xFF:02x}"
    if code < 0x10000:
        return f"\\u{code:04x}"
    return f"\\U{code:08x}"
