"""sprig's encodings: base64, base32 and JSON."""

from __future__ import annotations

import base64
from dataclasses import replace as alias

from .. import values
from . import jsoncodec, runes


@values.func("b64enc", "string", result="string")
def b64enc(s: str) -> str:
    """Standard base64 of the UTF-8 bytes."""
    return base64.b64encode(runes.to_bytes(s)).decode("ascii")


_B64 = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/"
_B32 = "ABCDEFGHIJKLMNOPQRSTUVWXYZ234567"
_B64_VALUES = {ord(c): i for i, c in enumerate(_B64)}
_B32_VALUES = {ord(c): i for i, c in enumerate(_B32)}
_NEWLINES = (0x0A, 0x0D)
_PAD = 0x3D


class CorruptInput(Exception):
    """Go's `base64.CorruptInputError`/`base32.CorruptInputError`: the bad byte's offset."""

    def __init__(self, offset: int) -> None:
        super().__init__(offset)
        self.offset = offset


def _b64_quantum(src: bytes, si: int) -> tuple[int, list[int], bool]:
    """One 4-character group from `si` (Go's `decodeQuantum`): next index, sextets, last."""
    sextets: list[int] = []
    while len(sextets) < 4:
        j = len(sextets)
        if si == len(src):
            if j == 0:
                return si, sextets, True
            raise CorruptInput(si - j)
        ch = src[si]
        si += 1
        if ch in _B64_VALUES:
            sextets.append(_B64_VALUES[ch])
            continue
        if ch in _NEWLINES:
            continue
        if ch != _PAD or j < 2:
            raise CorruptInput(si - 1)
        if j == 2:
            while si < len(src) and src[si] in _NEWLINES:
                si += 1
            if si == len(src):
                raise CorruptInput(len(src))
            if src[si] != _PAD:
                raise CorruptInput(si - 1)
            si += 1
        while si < len(src) and src[si] in _NEWLINES:
            si += 1
        if si < len(src):
            raise CorruptInput(si)
        return si, sextets, True
    return si, sextets, False


def _pack(values_: list[int], bits: int) -> bytes:
    """Whole bytes from `bits`-bit groups (the trailing partial byte dropped)."""
    number = 0
    for v in values_:
        number = number << bits | v
    total = len(values_) * bits
    return (number >> (total % 8)).to_bytes(total // 8, "big") if total >= 8 else b""


def decode_base64(text: str) -> bytes:
    """Go's `base64.StdEncoding.DecodeString`; `CorruptInput` on bad data."""
    src = runes.to_bytes(text)
    out = bytearray()
    si, done = 0, False
    while si < len(src) and not done:
        si, sextets, done = _b64_quantum(src, si)
        out += _pack(sextets, 6)
    return bytes(out)


def decode_base32(text: str) -> bytes:
    """Go's `base32.StdEncoding.DecodeString`; `CorruptInput` on bad data."""
    src = bytes(b for b in runes.to_bytes(text) if b not in _NEWLINES)
    out = bytearray()
    pos = 0
    while pos < len(src):
        quintets: list[int] = []
        while len(quintets) < 8:
            j = len(quintets)
            if pos == len(src):
                raise CorruptInput(pos - j)
            ch = src[pos]
            pos += 1
            left = len(src) - pos
            if ch == _PAD and j >= 2 and left < 8:
                _check_base32_padding(src, pos, j)
                return bytes(out + _pack(quintets, 5))
            if ch not in _B32_VALUES:
                raise CorruptInput(pos - 1)
            quintets.append(_B32_VALUES[ch])
        out += _pack(quintets, 5)
    return bytes(out)


def _check_base32_padding(src: bytes, pos: int, j: int) -> None:
    left = len(src) - pos
    if left + j < 7:
        raise CorruptInput(len(src))
    for k in range(7 - j):
        if left > k and src[pos + k] != _PAD:
            raise CorruptInput(pos + k - 1)
    if j in (1, 3, 6):
        raise CorruptInput(pos - 1)


@values.func("b64dec", "string", result="string")
def b64dec(s: str) -> str:
    """The decoded text, or Go's error message as the result (sprig does that)."""
    try:
        return runes.from_bytes(decode_base64(s))
    except CorruptInput as exc:
        return f"illegal base64 data at input byte {exc.offset}"


@values.func("b32enc", "string", result="string")
def b32enc(s: str) -> str:
    """Standard base32 of the UTF-8 bytes."""
    return base64.b32encode(runes.to_bytes(s)).decode("ascii")


@values.func("b32dec", "string", result="string")
def b32dec(s: str) -> str:
    """The decoded text, or Go's error message as the result."""
    try:
        return runes.from_bytes(decode_base32(s))
    except CorruptInput as exc:
        return f"illegal base32 data at input byte {exc.offset}"


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
