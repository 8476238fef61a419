"""The shape of Istio's MeshConfig protobuf messages, for checking and printing them.

Each message is described by its fields in declaration order (jsonpb prints them in that
order) with their jsonpb names and kinds; enums by their value names in number order. Also
the two duration texts users meet: jsonpb's (`"1.5s"`) and Go's `time.Duration` (`1m30s`).
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Final

from sidecar_injector.errors import excerpt

JSON = Any


ENUMS: Final[Mapping[str, tuple[str, ...]]] = {
    # Listed in number order; the first value is the proto3 zero value.
    "AuthenticationPolicy": ("NONE", "MUTUAL_TLS"),
    "ProxyConfig_InboundInterceptionMode": ("REDIRECT", "TPROXY", "NONE"),
    "ProxyConfig_TracingServiceName": (
        "APP_LABEL_AND_NAMESPACE",
        "CANONICAL_NAME_ONLY",
        "CANONICAL_NAME_AND_NAMESPACE",
    ),
    "MeshConfig_IngressControllerMode": ("UNSPECIFIED", "OFF", "DEFAULT", "STRICT"),
    "MeshConfig_AccessLogEncoding": ("TEXT", "JSON"),
    "MeshConfig_H2UpgradePolicy": ("DO_NOT_UPGRADE", "UPGRADE"),
    "MeshConfig_OutboundTrafficPolicy_Mode": ("REGISTRY_ONLY", "ALLOW_ANY"),
    "MeshConfig_InboundTrafficPolicy_Mode": ("PASSTHROUGH", "LOCALHOST"),
    "MeshConfig_AuthPolicy": ("NONE", "MUTUAL_TLS"),
}

ENUM_NUMBERS: Final[Mapping[str, Mapping[str, int]]] = {
    "AuthenticationPolicy": {"NONE": 0, "MUTUAL_TLS": 1, "INHERIT": 1000},
}


@dataclass(frozen=True, slots=True)
class FieldSpec:
    """One field of a message: its jsonpb name and kind.

    Kinds: `string`, `bool`, `int32`, `uint32`, `int64`, `double`, `duration`, the wrapper
    messages `BoolValue`/`Int32Value`/`UInt32Value`/`DoubleValue`, `enum:E`, `msg:M`,
    `map_string`, `map_any`, `list_string`, `list_msg:M`, `any` (a field we do not model).
    `oneof` names the Go interface field that holds it.
    """

    json: str
    kind: str
    oneof: str | None = None

    @property
    def go_name(self) -> str:
        return go_name(self.json)


def go_name(json_name: str) -> str:
    """protoc-gen-go's field name for a lowerCamelCase jsonpb name."""
    return json_name[:1].upper() + json_name[1:]


def _fields(*specs: str) -> tuple[FieldSpec, ...]:
    out: list[FieldSpec] = []
    for spec in specs:
        name, kind, *oneof = spec.split()
        out.append(FieldSpec(name, kind, oneof[0] if oneof else None))
    return tuple(out)


MESSAGES: Final[Mapping[str, tuple[FieldSpec, ...]]] = {
    # ProxyConfig in declaration order (jsonpb prints fields in this order). `connectTimeout`
    # (field 9) and `availabilityZone` are Istio 1.0 fields kept so 1.0 mesh configs load.
    "ProxyConfig": _fields(
        "configPath string",
        "binaryPath string",
        "serviceCluster string ClusterName",
        "tracingServiceName enum:ProxyConfig_TracingServiceName ClusterName",
        "drainDuration duration",
        "parentShutdownDuration duration",
        "discoveryAddress string",
        "discoveryRefreshDelay duration",
        "zipkinAddress string",
        "connectTimeout duration",
        "statsdUdpAddress string",
        "envoyMetricsServiceAddress string",
        "proxyAdminPort int32",
        "availabilityZone string",
        "controlPlaneAuthPolicy enum:AuthenticationPolicy",
        "customConfigFile string",
        "statNameLength int32",
        "concurrency Int32Value",
        "proxyBootstrapTemplatePath string",
        "interceptionMode enum:ProxyConfig_InboundInterceptionMode",
        "tracing msg:Tracing",
        "sds msg:SDS",
        "envoyAccessLogService msg:RemoteService",
        "envoyMetricsService msg:RemoteService",
        "proxyMetadata map_string",
        "runtimeValues map_string",
        "statusPort int32",
        "extraStatTags list_string",
        "gatewayTopology msg:Topology",
        "terminationDrainDuration duration",
        "meshId string",
        "readinessProbe any",
        "proxyStatsMatcher msg:ProxyStatsMatcher",
        "holdApplicationUntilProxyStarts BoolValue",
        "caCertificatesPem list_string",
        "image msg:ProxyImage",
        "privateKeyProvider any",
        "proxyHeaders any",
        "fileFlushInterval duration",
        "fileFlushMinSizeKb UInt32Value",
    ),
    "Tracing": _fields(
        "zipkin msg:Tracing_Zipkin Tracer",
        "lightstep any Tracer",
        "datadog msg:Tracing_Zipkin Tracer",
        "stackdriver any Tracer",
        "customTags any",
        "maxPathTagLength uint32",
        "sampling double",
        "tlsSettings msg:ClientTLSSettings",
        "openCensusAgent any Tracer",
        "enableIstioTags BoolValue",
    ),
    "Tracing_Zipkin": _fields("address string"),
    "ClientTLSSettings": _fields(
        "mode any",
        "clientCertificate string",
        "privateKey string",
        "caCertificates string",
        "credentialName string",
        "subjectAltNames list_string",
        "sni string",
        "insecureSkipVerify BoolValue",
        "caCrl string",
    ),
    "SDS": _fields("enabled bool", "k8sSaJwtPath string"),
    "RemoteService": _fields(
        "address string", "tlsSettings msg:ClientTLSSettings", "tcpKeepalive any"
    ),
    "Topology": _fields(
        "numTrustedProxies uint32",
        "forwardClientCertDetails any",
        "proxyProtocol any",
    ),
    "ProxyStatsMatcher": _fields(
        "inclusionPrefixes list_string",
        "inclusionSuffixes list_string",
        "inclusionRegexps list_string",
    ),
    "ProxyImage": _fields("imageType string"),
    "MeshConfig": _fields(
        "proxyListenPort int32",
        "proxyInboundListenPort int32",
        "proxyHttpPort int32",
        "connectTimeout duration",
        "protocolDetectionTimeout duration",
        "tcpKeepalive any",
        "ingressClass string",
        "ingressService string",
        "ingressControllerMode enum:MeshConfig_IngressControllerMode",
        "ingressSelector string",
        "enableTracing bool",
        "accessLogFile string",
        "accessLogFormat string",
        "accessLogEncoding enum:MeshConfig_AccessLogEncoding",
        "enableEnvoyAccessLogService bool",
        "disableEnvoyListenerLog bool",
        "defaultConfig msg:ProxyConfig",
        "outboundTrafficPolicy msg:MeshConfig_OutboundTrafficPolicy",
        "inboundTrafficPolicy msg:MeshConfig_InboundTrafficPolicy",
        "configSources any",
        "enableAutoMtls BoolValue",
        "trustDomain string",
        "trustDomainAliases list_string",
        "caCertificates any",
        "defaultServiceExportTo list_string",
        "defaultVirtualServiceExportTo list_string",
        "defaultDestinationRuleExportTo list_string",
        "rootNamespace string",
        "localityLbSetting any",
        "dnsRefreshRate duration",
        "h2UpgradePolicy enum:MeshConfig_H2UpgradePolicy",
        "inboundClusterStatName string",
        "outboundClusterStatName string",
        "certificates any",
        "serviceSettings any",
        "enablePrometheusMerge BoolValue",
        "verifyCertificateAtClient BoolValue",
        "ca any",
        "extensionProviders any",
        "defaultProviders any",
        "discoverySelectors any",
        "pathNormalization any",
        "defaultHttpRetryPolicy any",
        "meshMTLS any",
        "tlsDefaults any",
        "serviceScopeConfigs any",
        # Istio 1.0 fields, kept so that 1.0 mesh configs load.
        "mixerCheckServer string",
        "mixerReportServer string",
        "disablePolicyChecks bool",
        "policyCheckFailOpen bool",
        "mixerAddress string",
        "rdsRefreshDelay duration",
        "authPolicy enum:MeshConfig_AuthPolicy",
        "sdsUdsPath string",
        "sdsRefreshDelay duration",
        "thriftConfig any",
    ),
    "MeshConfig_OutboundTrafficPolicy": _fields("mode enum:MeshConfig_OutboundTrafficPolicy_Mode"),
    "MeshConfig_InboundTrafficPolicy": _fields("mode enum:MeshConfig_InboundTrafficPolicy_Mode"),
}

GO_PACKAGE: Final = "v1alpha1"
SCALAR_ZERO: Final[Mapping[str, JSON]] = {
    "string": "",
    "bool": False,
    "int32": 0,
    "uint32": 0,
    "int64": 0,
    "double": 0.0,
}
INT_RANGES: Final[Mapping[str, tuple[int, int]]] = {
    "int32": (-(2**31), 2**31 - 1),
    "uint32": (0, 2**32 - 1),
    "int64": (-(2**63), 2**63 - 1),
}


class FieldError(ValueError):
    """A field of a mesh or proxy config with a bad value; `path` is the dotted key path."""

    def __init__(self, path: str, message: str) -> None:
        super().__init__(f"{path}: {message}")
        self.path = path
        self.message = message


_DURATION_PART = re.compile(r"(\d+(?:\.\d*)?|\.\d+)(ns|us|µs|ms|s|m|h)")
_UNIT_NANOS: Final = {
    "ns": 1,
    "us": 1_000,
    "µs": 1_000,
    "ms": 1_000_000,
    "s": 1_000_000_000,
    "m": 60_000_000_000,
    "h": 3_600_000_000_000,
}


def parse_duration(value: JSON, path: str) -> int:
    """A duration as nanoseconds, from jsonpb's `"1.5s"` or Go's `"1m30s"` (both accepted)."""
    if isinstance(value, int | float) and not isinstance(value, bool):
        return round(value * 1_000_000_000)
    if not isinstance(value, str) or not value.strip():
        raise FieldError(path, f"must be a duration such as '10s', not {describe(value)}")
    text = value.strip()
    sign = -1 if text.startswith("-") else 1
    body = text.lstrip("+-")
    if body == "0":
        return 0
    pos, total = 0, 0.0
    while match := _DURATION_PART.match(body, pos):
        total += float(match.group(1)) * _UNIT_NANOS[match.group(2)]
        pos = match.end()
    if pos != len(body) or pos == 0:
        raise FieldError(
            path, f"{excerpt(repr(value))} is not a duration; write it like '10s' or '1m30s'"
        )
    if not total < 2**63:
        raise FieldError(
            path, f"{excerpt(repr(value))} is out of range; a duration is at most 2562047h"
        )
    return sign * round(total)


def format_duration_json(nanos: int) -> str:
    """jsonpb's form of a Duration: seconds with 0, 3, 6 or 9 fractional digits."""
    sign = "-" if nanos < 0 else ""
    seconds, frac = divmod(abs(nanos), 1_000_000_000)
    if frac == 0:
        return f"{sign}{seconds}s"
    digits = f"{frac:09d}"
    while digits.endswith("000"):
        digits = digits[:-3]
    return f"{sign}{seconds}.{digits}s"


def format_duration_go(nanos: int) -> str:
    """Go's `time.Duration.String`: `23s`, `1m0s`, `500ms`, `2h0m0s`, `0s`."""
    if nanos == 0:
        return "0s"
    sign = "-" if nanos < 0 else ""
    n = abs(nanos)
    if n < 1_000_000_000:
        for unit, size in (("ms", 1_000_000), ("µs", 1_000), ("ns", 1)):
            if n >= size:
                return sign + _trim_fraction(n, size) + unit
    hours, rest = divmod(n, 3_600_000_000_000)
    minutes, rest = divmod(rest, 60_000_000_000)
    seconds = _trim_fraction(rest, 1_000_000_000) + "s"
    if hours:
        return f"{sign}{hours}h{minutes}m{seconds}"
    if minutes:
        return f"{sign}{minutes}m{seconds}"
    return sign + seconds


def _trim_fraction(n: int, size: int) -> str:
    whole, frac = divmod(n, size)
    if not frac:
        return str(whole)
    width = len(str(size)) - 1
    return f"{whole}.{frac:0{width}d}".rstrip("0")


def describe(value: JSON) -> str:
    """A value as an error message names it."""
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "a boolean"
    if isinstance(value, int | float):
        return f"the number {value!r}"
    if isinstance(value, str):
        return f"the string {excerpt(value)!r}"
    if isinstance(value, Mapping):
        return "a mapping"
    if isinstance(value, list):
        return "a list"
    return type(value).__name__
