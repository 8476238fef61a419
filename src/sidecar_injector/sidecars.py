"""Where injected containers end up: Istio's `reorderPod` and the native-sidecar move.

Container order is behaviour, not cosmetics: the proxy goes last so `kubectl exec` and `logs`
default to the app (first when the app must wait for the proxy); in the classic layout iptables
(`istio-init`) runs after the user's init containers so they still have network, while with
native sidecars (`istio-proxy` as an init container with `restartPolicy: Always`) the proxy
starts first so init containers are inside the mesh.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from typing import Any, Literal

JSON = Any

PROXY_NAME = "istio-proxy"
INIT_NAME = "istio-init"
VALIDATION_NAME = "istio-validation"
CORE_DUMP_NAME = "enable-core-dump"
NATIVE_MINIMUM_MINOR = 33
"""Native sidecars graduated to stable in Kubernetes 1.33."""
_VERSION = re.compile(r"v?(\d+)\.(\d+)(?:\.\d+)*(?:[-+].*)?")


def reorder(pod: Mapping[str, JSON], *, hold_application: bool = False) -> dict[str, JSON]:
    """The pod with Istio's container order; the input is not changed."""
    spec = dict(pod.get("spec") or {})
    if "containers" in spec:
        where: Literal["first", "last"] = "first" if hold_application else "last"
        spec["containers"] = _move(spec["containers"], PROXY_NAME, where)
    inits = spec.get("initContainers")
    if inits:
        if any(c.get("name") == PROXY_NAME for c in inits):
            for name in (CORE_DUMP_NAME, PROXY_NAME, VALIDATION_NAME, INIT_NAME):
                inits = _move(inits, name, "first")
        else:
            inits = _move(inits, VALIDATION_NAME, "first")
            inits = _move(inits, INIT_NAME, "last")
            inits = _move(inits, CORE_DUMP_NAME, "last")
        spec["initContainers"] = inits
    return {**pod, "spec": spec}


def move_proxy_to_init(pod: dict[str, JSON], *, template_inits: Sequence[JSON]) -> dict[str, JSON]:
    """When the templates put the proxy among init containers (native sidecars: its name is in
    `template_inits`) but the user customised it among containers, move the user's to the end
    of the init containers first, so that the two merge instead of the pod getting two proxies."""
    spec = pod.get("spec") or {}
    if PROXY_NAME not in template_inits:
        return pod
    containers = spec.get("containers") or []
    user = [c for c in containers if c.get("name") == PROXY_NAME]
    if not user:
        return pod
    new_spec = dict(spec)
    new_spec["containers"] = [c for c in containers if c.get("name") != PROXY_NAME]
    new_spec["initContainers"] = [*(spec.get("initContainers") or []), user[0]]
    return {**pod, "spec": new_spec}


def _move(containers: Sequence[JSON], name: str, where: Literal["first", "last"]) -> list[JSON]:
    moved = [c for c in containers if isinstance(c, (dict, Mapping)) and c.get("name") == name]
    rest = [c for c in containers if not (isinstance(c, (dict, Mapping)) and c.get("name") == name)]
    return [*moved, *rest] if where == "first" else [*rest, *moved]


def native_sidecars(
    mode: str, *, node_name: str = "", kubelet_versions: Mapping[str, str] | None
) -> bool:
    """Istio's `ENABLE_NATIVE_SIDECARS` (`true`, `false`, `auto`; `auto` when unset).

    In `auto` mode the pod's own node decides when it is already scheduled and known;
    otherwise every node's kubelet must be 1.33 or newer (and there must be a node).
    `kubelet_versions` (node name to `status.nodeInfo.kubeletVersion`) is None without a
    cluster to ask, which means no native sidecars, as for `istioctl kube-inject`.
    """
    choice = mode.strip().lower()
    if choice in ("true", "false"):
        return choice == "true"
    if kubelet_versions is None:
        return False
    if node_name and node_name in kubelet_versions:
        return _recent_enough(kubelet_versions[node_name])
    return bool(kubelet_versions) and all(map(_recent_enough, kubelet_versions.values()))


def kubelet_minor(version: str) -> int | None:
    """The minor version of a kubelet version string (`v1.33.2-eks-1` gives 33)."""
    match = _VERSION.fullmatch(version.strip())
    return int(match.group(2)) if match else None


def _recent_enough(version: str) -> bool:
    minor = kubelet_minor(version)
    return minor is not None and minor >= NATIVE_MINIMUM_MINOR
