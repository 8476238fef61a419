"""Go's locations and calendar arithmetic.

Calendar fields come from days-since-epoch arithmetic rather than `datetime`, so that Go's
zero time (year 1) and parsed times in year 0 work. Locations are UTC, Local (the
process's zone, as Go's `time.Local`), an IANA zone (`zoneinfo`), or a fixed offset.
"""

from __future__ import annotations

import datetime as dt
import time
import zoneinfo
from dataclasses import dataclass
from typing import Final

SECONDS_PER_DAY: Final = 86400
ZERO_UNIX: Final = -62135596800  # 0001-01-01T00:00:00Z, Go's zero Time


@dataclass(frozen=True, slots=True)
class Location:
    """Where a time is shown: `kind` is `utc`, `local`, `iana` or `fixed`."""

    kind: str
    name: str = "UTC"
    offset: int = 0

    def lookup(self, unix: int) -> tuple[str, int]:
        """The zone abbreviation and offset in effect at `unix`."""
        if self.kind == "utc":
            return "UTC", 0
        if self.kind == "fixed":
            return self.name, self.offset
        if self.kind == "local":
            return _local_lookup(unix)
        return _iana_lookup(self.name, unix)


UTC: Final = Location("utc")
LOCAL: Final = Location("local", "Local")


# Instants `datetime` can place in any zone (years 2 to 9998).
_FIRST: Final = -62104060800
_LAST: Final = 253339214400


def _clamp_unix(unix: int) -> int:
    return max(_FIRST, min(unix, _LAST))


def _local_lookup(unix: int) -> tuple[str, int]:
    try:
        local = time.localtime(_clamp_unix(unix))
    except (OverflowError, OSError):  # pragma: no cover - platform limits
        return "UTC", 0
    return local.tm_zone, local.tm_gmtoff


def _iana_lookup(name: str, unix: int) -> tuple[str, int]:
    moment = dt.datetime.fromtimestamp(_clamp_unix(unix), zoneinfo.ZoneInfo(name))
    offset = moment.utcoffset()
    seconds = int(offset.total_seconds()) if offset is not None else 0
    return moment.tzname() or "", seconds


def load_location(name: str) -> Location | None:
    """Go's `time.LoadLocation`: None where Go reports an error."""
    if name in ("", "UTC"):
        return UTC
    if name == "Local":
        return LOCAL
    try:
        zoneinfo.ZoneInfo(name)
    except (zoneinfo.ZoneInfoNotFoundError, ValueError):
        return None
    return Location("iana", name)


def days_from_civil(year: int, month: int, day: int) -> int:
    """Days since 1970-01-01 of a proleptic Gregorian date (any year)."""
    y = year - (month <= 2)
    era = y // 400
    yoe = y - era * 400
    doy = (153 * (month + (-3 if month > 2 else 9)) + 2) // 5 + day - 1
    doe = yoe * 365 + yoe // 4 - yoe // 100 + doy
    return era * 146097 + doe - 719468


def civil_from_days(days: int) -> tuple[int, int, int]:
    """(year, month, day) of a day count since 1970-01-01."""
    z = days + 719468
    era = z // 146097
    doe = z - era * 146097
    yoe = (doe - doe // 1460 + doe // 36524 - doe // 146096) // 365
    doy = doe - (365 * yoe + yoe // 4 - yoe // 100)
    mp = (5 * doy + 2) // 153
    day = doy - (153 * mp + 2) // 5 + 1
    month = mp + (3 if mp < 10 else -9)
    return yoe + era * 400 + (month <= 2), month, day


def is_leap(year: int) -> bool:
    """Gregorian leap year."""
    return year % 4 == 0 and (year % 100 != 0 or year % 400 == 0)


def days_in(month: int, year: int) -> int:
    """Days in the month."""
    if month == 2:
        return 29 if is_leap(year) else 28
    return 30 if month in (4, 6, 9, 11) else 31


def go_quote(s: str) -> str:
    """The `time` package's own quoting in error messages: non-ASCII as `\\x` bytes."""
    out = ['"']
    for ch in s:
        if ch >= "\x80" or ch < " ":
            out.extend(f"\\x{b:02x}" for b in ch.encode("utf-8", "surrogatepass"))
        else:
            out.append("\\" + ch if ch in '"\\' else ch)
    out.append('"')
    return "".join(out)
