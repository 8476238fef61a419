"""kube-inject's output passes the Kubernetes schema (kubernetes-validate, strict), and
re-injecting or uninjecting it gives what Istio's idempotent injection promises.

The golden inputs go through the real command with the embedded default config; every
resource of a built-in kind and current apiVersion that comes out, List items included, must
validate. Old apiVersions (extensions/v1beta1, ...) and OpenShift kinds have no schema there.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import kubernetes_validate
import pytest
import yaml
from typer.testing import CliRunner

from sidecar_injector import cli, config, merge, workloads

DATA = Path(__file__).parent / "workloads"
CURRENT = {"v1", "apps/v1", "batch/v1"}
VERSION = "1.29.0"


class _Loader(yaml.CSafeLoader):
    """As the API server reads YAML: a timestamp is a string."""


_Loader.add_constructor(
    "tag:yaml.org,2002:timestamp",
    lambda loader, node: loader.construct_scalar(node),  # type: ignore[arg-type]
)


def _resources(doc: Any) -> Iterator[dict[str, Any]]:
    if not isinstance(doc, dict):
        return
    if doc.get("kind") == "List":
        for item in doc.get("items") or []:
            yield from _resources(item)
    elif doc.get("apiVersion") in CURRENT:
        yield doc


@pytest.mark.parametrize(
    "name", sorted(p.stem for p in DATA.glob("*.yaml") if "legacy" not in p.stem)
)
def test_kube_inject_output_validates(name: str) -> None:
    result = CliRunner().invoke(
        cli.app,
        [
            "kube-inject",
            "-f",
            str(DATA / f"{name}.yaml"),
            "--injectConfigFile",
            str(Path(cli.__file__).parent / "defaults" / "config.yaml"),
        ],
    )
    assert result.exit_code == 0, result.stderr
    checked = 0
    for doc in yaml.load_all(result.stdout, Loader=_Loader):
        for resource in _resources(doc):
            kubernetes_validate.validate(resource, VERSION, strict=True)
            checked += 1
    assert checked or name == "deploymentconfig"


@pytest.fixture(scope="module")
def settings() -> config.Config:
    return config.load_default()


def _unchanged(template: workloads.PodTemplate) -> workloads.Injected:
    return workloads.Injected(template.pod)


def _uninject(template: workloads.PodTemplate) -> workloads.Injected:
    return workloads.Injected(merge.uninject(template.pod))


@pytest.mark.parametrize("name", sorted(p.stem for p in DATA.glob("*.yaml")))
def test_reinjection_is_idempotent_and_uninject_restores(
    name: str, settings: config.Config
) -> None:
    text = (DATA / f"{name}.yaml").read_text()
    once = workloads.kube_inject(text, settings=settings).text
    assert workloads.kube_inject(once, settings=settings).text == once
    plain = workloads.inject_stream(text, inject=_unchanged).text
    assert workloads.inject_stream(once, inject=_uninject).text == plain
