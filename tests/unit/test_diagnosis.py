"""`check`: the findings, and the command against a fake cluster served over plain HTTP."""

from __future__ import annotations

import base64
import copy
import datetime
import json
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest
import yaml
from typer.testing import CliRunner

from sidecar_injector import certs, cli, config, decision, diagnosis, inject, manifests
from tests.builders import pod

HOSTS = ["sidecar-injector.istio-system.svc", "sidecar-injector.istio-system.svc.cluster.local"]


@pytest.fixture(scope="module")
def ca() -> certs.KeyPair:
    return certs.make_ca()


@pytest.fixture(scope="module")
def serving(ca: certs.KeyPair) -> certs.KeyPair:
    return certs.make_serving(ca, hosts=HOSTS)


def severities(findings: list[diagnosis.Finding]) -> dict[str, str]:
    return {f.subject: f.severity for f in findings}


def test_a_matching_ca_bundle_verifies(ca: certs.KeyPair, serving: certs.KeyPair) -> None:
    found = diagnosis.certificate_findings(
        serving.cert_pem, bundle=certs.ca_bundle(ca), hosts=HOSTS
    )
    assert severities(found) == {"caBundle": "ok", "serving certificate": "ok", "CA": "ok"}


def test_a_foreign_ca_bundle_is_an_error(serving: certs.KeyPair) -> None:
    other = certs.ca_bundle(certs.make_ca())
    found = diagnosis.certificate_findings(serving.cert_pem, bundle=other, hosts=HOSTS)
    (problem,) = [f for f in found if f.severity == "error"]
    assert "signed by unknown authority" in str(problem)


def test_wrong_names_and_near_expiry(ca: certs.KeyPair, serving: certs.KeyPair) -> None:
    later = datetime.datetime.now(datetime.UTC) + datetime.timedelta(days=350)
    found = diagnosis.certificate_findings(
        serving.cert_pem, bundle=certs.ca_bundle(ca), hosts=["other.ns.svc"], now=later
    )
    messages = [str(f) for f in found if f.severity != "ok"]
    assert any("not valid for other.ns.svc" in m for m in messages)
    assert any("[warning] serving certificate: expires in 1" in m for m in messages)


def test_every_certificate_problem_says_what_to_do(
    ca: certs.KeyPair, serving: certs.KeyPair
) -> None:
    much_later = datetime.datetime.now(datetime.UTC) + datetime.timedelta(days=20_000)
    problems = diagnosis.certificate_findings(
        serving.cert_pem, bundle=certs.ca_bundle(ca), hosts=["other.ns.svc"], now=much_later
    )
    problems += diagnosis.certificate_findings(b"not pem", bundle="", hosts=HOSTS)
    problems = [f for f in problems if f.severity != "ok"]
    assert {f.subject for f in problems} >= {"serving certificate", "CA", "certificate"}
    assert all(f.hint for f in problems), [str(f) for f in problems if not f.hint]


def test_fail_policy_with_one_replica_and_long_timeouts_warn() -> None:
    hooks = manifests.mutating_webhook_configuration(manifests.Settings())["webhooks"]
    assert diagnosis.policy_findings(hooks, ready=2) == []
    lone = diagnosis.policy_findings(hooks, ready=1)
    assert len(lone) == len(hooks)
    assert all("failurePolicy Fail with 1 ready" in f.message for f in lone)
    slow = manifests.Settings(timeout_seconds=10, failure_policy="Ignore")
    hooks = manifests.mutating_webhook_configuration(slow)["webhooks"]
    assert all("timeoutSeconds 10" in f.message for f in diagnosis.policy_findings(hooks, ready=0))
    for hook in hooks:
        del hook["timeoutSeconds"]
    assert len(diagnosis.policy_findings(hooks, ready=3)) == len(hooks)


def test_labelled_namespaces_follow_the_webhook_selectors() -> None:
    labels = {
        "a": {"istio-injection": "enabled"},
        "b": {"istio.io/rev": "default"},
        "c": {"istio.io/rev": "canary"},
        "d": {"istio-injection": "disabled", "istio.io/rev": "default"},
        "kube-system": {"istio-injection": "enabled"},
        "e": {},
    }
    assert diagnosis.labelled_namespaces(labels, revision="") == ["a", "b"]
    assert diagnosis.labelled_namespaces(labels, revision="canary") == ["c"]
    everywhere = diagnosis.labelled_namespaces(labels, revision="", by_default=True)
    assert everywhere == ["a", "b", "e"]


# --- the command against a fake cluster -----------------------------------------------------


MUTATING = (
    "/apis/admissionregistration.k8s.io/v1/mutatingwebhookconfigurations/istio-sidecar-injector"
)
VALIDATING = (
    "/apis/admissionregistration.k8s.io/v1/validatingwebhookconfigurations/"
    "istio-sidecar-injector-config"
)
PDB_V1 = "/apis/policy/v1/namespaces/istio-system/poddisruptionbudgets/sidecar-injector"


def cluster_objects(ca: certs.KeyPair, serving: certs.KeyPair, *, bundle: str) -> dict[str, Any]:
    settings = manifests.Settings()
    webhooks = manifests.mutating_webhook_configuration(settings)
    for hook in webhooks["webhooks"]:
        hook["clientConfig"]["caBundle"] = bundle
    secret_data = {"tls.crt": base64.b64encode(serving.cert_pem).decode()}
    base = "/api/v1/namespaces/istio-system"
    namespaces = [
        {"metadata": {"name": "apps", "labels": {"istio-injection": "enabled"}}},
        {"metadata": {"name": "istio-system"}},
    ]
    addresses = [{"ip": "10.0.0.1"}, {"ip": "10.0.0.2"}]
    return {
        "/apis/admissionregistration.k8s.io/v1/mutatingwebhookconfigurations/"
        "istio-sidecar-injector": webhooks,
        f"{base}/endpoints/sidecar-injector": {
            "kind": "Endpoints",
            "apiVersion": "v1",
            "metadata": {"name": "sidecar-injector"},
            "subsets": [{"addresses": addresses}],
        },
        "/apis/policy/v1/namespaces/istio-system/poddisruptionbudgets/sidecar-injector": (
            manifests.disruption_budget(settings)
        ),
        f"{base}/secrets/sidecar-injector-tls": {
            "kind": "Secret",
            "apiVersion": "v1",
            "metadata": {"name": "sidecar-injector-tls"},
            "data": secret_data,
        },
        "/api/v1/namespaces": {
            "kind": "NamespaceList",
            "apiVersion": "v1",
            "metadata": {},
            "items": namespaces,
        },
    }


@pytest.fixture
def fake_cluster() -> Iterator[tuple[str, dict[str, Any], list[str]]]:
    """GETs answer from `objects`; a dry-run pod POST comes back with a sidecar."""
    objects: dict[str, Any] = {}
    posts: list[str] = []

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            found = objects.get(self.path.split("?")[0])
            self._reply(200 if found else 404, found or {"kind": "Status", "code": 404})

        def do_POST(self) -> None:
            posts.append(self.path)
            pod = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
            if not objects.get("failing open"):
                pod["spec"]["containers"].append({"name": "istio-proxy", "image": "proxy"})
            pod["metadata"]["name"] = "sidecar-injector-check-x"
            self._reply(201, pod)

        def _reply(self, code: int, body: Any) -> None:
            self.send_response(code)
            self.send_header("Content-Type", "application/json")
            self.end_headers()
            self.wfile.write(json.dumps(body).encode())

        def log_message(self, format: str, *args: object) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}", objects, posts
    server.shutdown()
    server.server_close()


def kubeconfig(tmp_path: Path, server: str) -> Path:
    path = tmp_path / "kubeconfig"
    path.write_text(
        yaml.safe_dump(
            {
                "apiVersion": "v1",
                "kind": "Config",
                "clusters": [{"name": "c", "cluster": {"server": server}}],
                "users": [{"name": "u", "user": {"token": "t"}}],
                "contexts": [{"name": "x", "context": {"cluster": "c", "user": "u"}}],
                "current-context": "x",
            }
        )
    )
    return path


def test_check_passes_on_a_healthy_cluster(
    fake_cluster: tuple[str, dict[str, Any], list[str]],
    tmp_path: Path,
    ca: certs.KeyPair,
    serving: certs.KeyPair,
) -> None:
    server, objects, posts = fake_cluster
    objects.update(cluster_objects(ca, serving, bundle=certs.ca_bundle(ca)))
    args = ["check", "--kubeconfig", str(kubeconfig(tmp_path, server))]
    result = CliRunner().invoke(cli.app, args)
    assert result.exit_code == 0, result.output
    assert "[ok] caBundle: verifies the serving certificate" in result.output
    assert "[ok] dry-run pod in apps: injected: containers check, istio-proxy" in result.output
    assert posts == ["/api/v1/namespaces/apps/pods?dryRun=All"]


def test_check_fails_on_a_blank_ca_bundle_and_no_endpoints(
    fake_cluster: tuple[str, dict[str, Any], list[str]],
    tmp_path: Path,
    ca: certs.KeyPair,
    serving: certs.KeyPair,
) -> None:
    server, objects, posts = fake_cluster
    objects.update(cluster_objects(ca, serving, bundle=""))
    objects["/api/v1/namespaces/istio-system/endpoints/sidecar-injector"]["subsets"] = []
    args = ["check", "--kubeconfig", str(kubeconfig(tmp_path, server))]
    result = CliRunner().invoke(cli.app, args)
    assert result.exit_code == 1
    assert "no caBundle in rev.namespace.sidecar-injector.istio.io, " in result.output
    assert "no ready endpoints" in result.output
    assert "pods in labelled namespaces are refused (failurePolicy Fail)" in result.output
    assert "failurePolicy Fail with 0 ready" in result.output
    assert "[ok] caBundle" not in result.output
    # the dry run shows what the API server really does (here: the fake injects)
    assert posts == ["/api/v1/namespaces/apps/pods?dryRun=All"]


def test_check_verifies_every_webhooks_bundle_of_both_configurations(
    fake_cluster: tuple[str, dict[str, Any], list[str]],
    tmp_path: Path,
    ca: certs.KeyPair,
    serving: certs.KeyPair,
) -> None:
    server, objects, _ = fake_cluster
    good = certs.ca_bundle(ca)
    objects.update(cluster_objects(ca, serving, bundle=good))
    mutating = objects[MUTATING]
    mutating["webhooks"][1]["clientConfig"]["caBundle"] = certs.ca_bundle(certs.make_ca())
    validating = manifests.validating_webhook_configuration(manifests.Settings())
    validating["webhooks"][0]["clientConfig"]["caBundle"] = ""
    objects[VALIDATING] = validating
    result = CliRunner().invoke(
        cli.app, ["check", "--kubeconfig", str(kubeconfig(tmp_path, server))]
    )
    assert result.exit_code == 1
    lines = result.output.splitlines()
    second = mutating["webhooks"][1]["name"]
    others = ", ".join(h["name"] for i, h in enumerate(mutating["webhooks"]) if i != 1)
    assert f"[ok] caBundle of {others}: verifies the serving certificate" in result.output
    assert any(line.startswith(f"[error] caBundle of {second}: does not verify") for line in lines)
    assert (
        "[error] ValidatingWebhookConfiguration istio-sidecar-injector-config: no caBundle in "
        "config.validation.sidecar-injector.istio.io" in result.output
    )
    # a rotation in progress: both CAs in one bundle still verify
    both = base64.b64encode(ca.cert_pem + certs.make_ca().cert_pem).decode()
    for hook in mutating["webhooks"]:
        hook["clientConfig"]["caBundle"] = both
    validating["webhooks"][0]["clientConfig"]["caBundle"] = good
    result = CliRunner().invoke(
        cli.app, ["check", "--kubeconfig", str(kubeconfig(tmp_path, server))]
    )
    assert result.exit_code == 0, result.output
    assert result.output.count(": verifies the serving certificate") == 2
    assert result.output.count("[ok] CA: expires in") == 2


def test_a_dead_injector_with_failure_policy_ignore_is_failing_open(
    fake_cluster: tuple[str, dict[str, Any], list[str]],
    tmp_path: Path,
    ca: certs.KeyPair,
    serving: certs.KeyPair,
) -> None:
    server, objects, _ = fake_cluster
    objects.update(cluster_objects(ca, serving, bundle=certs.ca_bundle(ca)))
    for hook in objects[MUTATING]["webhooks"]:
        hook["failurePolicy"] = "Ignore"
    objects["/api/v1/namespaces/istio-system/endpoints/sidecar-injector"]["subsets"] = []
    result = CliRunner().invoke(
        cli.app, ["check", "--kubeconfig", str(kubeconfig(tmp_path, server))]
    )
    assert result.exit_code == 1
    assert (
        "[error] Service istio-system/sidecar-injector: no ready endpoints: every webhook call "
        "fails; failing open (failurePolicy Ignore): pods are created without sidecars"
    ) in result.output
    objects["failing open"] = True
    result = CliRunner().invoke(
        cli.app, ["check", "--kubeconfig", str(kubeconfig(tmp_path, server))]
    )
    assert (
        "[error] dry-run pod in apps: came back without a sidecar; failurePolicy Ignore: if the "
        "API server could not call the injector, the webhook is failing open"
    ) in result.output


def test_check_finds_a_policy_v1beta1_disruption_budget(
    fake_cluster: tuple[str, dict[str, Any], list[str]],
    tmp_path: Path,
    ca: certs.KeyPair,
    serving: certs.KeyPair,
) -> None:
    """Kubernetes 1.16 to 1.20 answer 404 for policy/v1: that is not a missing budget."""
    server, objects, _ = fake_cluster
    objects.update(cluster_objects(ca, serving, bundle=certs.ca_bundle(ca)))
    old = manifests.disruption_budget(manifests.Settings(kubernetes_version="1.19"))
    del objects[PDB_V1]
    objects[PDB_V1.replace("/v1/", "/v1beta1/")] = old
    args = ["check", "--kubeconfig", str(kubeconfig(tmp_path, server))]
    result = CliRunner().invoke(cli.app, args)
    assert (
        "[ok] PodDisruptionBudget istio-system/sidecar-injector: exists (policy/v1beta1)"
        in result.output
    )
    del objects[PDB_V1.replace("/v1/", "/v1beta1/")]
    result = CliRunner().invoke(cli.app, args)
    assert "[warning] PodDisruptionBudget istio-system/sidecar-injector: missing" in result.output


def test_check_without_the_webhook_configuration(
    fake_cluster: tuple[str, dict[str, Any], list[str]], tmp_path: Path
) -> None:
    server, _, _ = fake_cluster
    args = ["check", "--kubeconfig", str(kubeconfig(tmp_path, server))]
    result = CliRunner().invoke(cli.app, args)
    assert result.exit_code == 1
    assert "istio-sidecar-injector does not exist" in result.output


def test_certs_command_writes_files_and_prints_the_bundle(tmp_path: Path) -> None:
    args = ["certs", "--service", "inj", "--namespace", "ns", "--out", str(tmp_path)]
    result = CliRunner().invoke(cli.app, args)
    assert result.exit_code == 0, result.output
    bundle = result.stdout.strip().splitlines()[-1]
    assert base64.b64decode(bundle) == (tmp_path / "ca.crt").read_bytes()
    found = diagnosis.certificate_findings(
        (tmp_path / "tls.crt").read_bytes(), bundle=bundle, hosts=["inj.ns.svc"]
    )
    assert {f.severity for f in found} == {"ok"}
    assert (tmp_path / "tls.key").stat().st_mode & 0o077 == 0


# --- check --proxy --------------------------------------------------------------------------


def replica_pod(name: str, *, owner: str, **fields: Any) -> dict[str, Any]:
    body = pod(name=name, **fields)
    body["metadata"]["labels"] = {**body["metadata"].get("labels", {}), "pod-template-hash": "abc"}
    reference = {"apiVersion": "apps/v1", "kind": "ReplicaSet", "uid": "u1"}
    body["metadata"]["ownerReferences"] = [{**reference, "name": f"{owner}-abc"}]
    return body


def test_sidecar_findings_per_owner() -> None:
    current = config.load_default()
    fresh = inject.inject_pod(replica_pod("w-1", owner="web"), namespace="apps", config=current)
    old = copy.deepcopy(fresh.pod)
    old["metadata"]["name"] = "o-1"
    old["metadata"]["ownerReferences"] = [{"kind": "ReplicaSet", "name": "old-abc"}]
    proxy = next(c for c in old["spec"]["containers"] if c["name"] == "istio-proxy")
    proxy["image"] = "docker.io/istio/proxyv2:1.0.0"
    renamed = copy.deepcopy(old)
    renamed["metadata"]["annotations"]["sidecar.istio.io/status"] = '{"containers":["envoy"]}'
    pods = [
        fresh.pod,
        old,
        renamed,
        replica_pod("b-1", owner="bare"),
        replica_pod("b-2", owner="bare"),
        replica_pod("x-1", owner="optout", labels={decision.INJECT_KEY: "false"}),
    ]
    findings = diagnosis.sidecar_findings(pods, namespace="apps", config=current)
    assert [str(f) for f in findings] == [
        "[error] Deployment apps/bare: 2 pod(s) without a sidecar (created while the webhook "
        "failed open?); kubectl rollout restart it",
        "[warning] Deployment apps/old: stale sidecar, not what the config injects now: image, "
        "status annotation; kubectl rollout restart it",
    ]


def test_owner_of_a_bare_pod_and_a_job() -> None:
    assert diagnosis.owner_of(pod(name="p"), namespace="n") == "Pod n/p"
    job = pod(name="j-x")
    job["metadata"]["ownerReferences"] = [{"kind": "Job", "name": "j"}]
    assert diagnosis.owner_of(job, namespace="n") == "Job n/j"


def test_check_proxy_lists_pods_without_a_sidecar(
    fake_cluster: tuple[str, dict[str, Any], list[str]],
    tmp_path: Path,
    ca: certs.KeyPair,
    serving: certs.KeyPair,
) -> None:
    server, objects, _ = fake_cluster
    objects.update(cluster_objects(ca, serving, bundle=certs.ca_bundle(ca)))
    for item in manifests.configmaps(manifests.Settings()):
        path = f"/api/v1/namespaces/istio-system/configmaps/{item['metadata']['name']}"
        objects[path] = item
    bare = {"apiVersion": "v1", "kind": "Pod", **replica_pod("web-abc-1", owner="web")}
    pods = {"kind": "PodList", "apiVersion": "v1", "metadata": {}, "items": [bare]}
    objects["/api/v1/namespaces/apps/pods"] = pods
    args = ["check", "--proxy", "--kubeconfig", str(kubeconfig(tmp_path, server))]
    result = CliRunner().invoke(cli.app, args)
    assert "[error] Deployment apps/web: 1 pod(s) without a sidecar" in result.output
    assert result.exit_code == 1
