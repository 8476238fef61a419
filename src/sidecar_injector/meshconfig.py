"""Istio's MeshConfig and ProxyConfig: defaults, merging, and their protobuf shape.

Users write these as YAML (the `mesh` key of ConfigMap `istio`, the `proxy.istio.io/config`
annotation). Istio decodes them into protobuf messages, and templates see those messages: Go
field names, enum names, `*durationpb.Duration`, wrapper types with `GetValue`. We keep the
config as canonical jsonpb-shaped JSON (what `protoToJSON` prints) and describe each message
with a small schema, so that the same data gives the template view (templatedata), the
default-cleaned JSON (istio_funcs) and validation errors with a key path (config).
"""

from __future__ import annotations

import re
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from typing import Any, Final

from sidecar_injector.errors import excerpt
from sidecar_injector.meshschema import (
    ENUM_NUMBERS,
    ENUMS,
    INT_RANGES,
    MESSAGES,
    SCALAR_ZERO,
    FieldError,
    FieldSpec,
    describe,
    format_duration_json,
    parse_duration,
)

JSON = Any

# DefaultProxyConfig and DefaultMeshConfig of Istio's pkg/config/mesh (recent releases), as jsonpb.
DEFAULT_PROXY_CONFIG: Final[Mapping[str, JSON]] = {
    "configPath": "./etc/istio/proxy",
    "binaryPath": "/usr/local/bin/envoy",
    "serviceCluster": "istio-proxy",
    "drainDuration": "45s",
    "discoveryAddress": "istiod.istio-system.svc:15012",
    "proxyAdminPort": 15000,
    "controlPlaneAuthPolicy": "MUTUAL_TLS",
    "statNameLength": 189,
    "statusPort": 15020,
    "terminationDrainDuration": "5s",
}

DEFAULT_MESH_CONFIG: Final[Mapping[str, JSON]] = {
    "proxyListenPort": 15001,
    "proxyInboundListenPort": 15006,
    "connectTimeout": "10s",
    "protocolDetectionTimeout": "0s",
    "ingressClass": "istio",
    "ingressService": "istio-ingressgateway",
    "ingressControllerMode": "STRICT",
    "enableTracing": True,
    "accessLogFile": "",
    "accessLogEncoding": "TEXT",
    "defaultConfig": DEFAULT_PROXY_CONFIG,
    "outboundTrafficPolicy": {"mode": "ALLOW_ANY"},
    "enableAutoMtls": True,
    "trustDomain": "cluster.local",
    "trustDomainAliases": [],
    "defaultServiceExportTo": ["*"],
    "defaultVirtualServiceExportTo": ["*"],
    "defaultDestinationRuleExportTo": ["*"],
    "rootNamespace": "istio-system",
    "localityLbSetting": {"enabled": True},
    "dnsRefreshRate": "60s",
    "certificates": [],
    "serviceSettings": [],
    "enablePrometheusMerge": True,
    "defaultProviders": {},
    "extensionProviders": [
        {"name": "prometheus", "prometheus": {}},
        {"name": "stackdriver", "stackdriver": {}},
        {"name": "envoy", "envoyFileAccessLog": {"path": "/dev/stdout"}},
    ],
}

# The fields `cleanProxyConfig` zeroes when they equal DefaultProxyConfig (for `protoToJSON`).
CLEANED_FIELDS: Final = (
    "configPath",
    "binaryPath",
    "controlPlaneAuthPolicy",
    "serviceCluster",
    "tracingServiceName",
    "drainDuration",
    "terminationDrainDuration",
    "discoveryAddress",
    "envoyMetricsService",
    "envoyAccessLogService",
    "tracing",
    "proxyAdminPort",
    "statNameLength",
    "statusPort",
    "concurrency",
)


@dataclass(frozen=True, slots=True)
class ProxyConfig:
    """An effective ProxyConfig, as canonical jsonpb JSON (see the module docstring)."""

    data: Mapping[str, JSON]


@dataclass(frozen=True, slots=True)
class MeshConfig:
    """An effective MeshConfig: the user's mesh config applied over Istio's defaults."""

    data: Mapping[str, JSON]

    @property
    def default_config(self) -> ProxyConfig:
        pc = self.data.get("defaultConfig")
        return ProxyConfig(pc if isinstance(pc, Mapping) else {})


def default_mesh() -> MeshConfig:
    """Istio's DefaultMeshConfig, with nothing applied."""
    return MeshConfig(normalize("MeshConfig", DEFAULT_MESH_CONFIG, path=""))


def apply_mesh(user: Mapping[str, JSON], base: MeshConfig | None = None) -> MeshConfig:
    """Istio's ApplyMeshConfig: top-level fields replace, except the ones Istio merges.

    `defaultConfig` is merged field by field (and `proxyMetadata` key by key),
    `defaultProviders` field by field, `extensionProviders` by name, and
    `trustDomainAliases` become the sorted union.
    """
    base = base or default_mesh()
    given = normalize("MeshConfig", user, path="")
    merged = dict(base.data)
    for key, value in given.items():
        if key == "defaultConfig":
            merged[key] = _merge_proxy(base.default_config.data, value)
        elif key == "defaultProviders" and isinstance(value, Mapping):
            merged[key] = {**_mapping(base.data.get(key)), **value}
        elif key == "extensionProviders" and isinstance(value, list):
            merged[key] = _merge_providers(base.data.get(key), value)
        elif key == "trustDomainAliases" and isinstance(value, list):
            old = base.data.get(key) or []
            merged[key] = sorted({*old, *value})
        else:
            merged[key] = value
    return MeshConfig(merged)


def apply_proxy(user: Mapping[str, JSON], base: ProxyConfig, *, path: str = "") -> ProxyConfig:
    """Istio's applyProxyConfig: the user's fields replace, `proxyMetadata` merges by key."""
    return ProxyConfig(_merge_proxy(base.data, normalize("ProxyConfig", user, path=path)))


def _merge_proxy(base: Mapping[str, JSON], given: Mapping[str, JSON]) -> dict[str, JSON]:
    merged = dict(base)
    for key, value in given.items():
        if key == "proxyMetadata" and isinstance(value, Mapping):
            merged[key] = {**_mapping(base.get(key)), **value}
        elif key in ("serviceCluster", "tracingServiceName"):
            merged.pop("serviceCluster", None)
            merged.pop("tracingServiceName", None)
            merged[key] = value
        else:
            merged[key] = value
    return merged


def _merge_providers(old: JSON, new: list[JSON]) -> list[JSON]:
    providers = [dict(p) for p in old or [] if isinstance(p, Mapping)]
    for provider in new:
        name = provider.get("name") if isinstance(provider, Mapping) else None
        for i, existing in enumerate(providers):
            if existing.get("name") == name:
                providers[i] = dict(provider)
                break
        else:
            providers.append(provider)
    return providers


def _mapping(value: JSON) -> Mapping[str, JSON]:
    return value if isinstance(value, Mapping) else {}


def fields_of(message: str) -> Mapping[str, FieldSpec]:
    """The schema of `message` by jsonpb name (also accepting proto snake_case names)."""
    return _FIELD_INDEX[message]


def normalize(message: str, data: Mapping[str, JSON], *, path: str) -> dict[str, JSON]:
    """Check `data` against the schema and bring it to canonical jsonpb form.

    Unknown fields are kept as they are (Istio 1.0 configs carry fields that newer
    releases dropped); known fields must have the right type, or FieldError names them.
    """
    if not isinstance(data, Mapping):
        raise FieldError(path or ".", f"must be a mapping, not {describe(data)}")
    specs = _FIELD_INDEX[message]
    out: dict[str, JSON] = {}
    for key, value in data.items():
        key_path = f"{path}.{key}" if path else str(key)
        spec = specs.get(str(key))
        if spec is None:
            out[str(key)] = value
            continue
        if value is None:
            continue
        out[spec.json] = _normalize_value(spec.kind, value, key_path)
    return out


def _normalize_value(kind: str, value: JSON, path: str) -> JSON:
    if kind in ("string", "bool", "int32", "uint32", "int64", "double"):
        return _scalar(kind, value, path)
    if kind in ("BoolValue", "Int32Value", "UInt32Value", "DoubleValue"):
        if isinstance(value, Mapping) and "value" in value:
            value = value["value"]
        return _scalar(_WRAPPED[kind], value, path)
    if kind == "duration":
        return format_duration_json(parse_duration(value, path))
    if kind.startswith("enum:"):
        return _enum(kind[5:], value, path)
    if kind.startswith("msg:"):
        return normalize(kind[4:], value, path=path)
    if kind == "map_string":
        if not isinstance(value, Mapping):
            raise FieldError(path, f"must be a mapping of strings, not {describe(value)}")
        return {str(k): _scalar("string", v, f"{path}.{k}") for k, v in value.items()}
    if kind == "list_string":
        if not isinstance(value, list):
            raise FieldError(path, f"must be a list of strings, not {describe(value)}")
        return [_scalar("string", v, f"{path}[{i}]") for i, v in enumerate(value)]
    return value


_WRAPPED: Final = {
    "BoolValue": "bool",
    "Int32Value": "int32",
    "UInt32Value": "uint32",
    "DoubleValue": "double",
}


def _scalar(kind: str, value: JSON, path: str) -> JSON:
    if kind == "string":
        if isinstance(value, str):
            return value
        raise FieldError(path, f"must be a string, not {describe(value)}")
    if kind == "bool":
        if isinstance(value, bool):
            return value
        raise FieldError(path, f"must be true or false, not {describe(value)}")
    if kind == "double":
        if isinstance(value, int | float) and not isinstance(value, bool):
            return float(value)
        raise FieldError(path, f"must be a number, not {describe(value)}")
    number = value
    if isinstance(value, str) and re.fullmatch(r"-?\d+", value.strip()):
        number = int(value)
    if isinstance(number, float) and number.is_integer():
        number = int(number)
    if not isinstance(number, int) or isinstance(number, bool):
        raise FieldError(path, f"must be an integer ({kind}), not {describe(value)}")
    low, high = INT_RANGES[kind]
    if not low <= number <= high:
        raise FieldError(path, f"{number} is out of range for {kind}")
    return number


def _enum(enum: str, value: JSON, path: str) -> str:
    names = ENUMS[enum]
    numbers = ENUM_NUMBERS.get(enum, {n: i for i, n in enumerate(names)})
    if isinstance(value, str) and value in numbers:
        return value
    if isinstance(value, int) and not isinstance(value, bool):
        for name, number in numbers.items():
            if number == value:
                return name
    raise FieldError(path, f"{excerpt(repr(value))} is not one of {', '.join(numbers)}")


def clean_json(message: str, data: Mapping[str, JSON]) -> dict[str, JSON]:
    """jsonpb's output for `data`: schema order, proto3 zero values and unset fields left out.

    Fields we do not model keep their place after the modelled ones (Go would have dropped
    unknown fields on decode; we never produce them from Istio's own inputs).
    """
    specs = _FIELD_INDEX[message]
    out: dict[str, JSON] = {}
    for spec in MESSAGES[message]:
        if spec.json not in data:
            continue
        value = _clean_value(spec.kind, data[spec.json])
        if value is not _OMIT:
            out[spec.json] = value
    for key, value in data.items():
        if key not in specs and value is not None:
            out[key] = value
    return out


_OMIT: Final = object()


def _clean_value(kind: str, value: JSON) -> JSON:
    if value is None:
        return _OMIT
    if kind in SCALAR_ZERO:
        return _OMIT if value == SCALAR_ZERO[kind] and not isinstance(value, list) else value
    if kind.startswith("enum:"):
        numbers = ENUM_NUMBERS.get(kind[5:], {n: i for i, n in enumerate(ENUMS[kind[5:]])})
        return _OMIT if numbers.get(value) == 0 else value
    if kind.startswith("msg:") and isinstance(value, Mapping):
        return clean_json(kind[4:], value)
    if kind in ("map_string", "list_string") and not value:
        return _OMIT
    if kind == "map_string" and isinstance(value, Mapping):
        return dict(sorted(value.items()))
    return value


def clean_proxy_config(pc: ProxyConfig) -> dict[str, JSON]:
    """Istio's cleanProxyConfig followed by jsonpb: what `protoToJSON` prints for a ProxyConfig."""
    data = dict(pc.data)
    for key in CLEANED_FIELDS:
        if key in data and data[key] == DEFAULT_PROXY_CONFIG.get(key, _OMIT):
            del data[key]
    return clean_json("ProxyConfig", data)


def iter_known(message: str) -> Iterator[FieldSpec]:
    """The modelled fields of `message`, in declaration order."""
    return iter(MESSAGES[message])


def _index() -> dict[str, dict[str, FieldSpec]]:
    index: dict[str, dict[str, FieldSpec]] = {}
    for message, specs in MESSAGES.items():
        by_name: dict[str, FieldSpec] = {}
        for spec in specs:
            by_name[spec.json] = spec
            by_name[re.sub(r"([A-Z])", lambda m: "_" + m.group(1).lower(), spec.json)] = spec
        index[message] = by_name
    return index


_FIELD_INDEX: Final = _index()
