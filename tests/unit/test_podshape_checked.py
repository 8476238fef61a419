"""`podshape.Checked`: an overlay's parts that passed once (the blocks a `blockyaml.Memo` hands
out again) are not walked again, and nothing else is let through."""

from __future__ import annotations

from typing import Any

import pytest

from sidecar_injector import podshape


def overlay(env: list[Any]) -> dict[str, Any]:
    return {"spec": {"containers": [{"name": "istio-proxy", "env": env}]}}


def test_a_part_checked_before_is_not_walked_again() -> None:
    checked = podshape.Checked()
    entry: dict[str, Any] = {"name": "A", "value": "1"}
    podshape.check_overlay(overlay([entry]), checked=checked)
    assert checked.has(entry, "EnvVar")
    entry["value"] = {"x": 1}  # changed behind the memo's back: proof that it is not walked again
    podshape.check_overlay(overlay([entry]), checked=checked)
    with pytest.raises(podshape.PodError, match="/spec/containers/0/env/0/value"):
        podshape.check_overlay(overlay([entry]))


def test_an_equal_object_is_walked_and_a_wrong_one_refused() -> None:
    checked = podshape.Checked()
    podshape.check_overlay(overlay([{"name": "A", "value": "1"}]), checked=checked)
    with pytest.raises(podshape.PodError, match="/spec/containers/0/env/0/value"):
        podshape.check_overlay(overlay([{"name": "A", "value": {"x": 1}}]), checked=checked)


def test_checked_is_bounded_and_keyed_by_type() -> None:
    checked = podshape.Checked(entries=3)
    kept = [{"name": str(i)} for i in range(5)]
    for item in kept:
        checked.add(item, "EnvVar")
    assert not checked.has(kept[0], "EnvVar")
    assert checked.has(kept[4], "EnvVar")
    assert not checked.has(kept[4], "Container")
