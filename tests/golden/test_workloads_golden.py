"""Golden files for `workloads.inject_stream`: every workload kind and the stream's edge cases.

`tests/golden/workloads/NAME.yaml` is the input; `NAME.out` the exact text printed and
`NAME.err` the warnings (absent when there are none). A `legacy-` prefix selects the
Kubernetes 1.10 output form of Istio 1.0. The injector is a small fake that adds an
`istio-proxy` container, so these files pin document handling, not templates. Rewrite the
expected files with `pytest --update-golden` and review the diff.
"""

from __future__ import annotations

import copy
from pathlib import Path
from typing import Any

import pytest

from sidecar_injector import workloads

DATA = Path(__file__).parent / "workloads"
CASES = sorted(path.stem for path in DATA.glob("*.yaml"))


def fake_sidecar(template: workloads.PodTemplate) -> workloads.Injected:
    """Skip as Istio's kube-inject skips; otherwise append a recognisable proxy container."""
    pod: dict[str, Any] = copy.deepcopy(template.pod)
    if pod["spec"].get("hostNetwork"):
        return workloads.Injected(pod, skipped="hostNetwork")
    metadata = pod["metadata"]
    if (metadata.get("annotations") or {}).get("sidecar.istio.io/inject") == "false":
        return workloads.Injected(pod, skipped="disabled")
    metadata.setdefault("annotations", {})["sidecar.istio.io/status"] = (
        f'{{"workload":"{template.kind}/{template.name}"}}'
    )
    pod["spec"].setdefault("containers", []).append(
        {"name": "istio-proxy", "image": "proxy:1", "args": ["proxy", "sidecar"]}
    )
    return workloads.Injected(pod)


def _expected(path: Path, actual: str, *, update: bool) -> str:
    if update:
        if actual:
            path.write_text(actual, encoding="utf-8")
        else:
            path.unlink(missing_ok=True)
        return actual
    return path.read_text(encoding="utf-8") if path.exists() else ""


@pytest.mark.parametrize("name", CASES)
def test_golden(name: str, update_golden: bool) -> None:
    text = (DATA / f"{name}.yaml").read_text(encoding="utf-8")
    era: workloads.Era = "legacy" if name.startswith("legacy-") else "modern"
    output = workloads.inject_stream(text, inject=fake_sidecar, era=era, source=f"{name}.yaml")
    warnings = "".join(line + "\n" for line in output.warnings)
    assert output.text == _expected(DATA / f"{name}.out", output.text, update=update_golden)
    assert warnings == _expected(DATA / f"{name}.err", warnings, update=update_golden)


def test_every_workload_kind_has_a_golden_case() -> None:
    seen = set()
    for name in CASES:
        for template in workloads.iter_pod_templates((DATA / f"{name}.yaml").read_text()):
            seen.add(template.kind)
    assert seen == workloads.WORKLOAD_KINDS
