"""Native sidecars through the webhook's pipeline: the switch, the per-pod annotation, and a
proxy inserted before the user's init containers without taking their unknown fields."""

from __future__ import annotations

from typing import Any

import jsonpatch
import kubernetes_validate
import orjson
import pytest

from sidecar_injector import config
from sidecar_injector.admission import pipeline

ANNOTATION = "sidecar.istio.io/nativeSidecar"


def a_pod(**annotations: str) -> dict[str, Any]:
    return {
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {"name": "web", "annotations": annotations},
        "spec": {
            "initContainers": [{"name": "setup", "image": "busybox", "futureField": "keep"}],
            "containers": [{"name": "web", "image": "nginx"}],
        },
    }


def injected(env: str, pod: dict[str, Any]) -> dict[str, Any]:
    settings = config.load(env={"ENABLE_NATIVE_SIDECARS": env})
    answer = pipeline.InjectionPipeline(settings).admit(pod, namespace="shop", params={})
    assert answer.patch is not None
    result: dict[str, Any] = jsonpatch.apply_patch(pod, orjson.loads(answer.patch))
    return result


def names(containers: list[dict[str, Any]]) -> list[str]:
    return [c["name"] for c in containers]


@pytest.mark.parametrize(
    ("env", "annotations", "native"),
    [
        ("true", {}, True),
        ("false", {}, False),
        ("false", {ANNOTATION: "true"}, True),
        ("true", {ANNOTATION: "false"}, False),
    ],
    ids=["switch-on", "switch-off", "annotation-on", "annotation-off"],
)
def test_the_switch_and_the_annotation_decide(
    env: str, annotations: dict[str, str], native: bool
) -> None:
    pod = injected(env, a_pod(**annotations))
    spec = pod["spec"]
    proxies = [c for c in spec["initContainers"] if c["name"] == "istio-proxy"]
    assert bool(proxies) is native
    assert ("istio-proxy" in names(spec["containers"])) is not native
    if native:
        assert proxies[0]["restartPolicy"] == "Always"
    status = orjson.loads(pod["metadata"]["annotations"]["sidecar.istio.io/status"])
    assert ("istio-proxy" in status["initContainers"]) is native


def test_a_native_proxy_before_the_users_init_containers_leaves_their_fields_alone() -> None:
    pod = injected("true", a_pod())
    init = {c["name"]: c for c in pod["spec"]["initContainers"]}
    assert init["setup"]["futureField"] == "keep"
    assert "futureField" not in init["istio-proxy"]
    known = {
        **pod,
        "spec": {
            **pod["spec"],
            "initContainers": [
                {k: v for k, v in c.items() if k != "futureField"}
                for c in pod["spec"]["initContainers"]
            ],
        },
    }
    kubernetes_validate.validate(known, "1.30", strict=True)
