"""merge: sidecar merge, status annotation, overrides, strip, uninject, legacy 1.0 append."""

from __future__ import annotations

import hashlib
import json
from typing import Any

import pytest
import yaml

from sidecar_injector.merge import (
    STATUS_KEY,
    InjectionStatus,
    MergeError,
    append_legacy,
    merge_sidecar,
    status_of,
    strip,
    template_view,
    uninject,
)
from sidecar_injector.overrides import OVERRIDES_KEY
from tests.builders import container, pod, sidecar_overlay
from tests.conftest import KIT, needs_kit


def names(items: list[dict[str, Any]]) -> list[str]:
    return [item["name"] for item in items]


def test_status_annotation_is_istios_json() -> None:
    merged = merge_sidecar(pod(), [sidecar_overlay()])
    assert merged.pod["metadata"]["annotations"][STATUS_KEY] == (
        '{"initContainers":["istio-init"],"containers":["istio-proxy"],'
        '"volumes":["workload-socket","istio-envoy"],"imagePullSecrets":null,'
        '"revision":"default"}'
    )


def test_status_lists_only_what_templates_added_and_null_for_empty() -> None:
    overlay = {"spec": {"containers": [{"name": "only", "image": "x"}]}}
    merged = merge_sidecar(
        pod(init_containers=["user-init"], volumes=[{"name": "v"}]), [overlay], revision="canary"
    )
    assert merged.pod["metadata"]["annotations"][STATUS_KEY] == (
        '{"initContainers":null,"containers":["only"],"volumes":null,'
        '"imagePullSecrets":null,"revision":"canary"}'
    )


def test_status_parse_round_trip_and_garbage() -> None:
    status = InjectionStatus(("i",), ("c",), ("v1", "v2"), (), revision="r")
    assert InjectionStatus.parse(status.to_json()) == status
    assert InjectionStatus.parse("{not json") is None
    assert InjectionStatus.parse("[1]") is None
    assert InjectionStatus.parse('{"containers":[1,"a"]}') == InjectionStatus(
        containers=("a",), revision=None
    )


def test_templates_merge_in_order_and_pod_gets_metadata() -> None:
    second = {"metadata": {"labels": {"extra": "yes"}}, "spec": {"containers": [{"name": "x"}]}}
    merged = merge_sidecar(
        pod(containers=["app"], labels={"app": "a"}),
        [sidecar_overlay(), second],
        injected_annotations={"istio.io/rev": "overridden", "apparmor": "x"},
        network="net1",
    )
    meta = merged.pod["metadata"]
    assert meta["labels"]["security.istio.io/tlsMode"] == "istio"
    assert meta["labels"]["extra"] == "yes"
    assert meta["labels"]["app"] == "a"
    assert meta["labels"]["topology.istio.io/network"] == "net1"
    assert meta["annotations"]["istio.io/rev"] == "overridden"
    assert meta["annotations"]["apparmor"] == "x"
    assert merged.status.containers == ("x", "istio-proxy")
    assert names(merged.pod["spec"]["containers"]) == ["x", "app", "istio-proxy"]


def test_proxy_last_or_first_and_init_order() -> None:
    original = pod(containers=["app"], init_containers=["user-init"])
    overlay = sidecar_overlay()
    overlay["spec"]["initContainers"].append({"name": "enable-core-dump", "image": "x"})
    classic = merge_sidecar(original, [overlay]).pod["spec"]
    assert names(classic["containers"]) == ["app", "istio-proxy"]
    assert names(classic["initContainers"]) == ["user-init", "istio-init", "enable-core-dump"]
    held = merge_sidecar(original, [overlay], hold_application=True).pod["spec"]
    assert names(held["containers"]) == ["istio-proxy", "app"]


def native_overlay() -> dict[str, Any]:
    overlay = sidecar_overlay()
    proxy = overlay["spec"].pop("containers")[0]
    proxy["restartPolicy"] = "Always"
    overlay["spec"]["initContainers"].append(proxy)
    return overlay


def test_native_sidecar_order_and_user_proxy_moved_to_init_containers() -> None:
    user_proxy = container("istio-proxy", image="auto", resources={"limits": {"cpu": "3"}})
    original = pod(containers=["app", user_proxy], init_containers=["user-init"])
    spec = merge_sidecar(original, [native_overlay()]).pod["spec"]
    assert names(spec["containers"]) == ["app"]
    assert names(spec["initContainers"]) == ["istio-init", "istio-proxy", "user-init"]
    proxy = spec["initContainers"][1]
    assert proxy["restartPolicy"] == "Always"
    assert proxy["resources"]["limits"] == {"cpu": "3"}
    assert proxy["image"] == "docker.io/istio/proxyv2:1.24.0"
    injected = merge_sidecar(original, [native_overlay()]).pod
    assert uninject(injected) == original
    assert merge_sidecar(injected, [native_overlay()]).pod == injected


def test_user_proxy_fields_win_and_are_recorded() -> None:
    user_proxy = container(
        "istio-proxy",
        image="auto",
        resources={"limits": {"memory": "1Gi"}},
        securityContext={"runAsUser": 1234},
        env=[{"name": "ISTIO_META_CLUSTER_ID", "value": "mine"}],
    )
    merged = merge_sidecar(pod(containers=["app", user_proxy]), [sidecar_overlay()]).pod
    proxy = merged["spec"]["containers"][-1]
    assert proxy["image"] == "docker.io/istio/proxyv2:1.24.0"  # image: auto keeps the template's
    assert proxy["resources"] == {
        "limits": {"memory": "1Gi"},
        "requests": {"cpu": "100m", "memory": "128Mi"},
    }
    assert proxy["securityContext"] == {"runAsUser": 1234, "runAsGroup": 1337}
    assert proxy["env"] == [{"name": "ISTIO_META_CLUSTER_ID", "value": "mine"}]
    init = merged["spec"]["initContainers"][0]
    assert init["args"][init["args"].index("-u") + 1] == "1234"
    assert merged["metadata"]["annotations"][OVERRIDES_KEY] == (
        '{"containers":[{"name":"istio-proxy",'
        '"env":[{"name":"ISTIO_META_CLUSTER_ID","value":"mine"}],'
        '"resources":{"limits":{"memory":"1Gi"}},"securityContext":{"runAsUser":1234}}]}'
    )


def test_overrides_json_adds_empty_resources_like_go() -> None:
    user_init = container("istio-init", image="my/init:1", args=["my", "args"])
    merged = merge_sidecar(pod(init_containers=[user_init]), [sidecar_overlay()]).pod
    init = merged["spec"]["initContainers"][-1]
    assert (init["image"], init["args"]) == ("my/init:1", ["my", "args"])
    assert merged["metadata"]["annotations"][OVERRIDES_KEY] == (
        '{"initContainers":[{"name":"istio-init","image":"my/init:1",'
        '"args":["my","args"],"resources":{}}]}'
    )


def test_tproxy_forces_proxy_user_zero() -> None:
    user_proxy = container("istio-proxy", image="auto", securityContext={"runAsUser": 1234})
    merged = merge_sidecar(pod(containers=["app", user_proxy]), [sidecar_overlay()], tproxy=True)
    assert merged.pod["spec"]["containers"][-1]["securityContext"]["runAsUser"] == 0


def test_validation_container_takes_user_and_group() -> None:
    overlay = sidecar_overlay()
    overlay["spec"]["initContainers"][0]["name"] = "istio-validation"
    user_proxy = container("istio-proxy", securityContext={"runAsUser": 5, "runAsGroup": 6})
    merged = merge_sidecar(pod(containers=["app", user_proxy]), [overlay]).pod
    validation = merged["spec"]["initContainers"][0]
    assert validation["securityContext"]["runAsUser"] == 5
    assert validation["securityContext"]["runAsGroup"] == 6


@pytest.mark.parametrize(
    "original",
    [
        pod(),
        pod(containers=["a", "b"], init_containers=["i"], volumes=[{"name": "data"}]),
        pod(containers=["app", container("istio-proxy", image="auto", tty=True)]),
        pod(labels={"x": "y"}, annotations={"note": "n"}, imagePullSecrets=[{"name": "reg"}]),
    ],
)
def test_reinjection_and_uninject(original: dict[str, Any]) -> None:
    once = merge_sidecar(original, [sidecar_overlay()]).pod
    assert merge_sidecar(once, [sidecar_overlay()]).pod == once
    assert uninject(once) == original


def test_strip_removes_only_injected_containers_and_status() -> None:
    once = merge_sidecar(pod(containers=["app"], init_containers=["i"]), [sidecar_overlay()]).pod
    stripped = strip(once)
    assert names(stripped["spec"]["containers"]) == ["app"]
    assert names(stripped["spec"]["initContainers"]) == ["i"]
    assert names(stripped["spec"]["volumes"]) == ["workload-socket", "istio-envoy"]
    assert STATUS_KEY not in stripped["metadata"]["annotations"]
    assert status_of(once) is not None and status_of(stripped) is None
    assert strip(pod()) == pod()


def test_strip_clears_prometheus_annotations_pointing_at_the_status_port() -> None:
    prom = {"prometheus.io/port": "15020", "prometheus.io/scrape": "true", "keep": "me"}
    injected = pod(annotations={**prom, STATUS_KEY: InjectionStatus().to_json()})
    assert strip(injected, status_port=15020)["metadata"]["annotations"] == {"keep": "me"}
    assert strip(injected, status_port=15021)["metadata"]["annotations"] == prom


def test_template_view_puts_user_overrides_back() -> None:
    user_proxy = container("istio-proxy", image="auto", tty=True)
    once = merge_sidecar(pod(containers=["app", user_proxy]), [sidecar_overlay()]).pod
    view = template_view(once)
    assert names(view["spec"]["containers"]) == ["app", "istio-proxy"]
    assert view["spec"]["containers"][1] == {"name": "istio-proxy", "tty": True, "resources": {}}


def test_uninject_without_status_is_a_copy() -> None:
    original = pod(labels={"security.istio.io/tlsMode": "istio"})
    result = uninject(original)
    assert result == original and result is not original


def test_legacy_append_and_status_version() -> None:
    spec = {
        "initContainers": [{"name": "istio-init", "image": "init"}],
        "containers": [{"name": "istio-proxy", "image": "proxy"}],
        "volumes": [{"name": "istio-envoy", "emptyDir": {"medium": "Memory"}}],
    }
    original = pod(containers=["app"], volumes=[{"name": "data"}])
    merged = append_legacy(original, spec, template_text="TEMPLATE")
    assert names(merged.pod["spec"]["containers"]) == ["app", "istio-proxy"]
    assert names(merged.pod["spec"]["volumes"]) == ["data", "istio-envoy"]
    digest = hashlib.sha256(b"TEMPLATE").hexdigest()
    assert merged.pod["metadata"]["annotations"][STATUS_KEY] == (
        f'{{"version":"{digest}","initContainers":["istio-init"],"containers":["istio-proxy"],'
        '"volumes":["istio-envoy"],"imagePullSecrets":null}'
    )
    again = append_legacy(merged.pod, spec, template_text="TEMPLATE")
    assert again.pod == merged.pod
    assert uninject(merged.pod) == original


def test_legacy_rejects_other_keys_and_non_lists() -> None:
    with pytest.raises(MergeError, match="metadata"):
        append_legacy(pod(), {"metadata": {}}, template_text="")
    with pytest.raises(MergeError, match="containers must be a list"):
        append_legacy(pod(), {"containers": {"name": "x"}}, template_text="")


@needs_kit
def test_legacy_version_matches_the_conformance_goldens() -> None:
    cases = KIT / "legacy-1.0/cases"
    config = yaml.safe_load((cases / "hello.yaml.settings/config.yaml").read_text())
    golden = next(yaml.safe_load_all((cases / "hello.yaml.injected").read_text()))
    annotations = golden["spec"]["template"]["metadata"]["annotations"]
    want = json.loads(annotations[STATUS_KEY])
    spec = {"initContainers": [{"name": "istio-init"}], "containers": [{"name": "istio-proxy"}]}
    spec["volumes"] = [{"name": "istio-envoy"}, {"name": "istio-certs"}]
    got = append_legacy(pod(), spec, template_text=config["template"])
    assert got.pod["metadata"]["annotations"][STATUS_KEY] == annotations[STATUS_KEY]
    assert got.status.version == want["version"]


def test_legacy_containers_lose_fields_kubernetes_1_10_did_not_have() -> None:
    spec = {
        "initContainers": [{"name": "istio-init", "image": "i", "restartPolicy": "Always"}],
        "containers": [
            {
                "name": "istio-proxy",
                "image": "p",
                "startupProbe": {},
                "tty": True,
                "args": [None],
                "securityContext": {"runAsUser": 1337, "restartPolicy": "Always"},
                "readinessProbe": {"httpGet": {"port": 15020, "bogus": 1}, "periodSeconds": 2},
            }
        ],
    }
    merged = append_legacy(pod(containers=["app"]), spec, template_text="t").pod["spec"]
    assert merged["initContainers"] == [{"name": "istio-init", "image": "i", "resources": {}}]
    assert merged["containers"][1] == {
        "name": "istio-proxy",
        "image": "p",
        "tty": True,
        "args": [""],
        "securityContext": {"runAsUser": 1337},
        "readinessProbe": {"httpGet": {"port": 15020}, "periodSeconds": 2},
        "resources": {},
    }
    with pytest.raises(MergeError, match="mappings"):
        append_legacy(pod(), {"containers": ["x"]}, template_text="")


@pytest.mark.parametrize("saved", ["{broken", "[]", '{"containers":[{"noname":1}]}'])
def test_unreadable_overrides_are_ignored(saved: str) -> None:
    injected = pod(annotations={OVERRIDES_KEY: saved, STATUS_KEY: InjectionStatus().to_json()})
    assert template_view(injected)["spec"]["containers"] == injected["spec"]["containers"]


def test_user_proxy_user_without_init_container_or_with_group_only() -> None:
    overlay = {"spec": {"containers": [{"name": "istio-proxy", "image": "p"}]}}
    user_proxy = container("istio-proxy", securityContext={"runAsUser": 7})
    merged = merge_sidecar(pod(containers=[user_proxy]), [overlay]).pod
    assert merged["spec"]["containers"][0]["securityContext"] == {"runAsUser": 7}
    grouped = container("istio-proxy", image="auto", securityContext={"runAsGroup": 8})
    merged = merge_sidecar(pod(containers=[grouped]), [sidecar_overlay()], tproxy=True).pod
    assert merged["spec"]["containers"][0]["securityContext"]["runAsUser"] == 1337
    assert merged["spec"]["initContainers"][0]["args"][-1] == "1337"


def test_legacy_scalars_in_string_fields_become_strings() -> None:
    proxy = {
        "name": "istio-proxy",
        "args": ["--port", 15000, True, 1.5, 2.0],
        "command": [1],
        "env": [{"name": "N", "value": 3}, {"name": "S", "value": "s"}, {"name": "F"}],
    }
    merged = append_legacy(pod(), {"containers": [proxy]}, template_text="").pod
    added = merged["spec"]["containers"][-1]
    assert added["args"] == ["--port", "15000", "true", "1.5", "2"]
    assert added["command"] == ["1"]
    assert added["env"] == [{"name": "N", "value": "3"}, {"name": "S", "value": "s"}, {"name": "F"}]


def test_tproxy_with_native_sidecar_forces_the_init_proxy_to_root() -> None:
    user_proxy = container("istio-proxy", image="auto", securityContext={"runAsUser": 1234})
    spec = merge_sidecar(pod(containers=["app", user_proxy]), [native_overlay()], tproxy=True).pod[
        "spec"
    ]
    proxy = spec["initContainers"][1]
    assert (proxy["name"], proxy["securityContext"]["runAsUser"]) == ("istio-proxy", 0)


def test_overrides_json_prints_quantities_and_false_as_go_does() -> None:
    user_proxy = container(
        "istio-proxy",
        image="auto",
        resources={"limits": {"cpu": "3000m", "memory": 1073741824}, "requests": {"cpu": "1x"}},
        tty=False,
        volumeMounts=[{"name": "v", "mountPath": "/v", "readOnly": False}],
    )
    merged = merge_sidecar(pod(containers=["app", user_proxy]), [sidecar_overlay()]).pod
    assert json.loads(merged["metadata"]["annotations"][OVERRIDES_KEY]) == {
        "containers": [
            {
                "name": "istio-proxy",
                "resources": {
                    "limits": {"cpu": "3", "memory": "1073741824"},
                    "requests": {"cpu": "1x"},
                },
                "volumeMounts": [{"name": "v", "mountPath": "/v"}],
            }
        ]
    }


def test_overrides_json_orders_resources_as_go() -> None:
    resources = {"requests": {"memory": "1Mi", "cpu": "1"}, "limits": {"cpu": "2"}}
    user_proxy = container("istio-proxy", image="auto", resources=resources)
    merged = merge_sidecar(pod(containers=["app", user_proxy]), [sidecar_overlay()]).pod
    assert (
        '"resources":{"limits":{"cpu":"2"},"requests":{"cpu":"1","memory":"1Mi"}}'
        in (merged["metadata"]["annotations"][OVERRIDES_KEY])
    )


def test_odd_shapes_pass_through_typing_and_overrides() -> None:
    spec = {"containers": [{"name": "p", "securityContext": "odd", "args": "not-a-list"}]}
    added = append_legacy(pod(), spec, template_text="").pod["spec"]["containers"][-1]
    assert (added["securityContext"], added["args"]) == ("odd", "not-a-list")
    user_proxy = container("istio-proxy", resources={"limits": "lots"})
    merged = merge_sidecar(
        pod(containers=[user_proxy]), [{"spec": {"containers": [{"name": "istio-proxy"}]}}]
    ).pod
    assert '"resources":{"limits":"lots"}' in merged["metadata"]["annotations"][OVERRIDES_KEY]


def test_json_annotations_escape_html_characters_as_go() -> None:
    user_proxy = container("istio-proxy", image="auto", args=["--a=<b>&c", "ü"])
    merged = merge_sidecar(pod(containers=["app", user_proxy]), [sidecar_overlay()]).pod
    text = merged["metadata"]["annotations"][OVERRIDES_KEY]
    assert '"args":["--a=\\u003cb\\u003e\\u0026c","ü"]' in text
    assert json.loads(text)["containers"][0]["args"] == ["--a=<b>&c", "ü"]


def test_legacy_errors_point_into_the_rendered_spec() -> None:
    with pytest.raises(MergeError) as caught:
        append_legacy(pod(), {"volumes": "x"}, template_text="")
    assert caught.value.location is not None and caught.value.location.pointer == "/volumes"


@pytest.fixture(scope="module")
def default_config() -> Any:
    from sidecar_injector import config

    return config.load_default()


def test_uninject_undoes_the_whole_pipeline_probes_and_prometheus_included(
    default_config: Any,
) -> None:
    from sidecar_injector import inject

    app = container(
        "app",
        ports=[{"containerPort": 8080, "name": "http"}],
        readinessProbe={"httpGet": {"path": "/ready", "port": 8080}, "periodSeconds": 3},
        livenessProbe={"tcpSocket": {"port": 8080}, "timeoutSeconds": 2},
        lifecycle={"preStop": {"httpGet": {"path": "/stop", "port": 8080}}},
    )
    original = pod(
        containers=[app, "side"],
        init_containers=["setup"],
        volumes=[{"name": "data", "emptyDir": {}}],
        labels={"app": "web"},
        annotations={"prometheus.io/scrape": "true", "prometheus.io/port": "9090"},
    )
    injected = inject.inject_pod(original, namespace="default", config=default_config).pod
    probe = injected["spec"]["containers"][0]["livenessProbe"]
    assert probe["httpGet"]["path"] == "/app-health/app/livez"  # the pipeline rewrote it
    assert injected["metadata"]["annotations"]["prometheus.io/port"] == "15020"
    assert uninject(injected) == original


def test_uninject_without_recorded_scrape_settings_drops_the_agents(default_config: Any) -> None:
    from sidecar_injector import inject

    original = pod(containers=["app"])
    injected = inject.inject_pod(original, namespace="default", config=default_config).pod
    assert injected["metadata"]["annotations"]["prometheus.io/path"] == "/stats/prometheus"
    assert uninject(injected) == original


def test_uninject_leaves_probes_it_did_not_rewrite() -> None:
    recorded = json.dumps({"/app-health/app/readyz": {"httpGet": {"path": "/r", "port": 80}}})
    proxy = container("istio-proxy", env=[{"name": "ISTIO_KUBE_APP_PROBERS", "value": recorded}])
    own = {"httpGet": {"path": "/mine", "port": 15020}}
    injected = pod(
        containers=[container("app", readinessProbe=own, livenessProbe={"exec": {}}), proxy],
        annotations={STATUS_KEY: InjectionStatus(containers=("istio-proxy",)).to_json()},
    )
    restored = uninject(injected)["spec"]["containers"][0]
    assert restored["readinessProbe"] == own
    assert restored["livenessProbe"] == {"exec": {}}


@pytest.mark.parametrize("recorded", ["{bad", "[1]", ""])
def test_uninject_ignores_unreadable_records(recorded: str) -> None:
    proxy = container(
        "istio-proxy",
        env=[
            {"name": "ISTIO_KUBE_APP_PROBERS", "value": recorded},
            {"name": "ISTIO_PROMETHEUS_ANNOTATIONS", "value": recorded},
        ],
    )
    rewritten = {"httpGet": {"path": "/app-health/app/readyz", "port": 15020}}
    injected = pod(
        containers=[container("app", readinessProbe=rewritten), proxy],
        annotations={
            STATUS_KEY: InjectionStatus(containers=("istio-proxy",)).to_json(),
            "prometheus.io/path": "/stats/prometheus",
            "prometheus.io/port": "15020",
        },
    )
    restored = uninject(injected)
    assert restored["spec"]["containers"] == [container("app", readinessProbe=rewritten)]
    assert "annotations" not in restored["metadata"]


def test_uninject_keeps_a_users_native_proxy_among_init_containers() -> None:
    user_proxy = container("istio-proxy", image="auto", restartPolicy="Always")
    original = pod(containers=["app"], init_containers=[user_proxy])
    injected = merge_sidecar(original, [native_overlay()]).pod
    assert uninject(injected) == original
