"""`semver` and `semverCompare`: Masterminds/semver v3 versions and constraints.

Versions are loose (`v1.2`, `1`); constraints combine comparisons (`>=1.2 <2`, `>=1.2,
<2`), `||` alternatives, hyphen ranges (`1.2 - 1.4.5`), wildcards (`1.2.x`, `*`), tilde
(`~1.2`: same major and minor) and caret (`^1.2`: same major; for 0.x the minor, for
0.0.x the patch). A pre-release version satisfies a comparison only when the constraint
names a pre-release too.
"""

from __future__ import annotations

import functools
import re
from dataclasses import dataclass
from typing import ClassVar, Final

from .. import strconv, values

_PART = r"[0-9A-Za-z\-]+(?:\.[0-9A-Za-z\-]+)*"
_VERSION: Final = re.compile(rf"v?([0-9]+)(\.[0-9]+)?(\.[0-9]+)?(?:-({_PART}))?(?:\+({_PART}))?")
_WILD = r"[0-9|xX*]+"
_CV = rf"v?({_WILD})(\.{_WILD})?(\.{_WILD})?(-{_PART})?(?:\+{_PART})?"
_CV_FLAT = rf"v?{_WILD}(?:\.{_WILD})?(?:\.{_WILD})?(?:-{_PART})?(?:\+{_PART})?"
_OPS = r"=||!=|>|<|>=|=>|<=|=<|~|~>|\^"
_CONSTRAINT: Final = re.compile(rf"\s*({_OPS})\s*({_CV})\s*")
_RANGE: Final = re.compile(rf"\s*({_CV_FLAT})\s+-\s+({_CV_FLAT})\s*")
_FIND: Final = re.compile(rf"(?:{_OPS})\s*{_CV_FLAT}")
_VALID: Final = re.compile(
    rf"(\s*(?:{_OPS})\s*{_CV_FLAT}\s*)((?:\s+|,\s*)(?:{_OPS})\s*{_CV_FLAT}\s*)*"
)
_ALLOWED: Final = frozenset("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ-0123456789")
_UINT64_MAX: Final = 2**64 - 1


class Version(values.Struct):
    """A Masterminds `*semver.Version`."""

    go_type: ClassVar[str] = "*semver.Version"

    def __init__(
        self, major: int, minor: int, patch: int, *, pre: str, meta: str, original: str
    ) -> None:
        self.major, self.minor, self.patch = major, minor, patch
        self.pre, self.meta, self.original = pre, meta, original

    def String(self) -> str:
        """`1.2.3-pre+meta`."""
        text = f"{self.major}.{self.minor}.{self.patch}"
        text += f"-{self.pre}" if self.pre else ""
        return text + (f"+{self.meta}" if self.meta else "")

    def Major(self) -> values.Int:
        """The major number."""
        return values.Int(self.major, "uint64")

    def Minor(self) -> values.Int:
        """The minor number."""
        return values.Int(self.minor, "uint64")

    def Patch(self) -> values.Int:
        """The patch number."""
        return values.Int(self.patch, "uint64")

    def Prerelease(self) -> str:
        """The pre-release part."""
        return self.pre

    def Metadata(self) -> str:
        """The build metadata."""
        return self.meta

    def Original(self) -> str:
        """The text the version was parsed from."""
        return self.original

    def Compare(self, other: Version) -> int:
        """-1, 0 or 1: precedence, ignoring metadata."""
        return compare(self, other)

    def LessThan(self, other: Version) -> bool:
        """Whether this version comes first."""
        return compare(self, other) < 0

    def GreaterThan(self, other: Version) -> bool:
        """Whether this version comes later."""
        return compare(self, other) > 0

    def Equal(self, other: Version) -> bool:
        """Whether the versions have equal precedence."""
        return compare(self, other) == 0

    def MarshalJSON(self) -> str:
        """The version string, quoted."""
        return strconv.quote(self.String())


def _uint(text: str) -> int:
    n = int(text)
    if n > _UINT64_MAX:
        message = f'strconv.ParseUint: parsing "{text}": value out of range'
        raise values.GoError(f"Error parsing version segment: {message}")
    return n


def parse_version(text: str) -> Version:
    """Masterminds `NewVersion`; `GoError` with its message."""
    match = _VERSION.fullmatch(text)
    if match is None:
        raise values.GoError("Invalid Semantic Version")
    major, minor, patch, pre, meta = match.groups()
    version = Version(
        _uint(major),
        _uint(minor[1:]) if minor else 0,
        _uint(patch[1:]) if patch else 0,
        pre=pre or "",
        meta=meta or "",
        original=text,
    )
    for part in version.pre.split(".") if version.pre else ():
        if part.isdigit() and len(part) > 1 and part[0] == "0":
            raise values.GoError("Version segment starts with 0")
    return version


def _compare_part(a: str, b: str) -> int:
    if a == b:
        return 0
    if not a or not b:
        return -1 if not a else 1
    a_num, b_num = a.isdigit() and a.isascii(), b.isdigit() and b.isascii()
    if a_num and b_num:
        return 1 if int(a) > int(b) else -1
    if a_num != b_num:
        return -1 if a_num else 1
    return 1 if a > b else -1


def _compare_pre(a: str, b: str) -> int:
    left, right = a.split("."), b.split(".")
    for i in range(max(len(left), len(right))):
        diff = _compare_part(left[i] if i < len(left) else "", right[i] if i < len(right) else "")
        if diff:
            return diff
    return 0


def compare(a: Version, b: Version) -> int:
    """Semantic-version precedence."""
    for x, y in ((a.major, b.major), (a.minor, b.minor), (a.patch, b.patch)):
        if x != y:
            return 1 if x > y else -1
    if not a.pre or not b.pre:
        return (not a.pre) - (not b.pre)
    return _compare_pre(a.pre, b.pre)


@dataclass(frozen=True, slots=True)
class Constraint:
    """One comparison: `op`, the version it names, and which parts were wildcards."""

    op: str
    version: Version
    dirty: bool = False
    minor_dirty: bool = False
    patch_dirty: bool = False

    def allows(self, v: Version) -> bool:
        """Whether `v` satisfies this comparison."""
        con = self.version
        if v.pre and not con.pre and (self.op != "!=" or self.dirty):
            return False
        op = {"=>": ">=", "=<": "<=", "~>": "~", "": "="}.get(self.op, self.op)
        if op == "=" and self.dirty:
            op = "~"
        cmp = compare(v, con)
        if op in ("=", "<", ">=", "!="):
            return (
                self._not_equal(v)
                if op == "!="
                else {"=": cmp == 0, "<": cmp < 0, ">=": cmp >= 0}[op]
            )
        return {">": self._greater, "<=": self._at_most, "~": self._tilde, "^": self._caret}[op](
            v, cmp
        )

    def _not_equal(self, v: Version) -> bool:
        con = self.version
        if not self.dirty:
            return compare(v, con) != 0
        if con.major != v.major:
            return True
        if self.minor_dirty:
            return False
        if con.minor != v.minor:
            return True
        if self.patch_dirty:
            return bool((v.pre or con.pre) and _compare_pre(v.pre, con.pre) != 0)
        return compare(v, con) != 0

    def _greater(self, v: Version, cmp: int) -> bool:
        con = self.version
        if not self.dirty:
            return cmp > 0
        if v.major != con.major:
            return v.major > con.major
        if self.minor_dirty:
            return False
        return v.minor > con.minor if self.patch_dirty else cmp > 0

    def _at_most(self, v: Version, cmp: int) -> bool:
        con = self.version
        if not self.dirty:
            return cmp <= 0
        if v.major > con.major:
            return False
        return not (v.major == con.major and v.minor > con.minor and not self.minor_dirty)

    def _tilde(self, v: Version, cmp: int) -> bool:
        con = self.version
        if cmp < 0:
            return False
        if (con.major, con.minor, con.patch) == (0, 0, 0) and not (
            self.minor_dirty or self.patch_dirty
        ):
            return True
        if v.major != con.major:
            return False
        return v.minor == con.minor or self.minor_dirty

    def _caret(self, v: Version, cmp: int) -> bool:
        con = self.version
        if cmp < 0:
            return False
        if con.major > 0 or self.minor_dirty:
            return v.major == con.major
        if v.major > 0:
            return False
        if con.minor > 0 or self.patch_dirty:
            return v.minor == con.minor
        if v.minor > 0:
            return False
        return con.patch == v.patch


def _is_wild(part: str) -> bool:
    return part in ("x", "X", "*")


def parse_constraint(text: str) -> Constraint:
    """One comparison such as `>=1.2.x`."""
    match = _CONSTRAINT.fullmatch(text)
    if match is None:
        raise values.GoError(f"improper constraint: {text}")
    op, whole, major, minor, patch, pre = match.groups()
    pre = pre or ""
    flags = {"dirty": True}
    if _is_wild(major) or not major:
        spec = f"0.0.0{pre}"
    elif not minor or _is_wild(minor[1:]):
        spec, flags["minor_dirty"] = f"{major}.0.0{pre}", True
    elif not patch or _is_wild(patch[1:]):
        spec, flags["patch_dirty"] = f"{major}{minor}.0{pre}", True
    else:
        spec, flags = whole, {}
    try:
        version = parse_version(spec)
    except values.GoError as exc:
        raise values.GoError("constraint Parser Error") from exc
    return Constraint(op, version, **flags)


@functools.lru_cache(maxsize=256)
def parse_constraints(text: str) -> tuple[tuple[Constraint, ...], ...]:
    """Masterminds `NewConstraint`: alternatives of conjunctions."""
    for match in list(_RANGE.finditer(text)):
        text = text.replace(match.group(0), f">= {match.group(1)}, <= {match.group(2)}", 1)
    alternatives = []
    for part in text.split("||"):
        if not _VALID.fullmatch(part):
            raise values.GoError(f"improper constraint: {part}")
        alternatives.append(tuple(parse_constraint(c) for c in _FIND.findall(part)))
    return tuple(alternatives)


@values.func("semverCompare", "string", "string", result="bool", returns_error=True)
def semver_compare(constraint: str, version: str) -> bool:
    """Whether the version satisfies the constraint."""
    alternatives = parse_constraints(constraint)
    v = parse_version(version)
    return any(all(c.allows(v) for c in conj) for conj in alternatives)


@values.func("semver", "string", result="*semver.Version", returns_error=True)
def semver(version: str) -> Version:
    """The parsed version (`.Major`, `.Minor`, `.Patch`, `.Prerelease`, `.Compare`, ...)."""
    return parse_version(version)


FUNCS: list[values.Func] = [semver_compare, semver]
