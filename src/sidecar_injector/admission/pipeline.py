"""The injection work behind `/inject` and `/validate`, on the config currently loaded.

The config is read once per review, so a reload that lands mid-request never mixes two configs;
a reload is one attribute assignment, which is atomic for every reader.
"""

from __future__ import annotations

from collections.abc import Mapping

import orjson

from sidecar_injector import config, inject, patch
from sidecar_injector.admission import app, review

CONFIGMAP_KEYS = ("config", "values", "mesh")


class InjectionPipeline:
    """`inject.inject_pod` then `patch.make_patch` against the raw request pod (SPEC §5)."""

    def __init__(self, current: config.Config) -> None:
        self.config = current

    def swap(self, current: config.Config) -> None:
        self.config = current

    def admit(
        self, pod: review.Object, *, namespace: str, params: Mapping[str, str]
    ) -> app.Admitted:
        result = inject.inject_pod(
            pod, namespace=namespace, config=self.config, params=dict(params) or None
        )
        decision = result.decision
        warnings = tuple(dict.fromkeys((*decision.warnings, *result.warnings)))
        if not decision.inject:
            return app.Admitted(False, decision.reason, decision.message, warnings)
        ops = patch.make_patch(pod, result.pod)
        return app.Admitted(True, decision.reason, decision.message, warnings, orjson.dumps(ops))

    def validate(self, data: Mapping[str, config.JSON]) -> None:
        """Load the ConfigMap's keys as a reload would; a missing key takes the embedded default."""
        texts: dict[str, str] = {}
        for key in CONFIGMAP_KEYS:
            value = data.get(key)
            if value is None:
                continue
            if not isinstance(value, str):
                raise config.ConfigError(f"ConfigMap data.{key} is not a string")
            texts[key] = value
        config.load(
            config=texts.get("config"),
            values=texts.get("values"),
            mesh=texts.get("mesh"),
            sources=config.Sources(*(f"ConfigMap data.{key}" for key in CONFIGMAP_KEYS)),
            revision=self.config.revision,
        )
