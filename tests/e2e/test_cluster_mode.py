"""`serve`'s cluster modes and `check` through a real API server (issue 16): a CA change under two
self-mode replicas while pods are created, no Events for dry runs, `check` on a 1.20 cluster, a
deleted config key, the mesh ConfigMap validated, and manifests that re-apply unchanged.

Every webhook configuration here is url-mode on 127.0.0.1, and each test removes what it adds
to the cluster that other tests share.
"""

from __future__ import annotations

import contextlib
import itertools
import os
import ssl
import subprocess
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any, cast

import pytest
from lightkube import Client, KubeConfig
from lightkube.codecs import from_dict
from lightkube.core.exceptions import ApiError
from lightkube.resources.admissionregistration_v1 import (
    MutatingWebhookConfiguration,
)
from lightkube.resources.core_v1 import Namespace, Pod, Secret, ServiceAccount

from sidecar_injector import kube, manifests
from tests.e2e.conftest import REPO, Cluster, free_port, stop, wait_for

pytestmark = pytest.mark.e2e
_names = itertools.count()


@pytest.fixture(scope="module")
def client(cluster: Cluster) -> Iterator[Client]:
    with Client(KubeConfig.from_file(cluster.kubeconfig).get()) as opened:
        yield opened


@dataclass
class Serve:
    """One `serve` process of this module, its stderr in `log`."""

    url: str
    process: subprocess.Popen[bytes]
    log: Path


def serve(work: Path, cluster: Cluster, *args: str, port: int = 0) -> Serve:
    """`serve` on a loopback port talking to the test API server; ready when it answers."""
    work.mkdir(parents=True, exist_ok=True)
    port = port or free_port()
    log = work / "serve.log"
    with log.open("wb") as sink:  # the child keeps it open; an unclosed file here is an error
        process = subprocess.Popen(
            [
                str(REPO / ".venv" / "bin" / "sidecar-injector"),
                "serve",
                "--host=127.0.0.1",
                f"--port={port}",
                f"--state-dir={work}",
                "--engines=0",
                *args,
            ],
            stdout=sink,
            stderr=subprocess.STDOUT,
            env={**os.environ, "KUBECONFIG": str(cluster.kubeconfig), "PYTHONUNBUFFERED": "1"},
        )
    url = f"https://127.0.0.1:{port}"
    try:
        wait_for(f"{url}/healthz", seconds=60)
    except RuntimeError:
        stop(process)
        raise AssertionError(f"serve did not start: {log.read_text()[-2000:]}") from None
    return Serve(url, process, log)


def namespace(client: Client, name: str, labels: dict[str, str] | None = None) -> None:
    """A namespace with its `default` ServiceAccount (no controller-manager makes it here)."""
    body = {"metadata": {"name": name, "labels": labels or {}}}
    client.create(cast(Namespace, Namespace.from_dict(body)))
    account = cast(ServiceAccount, ServiceAccount.from_dict({"metadata": {"name": "default"}}))
    client.create(account, namespace=name)


def pod(name: str) -> Pod:
    return cast(
        Pod,
        Pod.from_dict(
            {
                "metadata": {"name": name},
                "spec": {
                    "containers": [{"name": "app", "image": "example.com/app:1"}],
                    "automountServiceAccountToken": False,
                },
            }
        ),
    )


def url_mode(body: dict[str, Any], *, url: str, bundle: str) -> dict[str, Any]:
    for hook in body["webhooks"]:
        path = hook["clientConfig"]["service"]["path"]
        hook["clientConfig"] = {"url": f"{url}{path}", "caBundle": bundle}
    return body


@contextlib.contextmanager
def installed(client: Client, *bodies: dict[str, Any]) -> Iterator[None]:
    """Cluster-scoped objects (webhook configurations) created now and deleted after."""
    created: list[Any] = []
    try:
        for body in bodies:
            resource: Any = from_dict(body)
            client.create(resource)
            created.append(resource)
        yield
    finally:
        for resource in created:
            with contextlib.suppress(ApiError):
                client.delete(type(resource), resource.metadata.name)


def until(condition: Any, *, seconds: float, what: str) -> None:
    """Poll `condition` for at most `seconds`; a test that never gets there fails, never hangs."""
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if condition():
            return
        time.sleep(0.2)
    raise AssertionError(f"not within {seconds} s: {what}")


# --- 1: a CA change under two self-mode replicas --------------------------------------------


def served(url: str) -> str:
    """The serving certificate (PEM), read from a TLS handshake."""
    host, port = url.removeprefix("https://").split(":")
    return ssl.get_server_certificate((host, int(port)))


def trusted(client: Client, name: str) -> list[set[bytes]]:
    """Per webhook, the CAs its caBundle trusts (their subjects with serial numbers)."""
    found = client.get(MutatingWebhookConfiguration, name=name)
    return [
        {
            ca.issuer.public_bytes() + ca.serial_number.to_bytes(20)
            for ca in kube.bundle_cas(hook.clientConfig.caBundle or "")
        }
        for hook in found.webhooks or []
    ]


@pytest.mark.timeout(240)
def test_a_ca_change_under_two_replicas_refuses_no_pod(
    client: Client, cluster: Cluster, tmp_path: Path
) -> None:
    """Issue 16 item 1: the Secret is deleted while pods are created through both replicas
    (one webhook each, failurePolicy Fail); replica b re-reads the Secret only every 60 s."""
    namespace(client, "e2e-rotation")
    namespace(client, "e2e-rotation-pods", {"e2e-rotation": "enabled"})
    name = "e2e-rotation"
    ports = {"a": free_port(), "b": free_port()}
    hook = manifests.mutating_webhook_configuration(manifests.Settings())["webhooks"][0]
    body = {
        "apiVersion": "admissionregistration.k8s.io/v1",
        "kind": "MutatingWebhookConfiguration",
        "metadata": {"name": name},
        "webhooks": [
            {
                **hook,
                "name": f"{replica}.rotation.sidecar-injector.io",
                "clientConfig": {"url": f"https://127.0.0.1:{port}/inject"},
                "namespaceSelector": {"matchLabels": {"e2e-rotation": "enabled"}},
                "objectSelector": {},
                "timeoutSeconds": 10,
            }
            for replica, port in ports.items()
        ],
    }
    secret = "e2e-rotation/sidecar-injector-tls"
    replicas: list[Serve] = []
    with installed(client, body):
        try:
            for replica, interval in (("a", "3"), ("b", "60")):
                replicas.append(
                    serve(
                        tmp_path / replica,
                        cluster,
                        "--cert-mode=self",
                        f"--cert-secret={secret}",
                        "--cert-host=127.0.0.1",
                        f"--webhook-configuration={name}",
                        f"--cert-secret-interval={interval}",
                        port=ports[replica],
                    )
                )
            until(lambda: all(trusted(client, name)), seconds=30, what="caBundle patched into both")
            old = served(replicas[0].url)
            refused: list[str] = []
            created = [0]
            done = threading.Event()

            def create_pods() -> None:
                with Client(KubeConfig.from_file(cluster.kubeconfig).get()) as own:
                    while not done.is_set():
                        try:
                            own.create(pod(f"rot-{next(_names)}"), namespace="e2e-rotation-pods")
                            created[0] += 1
                        except ApiError as err:
                            refused.append(str(err))
                        done.wait(0.2)

            creator = threading.Thread(target=create_pods)
            creator.start()
            try:
                time.sleep(1)
                client.delete(Secret, "sidecar-injector-tls", namespace="e2e-rotation")
                until(
                    lambda: (
                        all(served(r.url) != old for r in replicas)
                        and all(len(cas) == 1 for cas in trusted(client, name))
                    ),
                    seconds=90,
                    what="both replicas serve the new CA and the bundles hold it alone",
                )
                time.sleep(1)
            finally:
                done.set()
                creator.join(timeout=30)
        finally:
            for replica in replicas:
                stop(replica.process)
    assert refused == []
    assert created[0] > 20
    assert "holds a new CA" in replicas[1].log.read_text()
