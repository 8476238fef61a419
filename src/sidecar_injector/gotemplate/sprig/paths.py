"""sprig's paths, URLs and environment: Go's `path`, `path/filepath`, `net/url`, `os`.

`filepath` on Linux behaves as `path`, so the `os...` functions share the code. URLs
follow Go's `url.Parse` and `URL.String` for the common shapes (scheme, userinfo, host,
port, path, query, fragment, opaque); IPv6 zone identifiers and Go's host-name character
validation are not reproduced.
"""

from __future__ import annotations

import os
import string
from dataclasses import replace as alias
from typing import Final

from .. import strconv, values
from . import cast, runes


def clean(path: str) -> str:
    """Go's `path.Clean`: the shortest equivalent path, by lexical processing."""
    if not path:
        return "."
    rooted = path.startswith("/")
    parts: list[str] = []
    for segment in path.split("/"):
        if segment in ("", "."):
            continue
        if segment == "..":
            if parts and parts[-1] != "..":
                parts.pop()
            elif not rooted:
                parts.append("..")
            continue
        parts.append(segment)
    joined = "/".join(parts)
    return "/" + joined if rooted else joined or "."


@values.func("base", "string", result="string")
def base(path: str) -> str:
    """The last element of the path."""
    if not path:
        return "."
    stripped = path.rstrip("/")
    return stripped[stripped.rfind("/") + 1 :] if stripped else "/"


@values.func("dir", "string", result="string")
def directory(path: str) -> str:
    """All but the last element of the path, cleaned."""
    return clean(path[: path.rfind("/") + 1])


@values.func("clean", "string", result="string")
def clean_path(path: str) -> str:
    """Go's `path.Clean`."""
    return clean(path)


@values.func("ext", "string", result="string")
def ext(path: str) -> str:
    """The extension of the last element, with its dot."""
    for i in range(len(path) - 1, -1, -1):
        if path[i] == "/":
            break
        if path[i] == ".":
            return path[i:]
    return ""


@values.func("isAbs", "string", result="bool")
def is_abs(path: str) -> bool:
    """Whether the path is absolute."""
    return path.startswith("/")


@values.func("env", "string", result="string")
def env(name: str) -> str:
    """The environment variable, or `""`."""
    return os.environ.get(name, "")


_SPECIAL_VARS: Final = frozenset("*#$@!?-0123456789")
_NAME_CHARS: Final = frozenset(string.ascii_letters + string.digits + "_")


def _shell_name(s: str) -> tuple[str, int]:
    """Go's `os` shell-variable name at the start of `s`, and how much of `s` it takes."""
    if s[0] == "{":
        if len(s) > 2 and s[1] in _SPECIAL_VARS and s[2] == "}":
            return s[1], 3
        close = s.find("}", 1)
        if close == -1:
            return "", 1
        return (s[1:close], close + 1) if close > 1 else ("", 2)
    if s[0] in _SPECIAL_VARS:
        return s[0], 1
    end = 0
    while end < len(s) and s[end] in _NAME_CHARS:
        end += 1
    return s[:end], end


@values.func("expandenv", "string", result="string")
def expandenv(s: str) -> str:
    """`$VAR` and `${VAR}` replaced from the environment (Go's `os.ExpandEnv`)."""
    out: list[str] = []
    i = j = 0
    while j < len(s):
        if s[j] == "$" and j + 1 < len(s):
            out.append(s[i:j])
            name, width = _shell_name(s[j + 1 :])
            if name:
                out.append(os.environ.get(name, ""))
            elif width == 0:
                out.append("$")
            j += width
            i = j + 1
        j += 1
    out.append(s[i:])
    return "".join(out)


class URLError(values.GoError):
    """Go's `*url.Error` from `url.Parse`."""


def _unescape(s: str, *, whole: str) -> str:
    """Percent-decoding; Go's error for a bad escape."""
    raw = runes.to_bytes(s)
    out = bytearray()
    i = 0
    while i < len(raw):
        if raw[i] == 0x25:
            pair = raw[i + 1 : i + 3]
            if len(pair) < 2 or any(chr(b) not in string.hexdigits for b in pair):
                bad = runes.from_bytes(raw[i : i + 3])
                raise URLError(_parse_error(whole, f"invalid URL escape {strconv.quote(bad)}"))
            out.append(int(pair, 16))
            i += 3
        else:
            out.append(raw[i])
            i += 1
    return runes.from_bytes(bytes(out))


def _parse_error(url: str, message: str) -> str:
    return f"parse {strconv.quote(url)}: {message}"


def _split_scheme(url: str) -> tuple[str, str]:
    for i, ch in enumerate(url):
        if ch.isascii() and ch.isalpha():
            continue
        if ch.isascii() and (ch.isdigit() or ch in "+-."):
            if i == 0:
                return "", url
            continue
        if ch == ":":
            if i == 0:
                raise URLError(_parse_error(url, "missing protocol scheme"))
            return url[:i].lower(), url[i + 1 :]
        return "", url
    return "", url


def _parse_authority(authority: str, *, whole: str) -> tuple[str, str]:
    """(escaped userinfo, host) of `user:pass@host:port`."""
    at = authority.rfind("@")
    host = authority[at + 1 :]
    if host.startswith("["):
        close = host.rfind("]")
        if close < 0:
            raise URLError(_parse_error(whole, "missing ']' in host"))
        port = host[close + 1 :]
    else:
        port = host[host.rfind(":") :] if ":" in host else ""
    if port and (port[0] != ":" or not all("0" <= c <= "9" for c in port[1:])):
        raise URLError(_parse_error(whole, f"invalid port {strconv.quote(port)} after host"))
    host = _unescape(host, whole=whole)
    if at < 0:
        return "", host
    user, colon, password = authority[:at].partition(":")
    userinfo = _escape(_unescape(user, whole=whole), "userinfo")
    if colon:
        userinfo += ":" + _escape(_unescape(password, whole=whole), "userinfo")
    return userinfo, host


def _hostname(host: str) -> str:
    if host.startswith("["):
        return host[1 : host.find("]")] if "]" in host else host[1:]
    return host[: host.rfind(":")] if ":" in host else host


def parse_url(url: str) -> dict[str, object]:
    """Go's `url.Parse` as the fields `urlParse` gives."""
    rest, _, fragment = url.partition("#")
    whole = rest
    fields = dict.fromkeys(("scheme", "host", "hostname", "path", "query", "opaque"), "")
    fields |= {"fragment": "", "userinfo": ""}
    if any(ord(ch) < 0x20 or ch == "\x7f" for ch in url):
        raise URLError(_parse_error(whole, "net/url: invalid control character in URL"))
    scheme, rest = _split_scheme(rest)
    fields["scheme"] = scheme
    if rest.endswith("?") and rest.count("?") == 1:
        rest = rest[:-1]
    else:
        rest, _, fields["query"] = rest.partition("?")
    if not rest.startswith("/"):
        if scheme:
            fields["opaque"] = rest
            fields["fragment"] = _unescape(fragment, whole=url)
            return dict(fields)
        if ":" in rest.partition("/")[0]:
            raise URLError(_parse_error(whole, "first path segment in URL cannot contain colon"))
    if rest.startswith("//") and (scheme or not rest.startswith("///")):
        authority, slash, path = rest[2:].partition("/")
        fields["userinfo"], fields["host"] = _parse_authority(authority, whole=whole)
        fields["hostname"] = _hostname(str(fields["host"]))
        rest = slash + path
    fields["path"] = _unescape(rest, whole=whole)
    fields["fragment"] = _unescape(fragment, whole=url)
    return dict(fields)


_UNRESERVED: Final = frozenset(string.ascii_letters + string.digits + "-_.~")
_SUB_DELIMS: Final = frozenset("$&+,/:;=?@")
_KEEP: Final = {
    "path": frozenset("$&+,/:;=@"),
    "userinfo": frozenset("$&+,;="),
    "fragment": _SUB_DELIMS | frozenset("!()*"),
    "host": frozenset("!$&'()*+,;=:[]<>\""),
}


def _escape(s: str, mode: str) -> str:
    """Go's `url.escape`: percent-encode the bytes the mode does not allow."""
    keep = _UNRESERVED | _KEEP[mode]
    return "".join(chr(b) if chr(b) in keep else f"%{b:02X}" for b in runes.to_bytes(s))


@values.func("urlParse", "string", result=values.MAP_ANY)
def url_parse(url: str) -> dict[str, object]:
    """The parts of a URL: scheme, host, hostname, path, query, opaque, fragment, userinfo."""
    try:
        return parse_url(url)
    except URLError as exc:
        raise values.GoError(f"unable to parse url: {exc}") from exc


def _field(parts: dict[str, object], key: str) -> str:
    value = parts.get(key, "")
    if isinstance(value, str):
        return value
    kind = cast.kind_of(value)
    raise values.GoError(f"unable to parse {key} key, must be of type string, but {kind} found")


@values.func("urlJoin", values.MAP_ANY, result="string")
def url_join(parts: dict[str, object]) -> str:
    """A URL from the parts `urlParse` gives (Go's `URL.String`)."""
    scheme, host, path = (_field(parts, k) for k in ("scheme", "host", "path"))
    query, opaque, fragment = (_field(parts, k) for k in ("query", "opaque", "fragment"))
    userinfo = _field(parts, "userinfo")
    if userinfo:
        userinfo = _parse_authority(userinfo + "@host", whole=f"proto://{userinfo}@host")[0]
    out = ""
    if opaque:
        out = f"{scheme}:{opaque}"
    else:
        if scheme:
            out = scheme + ":"
        if scheme or host or userinfo:
            if host or path or userinfo:
                out += "//"
            if userinfo:
                out += userinfo + "@"
            out += _escape(host, "host")
        escaped = _escape(path, "path")
        if escaped and not escaped.startswith("/") and host:
            out += "/"
        if not out and ":" in escaped.partition("/")[0]:
            out = "./"
        out += escaped
    if query:
        out += "?" + query
    if fragment:
        out += "#" + _escape(fragment, "fragment")
    return out


FUNCS: list[values.Func] = [
    base,
    directory,
    clean_path,
    ext,
    is_abs,
    alias(base, name="osBase"),
    alias(directory, name="osDir"),
    alias(clean_path, name="osClean"),
    alias(ext, name="osExt"),
    alias(is_abs, name="osIsAbs"),
    env,
    expandenv,
    url_parse,
    url_join,
]
