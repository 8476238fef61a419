"""Go's `time.Duration`: parsing (`1h30m`, `-1.5s`) and printing (`1h30m0s`)."""

from __future__ import annotations

from typing import Final

from .. import values
from .timezones import go_quote

_UNITS: Final = {
    "ns": 1,
    "us": 10**3,
    "\u00b5s": 10**3,
    "\u03bcs": 10**3,
    "ms": 10**6,
    "s": 10**9,
    "m": 60 * 10**9,
    "h": 3600 * 10**9,
}


def parse_duration(text: str) -> int:
    """Go's `time.ParseDuration`, in nanoseconds; `GoError` with Go's message."""
    invalid = values.GoError(f"time: invalid duration {go_quote(text)}")
    s = text
    negative = s[:1] == "-"
    s = s[1:] if s[:1] in "+-" else s
    if s == "0":
        return 0
    if not s:
        raise invalid
    total = 0
    while s:
        whole, s = _leading(s, "0123456789")
        fraction = ""
        if s.startswith("."):
            fraction, s = _leading(s[1:], "0123456789")
            if not whole and not fraction:
                raise invalid
        elif not whole:
            raise invalid
        unit, s = _leading(s, None)
        if not unit:
            raise values.GoError(f"time: missing unit in duration {go_quote(text)}")
        if unit not in _UNITS:
            raise values.GoError(
                f"time: unknown unit {go_quote(unit)} in duration {go_quote(text)}"
            )
        scale = _UNITS[unit]
        value = int(whole or 0) * scale
        if fraction:
            value += int(int(fraction) * (scale / 10 ** len(fraction)))
        total += value
        if total > 2**63:
            raise invalid
    if not negative and total > 2**63 - 1:
        raise invalid
    return -total if negative else total


def _leading(s: str, allowed: str | None) -> tuple[str, str]:
    """The longest prefix of `allowed` characters (None: anything but digits and `.`)."""
    i = 0
    while i < len(s) and ((s[i] in allowed) if allowed is not None else s[i] not in ".0123456789"):
        i += 1
    return s[:i], s[i:]


def format_duration(nanos: int) -> str:
    """Go's `Duration.String`: `1h2m3.5s`, `1.5ms`, `0s`."""
    if nanos == 0:
        return "0s"
    sign = "-" if nanos < 0 else ""
    u = abs(nanos)
    if u < 10**9:
        for scale, unit in ((1, "ns"), (10**3, "\u00b5s"), (10**6, "ms")):
            if u < scale * 1000:
                return sign + _decimal(u, scale) + unit
    hours, rest = divmod(u, 3600 * 10**9)
    minutes, rest = divmod(rest, 60 * 10**9)
    text = _decimal(rest, 10**9) + "s"
    if hours or minutes:
        text = f"{minutes}m" + text
    if hours:
        text = f"{hours}h" + text
    return sign + text


def _decimal(n: int, scale: int) -> str:
    whole, fraction = divmod(n, scale)
    if not fraction:
        return str(whole)
    digits = str(fraction).zfill(len(str(scale)) - 1).rstrip("0")
    return f"{whole}.{digits}"
