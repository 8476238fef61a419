"""The pod annotations the injector reads, and the rules their values must follow.

A bad value in one of them (say a CIDR list with a typo) would otherwise render into iptables
arguments and fail inside the pod at start-up; Istio refuses the whole injection instead
(`validate.go`, reference §5.7) and so do we, naming the annotation, the value and the rule.
"""

from __future__ import annotations

import ipaddress
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass

import yaml

from sidecar_injector import boundedyaml
from sidecar_injector.errors import EXCERPT_LIMIT, InjectorError, Location, excerpt, yaml_problem

Check = Callable[[str], "str | None"]
"""Returns why the value is wrong (Istio's wording), or None when it is fine."""


@dataclass(frozen=True, slots=True)
class Problem:
    """One invalid annotation value."""

    name: str
    value: str
    reason: str
    rule: str

    def __str__(self) -> str:
        shown = excerpt(self.value)
        reason = self.reason if shown == self.value else self.reason.replace(self.value, shown)
        return (
            f"invalid value '{shown}' for annotation '{self.name}': "
            f"{excerpt(reason, limit=2 * EXCERPT_LIMIT)} (expected {self.rule})"
        )


class AnnotationError(InjectorError):
    """The pod carries annotation values the injector refuses; nothing is injected."""

    def __init__(self, problems: tuple[Problem, ...]) -> None:
        first = problems[0]
        text = "; ".join(str(p) for p in problems)
        super().__init__(
            text,
            location=Location(pointer=f"/metadata/annotations/{_escape(first.name)}"),
            hint="fix or remove the annotation and create the pod again",
        )
        self.problems = problems


@dataclass(frozen=True, slots=True)
class Annotation:
    """An annotation the injector knows; `check` is None when any value is accepted."""

    name: str
    rule: str
    check: Check | None = None


def _uint(bits: int) -> Check:
    def check(value: str) -> str | None:
        if not value.isascii() or not value.isdigit() or int(value) >= 1 << bits:
            return f'strconv.ParseUint: parsing "{value}": invalid syntax or out of range'
        return None

    return check


def _port(text: str) -> str | None:
    stripped = text.strip()
    if not stripped.isascii() or not stripped.isdigit() or int(stripped) > 65535:
        return f"failed parsing port '{text}'"
    return None


def _status_port(value: str) -> str | None:
    problem = _port(value)
    return None if problem is None else f"status port invalid: {problem}"


def _port_list(parameter: str, *, star: bool = False) -> Check:
    def check(value: str) -> str | None:
        if star and value == "*":
            return None
        value = value.strip()
        for item in value.split(",") if value else ():
            problem = _port(item)
            if problem is not None:
                return f"{parameter} invalid: failed parsing port '{item}': {problem}"
        return None

    return check


def _cidr(text: str) -> str | None:
    address, slash, bits = text.partition("/")
    if not slash:
        return f"netip.ParsePrefix(\"{text}\"): no '/'"
    if not bits.isascii() or not bits.isdigit() or (len(bits) > 1 and bits[0] == "0"):
        return f'netip.ParsePrefix("{text}"): bad bits after slash: "{bits}"'
    if "%" in address:
        return "IPv6 zones cannot be present in a prefix"
    try:
        ip = ipaddress.ip_address(address)
    except ValueError:
        return f'ParseAddr("{address}"): unable to parse IP'
    if int(bits) > ip.max_prefixlen:
        return f"prefix length out of range: {bits}"
    return None


def _cidr_list(parameter: str, *, star: bool = False) -> Check:
    def check(value: str) -> str | None:
        if star and value == "*":
            return None
        for item in value.split(",") if value else ():
            problem = _cidr(item)
            if problem is not None:
                return f"{parameter} invalid: failed parsing cidr '{item}': {problem}"
        return None

    return check


def _interception_mode(value: str) -> str | None:
    if value in ("REDIRECT", "TPROXY", "NONE"):
        return None
    return f"interceptionMode invalid, use REDIRECT,TPROXY,NONE: {value}"


def _bool(value: str) -> str | None:
    if value in ("1", "t", "T", "TRUE", "true", "True", "0", "f", "F", "FALSE", "false", "False"):
        return None
    return f'strconv.ParseBool: parsing "{value}": invalid syntax'


_INTERFACE = re.compile(r"[^\s/:]{1,15}")


def _interfaces(value: str) -> str | None:
    for name in value.split(",") if value else ():
        if not _INTERFACE.fullmatch(name) or name in (".", ".."):
            return f"invalid interface name '{name}'"
    return None


_QUANTITY = re.compile(
    r"[+-]?(?:[0-9]+(?:\.[0-9]*)?|\.[0-9]+)"
    r"(?:Ki|Mi|Gi|Ti|Pi|Ei|n|u|m|k|M|G|T|P|E|[eE][+-]?[0-9]+)?"
)


QUANTITY_SYNTAX = "^([+-]?[0-9.]+)([eEinumkKMGTP]*[-+]?[0-9]*)$"


def _quantity(value: str) -> str | None:
    if any(ord(c) < 32 or ord(c) == 127 for c in value):
        return "contains control characters"
    if not _QUANTITY.fullmatch(value):
        return "quantities must match the regular expression " + repr(QUANTITY_SYNTAX)
    return None


_LOG_LEVELS = re.compile(r"[A-Za-z0-9_.:,-]*")


def _log_levels(value: str) -> str | None:
    """Ours, not Istio's (it passes these to Envoy and pilot-agent unchecked): a level list is
    one word, so a value with spaces, line breaks or quotes is refused before it reaches a
    template that might paste it unquoted."""
    if _LOG_LEVELS.fullmatch(value):
        return None
    return "a log level list has only letters, digits and the characters _ . : , -"


def _stat_names(value: str) -> str | None:
    """Ours: Envoy stat names hold no whitespace, control characters or quotes."""
    if any(c.isspace() or not c.isprintable() or c in "\"'" for c in value):
        return "stat names contain no whitespace, control characters or quotes"
    return None


def _proxy_config(value: str) -> str | None:
    try:
        parsed = boundedyaml.load(
            value, limits=boundedyaml.ANNOTATION, source="annotation proxy.istio.io/config"
        )
    except yaml.YAMLError as err:
        return f"failed to convert to apply proxy config: {yaml_problem(err)}"
    except boundedyaml.YAMLLimitError as err:
        return f"failed to convert to apply proxy config: {err.problem}"
    if parsed is not None and not isinstance(parsed, dict):
        return "failed to convert to apply proxy config: not a mapping"
    return None


PORT_LIST = "a comma-separated list of ports (0-65535)"
CIDR_LIST = "a comma-separated list of CIDRs such as 10.0.0.0/8"
KNOWN: tuple[Annotation, ...] = (
    Annotation("sidecar.istio.io/inject", '"true" or "false"'),
    Annotation("sidecar.istio.io/status", "written by the injector"),
    Annotation("sidecar.istio.io/interceptionMode", "REDIRECT, TPROXY or NONE", _interception_mode),
    Annotation("sidecar.istio.io/proxyImage", "an image reference"),
    Annotation("sidecar.istio.io/proxyCPU", "a resource quantity such as 100m", _quantity),
    Annotation("sidecar.istio.io/proxyMemory", "a resource quantity such as 128Mi", _quantity),
    Annotation("sidecar.istio.io/proxyCPULimit", "a resource quantity such as 2", _quantity),
    Annotation("sidecar.istio.io/proxyMemoryLimit", "a resource quantity such as 1Gi", _quantity),
    Annotation("sidecar.istio.io/nativeSidecar", '"true" or "false"'),
    Annotation("sidecar.istio.io/rewriteAppHTTPProbers", "a boolean"),
    Annotation("sidecar.istio.io/discoveryAddress", "host:port"),
    Annotation("sidecar.istio.io/controlPlaneAuthPolicy", "NONE or MUTUAL_TLS"),
    Annotation("sidecar.istio.io/userVolume", "JSON volumes"),
    Annotation("sidecar.istio.io/userVolumeMount", "JSON volume mounts"),
    Annotation("sidecar.istio.io/bootstrapOverride", "a ConfigMap name"),
    Annotation("sidecar.istio.io/logLevel", "a proxy log level such as warning", _log_levels),
    Annotation(
        "sidecar.istio.io/componentLogLevel",
        "component:level pairs such as misc:error,upstream:debug",
        _log_levels,
    ),
    Annotation(
        "sidecar.istio.io/agentLogLevel", "scope:level pairs such as default:info", _log_levels
    ),
    Annotation("sidecar.istio.io/enableCoreDump", "a boolean"),
    Annotation(
        "sidecar.istio.io/statsInclusionPrefixes", "comma-separated stat prefixes", _stat_names
    ),
    Annotation(
        "sidecar.istio.io/statsInclusionSuffixes", "comma-separated stat suffixes", _stat_names
    ),
    Annotation("status.sidecar.istio.io/port", "a port (0-65535)", _status_port),
    Annotation(
        "readiness.status.sidecar.istio.io/initialDelaySeconds",
        "an unsigned 32-bit integer",
        _uint(32),
    ),
    Annotation(
        "readiness.status.sidecar.istio.io/periodSeconds", "an unsigned 32-bit integer", _uint(32)
    ),
    Annotation(
        "readiness.status.sidecar.istio.io/failureThreshold",
        "an unsigned 32-bit integer",
        _uint(32),
    ),
    Annotation("readiness.status.sidecar.istio.io/applicationPorts", PORT_LIST),
    Annotation(
        "traffic.sidecar.istio.io/includeOutboundIPRanges",
        f'"*" or {CIDR_LIST}',
        _cidr_list("includeIPRanges", star=True),
    ),
    Annotation(
        "traffic.sidecar.istio.io/excludeOutboundIPRanges", CIDR_LIST, _cidr_list("excludeIPRanges")
    ),
    Annotation(
        "traffic.sidecar.istio.io/includeInboundPorts",
        f'"*" or {PORT_LIST}',
        _port_list("includeInboundPorts", star=True),
    ),
    Annotation(
        "traffic.sidecar.istio.io/excludeInboundPorts", PORT_LIST, _port_list("excludeInboundPorts")
    ),
    Annotation(
        "traffic.sidecar.istio.io/includeOutboundPorts",
        PORT_LIST,
        _port_list("includeOutboundPorts"),
    ),
    Annotation(
        "traffic.sidecar.istio.io/excludeOutboundPorts",
        PORT_LIST,
        _port_list("excludeOutboundPorts"),
    ),
    Annotation("traffic.sidecar.istio.io/excludeInterfaces", "interface names", _interfaces),
    Annotation("traffic.sidecar.istio.io/kubevirtInterfaces", "interface names", _interfaces),
    Annotation("istio.io/reroute-virtual-interfaces", "interface names", _interfaces),
    Annotation("prometheus.istio.io/merge-metrics", "a boolean (true, false, 1, 0, t, f)", _bool),
    Annotation("proxy.istio.io/config", "a ProxyConfig in YAML or JSON", _proxy_config),
    Annotation("proxy.istio.io/overrides", "written by the injector"),
    Annotation("inject.istio.io/templates", "comma-separated template names"),
    Annotation("istio.io/rev", "a revision name"),
)
BY_NAME: Mapping[str, Annotation] = {a.name: a for a in KNOWN}


def problems(annotations: Mapping[str, str]) -> tuple[Problem, ...]:
    """Every invalid value among the pod's annotations, sorted by annotation name."""
    found: list[Problem] = []
    for name in sorted(annotations):
        known = BY_NAME.get(name)
        if known is None or known.check is None:
            continue
        value = annotations[name] or ""
        reason = known.check(value)
        if reason is not None:
            found.append(Problem(name, value, reason, known.rule))
    return tuple(found)


def validate(annotations: Mapping[str, str]) -> None:
    """Raise AnnotationError naming every invalid value; Istio denies such pods."""
    found = problems(annotations)
    if found:
        raise AnnotationError(found)


def _escape(name: str) -> str:
    return name.replace("~", "~0").replace("/", "~1")
