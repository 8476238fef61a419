"""The injection work behind `/inject` and `/validate`, on the config currently loaded.

The config is read once per review, so a reload that lands mid-request never mixes two configs;
a reload is one attribute assignment, which is atomic for every reader.
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from collections.abc import Mapping
from dataclasses import dataclass

import orjson

from sidecar_injector.admission import app, injection, review
from sidecar_injector.config import JSON, Config

CACHE_ENTRIES = 128
"""Answers remembered per config: a scale-up of a few workloads at once fits."""
CACHE_MAX_POD_BYTES = 64 * 1024
"""Bigger pods are not remembered, which bounds the cache at about 10 MB."""
Key = tuple[str, tuple[tuple[str, str], ...], bytes]


def _admit(
    current: Config,
    pod: review.Object,
    *,
    namespace: str,
    params: Mapping[str, str],
    kubelet_versions: Mapping[str, str] | None,
) -> app.Admitted:
    verdict = injection.admit(
        current, pod, namespace=namespace, params=params, kubelet_versions=kubelet_versions
    )
    return app.Admitted(
        verdict.inject, verdict.reason, verdict.message, verdict.warnings, verdict.patch
    )


def without_managed_fields(pod: review.Object) -> review.Object:
    """The pod as Istio's webhook injects it: `metadata.managedFields` cleared first, so no
    template reads it and the patch never touches it."""
    metadata = pod.get("metadata")
    if not isinstance(metadata, dict) or "managedFields" not in metadata:
        return pod
    trimmed = {key: value for key, value in metadata.items() if key != "managedFields"}
    return {**pod, "metadata": trimmed}


class ReplicaCache:
    """Answers for pods seen before under the same config, least recently used dropped first.

    The replicas of a workload reach the webhook byte-identical once `managedFields` (whose
    entries carry the time) is cleared, as Istio clears it: the API server names a pod from its
    `generateName` and stamps `creationTimestamp` after admission. A scale-up renders once. The
    answer depends on nothing but the pod, its namespace, the path parameters and the config
    (the webhook never sees namespace labels), so it is exact as long as no template reads the
    clock or randomness; a config whose templates do gets no cache.
    """

    def __init__(self, entries: int) -> None:
        self.entries = entries
        self._answers: OrderedDict[Key, app.Admitted] = OrderedDict()
        self._lock = threading.Lock()

    @classmethod
    def for_config(cls, current: Config, entries: int) -> ReplicaCache | None:
        if entries <= 0 or not current.injection.deterministic:
            return None
        return cls(entries)

    def key(self, body: bytes, *, namespace: str, params: Mapping[str, str]) -> Key | None:
        """The identity of the pod whose JSON is `body`, or None for a pod too big to remember."""
        if len(body) > CACHE_MAX_POD_BYTES:
            return None
        return namespace, tuple(sorted(params.items())), body

    def get(self, key: Key) -> app.Admitted | None:
        with self._lock:
            answer = self._answers.get(key)
            if answer is not None:
                self._answers.move_to_end(key)
            return answer

    def put(self, key: Key, answer: app.Admitted) -> None:
        with self._lock:
            self._answers[key] = answer
            if len(self._answers) > self.entries:
                self._answers.popitem(last=False)


@dataclass(frozen=True, slots=True)
class _Serving:
    """What one admission reads, replaced as a whole: the config, what the cluster's nodes run
    (None when not watched), and the answers remembered for exactly these two."""

    config: Config
    kubelet_versions: Mapping[str, str] | None
    cache: ReplicaCache | None


class InjectionPipeline:
    """`inject.inject_pod` then `patch.make_patch` against the raw request pod (SPEC §5)."""

    def __init__(self, current: Config, *, cache_entries: int = CACHE_ENTRIES) -> None:
        self.cache_entries = cache_entries
        self._serving = self._serve(current, None)

    @property
    def config(self) -> Config:
        return self._serving.config

    def swap(self, current: Config) -> None:
        """Serve `current` from now on; answers remembered for the previous config are dropped."""
        self._serving = self._serve(current, self._serving.kubelet_versions)

    def observe_nodes(self, kubelet_versions: Mapping[str, str]) -> None:
        """The kubelet version of every node, by name (`ENABLE_NATIVE_SIDECARS=auto` reads it)."""
        self._serving = self._serve(self._serving.config, dict(kubelet_versions))

    def _serve(self, current: Config, kubelet_versions: Mapping[str, str] | None) -> _Serving:
        cache = ReplicaCache.for_config(current, self.cache_entries)
        return _Serving(current, kubelet_versions, cache)

    def admit(
        self, pod: review.Object, *, namespace: str, params: Mapping[str, str]
    ) -> app.Admitted:
        pod = without_managed_fields(pod)
        serving = self._serving
        cache = serving.cache
        key = None
        if cache is not None:
            key = cache.key(orjson.dumps(pod), namespace=namespace, params=params)
        remembered = cache.get(key) if cache is not None and key is not None else None
        if remembered is not None:
            return remembered
        admitted = _admit(
            serving.config,
            pod,
            namespace=namespace,
            params=params,
            kubelet_versions=serving.kubelet_versions,
        )
        if cache is not None and key is not None:
            cache.put(key, admitted)
        return admitted

    def validate(self, data: Mapping[str, JSON]) -> None:
        """Load the ConfigMap's keys as a reload would; a missing key takes the embedded default."""
        injection.validate(data, revision=self.config.revision)
