"""The webhook's Prometheus metrics: a reason's series is looked up once and counts as labels()."""

from __future__ import annotations

from prometheus_client import CollectorRegistry

from sidecar_injector import metrics


def test_a_reason_counts_in_its_own_series_and_its_child_is_kept() -> None:
    recorder = metrics.create(CollectorRegistry())
    first = recorder.by_reason(recorder.skip, "podAnnotationFalse")
    first.inc()
    recorder.by_reason(recorder.skip, "podAnnotationFalse").inc()
    recorder.by_reason(recorder.failure, "podAnnotationFalse").inc()
    assert recorder.by_reason(recorder.skip, "podAnnotationFalse") is first
    value = recorder.registry.get_sample_value
    assert value("sidecar_injection_skip_total", {"reason": "podAnnotationFalse"}) == 2
    assert value("sidecar_injection_failure_total", {"reason": "podAnnotationFalse"}) == 1
    assert value("sidecar_injection_skip_total", {"reason": "policyDisabled"}) is None
