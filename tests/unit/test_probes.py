"""Probe rewriting (reference §5.5): app probes go through the agent's status port."""

from __future__ import annotations

import json
from typing import Any

import pytest

from sidecar_injector import probes
from tests.builders import container, pod

VALUES: dict[str, Any] = {"sidecarInjectorWebhook": {"rewriteAppHTTPProbe": True}}


def app(**fields: Any) -> dict[str, Any]:
    return container("hello", ports=[{"name": "http", "containerPort": 80}], **fields)


def rewrite(
    target: Any,
    *,
    values: dict[str, Any] | None = None,
    previously_injected: bool = False,
) -> tuple[Any, dict[str, str]]:
    sidecar = next(c for c in target["spec"]["containers"] if c["name"] == probes.PROXY_NAME)
    probes.apply_rewrite(
        target,
        sidecar=sidecar,
        status_port=15020,
        values=VALUES if values is None else values,
        previously_injected=previously_injected,
    )
    return target, {e["name"]: e["value"] for e in sidecar.get("env") or []}


def injected(
    *apps: dict[str, Any], annotations: dict[str, str] | None = None, env: Any = None
) -> Any:
    sidecar = container(probes.PROXY_NAME, env=list(env or []))
    return pod(annotations=annotations, containers=[*apps, sidecar])


def test_http_probes_are_recorded_and_repointed() -> None:
    hello = app(
        livenessProbe={"httpGet": {"port": "http", "path": "/live"}, "timeoutSeconds": 3},
        readinessProbe={"httpGet": {"port": 3333, "scheme": "HTTPS"}, "periodSeconds": 5},
    )
    result, env = rewrite(injected(hello))
    assert env[probes.PROBERS_ENV] == (
        '{"/app-health/hello/livez":{"httpGet":{"path":"/live","port":80},"timeoutSeconds":3},'
        '"/app-health/hello/readyz":{"httpGet":{"port":3333,"scheme":"HTTPS"}}}'
    )
    out = result["spec"]["containers"][0]
    assert out["livenessProbe"] == {
        "httpGet": {"port": 15020, "path": "/app-health/hello/livez"},
        "timeoutSeconds": 3,
    }
    assert out["readinessProbe"]["httpGet"] == {
        "port": 15020,
        "path": "/app-health/hello/readyz",
        "scheme": "HTTP",
    }
    assert out["readinessProbe"]["periodSeconds"] == 5


def test_tcp_and_grpc_probes_become_http_on_the_status_port() -> None:
    hello = app(
        livenessProbe={"tcpSocket": {"port": 80}},
        startupProbe={"grpc": {"port": 81, "service": "s"}},
    )
    result, env = rewrite(injected(hello))
    assert json.loads(env[probes.PROBERS_ENV]) == {
        "/app-health/hello/livez": {"tcpSocket": {"port": 80}},
        "/app-health/hello/startupz": {"grpc": {"port": 81, "service": "s"}},
    }
    out = result["spec"]["containers"][0]
    assert out["livenessProbe"] == {"httpGet": {"path": "/app-health/hello/livez", "port": 15020}}
    assert out["startupProbe"] == {"httpGet": {"path": "/app-health/hello/startupz", "port": 15020}}


def test_lifecycle_hooks_use_app_lifecycle_paths_and_exec_stays() -> None:
    hello = app(
        lifecycle={"preStop": {"httpGet": {"port": 91}}, "postStart": {"tcpSocket": {"port": 93}}},
        readinessProbe={"exec": {"command": ["cat", "/tmp/ok"]}},
    )
    result, env = rewrite(injected(hello))
    assert env[probes.PROBERS_ENV] == (
        '{"/app-lifecycle/hello/poststartz":{"tcpSocket":{"port":93}},'
        '"/app-lifecycle/hello/prestopz":{"httpGet":{"port":91}}}'
    )
    out = result["spec"]["containers"][0]
    assert out["lifecycle"]["postStart"] == {
        "httpGet": {"path": "/app-lifecycle/hello/poststartz", "port": 15020}
    }
    assert out["readinessProbe"] == {"exec": {"command": ["cat", "/tmp/ok"]}}


def test_unknown_named_ports_and_status_port_probes_are_not_recorded() -> None:
    hello = app(
        livenessProbe={"httpGet": {"port": "nope"}},
        readinessProbe={"httpGet": {"port": 15020, "path": "/app-health/hello/readyz"}},
    )
    _, env = rewrite(injected(hello))
    assert probes.PROBERS_ENV not in env


def test_init_containers_are_included_and_the_proxy_is_not() -> None:
    target = injected(app())
    target["spec"]["initContainers"] = [container("setup", readinessProbe={"httpGet": {"port": 7}})]
    target["spec"]["containers"][1]["readinessProbe"] = {"httpGet": {"port": 15021}}
    result, env = rewrite(target)
    assert json.loads(env[probes.PROBERS_ENV]) == {
        "/app-health/setup/readyz": {"httpGet": {"port": 7}}
    }
    assert result["spec"]["containers"][1]["readinessProbe"] == {"httpGet": {"port": 15021}}


@pytest.mark.parametrize(
    ("annotation", "value", "rewritten"),
    [
        (None, True, True),
        (None, False, False),
        ("false", True, False),
        ("true", False, True),
        ("maybe", True, True),
    ],
)
def test_the_annotation_overrides_values_when_it_parses(
    annotation: str | None, value: bool, rewritten: bool
) -> None:
    annotations = None if annotation is None else {probes.REWRITE_ANNOTATION: annotation}
    target = injected(app(readinessProbe={"httpGet": {"port": 80}}), annotations=annotations)
    values = {"sidecarInjectorWebhook": {"rewriteAppHTTPProbe": value}}
    result, env = rewrite(target, values=values)
    assert (probes.PROBERS_ENV in env) is rewritten
    assert (result["spec"]["containers"][0]["readinessProbe"]["httpGet"]["port"] == 15020) is (
        rewritten
    )


def test_the_status_port_annotation_is_where_probes_go() -> None:
    target = injected(
        app(readinessProbe={"httpGet": {"port": 80}}),
        annotations={probes.STATUS_PORT_ANNOTATION: "123"},
    )
    result, _ = rewrite(target)
    assert result["spec"]["containers"][0]["readinessProbe"]["httpGet"]["port"] == 123


def test_on_reinjection_existing_entries_win_and_new_ones_are_added() -> None:
    old = '{"/app-health/hello/readyz":{"httpGet":{"port":1}}}'
    target = injected(
        app(readinessProbe={"httpGet": {"port": 2}}, livenessProbe={"httpGet": {"port": 3}}),
        env=[{"name": probes.PROBERS_ENV, "value": old}, {"name": "LAST", "value": "x"}],
    )
    _, env = rewrite(target, previously_injected=True)
    assert env[probes.PROBERS_ENV] == (
        '{"/app-health/hello/livez":{"httpGet":{"port":3}},'
        '"/app-health/hello/readyz":{"httpGet":{"port":1}}}'
    )
    assert list(env) == [probes.PROBERS_ENV, "LAST"]


def test_a_first_injection_appends_even_if_the_env_exists() -> None:
    target = injected(
        app(readinessProbe={"httpGet": {"port": 2}}),
        env=[{"name": probes.PROBERS_ENV, "value": "{}"}],
    )
    sidecar = target["spec"]["containers"][1]
    rewrite(target)
    assert [e["name"] for e in sidecar["env"]] == [probes.PROBERS_ENV, probes.PROBERS_ENV]
