"""`manifests --repair`: the CronJob and its least-privilege RBAC."""

from __future__ import annotations

import kubernetes_validate
import pytest
import yaml
from typer.testing import CliRunner

from sidecar_injector import cli, manifests, repairjob


@pytest.mark.parametrize(
    ("settings", "version"),
    [
        (manifests.Settings(), "1.37.0"),
        (manifests.Settings(revision="canary", namespace="mesh"), "1.25.0"),
    ],
)
def test_every_object_is_valid_kubernetes(settings: manifests.Settings, version: str) -> None:
    for item in repairjob.objects(settings):
        assert kubernetes_validate.validate(item, version, strict=True)


def test_the_cronjob_runs_repair_apply_for_its_revision_without_a_sidecar() -> None:
    settings = manifests.Settings(revision="canary", namespace="mesh")
    job = repairjob.objects(settings, schedule="0 * * * *", max_at_once=1, max_per_minute=2)[-1]
    assert (job["apiVersion"], job["kind"], job["spec"]["schedule"]) == (
        "batch/v1",
        "CronJob",
        "0 * * * *",
    )
    assert job["spec"]["concurrencyPolicy"] == "Forbid"
    pod = job["spec"]["jobTemplate"]["spec"]["template"]
    assert pod["metadata"]["labels"]["sidecar.istio.io/inject"] == "false"
    assert pod["spec"]["serviceAccountName"] == "sidecar-injector-canary-repair"
    assert pod["spec"]["containers"][0]["args"] == [
        "repair",
        "--apply",
        "--injector-namespace=mesh",
        "--max-at-once=1",
        "--max-per-minute=2",
        "--revision=canary",
    ]
    old = repairjob.objects(manifests.Settings(kubernetes_version="1.20"))[-1]
    assert old["apiVersion"] == "batch/v1beta1"


def test_rbac_reads_what_repair_reads_and_writes_only_restarts_and_events() -> None:
    objects = repairjob.objects(manifests.Settings())
    rules = [r for o in objects if o["kind"] in ("Role", "ClusterRole") for r in o["rules"]]
    verbs = {(res, verb) for r in rules for res in r["resources"] for verb in r["verbs"]}
    writes = {(res, verb) for res, verb in verbs if verb not in ("get", "list")}
    assert writes == {
        ("deployments", "patch"),
        ("statefulsets", "patch"),
        ("daemonsets", "patch"),
        ("events", "create"),
    }
    assert not any(res == "secrets" for res, _ in verbs)
    named = {
        res: r["resourceNames"] for r in rules if "resourceNames" in r for res in r["resources"]
    }
    assert named == {
        "configmaps": ["istio-sidecar-injector", "istio"],
        "mutatingwebhookconfigurations": ["istio-sidecar-injector"],
    }


def test_manifests_repair_adds_the_job_after_the_injector() -> None:
    plain = CliRunner().invoke(cli.app, ["manifests"])
    with_job = CliRunner().invoke(
        cli.app, ["manifests", "--repair", "--repair-schedule", "5 * * * *"]
    )
    assert with_job.exit_code == 0, with_job.output
    before = list(yaml.safe_load_all(plain.stdout))
    after = list(yaml.safe_load_all(with_job.stdout))
    assert after[: len(before)] == before
    assert [o["kind"] for o in after[len(before) :]] == [
        "ServiceAccount",
        "Role",
        "RoleBinding",
        "ClusterRole",
        "ClusterRoleBinding",
        "CronJob",
    ]
    assert after[-1]["spec"]["schedule"] == "5 * * * *"
