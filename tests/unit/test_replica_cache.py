"""The replica cache: identical pods answered once per config, exactly as without the cache."""

from __future__ import annotations

from typing import Any

import jsonpatch
import orjson
import pytest

from sidecar_injector import config, gotemplate
from sidecar_injector.admission import pipeline

CLOCK_TEMPLATE = """\
templates:
  sidecar: |
    metadata:
      annotations:
        injected-at: {{ now | date "2006-01-02T15:04:05.000000000" | quote }}
    spec:
      containers:
      - name: istio-proxy
        image: proxy
"""


@pytest.fixture(scope="module")
def default_config() -> config.Config:
    return config.load_default()


def replica(**labels: str) -> dict[str, Any]:
    """A pod as a ReplicaSet sends it: no name yet, generateName and the template's labels."""
    return {
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {"generateName": "web-5d4f8b9c7-", "labels": {"app": "web", **labels}},
        "spec": {"containers": [{"name": "web", "image": "nginx"}]},
    }


def admit(work: pipeline.InjectionPipeline, pod: dict[str, Any], namespace: str = "shop") -> Any:
    return work.admit(pod, namespace=namespace, params={})


def test_an_identical_replica_gets_the_remembered_answer(default_config: config.Config) -> None:
    work = pipeline.InjectionPipeline(default_config)
    first = admit(work, replica())
    assert first.inject and first.patch
    assert admit(work, replica()) is first
    uncached = admit(pipeline.InjectionPipeline(default_config, cache_entries=0), replica())
    assert uncached == first
    assert uncached is not first


@pytest.mark.parametrize(
    ("other", "namespace", "params"),
    [
        (replica(version="v2"), "shop", {}),
        (replica(), "other", {}),
        (replica(), "shop", {"cluster": "c2"}),
    ],
    ids=["another-label", "another-namespace", "another-path-parameter"],
)
def test_anything_the_answer_reads_is_part_of_the_key(
    default_config: config.Config, other: dict[str, Any], namespace: str, params: dict[str, str]
) -> None:
    work = pipeline.InjectionPipeline(default_config)
    first = work.admit(replica(), namespace="shop", params={})
    second = work.admit(other, namespace=namespace, params=params)
    assert second is not first
    fresh = pipeline.InjectionPipeline(default_config, cache_entries=0)
    assert second == fresh.admit(other, namespace=namespace, params=params)


def test_a_reload_forgets_every_answer(default_config: config.Config) -> None:
    work = pipeline.InjectionPipeline(default_config)
    assert admit(work, replica()).inject
    work.swap(config.load(config="policy: disabled\ntemplates:\n  sidecar: '{}'\n"))
    answer = admit(work, replica())
    assert not answer.inject
    assert answer.reason == "policyDisabled"


def test_the_least_recently_used_answer_goes_first(default_config: config.Config) -> None:
    work = pipeline.InjectionPipeline(default_config, cache_entries=2)
    first = admit(work, replica(n="1"))
    second = admit(work, replica(n="2"))
    assert admit(work, replica(n="1")) is first
    admit(work, replica(n="3"))
    assert admit(work, replica(n="1")) is first
    assert admit(work, replica(n="2")) is not second


def test_a_big_pod_is_not_remembered(default_config: config.Config) -> None:
    pod = replica()
    pod["metadata"]["annotations"] = {"note": "x" * pipeline.CACHE_MAX_POD_BYTES}
    work = pipeline.InjectionPipeline(default_config)
    first = admit(work, pod)
    assert admit(work, pod) is not first
    assert admit(work, pod) == first


def test_templates_that_read_the_clock_get_no_cache() -> None:
    clock = config.load(config=CLOCK_TEMPLATE)
    assert not clock.injection.deterministic
    assert pipeline.ReplicaCache.for_config(clock, 128) is None
    work = pipeline.InjectionPipeline(clock)
    assert admit(work, replica()) is not admit(work, replica())


def test_the_embedded_default_is_deterministic(default_config: config.Config) -> None:
    assert default_config.injection.deterministic
    assert pipeline.ReplicaCache.for_config(default_config, 128) is not None
    assert pipeline.ReplicaCache.for_config(default_config, 0) is None


@pytest.mark.parametrize(
    ("text", "functions"),
    [
        ("{{ .A }}", set()),
        ('{{ upper "a" | quote }}', {"upper", "quote"}),
        ("{{ (index .A 0).B }}{{ if not .C }}{{ len .D }}{{ end }}", {"index", "not", "len"}),
        (
            '{{ define "x" }}{{ randAlpha 3 }}{{ end }}{{ template "x" (dict) }}',
            {"randAlpha", "dict"},
        ),
        ("{{ range $i, $v := .L }}{{ else }}{{ with .M }}{{ now }}{{ end }}{{ end }}", {"now"}),
    ],
)
def test_a_template_names_the_functions_it_calls(text: str, functions: set[str]) -> None:
    template = gotemplate.parse(text)
    assert template.functions == functions
    assert template.deterministic == (not functions & {"randAlpha", "now"})


def proxy_place(answer: Any) -> str:
    """Where the patch puts istio-proxy: `containers` or `initContainers` (native)."""
    pod = jsonpatch.apply_patch(replica(), orjson.loads(answer.patch))
    if any(c["name"] == "istio-proxy" for c in pod["spec"].get("initContainers", [])):
        return "initContainers"
    assert any(c["name"] == "istio-proxy" for c in pod["spec"]["containers"])
    return "containers"


def test_native_sidecars_follow_the_nodes_kubelets_and_forget_older_answers() -> None:
    auto = config.load(env={"ENABLE_NATIVE_SIDECARS": "auto"})
    work = pipeline.InjectionPipeline(auto)
    assert proxy_place(admit(work, replica())) == "containers"
    work.observe_nodes({"a": "v1.33.0", "b": "v1.34.1"})
    assert proxy_place(admit(work, replica())) == "initContainers"
    work.observe_nodes({"a": "v1.33.0", "b": "v1.31.9"})
    assert proxy_place(admit(work, replica())) == "containers"
    work.swap(config.load(env={"ENABLE_NATIVE_SIDECARS": "auto"}))
    work.observe_nodes({"a": "v1.33.0"})
    assert proxy_place(admit(work, replica())) == "initContainers"
    pinned = pipeline.InjectionPipeline(config.load(env={"ENABLE_NATIVE_SIDECARS": "false"}))
    pinned.observe_nodes({"a": "v1.33.0"})
    assert proxy_place(admit(pinned, replica())) == "containers"


def managed(pod: dict[str, Any], time: str) -> dict[str, Any]:
    """`pod` as the API server sends it: with the controller's managedFields entry at `time`."""
    entry = {
        "manager": "kube-controller-manager",
        "operation": "Update",
        "apiVersion": "v1",
        "time": time,
        "fieldsType": "FieldsV1",
        "fieldsV1": {"f:metadata": {"f:generateName": {}}},
    }
    return {**pod, "metadata": {**pod["metadata"], "managedFields": [entry]}}


def test_replicas_created_in_different_seconds_share_one_answer(
    default_config: config.Config,
) -> None:
    work = pipeline.InjectionPipeline(default_config)
    first = admit(work, managed(replica(), "2026-12-05T19:00:01Z"))
    assert admit(work, managed(replica(), "2026-12-05T19:07:42Z")) is first


def test_managed_fields_are_left_alone_and_unseen_as_in_istio() -> None:
    reads = config.load(
        config="policy: enabled\ntemplates:\n  sidecar: |\n    metadata:\n      annotations:\n"
        "        seen: {{ len .ObjectMeta.ManagedFields | quote }}\n"
    )
    pod = managed(replica(), "2026-12-05T19:00:01Z")
    answer = admit(pipeline.InjectionPipeline(reads, cache_entries=0), pod)
    ops = orjson.loads(answer.patch)
    assert not [op for op in ops if op["path"].startswith("/metadata/managedFields")]
    patched = jsonpatch.apply_patch(pod, ops)
    assert patched["metadata"]["managedFields"] == pod["metadata"]["managedFields"]
    assert patched["metadata"]["annotations"]["seen"] == "0"
