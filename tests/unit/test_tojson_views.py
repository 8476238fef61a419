"""`toJson` of the pod's Kubernetes structs writes what Go's `encoding/json` writes for the typed
objects Istio's templates see (`corev1`): the JSON names of the field tags in the struct's
order, `omitempty`, and the MarshalJSON of IntOrString, Quantity and Time; not the Go field
names with their zero values. A template that writes `toJson $port` (the Go reference
injector's does, for `ISTIO_META_POD_PORTS`) gets `{"name":"http","containerPort":8080,...}`."""

from __future__ import annotations

from typing import Any

import pytest

from sidecar_injector import gotemplate, podview
from sidecar_injector.gotemplate.sprig import jsoncodec

CASES: list[tuple[str, dict[str, Any], str]] = [
    (
        "ContainerPort",
        {"protocol": "TCP", "containerPort": 8080, "name": "http"},
        '{"name":"http","containerPort":8080,"protocol":"TCP"}',
    ),
    ("ContainerPort", {"containerPort": 80}, '{"containerPort":80}'),
    (
        "Probe",
        {"periodSeconds": 5, "httpGet": {"scheme": "HTTP", "port": 8080, "path": "/ready"}},
        '{"httpGet":{"path":"/ready","port":8080,"scheme":"HTTP"},"periodSeconds":5}',
    ),
    ("Probe", {"httpGet": {"port": "http"}}, '{"httpGet":{"port":"http"}}'),
    (
        "ResourceRequirements",
        {"requests": {"memory": "1024Mi", "cpu": "2000m"}, "limits": {"cpu": "1"}},
        '{"limits":{"cpu":"1"},"requests":{"cpu":"2","memory":"1Gi"}}',
    ),
    ("ObjectMeta", {"name": "web"}, '{"name":"web","creationTimestamp":null}'),
    (
        "EnvVar",
        {"valueFrom": {"fieldRef": {"fieldPath": "metadata.name"}}, "name": "POD"},
        '{"name":"POD","valueFrom":{"fieldRef":{"fieldPath":"metadata.name"}}}',
    ),
]


@pytest.mark.parametrize(("kind", "data", "expected"), CASES)
def test_a_kubernetes_struct_encodes_as_go_encodes_the_typed_object(
    kind: str, data: dict[str, Any], expected: str
) -> None:
    assert jsoncodec.marshal(podview.view(kind, data)) == expected


def test_int_or_string_quantity_and_time_encode_by_their_marshal_json() -> None:
    assert jsoncodec.marshal(podview.IntOrString(8080)) == "8080"
    assert jsoncodec.marshal(podview.IntOrString("http")) == '"http"'
    assert jsoncodec.marshal(podview.Quantity("2000m")) == '"2"'
    assert jsoncodec.marshal(podview.Time(None)) == "null"
    assert jsoncodec.marshal(podview.Time("2026-12-06T10:00:00Z")) == '"2026-12-06T10:00:00Z"'


def test_the_template_functions_write_struct_order_with_their_own_escaping_and_indent() -> None:
    port = podview.view("ContainerPort", {"containerPort": 80, "name": "<web>"})
    render = gotemplate.parse("{{ toJson . }}|{{ toRawJson . }}|{{ toPrettyJson . }}", "t").execute
    assert render(port) == (
        '{"name":"\\u003cweb\\u003e","containerPort":80}|'
        '{"name":"<web>","containerPort":80}|'
        '{\n  "name": "\\u003cweb\\u003e",\n  "containerPort": 80\n}'
    )


def test_a_list_of_ports_is_an_array_of_their_objects() -> None:
    container = podview.view(
        "Container",
        {"name": "app", "ports": [{"containerPort": 80}, {"name": "m", "containerPort": 9090}]},
    )
    assert isinstance(container, podview.K8sStruct)
    ports = container.go_field("Ports")
    assert jsoncodec.marshal(ports) == '[{"containerPort":80},{"name":"m","containerPort":9090}]'
