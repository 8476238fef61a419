"""Go's `strconv` text forms that `fmt` builds on: floats, quoted strings and runes.

Strings are Python `str` (valid Unicode); Go works on UTF-8 bytes, so byte counts that matter
(hex dumps, precision of `%x`) are taken from the UTF-8 encoding by the caller.
"""

from __future__ import annotations

import bisect
import math
import struct
import unicodedata
from dataclasses import dataclass
from typing import Final

LOWER_HEX: Final = "0123456789abcdef"
UPPER_HEX: Final = "0123456789ABCDEF"
MAX_RUNE: Final = 0x10FFFF
RUNE_ERROR: Final = 0xFFFD

_MANT_BITS: Final = 52
_BIAS: Final = -1023
_U64: Final = (1 << 64) - 1
_SIMPLE_ESCAPES: Final = {7: r"\a", 8: r"\b", 12: r"\f", 10: r"\n", 13: r"\r", 9: r"\t", 11: r"\v"}
# Characters Python's Unicode 14 database prints but Go 1.19's Unicode 13 tables do not know
# (added in Unicode 14); found by asking Go for `%#U` of every rune.
_NEWER_THAN_GO: Final = (
    (0x61D, 0x61D),
    (0x870, 0x88E),
    (0x898, 0x89F),
    (0x8B5, 0x8B5),
    (0x8C8, 0x8D2),
    (0xC3C, 0xC3C),
    (0xC5D, 0xC5D),
    (0xCDD, 0xCDD),
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
_NEWER_THAN_GO_STARTS: Final = tuple(start for start, _ in _NEWER_THAN_GO)


@dataclass(frozen=True, slots=True)
class Digits:
    """A decimal `0.DIGITS * 10^point` without trailing zeros; zero has no digits."""

    digits: str
    point: int

    @classmethod
    def shortest(cls, f: float) -> Digits:
        """The fewest digits that read back as `f` (Python's `repr` finds the same ones as Go)."""
        if f == 0:
            return cls("", 0)
        mantissa, _, exponent = repr(abs(f)).partition("e")
        whole, _, fraction = mantissa.partition(".")
        digits = whole + fraction
        point = len(whole) + int(exponent or 0)
        stripped = digits.lstrip("0")
        point -= len(digits) - len(stripped)
        return cls(stripped.rstrip("0"), point)


def format_float(f: float, fmt: str, prec: int) -> str:
    """`strconv.FormatFloat(f, fmt, prec, 64)`; `prec` -1 means the shortest exact form."""
    if math.isinf(f):
        return "+Inf" if f > 0 else "-Inf"
    if math.isnan(f):
        return "NaN"
    if fmt in "bxX":
        return _format_binary(f, fmt, prec)
    sign = "-" if math.copysign(1.0, f) < 0 else ""
    if prec >= 0 and fmt in "eEfFgG":
        return sign + format(abs(f), f".{prec}{fmt}")
    digits = Digits.shortest(f)
    if fmt in "eE":
        return sign + _fixed_exponent(digits, fmt, prec=len(digits.digits) - 1)
    if fmt in "fF":
        return sign + _fixed_point(digits, prec=max(len(digits.digits) - digits.point, 0))
    if fmt in "gG":
        return sign + _shortest_general(digits, "e" if fmt == "g" else "E")
    return "%" + fmt


def _shortest_general(d: Digits, exp_char: str) -> str:
    """`%g` with the shortest digits: the exponent form below 1e-4 and from 1e+06 on."""
    exponent = d.point - 1
    if exponent < -4 or exponent >= 6:
        return _fixed_exponent(d, exp_char, prec=max(len(d.digits) - 1, 0))
    return _fixed_point(d, prec=max(len(d.digits) - d.point, 0))


def _fixed_exponent(d: Digits, exp_char: str, *, prec: int) -> str:
    first = d.digits[:1] or "0"
    rest = d.digits[1 : prec + 1].ljust(prec, "0")
    exponent = d.point - 1 if d.digits else 0
    sign = "-" if exponent < 0 else "+"
    body = f"{first}.{rest}" if prec > 0 else first
    return f"{body}{exp_char}{sign}{abs(exponent):02d}"


def _fixed_point(d: Digits, *, prec: int) -> str:
    whole = d.digits[: d.point].ljust(d.point, "0") if d.point > 0 else "0"
    if prec <= 0:
        return whole
    fraction = "".join(
        d.digits[j] if 0 <= j < len(d.digits) else "0" for j in range(d.point, d.point + prec)
    )
    return f"{whole}.{fraction}"


def _float_bits(f: float) -> tuple[bool, int, int]:
    """Sign, mantissa with the implicit bit, and binary exponent of `mantissa * 2^(exp-52)`."""
    (bits,) = struct.unpack(">Q", struct.pack(">d", f))
    exponent = (bits >> _MANT_BITS) & 0x7FF
    mantissa = bits & ((1 << _MANT_BITS) - 1)
    if exponent == 0:
        exponent = 1
    else:
        mantissa |= 1 << _MANT_BITS
    return bool(bits >> 63), mantissa, exponent + _BIAS


def _format_binary(f: float, fmt: str, prec: int) -> str:
    negative, mantissa, exponent = _float_bits(f)
    sign = "-" if negative else ""
    if fmt == "b":
        power = exponent - _MANT_BITS
        return f"{sign}{mantissa}p{'+' if power >= 0 else ''}{power}"
    return sign + _hex_float(mantissa, exponent, upper=fmt == "X", prec=prec)


def _hex_float(mantissa: int, exponent: int, *, upper: bool, prec: int) -> str:
    """`%x` of a float: `0x1.8p+01`, the leading 1 at bit 60 of the working mantissa."""
    if mantissa == 0:
        exponent = 0
    mantissa <<= 60 - _MANT_BITS
    while mantissa and not mantissa & (1 << 60):
        mantissa <<= 1
        exponent -= 1
    if 0 <= prec < 15:
        shift = prec * 4
        extra = (mantissa << shift) & ((1 << 60) - 1)
        mantissa >>= 60 - shift
        if extra | (mantissa & 1) > 1 << 59:
            mantissa += 1
        mantissa <<= 60 - shift
        if mantissa & (1 << 61):
            mantissa >>= 1
            exponent += 1
    digits = UPPER_HEX if upper else LOWER_HEX
    out = ["0", "X" if upper else "x", str((mantissa >> 60) & 1)]
    mantissa = (mantissa << 4) & _U64
    if (prec < 0 and mantissa) or prec > 0:
        out.append(".")
        count = 0
        while (prec < 0 and mantissa) or (prec >= 0 and count < prec):
            out.append(digits[(mantissa >> 60) & 15])
            mantissa = (mantissa << 4) & _U64
            count += 1
    out.append("P" if upper else "p")
    out.append("-" if exponent < 0 else "+")
    out.append(f"{abs(exponent):02d}")
    return "".join(out)


def is_print(rune: int) -> bool:
    """Go's `unicode.IsPrint`: letters, marks, numbers, punctuation, symbols and ASCII space."""
    if rune == 0x20:
        return True
    if rune > MAX_RUNE or 0xD800 <= rune <= 0xDFFF:
        return False
    if unicodedata.category(chr(rune))[0] not in "LMNPS":
        return False
    n = bisect.bisect_right(_NEWER_THAN_GO_STARTS, rune) - 1
    return n < 0 or rune > _NEWER_THAN_GO[n][1]


def can_backquote(s: str) -> bool:
    """Whether `s` can be written as a Go raw string: no control characters but tab, no '`'."""
    for ch in s:
        r = ord(ch)
        if r == 0xFEFF or (r < 0x20 and r != 9) or r in (0x60, 0x7F):
            return False
    return True


def quote(s: str, *, ascii_only: bool = False) -> str:
    """`strconv.Quote` (or `QuoteToASCII`)."""
    if s.isascii() and s.isprintable():
        return '"' + s.replace("\\", "\\\\").replace('"', '\\"') + '"'
    runes = (escape_rune(ord(ch), quote='"', ascii_only=ascii_only) for ch in go_text(s))
    return '"' + "".join(runes) + '"'


SURROGATE_LOW, SURROGATE_HIGH = chr(0xD800), chr(0xDFFF)
"""Lone surrogates (written with `chr`: mypyc refuses them in string literals)."""


def go_text(s: str) -> str:
    """`s` as Go holds it: a lone surrogate (not valid UTF-8) is U+FFFD, as Go decodes it."""
    if s.isascii() or not any(SURROGATE_LOW <= ch <= SURROGATE_HIGH for ch in s):
        return s
    return "".join("\ufffd" if SURROGATE_LOW <= ch <= SURROGATE_HIGH else ch for ch in s)


def utf8(s: str) -> bytes:
    """The UTF-8 bytes of `go_text(s)`."""
    return go_text(s).encode("utf-8")


def quote_rune(rune: int, *, ascii_only: bool = False) -> str:
    """`strconv.QuoteRune`: invalid runes become U+FFFD."""
    if rune > MAX_RUNE or 0xD800 <= rune <= 0xDFFF or rune < 0:
        rune = RUNE_ERROR
    return "'" + escape_rune(rune, quote="'", ascii_only=ascii_only) + "'"


def escape_rune(rune: int, *, quote: str, ascii_only: bool) -> str:
    """One rune inside a Go quoted literal."""
    if rune == ord(quote) or rune == 0x5C:
        return "\\" + chr(rune)
    printable = is_print(rune)
    if printable and (not ascii_only or rune < 0x80):
        return chr(rune)
    if rune in _SIMPLE_ESCAPES:
        return _SIMPLE_ESCAPES[rune]
    if rune < 0x20 or rune == 0x7F:
        return f"\\x{rune:02x}"
    if rune > MAX_RUNE or 0xD800 <= rune <= 0xDFFF:
        rune = RUNE_ERROR
    if rune < 0x10000:
        return f"\\u{rune:04x}"
    return f"\\U{rune:08x}"
