"""A real kube-apiserver and etcd on 127.0.0.1, and the injector as a `serve` process.

The binaries are found through `KUBE_APISERVER` (or the envtest convention `KUBEBUILDER_ASSETS`,
a directory with `kube-apiserver` and `etcd`) and `ETCD` or Debian's `etcd-server` on PATH. When
they are absent every test here is skipped with that reason, never failed. No scheduler,
controller-manager or kubelet runs: only admission is exercised, pods stay Pending.
"""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest
import yaml
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec

TOKEN = "e2e-admin-token"
REPO = Path(__file__).resolve().parents[2]


def _binary(env: str, name: str) -> Path | None:
    if os.environ.get(env):
        return Path(os.environ[env])
    assets = os.environ.get("KUBEBUILDER_ASSETS")
    if assets and (Path(assets) / name).exists():
        return Path(assets) / name
    found = shutil.which(name)
    return Path(found) if found else None


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def wait_for(url: str, *, headers: dict[str, str] | None = None, seconds: float = 60) -> None:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        try:
            if httpx.get(url, headers=headers, verify=False, timeout=2).status_code == 200:
                return
        except httpx.HTTPError:
            pass
        time.sleep(0.2)
    raise RuntimeError(f"{url} did not become ready in {seconds} s")


def stop(process: subprocess.Popen[bytes]) -> None:
    process.terminate()
    try:
        process.wait(timeout=15)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait()
    if process.stdout is not None:
        process.stdout.close()


def logged(command: list[str], log: Path, **options: Any) -> subprocess.Popen[bytes]:
    """Start `command` with stderr (and stdout unless piped) into `log`. Only the child keeps
    the log open: the suite runs with warnings as errors, and an unclosed file is one."""
    with log.open("wb") as sink:
        options.setdefault("stdout", sink)
        return subprocess.Popen(
            command, stderr=subprocess.STDOUT if options["stdout"] is sink else sink, **options
        )


@dataclass(frozen=True)
class Cluster:
    url: str
    kubeconfig: Path


@pytest.fixture(scope="session")
def cluster(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Cluster]:
    apiserver = _binary("KUBE_APISERVER", "kube-apiserver")
    etcd = _binary("ETCD", "etcd")
    missing = [
        what
        for what, found in (
            ("kube-apiserver (set KUBE_APISERVER or KUBEBUILDER_ASSETS)", apiserver),
            ("etcd (ETCD, KUBEBUILDER_ASSETS, or Debian's etcd-server)", etcd),
        )
        if found is None
    ]
    if apiserver is None or etcd is None:
        pytest.skip(f"the end-to-end suite needs {' and '.join(missing)}")
    work = tmp_path_factory.mktemp("cluster")
    etcd_client, etcd_peer, secure = free_port(), free_port(), free_port()
    etcd_process = logged(
        [
            str(etcd),
            f"--data-dir={work / 'etcd'}",
            f"--listen-client-urls=http://127.0.0.1:{etcd_client}",
            f"--advertise-client-urls=http://127.0.0.1:{etcd_client}",
            f"--listen-peer-urls=http://127.0.0.1:{etcd_peer}",
            f"--initial-advertise-peer-urls=http://127.0.0.1:{etcd_peer}",
            f"--initial-cluster=default=http://127.0.0.1:{etcd_peer}",
        ],
        work / "etcd.log",
    )
    key = ec.generate_private_key(ec.SECP256R1())
    sa_key = work / "sa.key"
    sa_key.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.TraditionalOpenSSL,
            serialization.NoEncryption(),
        )
    )
    (work / "tokens.csv").write_text(f'{TOKEN},admin,admin,"system:masters"\n')
    api_process = logged(
        [
            str(apiserver),
            f"--etcd-servers=http://127.0.0.1:{etcd_client}",
            "--bind-address=127.0.0.1",
            "--advertise-address=127.0.0.1",
            f"--secure-port={secure}",
            f"--cert-dir={work / 'certs'}",
            f"--token-auth-file={work / 'tokens.csv'}",
            "--authorization-mode=RBAC",
            "--service-cluster-ip-range=10.0.0.0/24",
            "--service-account-issuer=https://kubernetes.default.svc",
            f"--service-account-key-file={sa_key}",
            f"--service-account-signing-key-file={sa_key}",
            "--allow-privileged=true",
        ],
        work / "apiserver.log",
    )
    url = f"https://127.0.0.1:{secure}"
    try:
        wait_for(f"{url}/readyz", headers={"Authorization": f"Bearer {TOKEN}"}, seconds=90)
        kubeconfig = work / "kubeconfig"
        kubeconfig.write_text(
            yaml.safe_dump(
                {
                    "apiVersion": "v1",
                    "kind": "Config",
                    "clusters": [
                        {
                            "name": "e2e",
                            "cluster": {"server": url, "insecure-skip-tls-verify": True},
                        }
                    ],
                    "users": [{"name": "admin", "user": {"token": TOKEN}}],
                    "contexts": [{"name": "e2e", "context": {"cluster": "e2e", "user": "admin"}}],
                    "current-context": "e2e",
                }
            )
        )
        yield Cluster(url, kubeconfig)
    finally:
        stop(api_process)
        stop(etcd_process)


@dataclass
class Injector:
    """A `serve` process on loopback; `url` is what a url-mode clientConfig points at."""

    url: str
    ca_bundle: str
    process: subprocess.Popen[bytes] | None


def start_injector(work: Path, port: int) -> Injector:
    process = logged(
        [
            str(REPO / ".venv" / "bin" / "sidecar-injector"),
            "serve",
            "--host=127.0.0.1",
            f"--port={port}",
            f"--state-dir={work}",
        ],
        work / "serve.log",
        stdout=subprocess.PIPE,
        env={**os.environ, "PYTHONUNBUFFERED": "1"},
    )
    assert process.stdout is not None
    bundle = ""
    for raw in process.stdout:
        line = raw.decode()
        if line.startswith("caBundle: "):
            bundle = line.split(": ", 1)[1].strip()
        if line.startswith("listening on"):
            break
    wait_for(f"https://127.0.0.1:{port}/healthz")
    return Injector(f"https://127.0.0.1:{port}", bundle, process)


@pytest.fixture(scope="session")
def injector(tmp_path_factory: pytest.TempPathFactory, cluster: Cluster) -> Iterator[Injector]:
    running = start_injector(tmp_path_factory.mktemp("injector"), free_port())
    yield running
    if running.process is not None:
        stop(running.process)
