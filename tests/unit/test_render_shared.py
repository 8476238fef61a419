"""Rendered overlays are shared: the parses of recent texts and their blocks are kept and handed
to every pod that renders them again, uncopied. Injection reads an overlay and never changes it,
and the injected pod holds none of its objects, so nothing done to one pod reaches the next."""

from __future__ import annotations

import copy
import json
from typing import Any

import orjson
import pytest

from sidecar_injector import config, inject, render
from tests.builders import container, pod, probed_pod
from tests.conftest import admission_samples

LEGACY = """\
policy: enabled
template: |
  initContainers:
  - name: istio-init
    image: proxy
    args: ["-p", "15001"]
  containers:
  - name: istio-proxy
    image: proxy
    args: [proxy, sidecar, "[[ .ObjectMeta.Name ]]"]
    env:
    - name: POD_NAME
      valueFrom: {fieldRef: {fieldPath: metadata.name}}
  volumes:
  - name: istio-envoy
    emptyDir: {medium: Memory}
"""
TWO_TEMPLATES = """\
policy: enabled
defaultTemplates: [sidecar, extra]
templates:
  sidecar: |
    spec:
      containers:
      - name: istio-proxy
        image: proxy
        args: [proxy, "{{ .ObjectMeta.Name }}"]
      volumes:
      - name: istio-envoy
        emptyDir: {medium: Memory}
  extra: |
    metadata:
      labels: {extra: "yes"}
    spec:
      initContainers:
      - name: extra-init
        image: busybox
      containers:
      - name: istio-proxy
        env:
        - name: EXTRA
          value: "1"
"""
CONFIGS = {"default": None, "legacy": LEGACY, "two-templates": TWO_TEMPLATES}


def _objects(value: Any) -> dict[int, Any]:
    """Every dict and list inside `value`, by identity."""
    found: dict[int, Any] = {}
    stack = [value]
    while stack:
        item = stack.pop()
        if type(item) is dict:
            found[id(item)] = item
            stack.extend(item.values())
        elif type(item) is list:
            found[id(item)] = item
            stack.extend(item)
    return found


def _pods() -> list[dict[str, Any]]:
    """The pod that takes every step that changes a pod in place, one that keeps the user's
    own proxy settings, and the sample AdmissionReviews' pods."""
    own_proxy = container("istio-proxy", image="auto", resources={"limits": {"cpu": "2"}})
    samples = [json.loads(path.read_text())["request"]["object"] for path in admission_samples()]
    return [
        probed_pod(),
        pod(labels={"app": "own"}, containers=[container("app"), own_proxy]),
        *samples,
    ]


@pytest.mark.parametrize("config_name", CONFIGS)
@pytest.mark.parametrize("index", range(len(_pods())))
def test_injection_leaves_the_kept_overlays_as_parsed_and_holds_none_of_them(
    config_name: str, index: int
) -> None:
    text = CONFIGS[config_name]
    settings = config.load_default() if text is None else config.load(config=text)
    for _ in range(2):
        result = inject.inject_pod(
            copy.deepcopy(_pods()[index]), namespace="default", config=settings
        )
        assert result.decision.inject and result.rendered
        injected = _objects(result.pod)
        for rendered in result.rendered:
            assert rendered.overlay is render._parse_cached(rendered.text, rendered.name)
            fresh = render._parse(rendered.text, name=rendered.name)
            assert orjson.dumps(rendered.overlay) == orjson.dumps(fresh)
            assert not _objects(rendered.overlay).keys() & injected.keys()
