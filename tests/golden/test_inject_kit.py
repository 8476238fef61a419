"""The Istio kit's bare-Pod cases in process: kube-inject gives Istio's golden, and the webhook's
patch gives the same pod as kube-inject.

A Pod has no owner workload for kube-inject to describe, so both paths see the same input; the
only expected difference is kube-inject's Go re-marshalling (`status: {}`, `resources: {}`,
`creationTimestamp: null`), which `workloads.add_go_zero_values` adds to the webhook's pod too.
The full kit (every workload kind and setting) runs in `scripts/conformance`.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

import jsonpatch
import orjson
import pytest
import yaml

from sidecar_injector import config, workloads
from sidecar_injector.admission import pipeline

SHARED = Path(os.environ.get("SHARED_DIR", Path(__file__).resolve().parents[3] / "shared"))
MODERN = SHARED / "conformance" / "istio" / "modern"


class _Loader(yaml.CSafeLoader):
    """The kit's comparison: timestamps stay strings."""


_Loader.add_constructor(
    "tag:yaml.org,2002:timestamp",
    lambda loader, node: loader.construct_scalar(node),  # type: ignore[arg-type]
)


def _pod_cases() -> list[dict[str, Any]]:
    manifest = MODERN / "cases" / "manifest.json"
    if not manifest.exists():
        return []
    cases = json.loads(manifest.read_text())
    return [
        case
        for case in cases
        if case.get("golden")
        and case.get("settings_dir") is None
        and not case.get("expect_error")
        and _kind(MODERN / "cases" / case["input"]) == "Pod"
    ]


def _kind(path: Path) -> str | None:
    docs = _documents(path.read_text())
    return docs[0].get("kind") if len(docs) == 1 and isinstance(docs[0], dict) else None


def _documents(text: str) -> list[Any]:
    return [doc for doc in yaml.load_all(text, Loader=_Loader) if doc is not None]


def _one(text: str) -> Any:
    (doc,) = _documents(text)
    return doc


CASES = _pod_cases()


@pytest.fixture(scope="module")
def settings() -> dict[str, config.Config]:
    """The kit's default settings, per ENABLE_NATIVE_SIDECARS value (loaded once each)."""
    loaded: dict[str, config.Config] = {}
    for case in CASES:
        native = case["env"].get("ENABLE_NATIVE_SIDECARS", "")
        if native not in loaded:
            loaded[native] = config.load_files(
                config=MODERN / "config" / "config.yaml",
                values=MODERN / "config" / "values.json",
                mesh=MODERN / "config" / "mesh.yaml",
                env={"ENABLE_NATIVE_SIDECARS": native} if native else {},
            )
    return loaded


@pytest.mark.skipif(not CASES, reason="the Istio kit is not in ../shared")
@pytest.mark.parametrize("case", CASES, ids=lambda c: c["name"])
def test_kube_inject_and_webhook_give_istios_pod(
    case: dict[str, Any], settings: dict[str, config.Config]
) -> None:
    current = settings[case["env"].get("ENABLE_NATIVE_SIDECARS", "")]
    text = (MODERN / "cases" / case["input"]).read_text()
    golden = _one((MODERN / "cases" / case["golden"]).read_text())
    injected = _one(workloads.kube_inject(text, settings=current).text)
    assert injected == golden

    pod = _one(text)
    admitted = pipeline.InjectionPipeline(current).admit(pod, namespace="default", params={})
    webhook_pod = pod
    if admitted.patch is not None:
        webhook_pod = jsonpatch.apply_patch(pod, orjson.loads(admitted.patch))
    workloads.add_go_zero_values(webhook_pod, era="modern")
    assert webhook_pod == injected


def _deployment_cases() -> list[dict[str, Any]]:
    manifest = MODERN / "cases" / "manifest.json"
    if not manifest.exists():
        return []
    return [
        case
        for case in json.loads(manifest.read_text())
        if case.get("golden")
        and case.get("settings_dir") is None
        and not case.get("expect_error")
        and _kind(MODERN / "cases" / case["input"]) == "Deployment"
    ]


DEPLOYMENTS = _deployment_cases()
TEMPLATE_HASH = "5d4f8b9c7"


def _replica_pod(deployment: dict[str, Any]) -> dict[str, Any]:
    """The pod a ReplicaSet of `deployment` would create from its template."""
    name = deployment["metadata"]["name"]
    replica_set = f"{name}-{TEMPLATE_HASH}"
    template = deployment["spec"]["template"]
    metadata = dict(template.get("metadata") or {})
    metadata.pop("creationTimestamp", None)
    metadata["labels"] = {**(metadata.get("labels") or {}), "pod-template-hash": TEMPLATE_HASH}
    metadata["generateName"] = f"{replica_set}-"
    metadata["namespace"] = deployment["metadata"].get("namespace", "default")
    metadata["ownerReferences"] = [
        {
            "apiVersion": "apps/v1",
            "kind": "ReplicaSet",
            "name": replica_set,
            "uid": "00000000-0000-4000-8000-000000000001",
            "controller": True,
        }
    ]
    return {"apiVersion": "v1", "kind": "Pod", "metadata": metadata, "spec": template["spec"]}


@pytest.mark.skipif(not DEPLOYMENTS, reason="the Istio kit is not in ../shared")
@pytest.mark.parametrize("case", DEPLOYMENTS, ids=lambda c: c["name"])
def test_webhook_gives_kube_injects_pod_for_deployments(
    case: dict[str, Any], settings: dict[str, config.Config]
) -> None:
    current = settings[case["env"].get("ENABLE_NATIVE_SIDECARS", "")]
    text = (MODERN / "cases" / case["input"]).read_text()
    injected = _one(workloads.kube_inject(text, settings=current).text)["spec"]["template"]

    pod = _replica_pod(_one(text))
    namespace = pod["metadata"]["namespace"]
    admitted = pipeline.InjectionPipeline(current).admit(pod, namespace=namespace, params={})
    webhook_pod = pod
    if admitted.patch is not None:
        webhook_pod = jsonpatch.apply_patch(pod, orjson.loads(admitted.patch))
    workloads.add_go_zero_values(webhook_pod, era="modern")
    for key in ("generateName", "namespace", "ownerReferences"):
        webhook_pod["metadata"].pop(key)
    labels = webhook_pod["metadata"]["labels"]
    assert labels.pop("pod-template-hash") == TEMPLATE_HASH
    if not labels:
        del webhook_pod["metadata"]["labels"]
    assert webhook_pod["metadata"] == injected["metadata"]
    assert webhook_pod["spec"] == injected["spec"]
