"""Go's view of text: UTF-8 bytes, runes, and the `unicode` package's predicates.

Go strings are byte strings; sprig slices some of them by byte (`trunc`, `substr`,
`abbrev`) and walks others byte by byte as if each byte were a rune (`initials`,
`nospace`). Python strings are code points, so these helpers move between the two views.
A byte slice that cuts a character in half is invalid UTF-8: each stray byte becomes
U+FFFD, as Go does when the text is printed or encoded as JSON.
"""

from __future__ import annotations

import unicodedata
from typing import Final

from .. import values

# Go's unicode.White_Space (unicode.IsSpace); Python's `isspace` also accepts U+001C..U+001F.
_SPACES: Final = frozenset(
    "\t\n\v\f\r \x85\xa0\u1680\u2000\u2001\u2002\u2003\u2004\u2005\u2006"
    "\u2007\u2008\u2009\u200a\u2028\u2029\u202f\u205f\u3000"
)
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


def category(ch: str) -> str:
    """The Unicode general category of a rune (`Lu`, `Ll`, `Nd`, ...)."""
    return unicodedata.category(ch)


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
    """Go maps a rune to one rune: a mapping that would expand keeps the rune unchanged."""
    return mapped if len(mapped) == 1 else ch


def to_upper(ch: str) -> str:
    """Go's `unicode.ToUpper`: the simple mapping, which for letters with a subscript iota
    (`ᾔ`) is the title-case letter, where Python's full mapping expands (`ἜΙ`)."""
    upper = ch.upper()
    if len(upper) == 1:
        return upper
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
