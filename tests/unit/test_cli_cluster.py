"""kube-inject's cluster mode: the ConfigMaps read from a (fake, plain HTTP) Kubernetes API."""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest
import yaml
from typer.testing import CliRunner

from sidecar_injector import cli

DEFAULTS = Path(cli.__file__).parent / "defaults"
POD = "apiVersion: v1\nkind: Pod\nmetadata: {name: p}\nspec: {containers: [{name: a, image: b}]}\n"


NAMESPACE = {
    "apiVersion": "v1",
    "kind": "Namespace",
    "metadata": {"name": "shop", "labels": {"istio-injection": "enabled"}},
}
DEPLOYMENT = {
    "apiVersion": "apps/v1",
    "kind": "Deployment",
    "metadata": {"name": "reviews", "namespace": "shop"},
    "spec": {
        "selector": {"matchLabels": {"app": "reviews"}},
        "template": {
            "metadata": {"labels": {"app": "reviews"}},
            "spec": {"containers": [{"name": "reviews", "image": "reviews:1"}]},
        },
    },
}
DEBUG_POD = {
    "apiVersion": "v1",
    "kind": "Pod",
    "metadata": {
        "name": "debug",
        "namespace": "shop",
        "annotations": {"sidecar.istio.io/inject": "false"},
    },
    "spec": {"containers": [{"name": "shell", "image": "busybox"}]},
}


def configmap(name: str, data: dict[str, str]) -> dict[str, object]:
    meta = {"name": name, "namespace": "istio-system"}
    return {"apiVersion": "v1", "kind": "ConfigMap", "metadata": meta, "data": data}


@pytest.fixture(scope="module")
def api() -> Iterator[tuple[str, list[str]]]:
    """A Kubernetes API that knows two ConfigMaps; it records the paths asked for."""
    injector = configmap(
        "istio-sidecar-injector",
        {
            "config": (DEFAULTS / "config.yaml").read_text(),
            "values": (DEFAULTS / "values.yaml").read_text(),
        },
    )
    objects = {
        "/api/v1/namespaces/istio-system/configmaps/istio-sidecar-injector": injector,
        "/api/v1/namespaces/istio-system/configmaps/istio": configmap("istio", {"mesh": "{}"}),
        "/api/v1/namespaces/shop": NAMESPACE,
        "/api/v1/namespaces/plain": {**NAMESPACE, "metadata": {"name": "plain"}},
        "/apis/apps/v1/namespaces/shop/deployments/reviews": DEPLOYMENT,
        "/apis/apps/v1/namespaces/plain/deployments/reviews": DEPLOYMENT,
        "/api/v1/namespaces/shop/pods/debug": DEBUG_POD,
    }
    seen: list[str] = []

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            seen.append(self.path)
            found = objects.get(self.path.split("?")[0])
            body = json.dumps(found or {"kind": "Status", "code": 404, "message": "not found"})
            self.send_response(200 if found else 404)
            self.send_header("Content-Type", "application/json")
            self.end_headers()
            self.wfile.write(body.encode())

        def log_message(self, format: str, *args: object) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}", seen
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
                "contexts": [{"name": "test", "context": {"cluster": "c", "user": "u"}}],
                "current-context": "test",
            }
        )
    )
    return path


def test_reads_the_configmaps_and_injects(api: tuple[str, list[str]], tmp_path: Path) -> None:
    server, seen = api
    args = ["kube-inject", "-f", "-", "--kubeconfig", str(kubeconfig(tmp_path, server))]
    result = CliRunner().invoke(cli.app, [*args, "--context", "test"], input=POD)
    assert result.exit_code == 0, result.stderr
    (pod,) = [doc for doc in yaml.safe_load_all(result.stdout) if doc]
    names = [c["name"] for c in pod["spec"]["containers"] + pod["spec"].get("initContainers", [])]
    assert "istio-proxy" in names
    assert "/api/v1/namespaces/istio-system/configmaps/istio" in [p.split("?")[0] for p in seen]


def test_a_revision_reads_the_revision_configmaps(
    api: tuple[str, list[str]], tmp_path: Path
) -> None:
    server, _ = api
    args = ["kube-inject", "-f", "-", "--kubeconfig", str(kubeconfig(tmp_path, server))]
    result = CliRunner().invoke(cli.app, [*args, "-r", "canary"], input=POD)
    assert result.exit_code == 1
    assert result.stderr.startswith(
        "sidecar-injector: error: cannot read ConfigMap istio-system/istio-sidecar-injector-canary"
    )
    assert "istio-sidecar-injector-canary" in result.stderr
    assert result.stdout == ""


def test_no_cluster_is_one_clear_line(tmp_path: Path) -> None:
    config = kubeconfig(tmp_path, "http://127.0.0.1:9")
    result = CliRunner().invoke(
        cli.app, ["kube-inject", "-f", "-", "--kubeconfig", str(config)], input=POD
    )
    assert result.exit_code == 1
    assert result.stderr.count("\n") == 1
    assert "pass --injectConfigFile" in result.stderr


@pytest.mark.parametrize(
    ("mode", "config_map", "cert_mode", "watches"),
    [
        (None, "istio-system/istio-sidecar-injector", "provided", True),
        ("auto", "", "self", True),
        (None, "", "provided", False),
        ("true", "istio-system/istio-sidecar-injector", "self", False),
        ("false", "istio-system/istio-sidecar-injector", "self", False),
    ],
)
def test_serve_lists_nodes_for_auto_native_sidecars_when_it_talks_to_a_cluster(
    monkeypatch: pytest.MonkeyPatch,
    mode: str | None,
    config_map: str,
    cert_mode: str,
    watches: bool,
) -> None:
    if mode is None:
        monkeypatch.delenv("ENABLE_NATIVE_SIDECARS", raising=False)
    else:
        monkeypatch.setenv("ENABLE_NATIVE_SIDECARS", mode)
    assert cli._watches_nodes(config_map=config_map, cert_mode=cert_mode) is watches


def explain(api: tuple[str, list[str]], tmp_path: Path, *args: str) -> tuple[int, str]:
    config_file = kubeconfig(tmp_path, api[0])
    result = CliRunner().invoke(
        cli.app, ["explain", *args, "--kubeconfig", str(config_file), "-o", "json"]
    )
    return result.exit_code, result.output


def test_explain_a_deployment_of_the_cluster_with_its_namespace_labels(
    api: tuple[str, list[str]], tmp_path: Path
) -> None:
    code, output = explain(api, tmp_path, "deployment/reviews", "-n", "shop")
    assert code == 0, output
    (answer,) = json.loads(output)
    assert answer["workload"] == 'Deployment "shop/reviews"'
    assert (answer["inject"], answer["reason"], answer["templates"]) == (
        True,
        "policyEnabled",
        ["sidecar"],
    )
    matched = [r["rule"] for r in answer["rules"] if r["outcome"] == "match"]
    assert matched == ["namespace.sidecar-injector.istio.io"]
    assert "/api/v1/namespaces/istio-system/configmaps/istio-sidecar-injector" in api[1]


def test_explain_says_the_webhook_is_not_called_in_an_unlabelled_namespace(
    api: tuple[str, list[str]], tmp_path: Path
) -> None:
    code, output = explain(api, tmp_path, "deploy/reviews", "-n", "plain")
    assert code == 0, output
    (answer,) = json.loads(output)
    assert answer["inject"] is False
    assert not [r for r in answer["rules"] if r["outcome"] == "match"]


def test_explain_a_pod_that_opts_out(api: tuple[str, list[str]], tmp_path: Path) -> None:
    code, output = explain(api, tmp_path, "pod/debug", "-n", "shop")
    assert code == 0, output
    (answer,) = json.loads(output)
    assert (answer["inject"], answer["reason"]) == (False, "podAnnotationFalse")


@pytest.mark.parametrize(
    ("args", "says"),
    [
        (["pod/missing", "-n", "shop"], "cannot read Pod shop/missing from the cluster"),
        (["secret/x"], "want KIND/NAME with KIND one of pod, deployment"),
        (["deployment/reviews", "-f", "app.yaml"], "either -f FILE or KIND/NAME"),
        ([], "either -f FILE or KIND/NAME"),
    ],
)
def test_explain_from_the_cluster_fails_in_one_line(
    api: tuple[str, list[str]], tmp_path: Path, args: list[str], says: str
) -> None:
    code, output = explain(api, tmp_path, *args)
    assert code == 1
    assert says in output
    assert "Traceback" not in output
