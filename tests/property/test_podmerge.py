"""The Pod-specific merge (podmerge) against the generic strategic merge it stands in for.

Generated pods and overlays: template-shaped overlays must take the fast path and give the
generic merge's pod, byte for byte (key order included); any overlay at all (directives, nulls,
repeated merge keys, wrong shapes) either gives the same pod or is handed to the generic merge.
The Istio kit's cases run through `merge_sidecar` with both merges compared on every call.
"""

from __future__ import annotations

import copy
import json
from collections.abc import Iterator, Sequence
from typing import Any

import pytest
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st

from sidecar_injector import inject, merge, podmerge, workloads
from sidecar_injector.strategic import MergeError, merge_pod
from tests.conftest import KIT, patches_inside
from tests.golden.test_inject_kit import KIT_CASES, _case_settings

SETTINGS = settings(
    max_examples=300,
    deadline=None,
    derandomize=True,
    suppress_health_check=[HealthCheck.too_slow],
)
JSON = Any


def _same(left: JSON, right: JSON) -> bool:
    """Equal as the bytes they serialise to: key order counts."""
    return json.dumps(left) == json.dumps(right)


def _list(item: st.SearchStrategy[JSON], key: str, *, loose: bool) -> st.SearchStrategy[JSON]:
    if not loose:
        return st.lists(item, max_size=3, unique_by=lambda i: json.dumps(i[key]))
    directive = st.builds(lambda i: {**i, "$patch": "delete"}, item)
    return st.lists(st.one_of(item, item, directive, st.just({"$patch": "replace"})), max_size=3)


def _value(base: st.SearchStrategy[JSON], *, loose: bool) -> st.SearchStrategy[JSON]:
    """`base`, or when loose also a null (delete), a wrong shape or a directive map."""
    if not loose:
        return base
    odd = st.sampled_from([None, "text", [1], {"$patch": "delete"}, {"$patch": "replace"}])
    return st.one_of(base, base, odd)


def _object(
    required: dict[str, st.SearchStrategy[JSON]],
    optional: dict[str, st.SearchStrategy[JSON]],
    *,
    loose: bool,
) -> st.SearchStrategy[JSON]:
    optional = {k: _value(v, loose=loose) for k, v in optional.items()}
    return st.fixed_dictionaries(required, optional=optional)


def pods(*, loose: bool = False) -> st.SearchStrategy[JSON]:
    """Partial pods over the fields whose merge differs: keyed lists at two levels, atomic
    lists, nested maps, scalars. Small alphabets make keys meet."""
    text = st.text(alphabet="ab", max_size=2)
    env = _object({"name": st.sampled_from(["A", "B", "C"])}, {"value": text}, loose=loose)
    port = _object(
        {"containerPort": st.sampled_from([80, 8080, 15090])},
        {"name": st.sampled_from(["http", "grpc"]), "protocol": st.sampled_from(["TCP", "UDP"])},
        loose=loose,
    )
    mount = _object(
        {"mountPath": st.sampled_from(["/a", "/b", "/etc/istio"])},
        {"name": st.sampled_from(["v1", "v2"]), "readOnly": st.booleans()},
        loose=loose,
    )
    container = _object(
        {"name": st.sampled_from(["app", "istio-proxy", "istio-init", "side"])},
        {
            "image": text,
            "args": st.lists(st.one_of(text, st.none()), max_size=3),
            "env": _list(env, "name", loose=loose),
            "ports": _list(port, "containerPort", loose=loose),
            "volumeMounts": _list(mount, "mountPath", loose=loose),
            "securityContext": _object(
                {}, {"runAsUser": st.integers(0, 2), "privileged": st.booleans()}, loose=loose
            ),
            "resources": _object(
                {}, {"limits": st.fixed_dictionaries({}, optional={"cpu": text})}, loose=loose
            ),
            "restartPolicy": st.just("Always"),
        },
        loose=loose,
    )
    volume = _object(
        {"name": st.sampled_from(["v1", "v2", "v3"])},
        {"emptyDir": st.just({}), "secret": st.fixed_dictionaries({"secretName": text})},
        loose=loose,
    )
    secret = st.fixed_dictionaries({"name": st.sampled_from(["s1", "s2"])})
    spec = _object(
        {},
        {
            "containers": _list(container, "name", loose=loose),
            "initContainers": _list(container, "name", loose=loose),
            "volumes": _list(volume, "name", loose=loose),
            "imagePullSecrets": _list(secret, "name", loose=loose),
            "dnsPolicy": st.sampled_from(["ClusterFirst", "None"]),
            "securityContext": _object({}, {"fsGroup": st.integers(0, 2)}, loose=loose),
            "terminationGracePeriodSeconds": st.integers(0, 30),
        },
        loose=loose,
    )
    strings = st.dictionaries(st.sampled_from(["app", "x/y", "z"]), text, max_size=3)
    metadata = _object({}, {"labels": strings, "annotations": strings, "name": text}, loose=loose)
    return _object({}, {"metadata": metadata, "spec": spec}, loose=loose)


def _fast(pod: JSON, overlay: JSON) -> JSON | None:
    try:
        return podmerge.merge(pod, overlay)
    except podmerge.Unsupported:
        return None


@SETTINGS
@given(pods(), pods())
def test_template_shaped_overlays_take_the_fast_path_and_merge_as_the_generic(
    pod: JSON, overlay: JSON
) -> None:
    before = copy.deepcopy((pod, overlay))
    fast = podmerge.merge(pod, overlay)
    assert _same(fast, merge_pod(pod, overlay))
    assert _same((pod, overlay), before)


@SETTINGS
@given(pods(loose=True), pods(loose=True))
def test_any_overlay_merges_as_the_generic_or_is_handed_to_it(pod: JSON, overlay: JSON) -> None:
    before = copy.deepcopy((pod, overlay))
    fast = _fast(pod, overlay)
    try:
        generic = merge_pod(pod, overlay)
    except MergeError:
        assert fast is None
        return
    if fast is not None:
        assert _same(fast, generic)
    assert _same((pod, overlay), before)


@SETTINGS
@given(pods(), st.lists(pods(), min_size=1, max_size=3))
def test_several_templates_give_the_same_pod_and_contributed_names(
    pod: JSON, overlays: list[JSON]
) -> None:
    spec = pod.get("spec") or {}
    proxies = [
        c
        for k in ("containers", "initContainers")
        for c in spec.get(k) or []
        if c["name"] == "istio-proxy"
    ]
    assume(len(proxies) < 2)  # moving the user's proxy among init containers would repeat a name
    fast = merge._merge_by_pod_schema(pod, overlays)
    generic = merge._merge_strategic(pod, overlays)
    assert _same(fast, generic)


@SETTINGS
@given(pods(loose=True), st.lists(pods(loose=True), min_size=1, max_size=3))
def test_several_loose_templates_agree_or_fall_back(pod: JSON, overlays: list[JSON]) -> None:
    try:
        fast = merge._merge_by_pod_schema(pod, overlays)
    except podmerge.Unsupported:
        return
    assert _same(fast, merge._merge_strategic(pod, overlays))


@pytest.mark.parametrize(
    ("names", "items", "expected"),
    [
        ([], [{"name": "a"}, {"name": "b"}], ["a", "b"]),
        (["a", "b", "c"], [{"name": "c"}, {"name": "x"}], ["a", "b", "c", "x"]),
        (["a", "b"], [{"name": "x"}, {"name": "b"}], ["x", "a", "b"]),
    ],
)
def test_names_merge_in_kubernetes_order(
    names: list[str], items: list[JSON], expected: list[str]
) -> None:
    assert podmerge.merge_names(names, items) == expected
    generic = merge_pod(
        {"spec": {"volumes": [{"name": n} for n in names]}}, {"spec": {"volumes": items}}
    )
    assert [v["name"] for v in generic["spec"]["volumes"]] == expected


@pytest.mark.parametrize(
    "overlay",
    [
        {"spec": {"containers": [{"name": "p"}, {"name": "p"}]}},
        {"spec": {"containers": [{"name": "p", "$patch": "delete"}]}},
        {"spec": {"$patch": "replace", "containers": []}},
        {"spec": {"containers": [{"name": True}]}},
        {"spec": {"finalizers": ["x"]}, "metadata": {"finalizers": ["y"]}},
        {"spec": {"containers": {"name": "p"}}},
    ],
)
def test_what_the_fast_path_leaves_to_the_generic_merge(overlay: JSON) -> None:
    with pytest.raises(podmerge.Unsupported):
        podmerge.merge({"spec": {"containers": [{"name": "app"}]}}, overlay)


def _modern_cases() -> Iterator[tuple[str, dict[str, Any]]]:
    return ((suite, case) for suite, case in KIT_CASES if suite == "modern")


MODERN_CASES = list(_modern_cases())


@pytest.fixture
def both_merges(monkeypatch: pytest.MonkeyPatch) -> list[bool]:
    """Every merge_sidecar call compares the fast path with the generic one; records which
    calls the fast path took."""
    taken: list[bool] = []
    fast = merge._merge_by_pod_schema

    def compared(pod: JSON, overlays: Sequence[JSON]) -> Any:
        generic = merge._merge_strategic(pod, overlays)
        try:
            result = fast(pod, overlays)
        except podmerge.Unsupported:
            taken.append(False)
            raise
        assert _same(result, generic)
        taken.append(True)
        return result

    monkeypatch.setattr(merge, "_merge_by_pod_schema", compared)
    return taken


@pytest.mark.skipif(not MODERN_CASES, reason="no Istio kit")
@patches_inside(merge)
@pytest.mark.parametrize(
    ("suite", "case"), MODERN_CASES, ids=lambda c: c if isinstance(c, str) else c["name"]
)
def test_kit_cases_merge_the_same_both_ways(
    suite: str, case: dict[str, Any], both_merges: list[bool]
) -> None:
    text = (KIT / suite / "cases" / case["input"]).read_text()
    output = workloads.kube_inject(text, settings=_case_settings(suite, case))
    if "sidecar.istio.io/status" in output.text:
        assert both_merges, "an injection did not merge through merge._merge_by_pod_schema"
    assert all(both_merges)


@pytest.mark.skipif(not MODERN_CASES, reason="no Istio kit")
@pytest.mark.parametrize(
    ("suite", "case"), MODERN_CASES, ids=lambda c: c if isinstance(c, str) else c["name"]
)
def test_injecting_and_injecting_again_leave_the_given_pod_alone(
    suite: str, case: dict[str, Any]
) -> None:
    """The injected pod shares unchanged parts with the request pod (copy on write): nothing
    after the merge may change it, or the patch would be made against a changed original."""
    settings = _case_settings(suite, case)
    text = (KIT / suite / "cases" / case["input"]).read_text()
    for template in workloads.iter_pod_templates(text):
        given = template.pod
        kept = copy.deepcopy(given)
        injected = inject.inject_pod(given, namespace="default", config=settings).pod
        assert _same(given, kept)
        kept = copy.deepcopy(injected)
        inject.inject_pod(injected, namespace="default", config=settings)
        assert _same(injected, kept)
