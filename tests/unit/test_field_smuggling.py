"""No pod-controlled string adds a field to what the embedded template injects.

For every string of the pod that the embedded default template inserts (annotations, labels,
names, owner references, namespace, ports, proxy.istio.io/config values and keys), a payload
built to escape a YAML scalar (a line break and indented keys, quotes, flow and comment
characters, anchors and aliases, YAML 1.1's other line breaks) either is refused by the
annotation validation with its message, or leaves the injected containers and volumes with the
shape a harmless value gives: the same keys and list lengths, only scalar values may differ.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

import pytest

from sidecar_injector import annotations as pod_annotations
from sidecar_injector import config, inject
from sidecar_injector.errors import InjectorError
from tests.builders import container, pod

Pod = dict[str, Any]

PAYLOADS = [
    "warning\n    command: [sh, -c, x]\n    args:",
    "x\n- --admin-port=0",
    "x\n      command: [sh]\n      y: z",
    'a" \n  command: [x]\n  z: "',
    "a' b",
    "{command: [x]}",
    "[x, y]",
    "a: b",
    "a #\n        command: [x]",
    "&anchor *alias",
    "*alias",
    "! tagged",
    "|\n  block",
    "x\x85      command: [x] #",
    "x\u2028      command: [x] #",
    "x\r\n      command: [x]",
    "x\t: y",
]


def _annotation(name: str) -> Callable[[str], Pod]:
    def build(value: str) -> Pod:
        return pod(annotations={"sidecar.istio.io/inject": "true", name: value})

    return build


def _label(name: str) -> Callable[[str], Pod]:
    def build(value: str) -> Pod:
        return pod(annotations={"sidecar.istio.io/inject": "true"}, labels={name: value})

    return build


def _proxy_config(make: Callable[[str], dict[str, Any]]) -> Callable[[str], Pod]:
    def build(value: str) -> Pod:
        text = json.dumps(make(value))
        return pod(annotations={"sidecar.istio.io/inject": "true", "proxy.istio.io/config": text})

    return build


def _owner(field: str) -> Callable[[str], Pod]:
    def build(value: str) -> Pod:
        owned = pod(annotations={"sidecar.istio.io/inject": "true"}, name="")
        reference = {"apiVersion": "apps/v1", "kind": "ReplicaSet", "name": "web-1", "uid": "u"}
        reference[field] = value
        owned["metadata"]["generateName"] = "web-1-"
        owned["metadata"]["ownerReferences"] = [{**reference, "controller": True}]
        return owned

    return build


def _named(value: str) -> Pod:
    return pod(annotations={"sidecar.istio.io/inject": "true"}, name=value)


def _container_named(value: str) -> Pod:
    return pod(annotations={"sidecar.istio.io/inject": "true"}, containers=[value, "second"])


def _port(field: str) -> Callable[[str], Pod]:
    def build(value: str) -> Pod:
        port = {"name": "http", "containerPort": 8080, "protocol": "TCP", field: value}
        app = container("app", ports=[port])
        return pod(annotations={"sidecar.istio.io/inject": "true"}, containers=[app])

    return build


def _service_account(value: str) -> Pod:
    return pod(annotations={"sidecar.istio.io/inject": "true"}, serviceAccountName=value)


# (what the pod controls, how to put a value there, a harmless value taking the same branches,
#  the annotation whose validation may refuse the value)
FIELDS: list[tuple[str, Callable[[str], Pod], str, str | None]] = [
    *(
        (f"annotation {name}", _annotation(name), harmless, name)
        for name, harmless in [
            ("sidecar.istio.io/logLevel", "debug"),
            ("sidecar.istio.io/componentLogLevel", "misc:error"),
            ("sidecar.istio.io/agentLogLevel", "default:debug"),
            ("sidecar.istio.io/proxyImage", "example.com/proxy:1"),
            ("sidecar.istio.io/interceptionMode", "TPROXY"),
            ("sidecar.istio.io/nativeSidecar", "true"),
            ("status.sidecar.istio.io/port", "15020"),
            ("traffic.sidecar.istio.io/includeOutboundIPRanges", "10.0.0.0/8"),
            ("traffic.sidecar.istio.io/excludeOutboundIPRanges", "10.1.0.0/16"),
            ("traffic.sidecar.istio.io/includeInboundPorts", "8080"),
            ("traffic.sidecar.istio.io/excludeInboundPorts", "9090"),
            ("traffic.sidecar.istio.io/excludeOutboundPorts", "3306"),
            ("readiness.status.sidecar.istio.io/initialDelaySeconds", "2"),
            ("readiness.status.sidecar.istio.io/periodSeconds", "3"),
            ("readiness.status.sidecar.istio.io/failureThreshold", "4"),
            ("sidecar.istio.io/proxyCPU", "100m"),
            ("sidecar.istio.io/proxyMemory", "128Mi"),
            ("sidecar.istio.io/proxyCPULimit", "2"),
            ("sidecar.istio.io/proxyMemoryLimit", "1Gi"),
        ]
    ),
    *(
        (f"label {name}", _label(name), "web", None)
        for name in [
            "security.istio.io/tlsMode",
            "service.istio.io/canonical-name",
            "service.istio.io/canonical-revision",
            "app.kubernetes.io/name",
            "app.kubernetes.io/version",
            "app",
            "version",
        ]
    ),
    *(
        (f"proxy config {what}", _proxy_config(make), harmless, "proxy.istio.io/config")
        for what, make, harmless in [
            ("string", lambda v: {"discoveryAddress": v}, "istiod:15012"),
            ("interceptionMode", lambda v: {"interceptionMode": v}, "TPROXY"),
            ("proxyMetadata value", lambda v: {"proxyMetadata": {"K": v}}, "v"),
            ("proxyMetadata key", lambda v: {"proxyMetadata": {v: "v"}}, "K"),
        ]
    ),
    ("pod name", _named, "web", None),
    ("owner name", _owner("name"), "web-1", None),
    ("owner kind", _owner("kind"), "StatefulSet", None),
    ("owner apiVersion", _owner("apiVersion"), "apps/v2", None),
    ("container name", _container_named, "app", None),
    ("port name", _port("name"), "http", None),
    ("port protocol", _port("protocol"), "UDP", None),
    ("port hostIP", _port("hostIP"), "10.0.0.1", None),
    ("service account", _service_account, "web", None),
]
NUMERIC = {f"annotation readiness.status.sidecar.istio.io/{n}" for n in
           ("initialDelaySeconds", "periodSeconds", "failureThreshold")}  # fmt: skip
"""Inserted as YAML integers, so guarded by the uint32 validator rather than by quoting."""
IDS = [f[0] for f in FIELDS]


@pytest.fixture(scope="module")
def default_config() -> config.Config:
    return config.load_default()


def shape(value: Any) -> Any:
    """Keys and list lengths, scalars blanked: what a smuggled field or item would change."""
    if isinstance(value, dict):
        return {key: shape(item) for key, item in value.items()}
    if isinstance(value, list):
        return [shape(item) for item in value]
    return None


def injected_shape(pod_: Pod, *, namespace: str, cfg: config.Config) -> Any:
    spec = inject.inject_pod(pod_, namespace=namespace, config=cfg).pod["spec"]
    return shape({k: spec.get(k) for k in ("initContainers", "containers", "volumes")})


_HARMLESS: dict[tuple[str, bool], Any] = {}


def harmless_shape(field: str, value: Pod, *, cfg: config.Config, validated: bool) -> Any:
    """The shape a harmless value gives, computed once per field (the payloads share it)."""
    key = (field, validated)
    if key not in _HARMLESS:
        _HARMLESS[key] = injected_shape(value, namespace="shop", cfg=cfg)
    return _HARMLESS[key]


def outcome(build: Pod, *, refusable: str | None, cfg: config.Config) -> Any:
    """The injected shape, or "refused" when the annotation's own validation denies the pod."""
    try:
        return injected_shape(build, namespace="shop", cfg=cfg)
    except InjectorError as err:
        if refusable is None or err.location is None:
            raise
        escaped = refusable.replace("~", "~0").replace("/", "~1")
        assert err.location.pointer == f"/metadata/annotations/{escaped}"
        assert refusable in str(err)
        return "refused"


@pytest.mark.parametrize("payload", PAYLOADS)
@pytest.mark.parametrize(("field", "build", "harmless", "refusable"), FIELDS, ids=IDS)
def test_a_payload_is_refused_or_changes_no_field(
    field: str,
    build: Callable[[str], Pod],
    harmless: str,
    refusable: str | None,
    payload: str,
    default_config: config.Config,
) -> None:
    expected = harmless_shape(field, build(harmless), cfg=default_config, validated=True)
    got = outcome(build(payload), refusable=refusable, cfg=default_config)
    assert got in ("refused", expected)


@pytest.mark.parametrize("payload", PAYLOADS)
@pytest.mark.parametrize(
    ("field", "build", "harmless", "refusable"),
    [f for f in FIELDS if f[0] not in NUMERIC],
    ids=[i for i in IDS if i not in NUMERIC],
)
def test_the_template_quotes_even_what_validation_would_refuse(
    field: str,
    build: Callable[[str], Pod],
    harmless: str,
    refusable: str | None,
    payload: str,
    default_config: config.Config,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(pod_annotations, "validate", lambda _: None)
    expected = harmless_shape(field, build(harmless), cfg=default_config, validated=False)
    # Only the ProxyConfig schema (a proxy config field) may still refuse.
    refusable = "proxy.istio.io/config" if refusable == "proxy.istio.io/config" else None
    got = outcome(build(payload), refusable=refusable, cfg=default_config)
    assert got in ("refused", expected)


@pytest.mark.parametrize("payload", PAYLOADS)
def test_a_namespace_changes_no_field(payload: str, default_config: config.Config) -> None:
    forced = pod(annotations={"sidecar.istio.io/inject": "true"})
    expected = injected_shape(forced, namespace="shop", cfg=default_config)
    assert injected_shape(forced, namespace=payload, cfg=default_config) == expected


@pytest.mark.parametrize(
    ("name", "flag"),
    [
        ("sidecar.istio.io/logLevel", "--proxyLogLevel="),
        ("sidecar.istio.io/componentLogLevel", "--proxyComponentLogLevel="),
        ("sidecar.istio.io/agentLogLevel", "--log_output_level="),
    ],
)
def test_a_quoted_log_level_arrives_whole(
    name: str, flag: str, default_config: config.Config, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(pod_annotations, "validate", lambda _: None)
    payload = PAYLOADS[0]
    result = inject.inject_pod(_annotation(name)(payload), namespace="shop", config=default_config)
    proxy = next(c for c in result.pod["spec"]["containers"] if c["name"] == inject.PROXY_NAME)
    assert flag + payload in proxy["args"]
