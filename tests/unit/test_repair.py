"""The repair plan: which drifted owners a run restarts, lists or holds back, and why."""

from __future__ import annotations

import datetime
from typing import Any

import pytest

from sidecar_injector import drift, repair

NOW = datetime.datetime(2026, 1, 1, 12, 0, tzinfo=datetime.UTC)


def owner(name: str, kind: str = "Deployment", namespace: str = "ns") -> drift.Owner:
    return drift.Owner(kind, namespace, name)


def drifted(who: drift.Owner, state: drift.State = "missing") -> drift.OwnerDrift:
    return drift.OwnerDrift(who, {state: (f"{who.name}-1",)}, ("a: 1 -> 2",) * (state == "stale"))


def settled(
    *,
    annotations: dict[str, str] | None = None,
    template_annotations: dict[str, str] | None = None,
    labels: dict[str, str] | None = None,
    status: dict[str, Any] | None = None,
) -> dict[str, Any]:
    """A Deployment whose rollout is done, unless `status` says otherwise."""
    return {
        "metadata": {"generation": 2, "annotations": annotations or {}, "uid": "u"},
        "spec": {
            "replicas": 2,
            "template": {
                "metadata": {"labels": labels or {"app": "x"}, "annotations": template_annotations}
            },
        },
        "status": {
            "observedGeneration": 2,
            "replicas": 2,
            "updatedReplicas": 2,
            "availableReplicas": 2,
            **(status or {}),
        },
    }


def run(
    owners: list[drift.OwnerDrift],
    objects: dict[drift.Owner, Any],
    *,
    budgets: dict[str, tuple[Any, ...]] | None = None,
    **options: Any,
) -> list[tuple[str, str, str]]:
    found = repair.Found(tuple(owners), objects, budgets or {})
    return [
        (s.target.owner.name, s.action, s.reason) for s in repair.plan(found, now=NOW, **options)
    ]


def test_drifted_deployments_are_restarted_missing_sidecars_first() -> None:
    stale, missing = owner("a-stale"), owner("b-missing")
    steps = run([drifted(stale, "stale"), drifted(missing)], {stale: settled(), missing: settled()})
    assert steps == [
        ("b-missing", "restart", "1 pod(s) without a sidecar"),
        ("a-stale", "restart", "1 pod(s) with a stale sidecar"),
    ]


def test_up_to_date_and_failing_owners_get_no_step() -> None:
    fine = drift.OwnerDrift(owner("fine"), {"current": ("fine-1",)})
    failing = drift.OwnerDrift(owner("bad"), {"failed": ("bad-1",)}, ("config: boom",))
    assert run([fine, failing], {}) == []


def test_an_owner_that_opts_out_is_held() -> None:
    web = owner("web")
    steps = run([drifted(web)], {web: settled(annotations={repair.OPT_OUT: "false"})})
    assert steps == [
        ("web", "hold", f"opted out ({repair.OPT_OUT}: false); 1 pod(s) without a sidecar")
    ]


@pytest.mark.parametrize(
    ("status", "why"),
    [
        ({"observedGeneration": 1}, "its controller has not seen the latest spec"),
        ({"updatedReplicas": 1}, "1 of 2 replica(s) updated"),
        ({"replicas": 3}, "2 of 2 replica(s) updated"),
        ({"availableReplicas": 1}, "1 of 2 updated replica(s) available"),
    ],
)
def test_a_rollout_in_progress_holds_it_and_takes_a_slot(status: dict[str, int], why: str) -> None:
    rolling, waiting = owner("a-rolling"), owner("b-waiting")
    steps = run(
        [drifted(rolling), drifted(waiting)],
        {rolling: settled(status=status), waiting: settled()},
        limits=repair.Limits(at_once=1),
    )
    assert steps[0] == (
        "a-rolling",
        "hold",
        f"rollout in progress ({why}); 1 pod(s) without a sidecar",
    )
    assert steps[1][:2] == ("b-waiting", "hold")
    assert steps[1][2].startswith("limit: 1 owner(s) at once (1 rolling out)")


def test_statefulset_and_daemonset_rollouts() -> None:
    assert (
        repair.rollout_in_progress(
            "StatefulSet",
            {"spec": {"replicas": 1}, "status": {"updateRevision": "b", "currentRevision": "a"}},
        )
        == "pods of an older revision remain"
    )
    assert (
        repair.rollout_in_progress(
            "DaemonSet",
            {
                "status": {
                    "desiredNumberScheduled": 3,
                    "updatedNumberScheduled": 3,
                    "numberAvailable": 3,
                }
            },
        )
        == ""
    )
    assert repair.rollout_in_progress("Deployment", {"spec": {"paused": True}}) == "paused"


def test_at_once_limits_how_many_restart_in_one_run() -> None:
    owners = [owner(f"web-{i}") for i in range(4)]
    steps = run(
        [drifted(o) for o in owners],
        {o: settled() for o in owners},
        limits=repair.Limits(at_once=2),
    )
    assert [action for _, action, _ in steps] == ["restart", "restart", "hold", "hold"]


def test_restarts_in_the_last_minute_count_against_the_per_minute_limit() -> None:
    just = (NOW - datetime.timedelta(seconds=20)).strftime("%Y-%m-%dT%H:%M:%SZ")
    earlier = (NOW - datetime.timedelta(minutes=5)).strftime("%Y-%m-%dT%H:%M:%SZ")
    owners = [owner(f"web-{i}") for i in range(3)]
    objects = {
        owners[0]: settled(template_annotations={repair.RESTARTED_AT: just}),
        owners[1]: settled(template_annotations={repair.RESTARTED_AT: earlier}),
        owners[2]: settled(),
    }
    steps = run([drifted(o) for o in owners], objects, limits=repair.Limits(per_minute=2))
    assert [action for _, action, _ in steps] == ["restart", "hold", "hold"]
    assert steps[1][2].startswith("limit: 2 restart(s) per minute (1 in the last minute)")


def test_a_budget_that_allows_no_disruption_holds_the_owner_it_selects() -> None:
    web, api = owner("web"), owner("api")
    budget = {
        "metadata": {"name": "web"},
        "spec": {"selector": {"matchLabels": {"app": "web"}}},
        "status": {"disruptionsAllowed": 0},
    }
    objects = {web: settled(labels={"app": "web"}), api: settled(labels={"app": "api"})}
    steps = run([drifted(web), drifted(api)], objects, budgets={"ns": (budget,)})
    assert (
        "web",
        "hold",
        "PodDisruptionBudget ns/web allows no disruption; 1 pod(s) without a sidecar",
    ) in steps
    assert ("api", "restart", "1 pod(s) without a sidecar") in steps
    budget["status"] = {"disruptionsAllowed": 1}
    assert [a for _, a, _ in run([drifted(web)], objects, budgets={"ns": (budget,)})] == ["restart"]


def test_bare_pods_and_jobs_are_listed_unless_deletion_is_asked_for() -> None:
    bare, job, rs = owner("lonely", "Pod"), owner("batch", "Job"), owner("raw", "ReplicaSet")
    owners = [drifted(bare), drifted(job), drifted(rs)]
    listed = run(owners, {})
    assert [a for _, a, _ in listed] == ["list", "list", "list"]
    assert "a bare pod is not recreated" in listed[1][2]
    assert "the Job makes new ones" in listed[0][2]
    assert listed[2][2].endswith("restart it through its own controller")
    deleted = run(owners, {}, delete_pods=True)
    assert [a for _, a, _ in deleted] == ["delete", "delete", "list"]


def test_an_unreadable_deployment_is_held() -> None:
    web = owner("web")
    assert run([drifted(web)], {}) == [
        ("web", "hold", "1 pod(s) without a sidecar; cannot read the Deployment")
    ]


def test_scope_by_namespace_and_owner() -> None:
    scope = repair.Scope(frozenset({"ns"}), ("deployment/web", "db"))
    assert scope.covers(owner("web"))
    assert scope.covers(owner("db", "StatefulSet"))
    assert not scope.covers(owner("web", "StatefulSet"))
    assert not scope.covers(owner("web", namespace="other"))
    assert repair.Scope().covers(owner("anything", namespace="any"))


def test_pod_selectors_follow_the_webhooks() -> None:
    labelled = repair.pod_selectors(
        "a", {"istio-injection": "enabled"}, revision="", by_default=False
    )
    assert labelled == [{}]
    plain = repair.pod_selectors("b", {}, revision="", by_default=False)
    assert plain == [{"sidecar.istio.io/inject": "true"}, {"istio.io/rev": "default"}]
    off = repair.pod_selectors("c", {"istio-injection": "disabled"}, revision="", by_default=False)
    assert off == []
    assert repair.pod_selectors("d", {}, revision="", by_default=True) == [{}]
