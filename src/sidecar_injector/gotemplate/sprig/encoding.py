"""sprig's encodings: base64, base32 and JSON."""

from __future__ import annotations

import base64
import binascii
from dataclasses import replace as alias

from .. import values
from . import jsoncodec, runes


@values.func("b64enc", "string", result="string")
def b64enc(s: str) -> str:
    """Standard base64 of the UTF-8 bytes."""
    return base64.b64encode(runes.to_bytes(s)).decode("ascii")


def _corrupt_at(text: str, *, alphabet: str, quantum: int) -> int | None:
    """Where Go's decoder reports `illegal ... data at input byte N`, or None if valid."""
    chars = [(i, ch) for i, ch in enumerate(text) if ch not in "\r\n"]
    for n, (i, ch) in enumerate(chars):
        if ch == "=":
            return _padding_error(chars, n, quantum=quantum, length=len(text))
        if ch not in alphabet:
            return i
    if len(chars) % quantum:
        return len(text) - len(text) % quantum if chars else None
    return None


def _padding_error(
    chars: list[tuple[int, str]], n: int, *, quantum: int, length: int
) -> int | None:
    position = n % quantum
    pads = [ch for _, ch in chars[n:]]
    allowed = {4: {2, 3}, 8: {2, 4, 5, 7}}[quantum]
    if position not in allowed:
        return chars[n][0]
    needed = quantum - position
    if len(pads) < needed:
        return length
    if any(pads[k] != "=" for k in range(needed)):
        return chars[n][0]
    if len(pads) > needed:
        return chars[n + needed][0]
    return None


_B64 = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/"
_B32 = "ABCDEFGHIJKLMNOPQRSTUVWXYZ234567"


@values.func("b64dec", "string", result="string")
def b64dec(s: str) -> str:
    """The decoded text, or Go's error message as the result (sprig does that)."""
    bad = _corrupt_at(s, alphabet=_B64, quantum=4)
    if bad is not None:
        return f"illegal base64 data at input byte {bad}"
    clean = s.replace("\r", "").replace("\n", "")
    try:
        return runes.from_bytes(base64.b64decode(clean, validate=True))
    except binascii.Error:
        return f"illegal base64 data at input byte {len(s)}"


@values.func("b32enc", "string", result="string")
def b32enc(s: str) -> str:
    """Standard base32 of the UTF-8 bytes."""
    return base64.b32encode(runes.to_bytes(s)).decode("ascii")


@values.func("b32dec", "string", result="string")
def b32dec(s: str) -> str:
    """The decoded text, or Go's error message as the result."""
    bad = _corrupt_at(s, alphabet=_B32, quantum=8)
    if bad is not None:
        return f"illegal base32 data at input byte {bad}"
    clean = s.replace("\r", "").replace("\n", "")
    try:
        return runes.from_bytes(base64.b32decode(clean))
    except binascii.Error:
        return f"illegal base32 data at input byte {len(s)}"


@values.func("fromJson", "string", result=values.ANY)
def from_json(s: str) -> object:
    """The decoded value; nil when the text is not JSON."""
    return jsoncodec.unmarshal(s)[0]


@values.func("mustFromJson", "string", result=values.ANY, returns_error=True)
def must_from_json(s: str) -> object:
    """The decoded value; Go's error when the text is not JSON."""
    result, error = jsoncodec.unmarshal(s)
    if error is not None:
        raise error
    return result


def _quietly(encode: values.Func, *, name: str) -> values.Func:
    """sprig's non-`must` encoders print `""` where Go's encoder fails."""

    def call(value: object) -> str:
        try:
            return str(encode.fn(value))
        except values.GoError:
            return ""

    return alias(encode, name=name, fn=call, returns_error=False)


@values.func("mustToJson", values.ANY, result="string", returns_error=True)
def must_to_json(value: object) -> str:
    """`json.Marshal`."""
    return jsoncodec.marshal(value)


@values.func("mustToPrettyJson", values.ANY, result="string", returns_error=True)
def must_to_pretty_json(value: object) -> str:
    """`json.MarshalIndent` with two spaces."""
    return jsoncodec.marshal(value, indent="  ")


@values.func("mustToRawJson", values.ANY, result="string", returns_error=True)
def must_to_raw_json(value: object) -> str:
    """`json.Marshal` without HTML escaping."""
    return jsoncodec.marshal(value, html=False)


@values.func("toRawJson", values.ANY, result="string")
def to_raw_json(value: object) -> str:
    """Like `mustToRawJson`, but sprig panics on failure: the same error to the template."""
    return jsoncodec.marshal(value, html=False)


FUNCS: list[values.Func] = [
    b64enc,
    b64dec,
    b32enc,
    b32dec,
    from_json,
    must_from_json,
    must_to_json,
    must_to_pretty_json,
    must_to_raw_json,
    _quietly(must_to_json, name="toJson"),
    _quietly(must_to_pretty_json, name="toPrettyJson"),
    to_raw_json,
]
