"""strategic: Kubernetes strategic merge patch with the Pod's patch metadata (reference §2.4)."""

from __future__ import annotations

import copy
import json
from typing import Any

import pytest

from sidecar_injector.strategic import MergeError, merge_overlay
from tests.builders import container, pod


def names(items: list[dict[str, Any]]) -> list[str]:
    return [item["name"] for item in items]


def test_null_deletes_a_key_and_is_dropped_from_new_items() -> None:
    merged = merge_overlay(
        pod(dnsPolicy="Default"),
        {"spec": {"dnsPolicy": None, "volumes": [{"name": "workload-socket", "emptyDir": None}]}},
    )
    assert "dnsPolicy" not in merged["spec"]
    assert merged["spec"]["volumes"] == [{"name": "workload-socket"}]


def test_containers_merge_by_name_field_by_field() -> None:
    original = pod(
        containers=[
            container(
                "istio-proxy",
                args=["user"],
                env=[{"name": "A", "value": "user"}, {"name": "U", "value": "1"}],
                ports=[{"containerPort": 80, "name": "http"}],
                volumeMounts=[{"name": "x", "mountPath": "/x"}],
                tty=True,
            )
        ]
    )
    overlay = {
        "spec": {
            "containers": [
                {
                    "name": "istio-proxy",
                    "args": ["proxy", "sidecar"],
                    "env": [{"name": "A", "value": "tpl"}, {"name": "T", "value": "2"}],
                    "ports": [{"containerPort": 80, "protocol": "TCP"}, {"containerPort": 15090}],
                    "volumeMounts": [{"name": "y", "mountPath": "/x", "readOnly": True}],
                }
            ]
        }
    }
    (proxy,) = merge_overlay(original, overlay)["spec"]["containers"]
    assert proxy["args"] == ["proxy", "sidecar"]  # atomic list: replaced
    assert proxy["tty"] is True
    assert proxy["env"] == [
        {"name": "A", "value": "tpl"},
        {"name": "T", "value": "2"},
        {"name": "U", "value": "1"},
    ]
    assert proxy["ports"] == [
        {"containerPort": 80, "name": "http", "protocol": "TCP"},
        {"containerPort": 15090},
    ]
    assert proxy["volumeMounts"] == [{"name": "y", "mountPath": "/x", "readOnly": True}]


def test_patch_items_come_first_unless_the_original_order_says_otherwise() -> None:
    original = pod(containers=["a", "istio-proxy", "b"])
    merged = merge_overlay(
        original, {"spec": {"containers": [{"name": "istio-proxy"}, {"name": "new"}]}}
    )
    assert names(merged["spec"]["containers"]) == ["a", "istio-proxy", "new", "b"]
    fresh = merge_overlay(pod(containers=["app"]), {"spec": {"containers": [{"name": "p"}]}})
    assert names(fresh["spec"]["containers"]) == ["p", "app"]


def test_merging_the_same_overlay_twice_changes_nothing() -> None:
    overlay = {"spec": {"containers": [{"name": "p", "image": "i"}], "volumes": [{"name": "v"}]}}
    once = merge_overlay(pod(containers=["a", "b"], volumes=[{"name": "w"}]), overlay)
    assert merge_overlay(once, overlay) == once


def test_patch_replace_on_a_map() -> None:
    merged = merge_overlay(
        pod(labels={"a": "1", "b": "2"}), {"metadata": {"labels": {"$patch": "replace", "c": "3"}}}
    )
    assert merged["metadata"]["labels"] == {"c": "3"}


def test_patch_delete_on_a_map_empties_it() -> None:
    original = pod(securityContext={"runAsUser": 1})
    merged = merge_overlay(original, {"spec": {"securityContext": {"$patch": "delete"}}})
    assert merged["spec"]["securityContext"] == {}


def test_patch_delete_list_item_by_merge_key() -> None:
    merged = merge_overlay(
        pod(containers=["a", "b"]), {"spec": {"containers": [{"name": "a", "$patch": "delete"}]}}
    )
    assert names(merged["spec"]["containers"]) == ["b"]


def test_patch_replace_list() -> None:
    merged = merge_overlay(
        pod(volumes=[{"name": "old"}]),
        {"spec": {"volumes": [{"$patch": "replace"}, {"name": "v1"}, {"name": "v2", "x": None}]}},
    )
    assert merged["spec"]["volumes"] == [{"name": "v1"}, {"name": "v2"}]


def test_delete_from_primitive_list_and_primitive_merge() -> None:
    original = pod()
    original["metadata"]["finalizers"] = ["a", "b", "c"]
    merged = merge_overlay(
        original,
        {"metadata": {"$deleteFromPrimitiveList/finalizers": ["b"], "finalizers": ["d", "a"]}},
    )
    # patch items in patch order; "c" follows "a" as in the original
    assert merged["metadata"]["finalizers"] == ["d", "a", "c"]


def test_set_element_order() -> None:
    merged = merge_overlay(
        pod(containers=["a", "b", "c"]),
        {
            "spec": {
                "$setElementOrder/containers": [{"name": "c"}, {"name": "a"}, {"name": "b"}],
                "containers": [{"name": "c", "tty": True}],
            }
        },
    )
    assert names(merged["spec"]["containers"]) == ["c", "a", "b"]
    assert merged["spec"]["containers"][0]["tty"] is True


def test_retain_keys() -> None:
    merged = merge_overlay(
        pod(volumes=[{"name": "v", "emptyDir": {}}]),
        {"spec": {"volumes": [{"name": "v", "$retainKeys": ["name", "secret"], "secret": {}}]}},
    )
    assert merged["spec"]["volumes"] == [{"name": "v", "secret": {}}]


def test_atomic_lists_of_maps_are_replaced() -> None:
    merged = merge_overlay(
        pod(tolerations=[{"key": "a", "operator": "Exists"}]),
        {"spec": {"tolerations": [{"key": "b", "operator": "Exists", "value": None}]}},
    )
    assert merged["spec"]["tolerations"] == [{"key": "b", "operator": "Exists"}]


def test_other_merge_keys() -> None:
    original = pod(
        hostAliases=[{"ip": "1.1.1.1", "hostnames": ["a"]}],
        imagePullSecrets=[{"name": "user"}],
        topologySpreadConstraints=[{"topologyKey": "zone", "maxSkew": 1}],
    )
    merged = merge_overlay(
        original,
        {
            "spec": {
                "hostAliases": [{"ip": "1.1.1.1", "hostnames": ["b"]}],
                "imagePullSecrets": [{"name": "istio"}],
                "topologySpreadConstraints": [{"topologyKey": "zone", "maxSkew": 2}],
            }
        },
    )
    assert merged["spec"]["hostAliases"] == [{"ip": "1.1.1.1", "hostnames": ["b"]}]
    assert merged["spec"]["imagePullSecrets"] == [{"name": "istio"}, {"name": "user"}]
    assert merged["spec"]["topologySpreadConstraints"] == [{"topologyKey": "zone", "maxSkew": 2}]


def test_inputs_are_not_changed_and_result_shares_nothing() -> None:
    original = pod(containers=[container("app", env=[{"name": "A", "value": "1"}])])
    overlay = {"spec": {"containers": [{"name": "app", "env": [{"name": "B", "value": "2"}]}]}}
    before = copy.deepcopy((original, overlay))
    merged = merge_overlay(original, overlay)
    assert (original, overlay) == before
    merged["spec"]["containers"][0]["env"].clear()
    assert original["spec"]["containers"][0]["env"] == [{"name": "A", "value": "1"}]


@pytest.mark.parametrize(
    ("overlay", "pointer", "words"),
    [
        ({"spec": {"containers": "x"}}, "/spec/containers", "must be a list"),
        ({"spec": "x"}, "/spec", "must be a mapping"),
        ({"spec": {"containers": [{"image": "x"}]}}, "/spec/containers/0", "no merge key 'name'"),
        ({"spec": {"containers": ["x"]}}, "/spec/containers/0", "must be mappings"),
        (
            {"spec": {"containers": [{"name": "app", "resources": "big"}]}},
            "/spec/containers/0/resources",
            "cannot merge a string into a mapping",
        ),
        ({"metadata": {"labels": {"$patch": "sideways"}}}, "/metadata/labels/$patch", "unknown"),
        (
            {"spec": {"volumes": [{"$patch": "merge", "name": "v"}]}},
            "/spec/volumes/0",
            "not allowed in a list item",
        ),
        (
            {"metadata": {"annotations": {"a/b": {"x": 1}}}},
            "/metadata/annotations/a~1b",
            "cannot merge a mapping into a string",
        ),
    ],
)
def test_type_mismatches_raise_with_a_json_pointer(
    overlay: dict[str, Any], pointer: str, words: str
) -> None:
    original = pod(
        containers=[container("app", resources={"limits": {"cpu": "1"}})],
        annotations={"a/b": "text"},
    )
    with pytest.raises(MergeError) as caught:
        merge_overlay(original, overlay)
    assert caught.value.location is not None
    assert caught.value.location.pointer == pointer
    assert words in str(caught.value)
    assert f"at {pointer}" in str(caught.value)


def test_overlay_must_be_a_mapping() -> None:
    with pytest.raises(MergeError, match="mapping"):
        merge_overlay(pod(), ["not", "a", "pod"])  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("value", "kind"),
    [(True, "a boolean"), (3, "a number"), (1.5, "a number"), (["x"], "a list")],
)
def test_mismatch_messages_name_the_kind(value: Any, kind: str) -> None:
    with pytest.raises(MergeError, match=f"cannot merge {kind} into a mapping"):
        merge_overlay(pod(securityContext={"runAsUser": 1}), {"spec": {"securityContext": value}})


def test_primitive_lists_compare_by_json_value() -> None:
    original = pod()
    original["metadata"]["finalizers"] = [1, True, {"a": [1]}]
    merged = merge_overlay(
        original,
        {
            "metadata": {
                "finalizers": [True, {"a": [1]}, 1.0, "$x"],
                "$deleteFromPrimitiveList/x": [1],
            }
        },
    )
    # 1 and 1.0 are one JSON number; true is not 1; patch order wins
    assert json.dumps(merged["metadata"]["finalizers"]) == '[true, {"a": [1]}, 1, "$x"]'
    assert "x" not in merged["metadata"]


def test_null_in_a_string_list_is_the_empty_string_as_in_go() -> None:
    overlay = {"spec": {"containers": [{"name": "p", "args": ["a", None], "command": [None]}]}}
    (proxy,) = merge_overlay({}, overlay)["spec"]["containers"]
    assert (proxy["args"], proxy["command"]) == (["a", ""], [""])
    with pytest.raises(MergeError, match="not null"):
        merge_overlay({}, {"spec": {"containers": [{"name": "p", "ports": [None]}]}})


def test_dollar_keys_that_are_not_directives_are_plain_keys() -> None:
    original = pod(annotations={"$old": "1", "$gone": "2"})
    merged = merge_overlay(original, {"metadata": {"annotations": {"$new": "3", "$gone": None}}})
    assert merged["metadata"]["annotations"] == {"$old": "1", "$new": "3"}


def test_set_element_order_for_scalars_and_bad_orders() -> None:
    original = pod()
    original["metadata"]["finalizers"] = ["a", "b"]
    merged = merge_overlay(
        original,
        {
            "metadata": {
                "$setElementOrder/finalizers": ["b", "c", "a"],
                "finalizers": ["c"],
                "$setElementOrder/ownerReferences": "not a list",
                "$deleteFromPrimitiveList/finalizers": [True],
            }
        },
    )
    assert merged["metadata"]["finalizers"] == ["b", "c", "a"]


def test_copies_of_other_mappings() -> None:
    from types import MappingProxyType

    frozen = MappingProxyType({"spec": MappingProxyType({"hostname": "h"})})
    merged = merge_overlay(frozen, {"metadata": {"name": "x"}})
    assert merged == {"spec": {"hostname": "h"}, "metadata": {"name": "x"}}
    assert type(merged["spec"]) is dict
