"""Document handling against every golden of the Istio conformance kit.

The injector here answers with the pod that Istio's golden holds for that workload, so the
only thing under test is what `workloads` does around it: which document and List item a pod
belongs to, where its metadata and spec go back (a CronJob's metadata is its jobTemplate's),
pass-through documents, and Go's re-marshalling (sorted keys, `status: {}`, `resources: {}`,
`creationTimestamp: null` in 1.0). Template and merge parity is the kit runner's business.
"""

from __future__ import annotations

import copy
import json
from collections.abc import Iterator
from typing import Any

import pytest
import yaml

from sidecar_injector import workloads
from tests.conftest import KIT, NO_KIT

SUITES: dict[str, workloads.Era] = {"legacy-1.0": "legacy", "modern": "modern"}


class _Loader(yaml.CSafeLoader):
    """The kit's comparison: timestamps stay strings."""


_Loader.add_constructor(
    "tag:yaml.org,2002:timestamp",
    lambda loader, node: loader.construct_scalar(node),  # type: ignore[arg-type]
)


def _load(text: str) -> list[Any]:
    return [doc for doc in yaml.load_all(text, Loader=_Loader) if doc is not None]


def _cases() -> Iterator[Any]:
    for suite in SUITES:
        manifest = KIT / suite / "cases" / "manifest.json"
        if not manifest.exists():
            continue
        for case in json.loads(manifest.read_text()):
            if case.get("golden"):
                yield pytest.param(suite, case, id=f"{suite}/{case['name']}")


def _golden_pods(documents: list[Any]) -> list[dict[str, Any]]:
    pods: list[dict[str, Any]] = []
    for doc in documents:
        kind = doc.get("kind")
        if kind == "List":
            pods.extend(_golden_pods(doc.get("items") or []))
        elif kind == "Pod":
            pods.append({"metadata": doc["metadata"], "spec": doc["spec"]})
        elif kind == "CronJob":
            job = doc["spec"]["jobTemplate"]
            pods.append({"metadata": job["metadata"], "spec": job["spec"]["template"]["spec"]})
        elif kind in workloads.WORKLOAD_KINDS:
            pods.append(dict(doc["spec"]["template"]))
    return pods


@pytest.mark.skipif(not KIT.exists(), reason=NO_KIT)
@pytest.mark.parametrize(("suite", "case"), list(_cases()))
def test_document_handling_reproduces_the_golden(suite: str, case: dict[str, Any]) -> None:
    cases = KIT / suite / "cases"
    golden = _load((cases / case["golden"]).read_text())
    answers = iter(_golden_pods(copy.deepcopy(golden)))

    def istio(template: workloads.PodTemplate) -> workloads.Injected:
        pod = next(answers)
        skipped: workloads.Skip | None = "hostNetwork" if pod["spec"].get("hostNetwork") else None
        return workloads.Injected(pod, skipped=skipped)

    out = workloads.inject_stream(
        (cases / case["input"]).read_text(), inject=istio, era=SUITES[suite]
    )
    assert _load(out.text) == golden
    if case.get("expect_stderr"):
        assert any(case["expect_stderr"] in line for line in out.warnings)
