"""Prometheus metrics of the webhook, under Istio's names (reference §6.4): dashboards keep working.

Istio's counters have no labels; ours add the reason of a skip or failure, which is what an
operator asks first. Istio's latency buckets start at 100 ms, far above a healthy injection, so
the histogram here starts at 100 µs. The registry is passed in: tests use their own.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram
from prometheus_client.exposition import CONTENT_TYPE_LATEST, generate_latest
from prometheus_client.multiprocess import MultiProcessCollector

CONTENT_TYPE = CONTENT_TYPE_LATEST
LATENCY_BUCKETS = (
    0.0001,
    0.00025,
    0.0005,
    0.001,
    0.0025,
    0.005,
    0.01,
    0.025,
    0.05,
    0.1,
    0.25,
    0.5,
    1.0,
    3.0,
    5.0,
    10.0,
    30.0,
    60.0,
)


@dataclass(frozen=True, slots=True)
class Metrics:
    """Every metric the server records, bound to one registry."""

    registry: CollectorRegistry
    requests: Counter
    success: Counter
    failure: Counter
    skip: Counter
    injected: Counter
    fail_open: Counter
    latency: Histogram
    config_reloads: Counter
    config_ok: Gauge
    certificate_reloads: Counter
    events: Counter
    multiprocess_dir: str | None = None
    _children: dict[tuple[Counter, str], Counter] = field(default_factory=dict, repr=False)

    def by_reason(self, counter: Counter, reason: str) -> Counter:
        """`counter.labels(reason)`, looked up once per reason: `labels` checks its values and
        takes a lock on every call, and every admission counts one or two. Reasons come from
        our code, never from a request, so this holds no more than the metric's own series."""
        child = self._children.get((counter, reason))
        if child is None:
            child = self._children[(counter, reason)] = counter.labels(reason)
        return child

    def exposition(self) -> bytes:
        """The text format Prometheus scrapes; with several workers, all of them summed."""
        if self.multiprocess_dir is None:
            return generate_latest(self.registry)
        merged = CollectorRegistry()
        MultiProcessCollector(merged, path=self.multiprocess_dir)  # type: ignore[no-untyped-call]
        return generate_latest(merged)


def create(registry: CollectorRegistry, *, multiprocess_dir: str | None = None) -> Metrics:
    """Register the metrics in `registry` (one call per registry: names must be unique in it).

    `multiprocess_dir` is prometheus-client's `PROMETHEUS_MULTIPROC_DIR`, which must be set in
    the environment before the worker imports `prometheus_client`; each worker then writes its
    values there and any worker's `/metrics` reports the sum.
    """
    return Metrics(
        registry=registry,
        multiprocess_dir=multiprocess_dir,
        requests=Counter(
            "sidecar_injection_requests",
            "Requests to the injection webhook.",
            registry=registry,
        ),
        success=Counter(
            "sidecar_injection_success",
            "Injection requests answered with an AdmissionReview, including denials (as Istio).",
            registry=registry,
        ),
        failure=Counter(
            "sidecar_injection_failure",
            "Injection requests that failed, by reason.",
            ["reason"],
            registry=registry,
        ),
        skip=Counter(
            "sidecar_injection_skip",
            "Pods the decision left without a sidecar, by reason.",
            ["reason"],
            registry=registry,
        ),
        injected=Counter(
            "sidecar_injection_injected",
            "Pods that got a sidecar, by reason of the decision.",
            ["reason"],
            registry=registry,
        ),
        fail_open=Counter(
            "sidecar_injection_fail_open",
            "Pods let through uninjected after an internal error (--on-error allow), by reason.",
            ["reason"],
            registry=registry,
        ),
        latency=Histogram(
            "sidecar_injection_time_seconds",
            "Time to handle an injection request, body read to reply.",
            buckets=LATENCY_BUCKETS,
            registry=registry,
        ),
        config_reloads=Counter(
            "sidecar_injector_config_reloads",
            "Injection config reloads, by result (ok or error).",
            ["result"],
            registry=registry,
        ),
        config_ok=Gauge(
            "sidecar_injector_config_last_reload_ok",
            "1 when the last config load succeeded, 0 when the last good config is still in use.",
            registry=registry,
            multiprocess_mode="livemin",
        ),
        certificate_reloads=Counter(
            "sidecar_injector_certificate_reloads",
            "Serving certificate reloads, by result (ok or error).",
            ["result"],
            registry=registry,
        ),
        events=Counter(
            "sidecar_injector_events",
            "Kubernetes Events of admissions (--events), by result: sent, repeat (one per owner "
            "and reason a minute), dropped (queue full) or failed.",
            ["result"],
            registry=registry,
        ),
    )
