"""Go's view of text: UTF-8 bytes, runes, and the `unicode` package's predicates.

Go strings are byte strings; sprig slices some of them by byte (`trunc`, `substr`,
`abbrev`) and walks others byte by byte as if each byte were a rune (`initials`,
`nospace`). Python strings are code points, so these helpers move between the two views.
A byte slice that cuts a character in half is invalid UTF-8: each stray byte becomes
U+FFFD, as Go does when the text is printed or encoded as JSON.
"""

from __future__ import annotations

import bisect
import unicodedata
from typing import Final

from .. import values

# Go's unicode.White_Space (unicode.IsSpace); Python's `isspace` also accepts U+001C..U+001F.
_SPACES: Final = frozenset(
    "\t\n\v\f\r \x85\xa0\u1680\u2000\u2001\u2002\u2003\u2004\u2005\u2006"
    "\u2007\u2008\u2009\u200a\u2028\u2029\u202f\u205f\u3000"
)
# Code points Unicode 14 assigned (Python 3.11's tables) that Go 1.19's Unicode 13 tables
# do not know: to Go they are unassigned, with no case.
_UNICODE_14_ADDITIONS: Final = (
    (0x061D, 0x061D),
    (0x0870, 0x088E),
    (0x0890, 0x0891),
    (0x0898, 0x089F),
    (0x08B5, 0x08B5),
    (0x08C8, 0x08D2),
    (0x0C3C, 0x0C3C),
    (0x0C5D, 0x0C5D),
    (0x0CDD, 0x0CDD),
    (0x170D, 0x170D),
    (0x1715, 0x1715),
    (0x171F, 0x171F),
    (0x180F, 0x180F),
    (0x1AC1, 0x1ACE),
    (0x1B4C, 0x1B4C),
    (0x1B7D, 0x1B7E),
    (0x1DFA, 0x1DFA),
    (0x20C0, 0x20C0),
    (0x2C2F, 0x2C2F),
    (0x2C5F, 0x2C5F),
    (0x2E53, 0x2E5D),
    (0x9FFD, 0x9FFF),
    (0xA7C0, 0xA7C1),
    (0xA7D0, 0xA7D1),
    (0xA7D3, 0xA7D3),
    (0xA7D5, 0xA7D9),
    (0xA7F2, 0xA7F4),
    (0xFBC2, 0xFBC2),
    (0xFD40, 0xFD4F),
    (0xFDCF, 0xFDCF),
    (0xFDFE, 0xFDFF),
    (0x10570, 0x1057A),
    (0x1057C, 0x1058A),
    (0x1058C, 0x10592),
    (0x10594, 0x10595),
    (0x10597, 0x105A1),
    (0x105A3, 0x105B1),
    (0x105B3, 0x105B9),
    (0x105BB, 0x105BC),
    (0x10780, 0x10785),
    (0x10787, 0x107B0),
    (0x107B2, 0x107BA),
    (0x10F70, 0x10F89),
    (0x11070, 0x11075),
    (0x110C2, 0x110C2),
    (0x116B9, 0x116B9),
    (0x11740, 0x11746),
    (0x11AB0, 0x11ABF),
    (0x12F90, 0x12FF2),
    (0x16A70, 0x16ABE),
    (0x16AC0, 0x16AC9),
    (0x1AFF0, 0x1AFF3),
    (0x1AFF5, 0x1AFFB),
    (0x1AFFD, 0x1AFFE),
    (0x1B11F, 0x1B122),
    (0x1CF00, 0x1CF2D),
    (0x1CF30, 0x1CF46),
    (0x1CF50, 0x1CFC3),
    (0x1D1E9, 0x1D1EA),
    (0x1DF00, 0x1DF1E),
    (0x1E290, 0x1E2AE),
    (0x1E7E0, 0x1E7E6),
    (0x1E7E8, 0x1E7EB),
    (0x1E7ED, 0x1E7EE),
    (0x1E7F0, 0x1E7FE),
    (0x1F6DD, 0x1F6DF),
    (0x1F7F0, 0x1F7F0),
    (0x1F979, 0x1F979),
    (0x1F9CC, 0x1F9CC),
    (0x1FA7B, 0x1FA7C),
    (0x1FAA9, 0x1FAAC),
    (0x1FAB7, 0x1FABA),
    (0x1FAC3, 0x1FAC5),
    (0x1FAD7, 0x1FAD9),
    (0x1FAE0, 0x1FAE7),
    (0x1FAF0, 0x1FAF6),
    (0x2A6DE, 0x2A6DF),
    (0x2B735, 0x2B738),
)
_ADDITION_STARTS: Final = tuple(start for start, _ in _UNICODE_14_ADDITIONS)
# Simple (one-to-one) case mappings where Python's full mapping differs.
_LOWER_EXCEPTIONS: Final = {"\u0130": "i"}


def to_bytes(s: str) -> bytes:
    """The UTF-8 bytes Go holds for `s`."""
    return s.encode("utf-8", "surrogatepass")


def from_bytes(b: bytes) -> str:
    """Go bytes as text: each byte of an invalid sequence becomes U+FFFD, as Go prints it."""
    text = b.decode("utf-8", "surrogateescape")
    if not any("\udc80" <= ch <= "\udcff" for ch in text):
        return text
    return "".join("\ufffd" if "\udc80" <= ch <= "\udcff" else ch for ch in text)


def byte_len(s: str) -> int:
    """Go's `len(s)`."""
    return len(to_bytes(s))


def byte_slice(s: str, start: int, end: int | None = None) -> str:
    """Go's `s[start:end]` on the UTF-8 bytes; a bad range is Go's runtime panic."""
    b = to_bytes(s)
    stop = len(b) if end is None else end
    if stop < 0:
        raise values.GoError(f"runtime error: slice bounds out of range [:{stop}]")
    if stop > len(b):
        message = f"slice bounds out of range [:{stop}] with length {len(b)}"
        raise values.GoError(f"runtime error: {message}")
    if start > stop or start < 0:
        raise values.GoError(f"runtime error: slice bounds out of range [{start}:{stop}]")
    return from_bytes(b[start:stop])


def latin1_runes(s: str) -> list[str]:
    """Each UTF-8 byte taken as the rune of the same number, as `rune(str[i])` does in Go."""
    return [chr(b) for b in to_bytes(s)]


def is_space(ch: str) -> bool:
    """Go's `unicode.IsSpace`."""
    return ch in _SPACES


def is_unknown_to_go(ch: str) -> bool:
    """Whether the rune is new in Unicode 14, so unassigned in Go 1.19's tables."""
    i = bisect.bisect_right(_ADDITION_STARTS, ord(ch)) - 1
    return i >= 0 and ord(ch) <= _UNICODE_14_ADDITIONS[i][1]


def category(ch: str) -> str:
    """The Unicode general category of a rune (`Lu`, `Ll`, `Nd`, ...) in Go's Unicode 13."""
    return "Cn" if ch > "\u0600" and is_unknown_to_go(ch) else unicodedata.category(ch)


def is_upper(ch: str) -> bool:
    """Go's `unicode.IsUpper`: category Lu."""
    return category(ch) == "Lu"


def is_lower(ch: str) -> bool:
    """Go's `unicode.IsLower`: category Ll."""
    return category(ch) == "Ll"


def is_title(ch: str) -> bool:
    """Go's `unicode.IsTitle`: category Lt."""
    return category(ch) == "Lt"


def is_letter(ch: str) -> bool:
    """Go's `unicode.IsLetter`: categories L*."""
    return category(ch).startswith("L")


def is_digit(ch: str) -> bool:
    """Go's `unicode.IsDigit`: category Nd."""
    return category(ch) == "Nd"


def is_number(ch: str) -> bool:
    """Go's `unicode.IsNumber`: categories N*."""
    return category(ch).startswith("N")


def is_punct(ch: str) -> bool:
    """Go's `unicode.IsPunct`: categories P*."""
    return category(ch).startswith("P")


def _simple(ch: str, mapped: str) -> str:
    """Go maps a rune to one rune: a mapping that would expand keeps the rune unchanged, and
    so does a rune Go's tables do not know."""
    if len(mapped) != 1 or (ch > "\u0600" and is_unknown_to_go(ch)):
        return ch
    return mapped


def to_upper(ch: str) -> str:
    """Go's `unicode.ToUpper`: the simple mapping, which for letters with a subscript iota
    (`ᾔ`) is the title-case letter, where Python's full mapping expands (`ἜΙ`)."""
    upper = ch.upper()
    if len(upper) == 1:
        return _simple(ch, upper)
    return _simple(ch, ch.title()) if not is_title(ch) else ch


def to_lower(ch: str) -> str:
    """Go's `unicode.ToLower`."""
    return _LOWER_EXCEPTIONS.get(ch) or _simple(ch, ch.lower())


def to_title(ch: str) -> str:
    """Go's `unicode.ToTitle`."""
    return _simple(ch, ch.title())


def go_runes(s: str) -> str:
    """`s` as Go sees its runes: lone surrogates (not valid in UTF-8) become U+FFFD."""
    if all(not "\ud800" <= ch <= "\udfff" for ch in s):
        return s
    return "".join("\ufffd" if "\ud800" <= ch <= "\udfff" else ch for ch in s)
