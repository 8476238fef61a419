"""Istio's metrics merging: Prometheus scrapes the agent, which serves the app's metrics too.

After the merge, the pod's `prometheus.io/*` annotations point at the agent's status port and
the app's own scrape settings travel to the agent in the sidecar's `ISTIO_PROMETHEUS_ANNOTATIONS`
env var. Istio matches the annotations by their Prometheus label name, so `prometheus.io/port`,
`prometheus.io.port` and `prometheus-io/port` are one setting; the last one (in Go's random
map order, here the pod's order) wins.
"""

from __future__ import annotations

import functools
import json
import re
from collections.abc import Mapping, MutableMapping
from dataclasses import dataclass
from typing import Any, Final

from sidecar_injector.errors import InjectorError, Location, excerpt

JSON = Any

SCRAPE = "prometheus.io/scrape"
PORT = "prometheus.io/port"
PATH = "prometheus.io/path"
TARGETS = "prometheus.istio.io/scrape-targets"
MERGE_METRICS = "prometheus.istio.io/merge-metrics"
SECURE_PORT = "prometheus.istio.io/secure-port"
ANNOTATIONS_ENV = "ISTIO_PROMETHEUS_ANNOTATIONS"
SECURE_PORT_ENV = "ENVOY_SECURE_MERGED_METRICS_PORT"
AGENT_PATH = "/stats/prometheus"
DEFAULT_TARGET_PATH = "/metrics"

_LABEL_UNSAFE = re.compile(r"[^a-zA-Z0-9_]")
_TRUE = frozenset({"1", "t", "T", "TRUE", "true", "True"})
_FALSE = frozenset({"0", "f", "F", "FALSE", "false", "False"})


class PrometheusError(InjectorError):
    """A scrape-targets annotation that cannot be read."""


@dataclass(frozen=True, slots=True)
class Target:
    """One port the agent scrapes for the app (`prometheus.istio.io/scrape-targets`)."""

    port: str
    path: str


@dataclass(frozen=True, slots=True)
class ScrapeConfig:
    """The app's own scrape settings, as the agent reads them from its environment."""

    scrape: str = ""
    path: str = ""
    port: str = ""
    targets: tuple[Target, ...] = ()

    def is_empty(self) -> bool:
        return self == ScrapeConfig()

    def to_json(self) -> str:
        """Go's json.Marshal of Istio's struct: field order scrape, path, port, targets."""
        fields: dict[str, JSON] = {}
        for key in ("scrape", "path", "port"):
            if getattr(self, key):
                fields[key] = getattr(self, key)
        if self.targets:
            fields["targets"] = [{"port": t.port, "path": t.path} for t in self.targets]
        return json.dumps(fields, separators=(",", ":"), ensure_ascii=False)


def label_name(annotation: str) -> str:
    """Prometheus's SanitizeLabelName: anything outside `[a-zA-Z0-9_]` becomes `_`."""
    if len(annotation) > _REMEMBERED_CHARS:
        return _LABEL_UNSAFE.sub("_", annotation)
    return _remembered_label_name(annotation)


_REMEMBERED_CHARS: Final = 320
"""The longest name remembered: a qualified annotation name (253-char prefix, 63-char name).
A webhook sees pods before the API server validates them, so longer ones can arrive."""


@functools.lru_cache(maxsize=1024)
def _remembered_label_name(annotation: str) -> str:
    """A merge compares each of the pod's annotation names several times, and pods carry the
    same names again and again (bounded: 1,024 names of at most `_REMEMBERED_CHARS`)."""
    return _LABEL_UNSAFE.sub("_", annotation)


def parse_bool(text: str) -> bool | None:
    """Go's strconv.ParseBool; None where Go returns an error."""
    if text in _TRUE:
        return True
    if text in _FALSE:
        return False
    return None


def apply_merge(
    pod: MutableMapping[str, JSON],
    *,
    status_port: int,
    mesh_enabled: bool,
    sidecar: MutableMapping[str, JSON] | None,
) -> None:
    """Istio's applyPrometheusMerge, in place on the injected `pod`.

    Skipped when the pod says not to scrape, when merging is off (pod annotation, else mesh
    `enablePrometheusMerge`), or when the port already is the agent's (a re-injected pod).
    """
    annotations = pod.setdefault("metadata", {}).setdefault("annotations", {})
    if not _wants_scrape(annotations) or not _merge_enabled(annotations, mesh_enabled):
        return
    target_port = str(status_port)
    if _find(annotations, PORT) == target_port:
        return
    config = scrape_config(annotations)
    if sidecar is not None and not config.is_empty():
        sidecar.setdefault("env", []).append({"name": ANNOTATIONS_ENV, "value": config.to_json()})
    for key in [k for k in annotations if _is_scrape_setting(k)]:
        del annotations[key]
    annotations[PORT] = target_port
    annotations[PATH] = AGENT_PATH
    annotations[SCRAPE] = "true"


def apply_secure_port(
    pod: MutableMapping[str, JSON], *, sidecar: Mapping[str, JSON] | None
) -> None:
    """Istio's applySecurePrometheusAnnotation: advertise the agent's TLS metrics port.

    Set from the sidecar's `ENVOY_SECURE_MERGED_METRICS_PORT` when that is set and not "0";
    a secure-port annotation the user wrote stays.
    """
    if sidecar is None:
        return
    port = next(
        (
            e.get("value")
            for e in sidecar.get("env") or ()
            if isinstance(e, (dict, Mapping)) and e.get("name") == SECURE_PORT_ENV
        ),
        None,
    )
    if not isinstance(port, str) or port in ("", "0"):
        return
    annotations = pod.setdefault("metadata", {}).setdefault("annotations", {})
    annotations.setdefault(SECURE_PORT, port)


def scrape_config(annotations: Mapping[str, str]) -> ScrapeConfig:
    """The scrape settings the pod's annotations give, targets filling a missing port/path."""
    scrape, path, port = (_find(annotations, key) or "" for key in (SCRAPE, PATH, PORT))
    targets = _targets(annotations.get(TARGETS))
    if targets:
        port = port or targets[0].port
        path = path or targets[0].path
    return ScrapeConfig(scrape=scrape, path=path, port=port, targets=targets)


def _targets(text: str | None) -> tuple[Target, ...]:
    """`port[:path]` entries separated by commas; a target without a path gets `/metrics`."""
    if not text:
        return ()
    targets: list[Target] = []
    for entry in (e.strip() for e in text.split(",")):
        if not entry:
            continue
        port, _, path = entry.partition(":")
        if not port.isdigit() or not 0 < int(port) < 65536:
            raise PrometheusError(
                f"invalid {TARGETS} entry {excerpt(entry)!r}: "
                "want PORT or PORT:PATH with PORT in 1-65535",
                location=Location(pointer="/metadata/annotations/" + TARGETS.replace("/", "~1")),
            )
        targets.append(Target(port=port, path=path or DEFAULT_TARGET_PATH))
    return tuple(targets)


def _wants_scrape(annotations: Mapping[str, str]) -> bool:
    """False only when a scrape annotation parses as false; absent or garbage means scrape."""
    wanted = label_name(SCRAPE)
    return not any(
        label_name(k) == wanted and parse_bool(v) is False for k, v in annotations.items()
    )


def _merge_enabled(annotations: Mapping[str, str], mesh_enabled: bool) -> bool:
    given = annotations.get(MERGE_METRICS)
    parsed = parse_bool(given) if given is not None else None
    return mesh_enabled if parsed is None else parsed


def _find(annotations: Mapping[str, str], key: str) -> str | None:
    wanted = label_name(key)
    found = None
    for name, value in annotations.items():
        if label_name(name) == wanted:
            found = value
    return found


def _is_scrape_setting(annotation: str) -> bool:
    return annotation == TARGETS or label_name(annotation) in _SCRAPE_SETTINGS


_SCRAPE_SETTINGS: Final = frozenset(label_name(key) for key in (SCRAPE, PORT, PATH))
