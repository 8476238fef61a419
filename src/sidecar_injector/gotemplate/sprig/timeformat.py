"""Go's `time.Time` (`GoTime`), its layouts (`"2006-01-02 15:04:05"`), and durations.

A layout is literal text around reference-time elements; `chunks` finds the elements the
way Go's `nextStdChunk` does, and `format_time`/`parse_time` apply them.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator
from dataclasses import dataclass
from typing import ClassVar, Final

from .. import values
from .timezones import (
    LOCAL,
    SECONDS_PER_DAY,
    UTC,
    ZERO_UNIX,
    Location,
    civil_from_days,
    days_from_civil,
)

MONTHS: Final = (
    "January",
    "February",
    "March",
    "April",
    "May",
    "June",
    "July",
    "August",
    "September",
    "October",
    "November",
    "December",
)
DAYS: Final = ("Sunday", "Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday")


@dataclass(frozen=True, slots=True)
class Civil:
    """The calendar fields of an instant in a zone."""

    year: int
    month: int
    day: int
    hour: int
    minute: int
    second: int
    nanosecond: int
    weekday: int
    yearday: int
    zone: str
    offset: int


class GoTime(values.Struct):
    """A Go `time.Time`: `unix` seconds, `nanos` within the second, and a location."""

    go_type: ClassVar[str] = "time.Time"
    go_fields: ClassVar[tuple[str, ...]] = ()

    def __init__(
        self, unix: int, nanos: int = 0, location: Location = UTC, *, monotonic: int | None = None
    ) -> None:
        self.unix = unix
        self.nanos = nanos
        self.location = location
        self.monotonic = monotonic

    def civil(self) -> Civil:
        """Calendar fields in this time's location."""
        zone, offset = self.location.lookup(self.unix)
        local = self.unix + offset
        days, secs = divmod(local, SECONDS_PER_DAY)
        year, month, day = civil_from_days(days)
        yearday = days - days_from_civil(year, 1, 1) + 1
        weekday = (days + 4) % 7
        hour, rem = divmod(secs, 3600)
        return Civil(
            year, month, day, hour, rem // 60, rem % 60, self.nanos, weekday, yearday, zone, offset
        )

    def in_location(self, location: Location) -> GoTime:
        """Go's `t.In(loc)`, which drops the monotonic clock reading."""
        return GoTime(self.unix, self.nanos, location)

    def add_nanos(self, nanos: int) -> GoTime:
        """Go's `t.Add(d)`."""
        seconds, rest = divmod(self.nanos + nanos, 10**9)
        monotonic = None if self.monotonic is None else self.monotonic + nanos
        return GoTime(self.unix + seconds, rest, self.location, monotonic=monotonic)

    def unix_nanos(self) -> int:
        """Nanoseconds since the Unix epoch."""
        return self.unix * 10**9 + self.nanos

    def is_zero(self) -> bool:
        """Whether this is Go's zero `Time`."""
        return self.unix == ZERO_UNIX and self.nanos == 0

    def String(self) -> str:
        """Go's `Time.String`: a time from the clock also shows its monotonic reading."""
        text = format_time(self, "2006-01-02 15:04:05.999999999 -0700 MST")
        if self.monotonic is None:
            return text
        sign = "-" if self.monotonic < 0 else "+"
        seconds, nanos = divmod(abs(self.monotonic), 10**9)
        return f"{text} m={sign}{seconds}.{nanos:09d}"

    def Format(self, layout: str) -> str:
        """Go's `Time.Format`."""
        return format_time(self, layout)

    def Unix(self) -> values.Int:
        """Seconds since the epoch."""
        return values.Int(self.unix, "int64")

    def UnixNano(self) -> values.Int:
        """Nanoseconds since the epoch."""
        return values.Int(self.unix_nanos(), "int64")

    def UTC(self) -> GoTime:
        """The same instant in UTC."""
        return self.in_location(UTC)

    def Local(self) -> GoTime:
        """The same instant in the local zone."""
        return self.in_location(LOCAL)

    def Year(self) -> int:
        """The year."""
        return self.civil().year

    def YearDay(self) -> int:
        """The day of the year, 1 to 366."""
        return self.civil().yearday

    def Day(self) -> int:
        """The day of the month."""
        return self.civil().day

    def Hour(self) -> int:
        """The hour, 0 to 23."""
        return self.civil().hour

    def Minute(self) -> int:
        """The minute."""
        return self.civil().minute

    def Second(self) -> int:
        """The second."""
        return self.civil().second

    def Nanosecond(self) -> int:
        """The nanosecond within the second."""
        return self.nanos

    def IsZero(self) -> bool:
        """Whether this is the zero time."""
        return self.is_zero()

    def MarshalJSON(self) -> str:
        """RFC 3339 with nanoseconds, quoted."""
        return '"' + format_time(self, "2006-01-02T15:04:05.999999999Z07:00") + '"'

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, GoTime):
            return NotImplemented
        return (self.unix, self.nanos, self.location) == (other.unix, other.nanos, other.location)

    def __hash__(self) -> int:
        return hash((self.unix, self.nanos, self.location))

    def __repr__(self) -> str:
        return f"GoTime({self.String()!r})"


def from_datetime(moment: dt.datetime, location: Location = LOCAL) -> GoTime:
    """A `GoTime` at the instant of an aware (or UTC-naive) `datetime`."""
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=dt.UTC)
    delta = moment - dt.datetime(1970, 1, 1, tzinfo=dt.UTC)
    seconds = delta.days * SECONDS_PER_DAY + delta.seconds
    return GoTime(seconds, delta.microseconds * 1000, location)


def from_civil(
    civil: tuple[int, int, int, int, int, int], nanos: int, location: Location
) -> GoTime:
    """Go's `time.Date` (fields already in range): the instant shown as `civil` in `location`."""
    year, month, day, hour, minute, second = civil
    local = days_from_civil(year, month, day) * SECONDS_PER_DAY + hour * 3600 + minute * 60 + second
    _, offset = location.lookup(local)
    unix = local - offset
    _, corrected = location.lookup(unix)
    if corrected != offset:
        unix = local - corrected
    return GoTime(unix, nanos, location)


# Elements by their layout text, longest first within a leading character.
_ELEMENTS: Final = (
    "January", "Jan", "Monday", "Mon", "MST",
    "01", "02", "03", "04", "05", "06", "002",
    "15", "1", "2006", "2", "__2", "_2",
    "3", "4", "5", "PM", "pm",
    "-070000", "-07:00:00", "-0700", "-07:00", "-07",
    "Z070000", "Z07:00:00", "Z0700", "Z07:00", "Z07",
)  # fmt: skip
NUMERIC_ZONES: Final = frozenset(e for e in _ELEMENTS if e[0] in "-Z")


def _fraction_at(layout: str, i: int) -> str | None:
    if i + 1 >= len(layout) or layout[i + 1] not in "09":
        return None
    j = i + 1
    while j < len(layout) and layout[j] == layout[i + 1]:
        j += 1
    if j < len(layout) and layout[j].isdigit():
        return None
    return layout[i:j]


def _element_at(layout: str, i: int) -> str | None:
    ch = layout[i]
    if ch in ".,":
        return _fraction_at(layout, i)
    if ch == "_" and layout.startswith("_2006", i):
        return None
    for element in _ELEMENTS:
        if layout.startswith(element, i):
            if element in ("Jan", "Mon") and layout[i + 3 : i + 4].islower():
                continue
            if element == "2" and layout.startswith("2006", i):
                continue
            return element
    return None


def chunks(layout: str) -> Iterator[tuple[str, str]]:
    """(literal prefix, element) pairs; the last element is `""` after trailing text."""
    start = i = 0
    while i < len(layout):
        element = _element_at(layout, i)
        if element is None:
            i += 1
            continue
        yield layout[start:i], element
        i += len(element)
        start = i
    yield layout[start:], ""


def _pad(n: int, width: int) -> str:
    return ("-" if n < 0 else "") + str(abs(n)).zfill(width)


def _zone(offset: int, element: str) -> str:
    if element.startswith("Z") and offset == 0:
        return "Z"
    sign = "-" if offset < 0 else "+"
    minutes, seconds = divmod(abs(offset), 60)
    colon = ":" if ":" in element else ""
    text = sign + _pad(minutes // 60, 2)
    if not element.endswith("07") or element.endswith(("0700", "07:00")):
        text += colon + _pad(minutes % 60, 2)
    if element.endswith(("070000", "07:00:00")):
        text += colon + _pad(seconds, 2)
    return text


def _fraction(nanos: int, element: str) -> str:
    digits = str(nanos).zfill(9)[: len(element) - 1]
    if element[1] == "9":
        digits = digits.rstrip("0")
        return element[0] + digits if digits else ""
    return element[0] + digits


def _format_element(element: str, t: GoTime) -> str:
    c = t.civil()
    hour12 = c.hour % 12 or 12
    simple = {
        "January": MONTHS[c.month - 1], "Jan": MONTHS[c.month - 1][:3],
        "Monday": DAYS[c.weekday], "Mon": DAYS[c.weekday][:3],
        "1": str(c.month), "01": _pad(c.month, 2),
        "2": str(c.day), "_2": str(c.day).rjust(2), "02": _pad(c.day, 2),
        "__2": str(c.yearday).rjust(3), "002": _pad(c.yearday, 3),
        "15": _pad(c.hour, 2), "3": str(hour12), "03": _pad(hour12, 2),
        "4": str(c.minute), "04": _pad(c.minute, 2), "5": str(c.second), "05": _pad(c.second, 2),
        "2006": _pad(c.year, 4), "06": _pad(c.year % 100, 2),
        "PM": "PM" if c.hour >= 12 else "AM", "pm": "pm" if c.hour >= 12 else "am",
    }  # fmt: skip
    if element in simple:
        return simple[element]
    if element == "MST":
        return c.zone if c.zone else _zone(c.offset, "-0700")
    if element in NUMERIC_ZONES:
        return _zone(c.offset, element)
    return _fraction(c.nanosecond, element)


def format_time(t: GoTime, layout: str) -> str:
    """Go's `t.Format(layout)`."""
    return "".join(prefix + (_format_element(e, t) if e else "") for prefix, e in chunks(layout))
