"""`inject.RecentSpecs`: a spec seen before is neither checked nor typed again, and nothing
changes in what is injected, refused or kept."""

from __future__ import annotations

import copy
import json
from typing import Any

import orjson
import pytest

from sidecar_injector import config, inject, podshape
from tests.builders import pod, probed_pod
from tests.conftest import admission_samples


@pytest.fixture(scope="module")
def default_config() -> config.Config:
    return config.load_default()


@pytest.fixture
def recent(monkeypatch: pytest.MonkeyPatch) -> inject.RecentSpecs:
    specs = inject.RecentSpecs()
    monkeypatch.setattr(inject, "RECENT_SPECS", specs)
    return specs


def pods() -> list[dict[str, Any]]:
    samples = [json.loads(path.read_text())["request"]["object"] for path in admission_samples()]
    return [probed_pod(), *samples]


def relabelled(original: dict[str, Any], value: str) -> dict[str, Any]:
    """The same pod as another of its workload's would come: a copy, a new label."""
    again = copy.deepcopy(original)
    again["metadata"].setdefault("labels", {})["variant"] = value
    return again


def injected(result: inject.Injected) -> tuple[Any, ...]:
    return result.pod, result.decision, result.warnings


@pytest.mark.parametrize("index", range(len(pods())))
def test_a_spec_seen_before_is_taken_as_it_was_and_injects_the_same(
    default_config: config.Config, recent: inject.RecentSpecs, index: int
) -> None:
    first, second = relabelled(pods()[index], "1"), relabelled(pods()[index], "2")
    expected = injected(_without_memory(second, default_config))
    one = inject.inject_pod(first, namespace="default", config=default_config)
    kept = [(k, orjson.dumps(k.raw), orjson.dumps(k.typed)) for k in recent._known]
    assert kept, "the first pod's spec is remembered"
    assert recent._known[0].fields, "with the Go fields the templates read from it"
    two = inject.inject_pod(second, namespace="default", config=default_config)
    assert two.request is not None and one.request is not None
    assert two.request["spec"] is one.request["spec"], "the second pod took the remembered spec"
    assert injected(two) == expected
    for known, raw, typed in kept:
        assert orjson.dumps(known.raw) == raw and orjson.dumps(known.typed) == typed


def _without_memory(pod_: dict[str, Any], current: config.Config) -> inject.Injected:
    saved = inject.RECENT_SPECS
    inject.RECENT_SPECS = inject.RecentSpecs(entries=0)
    try:
        return inject.inject_pod(copy.deepcopy(pod_), namespace="default", config=current)
    finally:
        inject.RECENT_SPECS = saved


def test_a_spec_equal_only_in_python_is_checked_again(
    default_config: config.Config, recent: inject.RecentSpecs
) -> None:
    """`1 == True` in Python, but Go refuses a number for a boolean."""
    inject.inject_pod(pod(enableServiceLinks=True), namespace="default", config=default_config)
    assert recent._known
    with pytest.raises(podshape.PodError, match="enableServiceLinks"):
        inject.inject_pod(pod(enableServiceLinks=1), namespace="default", config=default_config)


def test_recent_specs_are_bounded(default_config: config.Config) -> None:
    specs = inject.RecentSpecs(entries=2, max_bytes=200)
    for index in range(5):
        raw = {"containers": [{"name": f"c{index}"}]}
        specs.remember(raw, raw)
    assert [k.raw["containers"][0]["name"] for k in specs._known] == ["c4", "c3"]
    large = {"containers": [{"name": "c", "image": "x" * 300}]}
    specs.remember(large, large)
    assert specs.find(copy.deepcopy(large))[0] is None
    assert specs.find({"containers": [{"name": "c3"}]})[0] is not None
