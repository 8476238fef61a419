"""The Istio kit in process: kube-inject gives Istio's golden for the bare-Pod cases, and for
every case of both suites the webhook admits each pod with what kube-inject writes into its
template.

The webhook sees the pod a controller creates (owner reference, generateName, the controller's
labels); kube-inject sees the workload. Their only expected differences are kube-inject's Go
re-marshalling (`status: {}`, `resources: {}`, `creationTimestamp: null`, which
`workloads.add_go_zero_values` adds to the webhook's pod too) and the two that Istio has as well,
each handled below where it applies. The full kit runs in `scripts/conformance`.
"""

from __future__ import annotations

import copy
import json
from pathlib import Path
from typing import Any

import jsonpatch
import orjson
import pytest
import yaml

from sidecar_injector import config, decision, workloads
from sidecar_injector.admission import pipeline
from tests.conftest import KIT, NO_KIT

MODERN = KIT / "modern"


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


@pytest.mark.skipif(not CASES, reason=NO_KIT)
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


SUITES = ("modern", "legacy-1.0")


def _kit_cases() -> list[tuple[str, dict[str, Any]]]:
    """Every case of both suites with a golden: the input kube-inject succeeds on."""
    found: list[tuple[str, dict[str, Any]]] = []
    for suite in SUITES:
        manifest = KIT / suite / "cases" / "manifest.json"
        if manifest.exists():
            cases = json.loads(manifest.read_text())
            found += [(suite, case) for case in cases if case.get("golden")]
    return found


KIT_CASES = _kit_cases()


def _settings_file(suite: str, case: dict[str, Any], name: str) -> Path:
    """The case's own settings file, else the suite's (the kit's runner does the same)."""
    own_dir = case.get("settings_dir")
    if isinstance(own_dir, str):
        own = KIT / suite / "cases" / own_dir / name
        if own.exists():
            return own
    return KIT / suite / "config" / name


def _case_settings(suite: str, case: dict[str, Any]) -> config.Config:
    return config.load_files(
        config=_settings_file(suite, case, "config.yaml"),
        values=_settings_file(suite, case, "values.json"),
        mesh=_settings_file(suite, case, "mesh.yaml"),
        env=case.get("env") or {},
    )


UID = "00000000-0000-4000-8000-000000000001"
TEMPLATE_HASH = "5d4f8b9c7"
JOB_SUFFIX = "29100000"
"""The suffix a CronJob's controller gives each Job: the scheduled time in minutes."""


def _controller(template: workloads.PodTemplate) -> tuple[dict[str, Any], dict[str, str]]:
    """The ownerReference and the extra labels of the pod the workload's controller creates."""
    kind, name, api_version = template.kind, template.name, template.api_version
    labels: dict[str, str] = {}
    if kind == "Deployment":
        kind, name = "ReplicaSet", f"{name}-{TEMPLATE_HASH}"
        labels["pod-template-hash"] = TEMPLATE_HASH
    elif kind == "CronJob":
        kind, name, api_version = "Job", f"{name}-{JOB_SUFFIX}", "batch/v1"
    elif kind == "DeploymentConfig":
        labels["deploymentconfig"] = name
        kind, name, api_version = "ReplicationController", f"{name}-1", "v1"
    owner = {"apiVersion": api_version, "kind": kind, "name": name, "uid": UID, "controller": True}
    return owner, labels


def _admitted_pod(template: workloads.PodTemplate, settings: config.Config) -> dict[str, Any]:
    """The pod the webhook lets its controller create, in kube-inject's Go shape, with what the
    controller and the API server added taken off again."""
    pod: dict[str, Any] = {"apiVersion": "v1", "kind": "Pod", **copy.deepcopy(template.pod)}
    metadata = pod["metadata"]
    metadata.pop("creationTimestamp", None)
    namespace = template.namespace or "default"
    added: dict[str, str] = {}
    if template.kind != "Pod":
        owner, added = _controller(template)
        metadata["labels"] = {**(metadata.get("labels") or {}), **added}
        metadata["generateName"] = f"{owner['name']}-"
        metadata["ownerReferences"] = [owner]
    admitted = pipeline.InjectionPipeline(settings).admit(pod, namespace=namespace, params={})
    if admitted.patch is not None:
        pod = jsonpatch.apply_patch(pod, orjson.loads(admitted.patch))
    era: workloads.Era = "legacy" if settings.injection.format == "legacy" else "modern"
    workloads.add_go_zero_values(pod, era=era)
    if template.kind != "Pod":
        for key in ("generateName", "ownerReferences"):
            del pod["metadata"][key]
    labels = pod["metadata"].get("labels") or {}
    for key, value in added.items():
        assert labels.pop(key) == value
    if not labels:
        pod["metadata"].pop("labels", None)
    pod["metadata"].pop("creationTimestamp", None)
    return pod


def _skipped(template: workloads.PodTemplate, settings: config.Config) -> dict[str, Any] | None:
    """Istio 1.0's kube-inject injected pods that say `sidecar.istio.io/inject: "false"` (the kit's
    goldens expect it); its webhook, like ours, leaves them alone: the template, in Go's shape."""
    annotations = template.pod["metadata"].get("annotations") or {}
    if settings.injection.format != "legacy" or annotations.get(decision.INJECT_KEY) != "false":
        return None
    pod = {"apiVersion": "v1", "kind": "Pod", **copy.deepcopy(template.pod)}
    workloads.add_go_zero_values(pod, era="legacy")
    return pod


def _as_the_webhook_names_it(template: workloads.PodTemplate, pod: dict[str, Any]) -> None:
    """Istio's one documented difference: the webhook knows a DeploymentConfig only through the
    pod's ReplicationController, so the owner URL keeps the controller's `v1` (reference 3.2)."""
    if template.kind != "DeploymentConfig":
        return
    theirs = f"kubernetes://apis/{template.api_version}/"
    for container in pod["spec"].get("initContainers", []) + pod["spec"]["containers"]:
        for env in container.get("env", []):
            if env["name"] == "ISTIO_META_OWNER" and env["value"].startswith(theirs):
                env["value"] = "kubernetes://apis/v1/" + env["value"][len(theirs) :]


@pytest.mark.skipif(not KIT_CASES, reason=NO_KIT)
@pytest.mark.parametrize(
    "suite, case", KIT_CASES, ids=lambda c: c if isinstance(c, str) else c["name"]
)
def test_webhook_gives_the_pod_kube_inject_gives(suite: str, case: dict[str, Any]) -> None:
    """For each pod of each kit case, the webhook admits the pod its controller creates from the
    input's template with the metadata and spec kube-inject writes into that template."""
    settings = _case_settings(suite, case)
    text = (KIT / suite / "cases" / case["input"]).read_text()
    wanted = list(workloads.iter_pod_templates(workloads.kube_inject(text, settings=settings).text))
    given = list(workloads.iter_pod_templates(text))
    assert len(given) == len(wanted)
    for template, injected in zip(given, wanted, strict=True):
        pod = _admitted_pod(template, settings)
        expected = copy.deepcopy(_skipped(template, settings) or injected.pod)
        expected["metadata"].pop("creationTimestamp", None)
        _as_the_webhook_names_it(template, expected)
        assert pod["metadata"] == expected["metadata"], template.title
        assert pod["spec"] == expected["spec"], template.title
