"""Istio's template functions against the behaviour reference §3.3 documents."""

from __future__ import annotations

import json
from typing import Any

import pytest
import yaml

from sidecar_injector import config, istio_funcs, podview
from sidecar_injector.gotemplate.values import Map, Nil
from sidecar_injector.istio_funcs import FUNCS, LEGACY_FUNCS
from sidecar_injector.templatedata import Duration, Enum, proto_view


def call(name: str, *args: object) -> object:
    return FUNCS[name].fn(*args)


def containers(*specs: dict[str, object]) -> object:
    return podview.convert("[]Container", list(specs))


def meta(annotations: dict[str, str] | None) -> object:
    return podview.view("ObjectMeta", {"annotations": annotations} if annotations else {})


def test_the_whole_function_map_is_there() -> None:
    assert set(FUNCS) == {
        "formatDuration", "isset", "excludeInboundPort", "includeInboundPorts",
        "applicationPorts", "kubevirtInterfaces", "excludeInterfaces", "annotation",
        "valueOrDefault", "toJSON", "fromJSON", "structToJSON", "protoToJSON", "toYaml",
        "indent", "directory", "contains", "toLower", "appendMultusNetwork", "env", "omit",
        "strdict", "toJsonMap", "mergeMaps", "omitNil", "otelResourceAttributes",
    }  # fmt: skip
    assert "toJson" not in FUNCS
    assert LEGACY_FUNCS["toJson"].fn(Map.nil_map("map[string]string")) == "{}"


@pytest.mark.parametrize(
    ("nanos", "text"),
    [(23_000_000_000, "23s"), (60_000_000_000, "1m0s"), (500_000_000, "500ms"),
     (7_200_000_000_000, "2h0m0s"), (1_500_000_000, "1.5s"), (None, "0s")],
)  # fmt: skip
def test_format_duration_is_go_duration_text(nanos: int | None, text: str) -> None:
    assert call("formatDuration", Duration(nanos)) == text
    assert call("formatDuration", None) == "0s"


def test_isset_sees_empty_values() -> None:
    m = Map({"a": ""}, "map[string]string", zero="")
    assert call("isset", m, "a") is True
    assert call("isset", m, "b") is False


@pytest.mark.parametrize(
    ("port", "excluded", "want"),
    [
        ("15020", "4,5,6", "4,5,6,15020"),
        (15020, "", "15020"),
        (15020.0, "1, 2", "1,2,15020"),
        ("0", "4", "4"),
        ("", "4", "4"),
        ("5", "4,5", "4,5"),
        ("5", "4, 5", "4,5,5"),
    ],
)
def test_exclude_inbound_port(port: object, excluded: str, want: str) -> None:
    assert call("excludeInboundPort", port, excluded) == want


def test_inbound_ports_skip_udp_sctp_and_application_ports_skip_the_proxy() -> None:
    cs = containers(
        {"name": "app", "ports": [{"containerPort": 80}, {"containerPort": 53, "protocol": "UDP"}]},
        {"name": "istio-proxy", "ports": [{"containerPort": 15090, "protocol": "TCP"}]},
        {"name": "x", "ports": [{"containerPort": 9, "protocol": "SCTP"}, {"containerPort": 8}]},
    )
    assert call("includeInboundPorts", cs) == "80,15090,8"
    assert call("applicationPorts", cs) == "80,8"
    assert call("includeInboundPorts", Nil("[]v1.Container")) == ""


def test_annotation_prefers_present_keys_and_prints_defaults_as_go() -> None:
    m = meta({"a": "", "b": "x"})
    assert call("annotation", m, "a", "dflt") == ""
    assert call("annotation", m, "b", "dflt") == "x"
    assert call("annotation", m, "c", 15020.0) == "15020"
    assert call("annotation", m, "c", 1e6) == "1e+06"
    assert call("annotation", m, "c", Enum("ProxyConfig_InboundInterceptionMode", "TPROXY")) == (
        "TPROXY"
    )
    assert call("annotation", meta(None), "c", None) == "<nil>"


def test_value_or_default_keeps_zero_and_false() -> None:
    assert call("valueOrDefault", "", "d") == "d"
    assert call("valueOrDefault", None, "d") == "d"
    assert call("valueOrDefault", 0.0, "d") == 0.0
    assert call("valueOrDefault", False, "d") is False
    assert call("valueOrDefault", "v", "d") == "v"


def test_to_json_sorts_keys_escapes_html_and_gives_braces_for_nil() -> None:
    m = Map({"b": "<x>", "a": "&"}, "map[string]string", zero="")
    assert call("toJSON", m) == '{"a":"\\u0026","b":"\\u003cx\\u003e"}'
    assert call("toJSON", Map.nil_map("map[string]string")) == "{}"


def test_from_json_numbers_are_floats_and_errors_give_the_string_braces() -> None:
    assert call("fromJSON", '[{"name": "v", "n": 1}]') == [{"name": "v", "n": 1.0}]
    assert call("fromJSON", "not json") == "{}"
    assert call("fromJSON", "") == "{}"


def test_struct_to_json_follows_go_struct_order_and_omitempty() -> None:
    port = podview.view(
        "ContainerPort", {"protocol": "TCP", "containerPort": 80, "name": "http", "hostPort": 0}
    )
    assert call("structToJSON", port) == '{"name":"http","containerPort":80,"protocol":"TCP"}'
    assert call("structToJSON", podview.view("ContainerPort", {})) == '{"containerPort":0}'
    assert call("structToJSON", None) == "{}"


def test_proto_to_json_cleans_istio_defaults() -> None:
    mesh = config.load().mesh
    assert call("protoToJSON", proto_view("ProxyConfig", mesh.default_config.data)) == "{}"
    changed = {
        **mesh.default_config.data,
        "drainDuration": "23s",
        "concurrency": 0,
        "discoveryAddress": "foo:123",
        "proxyMetadata": {"Z": "1", "A": "2"},
        "holdApplicationUntilProxyStarts": False,
    }
    assert call("protoToJSON", proto_view("ProxyConfig", changed)) == (
        '{"drainDuration":"23s","discoveryAddress":"foo:123","concurrency":0,'
        '"proxyMetadata":{"A":"2","Z":"1"},"holdApplicationUntilProxyStarts":false}'
    )
    tracing = {**mesh.default_config.data, "tracing": {}}
    assert call("protoToJSON", proto_view("ProxyConfig", tracing)) == '{"tracing":{}}'
    assert call("protoToJSON", proto_view("ProxyConfig", None)) == "{}"


def test_to_yaml_goes_through_json() -> None:
    out = call("toYaml", {"b": [1.0, "x"], "a": {"cpu": "100m", "n": 1.5}})
    assert out == "a:\n  cpu: 100m\n  n: 1.5\nb:\n- 1\n- x\n"
    assert call("toYaml", None) == "null\n"
    assert call("toYaml", {}) == "{}\n"
    assert call("toYaml", float("nan")) == ""


def test_indent_leaves_the_first_line() -> None:
    assert call("indent", 2, "a\nb\nc") == "a\n  b\n  c"
    assert call("indent", 4, "one") == "one"


@pytest.mark.parametrize(
    ("path", "want"), [("/etc/certs/root.pem", "/etc/certs/"), ("file", ""), ("/", "/"), ("", "")]
)
def test_directory(path: str, want: str) -> None:
    assert call("directory", path) == want


def test_contains_and_to_lower() -> None:
    assert call("contains", "b", "abc") is True
    assert call("contains", "abc", "b") is False
    assert call("toLower", "Deployment") == "deployment"


@pytest.mark.parametrize(
    ("existing", "network", "want"),
    [
        ("", "default/istio-cni", "default/istio-cni"),
        ("a, b", "istio-cni", "a, b, istio-cni"),
        ("a, istio-cni", "istio-cni", "a, istio-cni"),
        ('[{"name": "x"}]', "istio-cni", '[{"name": "x"}, {"name": "istio-cni"}]'),
        (
            '[{"name": "x"}]',
            "default/istio-cni",
            '[{"name": "x"}, {"name": "istio-cni", "namespace": "default"}]',
        ),
        ('[{"name": "istio-cni"}]', "istio-cni", '[{"name": "istio-cni"}]'),
        ("[broken]", "istio-cni", "[broken]"),
        ("[broken", "istio-cni", "[broken, istio-cni"),
    ],
)
def test_append_multus_network(existing: str, network: str, want: str) -> None:
    assert call("appendMultusNetwork", existing, network) == want


def test_env_reads_the_process_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SIDECAR_TEST_X", "on")
    monkeypatch.delenv("SIDECAR_TEST_Y", raising=False)
    assert call("env", "SIDECAR_TEST_X", "d") == "on"
    assert call("env", "SIDECAR_TEST_Y", "d") == "d"


def test_string_map_helpers() -> None:
    m = {"a": "1", "b": "2", "c": "3"}
    assert call("omit", m, "a", "c") == {"b": "2"}
    assert call("strdict", "k", "v", "odd") == {"k": "v", "odd": ""}
    merged = call("mergeMaps", {"a": "1"}, {"a": "2", "b": "3"})
    assert merged == {"a": "2", "b": "3"}
    nil = call("mergeMaps")
    assert isinstance(nil, Map) and nil.is_nil
    assert call("toJsonMap", {"b": "1"}, {"a": "2"}) == '{"a":"2","b":"1"}'


def test_omit_nil_drops_nils_and_containers_emptied_by_it() -> None:
    resources = {"requests": {"cpu": None, "memory": None}, "limits": {"cpu": "1"}, "x": []}
    assert call("omitNil", resources) == {"limits": {"cpu": "1"}, "x": []}
    assert call("omitNil", [None, {"a": None}]) is None
    assert call("omitNil", {}) == {}


def test_otel_attributes_only_with_semantic_conventions() -> None:
    cs = containers({"name": "app", "image": "example.com/app:v3"})
    labels: dict[str, str] = {}
    plain = proto_view("MeshConfig", {"extensionProviders": [{"name": "otel"}]})
    assert call("otelResourceAttributes", plain, {}, labels, "ns", cs) == ""
    enriched = proto_view(
        "MeshConfig",
        {
            "extensionProviders": [
                {
                    "name": "o",
                    "opentelemetry": {"serviceAttributeEnrichment": "OTEL_SEMANTIC_CONVENTIONS"},
                }
            ]
        },
    )
    assert call("otelResourceAttributes", enriched, {}, labels, "ns", cs) == (
        "service.namespace=ns,service.version=v3,service.instance.id=ns.$(POD_NAME).app"
    )


def test_go_json_numbers_print_as_go() -> None:
    assert istio_funcs.go_json({"n": 15020.0, "f": 1.5, "big": 1e21}) == (
        '{"big":1e+21,"f":1.5,"n":15020}'
    )
    assert json.loads(istio_funcs.go_json([1e-7])) == [1e-7]
    assert yaml.safe_load(call("toYaml", {"n": 1e6})) == {"n": 1000000}  # type: ignore[arg-type]


@pytest.mark.oracle
@pytest.mark.parametrize(
    "value",
    [
        {"b": "<a href='x'>&amp;</a>", "a": '\u2028 é \x01 \\ "'},
        {"n": 15020.0, "f": 0.1, "big": 1e21, "small": 1e-7, "neg": -2.5, "z": 0.0},
        [True, False, None, "", [], {}],
        {"nested": {"z": [1.0, {"y": "x"}], "a": None}},
    ],
)
def test_go_json_matches_go_encoding_json(value: object, go_oracle: Any) -> None:
    theirs = go_oracle.render("{{ toJson .v }}", {"v": value}, sprig=True)
    assert istio_funcs.go_json(value) == theirs["output"]
