"""A pod as the API server stores it, and the way back to the pod the webhook was sent.

A stored pod carries what the API server filled in after the webhook answered: Kubernetes'
defaults for every field left unset (`terminationMessagePath`, `fieldRef.apiVersion`, a
volume's `defaultMode`, probe thresholds, `requests` copied from `limits`, ...), the service
account token mounted into every container, a name made from `generateName`, a uid, a status.
Comparing a stored pod with a freshly injected one means filling in the same defaults on both
sides (`defaulted`), and injecting the pod as it was admitted (`as_admitted`), not as stored.

The defaults are Kubernetes' `pkg/apis/core/v1/defaults.go` for the parts an injector writes:
containers, init containers and volumes. Pod-level defaults are left alone: both sides of a
comparison inherit them from the stored pod.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from sidecar_injector import merge, quantity
from sidecar_injector.strategic import copy_object

JSON = Any
Pod = dict[str, Any]

TOKEN_MOUNT_PATH = "/var/run/secrets/kubernetes.io/serviceaccount"
"""Where the ServiceAccount admission plugin mounts the pod's token into every container."""
DEFAULT_MODE = 0o644
PROBE_DEFAULTS: Mapping[str, int] = {
    "timeoutSeconds": 1,
    "periodSeconds": 10,
    "successThreshold": 1,
    "failureThreshold": 3,
}
PROBES = ("livenessProbe", "readinessProbe", "startupProbe")
SET_AFTER_ADMISSION = (
    "uid",
    "resourceVersion",
    "generation",
    "creationTimestamp",
    "deletionTimestamp",
    "deletionGracePeriodSeconds",
    "managedFields",
    "selfLink",
)
"""Metadata the API server writes when it stores the pod, after every webhook has answered."""


def as_admitted(stored: Mapping[str, JSON]) -> Pod:
    """The pod the webhook was sent, as far as the stored pod tells: uninjected, without the
    metadata written on storage, without a generated name (the webhook sees `generateName`
    only), without a node (bound later) and without a status."""
    pod = merge.uninject(stored)
    pod.pop("status", None)
    metadata = pod.get("metadata")
    if isinstance(metadata, dict):
        for key in SET_AFTER_ADMISSION:
            metadata.pop(key, None)
        if metadata.get("generateName"):
            metadata.pop("name", None)
    spec = pod.get("spec")
    if isinstance(spec, dict):
        spec.pop("nodeName", None)
    return pod


def defaulted(pod: Mapping[str, JSON]) -> Pod:
    """A copy of `pod` whose containers, init containers and volumes have the API server's
    defaults; the token mount and an empty `resources` are removed instead, so that a pod
    stored with them and one injected without them compare equal."""
    result = copy_object(pod)
    spec = result.get("spec")
    if not isinstance(spec, dict):
        return result
    for kind in ("containers", "initContainers"):
        for container in _dicts(spec.get(kind)):
            default_container(container)
    for volume in _dicts(spec.get("volumes")):
        default_volume(volume)
    return result


def default_container(container: dict[str, JSON]) -> None:
    """SetDefaults_Container, _ContainerPort, _Probe, _HTTPGetAction, _ObjectFieldSelector and
    the Pod's requests-from-limits, in place."""
    container.setdefault("terminationMessagePath", "/dev/termination-log")
    container.setdefault("terminationMessagePolicy", "File")
    image = container.get("image")
    if "imagePullPolicy" not in container and isinstance(image, str):
        container["imagePullPolicy"] = pull_policy(image)
    for port in _dicts(container.get("ports")):
        port.setdefault("protocol", "TCP")
    for variable in _dicts(container.get("env")):
        _default_source(variable.get("valueFrom"))
    for name in PROBES:
        probe = container.get(name)
        if isinstance(probe, dict):
            for key, value in PROBE_DEFAULTS.items():
                probe.setdefault(key, value)
            _default_http(probe.get("httpGet"))
    lifecycle = container.get("lifecycle")
    if isinstance(lifecycle, dict):
        for hook in ("postStart", "preStop"):
            handler = lifecycle.get(hook)
            if isinstance(handler, dict):
                _default_http(handler.get("httpGet"))
    _default_resources(container)
    mounts = container.get("volumeMounts")
    if isinstance(mounts, list):
        kept = [m for m in mounts if not _token_mount(m)]
        if kept:
            container["volumeMounts"] = kept
        else:
            del container["volumeMounts"]


def pull_policy(image: str) -> str:
    """`Always` for an image without a tag or tagged `latest`, else `IfNotPresent`."""
    if "@" in image:
        return "IfNotPresent"
    name, _, tag = image.rpartition(":")
    if not name or "/" in tag:  # no tag; the colon was a registry's port
        return "Always"
    return "Always" if tag == "latest" else "IfNotPresent"


def default_volume(volume: dict[str, JSON]) -> None:
    """SetDefaults_Volume and its sources' defaults, in place."""
    if not any(key != "name" for key in volume):
        volume["emptyDir"] = {}
    for kind in ("secret", "configMap", "downwardAPI", "projected"):
        source = volume.get(kind)
        if isinstance(source, dict):
            source.setdefault("defaultMode", DEFAULT_MODE)
    downward = volume.get("downwardAPI")
    if isinstance(downward, dict):
        _default_items(downward.get("items"))
    projected = volume.get("projected")
    if isinstance(projected, dict):
        for source in _dicts(projected.get("sources")):
            inner = source.get("downwardAPI")
            if isinstance(inner, dict):
                _default_items(inner.get("items"))
            token = source.get("serviceAccountToken")
            if isinstance(token, dict):
                token.setdefault("expirationSeconds", 3600)
    host_path = volume.get("hostPath")
    if isinstance(host_path, dict):
        host_path.setdefault("type", "")


def _default_items(items: JSON) -> None:
    for item in _dicts(items):
        _default_field_ref(item.get("fieldRef"))
        _default_resource_ref(item.get("resourceFieldRef"))


def _default_source(source: JSON) -> None:
    if isinstance(source, dict):
        _default_field_ref(source.get("fieldRef"))
        _default_resource_ref(source.get("resourceFieldRef"))


def _default_field_ref(ref: JSON) -> None:
    if isinstance(ref, dict):
        ref.setdefault("apiVersion", "v1")


def _default_resource_ref(ref: JSON) -> None:
    """`divisor` is a Quantity value, not a pointer: Go writes its zero, `"0"`."""
    if isinstance(ref, dict):
        ref["divisor"] = quantity.canonical_or_same(ref.get("divisor", "0"))


def _default_http(action: JSON) -> None:
    if isinstance(action, dict):
        action.setdefault("path", "/")
        action.setdefault("scheme", "HTTP")


def _default_resources(container: dict[str, JSON]) -> None:
    resources = container.get("resources")
    if not isinstance(resources, dict):
        container.pop("resources", None)
        return
    limits = resources.get("limits")
    if isinstance(limits, dict) and limits:
        requests = resources.setdefault("requests", {})
        if isinstance(requests, dict):
            for name, amount in limits.items():
                requests.setdefault(name, amount)
    for key in ("limits", "requests"):
        amounts = resources.get(key)
        if isinstance(amounts, dict):
            resources[key] = {
                name: quantity.canonical_or_same(value) for name, value in amounts.items()
            }
        if not resources.get(key):
            resources.pop(key, None)
    if not resources:
        del container["resources"]


def _token_mount(mount: JSON) -> bool:
    return isinstance(mount, Mapping) and mount.get("mountPath") == TOKEN_MOUNT_PATH


def _dicts(items: JSON) -> list[dict[str, JSON]]:
    return [item for item in items if isinstance(item, dict)] if isinstance(items, list) else []
