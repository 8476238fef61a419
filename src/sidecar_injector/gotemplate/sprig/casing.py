"""`camelcase`, `snakecase` and `kebabcase`: huandu/xstrings' word rules.

Text splits into words by rune class: connectors (`-`, `_`, spaces), punctuation, an
upper-case run (`HTTP` in `HTTPServer` gives back the `S` that starts the next word),
letters, numbers, and anything else. A number glued to letters stays in their word
(`ab12Cd` is `ab12_cd`).
"""

from __future__ import annotations

import enum
from collections.abc import Callable

from .. import values
from . import runes


class Word(enum.Enum):
    """The classes of words xstrings distinguishes."""

    END = 0
    NUMBER = 1
    UPPER = 2
    ALPHA = 3
    CONNECTOR = 4
    PUNCT = 5
    OTHER = 6


_CJK = ((0x4E00, 0x9FCC), (0x3400, 0x4D85), (0x20000, 0x2B81D))


def is_connector(ch: str) -> bool:
    """`-`, `_` and white space join words."""
    return ch in "-_" or runes.is_space(ch)


def is_alphabet(ch: str) -> bool:
    """A letter that is not a CJK ideograph."""
    if not runes.is_letter(ch):
        return False
    return not any(low <= ord(ch) <= high for low, high in _CJK)


def _run(s: str, start: int, keep: Callable[[str], bool]) -> int:
    """The end of the run from `start` of runes for which `keep(ch)` holds."""
    end = start
    while end < len(s) and keep(s[end]):
        end += 1
    return end


def _word_end(s: str) -> tuple[Word, int]:
    """The class of the word at the start of `s`, and where it ends."""
    ch = s[0]
    if is_connector(ch):
        return Word.CONNECTOR, _run(s, 1, is_connector)
    if runes.is_punct(ch):
        return Word.PUNCT, _run(s, 1, runes.is_punct)
    if runes.is_upper(ch):
        return Word.UPPER, _upper_word_end(s)
    if is_alphabet(ch):
        return Word.ALPHA, _run(s, 1, _lower_alpha)
    if runes.is_number(ch):
        return Word.NUMBER, _run(s, 1, runes.is_number)
    return Word.OTHER, _run(s, 1, _other)


def _lower_alpha(ch: str) -> bool:
    return is_alphabet(ch) and not runes.is_upper(ch)


def _other(ch: str) -> bool:
    return not (is_connector(ch) or is_alphabet(ch) or runes.is_number(ch) or runes.is_punct(ch))


def _upper_word_end(s: str) -> int:
    if len(s) == 1:
        return 1
    if runes.is_upper(s[1]):
        end = _run(s, 1, runes.is_upper)
        if end < len(s) and is_alphabet(s[end]):
            end -= 1
        return end
    if is_alphabet(s[1]):
        return _run(s, 1, _lower_alpha)
    return 1


def words(s: str) -> list[tuple[Word, str]]:
    """`s` cut into classified words."""
    out: list[tuple[Word, str]] = []
    while s:
        kind, end = _word_end(s)
        out.append((kind, s[:end]))
        s = s[end:]
    return out


class _Joiner:
    """Writes words lower-cased with one connector between them, as xstrings does."""

    def __init__(self, s: str, connector: str) -> None:
        self.words = words(runes.go_runes(s))
        self.connector = connector
        self.i = 0
        self.out: list[str] = []

    @property
    def current(self) -> tuple[Word, str]:
        return self.words[self.i] if self.i < len(self.words) else (Word.END, "")

    def more(self) -> bool:
        return self.i < len(self.words) - 1

    def advance(self) -> tuple[Word, str]:
        self.i += 1
        return self.current

    def write(self, kind: Word, word: str) -> None:
        if kind not in (Word.UPPER, Word.CONNECTOR):
            self.out.append(word)
            return
        for ch in word:
            if is_connector(ch):
                self.out.append(self.connector)
            else:
                self.out.append(runes.to_lower(ch) if runes.is_upper(ch) else ch)

    def write_glued(self) -> Word:
        """Write a run of letters and numbers; the class of the word after it."""
        kind, word = self.current
        while kind in (Word.ALPHA, Word.NUMBER):
            self.write(kind, word)
            kind, word = self.advance()
        return kind

    def join(self) -> str:
        while self.more():
            kind, word = self.current
            if kind is not Word.CONNECTOR:
                self.write(kind, word)
            nxt, _ = self.advance()
            self.after(kind, word, nxt)
        self.write(*self.current)
        return "".join(self.out)

    def after(self, prev: Word, last: str, nxt: Word) -> None:
        if prev is Word.NUMBER:
            if self.write_glued() not in (Word.END, Word.PUNCT, Word.CONNECTOR):
                self.out.append(self.connector)
        elif prev is Word.CONNECTOR:
            self.write(prev, last)
        elif prev is not Word.PUNCT:
            self.after_word(nxt)

    def after_word(self, nxt: Word) -> None:
        if nxt is not Word.NUMBER:
            if nxt not in (Word.CONNECTOR, Word.PUNCT):
                self.out.append(self.connector)
            return
        if not self.more():
            return
        number = self.current[1]
        following, _ = self.advance()
        if following is not Word.ALPHA:
            self.write(Word.NUMBER, number)
            if following not in (Word.CONNECTOR, Word.PUNCT):
                self.out.append(self.connector)
            return
        self.out.append(self.connector)
        self.write(Word.NUMBER, number)
        if self.write_glued() not in (Word.END, Word.CONNECTOR, Word.PUNCT):
            self.out.append(self.connector)


@values.func("snakecase", "string", result="string")
def snakecase(s: str) -> str:
    """`HTTPServer` -> `http_server`."""
    return _Joiner(s, "_").join()


@values.func("kebabcase", "string", result="string")
def kebabcase(s: str) -> str:
    """`HTTPServer` -> `http-server`."""
    return _Joiner(s, "-").join()


@values.func("camelcase", "string", result="string")
def camelcase(s: str) -> str:
    """`http_server` -> `HttpServer`: connectors dropped, the next rune upper-cased."""
    chars = runes.go_runes(s)
    out: list[str] = []
    i = 0
    while i < len(chars) and is_connector(chars[i]):
        out.append(chars[i])
        i += 1
    if i == len(chars):
        return "".join(out) + (chars[-1] if chars else "")
    prev = runes.to_upper(chars[i])
    for ch in chars[i + 1 :]:
        if is_connector(ch) and is_connector(prev):
            out.append(prev)
        elif is_connector(prev):
            ch = runes.to_upper(ch)
        else:
            ch = runes.to_lower(ch)
            out.append(prev)
        prev = ch
    out.append(prev)
    return "".join(out)


FUNCS: list[values.Func] = [snakecase, kebabcase, camelcase]
