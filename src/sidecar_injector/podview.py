"""A Pod as Go's `k8s.io/api/core/v1` structs see it, for templates.

Templates written for Istio read `.Spec.Containers`, `$c.Ports`, `.ContainerPort`,
`.ObjectMeta.Annotations`: Go field names, and Go zero values for what the pod leaves out (an
unset string is `""`, an unset pointer is nil and false in `if`, an unset struct value is an
empty struct and true). The views here wrap the pod's JSON and convert a field only when a
template reads it, so building template data costs nothing per request beyond what is used.

Each Kubernetes type is described once (`TYPES`): its fields in Go struct order, with the JSON
name, the Go name and a kind. The order and the `omitempty` flag also give `structToJSON` its
output. Types we do not describe are still readable: their fields get Go-style names from the
JSON names.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any, ClassVar, Final

from sidecar_injector import quantity
from sidecar_injector.gotemplate.values import NO_VALUE, Int, Map, Nil, Slice, Struct

JSON = Any


@dataclass(frozen=True, slots=True)
class Field:
    """A struct field: JSON name, Go name, kind, and whether `json.Marshal` omits it when empty.

    Kinds: `string`, `bool`, `int32`, `int64`, `*T` for pointers to scalars (`*int64`,
    `*bool`, `*string`, `*int32`), `struct:T` (a value), `ptr:T` (a pointer), `[]T` for slices
    of struct values, `[]string`, `[]int64`, `map:K` (a map of strings with Go type K),
    `quantities` (v1.ResourceList), `intorstr`, `quantity`, `time` (metav1.Time).
    """

    json: str
    go: str
    kind: str
    omitempty: bool = True


def _f(spec: str) -> Field:
    """`json:Go:kind`, with a trailing `!` on kind meaning the field is not omitempty."""
    json_name, go_name, kind = spec.split(":", 2)
    return Field(
        json_name,
        go_name or json_name[:1].upper() + json_name[1:],
        kind.rstrip("!"),
        not kind.endswith("!"),
    )


def _t(*specs: str) -> tuple[Field, ...]:
    return tuple(_f(s) for s in specs)


_HANDLER = (
    "exec:Exec:ptr:ExecAction",
    "httpGet:HTTPGet:ptr:HTTPGetAction",
    "tcpSocket:TCPSocket:ptr:TCPSocketAction",
)

TYPES: Final[dict[str, tuple[Field, ...]]] = {
    "ObjectMeta": _t(
        "name::string",
        "generateName::string",
        "namespace::string",
        "selfLink::string",
        "uid:UID:string",
        "resourceVersion::string",
        "generation::int64",
        "creationTimestamp::time!",
        "deletionTimestamp::ptr:Time",
        "deletionGracePeriodSeconds::*int64",
        "labels::map:map[string]string",
        "annotations::map:map[string]string",
        "ownerReferences::[]OwnerReference",
        "finalizers::[]string",
        "managedFields::[]ManagedFieldsEntry",
    ),
    "TypeMeta": _t("kind::string", "apiVersion:APIVersion:string"),
    "OwnerReference": _t(
        "apiVersion:APIVersion:string!",
        "kind::string!",
        "name::string!",
        "uid:UID:string!",
        "controller::*bool",
        "blockOwnerDeletion::*bool",
    ),
    "PodSpec": _t(
        "volumes::[]Volume",
        "initContainers::[]Container",
        "containers::[]Container!",
        "ephemeralContainers::[]EphemeralContainer",
        "restartPolicy::string",
        "terminationGracePeriodSeconds::*int64",
        "activeDeadlineSeconds::*int64",
        "dnsPolicy:DNSPolicy:string",
        "nodeSelector::map:map[string]string",
        "serviceAccountName::string",
        "serviceAccount:DeprecatedServiceAccount:string",
        "automountServiceAccountToken::*bool",
        "nodeName::string",
        "hostNetwork::bool",
        "hostPID:HostPID:bool",
        "hostIPC:HostIPC:bool",
        "shareProcessNamespace::*bool",
        "securityContext::ptr:PodSecurityContext",
        "imagePullSecrets::[]LocalObjectReference",
        "hostname::string",
        "subdomain::string",
        "affinity::ptr:Affinity",
        "schedulerName::string",
        "tolerations::[]Toleration",
        "hostAliases::[]HostAlias",
        "priorityClassName::string",
        "priority::*int32",
        "dnsConfig:DNSConfig:ptr:PodDNSConfig",
        "readinessGates::[]PodReadinessGate",
        "runtimeClassName::*string",
        "enableServiceLinks::*bool",
        "preemptionPolicy::*string",
        "overhead::quantities",
        "topologySpreadConstraints::[]TopologySpreadConstraint",
        "setHostnameAsFQDN:SetHostnameAsFQDN:*bool",
        "os:OS:ptr:PodOS",
        "hostUsers::*bool",
    ),
    "Container": _t(
        "name::string!",
        "image::string",
        "command::[]string",
        "args::[]string",
        "workingDir::string",
        "ports::[]ContainerPort",
        "envFrom::[]EnvFromSource",
        "env::[]EnvVar",
        "resources::struct:ResourceRequirements",
        "resizePolicy::[]ContainerResizePolicy",
        "restartPolicy::*string",
        "volumeMounts::[]VolumeMount",
        "volumeDevices::[]VolumeDevice",
        "livenessProbe::ptr:Probe",
        "readinessProbe::ptr:Probe",
        "startupProbe::ptr:Probe",
        "lifecycle::ptr:Lifecycle",
        "terminationMessagePath::string",
        "terminationMessagePolicy::string",
        "imagePullPolicy::string",
        "securityContext::ptr:SecurityContext",
        "stdin::bool",
        "stdinOnce::bool",
        "tty:TTY:bool",
    ),
    "ContainerPort": _t(
        "name::string",
        "hostPort::int32",
        "containerPort::int32!",
        "protocol::string",
        "hostIP:HostIP:string",
    ),
    "EnvVar": _t("name::string!", "value::string", "valueFrom::ptr:EnvVarSource"),
    "VolumeMount": _t(
        "name::string!",
        "readOnly::bool",
        "recursiveReadOnly::*string",
        "mountPath::string!",
        "subPath::string",
        "mountPropagation::*string",
        "subPathExpr::string",
    ),
    "ResourceRequirements": _t(
        "limits::quantities", "requests::quantities", "claims::[]ResourceClaim"
    ),
    "Probe": _t(
        *_HANDLER,
        "grpc:GRPC:ptr:GRPCAction",
        "initialDelaySeconds::int32",
        "timeoutSeconds::int32",
        "periodSeconds::int32",
        "successThreshold::int32",
        "failureThreshold::int32",
        "terminationGracePeriodSeconds::*int64",
    ),
    "Lifecycle": _t(
        "postStart::ptr:LifecycleHandler",
        "preStop::ptr:LifecycleHandler",
        "stopSignal::*string",
    ),
    "LifecycleHandler": _t(*_HANDLER, "sleep::ptr:SleepAction"),
    "ExecAction": _t("command::[]string"),
    "HTTPGetAction": _t(
        "path::string",
        "port::intorstr!",
        "host::string",
        "scheme::string",
        "httpHeaders:HTTPHeaders:[]HTTPHeader",
    ),
    "TCPSocketAction": _t("port::intorstr!", "host::string"),
    "GRPCAction": _t("port::int32!", "service::*string"),
    "SecurityContext": _t(
        "capabilities::ptr:Capabilities",
        "privileged::*bool",
        "seLinuxOptions:SELinuxOptions:ptr:SELinuxOptions",
        "windowsOptions::ptr:WindowsSecurityContextOptions",
        "runAsUser::*int64",
        "runAsGroup::*int64",
        "runAsNonRoot::*bool",
        "readOnlyRootFilesystem::*bool",
        "allowPrivilegeEscalation::*bool",
        "procMount::*string",
        "seccompProfile::ptr:SeccompProfile",
        "appArmorProfile::ptr:AppArmorProfile",
    ),
    "PodSecurityContext": _t(
        "seLinuxOptions:SELinuxOptions:ptr:SELinuxOptions",
        "windowsOptions::ptr:WindowsSecurityContextOptions",
        "runAsUser::*int64",
        "runAsGroup::*int64",
        "runAsNonRoot::*bool",
        "supplementalGroups::[]int64",
        "supplementalGroupsPolicy::*string",
        "fsGroup:FSGroup:*int64",
        "sysctls::[]Sysctl",
        "fsGroupChangePolicy:FSGroupChangePolicy:*string",
        "seccompProfile::ptr:SeccompProfile",
        "appArmorProfile::ptr:AppArmorProfile",
    ),
    "Capabilities": _t("add::[]string", "drop::[]string"),
    "LocalObjectReference": _t("name::string"),
    "Volume": _t(
        "name::string!",
        "hostPath::ptr:HostPathVolumeSource",
        "emptyDir::ptr:EmptyDirVolumeSource",
        "secret::ptr:SecretVolumeSource",
        "persistentVolumeClaim::ptr:PersistentVolumeClaimVolumeSource",
        "downwardAPI:DownwardAPI:ptr:DownwardAPIVolumeSource",
        "configMap::ptr:ConfigMapVolumeSource",
        "projected::ptr:ProjectedVolumeSource",
        "csi:CSI:ptr:CSIVolumeSource",
    ),
}
"""Kubernetes core/v1 types as far as templates read them (Go struct order)."""
TYPES["EphemeralContainer"] = (*TYPES["Container"], _f("targetContainerName::string"))

_GO_TYPES: Final = {"Time": "v1.Time", "TypeMeta": "v1.TypeMeta"}


def go_type(name: str) -> str:
    return _GO_TYPES.get(name, f"v1.{name}")


_JSON_VALUE: Final = ""
"""Where a view keeps its `json_value` among its converted fields (no Go field is unnamed)."""


class K8sStruct(Struct):
    """A Kubernetes struct over its JSON; `pointer` says whether Go holds it by pointer."""

    go_fields: ClassVar[tuple[str, ...]] = ()
    kind_name: ClassVar[str] = ""
    by_go: ClassVar[Mapping[str, Field]] = {}

    def __init__(self, data: Mapping[str, JSON], *, pointer: bool = False) -> None:
        self.data = data
        self.pointer = pointer
        self._cache: dict[str, object] = {}

    def go_field(self, name: str) -> object:
        value = self._cache.get(name, NO_VALUE)
        if value is not NO_VALUE:
            return value
        spec = self.by_go.get(name) or self._generic_field(name)
        if spec is None:
            raise KeyError(name)
        value = convert(spec.kind, self.data.get(spec.json))
        self._cache[name] = value
        return value

    def go_method(self, name: str) -> Callable[..., object] | None:
        """None: Kubernetes types have no methods a template calls (a view class has none)."""
        return None

    def json_value(self) -> JSON:
        """What `encoding/json` writes for the struct (`toJson`): its JSON names and omitempty
        in Go's order, as `struct_json` gives them; kept with the converted fields (a view of
        a remembered spec serves the next pods too), so callers only read it."""
        known = self._cache.get(_JSON_VALUE, NO_VALUE)
        if known is NO_VALUE:
            known = self._cache[_JSON_VALUE] = struct_json(self)
        return known

    def _generic_field(self, name: str) -> Field | None:
        """A field of a type we do not describe, found by its JSON name."""
        if self.kind_name in TYPES:
            return None
        for key in self.data:
            if go_name(key) == name:
                return Field(key, name, "any")
        return None

    def __getattr__(self, name: str) -> object:
        if name.startswith("_") or name in ("data", "pointer"):
            raise AttributeError(name)
        try:
            return self.go_field(name)
        except KeyError:
            raise AttributeError(name) from None

    def __repr__(self) -> str:
        return f"{type(self).__name__}({dict(self.data)!r})"


_CLASSES: dict[str, type[K8sStruct]] = {}


def view_class(name: str) -> type[K8sStruct]:
    """The view class of Kubernetes type `name` (built once per type)."""
    cls = _CLASSES.get(name)
    if cls is None:
        fields = TYPES.get(name, ())
        cls = type(
            name,
            (K8sStruct,),
            {
                "go_type": go_type(name),
                "go_fields": tuple(f.go for f in fields),
                "kind_name": name,
                "by_go": {f.go: f for f in fields},
            },
        )
        _CLASSES[name] = cls
    return cls


def view(
    name: str,
    data: Mapping[str, JSON] | None,
    *,
    pointer: bool = False,
    fields: dict[str, object] | None = None,
) -> object:
    """A view of `data` as Go type `name` (or a typed nil pointer when `data` is absent).

    `fields` keeps the fields converted, shared by the views of data that is the same in
    content and never changes (`inject.RecentSpecs`); by default each view has its own."""
    if data is None or not isinstance(data, Mapping):
        if pointer:
            return Nil("*" + go_type(name))
        data = {}
    cls = view_class(name)
    obj = cls(data, pointer=pointer)
    if fields is not None:
        obj._cache = fields
    if pointer:
        obj.__dict__["go_type"] = "*" + go_type(name)
    if name not in TYPES:
        obj.__dict__["go_fields"] = tuple(go_name(k) for k in data)
    return obj


_INITIALISMS: Final = frozenset(
    {"api", "csi", "dns", "fs", "grpc", "http", "id", "ip", "os", "tcp", "tls", "uid", "url"}
)


def go_name(json_name: str) -> str:
    """The Go field name k8s uses for a JSON name (`apiVersion` -> `APIVersion`, `os` -> `OS`)."""
    match = re.match(r"[a-z]+", json_name)
    if match and match.group() in _INITIALISMS:
        return match.group().upper() + json_name[match.end() :]
    return json_name[:1].upper() + json_name[1:]


def generic(raw: JSON) -> object:
    """A JSON value of a type we do not describe, as Go would hold it (roughly)."""
    if isinstance(raw, Mapping):
        return view("Object", raw, pointer=True)
    if isinstance(raw, list):
        return Slice([generic(v) for v in raw], "[]interface {}")
    if isinstance(raw, int) and not isinstance(raw, bool):
        return Int(raw, "int64")
    return raw


_INT_TYPES: Final = {"int32", "int64"}


def convert(kind: str, raw: JSON) -> object:
    """One field's Go value from its JSON (absent or null gives Go's zero value)."""
    if kind == "string":
        return raw if isinstance(raw, str) else ""
    if kind == "bool":
        return raw is True
    if kind in _INT_TYPES:
        return Int(_int(raw), kind)
    if kind.startswith("*"):
        return _pointer_scalar(kind[1:], raw)
    if kind.startswith("struct:"):
        return view(kind[7:], raw if isinstance(raw, Mapping) else {})
    if kind.startswith("ptr:"):
        return view(kind[4:], raw if isinstance(raw, Mapping) else None, pointer=True)
    if kind == "[]string":
        return _slice(raw, "[]string", lambda v: v if isinstance(v, str) else str(v))
    if kind == "[]int64":
        return _slice(raw, "[]int64", lambda v: Int(_int(v), "int64"))
    if kind.startswith("[]"):
        element = kind[2:]
        return _slice(raw, "[]" + go_type(element), lambda v: view(element, v))
    if kind.startswith("map:"):
        if not isinstance(raw, Mapping):
            return Map.nil_map(kind[4:], zero="")
        return Map({str(k): "" if v is None else str(v) for k, v in raw.items()}, kind[4:], zero="")
    if kind == "quantities":
        if not isinstance(raw, Mapping):
            return Map.nil_map("v1.ResourceList", zero=Quantity(""))
        return Map(
            {str(k): Quantity(v) for k, v in raw.items()}, "v1.ResourceList", zero=Quantity("")
        )
    if kind == "intorstr":
        return IntOrString(raw)
    if kind == "time":
        return Time(raw if isinstance(raw, str) else None)
    return generic(raw)


def _int(raw: JSON) -> int:
    if isinstance(raw, bool) or raw is None:
        return 0
    if isinstance(raw, int):
        return raw
    if isinstance(raw, float) and raw.is_integer():
        return int(raw)
    return 0


def _pointer_scalar(kind: str, raw: JSON) -> object:
    if raw is None:
        return Nil("*" + kind)
    if kind in _INT_TYPES:
        return Int(_int(raw), kind)
    if kind == "bool":
        return raw is True
    return raw if isinstance(raw, str) else str(raw)


def _slice(raw: JSON, go: str, item: Any) -> object:
    if not isinstance(raw, list):
        return Nil(go)
    return Slice([item(v) for v in raw], go)


class IntOrString(Struct):
    """`intstr.IntOrString`: prints through its String method (`8080` or `http`)."""

    go_type = "intstr.IntOrString"
    go_fields = ("Type", "IntVal", "StrVal")

    def __init__(self, raw: JSON) -> None:
        self.raw = raw
        is_int = isinstance(raw, int) and not isinstance(raw, bool)
        self.Type = Int(0 if is_int else 1, "intstr.Type")
        self.IntVal = Int(raw if is_int else 0, "int32")
        self.StrVal = "" if is_int or raw is None else str(raw)

    def String(self) -> str:
        return self.StrVal if int(self.Type) == 1 else str(int(self.IntVal))

    def __str__(self) -> str:
        return self.String()

    def json_value(self) -> JSON:
        """Its MarshalJSON: the number or the string."""
        return struct_json(self)


class Quantity(Struct):
    """`resource.Quantity`: prints its canonical form through String (`2000m` is `2`)."""

    go_type = "resource.Quantity"

    def __init__(self, raw: JSON) -> None:
        self.raw = "" if raw is None else raw

    def String(self) -> str:
        if self.raw == "":
            return "0"
        try:
            return quantity.canonical(self.raw)
        except quantity.QuantityError:
            return str(self.raw)

    def __str__(self) -> str:
        return self.String()

    def json_value(self) -> JSON:
        """Its MarshalJSON: the canonical form as a string."""
        return struct_json(self)


class Time(Struct):
    """`metav1.Time`: a struct value; prints as Go prints a zero time when unset."""

    go_type = "v1.Time"

    def __init__(self, raw: str | None) -> None:
        self.raw = raw

    def IsZero(self) -> bool:
        return self.raw is None

    def String(self) -> str:
        return self.raw or "0001-01-01 00:00:00 +0000 UTC"

    def json_value(self) -> JSON:
        """Its MarshalJSON: the RFC 3339 text, or null for the zero time."""
        return struct_json(self)


def struct_json(value: object) -> JSON:
    """`encoding/json` of a view: Go struct order, k8s omitempty, as `structToJSON` needs."""
    if isinstance(value, K8sStruct):
        return _struct_json(value)
    if isinstance(value, IntOrString):
        return value.raw if value.raw is not None else 0
    if isinstance(value, Quantity):
        return value.String()
    if isinstance(value, Time):
        return value.raw
    if isinstance(value, Nil):
        return None
    if isinstance(value, Map):
        return None if value.is_nil else {k: struct_json(v) for k, v in sorted(value.items())}
    if isinstance(value, list):
        return [struct_json(v) for v in value]
    if isinstance(value, Int):
        return int(value)
    return value


def _struct_json(view_: K8sStruct) -> dict[str, JSON]:
    fields = TYPES.get(view_.kind_name)
    if fields is None:
        return dict(view_.data)
    out: dict[str, JSON] = {}
    for spec in fields:
        value = struct_json(view_.go_field(spec.go))
        if spec.omitempty and _empty(value, spec.kind):
            continue
        out[spec.json] = value
    return out


def _empty(value: JSON, kind: str) -> bool:
    if kind.startswith("struct:") or kind == "time":
        return False
    return value is None or value == "" or value == 0 or value is False or value in ([], {})
