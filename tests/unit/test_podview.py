"""Kubernetes structs with Go field names, zero values and Go's JSON field order."""

from __future__ import annotations

import pytest

from sidecar_injector import podview
from sidecar_injector.gotemplate.values import Int, Nil, Slice, Struct, go_type_of


def test_value_and_pointer_views() -> None:
    spec = podview.view("PodSpec", {"containers": [{"name": "a"}]})
    assert isinstance(spec, Struct) and go_type_of(spec) == "v1.PodSpec"
    containers = spec.go_field("Containers")
    assert isinstance(containers, Slice) and go_type_of(containers) == "[]v1.Container"
    container = containers[0]
    assert isinstance(container, Struct) and go_type_of(container) == "v1.Container"
    assert go_type_of(container.go_field("Resources")) == "v1.ResourceRequirements"
    assert container.go_field("LivenessProbe") == Nil("*v1.Probe")
    assert podview.view("Probe", None, pointer=True) == Nil("*v1.Probe")
    assert go_type_of(podview.view("Probe", {}, pointer=True)) == "*v1.Probe"


@pytest.mark.parametrize(
    ("kind", "raw", "want"),
    [
        ("string", None, ""),
        ("bool", None, False),
        ("int32", None, Int(0, "int32")),
        ("int64", 5.0, Int(5, "int64")),
        ("*int64", None, Nil("*int64")),
        ("*bool", True, True),
        ("[]string", None, Nil("[]string")),
        ("[]string", ["a", 1], Slice(["a", "1"], "[]string")),
    ],
)
def test_zero_values_and_conversions(kind: str, raw: object, want: object) -> None:
    got = podview.convert(kind, raw)
    assert got == want
    assert go_type_of(got) == go_type_of(want)


def test_maps_are_typed_with_empty_string_zero() -> None:
    labels = podview.convert("map:map[string]string", {"a": "1"})
    assert go_type_of(labels) == "map[string]string"
    nil = podview.convert("map:map[string]string", None)
    assert nil == {} and nil.is_nil and nil.zero == ""  # type: ignore[attr-defined]


def test_int_or_string_and_quantities_print_through_string() -> None:
    assert podview.IntOrString(8080).String() == "8080"
    assert podview.IntOrString("http").String() == "http"
    assert podview.Quantity("2000m").String() == "2"
    assert podview.Quantity(None).String() == "0"


def test_types_we_do_not_describe_get_go_style_field_names() -> None:
    spec = podview.view("PodSpec", {"affinity": {"nodeAffinity": {"x": 1}}, "containers": []})
    assert isinstance(spec, Struct)
    affinity = spec.go_field("Affinity")
    assert isinstance(affinity, Struct)
    assert "NodeAffinity" in affinity.go_fields
    assert isinstance(affinity.go_field("NodeAffinity"), Struct)
    assert podview.go_name("podIP") == "PodIP"
    assert podview.go_name("uid") == "UID"
    assert podview.go_name("os") == "OS"
    assert podview.go_name("nodeName") == "NodeName"
    assert podview.go_name("apiVersion") == "APIVersion"


def test_struct_json_follows_go_struct_order_and_omitempty() -> None:
    container = podview.view(
        "Container",
        {
            "ports": [{"protocol": "TCP", "containerPort": 80}],
            "name": "app",
            "image": "",
            "tty": False,
            "resources": {"limits": {"cpu": "2000m"}},
            "readinessProbe": {"periodSeconds": 0, "httpGet": {"port": "http", "path": "/"}},
        },
    )
    assert podview.struct_json(container) == {
        "name": "app",
        "ports": [{"containerPort": 80, "protocol": "TCP"}],
        "resources": {"limits": {"cpu": "2"}},
        "readinessProbe": {"httpGet": {"path": "/", "port": "http"}},
    }
    assert list(podview.struct_json(podview.view("ObjectMeta", {}))) == ["creationTimestamp"]
