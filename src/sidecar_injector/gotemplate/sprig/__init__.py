"""Masterminds/sprig v3.2.3's `TxtFuncMap()`: every function, by family.

`FUNCS` maps each sprig name to its `values.Func` (with its Go signature). Functions that
read the clock take it from `dates.clock`, which tests may replace.

Where this differs from Go, knowingly:

* `keys` and `values` list a map in insertion order; Go's order is random.
* Key and certificate generation, AES, bcrypt/htpasswd and `getHostByName` raise an error
  naming the function (`crypto.UNSUPPORTED`): the engine carries no crypto library and
  does no network I/O.
* Regular expressions run on Python's `re` (see `regex` for what is translated);
  Unicode classes such as `\\pL` are an error.
* A byte slice that cuts a UTF-8 sequence gives U+FFFD for each stray byte, as Go shows it
  when printed; Go keeps the raw bytes, which matters only if the pieces are joined again.
* `slice` stops at a list's length; Go may reach into spare capacity (a JSON-decoded
  3-element list has capacity 4).
"""

from __future__ import annotations

from .. import values
from . import (
    casing,
    crypto,
    dates,
    dicts,
    encoding,
    flow,
    lists,
    numbers,
    paths,
    reflection,
    regex,
    semver,
    strings,
)

_FAMILIES = (
    strings,
    casing,
    lists,
    dicts,
    numbers,
    encoding,
    flow,
    reflection,
    regex,
    crypto,
    dates,
    paths,
    semver,
)

FUNCS: dict[str, values.Func] = {f.name: f for family in _FAMILIES for f in family.FUNCS}

NONDETERMINISTIC = frozenset(
    {
        *("now", "ago"),
        *("randAlphaNum", "randAlpha", "randAscii", "randNumeric", "randBytes", "randInt"),
        *("shuffle", "uuidv4", "htpasswd", "bcrypt", "encryptAES", "genPrivateKey"),
        *("genCA", "genCAWithKey", "genSelfSignedCert", "genSelfSignedCertWithKey"),
        *("genSignedCert", "genSignedCertWithKey"),
    }
)
"""Functions whose answer changes from one call to the next: they read the clock or randomness."""
