"""sidecars: Istio's container order (reference §5.3) and the native-sidecar move (§2.4, §5.4)."""

from __future__ import annotations

from typing import Any

import pytest

from sidecar_injector.sidecars import kubelet_minor, move_proxy_to_init, native_sidecars, reorder
from tests.builders import pod


def order(p: dict[str, Any], kind: str) -> list[str]:
    return [c["name"] for c in p["spec"].get(kind, [])]


@pytest.mark.parametrize(
    ("inits", "expected"),
    [
        (
            ["enable-core-dump", "istio-init", "user", "istio-validation"],
            ["istio-validation", "user", "istio-init", "enable-core-dump"],
        ),
        (
            ["user", "istio-proxy", "enable-core-dump", "istio-init", "other"],
            ["istio-init", "istio-proxy", "enable-core-dump", "user", "other"],
        ),
        (
            ["user", "istio-validation", "istio-proxy"],
            ["istio-validation", "istio-proxy", "user"],
        ),
        (["user"], ["user"]),
    ],
)
def test_init_container_order(inits: list[str], expected: list[str]) -> None:
    assert order(reorder(pod(init_containers=inits)), "initContainers") == expected


@pytest.mark.parametrize(
    ("hold", "expected"), [(False, ["a", "b", "istio-proxy"]), (True, ["istio-proxy", "a", "b"])]
)
def test_proxy_container_position(hold: bool, expected: list[str]) -> None:
    p = pod(containers=["a", "istio-proxy", "b"])
    assert order(reorder(p, hold_application=hold), "containers") == expected
    assert order(p, "containers") == ["a", "istio-proxy", "b"]


def test_reorder_without_lists() -> None:
    bare: dict[str, Any] = {"metadata": {"name": "x"}}
    assert reorder(bare) == {"metadata": {"name": "x"}, "spec": {}}


def test_native_move_only_when_template_has_proxy_in_init_containers() -> None:
    user = pod(containers=["app", "istio-proxy"], init_containers=["i"])
    moved = move_proxy_to_init(user, template_inits=["istio-proxy"])
    assert order(moved, "containers") == ["app"]
    assert order(moved, "initContainers") == ["i", "istio-proxy"]
    assert move_proxy_to_init(user, template_inits=[]) is user
    no_user_proxy = pod(containers=["app"])
    assert move_proxy_to_init(no_user_proxy, template_inits=["istio-proxy"]) is no_user_proxy


NODES = {"old": "v1.32.4", "new": "v1.33.1-eks-abc", "newer": "v1.34.0"}


@pytest.mark.parametrize(
    ("mode", "node", "versions", "expected"),
    [
        ("true", "", None, True),
        ("TRUE", "", {"old": "v1.20.0"}, True),
        ("false", "new", {"new": "v1.34.0"}, False),
        ("auto", "", None, False),
        ("", "", None, False),
        ("auto", "", {}, False),
        ("auto", "", NODES, False),
        ("auto", "", {"new": NODES["new"], "newer": NODES["newer"]}, True),
        ("auto", "new", NODES, True),
        ("auto", "old", NODES, False),
        ("auto", "gone", {"new": "v1.33.0", "x": "garbage"}, False),
        ("auto", "gone", {"new": "v1.33.0"}, True),
    ],
)
def test_native_sidecar_mode(
    mode: str, node: str, versions: dict[str, str] | None, expected: bool
) -> None:
    assert native_sidecars(mode, node_name=node, kubelet_versions=versions) is expected


@pytest.mark.parametrize(
    ("text", "minor"),
    [("v1.33.2", 33), ("1.29", 29), ("v1.30.1+k3s1", 30), ("v1.28.3-gke.1286000", 28), ("x", None)],
)
def test_kubelet_minor(text: str, minor: int | None) -> None:
    assert kubelet_minor(text) == minor
