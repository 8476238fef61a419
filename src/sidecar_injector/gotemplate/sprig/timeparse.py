"""Go's `time.Parse` over a layout: the value read element by element, with Go's errors.

Errors name what Go names: the remaining value and the layout element that failed
(`cannot parse "x" as "2006"`), a field out of range, or extra text.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import ClassVar, Final

from .. import values
from .timeformat import DAYS, MONTHS, NUMERIC_ZONES, GoTime, chunks, from_civil
from .timezones import LOCAL, UTC, Location, days_in, go_quote, is_leap


def _go_atoi(text: str) -> int | None:
    """The `time` package's `atoi`: an optional sign, then decimal digits."""
    body = text[1:] if text[:1] in "+-" else text
    if not body or not (body.isascii() and body.isdigit()):
        return None
    return -int(body) if text.startswith("-") else int(body)


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


# Numeric elements with a range: (field, exactly two digits, largest value).
_RANGED: Final = {
    "1": ("month", False, 12),
    "01": ("month", True, 12),
    "15": ("hour", False, 23),
    "3": ("hour", False, 12),
    "03": ("hour", True, 12),
    "4": ("minute", False, 59),
    "04": ("minute", True, 59),
    "5": ("second", False, 59),
    "05": ("second", True, 59),
}


def _is_fraction(element: str) -> bool:
    return element[:1] in (".", ",") and element[1:2] in ("0", "9")


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
        ranged = _RANGED.get(element)
        if ranged is not None:
            field, fixed, high = ranged
            low = 1 if field == "month" else 0
            value = self.number(element, fixed=fixed)
            if not low <= value <= high:
                raise self.range_error(field)
            self.fields[field] = value
            if field == "second" and not _is_fraction(following):
                self._optional_fraction()
        elif element in ("2", "_2", "02", "__2", "002"):
            self._day(element)
        elif element in NUMERIC_ZONES:
            self._numeric_zone(element)
        elif element in self._readers:
            self._readers[element](self, element)
        else:
            self._fraction(element)

    def _long_year(self, element: str) -> None:
        if len(self.rest) < 4 or not self.rest[:1].isdigit():
            raise self.fail(self.rest, element)
        digits, self.rest = self.rest[:4], self.rest[4:]
        if not (digits.isascii() and digits.isdigit()):
            raise self.fail(self.rest, element)
        self.fields["year"] = int(digits)

    def _short_year(self, element: str) -> None:
        year = self.number(element, fixed=True)
        self.fields["year"] = year + (1900 if year >= 69 else 2000)

    def _month_name(self, element: str) -> None:
        names = list(MONTHS) if element == "January" else [m[:3] for m in MONTHS]
        self.fields["month"] = self.name(element, names) + 1

    def _weekday_name(self, element: str) -> None:
        self.name(element, list(DAYS) if element == "Monday" else [d[:3] for d in DAYS])

    def _day(self, element: str) -> None:
        """Day of month or of year: any digits here, checked against the date at the end."""
        padded = element in ("_2", "__2")
        for _ in range(2 if element == "__2" else 1):
            if padded and self.rest.startswith(" "):
                self.rest = self.rest[1:]
        if element in ("__2", "002"):
            self.fields["yday"] = self.number(element, fixed=element == "002", width=3)
        else:
            self.fields["day"] = self.number(element, fixed=element == "02")

    def _optional_fraction(self) -> None:
        if len(self.rest) >= 2 and self.rest[0] in ".," and self.rest[1].isdigit():
            end = 1
            while end < len(self.rest) and self.rest[end].isdigit():
                end += 1
            self.fields["nanos"] = int(self.rest[1:end][:9].ljust(9, "0"))
            self.rest = self.rest[end:]

    def _fraction(self, element: str) -> None:
        if element[1] == "9":
            self._optional_fraction()
            return
        n = len(element)
        if len(self.rest) < n:
            raise self.fail(self.rest, element)
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
    _readers: ClassVar[dict[str, Callable[[_Parser, str], None]]] = {}


def parse_time(layout: str, value: str, location: Location = LOCAL) -> GoTime:
    """Go's `time.ParseInLocation`; raises `ParseFailure` with Go's message."""
    parser = _Parser(layout, value)
    parser.location = location
    return parser.run()


_Parser._readers = {
    "2006": _Parser._long_year,
    "06": _Parser._short_year,
    "January": _Parser._month_name,
    "Jan": _Parser._month_name,
    "Monday": _Parser._weekday_name,
    "Mon": _Parser._weekday_name,
    "PM": _Parser._meridiem,
    "pm": _Parser._meridiem,
    "MST": _Parser._zone_name,
}
