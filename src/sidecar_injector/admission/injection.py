"""One admission's injection and one ConfigMap's validation, as functions of the config.

What an injection engine runs, so it imports only the pipeline: no server, metrics or event
loop (`pipeline` and `engines` wrap these for the worker).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

import orjson

from sidecar_injector import errors, inject, patch, rehearsal
from sidecar_injector.config import JSON, Config, ConfigError, Sources
from sidecar_injector.config import load as load_config

CONFIGMAP_KEYS = ("config", "values", "mesh")
MAX_PATCH_BYTES = 8 * 1024 * 1024
"""More than any pod the API server stores (etcd takes 1.5 MiB objects by default)."""


class PatchTooLarge(errors.InjectorError):
    reason = "patchTooLarge"


@dataclass(frozen=True, slots=True)
class Verdict:
    """What the pipeline decided for one pod; `patch` is the JSON of RFC 6902 ops."""

    inject: bool
    reason: str
    message: str
    warnings: tuple[str, ...] = ()
    patch: bytes | None = None


def admit(
    current: Config,
    pod: Mapping[str, JSON],
    *,
    namespace: str,
    params: Mapping[str, str],
    kubelet_versions: Mapping[str, str] | None,
) -> Verdict:
    """`inject.inject_pod`, then the patch against the pod as it came (SPEC §5)."""
    result = inject.inject_pod(
        pod,
        namespace=namespace,
        config=current,
        params=dict(params) or None,
        kubelet_versions=kubelet_versions,
    )
    decision = result.decision
    warnings = tuple(dict.fromkeys((*decision.warnings, *result.warnings)))
    if not decision.inject:
        return Verdict(False, decision.reason, decision.message, warnings)
    ops = orjson.dumps(patch.make_patch(result.request or pod, result.pod))
    if len(ops) > MAX_PATCH_BYTES:
        raise PatchTooLarge(
            f"the patch is {len(ops)} bytes, more than the limit of {MAX_PATCH_BYTES}",
            hint="the injected pod would be too large for the API server to store",
        )
    return Verdict(True, decision.reason, decision.message, warnings, ops)


def validate(data: Mapping[str, JSON], *, revision: str) -> None:
    """Load the ConfigMap's keys as a reload would; a missing key takes the embedded default."""
    texts: dict[str, str] = {}
    for key in CONFIGMAP_KEYS:
        value = data.get(key)
        if value is None:
            continue
        if not isinstance(value, str):
            raise ConfigError(f"ConfigMap data.{key} is not a string")
        texts[key] = value
    loaded = load_config(
        config=texts.get("config"),
        values=texts.get("values"),
        mesh=texts.get("mesh"),
        sources=Sources(*(f"ConfigMap data.{key}" for key in CONFIGMAP_KEYS)),
        revision=revision,
    )
    rehearsal.rehearse(loaded)
