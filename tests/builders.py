"""Builders for test inputs: a pod as the API server would send it, without pasting JSON."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

Pod = dict[str, Any]


def container(name: str, *, image: str | None = None, **fields: Any) -> dict[str, Any]:
    """A container; `fields` use the Kubernetes JSON names (`volumeMounts=[...]`)."""
    return {"name": name, "image": image or f"example.com/{name}:1.0", **fields}


def pod(
    *,
    name: str = "app",
    namespace: str | None = None,
    labels: Mapping[str, str] | None = None,
    annotations: Mapping[str, str] | None = None,
    containers: Iterable[str | dict[str, Any]] = ("app",),
    init_containers: Iterable[str | dict[str, Any]] = (),
    volumes: Iterable[dict[str, Any]] = (),
    host_network: bool | None = None,
    **spec: Any,
) -> Pod:
    """A Pod dict; names in `containers`/`init_containers` become `container(name)`."""
    metadata: dict[str, Any] = {"name": name}
    if namespace is not None:
        metadata["namespace"] = namespace
    if labels is not None:
        metadata["labels"] = dict(labels)
    if annotations is not None:
        metadata["annotations"] = dict(annotations)
    body: dict[str, Any] = {"containers": [_as_container(c) for c in containers]}
    inits = [_as_container(c) for c in init_containers]
    if inits:
        body["initContainers"] = inits
    if volumes:
        body["volumes"] = [dict(v) for v in volumes]
    if host_network is not None:
        body["hostNetwork"] = host_network
    body.update(spec)
    return {"apiVersion": "v1", "kind": "Pod", "metadata": metadata, "spec": body}


def _as_container(item: str | dict[str, Any]) -> dict[str, Any]:
    return container(item) if isinstance(item, str) else dict(item)
