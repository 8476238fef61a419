"""The one injection pipeline: decide, build the template data, render, merge, post-process.

The webhook and `kube-inject` both call `inject_pod`; it is pure and does no I/O.
"""

import threading
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Final

import orjson

from sidecar_injector import (
    annotations,
    config,
    decision,
    merge,
    probes,
    prometheus,
    render,
    templatedata,
    typedpod,
)

JSON = Any
Pod = dict[str, Any]

PROXY_NAME = "istio-proxy"
NETWORK_LABEL = "topology.istio.io/network"
CLUSTER_ENV = "ISTIO_META_CLUSTER_ID"
NETWORK_ENV = "ISTIO_META_NETWORK"


@dataclass(frozen=True, slots=True)
class Injected:
    """The pod after the pipeline (the request pod itself when not injecting)."""

    pod: Pod
    decision: decision.Decision
    warnings: tuple[str, ...] = ()
    rendered: tuple[render.Rendered, ...] = ()
    request: Mapping[str, JSON] | None = None
    """The request pod as the pipeline read it: equal to the one given, but holding the very
    spec object of an earlier pod with the same spec (`RecentSpecs`), with which `pod` shares
    what it did not change; a patch is cheapest taken against it."""


def inject_pod(
    pod: Mapping[str, JSON],
    *,
    namespace: str,
    config: config.Config,
    params: Mapping[str, str] | None = None,
    workload: templatedata.WorkloadMeta | None = None,
    kubelet_versions: Mapping[str, str] | None = None,
) -> Injected:
    """Inject `pod` (a Pod as JSON) when the decision says so.

    `params` are proxy environment variables from the webhook path (`/inject/cluster/c1`
    gives `ISTIO_META_CLUSTER_ID=c1`); `workload` is kube-inject's DeploymentMeta/TypeMeta;
    `kubelet_versions` are the cluster's nodes' kubelets by node name, when the caller
    knows them (`ENABLE_NATIVE_SIDECARS=auto` reads them).
    Raises `errors.InjectorError` subclasses with what went wrong and where.
    """
    known, encoded = RECENT_SPECS.find(pod.get("spec"))
    if known is not None:
        pod = {**pod, "spec": known.raw}
    answer = decision.decide(
        pod,
        namespace=namespace,
        config=config.injection,
        checked_spec=known.raw if known is not None else None,
    )
    if not answer.inject:
        return Injected(dict(pod), answer, answer.warnings, request=pod)
    pod_annotations = _annotations(pod)
    annotations.validate(pod_annotations)
    if config.injection.format == "legacy":
        return _inject_legacy(pod, answer=answer, config=config, namespace=namespace)
    return _inject_modern(
        pod,
        answer=answer,
        config=config,
        namespace=namespace,
        params=params,
        workload=workload,
        kubelet_versions=kubelet_versions,
        known=known,
        encoded=encoded,
    )


@dataclass(frozen=True, slots=True)
class KnownSpec:
    """A request pod's spec that passed `podshape.check`, as it came and in Go's typed form."""

    raw: dict[str, JSON]
    typed: dict[str, JSON]
    encoded: bytes
    fields: dict[str, object] = field(default_factory=dict)
    """The Go fields templates read from `typed` (`podview`'s PodSpec view), converted once."""


class RecentSpecs:
    """The specs of the last pods injected.

    The pods of one workload (a Job's, a StatefulSet's, a Deployment's after a rollout) reach
    the webhook one by one with new names and labels but the same spec, which the replica cache
    cannot see. A spec whose JSON is byte for byte a recent one's (orjson's bytes, so `1`,
    `1.0` and `true` stay apart) is replaced by that very object, which is not checked or typed
    again. Bounded: `entries` specs of at most `max_bytes` of JSON each. What is kept is never
    changed: the pipeline copies what it changes (`_owned`) and the merge builds new objects.
    """

    def __init__(self, entries: int = 4, max_bytes: int = 64 * 1024) -> None:
        self.entries = entries
        self.max_bytes = max_bytes
        self._known: tuple[KnownSpec, ...] = ()
        self._lock = threading.Lock()

    def find(self, spec: JSON) -> tuple[KnownSpec | None, bytes | None]:
        """The remembered spec equal to `spec`, if any, and `spec`'s JSON as `remember` takes
        it (None when not computed: nothing is remembered yet; empty when it is not kept)."""
        if type(spec) is not dict or not self._known:
            return None, None
        encoded = _encoded(spec, self.max_bytes)
        for known in self._known:
            if known.encoded == encoded:
                return known, encoded
        return None, encoded

    def remember(self, raw: JSON, typed: JSON, encoded: bytes | None = None) -> KnownSpec | None:
        """Keep `raw` and its typed form; the kept spec, or None when it is not kept. `encoded`
        is `raw`'s JSON from `find`, when it was computed."""
        if self.entries <= 0 or type(raw) is not dict or type(typed) is not dict:
            return None
        if encoded is None:
            encoded = _encoded(raw, self.max_bytes)
        if not encoded:
            return None
        known = KnownSpec(raw, typed, encoded)
        with self._lock:
            kept = tuple(k for k in self._known if k.encoded != encoded)
            self._known = (known, *kept[: self.entries - 1])
        return known


def _encoded(spec: dict[str, JSON], max_bytes: int) -> bytes:
    """The spec's JSON, or nothing when it is too large to remember or not JSON at all (a
    number beyond 64 bits, or nesting orjson refuses)."""
    try:
        encoded = orjson.dumps(spec)
    except TypeError:
        return b""
    return encoded if len(encoded) <= max_bytes else b""


RECENT_SPECS = RecentSpecs()


def _inject_legacy(
    pod: Mapping[str, JSON], *, answer: decision.Decision, config: config.Config, namespace: str
) -> Injected:
    view = merge.strip(pod)
    data = templatedata.build(view, config=config, namespace=namespace)
    names = render.select_templates(_annotations(pod), injection=config.injection)
    rendered = render.render(data, injection=config.injection, names=names)
    name = names[0]
    merged = merge.append_legacy(
        pod,
        rendered[0].overlay,
        template_text=config.injection.template_texts[name],
        injected_annotations=config.injection.injected_annotations,
    )
    return Injected(
        merged.pod, answer, answer.warnings + _preconditions(pod), rendered, request=pod
    )


def _inject_modern(
    pod: Mapping[str, JSON],
    *,
    answer: decision.Decision,
    config: config.Config,
    namespace: str,
    params: Mapping[str, str] | None,
    workload: templatedata.WorkloadMeta | None,
    kubelet_versions: Mapping[str, str] | None,
    known: KnownSpec | None = None,
    encoded: bytes | None = None,
) -> Injected:
    request = pod
    pod, known = _typed(pod, known, encoded)
    pod_annotations = _annotations(pod)
    proxy_config = templatedata.effective_proxy_config(config.mesh, pod_annotations)
    status_port = _int(config.mesh.default_config.data.get("statusPort"))
    view = merge.template_view(pod, status_port=status_port)
    data = templatedata.build(
        view,
        config=config,
        namespace=namespace,
        workload=workload,
        proxy_config=proxy_config,
        kubelet_versions=kubelet_versions,
        spec_fields=_spec_fields(view, known),
    )
    names = render.select_templates(pod_annotations, injection=config.injection)
    rendered = render.render(data, injection=config.injection, names=names)
    proxy_env = _proxy_env(pod, values=config.values, params=params or {})
    merged = merge.merge_sidecar(
        pod,
        [r.overlay for r in rendered],
        revision=config.revision,
        injected_annotations=config.injection.injected_annotations,
        network=proxy_env.get(NETWORK_ENV),
        hold_application=_hold_application(proxy_config.data, config.values),
        tproxy=_tproxy(proxy_config.data, pod_annotations),
    )
    injected = _overwrite_cluster_info(_owned(merged.pod), proxy_env)
    _post_process(injected, config=config, previously_injected=merge.status_of(pod) is not None)
    injected = typedpod.normalized(injected, since=pod)
    return Injected(
        injected, answer, answer.warnings + _preconditions(pod), rendered, request=request
    )


def _typed(
    pod: Mapping[str, JSON], known: KnownSpec | None, encoded: bytes | None
) -> tuple[Pod, KnownSpec | None]:
    """`typedpod.normalized`, with the typed form of a spec seen before taken as it was; and
    the remembered spec the typed pod holds, if any (`encoded`: the spec's JSON, if known)."""
    if known is not None and pod.get("spec") is known.raw:
        since = {"spec": known.typed}
        return typedpod.normalized({**pod, "spec": known.typed}, since=since), known
    typed = typedpod.normalized(dict(pod))
    return typed, RECENT_SPECS.remember(pod.get("spec"), typed.get("spec"), encoded)


def _spec_fields(view: Pod, known: KnownSpec | None) -> dict[str, object] | None:
    """The remembered spec's converted Go fields, for a template view whose spec holds the
    remembered spec's very parts (a pod injected before has its old sidecars stripped)."""
    if known is None:
        return None
    spec, typed = view.get("spec"), known.typed
    if type(spec) is not dict or len(spec) != len(typed):
        return None
    for key, value in spec.items():
        if typed.get(key, _ABSENT) is not value:
            return None
    return known.fields


_ABSENT: Final = object()


def _owned(pod: Pod) -> Pod:
    """The merged pod with its own copy of every part the post-processing steps change in
    place (the metadata, containers, their lifecycle hooks and the proxy's env), so that those
    steps never reach into the request pod, with which the merged pod shares the rest."""
    result = dict(pod)
    metadata = result.get("metadata")
    if isinstance(metadata, dict):
        metadata = result["metadata"] = dict(metadata)
        if isinstance(metadata.get("annotations"), dict):
            metadata["annotations"] = dict(metadata["annotations"])
    spec = result.get("spec")
    if isinstance(spec, dict):
        spec = result["spec"] = dict(spec)
        for kind in ("initContainers", "containers"):
            if isinstance(spec.get(kind), list):
                spec[kind] = [_owned_container(c) for c in spec[kind]]
    return result


def _owned_container(container: JSON) -> JSON:
    if not isinstance(container, dict):
        return container
    owned = dict(container)
    if isinstance(owned.get("lifecycle"), dict):
        owned["lifecycle"] = dict(owned["lifecycle"])
    if owned.get("name") == PROXY_NAME and isinstance(owned.get("env"), list):
        owned["env"] = [dict(e) if isinstance(e, dict) else e for e in owned["env"]]
    return owned


def _post_process(pod: Pod, *, config: config.Config, previously_injected: bool) -> None:
    """Istio's postProcessPod steps after the cluster info, in its order, in place."""
    status_port = _int(config.mesh.default_config.data.get("statusPort")) or 0
    sidecar = _sidecar(pod)
    prometheus.apply_merge(
        pod,
        status_port=status_port,
        mesh_enabled=_bool_value(config.mesh.data.get("enablePrometheusMerge"), default=True),
        sidecar=sidecar,
    )
    prometheus.apply_secure_port(pod, sidecar=sidecar)
    probes.apply_rewrite(
        pod,
        sidecar=sidecar,
        status_port=status_port,
        values=config.values,
        previously_injected=previously_injected,
    )


def _preconditions(pod: Mapping[str, JSON]) -> tuple[str, ...]:
    """Istio's checkPreconditions: a dnsPolicy other than ClusterFirst may keep the proxy from
    resolving istiod. Istio only logs it; we also say it to whoever creates the pod."""
    policy = _mapping(pod.get("spec")).get("dnsPolicy")
    if not policy or policy == "ClusterFirst":
        return ()
    return (
        f'dnsPolicy is "{policy}", not "ClusterFirst": the sidecar may not be able to resolve '
        "and reach istiod",
    )


def _sidecar(pod: Pod) -> dict[str, JSON] | None:
    spec = pod.get("spec") or {}
    for kind in ("containers", "initContainers"):
        for container in spec.get(kind) or ():
            if isinstance(container, dict) and container.get("name") == PROXY_NAME:
                return container
    return None


def _bool_value(value: JSON, *, default: bool) -> bool:
    """A protobuf BoolValue as JSON: a bool, or `{"value": bool}`; unset gives `default`."""
    if isinstance(value, (dict, Mapping)):
        value = value.get("value", False)
    return value if isinstance(value, bool) else default


def _proxy_env(
    pod: Mapping[str, JSON], *, values: Mapping[str, JSON], params: Mapping[str, str]
) -> dict[str, str]:
    """Istio's extractClusterAndNetwork: values, then path parameters, then the pod's label."""
    global_values = _mapping(values.get("global"))
    env: dict[str, str] = {}
    cluster = _mapping(global_values.get("multiCluster")).get("clusterName")
    if isinstance(cluster, str) and cluster:
        env[CLUSTER_ENV] = cluster
    network = global_values.get("network")
    if isinstance(network, str) and network:
        env[NETWORK_ENV] = network
    env.update({k: v for k, v in params.items() if v})
    label = _mapping(_mapping(pod.get("metadata")).get("labels")).get(NETWORK_LABEL)
    if isinstance(label, str) and label:
        env[NETWORK_ENV] = label
    return env


def _overwrite_cluster_info(pod: Pod, proxy_env: Mapping[str, str]) -> Pod:
    """The proxy's env vars named in `proxy_env` move to the end, sorted, with these values."""
    if not proxy_env:
        return pod
    spec = pod.get("spec") or {}
    for kind in ("initContainers", "containers"):
        for container in spec.get(kind) or ():
            if container.get("name") != PROXY_NAME:
                continue
            kept = [e for e in container.get("env") or () if e.get("name") not in proxy_env]
            added = [{"name": k, "value": proxy_env[k]} for k in sorted(proxy_env)]
            container["env"] = kept + added
    return pod


def _hold_application(proxy_config: Mapping[str, JSON], values: Mapping[str, JSON]) -> bool:
    hold = proxy_config.get("holdApplicationUntilProxyStarts")
    if isinstance(hold, (dict, Mapping)):
        hold = hold.get("value")
    from_values = _mapping(_mapping(values.get("global")).get("proxy")).get(
        "holdApplicationUntilProxyStarts"
    )
    return hold is True or from_values is True


def _tproxy(proxy_config: Mapping[str, JSON], pod_annotations: Mapping[str, str]) -> bool:
    mode = pod_annotations.get("sidecar.istio.io/interceptionMode")
    if mode is None:
        mode = proxy_config.get("interceptionMode")
    return mode == "TPROXY"


def _annotations(pod: Mapping[str, JSON]) -> Mapping[str, str]:
    found = _mapping(pod.get("metadata")).get("annotations")
    return found if isinstance(found, (dict, Mapping)) else {}


def _mapping(value: JSON) -> Mapping[str, JSON]:
    return value if isinstance(value, (dict, Mapping)) else {}


def _int(value: JSON) -> int | None:
    return value if isinstance(value, int) and not isinstance(value, bool) else None
