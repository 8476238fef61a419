"""Mesh config defaults and merging as Istio's ApplyMeshConfig; durations; jsonpb cleaning."""

from __future__ import annotations

import pytest

from sidecar_injector import meshconfig, meshschema
from sidecar_injector.meshschema import FieldError


def test_defaults_are_istios() -> None:
    mesh = meshconfig.default_mesh()
    pc = mesh.default_config.data
    assert pc["drainDuration"] == "45s"
    assert pc["terminationDrainDuration"] == "5s"
    assert pc["statusPort"] == 15020 and pc["proxyAdminPort"] == 15000
    assert pc["controlPlaneAuthPolicy"] == "MUTUAL_TLS"
    assert mesh.data["proxyListenPort"] == 15001
    assert mesh.data["proxyInboundListenPort"] == 15006
    assert mesh.data["enablePrometheusMerge"] is True
    assert [p["name"] for p in mesh.data["extensionProviders"]] == [
        "prometheus",
        "stackdriver",
        "envoy",
    ]


def test_apply_mesh_merges_what_istio_merges() -> None:
    base = meshconfig.apply_mesh(
        {"defaultConfig": {"proxyMetadata": {"A": "1"}}, "trustDomainAliases": ["b.local"]}
    )
    mesh = meshconfig.apply_mesh(
        {
            "defaultConfig": {"proxyMetadata": {"B": "2"}, "tracingServiceName": 1},
            "trustDomainAliases": ["a.local"],
            "extensionProviders": [
                {"name": "envoy", "envoyFileAccessLog": {"path": "/tmp/x"}},
                {"name": "otel", "opentelemetry": {"port": 4317}},
            ],
            "ingressClass": "other",
        },
        base,
    )
    pc = mesh.default_config.data
    assert pc["proxyMetadata"] == {"A": "1", "B": "2"}
    assert pc["tracingServiceName"] == "CANONICAL_NAME_ONLY"
    assert "serviceCluster" not in pc
    assert pc["drainDuration"] == "45s"
    assert mesh.data["trustDomainAliases"] == ["a.local", "b.local"]
    providers = {p["name"]: p for p in mesh.data["extensionProviders"]}
    assert providers["envoy"]["envoyFileAccessLog"] == {"path": "/tmp/x"}
    assert list(providers) == ["prometheus", "stackdriver", "envoy", "otel"]
    assert mesh.data["ingressClass"] == "other"


def test_apply_proxy_takes_snake_case_and_wrappers() -> None:
    pc = meshconfig.apply_proxy(
        {
            "drain_duration": "1.5s",
            "concurrency": {"value": 3},
            "hold_application_until_proxy_starts": True,
        },
        meshconfig.default_mesh().default_config,
    )
    assert pc.data["drainDuration"] == "1.500s"
    assert pc.data["concurrency"] == 3
    assert pc.data["holdApplicationUntilProxyStarts"] is True


def test_unknown_fields_are_kept() -> None:
    mesh = meshconfig.apply_mesh({"mixerAddress": "m:9091", "somethingNew": {"x": 1}})
    assert mesh.data["mixerAddress"] == "m:9091"
    assert mesh.data["somethingNew"] == {"x": 1}


@pytest.mark.parametrize(
    ("text", "nanos"),
    [("10s", 10**10), ("1m30s", 9 * 10**10), ("1.5s", 1_500_000_000), ("500ms", 5 * 10**8),
     ("2h", 7_200 * 10**9), ("0", 0), (3, 3 * 10**9), ("-1s", -(10**9)), ("1us", 1000)],
)  # fmt: skip
def test_parse_duration(text: str | int, nanos: int) -> None:
    assert meshschema.parse_duration(text, "d") == nanos


@pytest.mark.parametrize(
    "bad", ["", "soon", "10", "1x", "s", True, None, "2562048h", "9" * 400 + "s", "9" * 50_000]
)
def test_bad_durations_name_the_path(bad: object) -> None:
    with pytest.raises(FieldError, match=r"^a\.b: "):
        meshschema.parse_duration(bad, "a.b")


@pytest.mark.parametrize(
    ("nanos", "jsonpb", "go"),
    [(45 * 10**9, "45s", "45s"), (90 * 10**9, "90s", "1m30s"), (1_500_000_000, "1.500s", "1.5s"),
     (500_000, "0.000500s", "500µs"), (1, "0.000000001s", "1ns"), (0, "0s", "0s"),
     (7_200 * 10**9, "7200s", "2h0m0s"), (-(10**9), "-1s", "-1s")],
)  # fmt: skip
def test_duration_texts(nanos: int, jsonpb: str, go: str) -> None:
    assert meshschema.format_duration_json(nanos) == jsonpb
    assert meshschema.format_duration_go(nanos) == go


def test_clean_proxy_config_drops_defaults_and_zero_values() -> None:
    pc = meshconfig.apply_proxy(
        {"statusPort": 15021, "interceptionMode": "REDIRECT", "meshId": "", "extraStatTags": []},
        meshconfig.default_mesh().default_config,
    )
    assert meshconfig.clean_proxy_config(pc) == {"statusPort": 15021}
