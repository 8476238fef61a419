"""The user's own `istio-proxy`/`istio-init`: their fields win over the template's.

A pod may define a container with the name of one the template injects (typically
`istio-proxy`, to give it more memory or an extra mount). Istio merges the template first and
then re-applies the user's container on top, field by field (`reapplyOverwrittenContainers`),
and records what it re-applied in `proxy.istio.io/overrides` so that a later re-injection, which
strips the injected containers, can bring the user's version back (`reinsertOverrides`).
The annotation is Go's JSON of `corev1.Container`, so it is written in Go's field order here.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from typing import Any

from sidecar_injector import gojson, quantity
from sidecar_injector.strategic import POD, merge_map

JSON = Any

OVERRIDES_KEY = "proxy.istio.io/overrides"
AUTO_IMAGE = "auto"
PROXY_NAME = "istio-proxy"
INIT_NAME = "istio-init"
VALIDATION_NAME = "istio-validation"


def parse_overrides(annotations: Mapping[str, str]) -> dict[str, list[dict[str, JSON]]]:
    """The containers saved by an earlier injection; a broken annotation saves nothing."""
    text = annotations.get(OVERRIDES_KEY)
    if not text:
        return {"containers": [], "initContainers": []}
    try:
        saved = json.loads(text)
    except (ValueError, RecursionError):
        return {"containers": [], "initContainers": []}
    if not isinstance(saved, dict):
        return {"containers": [], "initContainers": []}
    return {
        kind: [c for c in saved.get(kind) or [] if isinstance(c, dict) and "name" in c]
        for kind in ("containers", "initContainers")
    }


def reinsert_overrides(pod: Mapping[str, JSON]) -> dict[str, JSON]:
    """Put saved user containers back into a stripped pod, so templates see what users wrote."""
    saved = parse_overrides((pod.get("metadata") or {}).get("annotations") or {})
    spec = dict(pod.get("spec") or {})
    for kind in ("containers", "initContainers"):
        present = {c.get("name") for c in spec.get(kind) or []}
        missing = [c for c in saved[kind] if c["name"] not in present]
        if missing:
            spec[kind] = [*(spec.get(kind) or []), *missing]
    return {**pod, "spec": spec}


def reapply_overwritten(
    merged: Mapping[str, JSON],
    *,
    original: Mapping[str, JSON],
    injected: Mapping[str, Sequence[JSON]],
    injected_status: Mapping[str, Sequence[str]] | None,
    tproxy: bool = False,
) -> dict[str, JSON]:
    """Re-apply the user's version of every container the templates also define.

    `injected` names what the templates put in `containers` and `initContainers`.
    `injected_status` is the parsed status of an already injected pod (None otherwise): its
    containers are Istio's own from last time, so the new template wins for them, except for
    what the user's saved overrides say. Istio skips those too, so re-injecting a pod whose
    user customised `istio-proxy` loses the customisation; keeping it makes re-injection
    idempotent, as SPEC §4 requires.
    """
    annotations = (original.get("metadata") or {}).get("annotations") or {}
    saved = parse_overrides(annotations)
    status = injected_status or {}
    applied: dict[str, list[dict[str, JSON]]] = {"containers": [], "initContainers": []}
    result = dict(merged)
    for kind in ("containers", "initContainers"):
        for name in injected.get(kind) or ():
            user = _find(saved[kind], name)
            if user is None and name not in (status.get(kind) or ()):
                user = _user_container(original, name, kind=kind)
            if user is None:
                continue
            overlay = {k: v for k, v in user.items() if not (k == "image" and v == AUTO_IMAGE)}
            applied[kind].append(overlay)
            result = merge_map(result, {"spec": {kind: [overlay]}}, schema=POD, pointer="")
    if injected_status is None and (applied["containers"] or applied["initContainers"]):
        result = _with_annotation(result, OVERRIDES_KEY, overrides_json(applied))
    return _adjust_init_user(result, original=original, tproxy=tproxy)


def _user_container(pod: Mapping[str, JSON], name: str, *, kind: str) -> dict[str, JSON] | None:
    spec = pod.get("spec") or {}
    found = _find(spec.get(kind) or [], name)
    if found is None and kind == "initContainers":
        found = _find(spec.get("containers") or [], name)
    return found


def _adjust_init_user(
    pod: dict[str, JSON], *, original: Mapping[str, JSON], tproxy: bool
) -> dict[str, JSON]:
    """Keep iptables' `-u` and the validation container's user in line with the user's proxy."""
    user = _find_sidecar(original.get("spec") or {})
    context = (user or {}).get("securityContext") or {}
    run_as_user, run_as_group = context.get("runAsUser"), context.get("runAsGroup")
    if run_as_user is None and run_as_group is None:
        return pod
    spec = dict(pod.get("spec") or {})
    inits = [dict(c) for c in spec.get("initContainers") or []]
    init = _find(inits, INIT_NAME) or _find(inits, VALIDATION_NAME)
    if init is None:
        return pod
    annotations = (pod.get("metadata") or {}).get("annotations") or {}
    tproxy = tproxy or annotations.get("sidecar.istio.io/interceptionMode") == "TPROXY"
    if tproxy and run_as_user is not None:
        containers = [dict(c) for c in spec.get("containers") or []]
        spec["containers"] = containers
        proxy = _find(containers, PROXY_NAME) or _find(inits, PROXY_NAME)
        if proxy is not None:
            proxy["securityContext"] = {**(proxy.get("securityContext") or {}), "runAsUser": 0}
    if not tproxy and init["name"] == VALIDATION_NAME:
        updates = {"runAsUser": run_as_user, "runAsGroup": run_as_group}
        init["securityContext"] = {
            **(init.get("securityContext") or {}),
            **{k: v for k, v in updates.items() if v is not None},
        }
    if run_as_user:
        args = list(init.get("args") or [])
        if "-u" in args[:-1]:
            args[args.index("-u") + 1] = str(run_as_user)
            init["args"] = args
    spec["initContainers"] = inits
    return {**pod, "spec": spec}


def _find_sidecar(spec: Mapping[str, JSON]) -> dict[str, JSON] | None:
    """The proxy container, classic or native (Istio's FindSidecar)."""
    return _find(spec.get("containers") or [], PROXY_NAME) or _find(
        spec.get("initContainers") or [], PROXY_NAME
    )


def _with_annotation(pod: Mapping[str, JSON], key: str, value: str) -> dict[str, JSON]:
    metadata = dict(pod.get("metadata") or {})
    metadata["annotations"] = {**(metadata.get("annotations") or {}), key: value}
    return {**pod, "metadata": metadata}


def _find(containers: Sequence[JSON], name: str) -> dict[str, JSON] | None:
    for container in containers:
        if isinstance(container, dict) and container.get("name") == name:
            return container
    return None


# Go's `encoding/json` writes struct fields in declaration order; these are corev1's.
_ORDER: dict[str, Sequence[str]] = {
    "Container": [
        "name",
        "image",
        "command",
        "args",
        "workingDir",
        "ports",
        "envFrom",
        "env",
        "resources",
        "resizePolicy",
        "restartPolicy",
        "restartPolicyRules",
        "volumeMounts",
        "volumeDevices",
        "livenessProbe",
        "readinessProbe",
        "startupProbe",
        "lifecycle",
        "terminationMessagePath",
        "terminationMessagePolicy",
        "imagePullPolicy",
        "securityContext",
        "stdin",
        "stdinOnce",
        "tty",
    ],
    "Probe": [
        "exec",
        "httpGet",
        "tcpSocket",
        "grpc",
        "initialDelaySeconds",
        "timeoutSeconds",
        "periodSeconds",
        "successThreshold",
        "failureThreshold",
        "terminationGracePeriodSeconds",
    ],
    "HTTPGetAction": ("path", "port", "host", "scheme", "httpHeaders"),
    "ContainerPort": ("name", "hostPort", "containerPort", "protocol", "hostIP"),
    "EnvVar": ("name", "value", "valueFrom"),
    "VolumeMount": [
        "name",
        "readOnly",
        "recursiveReadOnly",
        "mountPath",
        "subPath",
        "mountPropagation",
        "subPathExpr",
    ],
    "ResourceRequirements": ("limits", "requests", "claims"),
    "SecurityContext": [
        "capabilities",
        "privileged",
        "seLinuxOptions",
        "windowsOptions",
        "runAsUser",
        "runAsGroup",
        "runAsNonRoot",
        "readOnlyRootFilesystem",
        "allowPrivilegeEscalation",
        "procMount",
        "seccompProfile",
        "appArmorProfile",
    ],
    "Capabilities": ("add", "drop"),
    "Lifecycle": ("postStart", "preStop", "stopSignal"),
    "LifecycleHandler": ("exec", "httpGet", "tcpSocket", "sleep"),
}
_CHILDREN: dict[str, dict[str, str]] = {
    "Container": {
        "ports": "ContainerPort",
        "env": "EnvVar",
        "resources": "ResourceRequirements",
        "volumeMounts": "VolumeMount",
        "livenessProbe": "Probe",
        "readinessProbe": "Probe",
        "startupProbe": "Probe",
        "lifecycle": "Lifecycle",
        "securityContext": "SecurityContext",
    },
    "Probe": {"httpGet": "HTTPGetAction"},
    "SecurityContext": {"capabilities": "Capabilities"},
    "Lifecycle": {"postStart": "LifecycleHandler", "preStop": "LifecycleHandler"},
    "LifecycleHandler": {"httpGet": "HTTPGetAction"},
}


def overrides_json(applied: Mapping[str, Sequence[Mapping[str, JSON]]]) -> str:
    """`{"containers":[...],"initContainers":[...]}` as Go marshals it (empty lists omitted)."""
    document: dict[str, JSON] = {}
    for kind in ("containers", "initContainers"):
        if applied.get(kind):
            document[kind] = [go_ordered(c, "Container") for c in applied[kind]]
    return go_json(document)


def go_json(value: JSON) -> str:
    """Compact JSON as Go's `json.Marshal` writes it; mappings keep their (struct) order."""
    return gojson.marshal(value, sort_keys=False)


def go_ordered(value: JSON, type_name: str) -> JSON:
    """Keys in the Go struct's order, unknown keys after; a Container always has `resources`."""
    if isinstance(value, list):
        return [go_ordered(item, type_name) for item in value]
    if not isinstance(value, Mapping):
        return value
    order = _ORDER.get(type_name, ())
    children = _CHILDREN.get(type_name, {})
    source = dict(value)
    if type_name == "Container":
        source.setdefault("resources", {})
    keys = [k for k in order if k in source] + [k for k in source if k not in order]
    if type_name == "ResourceRequirements":
        return {k: _canonical_quantities(source[k]) for k in keys if source[k] is not None}
    return {
        k: go_ordered(source[k], children.get(k, ""))
        for k in keys
        if source[k] is not None and not (k in _OMITTED_WHEN_FALSE and source[k] is False)
    }


_OMITTED_WHEN_FALSE = frozenset({"stdin", "stdinOnce", "tty", "readOnly"})


def _canonical_quantities(values: JSON) -> JSON:
    if not isinstance(values, Mapping):
        return values
    result: dict[str, JSON] = {}
    for name, amount in sorted(values.items()):  # Go writes map keys sorted
        try:
            result[name] = quantity.canonical(amount)
        except (quantity.QuantityError, TypeError):
            result[name] = amount
    return result
