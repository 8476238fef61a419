"""Containers as Istio 1.0 held them: decoded into Kubernetes 1.10's Go types.

Istio 1.0 decoded the rendered template into `SidecarInjectionSpec` through sigs.k8s.io/yaml
and the Kubernetes 1.10 structs, so a field those structs lacked vanished (the 1.0 templates'
`restartPolicy: Always`, indented under `securityContext`, is the famous one), a number where a
string belongs became that string (`- 15000` in `args`), and a null became Go's zero value.
The 1.0 goldens encode all three; `typed_container` reproduces them for what the templates
render. Volumes are taken as rendered (their many sources are not modelled).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from sidecar_injector.strategic import as_typed

JSON = Any

_FIELDS: dict[str, str] = {
    "Container": (
        "name image command args workingDir ports envFrom env resources volumeMounts "
        "volumeDevices livenessProbe readinessProbe lifecycle terminationMessagePath "
        "terminationMessagePolicy imagePullPolicy securityContext stdin stdinOnce tty"
    ),
    "ContainerPort": "name hostPort containerPort protocol hostIP",
    "EnvVar": "name value valueFrom",
    "EnvVarSource": "fieldRef resourceFieldRef configMapKeyRef secretKeyRef",
    "ObjectFieldSelector": "apiVersion fieldPath",
    "ResourceFieldSelector": "containerName resource divisor",
    "KeySelector": "name key optional",
    "EnvFromSource": "prefix configMapRef secretRef",
    "LocalObjectReference": "name optional",
    "ResourceRequirements": "limits requests",
    "VolumeMount": "name readOnly mountPath subPath mountPropagation",
    "VolumeDevice": "name devicePath",
    "Probe": (
        "exec httpGet tcpSocket initialDelaySeconds timeoutSeconds periodSeconds "
        "successThreshold failureThreshold"
    ),
    "ExecAction": "command",
    "HTTPGetAction": "path port host scheme httpHeaders",
    "HTTPHeader": "name value",
    "TCPSocketAction": "port host",
    "Lifecycle": "postStart preStop",
    "Handler": "exec httpGet tcpSocket",
    "SecurityContext": (
        "capabilities privileged seLinuxOptions runAsUser runAsGroup runAsNonRoot "
        "readOnlyRootFilesystem allowPrivilegeEscalation"
    ),
    "Capabilities": "add drop",
    "SELinuxOptions": "user role type level",
}
_CHILDREN: dict[str, dict[str, str]] = {
    "Container": {
        "ports": "ContainerPort",
        "envFrom": "EnvFromSource",
        "env": "EnvVar",
        "resources": "ResourceRequirements",
        "volumeMounts": "VolumeMount",
        "volumeDevices": "VolumeDevice",
        "livenessProbe": "Probe",
        "readinessProbe": "Probe",
        "lifecycle": "Lifecycle",
        "securityContext": "SecurityContext",
    },
    "EnvVar": {"valueFrom": "EnvVarSource"},
    "EnvVarSource": {
        "fieldRef": "ObjectFieldSelector",
        "resourceFieldRef": "ResourceFieldSelector",
        "configMapKeyRef": "KeySelector",
        "secretKeyRef": "KeySelector",
    },
    "EnvFromSource": {"configMapRef": "LocalObjectReference", "secretRef": "LocalObjectReference"},
    "Probe": {"exec": "ExecAction", "httpGet": "HTTPGetAction", "tcpSocket": "TCPSocketAction"},
    "HTTPGetAction": {"httpHeaders": "HTTPHeader"},
    "Lifecycle": {"postStart": "Handler", "preStop": "Handler"},
    "Handler": {"exec": "ExecAction", "httpGet": "HTTPGetAction", "tcpSocket": "TCPSocketAction"},
    "SecurityContext": {"capabilities": "Capabilities", "seLinuxOptions": "SELinuxOptions"},
}
_STRINGS: dict[str, frozenset[str]] = {
    "Container": frozenset({"args", "command", "name", "image", "workingDir"}),
    "EnvVar": frozenset({"name", "value"}),
    "ExecAction": frozenset({"command"}),
    "Capabilities": frozenset({"add", "drop"}),
    "HTTPHeader": frozenset({"name", "value"}),
}


def typed_container(container: Mapping[str, JSON]) -> dict[str, JSON]:
    """`container` as 1.0 held it: known fields only, strings where Go wants them, and
    `resources` always present (Go writes the empty struct as `{}`)."""
    typed: dict[str, JSON] = _typed(as_typed(container), "Container")
    typed.setdefault("resources", {})
    return typed


def _typed(value: JSON, type_name: str) -> JSON:
    if isinstance(value, list):
        return [_typed(item, type_name) for item in value]
    if not isinstance(value, Mapping):
        return value
    fields = _FIELDS[type_name].split()
    children = _CHILDREN.get(type_name, {})
    strings = _STRINGS.get(type_name, frozenset())
    result: dict[str, JSON] = {}
    for key, item in value.items():
        if key not in fields:
            continue
        if key in children:
            item = _typed(item, children[key])
        elif key in strings:
            item = [go_string(i) for i in item] if isinstance(item, list) else go_string(item)
        result[key] = item
    return result


def go_string(value: JSON) -> JSON:
    """A scalar where Go wants a string, as sigs.k8s.io/yaml writes it for a string field."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int):
        return str(value)
    if isinstance(value, float):
        return str(int(value)) if value.is_integer() else repr(value)
    return value
