"""`drift` and `repair` through a real API server (issue 15): pods admitted while the webhook
failed open are found and only their owners restarted; a ConfigMap change makes injected pods
stale with the exact difference; opt-out, rollouts in progress, disruption budgets, limits and
dry runs hold; bare pods are listed, never deleted.

No controller-manager runs, so each Deployment's ReplicaSet and pods are created here the way
its controller would (owner references, `pod-template-hash`), and its status is written to say
whether its rollout is done. The webhook configuration is url-mode on 127.0.0.1.
"""

from __future__ import annotations

import contextlib
import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any, cast

import httpx
import pytest
import yaml
from lightkube import Client, KubeConfig
from lightkube.codecs import from_dict
from lightkube.core.exceptions import ApiError
from lightkube.generic_resource import create_namespaced_resource
from lightkube.resources.admissionregistration_v1 import MutatingWebhookConfiguration
from lightkube.resources.apps_v1 import Deployment, ReplicaSet
from lightkube.resources.core_v1 import ConfigMap, Event, Namespace, Pod, ServiceAccount
from typer.testing import CliRunner, Result

from sidecar_injector import cli, manifests, repair, repairjob
from tests.e2e.conftest import TOKEN, Cluster, Injector, free_port

pytestmark = pytest.mark.e2e
INJECTOR_NS = "istio-system"


@pytest.fixture(scope="module")
def client(cluster: Cluster) -> Iterator[Client]:
    with Client(KubeConfig.from_file(cluster.kubeconfig).get()) as opened:
        yield opened


def webhooks(injector: Injector, *, url: str = "", policy: str = "Fail") -> Any:
    body = manifests.mutating_webhook_configuration(
        manifests.Settings(failure_policy=policy)  # type: ignore[arg-type]
    )
    for hook in body["webhooks"]:
        path = hook["clientConfig"]["service"]["path"]
        hook["clientConfig"] = {
            "url": f"{url or injector.url}{path}",
            "caBundle": injector.ca_bundle,
        }
    return from_dict(body)


def install(client: Client, resource: Any) -> None:
    with contextlib.suppress(ApiError):
        client.delete(MutatingWebhookConfiguration, resource.metadata.name)
    client.create(resource)


@pytest.fixture(scope="module", autouse=True)
def setup(client: Client, injector: Injector) -> Iterator[None]:
    """The injector's ConfigMaps as `manifests` ships them (what `serve` serves here: the
    embedded config), and the webhooks; both removed after the module."""
    with contextlib.suppress(ApiError):
        client.create(cast(Namespace, Namespace.from_dict({"metadata": {"name": INJECTOR_NS}})))
    created = []
    for body in manifests.configmaps(manifests.Settings()):
        with contextlib.suppress(ApiError):
            client.delete(ConfigMap, body["metadata"]["name"], namespace=INJECTOR_NS)
        created.append(client.create(cast(ConfigMap, from_dict(body))))
    install(client, webhooks(injector))
    yield
    client.delete(MutatingWebhookConfiguration, manifests.Names(INJECTOR_NS, "").mutating)
    for item in created:
        assert item.metadata is not None and item.metadata.name is not None
        client.delete(ConfigMap, item.metadata.name, namespace=INJECTOR_NS)


def namespace(client: Client, name: str) -> str:
    body = {"metadata": {"name": name, "labels": {"istio-injection": "enabled"}}}
    client.create(cast(Namespace, Namespace.from_dict(body)))
    account = cast(ServiceAccount, ServiceAccount.from_dict({"metadata": {"name": "default"}}))
    client.create(account, namespace=name)
    return name


@contextlib.contextmanager
def failing_open(client: Client, injector: Injector) -> Iterator[None]:
    """The webhook unreachable under failurePolicy Ignore: pods are created without sidecars."""
    install(client, webhooks(injector, url=f"https://127.0.0.1:{free_port()}", policy="Ignore"))
    try:
        yield
    finally:
        install(client, webhooks(injector))


def deployment(
    client: Client,
    ns: str,
    name: str,
    *,
    pods: int = 1,
    annotations: dict[str, str] | None = None,
    rolling: bool = False,
) -> None:
    """A Deployment, its ReplicaSet and pods as the controllers would make them; its status
    says the rollout is done (or, with `rolling`, that one replica is not updated yet)."""
    labels = {"app": name}
    template = {
        "metadata": {"labels": labels},
        "spec": {
            "containers": [{"name": "app", "image": "example.com/app:1"}],
            "automountServiceAccountToken": False,
        },
    }
    body = {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": {"name": name, "namespace": ns, "annotations": annotations or {}},
        "spec": {"replicas": pods, "selector": {"matchLabels": labels}, "template": template},
    }
    made = client.create(cast(Deployment, from_dict(body)))
    assert made.metadata is not None
    status = {
        "observedGeneration": made.metadata.generation,
        "replicas": pods,
        "updatedReplicas": pods - 1 if rolling else pods,
        "availableReplicas": pods,
        "readyReplicas": pods,
    }
    client.patch(Deployment.Status, name, {"status": status}, namespace=ns)
    owner = {"apiVersion": "apps/v1", "kind": "Deployment", "name": name, "controller": True}
    rs_name, pod_hash = f"{name}-5d4f8", "5d4f8"
    rs_labels = {**labels, "pod-template-hash": pod_hash}
    rs_body = {
        "apiVersion": "apps/v1",
        "kind": "ReplicaSet",
        "metadata": {
            "name": rs_name,
            "namespace": ns,
            "labels": rs_labels,
            "ownerReferences": [{**owner, "uid": made.metadata.uid}],
        },
        "spec": {
            "replicas": pods,
            "selector": {"matchLabels": rs_labels},
            "template": {**template, "metadata": {"labels": rs_labels}},
        },
    }
    rs = client.create(cast(ReplicaSet, from_dict(rs_body)))
    assert rs.metadata is not None
    for _ in range(pods):
        pod = {
            "metadata": {
                "generateName": f"{rs_name}-",
                "labels": rs_labels,
                "ownerReferences": [
                    {**owner, "kind": "ReplicaSet", "name": rs_name, "uid": rs.metadata.uid}
                ],
            },
            "spec": template["spec"],
        }
        client.create(cast(Pod, Pod.from_dict(pod)), namespace=ns)


def bare_pod(client: Client, ns: str, name: str) -> None:
    body = {
        "metadata": {"name": name},
        "spec": {
            "containers": [{"name": "app", "image": "example.com/app:1"}],
            "automountServiceAccountToken": False,
        },
    }
    client.create(cast(Pod, Pod.from_dict(body)), namespace=ns)


def run(cluster: Cluster, *args: str) -> Result:
    return CliRunner().invoke(cli.app, [*args, "--kubeconfig", str(cluster.kubeconfig)])


def restarted_at(client: Client, ns: str, name: str) -> str | None:
    found = client.get(Deployment, name, namespace=ns).to_dict()
    annotations = found["spec"]["template"]["metadata"].get("annotations") or {}
    value: str | None = annotations.get(repair.RESTARTED_AT)
    return value


def test_pods_admitted_while_failing_open_are_found_and_only_their_owner_restarted(
    client: Client, cluster: Cluster, injector: Injector
) -> None:
    ns = namespace(client, "e2e-drift-open")
    with failing_open(client, injector):
        deployment(client, ns, "open", pods=2)
        deployment(client, ns, "quiet")
        bare_pod(client, ns, "lonely")
    deployment(client, ns, "fine", pods=2)
    opt_out = {"metadata": {"annotations": {"sidecar.istio.io/inject": "false"}}}
    client.patch(Deployment, "quiet", {"spec": {"template": opt_out}}, namespace=ns)

    report = run(cluster, "drift", "-n", ns, "--all", "--page-size", "1", "-o", "json")
    assert report.exit_code == 1, report.output
    owners = {o["name"]: o for o in json.loads(report.stdout)["owners"]}
    assert "quiet" not in owners  # its template opts out now: its pods are not drift
    assert owners["open"]["state"] == "missing" and len(owners["open"]["pods"]["missing"]) == 2
    assert owners["lonely"]["kind"] == "Pod" and owners["lonely"]["state"] == "missing"
    assert owners["fine"] == {
        "kind": "Deployment",
        "namespace": ns,
        "name": "fine",
        "state": "current",
        "pods": {"current": owners["fine"]["pods"]["current"]},
        "differences": [],
    }

    plan = run(cluster, "repair", "-n", ns)
    assert plan.exit_code == 0, plan.output
    assert f"restart  Deployment {ns}/open: 2 pod(s) without a sidecar" in plan.stdout
    assert f"list     Pod {ns}/lonely: 1 pod(s) without a sidecar; --delete-pods" in plan.stdout
    assert restarted_at(client, ns, "open") is None  # a dry run changes nothing

    done = run(cluster, "repair", "-n", ns, "--apply")
    assert done.exit_code == 0, done.output
    assert f"restarted Deployment {ns}/open: {repair.RESTARTED_AT}=" in done.stdout
    assert restarted_at(client, ns, "open") is not None
    assert restarted_at(client, ns, "fine") is None
    assert client.get(Pod, "lonely", namespace=ns).metadata is not None  # listed, not deleted
    events = [
        e
        for e in client.list(Event, namespace=ns)
        if e.reason == repair.EVENT_REASON and e.involvedObject.name == "open"
    ]
    assert len(events) == 1 and events[0].involvedObject.kind == "Deployment"
    assert events[0].message is not None and "2 pod(s) without a sidecar" in events[0].message

    again = run(cluster, "repair", "-n", ns, "--apply")  # its controller has not rolled it out
    assert f"hold     Deployment {ns}/open: rollout in progress" in again.stdout
    assert "restarted" not in again.stdout


def test_a_configmap_change_makes_injected_pods_stale_with_the_difference(
    client: Client, cluster: Cluster
) -> None:
    ns = namespace(client, "e2e-drift-stale")
    deployment(client, ns, "web", pods=2)
    assert run(cluster, "drift", "-n", ns).exit_code == 0

    name = manifests.Names(INJECTOR_NS, "").injector_configmap
    shipped = client.get(ConfigMap, name, namespace=INJECTOR_NS)
    assert shipped.data is not None
    values = shipped.data["values"]
    assert "cpu: 2000m" in values
    patch = {"data": {"values": values.replace("cpu: 2000m", "cpu: 1")}}
    client.patch(ConfigMap, name, patch, namespace=INJECTOR_NS)
    try:
        report = run(cluster, "drift", "-n", ns)
    finally:
        client.patch(ConfigMap, name, {"data": {"values": values}}, namespace=INJECTOR_NS)
    assert report.exit_code == 1
    assert report.stdout.splitlines() == [
        f"[stale] Deployment {ns}/web: 2 pod(s): 2 stale",
        "    istio-proxy.resources.limits.cpu: 2 -> 1",
    ]


def test_opt_out_budgets_rollouts_and_limits_hold(
    client: Client, cluster: Cluster, injector: Injector
) -> None:
    ns = namespace(client, "e2e-drift-hold")
    with failing_open(client, injector):
        deployment(client, ns, "a-optout", annotations={repair.OPT_OUT: "false"})
        deployment(client, ns, "b-budget")
        deployment(client, ns, "c-rolling", pods=2, rolling=True)
        deployment(client, ns, "d-first")
        deployment(client, ns, "e-second")
    budget = {
        "apiVersion": "policy/v1beta1",
        "kind": "PodDisruptionBudget",
        "metadata": {"name": "b-budget", "namespace": ns},
        "spec": {"minAvailable": 1, "selector": {"matchLabels": {"app": "b-budget"}}},
    }
    client.create(from_dict(budget))

    done = run(cluster, "repair", "-n", ns, "--apply", "--max-at-once", "2")
    assert done.exit_code == 0, done.output
    lines = done.stdout.splitlines()
    assert f"hold     Deployment {ns}/a-optout: opted out ({repair.OPT_OUT}: false)" in lines[0]
    assert "PodDisruptionBudget e2e-drift-hold/b-budget allows no disruption" in lines[1]
    assert "rollout in progress (1 of 2 replica(s) updated)" in lines[2]
    assert lines[3].startswith(f"restart  Deployment {ns}/d-first")
    assert lines[4].startswith(f"hold     Deployment {ns}/e-second: limit: 2 owner(s) at once")
    restarted = {
        name
        for name in ("a-optout", "b-budget", "c-rolling", "d-first", "e-second")
        if restarted_at(client, ns, name) is not None
    }
    assert restarted == {"d-first"}

    scoped = run(cluster, "repair", "-n", ns, "--owner", "deployment/e-second", "-o", "json")
    steps = json.loads(scoped.stdout)["steps"]
    assert [(s["name"], s["action"]) for s in steps] == [("e-second", "restart")]


def service_account_kubeconfig(client: Client, cluster: Cluster, account: str, path: Path) -> Path:
    """A kubeconfig holding a token of `account` (TokenRequest), to act as the CronJob does."""
    url = f"{cluster.url}/api/v1/namespaces/{INJECTOR_NS}/serviceaccounts/{account}/token"
    request = {"apiVersion": "authentication.k8s.io/v1", "kind": "TokenRequest", "spec": {}}
    headers = {"Authorization": f"Bearer {TOKEN}"}
    answer = httpx.post(url, json=request, headers=headers, verify=False, timeout=10)
    answer.raise_for_status()
    config = yaml.safe_load(cluster.kubeconfig.read_text())
    config["users"] = [{"name": "admin", "user": {"token": answer.json()["status"]["token"]}}]
    path.write_text(yaml.safe_dump(config))
    return path


def test_the_cronjobs_rbac_is_enough_for_repair_and_no_more(
    client: Client, cluster: Cluster, injector: Injector, tmp_path: Path
) -> None:
    objects = repairjob.objects(manifests.Settings(kubernetes_version="1.20"))
    create_namespaced_resource("batch", "v1beta1", "CronJob", "cronjobs")  # 1.20 has no batch/v1
    for body in objects:
        client.create(from_dict(body))
    ns = namespace(client, "e2e-drift-rbac")
    with failing_open(client, injector):
        deployment(client, ns, "web")
        bare_pod(client, ns, "lonely")
    account = objects[0]["metadata"]["name"]
    kubeconfig = service_account_kubeconfig(client, cluster, account, tmp_path / "kubeconfig")
    args = ["repair", "-n", ns, "--apply", "--kubeconfig", str(kubeconfig)]

    done = CliRunner().invoke(cli.app, args)
    assert done.exit_code == 0, done.output
    assert "[problem]" not in done.stdout
    assert f"restarted Deployment {ns}/web: {repair.RESTARTED_AT}=" in done.stdout
    assert "(no Event" not in done.stdout

    denied = CliRunner().invoke(cli.app, [*args, "--delete-pods"])
    assert denied.exit_code == 1
    assert f"failed   Pod {ns}/lonely: cannot delete pod lonely" in denied.stdout
    assert client.get(Pod, "lonely", namespace=ns).metadata is not None
