"""`sidecar-injector serve` as a newcomer runs it: no flags but a state dir and a port."""

from __future__ import annotations

import base64
import os
import signal
import ssl
import subprocess
import sys
from pathlib import Path

import httpx
import jsonpatch
import kubernetes_validate
import orjson
from typer.testing import CliRunner

from sidecar_injector import cli
from sidecar_injector.admission import review
from tests.conftest import REPO, admission_samples
from tests.unit.test_server import eventually, free_port

SAMPLE = REPO / "docs/samples/admission-review.json"
SAMPLES = admission_samples()


def test_serve_makes_a_ca_prints_it_and_injects_the_sample(tmp_path: Path) -> None:
    port = free_port()
    command = [sys.executable, "-m", "sidecar_injector", "serve", "--state-dir", str(tmp_path)]
    process = subprocess.Popen(
        [*command, "--port", str(port), "--reload-interval", "0.2"],
        cwd=REPO,
        env={**os.environ, "PYTHONUNBUFFERED": "1"},
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )
    try:
        ca = tmp_path / "ca.crt"
        eventually(ca.exists, seconds=30)
        verify = ssl.create_default_context(cafile=ca)
        with httpx.Client(verify=verify, timeout=10) as client:
            url = f"https://127.0.0.1:{port}"
            eventually(lambda: _up(client, url), seconds=30)
            reply = client.post(
                f"{url}/inject",
                content=SAMPLE.read_bytes(),
                headers={"Content-Type": "application/json"},
            ).json()
            for sample in SAMPLES:
                for version in review.API_VERSIONS:
                    _injected_and_valid(client, url, sample, version=version)
        process.send_signal(signal.SIGTERM)
        stdout, stderr = process.communicate(timeout=30)
    finally:
        if process.poll() is None:
            process.kill()
            process.communicate()
    assert process.returncode == 0, stderr.decode()
    printed = stdout.decode()
    assert f"CA certificate (curl --cacert): {ca}" in printed
    assert f"caBundle: {base64.b64encode(ca.read_bytes()).decode()}" in printed
    pod = orjson.loads(SAMPLE.read_bytes())["request"]["object"]
    ops = orjson.loads(base64.b64decode(reply["response"]["patch"]))
    names = [c["name"] for c in jsonpatch.apply_patch(pod, ops)["spec"]["containers"]]
    assert "istio-proxy" in names
    log_lines = [orjson.loads(line) for line in stderr.splitlines() if line.startswith(b"{")]
    admission = next(line for line in log_lines if line["msg"] == "admission")
    assert admission["decision"] == "injected"
    assert admission["pod"] == pod["metadata"]["generateName"]


def _injected_and_valid(
    client: httpx.Client, url: str, sample: Path, *, version: review.ApiVersion
) -> None:
    document = orjson.loads(sample.read_bytes())
    document["apiVersion"] = version
    headers = {"Content-Type": "application/json"}
    reply = client.post(f"{url}/inject", content=orjson.dumps(document), headers=headers).json()
    assert reply["apiVersion"] == version
    assert reply["response"]["uid"] == document["request"]["uid"]
    ops = orjson.loads(base64.b64decode(reply["response"]["patch"]))
    pod = jsonpatch.apply_patch(document["request"]["object"], ops)
    assert kubernetes_validate.validate(pod, "1.29.0", strict=True)


def _up(client: httpx.Client, url: str) -> bool:
    try:
        return client.get(f"{url}/readyz").status_code == 200
    except httpx.TransportError:
        return False


def test_a_certificate_without_its_key_is_refused(tmp_path: Path) -> None:
    result = CliRunner().invoke(cli.app, ["serve", "--tls-cert-file", str(tmp_path / "c")])
    assert result.exit_code == 1
    assert "--tls-cert-file and --tls-key-file go together" in result.stderr


def test_a_config_that_does_not_load_stops_the_start(tmp_path: Path) -> None:
    bad = tmp_path / "config.yaml"
    bad.write_text("policy: sometimes\n")
    result = CliRunner().invoke(
        cli.app,
        ["serve", "--state-dir", str(tmp_path), "--inject-config", str(bad), "--port", "1"],
    )
    assert result.exit_code == 1
    assert str(bad) in result.stderr
