"""The real server: uvicorn in a thread on 127.0.0.1, real TLS, a client that verifies it."""

from __future__ import annotations

import asyncio
import base64
import datetime
import io
import logging
import os
import re
import signal
import socket
import ssl
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from functools import partial
from importlib import resources
from pathlib import Path

import httpx
import httpx2
import orjson
import pytest
from lightkube import Client, KubeConfig
from prometheus_client import CollectorRegistry

from sidecar_injector import certs, config, kube, metrics, server
from sidecar_injector.admission import app, review
from tests.conftest import REPO
from tests.unit.test_review import a_pod, admission_review

JSON_HEADERS = {"Content-Type": "application/json"}
DEFAULT_VALUES = (resources.files("sidecar_injector") / "defaults/values.yaml").read_bytes()


def tagged(tag: object) -> bytes:
    """The default values plus a `tag`: a config that renders (reloads rehearse it)."""
    return DEFAULT_VALUES + f"\ntag: {tag}\n".encode()


class RecordingPipeline:
    """Injects a label naming the values' `tag`, so a test sees which config served a request."""

    def __init__(self, current: config.Config, *, cache_entries: int = 0, **_: object) -> None:
        self.config = current
        self.cache_entries = cache_entries
        self.swaps: list[config.Config] = []

    def swap(self, current: config.Config) -> None:
        self.swaps.append(current)
        self.config = current

    def observe_nodes(self, kubelet_versions: Mapping[str, str]) -> None:
        self.kubelet_versions = dict(kubelet_versions)

    async def start(self) -> None:
        return None

    async def close(self) -> None:
        return None

    def check(self) -> app.Check:
        return app.Check("engines", True, "recording")

    async def admit(
        self, pod: review.Object, *, namespace: str, params: Mapping[str, str], deadline: float
    ) -> app.Admitted:
        tag = str(self.config.values.get("tag", "none"))
        ops = [{"op": "add", "path": "/metadata/labels", "value": {"tag": tag}}]
        return app.Admitted(True, "policyEnabled", "", (), orjson.dumps(ops))

    async def validate(self, data: Mapping[str, config.JSON], *, deadline: float) -> None:
        return None


@dataclass
class Running:
    service: server.Service
    url: str
    pipeline: RecordingPipeline


def mounted(directory: Path, files: Mapping[str, bytes]) -> None:
    """Write files the way the kubelet updates a mounted Secret: new dir, then a symlink swap."""
    directory.mkdir(parents=True, exist_ok=True)
    version = directory / f"..{time.monotonic_ns()}"
    version.mkdir()
    for name, data in files.items():
        (version / name).write_bytes(data)
        link = directory / name
        if not link.is_symlink():
            link.symlink_to(Path("..data") / name)
    staged = directory / "..data_tmp"
    staged.symlink_to(version.name)
    os.replace(staged, directory / "..data")


def issue(ca: certs.KeyPair) -> dict[str, bytes]:
    pair = certs.make_serving(ca, hosts=["localhost", "127.0.0.1"])
    return {"tls.crt": pair.cert_pem, "tls.key": pair.key_pem}


def client_for(*cas: certs.KeyPair, keepalive: bool = True) -> httpx.Client:
    context = ssl.create_default_context()
    for ca in cas:
        context.load_verify_locations(cadata=ca.cert_pem.decode())
    limits = httpx.Limits(max_keepalive_connections=None if keepalive else 0)
    return httpx.Client(verify=context, timeout=10, limits=limits)


@contextmanager
def serving(
    tmp_path: Path,
    ca: certs.KeyPair,
    *,
    files: server.ConfigFiles | None = None,
    events: bool = False,
    watch_nodes: bool = False,
) -> Iterator[Running]:
    secret = tmp_path / "secret"
    mounted(secret, issue(ca))
    options = server.Options(
        cert_file=secret / "tls.crt",
        key_file=secret / "tls.key",
        port=0,
        files=files or server.ConfigFiles(),
        reload_seconds=0.05,
        graceful_seconds=5,
        events=events,
        watch_nodes=watch_nodes,
    )
    pipelines: list[RecordingPipeline] = []

    def make(current: config.Config) -> RecordingPipeline:
        pipelines.append(RecordingPipeline(current))
        return pipelines[-1]

    service = server.build(options, pipeline=make, registry=CollectorRegistry())
    uv = server.make_server(service, options)
    thread = threading.Thread(target=uv.run, daemon=True)
    thread.start()
    eventually(lambda: uv.started)
    port = uv.servers[0].sockets[0].getsockname()[1]
    try:
        yield Running(service, f"https://127.0.0.1:{port}", pipelines[0])
    finally:
        uv.should_exit = True
        thread.join(10)


def eventually(condition: Callable[[], object], *, seconds: float = 10) -> None:
    deadline = time.monotonic() + seconds
    while not condition():
        assert time.monotonic() < deadline, "condition not reached"
        time.sleep(0.01)


@pytest.fixture(scope="module")
def ca() -> certs.KeyPair:
    return certs.make_ca()


def inject(client: httpx.Client, url: str, body: bytes) -> httpx.Response:
    return client.post(f"{url}/inject", content=body, headers=JSON_HEADERS)


def test_serves_reviews_over_verified_tls(tmp_path: Path, ca: certs.KeyPair) -> None:
    with serving(tmp_path, ca) as running, client_for(ca) as client:
        body = orjson.dumps(admission_review(a_pod(name="p"), uid="u-1"))
        reply = inject(client, running.url, body).json()
        assert reply["response"]["uid"] == "u-1"
        assert reply["response"]["allowed"] is True
        assert client.get(f"{running.url}/readyz").json()["ready"] is True
        with client_for(certs.make_ca()) as stranger, pytest.raises(httpx.ConnectError):
            stranger.get(f"{running.url}/healthz")


def test_bad_requests_leave_the_server_alive(tmp_path: Path, ca: certs.KeyPair) -> None:
    with serving(tmp_path, ca) as running, client_for(ca) as client:
        url = running.url
        assert client.get(f"{url}/inject").status_code == 405
        assert client.post(f"{url}/inject", content=b"{}").status_code == 415
        assert inject(client, url, b"").status_code == 400
        big = inject(client, url, b" " * (app.MAX_BODY_BYTES + 1))
        assert big.status_code == 400
        assert "limit is 6291456" in big.text
        for bad in (b"{nope", b'{"kind":"AdmissionReview","apiVersion":"admission.k8s.io/v1"}'):
            denied = inject(client, url, bad)
            assert denied.status_code == 200
            assert denied.json()["response"]["allowed"] is False
        assert client.get(f"{url}/healthz").text == "ok\n"


class Load:
    """Reviews posted back to back from a thread, each on a new TLS connection, all recorded."""

    def __init__(self, url: str, *cas: certs.KeyPair) -> None:
        self.url, self.cas = url, cas
        self.statuses: list[int] = []
        self.failures: list[BaseException] = []
        self.stop = threading.Event()
        self.thread = threading.Thread(target=self._run)

    def _run(self) -> None:
        body = orjson.dumps(admission_review(a_pod()))
        with client_for(*self.cas, keepalive=False) as client:
            while not self.stop.is_set():
                try:
                    self.statuses.append(inject(client, self.url, body).status_code)
                except BaseException as err:
                    self.failures.append(err)

    def __enter__(self) -> Load:
        self.thread.start()
        self.more(5)
        return self

    def more(self, count: int) -> None:
        """Wait until `count` more reviews have been answered."""
        target = len(self.statuses) + count
        eventually(lambda: len(self.statuses) >= target or self.failures)

    def __exit__(self, *_: object) -> None:
        self.stop.set()
        self.thread.join(10)
        assert self.failures == []
        assert set(self.statuses) == {200}


def test_certificate_rotation_without_restart_or_failed_requests(
    tmp_path: Path, ca: certs.KeyPair
) -> None:
    renewed_ca = certs.make_ca(common_name="renewed CA")
    with serving(tmp_path, ca) as running, Load(running.url, ca, renewed_ca) as load:
        mounted(tmp_path / "secret", issue(renewed_ca))
        with client_for(renewed_ca) as fresh:
            eventually(lambda: _handshakes(fresh, running.url))
        load.more(5)
        served = certs.KeyPair(running.service.tls.cert_pem, b"").certificate
        assert served.issuer == renewed_ca.certificate.subject
        assert running.service.tls.digest == certs.digest(
            tmp_path / "secret/tls.crt", tmp_path / "secret/tls.key"
        )


def test_config_swaps_under_load_fail_no_request(tmp_path: Path, ca: certs.KeyPair) -> None:
    values = tmp_path / "config/values"
    mounted(values.parent, {"values": tagged(0)})
    files = server.ConfigFiles(values=values)
    with serving(tmp_path, ca, files=files) as running, Load(running.url, ca) as load:
        for tag in range(1, 4):
            mounted(values.parent, {"values": tagged(tag)})
            eventually(partial(_swapped, running.pipeline, times=tag))
            load.more(3)
    assert [c.values["tag"] for c in running.pipeline.swaps] == [1, 2, 3]


def _swapped(pipeline: RecordingPipeline, *, times: int) -> bool:
    return len(pipeline.swaps) == times


def _handshakes(client: httpx.Client, url: str) -> bool:
    try:
        return client.get(f"{url}/healthz").status_code == 200
    except httpx.ConnectError:
        return False


def test_a_broken_certificate_keeps_the_old_one(tmp_path: Path, ca: certs.KeyPair) -> None:
    with serving(tmp_path, ca) as running, client_for(ca) as client:
        other = issue(certs.make_ca())
        mounted(tmp_path / "secret", {"tls.crt": issue(ca)["tls.crt"], "tls.key": other["tls.key"]})
        eventually(lambda: running.service.tls.error is not None)
        assert client.get(f"{running.url}/healthz").status_code == 200
        detail = client.get(f"{running.url}/readyz").json()["checks"][0]["detail"]
        assert "last reload failed" in detail


def test_config_reload_keeps_the_last_good_config(tmp_path: Path, ca: certs.KeyPair) -> None:
    values = tmp_path / "config/values"
    mounted(values.parent, {"values": tagged("first")})
    body = orjson.dumps(admission_review(a_pod()))
    files = server.ConfigFiles(values=values)
    with serving(tmp_path, ca, files=files) as running, client_for(ca) as client:

        def tag() -> str:
            reply = inject(client, running.url, body).json()["response"]
            ops = orjson.loads(base64.b64decode(reply["patch"]))
            return str(ops[0]["value"]["tag"])

        assert tag() == "first"
        mounted(values.parent, {"values": tagged("second")})
        eventually(lambda: tag() == "second")
        mounted(values.parent, {"values": b"tag: [unclosed\n"})
        eventually(lambda: running.service.watch.error is not None)
        assert tag() == "second"
        ready = client.get(f"{running.url}/readyz").json()
        assert ready["ready"] is True
        assert "serving the last good config" in ready["checks"][1]["detail"]
        assert values.as_posix() in ready["checks"][1]["detail"]
        scraped = client.get(f"{running.url}/metrics").text
        assert 'sidecar_injector_config_reloads_total{result="error"} 1.0' in scraped
        assert "sidecar_injector_config_last_reload_ok 0.0" in scraped
        mounted(values.parent, {"values": tagged("third")})
        eventually(lambda: tag() == "third")
        assert len(running.pipeline.swaps) == 2


class SlowPipeline(RecordingPipeline):
    """Marks when a review is in flight, then takes long enough for a SIGTERM to land meanwhile."""

    marker = Path(os.environ.get("SLOW_PIPELINE_MARKER", "/nonexistent"))

    async def admit(
        self, pod: review.Object, *, namespace: str, params: Mapping[str, str], deadline: float
    ) -> app.Admitted:
        if "slow" in pod["metadata"].get("annotations", {}):
            self.marker.touch()
            await asyncio.sleep(1)
        return await super().admit(pod, namespace=namespace, params=params, deadline=deadline)


def serve_from_argv(cert: str, key: str, port: str, pipeline: str, workers: str) -> None:
    """The server subprocess of the tests below: the real `server.run`, with a test pipeline."""
    server.configure_logging("info")
    options = server.Options(
        cert_file=Path(cert),
        key_file=Path(key),
        port=int(port),
        pipeline=f"{__name__}:{pipeline}",
        workers=int(workers),
    )
    server.run(options)


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


def start_server(
    tmp_path: Path, ca: certs.KeyPair, *, pipeline: str, workers: int = 1
) -> tuple[subprocess.Popen[bytes], str]:
    files = issue(ca)
    (tmp_path / "tls.crt").write_bytes(files["tls.crt"])
    (tmp_path / "tls.key").write_bytes(files["tls.key"])
    port = free_port()
    code = "import sys; from tests.unit.test_server import serve_from_argv as s; s(*sys.argv[1:])"
    argv = [str(tmp_path / "tls.crt"), str(tmp_path / "tls.key"), str(port), pipeline, str(workers)]
    process = subprocess.Popen(
        [sys.executable, "-c", code, *argv],
        cwd=REPO,
        env={**os.environ, "SLOW_PIPELINE_MARKER": str(tmp_path / "in-flight")},
        stderr=subprocess.PIPE,
    )
    return process, f"https://127.0.0.1:{port}"


def test_workers_share_the_port_sum_metrics_and_drain_on_sigterm(
    tmp_path: Path, ca: certs.KeyPair
) -> None:
    """One run for all three, as starting worker processes is the slow part."""
    process, url = start_server(tmp_path, ca, pipeline="SlowPipeline", workers=2)
    quick = orjson.dumps(admission_review(a_pod()))
    slow = orjson.dumps(admission_review(a_pod(annotations={"slow": "1"})))
    replies: list[httpx.Response] = []
    try:
        with client_for(ca, keepalive=False) as client:
            eventually(lambda: _handshakes(client, url), seconds=50)
            statuses = {inject(client, url, quick).status_code for _ in range(12)}
            scraped = client.get(f"{url}/metrics").text
            request = threading.Thread(target=lambda: replies.append(inject(client, url, slow)))
            request.start()
            eventually((tmp_path / "in-flight").exists, seconds=30)
            process.send_signal(signal.SIGTERM)
            request.join(30)
        _, stderr = process.communicate(timeout=30)
    finally:
        if process.poll() is None:
            process.kill()
            process.communicate()
    assert statuses == {200}
    assert "sidecar_injection_requests_total 12.0" in scraped
    assert len(set(re.findall(rb'"msg": ?"Started server process \[(\d+)\]"', stderr))) == 2
    assert [r.status_code for r in replies] == [200]
    assert replies[0].json()["response"]["allowed"] is True
    assert process.returncode == 0, stderr.decode()
    assert b"Stopping parent process" in stderr


def test_options_survive_the_trip_to_a_worker(tmp_path: Path) -> None:
    options = server.Options(
        cert_file=tmp_path / "c",
        key_file=tmp_path / "k",
        port=1234,
        files=server.ConfigFiles(values=tmp_path / "v"),
        settings=app.Settings(on_error="allow", max_body_bytes=10),
        workers=3,
    )
    assert server.decode(server.encode(options)) == options


class FakeAPIServer:
    """Answers GETs of one ConfigMap through lightkube's own HTTP client, as scripted."""

    def __init__(self, data: dict[str, str]) -> None:
        self.data: dict[str, str] | None = data
        self.others: dict[str, dict[str, str]] = {}
        self.paths: list[str] = []

    def handle(self, request: httpx2.Request) -> httpx2.Response:
        self.paths.append(request.url.path)
        if request.url.path in self.others:
            body = {"apiVersion": "v1", "kind": "ConfigMap", "data": self.others[request.url.path]}
            return httpx2.Response(200, json={**body, "metadata": {"name": "other"}})
        if request.url.path.endswith("/istio"):
            status = {"kind": "Status", "status": "Failure", "code": 404, "message": "not found"}
            return httpx2.Response(404, json=status)
        if self.data is None:
            status = {"kind": "Status", "status": "Failure", "code": 503, "message": "etcd down"}
            return httpx2.Response(503, json=status)
        body = {"apiVersion": "v1", "kind": "ConfigMap", "data": self.data}
        return httpx2.Response(200, json={**body, "metadata": {"name": "inj"}})

    def client(self) -> Client:
        kubeconfig = {
            "clusters": [{"name": "c", "cluster": {"server": "https://k8s.test"}}],
            "users": [{"name": "u", "user": {"token": "t"}}],
            "contexts": [{"name": "x", "context": {"cluster": "c", "user": "u"}}],
            "current-context": "x",
        }
        return Client(KubeConfig.from_dict(kubeconfig), transport=httpx2.MockTransport(self.handle))


def test_configmap_source_reloads_and_keeps_the_last_good(tmp_path: Path) -> None:
    api = FakeAPIServer({"values": tagged("first").decode()})
    source = kube.ConfigMapSource(kube.ConfigMaps.parse("istio-system/inj"), client=api.client())
    digest, load = source.snapshot(revision="")
    pipeline = RecordingPipeline(load())
    registry = metrics_for_test()
    watch = server.ConfigWatch(source, pipeline=pipeline, metrics=registry, digest=digest)
    assert api.paths == ["/api/v1/namespaces/istio-system/configmaps/inj"]
    assert watch.refresh() is False
    api.data = {"values": tagged("second").decode()}
    assert watch.refresh() is True
    assert pipeline.config.values["tag"] == "second"
    api.data = {"values": tagged("second").decode(), "config": "policy: sometimes\n"}
    assert watch.refresh() is False
    assert "ConfigMap istio-system/inj data.config" in (watch.error or "")
    api.data = None
    assert watch.refresh() is False
    assert "etcd down" in (watch.error or "")
    assert pipeline.config.values["tag"] == "second"
    assert watch.check().ok
    assert "serving the last good config" in watch.check().detail
    api.data = {"values": tagged("second").decode()}
    assert watch.refresh() is False
    assert watch.error is None
    assert registry.registry.get_sample_value("sidecar_injector_config_last_reload_ok") == 1
    api.data = {"values": tagged("third").decode()}
    assert watch.refresh() is True
    assert watch.error is None
    assert [c.values["tag"] for c in pipeline.swaps] == ["second", "third"]


def test_configmap_source_reads_the_mesh_from_the_mesh_configmap(tmp_path: Path) -> None:
    api = FakeAPIServer({"mesh": "defaultConfig: {concurrency: 1}"})
    api.others["/api/v1/namespaces/istio-system/configmaps/istio"] = {
        "mesh": "defaultConfig: {concurrency: 4}"
    }
    maps = kube.ConfigMaps.parse("istio-system/inj", mesh_map="istio-system/istio")
    _, load = kube.ConfigMapSource(maps, client=api.client()).snapshot(revision="")
    assert load().mesh.default_config.data["concurrency"] == 4
    mesh_file = tmp_path / "mesh"
    mesh_file.write_text("defaultConfig: {concurrency: 7}")
    maps = kube.ConfigMaps.parse(
        "istio-system/inj", mesh_map="istio-system/istio", mesh_file=mesh_file
    )
    _, load = kube.ConfigMapSource(maps, client=api.client()).snapshot(revision="")
    assert load().mesh.default_config.data["concurrency"] == 7
    del api.others["/api/v1/namespaces/istio-system/configmaps/istio"]
    maps = kube.ConfigMaps.parse("istio-system/inj", mesh_map="istio-system/istio")
    with pytest.raises(config.ConfigError, match="cannot read ConfigMap istio-system/istio"):
        kube.ConfigMapSource(maps, client=api.client()).snapshot(revision="")


def test_serving_files_leaves_the_kubernetes_client_unloaded(
    tmp_path: Path, ca: certs.KeyPair
) -> None:
    """Only cluster mode talks to the API server: a worker serving files, as `serve` starts
    it (the CLI, then the server), does not load lightkube (about 9 MB of every worker tree)."""
    secret = tmp_path / "secret"
    mounted(secret, issue(ca))
    script = "\n".join(
        [
            "import sys",
            "from pathlib import Path",
            "from sidecar_injector import cli, server",
            f"files = Path({str(secret)!r})",
            "options = server.Options(cert_file=files / 'tls.crt', key_file=files / 'tls.key')",
            "server.make_server(server.build(options), options)",
            "print(sorted(name for name in sys.modules if name.startswith('lightkube')))",
        ]
    )
    done = subprocess.run(
        [sys.executable, "-c", script], cwd=REPO, capture_output=True, text=True, timeout=120
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "[]"


def metrics_for_test() -> metrics.Metrics:
    return metrics.create(CollectorRegistry())


def test_a_failing_reload_check_does_not_stop_reloading(
    tmp_path: Path, ca: certs.KeyPair, monkeypatch: pytest.MonkeyPatch
) -> None:
    calls: list[int] = []

    def flaky() -> bool:
        calls.append(len(calls))
        if len(calls) == 1:
            raise RuntimeError("a bug in a reload")
        return False

    with serving(tmp_path, ca) as running:
        monkeypatch.setattr(running.service.watch, "refresh", flaky)
        eventually(lambda: len(calls) >= 3)


def test_events_and_node_watch_without_a_cluster_only_log_that_they_are_off(
    tmp_path: Path,
    ca: certs.KeyPair,
    monkeypatch: pytest.MonkeyPatch,
    caplog: pytest.LogCaptureFixture,
) -> None:
    monkeypatch.setenv("KUBECONFIG", str(tmp_path / "no-kubeconfig"))
    monkeypatch.delenv("KUBERNETES_SERVICE_HOST", raising=False)
    with (
        caplog.at_level(logging.ERROR),
        serving(tmp_path, ca, events=True, watch_nodes=True) as running,
        client_for(ca) as client,
    ):
        for uid in ("u-1", "u-2"):
            body = orjson.dumps(admission_review(a_pod(name="p"), uid=uid))
            assert inject(client, running.url, body).json()["response"]["allowed"] is True
        eventually(lambda: len([r for r in caplog.records if "is off" in r.getMessage()]) == 2)
    assert running.service.events is not None and running.service.nodes is not None


def test_log_lines_are_stamped_in_utc_to_the_millisecond_as_isoformat_writes() -> None:
    formatter = server.JSONFormatter()
    moments = [1733480265.0, 1733480265.0999, 1733480265.5, 1733480266.25, 1733480265.75, 0.001]
    for created in moments:
        record = logging.makeLogRecord({"msg": "m", "created": created, "levelname": "INFO"})
        line = orjson.loads(formatter.format(record))
        at = datetime.datetime.fromtimestamp(created, datetime.UTC)
        assert line["time"] == at.isoformat(timespec="milliseconds")


def test_an_admission_log_line_carries_its_fields(monkeypatch: pytest.MonkeyPatch) -> None:
    server.configure_logging("info")
    written = io.StringIO()
    monkeypatch.setattr(sys, "stderr", written)
    fields = {"route": "inject", "uid": "u-1", "decision": "injected", "duration_ms": 1.5}
    logging.getLogger("sidecar_injector.test").info("admission", extra={"fields": fields})
    line = orjson.loads(written.getvalue())
    assert line.keys() == {"time", "level", "logger", "msg", *fields}
    assert line["msg"] == "admission" and line["level"] == "info"
    assert {key: line[key] for key in fields} == fields


def test_logs_go_to_the_stderr_of_the_moment(monkeypatch: pytest.MonkeyPatch) -> None:
    server.configure_logging("info")
    later = io.StringIO()
    monkeypatch.setattr(sys, "stderr", later)
    logging.getLogger("sidecar_injector.test").info("after the swap")
    assert '"msg":"after the swap"' in later.getvalue()
