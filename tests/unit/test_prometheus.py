"""Metrics merging (reference §5.6): Prometheus is pointed at the agent, the app's settings move
into the sidecar's environment."""

from __future__ import annotations

import json
from typing import Any

import pytest

from sidecar_injector import prometheus
from tests.builders import container, pod

PROXY = "istio-proxy"


def injected(annotations: dict[str, str], *, env: list[dict[str, str]] | None = None) -> Any:
    sidecar = container(PROXY, env=list(env or []))
    return pod(annotations=annotations, containers=["app", sidecar])


def merge(target: Any, *, enabled: bool = True, with_sidecar: bool = True) -> Any:
    sidecar = target["spec"]["containers"][1] if with_sidecar else None
    prometheus.apply_merge(target, status_port=15020, mesh_enabled=enabled, sidecar=sidecar)
    return target


def env_of(target: Any) -> dict[str, str]:
    return {e["name"]: e["value"] for e in target["spec"]["containers"][1].get("env") or []}


AGENT = {
    "prometheus.io/port": "15020",
    "prometheus.io/path": "/stats/prometheus",
    "prometheus.io/scrape": "true",
}


def test_a_pod_without_annotations_is_scraped_at_the_agent_and_the_env_is_not_set() -> None:
    result = merge(injected({}))
    assert result["metadata"]["annotations"] == AGENT
    assert prometheus.ANNOTATIONS_ENV not in env_of(result)


def test_the_apps_own_settings_move_to_the_sidecar_in_go_struct_order() -> None:
    result = merge(
        injected(
            {
                "prometheus.io/port": "9090",
                "prometheus.io/scrape": "true",
                "prometheus.io/path": "/m",
                "other": "x",
            }
        )
    )
    assert result["metadata"]["annotations"] == {**AGENT, "other": "x"}
    assert env_of(result)[prometheus.ANNOTATIONS_ENV] == (
        '{"scrape":"true","path":"/m","port":"9090"}'
    )


@pytest.mark.parametrize("name", ["prometheus.io.scrape", "prometheus-io/scrape"])
def test_annotation_spellings_are_one_setting_and_all_go(name: str) -> None:
    result = merge(injected({name: "yes-ish", "prometheus.io.port": "8080"}))
    assert result["metadata"]["annotations"] == AGENT
    assert json.loads(env_of(result)[prometheus.ANNOTATIONS_ENV]) == {
        "scrape": "yes-ish",
        "port": "8080",
    }


@pytest.mark.parametrize("name", ["prometheus.io/scrape", "prometheus.io.scrape"])
def test_scrape_false_turns_the_merge_off(name: str) -> None:
    result = merge(injected({name: "false"}))
    assert result["metadata"]["annotations"] == {name: "false"}


@pytest.mark.parametrize(
    ("annotation", "mesh", "merged"),
    [(None, True, True), (None, False, False), ("false", True, False), ("true", False, True)],
)
def test_the_pod_annotation_overrides_the_mesh_switch(
    annotation: str | None, mesh: bool, merged: bool
) -> None:
    given = {} if annotation is None else {prometheus.MERGE_METRICS: annotation}
    result = merge(injected(given), enabled=mesh)
    assert (result["metadata"]["annotations"].get("prometheus.io/port") == "15020") is merged


def test_a_pod_already_pointing_at_the_agent_is_left_alone() -> None:
    result = merge(injected({"prometheus.io/port": "15020", "prometheus.io/path": "/mine"}))
    assert result["metadata"]["annotations"]["prometheus.io/path"] == "/mine"
    assert prometheus.ANNOTATIONS_ENV not in env_of(result)


def test_scrape_targets_fill_port_and_path_from_the_first_target() -> None:
    result = merge(
        injected(
            {
                "prometheus.io/scrape": "true",
                prometheus.TARGETS: "8080:/metrics, 9100:/custom,9200",
            }
        )
    )
    assert prometheus.TARGETS not in result["metadata"]["annotations"]
    assert env_of(result)[prometheus.ANNOTATIONS_ENV] == (
        '{"scrape":"true","path":"/metrics","port":"8080","targets":['
        '{"port":"8080","path":"/metrics"},{"port":"9100","path":"/custom"},'
        '{"port":"9200","path":"/metrics"}]}'
    )


def test_an_explicit_port_wins_over_the_targets() -> None:
    config = prometheus.scrape_config({"prometheus.io/port": "7000", prometheus.TARGETS: "8080"})
    assert (config.port, config.path) == ("7000", "/metrics")


@pytest.mark.parametrize("targets", ["http:/metrics", "0", "70000:/x"])
def test_unreadable_targets_are_an_error(targets: str) -> None:
    with pytest.raises(prometheus.PrometheusError, match="scrape-targets"):
        merge(injected({prometheus.TARGETS: targets}))


def test_without_a_sidecar_the_annotations_still_point_at_the_agent() -> None:
    result = merge(injected({"prometheus.io/port": "9090"}), with_sidecar=False)
    assert result["metadata"]["annotations"] == AGENT
    assert prometheus.ANNOTATIONS_ENV not in env_of(result)


def test_the_secure_port_comes_from_the_sidecar_env_unless_set_or_zero() -> None:
    for value, user, expected in [
        ("15091", None, "15091"),
        ("0", None, None),
        ("15091", "9999", "9999"),
    ]:
        annotations = {} if user is None else {prometheus.SECURE_PORT: user}
        target = injected(annotations, env=[{"name": prometheus.SECURE_PORT_ENV, "value": value}])
        prometheus.apply_secure_port(target, sidecar=target["spec"]["containers"][1])
        assert target["metadata"]["annotations"].get(prometheus.SECURE_PORT) == expected


@pytest.mark.parametrize(
    ("text", "parsed"),
    [("1", True), ("T", True), ("True", True), ("0", False), ("F", False), ("yes", None)],
)
def test_booleans_parse_as_go_parses_them(text: str, parsed: bool | None) -> None:
    assert prometheus.parse_bool(text) is parsed


def test_label_names_are_sanitized_and_only_short_ones_remembered() -> None:
    remembered = prometheus._remembered_label_name
    remembered.cache_clear()
    assert prometheus.label_name("prometheus.io/scrape") == "prometheus_io_scrape"
    assert prometheus.label_name("prometheus.io/scrape") == "prometheus_io_scrape"
    assert remembered.cache_info().hits == 1
    long_name = "é/" * 5000
    assert prometheus.label_name(long_name) == "__" * 5000
    assert remembered.cache_info().currsize == 1
    for index in range(2000):
        prometheus.label_name(f"example.com/{index}")
    assert remembered.cache_info().currsize == remembered.cache_info().maxsize == 1024
