"""sprig's hashes, random values and key material.

Hashes and `derivePassword` (the Master Password algorithm) are deterministic and exact.
Random functions draw from `secrets`. Functions that need RSA, ECDSA, AES or bcrypt
(`genCA`, `encryptAES`, `bcrypt`, ...) raise a `GoError` saying they are not supported:
the template engine stays free of crypto libraries, and Istio's templates do not call them.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import secrets
import string
import uuid
import zlib
from typing import Final

from .. import values
from . import runes

_CERT = "sprig.certificate"
_MASTER_PASSWORD_SEED: Final = b"com.lyndir.masterpassword"
# The Master Password algorithm's site templates and their character classes.
_PASSWORD_TEMPLATES: Final = {
    "maximum": ("anoxxxxxxxxxxxxxxxxx", "axxxxxxxxxxxxxxxxxno"),
    "long": tuple(
        [
            "CvcvnoCvcvCvcv",
            "CvcvCvcvnoCvcv",
            "CvcvCvcvCvcvno",
            "CvccnoCvcvCvcv",
            "CvccCvcvnoCvcv",
            "CvccCvcvCvcvno",
            "CvcvnoCvccCvcv",
            "CvcvCvccnoCvcv",
            "CvcvCvccCvcvno",
            "CvcvnoCvcvCvcc",
            "CvcvCvcvnoCvcc",
            "CvcvCvcvCvccno",
            "CvccnoCvccCvcv",
            "CvccCvccnoCvcv",
            "CvccCvccCvcvno",
            "CvcvnoCvccCvcc",
            "CvcvCvccnoCvcc",
            "CvcvCvccCvccno",
            "CvccnoCvcvCvcc",
            "CvccCvcvnoCvcc",
            "CvccCvcvCvccno",
        ]
    ),
    "medium": ("CvcnoCvc", "CvcCvcno"),
    "short": ("Cvcn",),
    "basic": ("aaanaaan", "aannaaan", "aaannaaa"),
    "pin": ("nnnn",),
}
_PASSWORD_CHARACTERS: Final = {
    "V": "AEIOU",
    "C": "BCDFGHJKLMNPQRSTVWXYZ",
    "v": "aeiou",
    "c": "bcdfghjklmnpqrstvwxyz",
    "A": "AEIOUBCDFGHJKLMNPQRSTVWXYZ",
    "a": "AEIOUaeiouBCDFGHJKLMNPQRSTVWXYZbcdfghjklmnpqrstvwxyz",
    "n": "0123456789",
    "o": "@&%?,=[]_:-+*$#!'^~;()/.",
    "x": "AEIOUaeiouBCDFGHJKLMNPQRSTVWXYZbcdfghjklmnpqrstvwxyz0123456789!@#$%^&*()",
}


@values.func("sha256sum", "string", result="string")
def sha256sum(s: str) -> str:
    """Hex SHA-256 of the UTF-8 bytes."""
    return hashlib.sha256(runes.to_bytes(s)).hexdigest()


@values.func("sha1sum", "string", result="string")
def sha1sum(s: str) -> str:
    """Hex SHA-1 of the UTF-8 bytes."""
    return hashlib.sha1(runes.to_bytes(s)).hexdigest()


@values.func("adler32sum", "string", result="string")
def adler32sum(s: str) -> str:
    """Decimal Adler-32 of the UTF-8 bytes."""
    return str(zlib.adler32(runes.to_bytes(s)))


def _uint32(n: int) -> bytes:
    return n.to_bytes(4, "big")


@values.func("derivePassword", "uint32", "string", "string", "string", "string", result="string")
def derive_password(counter: int, kind: str, password: str, user: str, site: str) -> str:
    """A site password from a master password (the Master Password algorithm)."""
    templates = _PASSWORD_TEMPLATES.get(kind)
    if templates is None:
        return f"cannot find password template {kind}"
    user_bytes, site_bytes = runes.to_bytes(user), runes.to_bytes(site)
    salt = _MASTER_PASSWORD_SEED + _uint32(len(user_bytes)) + user_bytes
    key = hashlib.scrypt(
        runes.to_bytes(password), salt=salt, n=32768, r=8, p=2, dklen=64, maxmem=2**27
    )
    message = _MASTER_PASSWORD_SEED + _uint32(len(site_bytes)) + site_bytes + _uint32(counter)
    seed = hmac.new(key, message, hashlib.sha256).digest()
    template = templates[seed[0] % len(templates)]
    chars = (_PASSWORD_CHARACTERS[c] for c in template)
    return "".join(pool[seed[i + 1] % len(pool)] for i, pool in enumerate(chars))


def _random_string(count: int, alphabet: str) -> str:
    if count <= 0:
        return ""
    return "".join(secrets.choice(alphabet) for _ in range(count))


_ASCII_PRINTABLE = "".join(map(chr, range(32, 127)))


@values.func("randAlphaNum", "int", result="string")
def rand_alpha_num(count: int) -> str:
    """`count` random letters and digits."""
    return _random_string(count, string.ascii_letters + string.digits)


@values.func("randAlpha", "int", result="string")
def rand_alpha(count: int) -> str:
    """`count` random letters."""
    return _random_string(count, string.ascii_letters)


@values.func("randAscii", "int", result="string")
def rand_ascii(count: int) -> str:
    """`count` random printable ASCII characters."""
    return _random_string(count, _ASCII_PRINTABLE)


@values.func("randNumeric", "int", result="string")
def rand_numeric(count: int) -> str:
    """`count` random digits."""
    return _random_string(count, string.digits)


@values.func("randBytes", "int", result="string", returns_error=True)
def rand_bytes(count: int) -> str:
    """`count` random bytes, base64-encoded."""
    if count < 0:
        raise values.GoError("runtime error: makeslice: len out of range")
    return base64.b64encode(secrets.token_bytes(count)).decode("ascii")


@values.func("shuffle", "string", result="string")
def shuffle(s: str) -> str:
    """The runes of `s` in random order."""
    chars = list(runes.go_runes(s))
    for i in range(len(chars) - 1, 0, -1):
        j = secrets.randbelow(i + 1)
        chars[i], chars[j] = chars[j], chars[i]
    return "".join(chars)


@values.func("uuidv4", result="string")
def uuidv4() -> str:
    """A random UUID."""
    return str(uuid.uuid4())


def _unsupported(
    name: str, *params: str, result: str = "string", error: bool = False
) -> values.Func:
    """A sprig function this engine does not provide: calling it is a template error."""

    def refuse(*_args: object) -> object:
        raise _refuse(name)

    return values.Func(name, refuse, params, None, result, error)


def _refuse(name: str) -> values.GoError:
    return values.GoError(f"{name} is not supported by this template engine")


@values.func("htpasswd", "string", "string", result="string")
def htpasswd(user: str, password: str) -> str:
    """An htpasswd line; sprig checks the user name before hashing (with bcrypt, refused)."""
    if ":" in user:
        return f"invalid username: {user}"
    raise _refuse("htpasswd")


@values.func("genPrivateKey", "string", result="string")
def gen_private_key(kind: str) -> str:
    """A PEM private key; unknown key types are answered, generating keys is refused."""
    if kind not in ("", "rsa", "dsa", "ecdsa", "ed25519"):
        return f"Unknown type {kind}"
    raise _refuse("genPrivateKey")


_S = "string"
_L = values.SLICE_ANY
UNSUPPORTED: Final[tuple[values.Func, ...]] = (
    _unsupported("bcrypt", _S),
    _unsupported("buildCustomCert", _S, _S, result=_CERT, error=True),
    _unsupported("genCA", _S, "int", result=_CERT, error=True),
    _unsupported("genCAWithKey", _S, "int", _S, result=_CERT, error=True),
    _unsupported("genSelfSignedCert", _S, _L, _L, "int", result=_CERT, error=True),
    _unsupported("genSelfSignedCertWithKey", _S, _L, _L, "int", _S, result=_CERT, error=True),
    _unsupported("genSignedCert", _S, _L, _L, "int", _CERT, result=_CERT, error=True),
    _unsupported("genSignedCertWithKey", _S, _L, _L, "int", _CERT, _S, result=_CERT, error=True),
    _unsupported("encryptAES", _S, _S, error=True),
    _unsupported("decryptAES", _S, _S, error=True),
    _unsupported("getHostByName", _S),
)


FUNCS: list[values.Func] = [
    sha256sum,
    sha1sum,
    adler32sum,
    derive_password,
    rand_alpha_num,
    rand_alpha,
    rand_ascii,
    rand_numeric,
    rand_bytes,
    shuffle,
    uuidv4,
    htpasswd,
    gen_private_key,
    *UNSUPPORTED,
]
