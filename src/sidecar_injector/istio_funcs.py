"""Istio's template functions (`InjectionFuncmap`), registered over sprig so that they win.

Each keeps the quirks templates written for Istio rely on: `indent` leaves the first line alone,
`fromJSON` answers the string `"{}"` on bad input, `annotation` prints an enum default by name,
`structToJSON` follows Go struct order and omitempty, `protoToJSON` drops what equals Istio's
defaults. `LEGACY_FUNCS` adds the 1.0-era `toJson` (removed in Istio 1.19, where sprig's applies).
"""

from __future__ import annotations

import json
import logging
import os
from collections.abc import Callable, Mapping, Sequence
from typing import Any, Final, Protocol, runtime_checkable

import yaml

from sidecar_injector import errors, gojson, podview
from sidecar_injector.gotemplate.printing import format_value
from sidecar_injector.gotemplate.values import ANY, NO_VALUE, Func, Map, Struct, is_nil
from sidecar_injector.meshconfig import ProxyConfig, clean_json, clean_proxy_config

logger = logging.getLogger(__name__)

JSON = Any
STRING_MAP: Final = "map[string]string"
OBJECT_META: Final = "v1.ObjectMeta"
CONTAINERS: Final = "[]v1.Container"


@runtime_checkable
class ProtoMessage(Protocol):
    """What `protoToJSON` needs of a protobuf view (templatedata.ProtoView has it)."""

    proto_name: str
    proto_data: Mapping[str, JSON] | None


def _sprint(value: object) -> str:
    """`fmt.Sprint(v)` of one operand."""
    if value is None or value is NO_VALUE:
        return "<nil>"
    return format_value(value)


def go_json(value: JSON) -> str:
    """`encoding/json.Marshal`: compact, map keys sorted, HTML characters escaped."""
    return gojson.marshal(_jsonable(value))


def _jsonable(value: JSON) -> JSON:
    if isinstance(value, podview.K8sStruct | podview.IntOrString | podview.Quantity):
        return podview.struct_json(value)
    if isinstance(value, Map) and value.is_nil:
        return None
    if is_nil(value):
        return None
    if isinstance(value, Mapping):
        return {str(k): _jsonable(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_jsonable(v) for v in value]
    if isinstance(value, bool) or value is None or isinstance(value, str):
        return value
    if isinstance(value, int):
        return int(value)
    if isinstance(value, float):
        return value
    if isinstance(value, Struct):
        return {name: _jsonable(value.go_field(name)) for name in value.go_fields}
    raise ValueError(f"json: unsupported type: {type(value).__name__}")


def format_duration(value: object) -> str:
    """`formatDuration`: Go's duration text of a `*durationpb.Duration`; nil gives `0s`."""
    as_duration = value.go_method("AsDuration") if isinstance(value, Struct) else None
    if as_duration is None:
        return "0s"
    duration = as_duration()
    return str(duration.String()) if hasattr(duration, "String") else str(duration)


def isset(m: Mapping[str, str], key: str) -> bool:
    return key in m


def exclude_inbound_port(port: object, excluded: str) -> str:
    """Add `port` to the comma-separated `excluded` unless it is empty, 0, or already there."""
    p = _sprint(port).strip()
    if p in ("", "0"):
        return excluded
    parts = excluded.split(",")
    if p in parts:
        return excluded
    return ",".join([*(s.strip() for s in parts if s.strip()), p])


def _ports(containers: Sequence[object], *, skip_proxy: bool) -> str:
    parts: list[str] = []
    for container in containers or ():
        if not isinstance(container, Struct):
            continue
        if skip_proxy and container.go_field("Name") == "istio-proxy":
            continue
        ports = container.go_field("Ports")
        for port in ports if isinstance(ports, list) else ():
            if isinstance(port, Struct) and port.go_field("Protocol") not in ("UDP", "SCTP"):
                parts.append(_sprint(port.go_field("ContainerPort")))
    return ",".join(parts)


def include_inbound_ports(containers: Sequence[object]) -> str:
    return _ports(containers, skip_proxy=False)


def application_ports(containers: Sequence[object]) -> str:
    return _ports(containers, skip_proxy=True)


def annotation(meta: object, name: str, default: object) -> str:
    """The annotation when present (even empty), else `fmt.Sprint(default)`."""
    annotations = meta.go_field("Annotations") if isinstance(meta, Struct) else None
    if isinstance(annotations, Mapping) and name in annotations:
        return str(annotations[name])
    return _sprint(default)


def value_or_default(value: object, default: object) -> object:
    """`default` when `value` is `""` or nil; `0` and `false` stay."""
    if value == "" or value is None or value is NO_VALUE or is_nil(value):
        return default
    return value


def to_json(m: Mapping[str, str]) -> str:
    """Istio's `toJSON` (and 1.0's `toJson`): nil gives `{}`."""
    if is_nil(m):
        return "{}"
    try:
        return go_json(dict(m))
    except ValueError:
        return "{}"


def from_json(text: str) -> object:
    """`json.Unmarshal` into `any`; on error Istio logs and returns the string `"{}"`."""
    try:
        return _go_numbers(json.loads(text))
    except (ValueError, RecursionError) as err:
        logger.warning("fromJSON: unable to unmarshal %r: %s", errors.excerpt(text), err)
        return "{}"


def _go_numbers(value: JSON) -> JSON:
    if isinstance(value, bool) or value is None or isinstance(value, str):
        return value
    if isinstance(value, int | float):
        return float(value)
    if isinstance(value, dict):
        return {k: _go_numbers(v) for k, v in value.items()}
    return [_go_numbers(v) for v in value]


def struct_to_json(value: object) -> str:
    """`json.Marshal` of a Go value in struct field order; nil and errors give `{}`."""
    if value is None or value is NO_VALUE or is_nil(value):
        return "{}"
    try:
        if isinstance(value, podview.K8sStruct):
            data = podview.struct_json(value)
            return gojson.marshal(data, sort_keys=False)
        return go_json(value)
    except ValueError:
        return "{}"


def proto_to_json(message: object) -> str:
    """jsonpb of a message, after Istio's cleanProxyConfig for a ProxyConfig; nil gives `{}`."""
    if not isinstance(message, ProtoMessage) or message.proto_data is None:
        return "{}"
    if message.proto_name == "ProxyConfig":
        data = clean_proxy_config(ProxyConfig(message.proto_data))
    else:
        data = clean_json(message.proto_name, message.proto_data)
    return json.dumps(data, separators=(",", ":"), ensure_ascii=False)


def to_yaml(value: object) -> str:
    """sigs.k8s.io/yaml.Marshal: through JSON, keys sorted, trailing newline; error gives `""`."""
    try:
        data = json.loads(go_json(value))
    except ValueError:
        return ""
    text = yaml.dump(_yaml_numbers(data), Dumper=_Dumper, default_flow_style=False, sort_keys=True)
    return text.removesuffix("...\n")


def _yaml_numbers(value: JSON) -> JSON:
    """JSONToYAML re-reads the JSON as YAML, so integral numbers become ints."""
    if isinstance(value, float) and value.is_integer() and abs(value) < 1e21:
        return int(value)
    if isinstance(value, dict):
        return {k: _yaml_numbers(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_yaml_numbers(v) for v in value]
    return value


class _Dumper(yaml.SafeDumper):
    """Block style with unindented sequences, as yaml.v2 writes them."""


def indent(spaces: int, text: str) -> str:
    """Istio's `indent`: every line but the first gets `spaces` spaces (Go pads `% Ns`)."""
    pad = " " * abs(spaces)
    lines = text.split("\n")
    return "\n".join([lines[0], *(pad + line for line in lines[1:])])


def directory(path: str) -> str:
    """`path.Split`'s directory part, trailing slash kept."""
    return path[: path.rfind("/") + 1] if "/" in path else ""


def contains(needle: str, haystack: str) -> bool:
    return needle in haystack


def to_lower(text: str) -> str:
    return text.lower()


def append_multus_network(existing: str, network: str) -> str:
    """Add Istio's CNI network to a `k8s.v1.cni.cncf.io/networks` value (JSON list or CSV)."""
    if existing == "":
        return network
    namespace, _, name = network.rpartition("/")
    i = existing.rfind("]")
    if i != -1:
        try:
            entries = json.loads(existing)
        except (ValueError, RecursionError):
            return existing
        if not isinstance(entries, list):
            return existing
        for entry in entries:
            if (
                isinstance(entry, dict)
                and entry.get("name") == name
                and (entry.get("namespace") or "") == namespace
            ):
                return existing
        added = f', {{"name": "{name}"}}'
        if namespace:
            added = f', {{"name": "{name}", "namespace": "{namespace}"}}'
        return existing[:i] + added + existing[i:]
    if any(part.strip() == network for part in existing.split(",")):
        return existing
    return existing + ", " + network


def env(key: str, default: str) -> str:
    """The injector process's environment, as istiod's `env` reads its own."""
    return os.environ.get(key) or default


def omit(m: Mapping[str, str], *keys: str) -> Map:
    return Map({k: v for k, v in m.items() if k not in keys}, STRING_MAP, zero="")


def strdict(*pairs: str) -> Map:
    out = Map(None, STRING_MAP, zero="")
    for i in range(0, len(pairs), 2):
        out[pairs[i]] = pairs[i + 1] if i + 1 < len(pairs) else ""
    return out


def merge_maps(*maps: Mapping[str, str]) -> Map:
    if not maps:
        return Map.nil_map(STRING_MAP, zero="")
    out = Map(None, STRING_MAP, zero="")
    for m in maps:
        out.update(m)
    return out


def to_json_map(*maps: Mapping[str, str]) -> str:
    try:
        return go_json(dict(merge_maps(*maps)))
    except ValueError:
        return ""


def omit_nil(value: object) -> object:
    """Drop nils from maps and lists, recursively; a container emptied by that becomes nil."""
    if isinstance(value, Mapping) and not isinstance(value, Map):
        kept = {k: omit_nil(v) for k, v in value.items()}
        out = {k: v for k, v in kept.items() if v is not None}
        return None if value and not out else out
    if isinstance(value, list):
        items = [v for v in (omit_nil(v) for v in value) if v is not None]
        return None if value and not items else items
    return value


_OTEL_ANNOTATION: Final = "resource.opentelemetry.io/"


def otel_resource_attributes(
    mesh: object,
    annotations: Mapping[str, str],
    labels: Mapping[str, str],
    namespace: str,
    containers: Sequence[object],
) -> str:
    """OTEL_RESOURCE_ATTRIBUTES when a provider asks for OpenTelemetry semantic conventions."""
    data = getattr(mesh, "proto_data", None) or {}
    providers = data.get("extensionProviders") or []
    if "OTEL_SEMANTIC_CONVENTIONS" not in json.dumps(providers):
        return ""
    names = [c.go_field("Name") for c in containers or () if isinstance(c, Struct)]
    images = [c.go_field("Image") for c in containers or () if isinstance(c, Struct)]
    version = annotations.get(_OTEL_ANNOTATION + "service.version") or labels.get(
        "app.kubernetes.io/version"
    )
    if not version and len(images) == 1:
        image = str(images[0])
        version = image.rpartition("@")[2] if "@" in image else image.rpartition(":")[2]
        version = "" if "/" in version else version
    instance = annotations.get(_OTEL_ANNOTATION + "service.instance.id") or (
        f"{namespace}.$(POD_NAME).{names[0]}" if names else ""
    )
    parts = [
        f"service.namespace={annotations.get(_OTEL_ANNOTATION + 'service.namespace') or namespace}"
    ]
    if version:
        parts.append(f"service.version={version}")
    if instance:
        parts.append(f"service.instance.id={instance}")
    return ",".join(parts)


def _f(
    name: str,
    fn: Callable[..., object],
    *params: str,
    variadic: str | None = None,
    result: str = "string",
) -> tuple[str, Func]:
    return name, Func(name, fn, params, variadic, result)


FUNCS: dict[str, Func] = dict(
    [
        _f("formatDuration", format_duration, ANY),
        _f("isset", isset, STRING_MAP, "string", result="bool"),
        _f("excludeInboundPort", exclude_inbound_port, ANY, "string"),
        _f("includeInboundPorts", include_inbound_ports, CONTAINERS),
        _f("applicationPorts", application_ports, CONTAINERS),
        _f("kubevirtInterfaces", str, "string"),
        _f("excludeInterfaces", str, "string"),
        _f("annotation", annotation, OBJECT_META, "string", ANY),
        _f("valueOrDefault", value_or_default, ANY, ANY, result=ANY),
        _f("toJSON", to_json, STRING_MAP),
        _f("fromJSON", from_json, "string", result=ANY),
        _f("structToJSON", struct_to_json, ANY),
        _f("protoToJSON", proto_to_json, ANY),
        _f("toYaml", to_yaml, ANY),
        _f("indent", indent, "int", "string"),
        _f("directory", directory, "string"),
        _f("contains", contains, "string", "string", result="bool"),
        _f("toLower", to_lower, "string"),
        _f("appendMultusNetwork", append_multus_network, "string", "string"),
        _f("env", env, "string", "string"),
        _f("omit", omit, STRING_MAP, variadic="string", result=STRING_MAP),
        _f("strdict", strdict, variadic="string", result=STRING_MAP),
        _f("toJsonMap", to_json_map, variadic=STRING_MAP),
        _f("mergeMaps", merge_maps, variadic=STRING_MAP, result=STRING_MAP),
        _f("omitNil", omit_nil, ANY, result=ANY),
        _f(
            "otelResourceAttributes",
            otel_resource_attributes,
            "*v1alpha1.MeshConfig",
            STRING_MAP,
            STRING_MAP,
            "string",
            CONTAINERS,
        ),
    ]
)
"""Istio HEAD's InjectionFuncmap."""

LEGACY_FUNCS: dict[str, Func] = {
    **FUNCS,
    "toJson": Func("toJson", to_json, (STRING_MAP,), None, "string"),
}
"""For 1.0-format configs: adds `toJson(map[string]string)`."""
