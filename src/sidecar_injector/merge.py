"""The injected pod: rendered templates merged onto the request pod, and the way back.

Modern configs (Istio 1.9+) render partial Pods that are strategically merged, in template order,
both onto an empty pod (what the templates contributed, which the status annotation lists) and
onto the request pod; the user's own versions of injected containers are then re-applied
(overrides.py). For the shape templates render, podmerge merges each one once, by the Pod's merge
keys, and keeps only the names of what the templates contributed; anything else takes Istio's
way through the generic strategic merge. Legacy 1.0 configs render a `SidecarInjectionSpec`
whose lists are appended as Istio 1.0 did. Either way the pod records what was injected in
`sidecar.istio.io/status`, which is what makes re-injection idempotent (`strip`) and `uninject`
possible.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from sidecar_injector import podmerge
from sidecar_injector.errors import Location, excerpt
from sidecar_injector.legacy import typed_container
from sidecar_injector.overrides import (
    AUTO_IMAGE,
    OVERRIDES_KEY,
    PROXY_NAME,
    go_json,
    parse_overrides,
    reapply_overwritten,
    reinsert_overrides,
)
from sidecar_injector.sidecars import move_proxy_to_init, reorder
from sidecar_injector.strategic import MergeError, copy_json, copy_object, merge_overlay, merge_pod

__all__ = [
    "PROXY_NAME",
    "STATUS_KEY",
    "InjectionStatus",
    "MergeError",
    "Merged",
    "append_legacy",
    "merge_overlay",
    "merge_sidecar",
    "status_of",
    "strip",
    "template_view",
    "uninject",
]

JSON = Any
Pod = dict[str, Any]

STATUS_KEY = "sidecar.istio.io/status"
LEGACY_SPEC_KEYS = ("initContainers", "containers", "volumes", "imagePullSecrets")
PROMETHEUS_SCRAPE = "prometheus.io/scrape"
PROMETHEUS_PORT = "prometheus.io/port"
PROMETHEUS_PATH = "prometheus.io/path"
PROMETHEUS_KEYS = (PROMETHEUS_SCRAPE, PROMETHEUS_PORT, PROMETHEUS_PATH)
AGENT_PATH = "/stats/prometheus"
PROBERS_ENV = "ISTIO_KUBE_APP_PROBERS"
PROMETHEUS_ENV = "ISTIO_PROMETHEUS_ANNOTATIONS"
INJECTOR_LABELS = (
    "security.istio.io/tlsMode",
    "service.istio.io/canonical-name",
    "service.istio.io/canonical-revision",
    "topology.istio.io/network",
)
INJECTOR_ANNOTATIONS = (
    STATUS_KEY,
    OVERRIDES_KEY,
    "istio.io/rev",
    "kubectl.kubernetes.io/default-container",
    "kubectl.kubernetes.io/default-logs-container",
)


@dataclass(frozen=True, slots=True)
class InjectionStatus:
    """`sidecar.istio.io/status`: what one injection added, by name, in template order.

    Modern pods carry `revision`; legacy 1.0 pods carry `version` (sha256 of the template text).
    """

    init_containers: tuple[str, ...] = ()
    containers: tuple[str, ...] = ()
    volumes: tuple[str, ...] = ()
    image_pull_secrets: tuple[str, ...] = ()
    revision: str | None = "default"
    version: str | None = None

    @classmethod
    def of(
        cls, spec: Mapping[str, JSON], *, revision: str | None, version: str | None = None
    ) -> InjectionStatus:
        """The status for what `spec` (the templates' own pod spec) contributed."""
        lists = [_names(spec.get(key)) for key in LEGACY_SPEC_KEYS]
        return cls._from_lists(lists, revision, version)

    @classmethod
    def parse(cls, text: str) -> InjectionStatus | None:
        """The status an earlier injection wrote, or None when absent or unreadable."""
        try:
            raw = json.loads(text)
        except (ValueError, RecursionError):
            return None
        if not isinstance(raw, dict):
            return None
        lists = [_strings(raw.get(key)) for key in LEGACY_SPEC_KEYS]
        revision, version = raw.get("revision"), raw.get("version")
        return cls._from_lists(
            lists,
            revision if isinstance(revision, str) else None,
            version if isinstance(version, str) else None,
        )

    @classmethod
    def _from_lists(
        cls, lists: Sequence[tuple[str, ...]], revision: str | None, version: str | None
    ) -> InjectionStatus:
        inits, containers, volumes, secrets = lists
        return cls(inits, containers, volumes, secrets, revision=revision, version=version)

    def to_json(self) -> str:
        """Go's `json.Marshal` of the struct: fixed field order, `null` for an empty list."""
        fields: dict[str, JSON] = {}
        if self.version is not None:
            fields["version"] = self.version
        for key, names in zip(LEGACY_SPEC_KEYS, self._lists(), strict=True):
            fields[key] = list(names) or None
        if self.version is None and self.revision is not None:
            fields["revision"] = self.revision
        return go_json(fields)

    def by_kind(self) -> dict[str, tuple[str, ...]]:
        return dict(zip(LEGACY_SPEC_KEYS, self._lists(), strict=True))

    def _lists(self) -> tuple[tuple[str, ...], ...]:
        return (self.init_containers, self.containers, self.volumes, self.image_pull_secrets)


@dataclass(frozen=True, slots=True)
class Merged:
    """The injected pod and what the templates themselves contributed (its status)."""

    pod: Pod
    status: InjectionStatus


def status_of(pod: Mapping[str, JSON]) -> InjectionStatus | None:
    """The pod's injection status, if it was injected before."""
    text = _annotations(pod).get(STATUS_KEY)
    return InjectionStatus.parse(text) if text is not None else None


def strip(pod: Mapping[str, JSON], *, status_port: int | None = None) -> Pod:
    """The pod without what its status says was injected: Istio's `stripPod`.

    Only containers and init containers go (volumes merge by name again). Prometheus
    annotations pointing at the proxy's status port are dropped so they are regenerated.
    `pod` is not changed; the result shares what it keeps with it.
    """
    result = dict(pod)
    status = status_of(result)
    if status is None:
        return result
    spec = result.setdefault("spec", {})
    if isinstance(spec, dict):
        spec = result["spec"] = dict(spec)
    for kind in ("containers", "initContainers"):
        names = status.by_kind()[kind]
        if kind in spec:
            spec[kind] = [c for c in spec[kind] or [] if _name(c) not in names]
    metadata = result["metadata"] = dict(result["metadata"])
    annotations = metadata["annotations"] = dict(metadata["annotations"])
    if status_port is not None and annotations.get("prometheus.io/port") == str(status_port):
        for key in PROMETHEUS_KEYS:
            annotations.pop(key, None)
    del annotations[STATUS_KEY]
    return result


def template_view(pod: Mapping[str, JSON], *, status_port: int | None = None) -> Pod:
    """The pod the templates are rendered from: stripped, with the user's overrides back."""
    return reinsert_overrides(strip(pod, status_port=status_port))


def merge_sidecar(
    pod: Mapping[str, JSON],
    overlays: Iterable[Mapping[str, JSON]],
    *,
    revision: str = "",
    injected_annotations: Mapping[str, str] | None = None,
    network: str | None = None,
    hold_application: bool = False,
    tproxy: bool = False,
) -> Merged:
    """Istio's RunTemplate + reapplyOverwrittenContainers + the metadata and ordering steps.

    `overlays` are the rendered templates (partial Pods) in selection order; `pod` is the raw
    request pod (not stripped: Istio merges onto the request and strips only for rendering).
    `pod` is not changed; the result shares what the merge leaves untouched with it.
    """
    overlays = list(overlays)
    try:
        merged, contributed = _merge_by_pod_schema(pod, overlays)
    except podmerge.Unsupported:
        merged, contributed = _merge_strategic(pod, overlays)
    previous = status_of(pod)
    merged = reapply_overwritten(
        merged,
        original=pod,
        injected=contributed,
        injected_status=previous.by_kind() if previous is not None else None,
        tproxy=tproxy,
    )
    metadata = merged["metadata"] = dict(merged.get("metadata") or {})
    labels = metadata["labels"] = dict(metadata.get("labels") or {})
    annotations = metadata["annotations"] = dict(metadata.get("annotations") or {})
    if network:
        labels["topology.istio.io/network"] = network
    status = InjectionStatus(
        init_containers=contributed["initContainers"],
        containers=contributed["containers"],
        volumes=contributed["volumes"],
        image_pull_secrets=contributed["imagePullSecrets"],
        revision=revision or "default",
    )
    annotations[STATUS_KEY] = status.to_json()
    annotations.update(injected_annotations or {})
    if not labels:
        del metadata["labels"]
    merged = reorder(merged, hold_application=hold_application)
    return Merged(pod=merged, status=status)


Contributed = dict[str, tuple[JSON, ...]]
"""The names of the items the templates themselves put in each of LEGACY_SPEC_KEYS, in the
order of the templates merged together (Istio's templatePod): the status lists them."""


def _merge_by_pod_schema(
    pod: Mapping[str, JSON], overlays: Sequence[JSON]
) -> tuple[Pod, Contributed]:
    """Each overlay merged once onto the pod by the Pod's merge keys; of the templates merged
    together only the names are kept. `podmerge.Unsupported` when any overlay needs more."""
    names: dict[str, list[JSON]] = {kind: [] for kind in LEGACY_SPEC_KEYS}
    merged: Pod = dict(pod)
    for overlay in overlays:
        spec = overlay.get("spec", {}) if type(overlay) is dict else None
        if type(spec) is not dict:
            raise podmerge.Unsupported
        for kind in LEGACY_SPEC_KEYS:
            if kind in spec:
                names[kind] = podmerge.merge_names(names[kind], spec[kind])
        merged = move_proxy_to_init(merged, template_inits=names["initContainers"])
        merged = podmerge.merge(merged, overlay)
    return merged, {kind: tuple(found) for kind, found in names.items()}


def _merge_strategic(pod: Mapping[str, JSON], overlays: Sequence[JSON]) -> tuple[Pod, Contributed]:
    """Istio's way, by the generic strategic merge: each overlay merged onto the templates'
    own pod and onto the request pod; the reference for `_merge_by_pod_schema`."""
    template: Pod = {}
    merged: Pod = dict(pod)
    for overlay in overlays:
        template = merge_pod(template, overlay)
        inits = _names((template.get("spec") or {}).get("initContainers"))
        merged = move_proxy_to_init(merged, template_inits=inits)
        merged = merge_pod(merged, overlay)
    spec = template.get("spec") or {}
    return merged, {kind: _names(spec.get(kind)) for kind in LEGACY_SPEC_KEYS}


def append_legacy(
    pod: Mapping[str, JSON],
    spec: Mapping[str, JSON],
    *,
    template_text: str,
    injected_annotations: Mapping[str, str] | None = None,
) -> Merged:
    """Istio 1.0: the rendered `SidecarInjectionSpec` lists appended to the pod's, no merge.

    A pod injected before is stripped of every item its status lists first, so injecting twice
    appends once.
    """
    unknown = sorted(set(spec) - set(LEGACY_SPEC_KEYS))
    if unknown:
        raise MergeError(
            f"a 1.0 injection template renders only {', '.join(LEGACY_SPEC_KEYS)}; "
            f"got {', '.join(unknown)}",
            location=Location(pointer=f"/{unknown[0]}"),
            hint="move the rest into the pod spec or use the modern config format",
        )
    result = _strip_everything(pod)
    body = result.setdefault("spec", {})
    for key in LEGACY_SPEC_KEYS:
        added = spec.get(key)
        if added is None:
            continue
        if not isinstance(added, list):
            raise MergeError(
                f"{key} must be a list in the rendered 1.0 template, not {type(added).__name__}",
                location=Location(pointer=f"/{key}"),
            )
        if key in ("initContainers", "containers"):
            added = [_as_legacy_container(c) for c in added]
        body[key] = [*(body.get(key) or []), *copy_json(added)]
    version = hashlib.sha256(template_text.encode()).hexdigest()
    status = InjectionStatus.of(spec, revision=None, version=version)
    metadata = result["metadata"] = result.get("metadata") or {}
    annotations = metadata["annotations"] = metadata.get("annotations") or {}
    annotations[STATUS_KEY] = status.to_json()
    annotations.update(injected_annotations or {})
    return Merged(pod=result, status=status)


def _as_legacy_container(container: JSON) -> JSON:
    if not isinstance(container, (dict, Mapping)):
        raise MergeError(
            "containers must be mappings in the rendered 1.0 template: " + excerpt(repr(container))
        )
    return typed_container(container)


def uninject(pod: Mapping[str, JSON]) -> Pod:
    """The pod as it was before injection, as far as the pod itself records it.

    Removes every container, init container, volume and pull secret the status lists, puts the
    user's own versions of injected containers back (from `proxy.istio.io/overrides`), gives
    probes pointed at the agent and Prometheus annotations merged into it back from what the
    proxy's environment recorded, and drops the injector's labels and annotations. A label or
    annotation the user had set to one of those same keys cannot be told apart and is dropped.
    """
    if status_of(pod) is None:
        return copy_object(pod)
    saved = parse_overrides(_annotations(pod))
    proxy_env = _proxy_env(pod)
    result = _strip_everything(pod)
    _restore_probes(result, proxy_env.get(PROBERS_ENV))
    _restore_prometheus(result, proxy_env.get(PROMETHEUS_ENV))
    spec = result.setdefault("spec", {})
    for kind in ("containers", "initContainers"):
        for container in saved[kind]:
            restored = dict(container)
            restored.setdefault("image", AUTO_IMAGE)
            if restored.get("resources") == {}:
                del restored["resources"]
            spec.setdefault(_home(restored, saved_as=kind), []).append(restored)
    metadata = result.setdefault("metadata", {})
    _drop_keys(metadata, "labels", INJECTOR_LABELS)
    _drop_keys(metadata, "annotations", INJECTOR_ANNOTATIONS)
    return result


def _home(container: Mapping[str, JSON], *, saved_as: str) -> str:
    """Where a saved override lived: a user's proxy saved among init containers (native
    sidecars) came from `containers` unless it was itself a native sidecar."""
    native = container.get("restartPolicy") == "Always"
    if saved_as == "initContainers" and container.get("name") == PROXY_NAME and not native:
        return "containers"
    return saved_as


def _proxy_env(pod: Mapping[str, JSON]) -> dict[str, str]:
    spec = pod.get("spec") or {}
    for kind in ("containers", "initContainers"):
        for container in spec.get(kind) or ():
            if _name(container) == PROXY_NAME:
                env = container.get("env") or ()
                return {
                    e["name"]: e["value"]
                    for e in env
                    if isinstance(e, (dict, Mapping))
                    and isinstance(e.get("value"), str)
                    and "name" in e
                }
    return {}


def _restore_probes(pod: Pod, recorded: str | None) -> None:
    """Undo probe rewriting: each probe pointed at the agent gets back what the agent was told
    to call (a named port comes back as its number, the only form the agent keeps)."""
    probers = _json_object(recorded)
    if not probers:
        return
    spec = pod.get("spec") or {}
    for kind in ("containers", "initContainers"):
        for container in spec.get(kind) or ():
            if not isinstance(container, dict):
                continue
            name = container.get("name")
            for field, path in _probe_paths(name):
                _restore_action(container, field, probers.get(path), path)
            lifecycle = container.get("lifecycle")
            if isinstance(lifecycle, dict):
                for field, path in _hook_paths(name):
                    _restore_action(lifecycle, field, probers.get(path), path)


def _probe_paths(name: JSON) -> tuple[tuple[str, str], ...]:
    return (
        ("readinessProbe", f"/app-health/{name}/readyz"),
        ("livenessProbe", f"/app-health/{name}/livez"),
        ("startupProbe", f"/app-health/{name}/startupz"),
    )


def _hook_paths(name: JSON) -> tuple[tuple[str, str], ...]:
    return (
        ("preStop", f"/app-lifecycle/{name}/prestopz"),
        ("postStart", f"/app-lifecycle/{name}/poststartz"),
    )


def _restore_action(owner: dict[str, JSON], field: str, prober: JSON, path: str) -> None:
    probe = owner.get(field)
    if not isinstance(probe, dict) or not isinstance(prober, (dict, Mapping)):
        return
    http = probe.get("httpGet")
    if not isinstance(http, (dict, Mapping)) or http.get("path") != path:
        return
    restored = {k: v for k, v in probe.items() if k != "httpGet"}
    for kind in ("httpGet", "tcpSocket", "grpc"):
        if isinstance(prober.get(kind), (dict, Mapping)):
            restored[kind] = copy_json(prober[kind])
            break
    owner[field] = restored


def _restore_prometheus(pod: Pod, recorded: str | None) -> None:
    """Undo the Prometheus merge: the agent's scrape annotations go, the app's come back."""
    annotations = (pod.get("metadata") or {}).get("annotations")
    if not isinstance(annotations, dict) or annotations.get(PROMETHEUS_PATH) != AGENT_PATH:
        return
    for key in (PROMETHEUS_SCRAPE, PROMETHEUS_PORT, PROMETHEUS_PATH):
        annotations.pop(key, None)
    saved = _json_object(recorded) or {}
    for field, key in (
        ("scrape", PROMETHEUS_SCRAPE),
        ("path", PROMETHEUS_PATH),
        ("port", PROMETHEUS_PORT),
    ):
        if isinstance(saved.get(field), str) and saved[field]:
            annotations[key] = saved[field]


def _json_object(text: str | None) -> dict[str, JSON] | None:
    if not text:
        return None
    try:
        value = json.loads(text)
    except (ValueError, RecursionError):
        return None
    return value if isinstance(value, dict) else None


def _strip_everything(pod: Mapping[str, JSON]) -> Pod:
    """The pod without any item its status lists (all four kinds) and without the status."""
    result = copy_object(pod)
    status = status_of(result)
    if status is None:
        return result
    spec = result.setdefault("spec", {})
    for kind, names in status.by_kind().items():
        if kind in spec:
            kept = [item for item in spec[kind] or [] if _name(item) not in names]
            if kept:
                spec[kind] = kept
            else:
                del spec[kind]
    del result["metadata"]["annotations"][STATUS_KEY]
    if not result["metadata"]["annotations"]:
        del result["metadata"]["annotations"]
    return result


def _drop_keys(metadata: dict[str, JSON], field: str, keys: Sequence[str]) -> None:
    values = metadata.get(field)
    if not isinstance(values, dict):
        return
    for key in keys:
        values.pop(key, None)
    if not values:
        del metadata[field]


def _name(item: JSON) -> JSON:
    return item.get("name") if isinstance(item, (dict, Mapping)) else None


def _annotations(pod: Mapping[str, JSON]) -> Mapping[str, str]:
    return (pod.get("metadata") or {}).get("annotations") or {}


def _strings(items: JSON) -> tuple[str, ...]:
    return tuple(n for n in items if isinstance(n, str)) if isinstance(items, list) else ()


def _names(items: JSON) -> tuple[str, ...]:
    return tuple(i["name"] for i in items or () if isinstance(i, (dict, Mapping)) and "name" in i)
