"""The data a sidecar template executes on: Istio's `SidecarTemplateData`, seen as Go sees it.

Istio executes templates on a Go struct: the pod's ObjectMeta and PodSpec (core/v1 structs),
ProxyConfig and MeshConfig (protobuf messages), the Helm values (`map[string]any` of float64
numbers) and a few derived fields. Templates written for Istio depend on exactly that shape
(field names, zero values, enum names, nil-safe getters), so we rebuild it here: the pod
through the lazy views of `podview`, the protobuf messages through `ProtoView` over the
canonical JSON of `meshconfig`. Legacy 1.0 configs see the 1.0 field set.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any, ClassVar, Final

import yaml

from sidecar_injector import boundedyaml, podview, sidecars
from sidecar_injector.config import LEGACY_DELIMS, Config, ConfigError, Format
from sidecar_injector.errors import Location, yaml_problem
from sidecar_injector.gotemplate.printing import format_value
from sidecar_injector.gotemplate.values import Int, Map, Slice, Struct
from sidecar_injector.meshconfig import MeshConfig, ProxyConfig, apply_proxy
from sidecar_injector.meshschema import (
    ENUM_NUMBERS,
    ENUMS,
    MESSAGES,
    FieldError,
    FieldSpec,
    format_duration_go,
    parse_duration,
)

JSON = Any
PROXY_CONFIG_ANNOTATION: Final = "proxy.istio.io/config"
PROXY_IMAGE_TYPE_ANNOTATION: Final = "sidecar.istio.io/proxyImageType"
DEFAULT_UID: Final = 1337

_PACKAGES: Final = {"ClientTLSSettings": "v1alpha3", "ProxyImage": "v1beta1"}


def proto_go_type(message: str) -> str:
    return f"*{_PACKAGES.get(message, 'v1alpha1')}.{message}"


class ProtoView(Struct):
    """A protobuf message behind a pointer; `data` None is a nil pointer whose getters still work.

    Go's generated getters (`GetTracing`, `GetValue`) are nil-safe, and templates chain them:
    `.ProxyConfig.GetTracing.GetTlsSettings.GetCaCertificates`.
    """

    proto_name: ClassVar[str] = ""
    by_go: ClassVar[Mapping[str, FieldSpec]] = {}
    getters: ClassVar[Mapping[str, FieldSpec]] = {}

    def __init__(self, data: Mapping[str, JSON] | None, *, form: Format = "modern") -> None:
        self.proto_data = data
        self.form = form
        self._cache: dict[str, object] = {}

    def __bool__(self) -> bool:
        return self.proto_data is not None

    def go_field(self, name: str) -> object:
        spec = self.by_go.get(name)
        if spec is None:
            raise KeyError(name)
        return self._value(spec)

    def go_method(self, name: str) -> Callable[..., object] | None:
        spec = self.getters.get(name)
        if spec is not None:
            return lambda: self._value(spec)
        if name == "String":
            return self.String
        return None

    def String(self) -> str:
        """Go prints a nil message pointer as `<nil>`, a message as its text form."""
        if self.proto_data is None:
            return "<nil>"
        return " ".join(f"{k}:{json.dumps(v)}" for k, v in self.proto_data.items())

    def _value(self, spec: FieldSpec) -> object:
        if spec.json not in self._cache:
            raw = None if self.proto_data is None else self.proto_data.get(spec.json)
            self._cache[spec.json] = proto_value(spec.kind, raw, form=self.form)
        return self._cache[spec.json]

    def __getattr__(self, name: str) -> object:
        if name.startswith("_") or name not in type(self).by_go:
            raise AttributeError(name)
        return self.go_field(name)

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self.proto_data!r})"


_PROTO_CLASSES: dict[str, type[ProtoView]] = {}


def proto_view(
    message: str, data: Mapping[str, JSON] | None, *, form: Format = "modern"
) -> ProtoView:
    """The view of a `meshconfig` message (one class per message, built once)."""
    cls = _PROTO_CLASSES.get(message)
    if cls is None:
        specs = MESSAGES[message]
        plain = [s for s in specs if s.oneof is None]
        cls = type(
            message,
            (ProtoView,),
            {
                "go_type": proto_go_type(message),
                "go_fields": tuple(s.go_name for s in plain),
                "proto_name": message,
                "by_go": {s.go_name: s for s in plain},
                "getters": {"Get" + s.go_name: s for s in specs},
            },
        )
        _PROTO_CLASSES[message] = cls
    return cls(data, form=form)


_WRAPPER_TYPES: Final = {
    "BoolValue": ("bool", False),
    "Int32Value": ("int32", 0),
    "UInt32Value": ("uint32", 0),
    "DoubleValue": ("float64", 0.0),
}


def proto_value(kind: str, raw: JSON, *, form: Format = "modern") -> object:
    """A message field as protoc-gen-go types it (zero values when unset)."""
    if kind == "string":
        return raw if isinstance(raw, str) else ""
    if kind == "bool":
        return raw is True
    if kind in ("int32", "uint32", "int64"):
        return Int(int(raw) if isinstance(raw, int | float) else 0, kind)
    if kind == "double":
        return float(raw) if isinstance(raw, int | float) else 0.0
    if kind == "duration":
        return Duration(None if raw is None else parse_duration(raw, "duration"))
    if kind in _WRAPPER_TYPES:
        if (
            form == "legacy" and kind == "Int32Value"
        ):  # 1.0's ProxyConfig.Concurrency was a plain int32
            return Int(int(raw) if isinstance(raw, int | float) else 0, "int32")
        return Wrapper(kind, raw)
    if kind.startswith("enum:"):
        return Enum(kind[5:], raw if isinstance(raw, str) else None)
    if kind.startswith("msg:"):
        return proto_view(kind[4:], raw if isinstance(raw, (dict, Mapping)) else None, form=form)
    if kind == "map_string":
        if not isinstance(raw, (dict, Mapping)):
            return Map.nil_map("map[string]string", zero="")
        return Map(dict(raw), "map[string]string", zero="")
    if kind == "list_string":
        return Slice(list(raw) if isinstance(raw, list) else [], "[]string")
    return raw


class Duration(Struct):
    """`*durationpb.Duration`; `nanos` None is a nil pointer (Istio's formatDuration gives `0s`)."""

    go_type = "*durationpb.Duration"
    go_fields = ("Seconds", "Nanos")

    def __init__(self, nanos: int | None) -> None:
        self.nanos = nanos
        total = nanos or 0
        sign = -1 if total < 0 else 1
        seconds, frac = divmod(abs(total), 1_000_000_000)
        self.Seconds = Int(sign * seconds, "int64")
        self.Nanos = Int(sign * frac, "int32")

    def __bool__(self) -> bool:
        return self.nanos is not None

    def AsDuration(self) -> Int:
        return GoDuration(self.nanos or 0)

    def GetSeconds(self) -> Int:
        return self.Seconds

    def GetNanos(self) -> Int:
        return self.Nanos

    def String(self) -> str:
        parts = []
        if int(self.Seconds):
            parts.append(f"seconds:{int(self.Seconds)}")
        if int(self.Nanos):
            parts.append(f"nanos:{int(self.Nanos)}")
        return " ".join(parts)


class GoDuration(Int):
    """A Go `time.Duration`; `String` gives `1m30s`."""

    def __new__(cls, nanos: int) -> GoDuration:
        return super().__new__(cls, nanos, "time.Duration")  # type: ignore[return-value]

    def String(self) -> str:
        return format_duration_go(int(self))


class Wrapper(Struct):
    """A `wrapperspb` message (`*wrapperspb.BoolValue`, ...): `.Value` and nil-safe `GetValue`."""

    go_fields = ("Value",)

    def __init__(self, kind: str, raw: JSON) -> None:
        go_scalar, zero = _WRAPPER_TYPES[kind]
        self.kind = kind
        self.present = raw is not None
        self.go_type = f"*wrapperspb.{kind}"  # type: ignore[misc]
        value: object = zero if raw is None else raw
        if go_scalar in ("int32", "uint32"):
            value = Int(int(value), go_scalar)  # type: ignore[call-overload]
        elif go_scalar == "float64":
            value = float(value)  # type: ignore[arg-type]
        self.Value = value

    def __bool__(self) -> bool:
        return self.present

    def GetValue(self) -> object:
        return self.Value

    def String(self) -> str:
        return f"value:{str(self.Value).lower()}" if self.present and self.Value else ""


class Enum(Struct):
    """A protobuf enum value: prints its name through `String`, as Go's Stringer does."""

    go_fields = ()

    def __init__(self, enum: str, name: str | None) -> None:
        names = ENUMS[enum]
        self.enum = enum
        self.name = name if name is not None else names[0]
        self.go_type = f"v1alpha1.{enum}"  # type: ignore[misc]
        numbers = ENUM_NUMBERS.get(enum, {n: i for i, n in enumerate(names)})
        self.number = numbers.get(self.name, 0)

    def __bool__(self) -> bool:
        return self.number != 0

    def String(self) -> str:
        return self.name

    def __str__(self) -> str:
        return self.name

    def __eq__(self, other: object) -> bool:
        if isinstance(other, Enum):
            return (self.enum, self.number) == (other.enum, other.number)
        return NotImplemented

    def __hash__(self) -> int:
        return hash((self.enum, self.number))


@dataclass(frozen=True, slots=True)
class WorkloadMeta:
    """DeploymentMeta and TypeMeta: the workload that owns the pod."""

    name: str
    namespace: str
    kind: str
    api_version: str


class NamespacedName(Struct):
    go_type = "types.NamespacedName"
    go_fields = ("Namespace", "Name")

    def __init__(self, namespace: str, name: str) -> None:
        self.Namespace = namespace
        self.Name = name

    def String(self) -> str:
        return f"{self.Namespace}/{self.Name}"


class TypeMeta(Struct):
    go_type = "v1.TypeMeta"
    go_fields = ("Kind", "APIVersion")

    def __init__(self, kind: str, api_version: str) -> None:
        self.Kind = kind
        self.APIVersion = api_version


_CRONJOB_SUFFIX: Final = re.compile(r"^(.+)-\d{8,10}$")


def workload_of(pod: Mapping[str, JSON], *, namespace: str) -> WorkloadMeta:
    """Istio's GetDeployMetaFromPod: the owning workload from ownerReferences and generateName."""
    meta = _mapping(pod.get("metadata"))
    labels = _mapping(meta.get("labels"))
    name = _text(meta.get("name"))
    controller = controller_of(meta)
    if not meta.get("generateName") or controller is None:
        return WorkloadMeta(name, namespace, "Pod", "v1")
    return _owner(
        _text(controller.get("name")),
        kind=_text(controller.get("kind")),
        api_version=_text(controller.get("apiVersion")),
        labels=labels,
        namespace=namespace,
    )


def controller_of(metadata: Mapping[str, JSON]) -> Mapping[str, JSON] | None:
    """The ownerReference marked `controller: true` (the workload that made the pod), if any."""
    owners = metadata.get("ownerReferences")
    return next(
        (
            r
            for r in (owners if isinstance(owners, list) else ())
            if isinstance(r, (dict, Mapping)) and r.get("controller") is True
        ),
        None,
    )


def _owner(
    name: str, *, kind: str, api_version: str, labels: Mapping[str, JSON], namespace: str
) -> WorkloadMeta:
    """The workload behind a controller: a Deployment behind its ReplicaSet, and so on."""
    hash_label = _text(labels.get("pod-template-hash"))
    rollout_hash = _text(labels.get("rollouts-pod-template-hash"))
    config_name = _text(labels.get("deploymentconfig"))
    job = _CRONJOB_SUFFIX.match(name)
    if kind == "ReplicaSet" and hash_label and name.endswith("-" + hash_label):
        name, kind = name[: -len(hash_label) - 1], "Deployment"
    elif kind == "ReplicaSet" and rollout_hash and name.endswith("-" + rollout_hash):
        name, kind, api_version = name[: -len(rollout_hash) - 1], "Rollout", "v1alpha1"
    elif kind == "ReplicationController" and config_name:
        name, kind = config_name, "DeploymentConfig"
    elif kind == "Job" and job:
        name, kind, api_version = job.group(1), "CronJob", "batch/v1"
    return WorkloadMeta(name, namespace, kind, api_version)


def _mapping(value: JSON) -> Mapping[str, JSON]:
    return value if isinstance(value, (dict, Mapping)) else {}


def _text(value: JSON) -> str:
    return value if isinstance(value, str) else ""


def effective_proxy_config(mesh: MeshConfig, annotations: Mapping[str, str]) -> ProxyConfig:
    """Mesh `defaultConfig` with the pod's `proxy.istio.io/config` annotation applied over it."""
    base = mesh.default_config
    text = annotations.get(PROXY_CONFIG_ANNOTATION)
    if not text:
        return base
    try:
        given = boundedyaml.load(
            text, limits=boundedyaml.ANNOTATION, source=f"annotation {PROXY_CONFIG_ANNOTATION}"
        )
        if given is None:
            return base
        if not isinstance(given, (dict, Mapping)):
            raise FieldError(PROXY_CONFIG_ANNOTATION, "must be a YAML mapping (a ProxyConfig)")
        return apply_proxy(given, base, path=PROXY_CONFIG_ANNOTATION)
    except yaml.YAMLError as err:
        raise _bad_proxy_config(yaml_problem(err)) from err
    except boundedyaml.YAMLLimitError as err:
        raise _bad_proxy_config(err.problem) from err
    except FieldError as err:
        raise _bad_proxy_config(str(err)) from err


def _bad_proxy_config(why: str) -> ConfigError:
    return ConfigError(
        f"annotation {PROXY_CONFIG_ANNOTATION} is not a valid ProxyConfig: {why}",
        location=Location(pointer="/metadata/annotations/proxy.istio.io~1config"),
        hint="fix or remove the annotation",
    )


def proxy_image(
    values: Mapping[str, JSON],
    pc: ProxyConfig,
    annotations: Mapping[str, str],
    *,
    image_key: str = "proxy",
) -> str:
    """Istio's ProxyImage: `hub/name:tag[-type]`; the type from the annotation, the ProxyConfig
    image, then `global.variant`; an existing `-distroless`/`-debug` tag suffix is replaced."""
    glob = values.get("global")
    glob = glob if isinstance(glob, (dict, Mapping)) else {}
    section = glob.get(image_key)
    name = section.get("image") if isinstance(section, (dict, Mapping)) else None
    tag = glob.get("tag")
    image_type = annotations.get(PROXY_IMAGE_TYPE_ANNOTATION)
    if image_type is None:
        image = pc.data.get("image")
        image_type = image.get("imageType") if isinstance(image, (dict, Mapping)) else None
    if not image_type:
        variant = glob.get("variant")
        image_type = variant if isinstance(variant, str) else ""
    tag_text = "" if tag is None else format_value(tag)
    if image_type:
        for suffix in ("-distroless", "-debug"):
            tag_text = tag_text.removesuffix(suffix)
        if image_type != "default":
            tag_text = f"{tag_text}-{image_type}"
    hub = glob.get("hub")
    return f"{hub if isinstance(hub, str) else ''}/{name or 'proxyv2'}:{tag_text}"


def native_sidecars(
    env: Mapping[str, str], *, node_name: str = "", kubelet_versions: Mapping[str, str] | None
) -> bool:
    """Istio's DetectNativeSidecar: `ENABLE_NATIVE_SIDECARS`, and in `auto` mode (or unset) the
    kubelets of the cluster; without a cluster to ask only an explicit `true` turns it on."""
    mode = env.get("ENABLE_NATIVE_SIDECARS", "")
    return sidecars.native_sidecars(mode, node_name=node_name, kubelet_versions=kubelet_versions)


class TemplateData(Struct):
    """`*inject.SidecarTemplateData` of Istio HEAD."""

    go_type = "*inject.SidecarTemplateData"
    go_fields = (
        "TypeMeta",
        "DeploymentMeta",
        "ObjectMeta",
        "Spec",
        "ProxyConfig",
        "MeshConfig",
        "Values",
        "Revision",
        "NativeSidecars",
        "ProxyImage",
        "ProxyInitImage",
        "ProxyUID",
        "ProxyGID",
        "InboundTrafficPolicyMode",
        "CompliancePolicy",
    )

    def __init__(self, **fields: object) -> None:
        self.__dict__.update(fields)


class LegacyTemplateData(Struct):
    """Istio 1.0's `*inject.SidecarTemplateData`: pointers to the pod's meta and spec."""

    go_type = "*inject.SidecarTemplateData"
    go_fields: ClassVar[tuple[str, ...]] = ("ObjectMeta", "Spec", "ProxyConfig", "MeshConfig")

    def __init__(self, **fields: object) -> None:
        self.__dict__.update(fields)


class SingleTemplateData(LegacyTemplateData):
    """Istio 1.3-1.8 (one `{{ }}` template): 1.0's fields plus the workload and the values."""

    go_fields = ("TypeMeta", "DeploymentMeta", "ObjectMeta", "Spec", "ProxyConfig", "MeshConfig",
                 "Values")  # fmt: skip


def _legacy_data(
    meta: Mapping[str, JSON],
    spec: Mapping[str, JSON],
    *,
    config: Config,
    owner: WorkloadMeta,
    proxy: ProtoView,
    mesh: ProtoView,
) -> Struct:
    """1.0's four fields for a `[[ ]]` template; a `{{ }}` one (Istio 1.3-1.8) also gets
    `.TypeMeta`, `.DeploymentMeta` (an ObjectMeta then) and `.Values`."""
    fields: dict[str, object] = {
        "ObjectMeta": podview.view("ObjectMeta", meta, pointer=True),
        "Spec": podview.view("PodSpec", spec, pointer=True),
        "ProxyConfig": proxy,
        "MeshConfig": mesh,
    }
    if config.injection.delims == LEGACY_DELIMS:
        return LegacyTemplateData(**fields)
    workload = {"name": owner.name, "namespace": owner.namespace}
    return SingleTemplateData(
        TypeMeta=podview.view(
            "TypeMeta", {"kind": owner.kind, "apiVersion": owner.api_version}, pointer=True
        ),
        DeploymentMeta=podview.view("ObjectMeta", workload, pointer=True),
        Values=config.values,
        **fields,
    )


def build(
    pod: Mapping[str, JSON],
    *,
    config: Config,
    namespace: str,
    workload: WorkloadMeta | None = None,
    proxy_config: ProxyConfig | None = None,
    kubelet_versions: Mapping[str, str] | None = None,
    proxy_uid: int = DEFAULT_UID,
    proxy_gid: int = DEFAULT_UID,
    spec_fields: dict[str, object] | None = None,
) -> Struct:
    """The template data for `pod` (already stripped of an earlier injection).

    `workload` overrides the owner found from the pod (kube-inject passes the top-level
    resource); `proxy_config` overrides the mesh default plus the pod's annotation;
    `kubelet_versions` (node name to kubelet version) is what the cluster's nodes run, when
    known, for `ENABLE_NATIVE_SIDECARS=auto`; `spec_fields` holds the Go fields of an earlier
    pod's equal spec, converted already (`podview.view`).
    """
    meta = _mapping(pod.get("metadata"))
    spec = _mapping(pod.get("spec"))
    annotations = {
        str(k): v for k, v in _mapping(meta.get("annotations")).items() if isinstance(v, str)
    }
    legacy = config.injection.format == "legacy"
    pc = proxy_config or (
        config.mesh.default_config if legacy else effective_proxy_config(config.mesh, annotations)
    )
    proxy = proto_view("ProxyConfig", pc.data, form=config.injection.format)
    mesh = proto_view("MeshConfig", config.mesh.data, form=config.injection.format)
    owner = workload or workload_of(pod, namespace=namespace)
    if legacy:
        return _legacy_data(meta, spec, config=config, owner=owner, proxy=proxy, mesh=mesh)
    inbound = config.mesh.data.get("inboundTrafficPolicy")
    localhost = isinstance(inbound, (dict, Mapping)) and inbound.get("mode") == "LOCALHOST"
    return TemplateData(
        TypeMeta=TypeMeta(owner.kind, owner.api_version),
        DeploymentMeta=NamespacedName(owner.namespace, owner.name),
        ObjectMeta=podview.view("ObjectMeta", meta),
        Spec=podview.view("PodSpec", spec, fields=spec_fields),
        ProxyConfig=proxy,
        MeshConfig=mesh,
        Values=config.values,
        Revision=config.revision,
        NativeSidecars=native_sidecars(
            config.env, node_name=_text(spec.get("nodeName")), kubelet_versions=kubelet_versions
        ),
        ProxyImage=proxy_image(config.values, pc, annotations),
        ProxyInitImage=proxy_image(config.values, pc, annotations, image_key="proxy_init"),
        ProxyUID=Int(proxy_uid, "int64"),
        ProxyGID=Int(proxy_gid, "int64"),
        InboundTrafficPolicyMode="localhost" if localhost else "passthrough",
        CompliancePolicy=config.env.get("COMPLIANCE_POLICY", ""),
    )
