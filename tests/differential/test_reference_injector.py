"""Our injection against the Go reference injector (../shared/tools/go-ref-injector), with its
template and values, on loadgen's sample pods: the proxy's environment, which the template
fills with `toJson` of the pod's ports and labels (Go's encoding/json of typed structs) and
with sprig's functions, comes out the same. The rest of the patch differs where Istio, which
we follow, does more than the reference (the cluster ID moved last, app probes rewritten, the
typed round trip of the whole pod)."""

from __future__ import annotations

import base64
import importlib.util
import json
import socket
import ssl
import subprocess
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from types import ModuleType
from typing import Any

import jsonpatch
import pytest

from sidecar_injector import config, inject
from tests.conftest import LOADGEN_SAMPLES, REPO, SHARED

TOOL = SHARED / "tools/go-ref-injector"
pytestmark = pytest.mark.skipif(
    not TOOL.is_dir() or not LOADGEN_SAMPLES,
    reason=f"the Go reference injector and loadgen's samples are not under {SHARED / 'tools'}",
)


def _bench_reference() -> ModuleType:
    """bench/reference.py: how the benchmarks build the tool and turn its template into ours."""
    spec = importlib.util.spec_from_file_location("reference", REPO / "bench/reference.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.fixture(scope="module")
def go_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[int, Path]]:
    reference = _bench_reference()
    binary = reference.go_tool("go-ref-injector")
    certs = tmp_path_factory.mktemp("certs")
    subprocess.run(
        ["bash", str(TOOL / "gen-cert.sh"), str(certs)], check=True, stdout=subprocess.DEVNULL
    )
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    command = [str(binary), "-addr", f"127.0.0.1:{port}", "-template", str(reference.TEMPLATE)]
    command += ["-cert", str(certs / "tls.crt"), "-key", str(certs / "tls.key")]
    server = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        deadline = time.monotonic() + 30
        while True:
            try:
                socket.create_connection(("127.0.0.1", port), timeout=1).close()
                break
            except OSError:
                assert server.poll() is None and time.monotonic() < deadline
                time.sleep(0.05)
        yield port, certs / "ca.crt"
    finally:
        server.terminate()
        server.wait(10)


@pytest.fixture(scope="module")
def ours(tmp_path_factory: pytest.TempPathFactory) -> config.Config:
    reference = _bench_reference()
    config_file, values = reference.reference_config(tmp_path_factory.mktemp("config"))
    return config.load_files(config=config_file, values=values, mesh=None)


def _proxy_env(pod: dict[str, Any]) -> dict[str, Any]:
    proxy = next(c for c in pod["spec"]["containers"] if c["name"] == "istio-proxy")
    return {e["name"]: e.get("value", e.get("valueFrom")) for e in proxy["env"]}


@pytest.mark.parametrize("sample", LOADGEN_SAMPLES, ids=lambda path: path.stem)
def test_the_proxy_environment_is_the_go_reference_injectors(
    go_server: tuple[int, Path], ours: config.Config, sample: Path
) -> None:
    port, ca = go_server
    body = sample.read_bytes()
    request = urllib.request.Request(
        f"https://127.0.0.1:{port}/inject",
        data=body,
        headers={"content-type": "application/json"},
    )
    context = ssl.create_default_context(cafile=str(ca))
    with urllib.request.urlopen(request, context=context, timeout=10) as reply:
        answer = json.loads(reply.read())
    review = json.loads(body)["request"]
    pod = review["object"]
    patch = json.loads(base64.b64decode(answer["response"]["patch"]))
    by_go = jsonpatch.apply_patch(pod, patch)
    # The large sample's pod names another namespace than its request, which the API server
    # refuses before admission; the reference takes the pod's.
    namespace = pod["metadata"].get("namespace") or review["namespace"]
    result = inject.inject_pod(pod, namespace=namespace, config=ours)
    assert result.decision.inject
    assert _proxy_env(result.pod) == _proxy_env(by_go)
    assert "ISTIO_META_POD_PORTS" in _proxy_env(by_go)
