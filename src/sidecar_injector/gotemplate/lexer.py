"""Template text to items, as Go's text/template/parse/lex.go scans it.

The whole input is scanned up front into a list; a lexing error becomes the last item, which
the parser reports when it reaches it, as Go's parser does with its lexer's error item.
"""

from __future__ import annotations

import enum
from typing import NamedTuple

from .errors import go_quote, go_quote_prefix, go_rune_repr


class ItemType(enum.IntEnum):
    ERROR = 0
    BOOL = 1
    CHAR = 2
    CHAR_CONSTANT = 3
    COMMENT = 4
    COMPLEX = 5
    ASSIGN = 6
    DECLARE = 7
    EOF = 8
    FIELD = 9
    IDENTIFIER = 10
    LEFT_DELIM = 11
    LEFT_PAREN = 12
    NUMBER = 13
    PIPE = 14
    RAW_STRING = 15
    RIGHT_DELIM = 16
    RIGHT_PAREN = 17
    SPACE = 18
    STRING = 19
    TEXT = 20
    VARIABLE = 21
    KEYWORD = 22
    BLOCK = 23
    BREAK = 24
    CONTINUE = 25
    DOT = 26
    DEFINE = 27
    ELSE = 28
    END = 29
    IF = 30
    NIL = 31
    RANGE = 32
    TEMPLATE = 33
    WITH = 34


KEYWORDS = {
    ".": ItemType.DOT,
    "block": ItemType.BLOCK,
    "break": ItemType.BREAK,
    "continue": ItemType.CONTINUE,
    "define": ItemType.DEFINE,
    "else": ItemType.ELSE,
    "end": ItemType.END,
    "if": ItemType.IF,
    "range": ItemType.RANGE,
    "nil": ItemType.NIL,
    "template": ItemType.TEMPLATE,
    "with": ItemType.WITH,
}

SPACE_CHARS = " \t\r\n"
_TERMINATORS = frozenset(" \t\r\n.,|:)(")
_COMMENT_OPEN = "/*"
_COMMENT_CLOSE = "*/"


class Item(NamedTuple):
    typ: ItemType
    pos: int
    val: str
    line: int

    def __str__(self) -> str:
        """Go's `item.String`, used in "unexpected X in Y" messages."""
        if self.typ == ItemType.EOF:
            return "EOF"
        if self.typ == ItemType.ERROR:
            return self.val
        if self.typ > ItemType.KEYWORD:
            return f"<{self.val}>"
        if len(self.val.encode()) > 10:
            return go_quote_prefix(self.val, 10) + "..."
        return go_quote(self.val)


class _LexError(Exception):
    pass


def is_alphanumeric(ch: str) -> bool:
    return ch == "_" or ch.isalpha() or ch.isdecimal()


def _has_left_trim(text: str, at: int) -> bool:
    return text[at : at + 1] == "-" and text[at + 1 : at + 2] in (" ", "\t", "\r", "\n")


def _has_right_trim(text: str, at: int) -> bool:
    return text[at : at + 1] in (" ", "\t", "\r", "\n") and text[at + 1 : at + 2] == "-"


class Lexer:
    """Go's lexer state machine over a whole input, producing every item at once."""

    def __init__(
        self,
        text: str,
        *,
        left: str = "{{",
        right: str = "}}",
        break_ok: bool = True,
        continue_ok: bool = True,
    ) -> None:
        self.text = text
        self.left = left or "{{"
        self.right = right or "}}"
        self.break_ok = break_ok
        self.continue_ok = continue_ok
        self.items: list[Item] = []
        self.pos = 0
        self.start = 0
        self.line = 1
        self.start_line = 1
        self.paren_depth = 0

    def run(self) -> list[Item]:
        try:
            inside = False
            while True:
                if inside:
                    inside = self._lex_inside_action()
                else:
                    more = self._lex_text()
                    if not more:
                        break
                    inside = self._lex_left_delim()
        except _LexError:
            pass
        return self.items

    def _emit(self, typ: ItemType) -> None:
        self.items.append(Item(typ, self.start, self.text[self.start : self.pos], self.start_line))
        self.start = self.pos
        self.start_line = self.line

    def _ignore(self) -> None:
        self.line += self.text.count("\n", self.start, self.pos)
        self.start = self.pos
        self.start_line = self.line

    def _error(self, message: str) -> _LexError:
        self.items.append(Item(ItemType.ERROR, self.start, message, self.start_line))
        return _LexError()

    def _next(self) -> str:
        if self.pos >= len(self.text):
            self.pos = len(self.text) + 1
            return ""
        ch = self.text[self.pos]
        self.pos += 1
        if ch == "\n":
            self.line += 1
        return ch

    def _backup(self) -> None:
        if self.pos > len(self.text):
            self.pos = len(self.text)
            return
        if self.pos > 0:
            self.pos -= 1
            if self.text[self.pos] == "\n":
                self.line -= 1

    def _peek(self) -> str:
        return self.text[self.pos : self.pos + 1]

    def _accept(self, valid: str) -> bool:
        ch = self._next()
        if ch and ch in valid:
            return True
        self._backup()
        return False

    def _accept_run(self, valid: str) -> None:
        while True:
            ch = self._next()
            if not ch or ch not in valid:
                break
        self._backup()

    def _lex_text(self) -> bool:
        """Text up to the next left delimiter; False at the end of input (EOF emitted)."""
        x = self.text.find(self.left, self.pos)
        if x >= 0:
            self.pos = x
            trim = 0
            if _has_left_trim(self.text, x + len(self.left)):
                segment = self.text[self.start : x]
                trim = len(segment) - len(segment.rstrip(SPACE_CHARS))
            self.pos -= trim
            if self.pos > self.start:
                self.line += self.text.count("\n", self.start, self.pos)
                self._emit(ItemType.TEXT)
            self.pos += trim
            self._ignore()
            return True
        self.pos = len(self.text)
        if self.pos > self.start:
            self.line += self.text.count("\n", self.start, self.pos)
            self._emit(ItemType.TEXT)
        self._emit(ItemType.EOF)
        return False

    def _at_right_delim(self) -> tuple[bool, bool]:
        if _has_right_trim(self.text, self.pos) and self.text.startswith(self.right, self.pos + 2):
            return True, True
        if self.text.startswith(self.right, self.pos):
            return True, False
        return False, False

    def _lex_left_delim(self) -> bool:
        """Returns True to lex inside an action, False after a comment (back to text)."""
        self.pos += len(self.left)
        trim = _has_left_trim(self.text, self.pos)
        after_marker = 2 if trim else 0
        if self.text.startswith(_COMMENT_OPEN, self.pos + after_marker):
            self.pos += after_marker
            self._ignore()
            self._lex_comment()
            return False
        self._emit(ItemType.LEFT_DELIM)
        self.pos += after_marker
        self._ignore()
        self.paren_depth = 0
        return True

    def _lex_comment(self) -> None:
        self.pos += len(_COMMENT_OPEN)
        i = self.text.find(_COMMENT_CLOSE, self.pos)
        if i < 0:
            raise self._error("unclosed comment")
        self.pos = i + len(_COMMENT_CLOSE)
        delim, trim = self._at_right_delim()
        if not delim:
            raise self._error("comment ends before closing delimiter")
        if trim:
            self.pos += 2
        self.pos += len(self.right)
        if trim:
            self.pos += _left_trim_length(self.text, self.pos)
        self._ignore()

    def _lex_right_delim(self) -> None:
        trim = _has_right_trim(self.text, self.pos)
        if trim:
            self.pos += 2
            self._ignore()
        self.pos += len(self.right)
        self._emit(ItemType.RIGHT_DELIM)
        if trim:
            self.pos += _left_trim_length(self.text, self.pos)
            self._ignore()

    def _lex_inside_action(self) -> bool:
        """One step inside an action; returns False once the right delimiter is consumed."""
        delim, _ = self._at_right_delim()
        if delim:
            if self.paren_depth == 0:
                self._lex_right_delim()
                return False
            raise self._error("unclosed left paren")
        ch = self._next()
        if not ch:
            raise self._error("unclosed action")
        if ch in SPACE_CHARS:
            self._backup()
            return self._lex_space()
        simple = _SIMPLE.get(ch)
        if simple is not None:
            self._emit(simple)
        elif ch == ":":
            if self._next() != "=":
                raise self._error("expected :=")
            self._emit(ItemType.DECLARE)
        elif ch == '"':
            self._lex_quote()
        elif ch == "`":
            self._lex_raw_quote()
        elif ch == "$":
            self._lex_variable()
        elif ch == "'":
            self._lex_char()
        elif ch == "." and self.pos < len(self.text) and not "0" <= self.text[self.pos] <= "9":
            self._lex_field_or_variable(ItemType.FIELD)
        elif ch in "+-." or "0" <= ch <= "9":
            self._backup()
            self._lex_number()
        elif is_alphanumeric(ch):
            self._backup()
            self._lex_identifier()
        elif ch == "(":
            self._emit(ItemType.LEFT_PAREN)
            self.paren_depth += 1
        elif ch == ")":
            self._emit(ItemType.RIGHT_PAREN)
            self.paren_depth -= 1
            if self.paren_depth < 0:
                raise self._error(f"unexpected right paren {go_rune_repr(ch)}")
        elif ord(ch) < 0x80 and ch.isprintable():
            self._emit(ItemType.CHAR)
        else:
            raise self._error(f"unrecognized character in action: {go_rune_repr(ch)}")
        return True

    def _lex_space(self) -> bool:
        spaces = 0
        while self._peek() in (" ", "\t", "\r", "\n") and self._peek():
            self._next()
            spaces += 1
        if _has_right_trim(self.text, self.pos - 1) and self.text.startswith(
            self.right, self.pos + 1
        ):
            self._backup()
            if spaces == 1:
                self._lex_right_delim()
                return False
        self._emit(ItemType.SPACE)
        return True

    def _at_terminator(self) -> bool:
        ch = self._peek()
        if not ch or ch in _TERMINATORS:
            return True
        return self.text.startswith(self.right, self.pos)

    def _lex_identifier(self) -> None:
        while True:
            ch = self._next()
            if ch and is_alphanumeric(ch):
                continue
            self._backup()
            word = self.text[self.start : self.pos]
            if not self._at_terminator():
                raise self._error(f"bad character {go_rune_repr(ch or chr(0xFFFD))}")
            keyword = KEYWORDS.get(word)
            if keyword is not None and keyword > ItemType.KEYWORD:
                if (keyword == ItemType.BREAK and not self.break_ok) or (
                    keyword == ItemType.CONTINUE and not self.continue_ok
                ):
                    self._emit(ItemType.IDENTIFIER)
                else:
                    self._emit(keyword)
            elif word[0] == ".":
                self._emit(ItemType.FIELD)
            elif word in ("true", "false"):
                self._emit(ItemType.BOOL)
            else:
                self._emit(ItemType.IDENTIFIER)
            return

    def _lex_variable(self) -> None:
        if self._at_terminator():
            self._emit(ItemType.VARIABLE)
            return
        self._lex_field_or_variable(ItemType.VARIABLE)

    def _lex_field_or_variable(self, typ: ItemType) -> None:
        if self._at_terminator():
            self._emit(ItemType.VARIABLE if typ == ItemType.VARIABLE else ItemType.DOT)
            return
        while True:
            ch = self._next()
            if not ch or not is_alphanumeric(ch):
                self._backup()
                break
        if not self._at_terminator():
            raise self._error(f"bad character {go_rune_repr(ch)}")
        self._emit(typ)

    def _lex_char(self) -> None:
        while True:
            ch = self._next()
            if ch == "\\":
                ch = self._next()
                if ch and ch != "\n":
                    continue
                raise self._error("unterminated character constant")
            if not ch or ch == "\n":
                raise self._error("unterminated character constant")
            if ch == "'":
                break
        self._emit(ItemType.CHAR_CONSTANT)

    def _lex_number(self) -> None:
        if not self._scan_number():
            raise self._error(f"bad number syntax: {go_quote(self.text[self.start : self.pos])}")
        sign = self._peek()
        if sign in ("+", "-") and sign:
            if not self._scan_number() or self.text[self.pos - 1] != "i":
                raise self._error(
                    f"bad number syntax: {go_quote(self.text[self.start : self.pos])}"
                )
            self._emit(ItemType.COMPLEX)
        else:
            self._emit(ItemType.NUMBER)

    def _scan_number(self) -> bool:
        self._accept("+-")
        digits = "0123456789_"
        if self._accept("0"):
            if self._accept("xX"):
                digits = "0123456789abcdefABCDEF_"
            elif self._accept("oO"):
                digits = "01234567_"
            elif self._accept("bB"):
                digits = "01_"
        self._accept_run(digits)
        if self._accept("."):
            self._accept_run(digits)
        if len(digits) == 11 and self._accept("eE"):
            self._accept("+-")
            self._accept_run("0123456789_")
        if len(digits) == 23 and self._accept("pP"):
            self._accept("+-")
            self._accept_run("0123456789_")
        self._accept("i")
        nxt = self._peek()
        if nxt and is_alphanumeric(nxt):
            self._next()
            return False
        return True

    def _lex_quote(self) -> None:
        while True:
            ch = self._next()
            if ch == "\\":
                ch = self._next()
                if ch and ch != "\n":
                    continue
                raise self._error("unterminated quoted string")
            if not ch or ch == "\n":
                raise self._error("unterminated quoted string")
            if ch == '"':
                break
        self._emit(ItemType.STRING)

    def _lex_raw_quote(self) -> None:
        while True:
            ch = self._next()
            if not ch:
                raise self._error("unterminated raw quoted string")
            if ch == "`":
                break
        self._emit(ItemType.RAW_STRING)


_SIMPLE = {"=": ItemType.ASSIGN, "|": ItemType.PIPE}


def _left_trim_length(text: str, at: int) -> int:
    rest = text[at:]
    return len(rest) - len(rest.lstrip(SPACE_CHARS))


def lex(
    text: str,
    *,
    left: str = "{{",
    right: str = "}}",
    break_ok: bool = True,
    continue_ok: bool = True,
) -> list[Item]:
    """Every item of `text`, ending with EOF or an ERROR item."""
    return Lexer(text, left=left, right=right, break_ok=break_ok, continue_ok=continue_ok).run()
