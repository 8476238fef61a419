"""The injection properties for generated pods through the whole pipeline (`inject.inject_pod`:
decision, template data, the embedded default template, merge and Istio's post-processing),
classic and native."""

from __future__ import annotations

import functools
from typing import Any

from hypothesis import given
from hypothesis import strategies as st

from sidecar_injector import config, inject
from sidecar_injector.merge import uninject
from sidecar_injector.patch import apply_patch, make_patch
from tests.property.test_merge_props import SETTINGS, has_user_proxy, pod_schema, pods, same


@functools.cache
def settings(native: bool) -> config.Config:
    return config.load(env={"ENABLE_NATIVE_SIDECARS": "true" if native else "false"})


def injected(p: dict[str, Any], native: bool) -> dict[str, Any]:
    namespace = p["metadata"]["namespace"]
    result = inject.inject_pod(p, namespace=namespace, config=settings(native))
    return dict(result.pod)


@SETTINGS
@given(pods(), st.booleans())
def test_the_pipeline_keeps_every_property(p: dict[str, Any], native: bool) -> None:
    m = injected(p, native)
    # the webhook's patch, applied to the request pod, gives the injected pod
    assert same(apply_patch(p, make_patch(p, m)), m)
    # injecting an injected pod changes nothing (reinvocation is safe). Except, as in Istio,
    # for a user's own istio-proxy under native sidecars: its saved settings come back among
    # the init containers (reinsertOverrides), so the template no longer counts its ports in
    # ISTIO_META_POD_PORTS, which it read from .Spec.Containers the first time.
    if not (native and has_user_proxy(p)):
        assert same(injected(m, native), m)
    # the injected pod is a valid Pod
    pod_schema().validate(m)
    if not has_user_proxy(p):
        # uninject gives the pod back (a user istio-proxy comes back in its saved form)
        assert same(uninject(m), p)
