"""sprig's date functions over Go `time.Time` values (`timezones.GoTime`).

The clock is `dates.clock`, a module-level callable returning an aware `datetime`;
tests (or callers that need reproducible output) replace it:

    dates.clock = lambda: datetime(2024, 5, 1, 12, 0, tzinfo=UTC)

`now` also carries a monotonic clock reading, which `String` prints (`m=+0.001234567`)
as Go does; `UTC`, `In` and the date functions drop it.
"""

from __future__ import annotations

import datetime as dt
import time
from collections.abc import Callable
from dataclasses import replace as alias

from .. import values
from . import cast, durations, timeformat, timeparse, timezones
from .timeformat import GoTime

TIME = "time.Time"


def _system_clock() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


clock: Callable[[], dt.datetime] = _system_clock


_STARTED = time.monotonic_ns()


def current_time() -> GoTime:
    """Go's `time.Now()` from `clock`, in the local zone, with a monotonic reading that
    counts from when this module was loaded (Go counts from process start). The system
    clock is read to the nanosecond, as Go reads it; a replaced clock gives microseconds."""
    if clock is _system_clock:
        seconds, nanos = divmod(time.time_ns(), 10**9)
        now = GoTime(seconds, nanos, timezones.LOCAL)
    else:
        now = timeformat.from_datetime(clock(), timezones.LOCAL)
    now.monotonic = time.monotonic_ns() - _STARTED
    return now


def _as_time(value: object, *, int32: bool = True) -> GoTime:
    """A time from a `time.Time` or Unix seconds (`int`, `int64`, `int32`); now otherwise."""
    if isinstance(value, GoTime):
        return value
    if isinstance(value, values.Int) and value.go_type in (
        ("int64", "int32") if int32 else ("int64",)
    ):
        return GoTime(int(value), 0, timezones.LOCAL)
    if isinstance(value, int) and not isinstance(value, bool | values.Int):
        return GoTime(value, 0, timezones.LOCAL)
    return current_time()


@values.func("now", result=TIME)
def now() -> GoTime:
    """The current time."""
    return current_time()


@values.func("dateInZone", "string", values.ANY, "string", result="string")
def date_in_zone(layout: str, date: object, zone: str) -> str:
    """The date formatted with a Go layout in a named zone (UTC when unknown)."""
    location = timezones.load_location(zone) or timezones.UTC
    return timeformat.format_time(_as_time(date).in_location(location), layout)


@values.func("date", "string", values.ANY, result="string")
def date(layout: str, value: object) -> str:
    """The date formatted with a Go layout in the local zone."""
    return str(date_in_zone.fn(layout, value, "Local"))


@values.func("htmlDate", values.ANY, result="string")
def html_date(value: object) -> str:
    """The date as `2006-01-02` in the local zone."""
    return str(date_in_zone.fn("2006-01-02", value, "Local"))


@values.func("htmlDateInZone", values.ANY, "string", result="string")
def html_date_in_zone(value: object, zone: str) -> str:
    """The date as `2006-01-02` in a named zone."""
    return str(date_in_zone.fn("2006-01-02", value, zone))


@values.func("dateModify", "string", TIME, result=TIME)
def date_modify(change: str, value: GoTime) -> GoTime:
    """The time moved by a Go duration (`-1.5h`); unchanged when the duration is bad."""
    try:
        return value.add_nanos(durations.parse_duration(change))
    except values.GoError:
        return value


@values.func("mustDateModify", "string", TIME, result=TIME, returns_error=True)
def must_date_modify(change: str, value: GoTime) -> GoTime:
    """The time moved by a Go duration; Go's error when the duration is bad."""
    return value.add_nanos(durations.parse_duration(change))


def _round_to_second(nanos: int) -> int:
    """Go's `Duration.Round(time.Second)`: halves away from zero."""
    second = 10**9
    whole, rest = divmod(abs(nanos), second)
    rounded = (whole + (rest * 2 >= second)) * second
    return rounded if nanos >= 0 else -rounded


@values.func("ago", values.ANY, result="string")
def ago(value: object) -> str:
    """How long ago, rounded to the second (`2h3m4s`)."""
    since = current_time().unix_nanos() - _as_time(value, int32=False).unix_nanos()
    return durations.format_duration(_round_to_second(since))


@values.func("duration", values.ANY, result="string")
def duration(value: object) -> str:
    """Seconds (`int64` or a decimal string) as a Go duration (`1h0m0s`)."""
    seconds = 0
    if isinstance(value, str):
        seconds = _parse_int_clamped(value)
    elif isinstance(value, values.Int) and value.go_type == "int64":
        seconds = int(value)
    return durations.format_duration(cast.wrap_int64(seconds * 10**9))


def _parse_int_clamped(text: str) -> int:
    """`strconv.ParseInt(text, 10, 64)` as sprig uses it: 0 on bad syntax, clamped on range."""
    body = text[1:] if text[:1] in "+-" else text
    if not body or not (body.isascii() and body.isdigit()):
        return 0
    return max(cast.INT64_MIN, min(int(text), cast.INT64_MAX))


_ROUND_UNITS = (
    (365 * 86400 * 10**9, "y"),
    (30 * 86400 * 10**9, "mo"),
    (86400 * 10**9, "d"),
    (3600 * 10**9, "h"),
    (60 * 10**9, "m"),
    (10**9, "s"),
)


@values.func("durationRound", values.ANY, result="string")
def duration_round(value: object) -> str:
    """A duration (Go string, `int64` nanoseconds, or since a time) in its largest unit."""
    nanos = 0
    if isinstance(value, str):
        try:
            nanos = durations.parse_duration(value)
        except values.GoError:
            nanos = 0
    elif isinstance(value, values.Int) and value.go_type == "int64":
        nanos = int(value)
    elif isinstance(value, GoTime):
        nanos = current_time().unix_nanos() - value.unix_nanos()
    size = abs(nanos)
    for unit, suffix in _ROUND_UNITS:
        if size > unit:
            return f"{size // unit}{suffix}"
    return "0s"


@values.func("toDate", "string", "string", result=TIME)
def to_date(layout: str, text: str) -> GoTime:
    """The time `text` written in a Go layout, in the local zone; the zero time if it is not."""
    try:
        return timeparse.parse_time(layout, text)
    except values.GoError:
        return GoTime(timezones.ZERO_UNIX)


@values.func("mustToDate", "string", "string", result=TIME, returns_error=True)
def must_to_date(layout: str, text: str) -> GoTime:
    """The time `text` written in a Go layout; Go's parse error if it is not."""
    return timeparse.parse_time(layout, text)


@values.func("unixEpoch", TIME, result="string")
def unix_epoch(value: GoTime) -> str:
    """Seconds since the Unix epoch."""
    return str(value.unix)


FUNCS: list[values.Func] = [
    now,
    date,
    date_in_zone,
    alias(date_in_zone, name="date_in_zone"),
    html_date,
    html_date_in_zone,
    date_modify,
    alias(date_modify, name="date_modify"),
    must_date_modify,
    alias(must_date_modify, name="must_date_modify"),
    ago,
    duration,
    duration_round,
    to_date,
    must_to_date,
    unix_epoch,
]
