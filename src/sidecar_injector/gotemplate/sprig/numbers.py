"""sprig's arithmetic and number conversions.

Integer functions convert with spf13/cast and compute in wrapping int64; the `...f`
functions go through shopspring/decimal (exact sums and products, quotients rounded to 16
decimal places) and back to float64.
"""

from __future__ import annotations

import math
import secrets
from dataclasses import replace as alias
from decimal import Decimal
from fractions import Fraction

from .. import values
from . import cast

INT64 = "int64"
_DIVISION_PLACES = 16


def _int64(n: int) -> values.Int:
    return values.Int(cast.wrap_int64(n), INT64)


def _go_quotient(a: int, b: int) -> int:
    """Go's integer division truncates toward zero; by zero it panics."""
    if b == 0:
        raise values.GoError("runtime error: integer divide by zero")
    q = abs(a) // abs(b)
    return q if (a >= 0) == (b >= 0) else -q


@values.func("atoi", "string", result="int")
def atoi(s: str) -> int:
    """Go's `strconv.Atoi`: 0 for a non-number, the nearest int64 when out of range."""
    body = s[1:] if s[:1] in "+-" else s
    if not body.isascii() or not body.isdigit():
        return 0
    return max(cast.INT64_MIN, min(int(s), cast.INT64_MAX))


@values.func("int64", values.ANY, result=INT64)
def to_int64(value: object) -> values.Int:
    """spf13/cast `ToInt64`."""
    return _int64(cast.to_int64(value))


@values.func("int", values.ANY, result="int")
def to_int(value: object) -> int:
    """spf13/cast `ToInt`."""
    return cast.to_int64(value)


@values.func("float64", values.ANY, result="float64")
def to_float64(value: object) -> float:
    """spf13/cast `ToFloat64`."""
    return cast.to_float64(value)


@values.func("toDecimal", values.ANY, result=INT64)
def to_decimal(value: object) -> values.Int:
    """The value's printed digits read as octal (`"777"` is 511), 0 when they are not."""
    text = value if isinstance(value, str) else cast.strval(value)
    body = text[1:] if text[:1] in "+-" else text
    if not body or any(ch not in "01234567" for ch in body):
        return _int64(0)
    n = int(text, 8)
    return _int64(n if cast.INT64_MIN <= n <= cast.INT64_MAX else 0)


def _until_step(start: int, stop: int, step: int) -> list[int]:
    if stop < start:
        return list(range(start, stop, step)) if step < 0 else []
    return list(range(start, stop, step)) if step > 0 else []


@values.func("until", "int", result="[]int")
def until(count: int) -> values.Slice:
    """0 up to (not including) `count`, counting down for a negative count."""
    return values.Slice(_until_step(0, count, -1 if count < 0 else 1), "[]int")


@values.func("untilStep", "int", "int", "int", result="[]int")
def until_step(start: int, stop: int, step: int) -> values.Slice:
    """`start` toward `stop` (not included) by `step`."""
    return values.Slice(_until_step(start, stop, step), "[]int")


@values.func("seq", variadic="int", result="string")
def seq(*params: int) -> str:
    """Like Unix `seq`: `seq END`, `seq START END`, `seq START STEP END`."""
    if len(params) == 1:
        start, end, step = 1, params[0], -1 if params[0] < 1 else 1
        numbers = _until_step(start, end + step, step)
    elif len(params) == 2:
        start, end = params
        step = -1 if end < start else 1
        numbers = _until_step(start, end + step, step)
    elif len(params) == 3:
        start, step, end = params
        increment = -1 if end < start else 1
        if end < start and step > 0:
            return ""
        numbers = _until_step(start, end + increment, step)
    else:
        return ""
    return " ".join(map(str, numbers))


@values.func("add1", values.ANY, result=INT64)
def add1(value: object) -> values.Int:
    """`value + 1` in int64."""
    return _int64(cast.to_int64(value) + 1)


@values.func("add", variadic=values.ANY, result=INT64)
def add(*terms: object) -> values.Int:
    """The int64 sum."""
    return _int64(sum(map(cast.to_int64, terms)))


@values.func("sub", values.ANY, values.ANY, result=INT64)
def sub(a: object, b: object) -> values.Int:
    """`a - b` in int64."""
    return _int64(cast.to_int64(a) - cast.to_int64(b))


@values.func("div", values.ANY, values.ANY, result=INT64)
def div(a: object, b: object) -> values.Int:
    """`a / b` in int64, truncated toward zero."""
    return _int64(_go_quotient(cast.to_int64(a), cast.to_int64(b)))


@values.func("mod", values.ANY, values.ANY, result=INT64)
def mod(a: object, b: object) -> values.Int:
    """`a % b` in int64, with the sign of `a`."""
    x, y = cast.to_int64(a), cast.to_int64(b)
    return _int64(x - _go_quotient(x, y) * y)


@values.func("mul", values.ANY, variadic=values.ANY, result=INT64)
def mul(first: object, *factors: object) -> values.Int:
    """The int64 product."""
    product = cast.to_int64(first)
    for factor in factors:
        product = cast.wrap_int64(product * cast.to_int64(factor))
    return _int64(product)


@values.func("randInt", "int", "int", result="int")
def rand_int(low: int, high: int) -> int:
    """A random integer in `[low, high)`."""
    if high - low <= 0:
        raise values.GoError("invalid argument to Intn")
    return low + secrets.randbelow(high - low)


def _decimal(value: object) -> Decimal:
    """shopspring `NewFromFloat`: the shortest decimal that reads back as the float."""
    f = cast.to_float64(value)
    if math.isnan(f) or math.isinf(f):
        shown = "NaN" if math.isnan(f) else ("+Inf" if f > 0 else "-Inf")
        raise values.GoError(f"Cannot create a Decimal from {shown}")
    return Decimal(repr(f))


def _to_float(d: Decimal) -> float:
    """shopspring `Float64`: a decimal has no negative zero."""
    return float(d) + 0.0


def _divide(a: Decimal, b: Decimal) -> Decimal:
    """shopspring `Div`: rounded to 16 places after the point, halves away from zero."""
    if not b:
        raise values.GoError("decimal division by 0")
    scaled = Fraction(a) / Fraction(b) * 10**_DIVISION_PLACES
    whole = math.floor(abs(scaled))
    if abs(scaled) - whole >= Fraction(1, 2):
        whole += 1
    return Decimal(-whole if scaled < 0 else whole).scaleb(-_DIVISION_PLACES)


@values.func("add1f", values.ANY, result="float64")
def add1f(value: object) -> float:
    """`value + 1` in decimal."""
    return _to_float(_decimal(value) + 1)


@values.func("addf", variadic=values.ANY, result="float64")
def addf(*terms: object) -> float:
    """The decimal sum."""
    return _to_float(sum((_decimal(t) for t in terms), Decimal(0)))


@values.func("subf", values.ANY, variadic=values.ANY, result="float64")
def subf(first: object, *terms: object) -> float:
    """`first` minus each term, in decimal."""
    total = _decimal(first)
    for term in terms:
        total -= _decimal(term)
    return _to_float(total)


@values.func("mulf", values.ANY, variadic=values.ANY, result="float64")
def mulf(first: object, *factors: object) -> float:
    """The decimal product."""
    total = _decimal(first)
    for factor in factors:
        total *= _decimal(factor)
    return _to_float(total)


@values.func("divf", values.ANY, variadic=values.ANY, result="float64")
def divf(first: object, *divisors: object) -> float:
    """`first` divided by each divisor, in decimal."""
    total = _decimal(first)
    for divisor in divisors:
        total = _divide(total, _decimal(divisor))
    return _to_float(total)


@values.func("max", values.ANY, variadic=values.ANY, result=INT64)
def biggest(first: object, *rest: object) -> values.Int:
    """The largest, as int64."""
    return _int64(max(cast.to_int64(v) for v in (first, *rest)))


@values.func("min", values.ANY, variadic=values.ANY, result=INT64)
def smallest(first: object, *rest: object) -> values.Int:
    """The smallest, as int64."""
    return _int64(min(cast.to_int64(v) for v in (first, *rest)))


def _go_max(a: float, b: float) -> float:
    """Go's `math.Max`: +Inf wins, then NaN, and +0 beats -0."""
    if math.inf in (a, b):
        return math.inf
    if math.isnan(a) or math.isnan(b):
        return math.nan
    if a == b == 0:
        return a if math.copysign(1, a) > 0 else b
    return a if a > b else b


def _go_min(a: float, b: float) -> float:
    """Go's `math.Min`: -Inf wins, then NaN, and -0 beats +0."""
    if -math.inf in (a, b):
        return -math.inf
    if math.isnan(a) or math.isnan(b):
        return math.nan
    if a == b == 0:
        return a if math.copysign(1, a) < 0 else b
    return a if a < b else b


@values.func("maxf", values.ANY, variadic=values.ANY, result="float64")
def maxf(first: object, *rest: object) -> float:
    """The largest, as float64."""
    result = cast.to_float64(first)
    for v in rest:
        result = _go_max(result, cast.to_float64(v))
    return result


@values.func("minf", values.ANY, variadic=values.ANY, result="float64")
def minf(first: object, *rest: object) -> float:
    """The smallest, as float64."""
    result = cast.to_float64(first)
    for v in rest:
        result = _go_min(result, cast.to_float64(v))
    return result


def _go_floor(f: float) -> float:
    return f if math.isnan(f) or math.isinf(f) else math.copysign(math.floor(f), f)


def _go_ceil(f: float) -> float:
    return f if math.isnan(f) or math.isinf(f) else math.copysign(math.ceil(f), f)


@values.func("floor", values.ANY, result="float64")
def floor(value: object) -> float:
    """Go's `math.Floor` of the value as float64."""
    return _go_floor(cast.to_float64(value))


@values.func("ceil", values.ANY, result="float64")
def ceil(value: object) -> float:
    """Go's `math.Ceil` of the value as float64."""
    return _go_ceil(cast.to_float64(value))


@values.func("round", values.ANY, "int", variadic="float64", result="float64")
def round_to(value: object, places: int, *round_on: float) -> float:
    """Round to `places` decimals; the fraction at which to round up defaults to .5."""
    threshold = round_on[0] if round_on else 0.5
    scale = _go_pow10(places)
    digits = scale * cast.to_float64(value)
    fraction = math.fmod(digits, 1.0) if math.isfinite(digits) else math.nan
    rounded = _go_ceil(digits) if fraction >= threshold else _go_floor(digits)
    return _go_divide(rounded, scale)


def _go_pow10(exponent: int) -> float:
    """Go's `math.Pow(10, n)`: binary powering with its own rounding, not C's `pow`."""
    if exponent in (0, 1):
        return 10.0**exponent
    product, product_exp = 1.0, 0
    square, square_exp = math.frexp(10.0)
    bits = abs(exponent)
    while bits:
        if not -4096 <= square_exp <= 4096:
            product_exp += square_exp
            break
        if bits & 1:
            product *= square
            product_exp += square_exp
        square *= square
        square_exp <<= 1
        if square < 0.5:
            square += square
            square_exp -= 1
        bits >>= 1
    if exponent < 0:
        product, product_exp = 1 / product, -product_exp
    try:
        return math.ldexp(product, product_exp)
    except OverflowError:
        return math.inf


def _go_divide(a: float, b: float) -> float:
    """IEEE division as Go does it: by zero gives an infinity or NaN, never an exception."""
    if b:
        return a / b
    if a == 0 or math.isnan(a):
        return math.nan
    return math.copysign(math.inf, a) * math.copysign(1.0, b)


FUNCS: list[values.Func] = [
    atoi,
    to_int64,
    to_int,
    to_float64,
    to_decimal,
    until,
    until_step,
    seq,
    add1,
    add,
    sub,
    div,
    mod,
    mul,
    rand_int,
    add1f,
    addf,
    subf,
    mulf,
    divf,
    biggest,
    alias(biggest, name="biggest"),
    smallest,
    maxf,
    minf,
    floor,
    ceil,
    round_to,
]
