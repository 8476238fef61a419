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
    days_in,
    go_quote,
    is_leap,
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

    def __init__(self, unix: int, nanos: int = 0, location: Location = UTC) -> None:
        self.unix = unix
        self.nanos = nanos
        self.location = location

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
        """Go's `t.In(loc)`."""
        return GoTime(self.unix, self.nanos, location)

    def add_nanos(self, nanos: int) -> GoTime:
        """Go's `t.Add(d)`."""
        seconds, rest = divmod(self.nanos + nanos, 10**9)
        return GoTime(self.unix + seconds, rest, self.location)

    def unix_nanos(self) -> int:
        """Nanoseconds since the Unix epoch."""
        return self.unix * 10**9 + self.nanos

    def is_zero(self) -> bool:
        """Whether this is Go's zero `Time`."""
        return self.unix == ZERO_UNIX and self.nanos == 0

    def String(self) -> str:
        """Go's `Time.String`."""
        return format_time(self, "2006-01-02 15:04:05.999999999 -0700 MST")

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
_NUMERIC_ZONES: Final = frozenset(e for e in _ELEMENTS if e[0] in "-Z")


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


def _go_atoi(text: str) -> int | None:
    """The `time` package's `atoi`: an optional sign, then decimal digits."""
    body = text[1:] if text[:1] in "+-" else text
    if not body or not (body.isascii() and body.isdigit()):
        return None
    return -int(body) if text.startswith("-") else int(body)


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
    if element in _NUMERIC_ZONES:
        return _zone(c.offset, element)
    return _fraction(c.nanosecond, element)


def format_time(t: GoTime, layout: str) -> str:
    """Go's `t.Format(layout)`."""
    return "".join(prefix + (_format_element(e, t) if e else "") for prefix, e in chunks(layout))


def _signed_offset_length(value: str) -> int:
    """Go's `parseSignedOffset`: the length of `+h`/`-hh` (hours up to 23), or 0."""
    if value[:1] not in ("+", "-"):
        return 0
    digits = 0
    while 1 + digits < len(value) and value[1 + digits].isascii() and value[1 + digits].isdigit():
        digits += 1
    if not digits or int(value[1 : 1 + digits]) > 23:
        return 0
    return 1 + digits


def zone_name_length(value: str) -> int:
    """Go's `parseTimeZone`: how much of `value` is a zone abbreviation (0: none)."""
    if len(value) < 3:
        return 0
    if value[:4] in ("ChST", "MeST"):
        return 4
    if value.startswith("GMT"):
        return 3 + _signed_offset_length(value[3:])
    if value[0] in "+-":
        return _signed_offset_length(value)
    upper = 0
    while upper < min(len(value), 6) and "A" <= value[upper] <= "Z":
        upper += 1
    if upper == 3:
        return 3
    if upper == 4 and (value[3] == "T" or value[:4] == "WITA"):
        return 4
    if upper == 5 and value[4] == "T":
        return 5
    return 0


class ParseFailure(values.GoError):
    """Go's `*time.ParseError`."""


class _Parser:
    """Go's `time.Parse` over one value."""

    def __init__(self, layout: str, value: str) -> None:
        self.layout, self.original = layout, value
        self.rest = value
        self.fields = {"year": 0, "month": -1, "day": -1, "yday": -1, "hour": 0, "minute": 0}
        self.fields |= {"second": 0, "nanos": 0}
        self.pm: bool | None = None
        self.offset: int | None = None
        self.zone_name = ""
        self.utc = False

    def fail(self, value_elem: str, layout_elem: str) -> ParseFailure:
        return ParseFailure(
            f"parsing time {go_quote(self.original)} as {go_quote(self.layout)}: "
            f"cannot parse {go_quote(value_elem)} as {go_quote(layout_elem)}"
        )

    def range_error(self, what: str) -> ParseFailure:
        return ParseFailure(f"parsing time {go_quote(self.original)}: {what} out of range")

    def skip(self, prefix: str) -> None:
        value = self.rest
        while prefix:
            if prefix[0] == " ":
                if value and value[0] != " ":
                    raise self.fail(self.rest, prefix)
                prefix, value = prefix.lstrip(" "), value.lstrip(" ")
                continue
            if not value or value[0] != prefix[0]:
                raise self.fail(self.rest, prefix)
            prefix, value = prefix[1:], value[1:]
        self.rest = value

    def number(self, element: str, *, fixed: bool, width: int = 2) -> int:
        digits = 0
        while digits < len(self.rest) and digits < width and self.rest[digits].isdigit():
            digits += 1
        if digits == 0 or (fixed and digits < width) or not self.rest[:1].isascii():
            raise self.fail(self.rest, element)
        n = int(self.rest[:digits])
        self.rest = self.rest[digits:]
        return n

    def name(self, element: str, names: list[str]) -> int:
        for i, name in enumerate(names):
            if self.rest[: len(name)].lower() == name.lower():
                self.rest = self.rest[len(name) :]
                return i
        raise self.fail(self.rest, element)

    def run(self) -> GoTime:
        elements = list(chunks(self.layout))
        for index, (prefix, element) in enumerate(elements):
            self.skip(prefix)
            if not element:
                if self.rest:
                    raise ParseFailure(
                        f"parsing time {go_quote(self.original)}: extra text: {go_quote(self.rest)}"
                    )
                break
            following = elements[index + 1][1] if index + 1 < len(elements) else ""
            self.element(element, following)
        return self.build()

    def element(self, element: str, following: str) -> None:
        f = self.fields
        before = self.rest
        if element == "2006":
            if len(self.rest) < 4 or not self.rest[:1].isdigit():
                raise self.fail(self.rest, element)
            digits, self.rest = self.rest[:4], self.rest[4:]
            if not (digits.isascii() and digits.isdigit()):
                raise self.fail(self.rest, element)
            f["year"] = int(digits)
        elif element == "06":
            year = self.number(element, fixed=True)
            f["year"] = year + (1900 if year >= 69 else 2000)
        elif element in ("January", "Jan"):
            names = list(MONTHS) if element == "January" else [m[:3] for m in MONTHS]
            f["month"] = self.name(element, names) + 1
        elif element in ("Monday", "Mon"):
            self.name(element, list(DAYS) if element == "Monday" else [d[:3] for d in DAYS])
        elif element in ("1", "01"):
            f["month"] = self._ranged(element, fixed=element == "01", low=1, high=12, what="month")
        elif element in ("2", "_2", "02"):
            if element == "_2" and self.rest.startswith(" "):
                self.rest = self.rest[1:]
            f["day"] = self.number(element, fixed=element == "02")
        elif element in ("__2", "002"):
            for _ in range(2):
                if element == "__2" and self.rest.startswith(" "):
                    self.rest = self.rest[1:]
            f["yday"] = self.number(element, fixed=element == "002", width=3)
        elif element == "15":
            f["hour"] = self._ranged(element, fixed=False, low=0, high=23, what="hour")
        elif element in ("3", "03"):
            f["hour"] = self._ranged(element, fixed=element == "03", low=0, high=12, what="hour")
        elif element in ("4", "04"):
            f["minute"] = self._ranged(
                element, fixed=element == "04", low=0, high=59, what="minute"
            )
        elif element in ("5", "05"):
            f["second"] = self._ranged(
                element, fixed=element == "05", low=0, high=59, what="second"
            )
            if following[:1] not in (".", ",") or following[1:2] not in ("0", "9"):
                self._optional_fraction()
        elif element in ("PM", "pm"):
            self._meridiem(element)
        elif element == "MST":
            self._zone_name(element)
        elif element in _NUMERIC_ZONES:
            self._numeric_zone(element)
        else:
            self._fraction(element, before)

    def _ranged(
        self, element: str, *, fixed: bool, low: int, high: int, what: str, width: int = 2
    ) -> int:
        n = self.number(element, fixed=fixed, width=width)
        if not low <= n <= high:
            raise self.range_error(what)
        return n

    def _optional_fraction(self) -> None:
        if len(self.rest) >= 2 and self.rest[0] in ".," and self.rest[1].isdigit():
            end = 1
            while end < len(self.rest) and self.rest[end].isdigit():
                end += 1
            self.fields["nanos"] = int(self.rest[1:end][:9].ljust(9, "0"))
            self.rest = self.rest[end:]

    def _fraction(self, element: str, before: str) -> None:
        if element[1] == "9":
            self._optional_fraction()
            return
        n = len(element)
        if len(self.rest) < n:
            raise self.fail(before, element)
        text, self.rest = self.rest[:n], self.rest[n:]
        if text[0] not in ".," or not (text[1:].isascii() and text[1:].isdigit()):
            raise self.fail(self.rest, element)
        self.fields["nanos"] = int(text[1:][:9].ljust(9, "0"))

    def _meridiem(self, element: str) -> None:
        if len(self.rest) < 2:
            raise self.fail(self.rest, element)
        word, self.rest = self.rest[:2], self.rest[2:]
        pm, am = ("PM", "AM") if element == "PM" else ("pm", "am")
        if word not in (pm, am):
            raise self.fail(self.rest, element)
        self.pm = word == pm

    def _zone_name(self, element: str) -> None:
        if self.rest.startswith("UTC"):
            self.rest, self.utc = self.rest[3:], True
            return
        length = zone_name_length(self.rest)
        if not length:
            raise self.fail(self.rest, element)
        self.zone_name, self.rest = self.rest[:length], self.rest[length:]

    def _numeric_zone(self, element: str) -> None:
        if element in ("Z0700", "Z07", "Z07:00") and self.rest.startswith("Z"):
            self.rest, self.utc = self.rest[1:], True
            return
        shape = element[1:]
        text = self.rest[: len(element)]
        colons_ok = all(text[i : i + 1] == ":" for i, ch in enumerate(shape, 1) if ch == ":")
        if len(text) < len(element) or not colons_ok:
            raise self.fail(self.rest, element)
        self.rest = self.rest[len(element) :]
        digits = [text[i : i + 2] for i in range(1, len(text), 3 if ":" in shape else 2)]
        digits += ["00"] * (3 - len(digits))
        parts = [_go_atoi(d) for d in digits]
        if None in parts or text[0] not in "+-":
            raise self.fail(self.rest, element)
        hours, minutes, seconds = (p or 0 for p in parts)
        offset = (hours * 60 + minutes) * 60 + seconds
        self.offset = -offset if text[0] == "-" else offset

    def build(self) -> GoTime:
        f = self.fields
        hour = f["hour"]
        if self.pm is True and hour < 12:
            hour += 12
        elif self.pm is False and hour == 12:
            hour = 0
        month, day = f["month"], f["day"]
        if f["yday"] >= 0:
            month, day = self._from_yearday(f["year"], f["yday"], month, day)
        month, day = (1 if month < 0 else month), (1 if day < 0 else day)
        if day > days_in(month, f["year"]):
            raise self.late_error("day out of range")
        civil = (f["year"], month, day, hour, f["minute"], f["second"])
        return self._locate(civil, f["nanos"])

    def _from_yearday(self, year: int, yday: int, month: int, day: int) -> tuple[int, int]:
        leap_day = is_leap(year) and yday == 31 + 29
        if is_leap(year) and yday > 31 + 29:
            yday -= 1
        if not leap_day and not 1 <= yday <= 365:
            raise self.late_error("day-of-year out of range")
        m, d = 2, 29
        if not leap_day:
            m, d = 1, yday
            while d > days_in(m, 2001):
                d -= days_in(m, 2001)
                m += 1
        if month >= 0 and month != m:
            raise self.late_error("day-of-year does not match month")
        if day >= 0 and day != d:
            raise self.late_error("day-of-year does not match day")
        return m, d

    def late_error(self, message: str) -> ParseFailure:
        return ParseFailure(f"parsing time {go_quote(self.original)}: {message}")

    def _locate(self, civil: tuple[int, int, int, int, int, int], nanos: int) -> GoTime:
        if self.utc and self.offset is None:
            return from_civil(civil, nanos, UTC)
        if self.offset is not None:
            moment = from_civil(civil, nanos, UTC)
            moment = GoTime(moment.unix - self.offset, nanos, UTC)
            name, local_offset = LOCAL.lookup(moment.unix)
            if local_offset == self.offset and (not self.zone_name or name == self.zone_name):
                return moment.in_location(LOCAL)
            return moment.in_location(Location("fixed", self.zone_name, self.offset))
        if self.zone_name:
            moment = from_civil(civil, nanos, UTC)
            name, local_offset = LOCAL.lookup(moment.unix - LOCAL.lookup(moment.unix)[1])
            if name == self.zone_name:
                return GoTime(moment.unix - local_offset, nanos, LOCAL)
            offset = 0
            if len(self.zone_name) > 3 and self.zone_name.startswith("GMT"):
                offset = int(self.zone_name[3:]) * 3600
            return moment.in_location(Location("fixed", self.zone_name, offset))
        return from_civil(civil, nanos, self.location)

    location: Location = LOCAL


def parse_time(layout: str, value: str, location: Location = LOCAL) -> GoTime:
    """Go's `time.ParseInLocation`; raises `ParseFailure` with Go's message."""
    parser = _Parser(layout, value)
    parser.location = location
    return parser.run()
