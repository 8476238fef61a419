"""patch: RFC 6902 ops from the raw request pod; unmodelled fields survive."""

from __future__ import annotations

import copy

from sidecar_injector.merge import merge_sidecar
from sidecar_injector.patch import apply_patch, make_patch
from tests.builders import pod, sidecar_overlay


def test_patch_turns_original_into_injected() -> None:
    original = pod(containers=["app"], volumes=[{"name": "data", "emptyDir": {}}])
    injected = merge_sidecar(original, [sidecar_overlay()]).pod
    ops = make_patch(original, injected)
    assert ops
    assert {op["op"] for op in ops} <= {"add", "remove", "replace", "move", "copy"}
    assert all(op["path"].startswith("/") for op in ops)
    assert apply_patch(original, ops) == injected


def test_unknown_fields_are_never_touched() -> None:
    original = pod(containers=["app"], futureField={"nested": [1, 2]})
    original["metadata"]["x-unknown"] = "kept"
    original["status"] = {"phase": "Pending"}
    injected = merge_sidecar(original, [sidecar_overlay()]).pod
    ops = make_patch(original, injected)
    touched = [op["path"] for op in ops] + [op.get("from", "") for op in ops]
    assert not any(
        p.startswith(("/spec/futureField", "/metadata/x-unknown", "/status")) for p in touched
    )
    patched = apply_patch(original, ops)
    assert patched["spec"]["futureField"] == {"nested": [1, 2]}
    assert patched["metadata"]["x-unknown"] == "kept"


def test_no_change_no_ops_and_inputs_untouched() -> None:
    original = pod()
    before = copy.deepcopy(original)
    assert make_patch(original, copy.deepcopy(original)) == []
    apply_patch(original, [{"op": "add", "path": "/spec/hostname", "value": "h"}])
    assert original == before


def test_types_are_kept_apart() -> None:
    ops = make_patch({"a": 1, "b": [0]}, {"a": True, "b": [False]})
    assert apply_patch({"a": 1, "b": [0]}, ops) == {"a": True, "b": [False]}
    assert apply_patch({"a": 1, "b": [0]}, ops)["a"] is True
