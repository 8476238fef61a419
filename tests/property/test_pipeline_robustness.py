"""Bad pods never crash the pipeline: any wrong-typed part gives a result or a located error.

A realistic pod has one part (any field, any list item, at any depth) replaced by JSON of some
other type. The webhook, kube-inject and the decision must then either answer or raise an
`errors.InjectorError`; a `podshape.PodError` must point into the part that was replaced.
"""

from __future__ import annotations

import copy
import functools
from typing import Any

import orjson
import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from sidecar_injector import config, decision, errors, inject, podshape, workloads
from tests import builders
from tests.conftest import KIT, SHIPPED_SAMPLE

Path = tuple[str | int, ...]

LEGACY_KIT = KIT / "legacy-1.0/config"
CONFIGS = ["default", "legacy"] if LEGACY_KIT.is_dir() else ["default"]
"""Istio 1.0's config joins the embedded default when the conformance kit is in ../shared."""
SETTINGS = settings(
    max_examples=100,
    deadline=None,
    derandomize=True,
    suppress_health_check=[HealthCheck.too_slow],
)


def _base_pod() -> dict[str, Any]:
    """The loadgen's typical pod plus fields it lacks: init container, numeric quantity, probes."""
    review = orjson.loads(SHIPPED_SAMPLE.read_bytes())
    pod: dict[str, Any] = review["request"]["object"]
    del pod["metadata"]["managedFields"]
    pod["spec"]["initContainers"] = [
        builders.container(
            "migrate",
            resources={"limits": {"cpu": 1, "memory": "64Mi"}},
            securityContext={"runAsUser": 1000, "capabilities": {"drop": ["ALL"]}},
            readinessProbe={"tcpSocket": {"port": 5432}, "periodSeconds": 5},
        )
    ]
    return pod


BASE = _base_pod()


def _paths(value: Any, prefix: Path = ()) -> list[Path]:
    found = [prefix]
    if isinstance(value, dict):
        for key, item in value.items():
            found += _paths(item, (*prefix, key))
    elif isinstance(value, list):
        for index, item in enumerate(value):
            found += _paths(item, (*prefix, index))
    return found


PATHS = _paths(BASE)[1:]

_text = st.text(alphabet="abc80-/.: ", max_size=6)
_scalars = st.none() | st.booleans() | st.integers(-(2**31), 2**31) | st.floats(-1e6, 1e6) | _text
wrong_json: st.SearchStrategy[Any] = (
    _scalars
    | st.lists(_scalars, max_size=2)
    | st.dictionaries(_text, _scalars, max_size=2)
    | st.just([{}])
)
Changes = list[tuple[Path, Any]]
changes = st.lists(st.tuples(st.sampled_from(PATHS), wrong_json), min_size=1, max_size=3)


@functools.cache
def configs() -> dict[str, config.Config]:
    loaded = {"default": config.load_default()}
    if "legacy" in CONFIGS:
        loaded["legacy"] = config.load_files(
            config=LEGACY_KIT / "config.yaml",
            values=LEGACY_KIT / "values.json",
            mesh=LEGACY_KIT / "mesh.yaml",
        )
    return loaded


def _replaced(changes: Changes) -> tuple[dict[str, Any], list[Path]]:
    """BASE with each change applied in turn; a change whose path an earlier one removed is
    left out. Returns the pod and the paths that were replaced."""
    pod = copy.deepcopy(BASE)
    done: list[Path] = []
    for path, value in changes:
        target: Any = pod
        for step in path[:-1]:
            target = _child(target, step)
        if _set(target, path[-1], value):
            done.append(path)
    return pod, done


def _set(target: Any, step: str | int, value: Any) -> bool:
    if isinstance(target, dict) and isinstance(step, str):
        target[step] = value
        return True
    if isinstance(target, list) and isinstance(step, int) and step < len(target):
        target[step] = value
        return True
    return False


def _child(value: Any, step: str | int) -> Any:
    if isinstance(value, dict) and isinstance(step, str):
        return value.get(step)
    if isinstance(value, list) and isinstance(step, int) and step < len(value):
        return value[step]
    return None


def _assert_located(err: errors.InjectorError, paths: list[Path]) -> None:
    """The error says where: a PodError points at or below a replaced part."""
    assert str(err)
    assert err.location is not None, repr(err)
    if isinstance(err, podshape.PodError):
        found = err.location.pointer
        assert found is not None
        replaced = [podshape.pointer(path) for path in paths]
        assert any(found == r or found.startswith(r + "/") for r in replaced), (found, replaced)
        assert "expected " in err.message


@SETTINGS
@given(changes, st.sampled_from(CONFIGS))
def test_inject_pod_answers_or_says_where(changed: Changes, which: str) -> None:
    pod, paths = _replaced(changed)
    try:
        inject.inject_pod(pod, namespace="shop", config=configs()[which])
    except errors.InjectorError as err:
        _assert_located(err, paths)


@SETTINGS
@given(changes)
def test_decide_answers_or_says_where(changed: Changes) -> None:
    pod, paths = _replaced(changed)
    try:
        answer = decision.decide(pod, namespace="shop", config=configs()["default"].injection)
    except errors.InjectorError as err:
        _assert_located(err, paths)
    else:
        assert answer.reason


def _deployment(pod: dict[str, Any]) -> str:
    template = {"metadata": pod["metadata"], "spec": pod["spec"]}
    resource = {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": {"name": "checkout", "namespace": "shop"},
        "spec": {"selector": {"matchLabels": {"app": "checkout"}}, "template": template},
    }
    return yaml.safe_dump(resource, sort_keys=False)


KUBE_PATHS = [p for p in PATHS if p[0] in ("metadata", "spec") and len(p) > 1]
kube_changes = st.lists(st.tuples(st.sampled_from(KUBE_PATHS), wrong_json), min_size=1, max_size=3)


@SETTINGS
@given(kube_changes, st.sampled_from(CONFIGS))
def test_kube_inject_answers_or_says_where(changed: Changes, which: str) -> None:
    pod, paths = _replaced(changed)
    text = _deployment(pod)
    try:
        out = workloads.kube_inject(text, settings=configs()[which], source="app.yaml")
    except errors.InjectorError as err:
        assert str(err).startswith("app.yaml, document 1"), str(err)
        cause = err.__cause__
        if isinstance(cause, errors.InjectorError):
            _assert_located(cause, paths)
            assert cause.location is not None
            assert str(cause.location.pointer or "") in str(err)
    else:
        assert out.text.endswith("---\n")
