"""Go's `fmt/format.go`: padding, signs, digits and quoting of one formatted operand."""

from __future__ import annotations

from dataclasses import dataclass

from sidecar_injector.gotemplate.strconv import (
    MAX_RUNE,
    RUNE_ERROR,
    UPPER_HEX,
    can_backquote,
    format_float,
    go_text,
    is_print,
    quote,
    quote_rune,
    utf8,
)


@dataclass(slots=True)
class Flags:
    """The flags, width and precision of one directive (Go's `fmtFlags` plus `wid`/`prec`)."""

    plus: bool = False
    minus: bool = False
    sharp: bool = False
    space: bool = False
    zero: bool = False
    plus_v: bool = False
    sharp_v: bool = False
    wid: int = 0
    wid_present: bool = False
    prec: int = 0
    prec_present: bool = False


class Formatter:
    """Go's `fmt` type: a buffer and the flags of the directive being printed."""

    def __init__(self) -> None:
        self.buf: list[str] = []
        self.flags = Flags()

    def text(self) -> str:
        return "".join(self.buf)

    def write(self, s: str) -> None:
        self.buf.append(s)

    def fmt_0x64(self, value: int, *, leading_0x: bool) -> None:
        saved = self.flags.sharp
        self.flags.sharp = leading_0x
        self.fmt_integer(value, base=16, verb="v", upper=False)
        self.flags.sharp = saved

    def pad(self, s: str) -> None:
        f = self.flags
        if not f.wid_present or f.wid == 0:
            self.write(s)
        elif f.minus:
            self.write(s)
            self.write_padding(f.wid - len(s))
        else:
            self.write_padding(f.wid - len(s))
            self.write(s)

    def write_padding(self, n: int) -> None:
        if n > 0:
            self.write(("0" if self.flags.zero else " ") * n)

    def pad_unzeroed(self, s: str) -> None:
        """Pad with spaces even under the `0` flag (numbers that zero-pad themselves)."""
        saved = self.flags.zero
        self.flags.zero = False
        self.pad(s)
        self.flags.zero = saved

    def fmt_integer(self, value: int, *, base: int, verb: str, upper: bool) -> None:
        f = self.flags
        negative, u = value < 0, abs(value)
        prec = 0
        if f.prec_present:
            prec = f.prec
            if prec == 0 and u == 0:
                saved, f.zero = f.zero, False
                self.write_padding(f.wid)
                f.zero = saved
                return
        elif f.zero and f.wid_present:
            prec = f.wid - (1 if negative or f.plus or f.space else 0)
        digits = format(u, {2: "b", 8: "o", 10: "d", 16: "X" if upper else "x"}[base])
        digits = digits.rjust(prec, "0")
        if f.sharp and base == 2:
            digits = "0b" + digits
        elif f.sharp and base == 8 and digits[0] != "0":
            digits = "0" + digits
        elif f.sharp and base == 16:
            digits = ("0X" if upper else "0x") + digits
        if verb == "O":
            digits = "0o" + digits
        sign = "-" if negative else "+" if f.plus else " " if f.space else ""
        self.pad_unzeroed(sign + digits)

    def fmt_c(self, value: int) -> None:
        rune = value if value <= MAX_RUNE and not 0xD800 <= value <= 0xDFFF else RUNE_ERROR
        self.pad(chr(rune))

    def fmt_qc(self, value: int) -> None:
        rune = value if value <= MAX_RUNE else RUNE_ERROR
        self.pad(quote_rune(rune, ascii_only=self.flags.plus))

    def fmt_unicode(self, value: int) -> None:
        f = self.flags
        prec = f.prec if f.prec_present and f.prec > 4 else 4
        text = "U+" + format(value, "X").rjust(prec, "0")
        if f.sharp and value <= MAX_RUNE and is_print(value):
            text += f" '{chr(value)}'"
        self.pad_unzeroed(text)

    def fmt_s(self, s: str) -> None:
        self.pad(self.truncate(s))

    def truncate(self, s: str) -> str:
        return s[: self.flags.prec] if self.flags.prec_present else s

    def fmt_q(self, s: str) -> None:
        s = go_text(self.truncate(s))
        if self.flags.sharp and can_backquote(s):
            self.pad(f"`{s}`")
        else:
            self.pad(quote(s, ascii_only=self.flags.plus))

    def fmt_sx(self, s: str | bytes, *, digits: str) -> None:
        """`%x` of a string or `[]byte`: two hex digits a byte, `% x` spaced, `%#x` with `0x`."""
        f = self.flags
        data = utf8(s) if isinstance(s, str) else s
        if f.prec_present:
            data = data[: f.prec]
        if not data:
            if f.wid_present:
                self.write_padding(f.wid)
            return
        prefix = ("0X" if digits is UPPER_HEX else "0x") if f.sharp else ""
        if f.space:
            text = " ".join(prefix + digits[b >> 4] + digits[b & 15] for b in data)
        else:
            text = prefix + "".join(digits[b >> 4] + digits[b & 15] for b in data)
        if f.wid_present and f.wid > len(text) and not f.minus:
            self.write_padding(f.wid - len(text))
        self.write(text)
        if f.wid_present and f.wid > len(text) and f.minus:
            self.write_padding(f.wid - len(text))

    def fmt_float(self, value: float, verb: str, prec: int) -> None:
        f = self.flags
        if f.prec_present:
            prec = f.prec
        num = format_float(value, verb, prec)
        num = num if num[0] in "+-" else "+" + num
        if f.space and num[0] == "+" and not f.plus:
            num = " " + num[1:]
        if num[1] in "IN":
            if num[1] == "N" and not f.space and not f.plus:
                num = num[1:]
            self.pad_unzeroed(num)
            return
        if f.sharp and verb != "b":
            num = force_point(num, verb, prec)
        if f.plus or num[0] != "+":
            if f.zero and f.wid_present and f.wid > len(num):
                self.write(num[0])
                self.write_padding(f.wid - len(num))
                self.write(num[1:])
            else:
                self.pad(num)
            return
        self.pad(num[1:])


def force_point(num: str, verb: str, prec: int) -> str:
    """The `#` flag on floats: always a decimal point, and `%#g` keeps its trailing zeros."""
    digits = (6 if prec == -1 else prec) if verb in "vgGx" else 0
    tail = ""
    has_point = saw_nonzero = False
    for i in range(1, len(num)):
        c = num[i]
        if c == ".":
            has_point = True
        elif c in "pP" or (c in "eE" and verb not in "xX"):
            num, tail = num[:i], num[i:]
            break
        else:
            saw_nonzero = saw_nonzero or c != "0"
            if saw_nonzero:
                digits -= 1
    if not has_point:
        if len(num) == 2 and num[1] == "0":
            digits -= 1
        num += "."
    return num + "0" * max(digits, 0) + tail
