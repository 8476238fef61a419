"""Istio's probe rewriting: the kubelet probes the agent, which probes the app.

With mutual TLS the kubelet cannot reach the app's HTTP, TCP or gRPC probes through the
sidecar, so each app probe (and HTTP/TCP lifecycle hook) is pointed at the agent's status port
under a per-container path, and the agent learns the original from the sidecar's
`ISTIO_KUBE_APP_PROBERS` env var: JSON of path -> prober, keys sorted as Go's map encoding does.
"""

from __future__ import annotations

import copy
import json
from collections.abc import Iterator, Mapping, MutableMapping
from typing import Any

from sidecar_injector.prometheus import parse_bool

JSON = Any

PROXY_NAME = "istio-proxy"
PROBERS_ENV = "ISTIO_KUBE_APP_PROBERS"
REWRITE_ANNOTATION = "sidecar.istio.io/rewriteAppHTTPProbers"
STATUS_PORT_ANNOTATION = "status.sidecar.istio.io/port"
STATUS_KEY = "sidecar.istio.io/status"

_PROBES = (("readinessProbe", "readyz"), ("livenessProbe", "livez"), ("startupProbe", "startupz"))
_HOOKS = (("preStop", "prestopz"), ("postStart", "poststartz"))
_HTTP_FIELDS = ("path", "port", "host", "scheme", "httpHeaders")
_TCP_FIELDS = ("port", "host")
_GRPC_FIELDS = ("port", "service")


def should_rewrite(annotations: Mapping[str, str], *, values: Mapping[str, JSON]) -> bool:
    """The pod's annotation when it parses as a bool, else the values' `rewriteAppHTTPProbe`."""
    given = annotations.get(REWRITE_ANNOTATION)
    parsed = parse_bool(given) if given is not None else None
    if parsed is not None:
        return parsed
    webhook = values.get("sidecarInjectorWebhook")
    return isinstance(webhook, (dict, Mapping)) and webhook.get("rewriteAppHTTPProbe") is True


def apply_rewrite(
    pod: MutableMapping[str, JSON],
    *,
    sidecar: MutableMapping[str, JSON] | None,
    status_port: int,
    values: Mapping[str, JSON],
    previously_injected: bool,
) -> None:
    """Istio's applyRewrite, in place: record the app probes on the sidecar, then repoint them.

    `status_port` is the mesh's (it tells already-rewritten probes apart); the probes are
    repointed at the pod's `status.sidecar.istio.io/port` when it sets one. On a pod injected
    before, entries already in the sidecar's env win over newly found ones.
    """
    if sidecar is None:
        return
    annotations = (pod.get("metadata") or {}).get("annotations") or {}
    if not should_rewrite(annotations, values=values):
        return
    probers = dump_probers(pod, status_port=status_port)
    if probers:
        _record(sidecar, probers, merge=previously_injected)
    target = _target_port(annotations, default=status_port)
    if target is None:
        return
    for container in _app_containers(pod):
        rewrite_container(container, status_port=target)


def dump_probers(pod: Mapping[str, JSON], *, status_port: int) -> dict[str, dict[str, JSON]]:
    """Istio's DumpAppProbers: each app probe and hook by its agent path, as the agent reads it.

    Named ports resolve through the container's ports (an unknown name drops the probe); exec
    probes and probes already on the status port are left out.
    """
    found: dict[str, dict[str, JSON]] = {}
    for container in _app_containers(pod):
        name = container.get("name")
        ports = _port_names(container)
        for field, suffix in _PROBES:
            prober = _prober(container.get(field), ports=ports, timeout=True)
            if prober is not None and _port_of(prober) != status_port:
                found[f"/app-health/{name}/{suffix}"] = prober
        lifecycle = container.get("lifecycle") or {}
        for field, suffix in _HOOKS:
            prober = _prober(lifecycle.get(field), ports=ports, timeout=False, grpc=False)
            if prober is not None and _port_of(prober) != status_port:
                found[f"/app-lifecycle/{name}/{suffix}"] = prober
    return found


def rewrite_container(container: MutableMapping[str, JSON], *, status_port: int) -> None:
    """Point the container's HTTP, TCP and gRPC probes and HTTP/TCP hooks at the agent."""
    name = container.get("name")
    for field, suffix in _PROBES:
        probe = container.get(field)
        if isinstance(probe, (dict, Mapping)):
            container[field] = _repoint(probe, f"/app-health/{name}/{suffix}", status_port, True)
    lifecycle = container.get("lifecycle")
    if isinstance(lifecycle, (dict, MutableMapping)):
        for field, suffix in _HOOKS:
            hook = lifecycle.get(field)
            if isinstance(hook, (dict, Mapping)):
                path = f"/app-lifecycle/{name}/{suffix}"
                lifecycle[field] = _repoint(hook, path, status_port, False)


def probers_json(probers: Mapping[str, Mapping[str, JSON]]) -> str:
    """Go's json.Marshal of map[string]*Prober: sorted keys, struct field order inside."""
    ordered = {key: _ordered_prober(probers[key]) for key in sorted(probers)}
    return json.dumps(ordered, separators=(",", ":"), ensure_ascii=False)


def _record(
    sidecar: MutableMapping[str, JSON], probers: dict[str, dict[str, JSON]], *, merge: bool
) -> None:
    env = sidecar.setdefault("env", [])
    existing = next(
        (e for e in env if isinstance(e, (dict, MutableMapping)) and e.get("name") == PROBERS_ENV),
        None,
    )
    if merge and existing is not None:
        try:
            old = json.loads(existing.get("value") or "{}")
        except (ValueError, RecursionError):
            old = None
        if isinstance(old, dict):
            existing["value"] = probers_json({**probers, **old})
            return
    env.append({"name": PROBERS_ENV, "value": probers_json(probers)})


def _prober(
    probe: JSON, *, ports: Mapping[str, int], timeout: bool, grpc: bool = True
) -> dict[str, JSON] | None:
    """Istio's Prober for a probe or hook: the first of httpGet, tcpSocket, grpc it has."""
    if not isinstance(probe, (dict, Mapping)):
        return None
    kinds = ("httpGet", "tcpSocket", "grpc") if grpc else ("httpGet", "tcpSocket")
    kind = next((k for k in kinds if isinstance(probe.get(k), (dict, Mapping))), None)
    if kind is None:
        return None
    action = dict(probe[kind])
    port = action.get("port")
    if isinstance(port, str) and kind != "grpc":
        if port not in ports:
            return None
        action["port"] = ports[port]
    prober: dict[str, JSON] = {kind: action}
    seconds = probe.get("timeoutSeconds")
    if timeout and isinstance(seconds, int) and seconds:
        prober["timeoutSeconds"] = seconds
    return prober


def _repoint(probe: Mapping[str, JSON], path: str, status_port: int, grpc: bool) -> dict[str, JSON]:
    result = copy.deepcopy(dict(probe))
    http = result.get("httpGet")
    if isinstance(http, dict):
        http["port"] = status_port
        http["path"] = path
        if http.get("scheme") == "HTTPS":
            http["scheme"] = "HTTP"
        return result
    for kind in ("tcpSocket", "grpc") if grpc else ("tcpSocket",):
        if isinstance(result.get(kind), (dict, Mapping)):
            del result[kind]
            result["httpGet"] = {"path": path, "port": status_port}
            return result
    return result


def _ordered_prober(prober: Mapping[str, JSON]) -> dict[str, JSON]:
    ordered: dict[str, JSON] = {}
    for kind, fields in (("httpGet", _HTTP_FIELDS), ("tcpSocket", _TCP_FIELDS)):
        if isinstance(prober.get(kind), (dict, Mapping)):
            ordered[kind] = _ordered_action(prober[kind], fields)
    if isinstance(prober.get("grpc"), (dict, Mapping)):
        grpc = _ordered_action(prober["grpc"], _GRPC_FIELDS)
        grpc.setdefault("port", 0)
        ordered["grpc"] = {"port": grpc.pop("port"), **grpc}
    if prober.get("timeoutSeconds"):
        ordered["timeoutSeconds"] = prober["timeoutSeconds"]
    return ordered


def _ordered_action(action: Mapping[str, JSON], fields: tuple[str, ...]) -> dict[str, JSON]:
    """Go's struct order; `port` is always written (IntOrString has no omitempty), the rest
    only when set."""
    ordered: dict[str, JSON] = {}
    for field in fields:
        value = action.get(field)
        if field == "port":
            ordered[field] = 0 if value is None else value
        elif value not in (None, "", [], {}):
            ordered[field] = value
    return ordered


def _target_port(annotations: Mapping[str, str], *, default: int) -> int | None:
    given = annotations.get(STATUS_PORT_ANNOTATION)
    if given is None:
        return default
    try:
        return int(given)
    except ValueError:
        return None


def _app_containers(pod: Mapping[str, JSON]) -> Iterator[MutableMapping[str, JSON]]:
    spec = pod.get("spec") or {}
    for kind in ("initContainers", "containers"):
        for container in spec.get(kind) or ():
            if (
                isinstance(container, (dict, MutableMapping))
                and container.get("name") != PROXY_NAME
            ):
                yield container


def _port_names(container: Mapping[str, JSON]) -> dict[str, int]:
    return {
        p["name"]: p.get("containerPort", 0)
        for p in container.get("ports") or ()
        if isinstance(p, (dict, Mapping)) and p.get("name")
    }


def _port_of(prober: Mapping[str, JSON]) -> JSON:
    action = next(iter(prober.values()))
    return action.get("port") if isinstance(action, (dict, Mapping)) else None
