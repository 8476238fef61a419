"""Kubernetes resource quantities in their canonical form, as `resource.Quantity.String()` gives.

Go re-prints every quantity it decodes: `2000m` becomes `2`, `1024Mi` becomes `1Gi`, `0.5`
becomes `500m`. Templates that print a pod's resources, and anything that must equal what
Istio writes back after decoding a pod, need the same text.
"""

from __future__ import annotations

import functools
import re
from decimal import ROUND_CEILING, Decimal
from typing import Final

_SYNTAX: Final = re.compile(
    r"(?P<number>[+-]?(?:[0-9]+(?:\.[0-9]*)?|\.[0-9]+))"
    r"(?P<suffix>Ki|Mi|Gi|Ti|Pi|Ei|n|u|m|k|M|G|T|P|E|[eE][+-]?[0-9]+)?"
)
_BINARY: Final = {"Ki": 10, "Mi": 20, "Gi": 30, "Ti": 40, "Pi": 50, "Ei": 60}
_DECIMAL: Final = {
    "n": -9, "u": -6, "m": -3, "": 0, "k": 3, "M": 6, "G": 9, "T": 12, "P": 15, "E": 18,
}  # fmt: skip
_DECIMAL_SUFFIX: Final = {exp: suffix for suffix, exp in _DECIMAL.items()}
_BINARY_SUFFIX: Final = {exp: suffix for suffix, exp in _BINARY.items()}
_NANO: Final = Decimal("1e-9")


class QuantityError(ValueError):
    """Text that is not a Kubernetes quantity."""


def parse(text: str) -> tuple[Decimal, str]:
    """The value and the format (`BinarySI`, `DecimalSI` or `DecimalExponent`) of `text`."""
    match = _SYNTAX.fullmatch(text.strip())
    if match is None:
        raise QuantityError(f"quantities must match the regular expression {_SYNTAX.pattern!r}")
    number = Decimal(match.group("number"))
    suffix = match.group("suffix") or ""
    if suffix in _BINARY:
        return number * (Decimal(2) ** _BINARY[suffix]), "BinarySI"
    if suffix in _DECIMAL:
        return number.scaleb(_DECIMAL[suffix]), "DecimalSI"
    return number.scaleb(int(suffix[1:])), "DecimalExponent"


@functools.lru_cache(maxsize=1024, typed=True)
def canonical_or_same(amount: object) -> object:
    """`canonical(amount)`, or `amount` itself when it is not a quantity (as a stored pod or a
    rendered template may hold: the caller's checks report it)."""
    if isinstance(amount, bool) or not isinstance(amount, str | int | float):
        return amount
    try:
        return canonical(amount)
    except QuantityError:
        return amount


def canonical(text: str | int | float) -> str:
    """`resource.MustParse(text).String()` (remembered: pods repeat a few amounts)."""
    if isinstance(text, bool):
        raise QuantityError("a quantity is a number or a string")
    value, form = parse(str(text) if not isinstance(text, float) else repr(text))
    exponent = value.as_tuple().exponent
    if isinstance(exponent, int) and exponent < -9:
        value = value.quantize(_NANO, rounding=ROUND_CEILING)
    if value == 0:
        return "0"
    if form == "BinarySI" and (abs(value) < 1024 or value != value.to_integral_value()):
        form = "DecimalSI"
    if form == "BinarySI":
        return _binary(value)
    return _decimal(value, exponent_form=form == "DecimalExponent")


def _binary(value: Decimal) -> str:
    amount, exponent = int(value), 0
    while exponent < 60 and amount % 1024 == 0:
        amount //= 1024
        exponent += 10
    return f"{amount}{_BINARY_SUFFIX.get(exponent, '')}"


def _decimal(value: Decimal, *, exponent_form: bool) -> str:
    sign, digits, exp = value.normalize().as_tuple()
    assert isinstance(exp, int)
    amount = int("".join(map(str, digits)) or "0")
    if exp % 3:
        shift = exp % 3
        amount *= 10**shift
        exp -= shift
    while exp > 18:
        amount *= 1000
        exp -= 3
    text = f"{'-' if sign else ''}{amount}"
    if exponent_form:
        return text if exp == 0 else f"{text}e{exp}"
    return text + _DECIMAL_SUFFIX[exp]
