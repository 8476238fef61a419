"""kube.py against a fake Kubernetes API at the HTTP level (lightkube's own client and codecs,
an `httpx2.MockTransport` underneath): scripted watch streams, caBundle repair, Secret races."""

from __future__ import annotations

import asyncio
import base64
import contextlib
import json
import logging
import threading
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx2
import pytest
from cryptography import x509
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.serialization import Encoding
from lightkube import AsyncClient, KubeConfig

from sidecar_injector import certs, config, kube, manifests

pytestmark = pytest.mark.anyio

Handler = Callable[[httpx2.Request], httpx2.Response]


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


def client(handler: Handler) -> AsyncClient:
    kubeconfig = {
        "clusters": [{"name": "c", "cluster": {"server": "https://k8s.test"}}],
        "users": [{"name": "u", "user": {"token": "t"}}],
        "contexts": [{"name": "x", "context": {"cluster": "c", "user": "u"}}],
        "current-context": "x",
    }
    return AsyncClient(KubeConfig.from_dict(kubeconfig), transport=httpx2.MockTransport(handler))


def status(code: int, reason: str) -> httpx2.Response:
    body = {"kind": "Status", "apiVersion": "v1", "status": "Failure", "code": code}
    return httpx2.Response(code, json={**body, "reason": reason, "message": reason})


def configmap(data: dict[str, str], version: str) -> dict[str, Any]:
    meta = {"name": "inj", "namespace": "ns", "resourceVersion": version}
    return {"apiVersion": "v1", "kind": "ConfigMap", "metadata": meta, "data": data}


def event(kind: str, obj: dict[str, Any]) -> bytes:
    return json.dumps({"type": kind, "object": obj}).encode() + b"\n"


Stream = list[bytes | Exception | threading.Event]


async def play(lines: Stream, *, hang: bool) -> AsyncIterator[bytes]:
    for line in lines:
        if isinstance(line, threading.Event):
            await asyncio.to_thread(line.wait, 10)
        elif isinstance(line, Exception):
            raise line
        else:
            yield line
    if hang:
        await asyncio.Event().wait()


@dataclass
class ScriptedWatch:
    """Lists answer from `lists`, watches play `streams` in order, the last one then hangs."""

    lists: list[tuple[dict[str, str] | None, str]]
    streams: list[Stream]
    requests: list[tuple[str, dict[str, str]]] = field(default_factory=list)
    name: str = "inj"

    def handle(self, request: httpx2.Request) -> httpx2.Response:
        params = dict(request.url.params)
        assert request.url.path == "/api/v1/namespaces/ns/configmaps"
        assert params["fieldSelector"] == f"metadata.name={self.name}"
        if params.get("watch") == "true":
            self.requests.append(("watch", params))
            stream = self.streams.pop(0)
            body = play(stream, hang=not self.streams)
            return httpx2.Response(200, content=body)
        self.requests.append(("list", params))
        data, version = self.lists.pop(0)
        items = [] if data is None else [configmap(data, version)]
        listing = {"kind": "ConfigMapList", "apiVersion": "v1", "items": items}
        return httpx2.Response(200, json={**listing, "metadata": {"resourceVersion": version}})


async def collect(watch: ScriptedWatch, count: int) -> list[kube.ConfigMapEvent]:
    seen: list[kube.ConfigMapEvent] = []
    events = kube.watch_configmap(client(watch.handle), name="inj", namespace="ns", retry_seconds=0)
    async with asyncio.timeout(10):
        async for item in events:
            seen.append(item)
            if len(seen) == count:
                break
    return seen


async def test_watch_lists_then_follows_changes_through_disconnect_and_410() -> None:
    gone = {"kind": "Status", "apiVersion": "v1", "code": 410, "reason": "Expired"}
    watch = ScriptedWatch(
        lists=[({"config": "v1"}, "1"), ({"config": "v3"}, "5")],
        streams=[
            [event("MODIFIED", configmap({"config": "v2"}, "2")), httpx2.ReadError("reset")],
            [event("ERROR", {**gone, "message": "too old resource version: 2 (4)"})],
            [event("ADDED", configmap({"config": "v4"}, "6"))],
        ],
    )
    seen = await collect(watch, 4)
    assert [(e.data, e.resource_version) for e in seen] == [
        ({"config": "v1"}, "1"),
        ({"config": "v2"}, "2"),
        ({"config": "v3"}, "5"),
        ({"config": "v4"}, "6"),
    ]
    asked = [(kind, params.get("resourceVersion")) for kind, params in watch.requests]
    assert asked == [("list", None), ("watch", "1"), ("watch", "2"), ("list", None), ("watch", "5")]


async def test_watch_reports_a_missing_then_deleted_configmap() -> None:
    watch = ScriptedWatch(
        lists=[(None, "7")],
        streams=[
            [
                event("ADDED", configmap({"config": "new"}, "8")),
                event("DELETED", configmap({"config": "new"}, "9")),
            ]
        ],
    )
    seen = await collect(watch, 3)
    assert [e.data for e in seen] == [None, {"config": "new"}, None]


async def test_watch_retries_after_a_server_error() -> None:
    calls: list[str] = []

    def handle(request: httpx2.Request) -> httpx2.Response:
        calls.append(request.url.params.get("watch", "list"))
        if len(calls) == 1:
            return status(503, "ServiceUnavailable")
        return ScriptedWatch([({"a": "b"}, "3")], [[]]).handle(request)

    seen: list[kube.ConfigMapEvent] = []
    async with asyncio.timeout(10):
        async for item in kube.watch_configmap(
            client(handle), name="inj", namespace="ns", retry_seconds=0
        ):
            seen.append(item)
            break
    assert seen[0].data == {"a": "b"}
    assert calls == ["list", "list"]


# --- caBundle -------------------------------------------------------------------------------


@dataclass
class WebhookStore:
    """One MutatingWebhookConfiguration that JSON patches apply to, and the patches seen."""

    body: dict[str, Any]
    patches: list[list[dict[str, Any]]] = field(default_factory=list)

    def handle(self, request: httpx2.Request) -> httpx2.Response:
        path = "/apis/admissionregistration.k8s.io/v1/mutatingwebhookconfigurations/"
        if request.url.path != path + self.body["metadata"]["name"]:
            return status(404, "NotFound")
        if request.method == "PATCH":
            assert request.headers["content-type"] == "application/json-patch+json"
            ops = json.loads(request.content)
            self.patches.append(ops)
            for op in ops:
                if op["op"] == "test":
                    assert op["value"] == self.body["metadata"]["resourceVersion"]
                    continue
                _, _, index, _, _ = op["path"].split("/")
                self.body["webhooks"][int(index)]["clientConfig"]["caBundle"] = op["value"]
            version = int(self.body["metadata"]["resourceVersion"]) + 1
            self.body["metadata"]["resourceVersion"] = str(version)
        return httpx2.Response(200, json=self.body)


def generated_webhooks() -> dict[str, Any]:
    body = manifests.mutating_webhook_configuration(manifests.Settings())
    body["metadata"]["resourceVersion"] = "1"
    return body


async def test_ca_bundle_is_patched_then_left_alone_then_repaired() -> None:
    store = WebhookStore(generated_webhooks())
    api = client(store.handle)
    name = store.body["metadata"]["name"]
    patched = await kube.patch_ca_bundle(api, kind="mutating", name=name, bundle="Q0E=")
    assert len(patched) == 4
    assert {h["clientConfig"]["caBundle"] for h in store.body["webhooks"]} == {"Q0E="}
    assert await kube.patch_ca_bundle(api, kind="mutating", name=name, bundle="Q0E=") == []
    assert len(store.patches) == 1
    # Someone re-applies the manifests: one webhook loses its caBundle (Istio issue #6069).
    del store.body["webhooks"][2]["clientConfig"]["caBundle"]
    patched = await kube.patch_ca_bundle(api, kind="mutating", name=name, bundle="Q0E=")
    assert patched == ["namespace.sidecar-injector.istio.io"]
    assert store.patches[-1][1]["path"] == "/webhooks/2/clientConfig/caBundle"


async def test_missing_webhook_configuration_is_a_clear_error() -> None:
    api = client(WebhookStore(generated_webhooks()).handle)
    with pytest.raises(kube.KubeError, match="does not exist"):
        await kube.patch_ca_bundle(api, kind="mutating", name="other", bundle="Q0E=")


# --- certificate Secret ---------------------------------------------------------------------


@dataclass
class SecretStore:
    """A Secret endpoint; `race` makes the first create lose to another replica's."""

    race: dict[str, Any] | None = None
    stored: dict[str, Any] | None = None
    creates: int = 0
    replaced: int = 0

    def handle(self, request: httpx2.Request) -> httpx2.Response:
        assert request.url.path.startswith("/api/v1/namespaces/ns/secrets")
        if request.method == "POST":
            self.creates += 1
            if self.race is not None:
                self.stored, self.race = self.race, None
                return status(409, "AlreadyExists")
            self.stored = {**json.loads(request.content), "kind": "Secret", "apiVersion": "v1"}
            return httpx2.Response(201, json=self.stored)
        if request.method == "PUT":
            self.replaced += 1
            body = json.loads(request.content)
            assert self.stored is not None
            assert body["metadata"]["resourceVersion"] == self.stored["metadata"]["resourceVersion"]
            self.stored = {**body, "kind": "Secret", "apiVersion": "v1"}
            return httpx2.Response(200, json=self.stored)
        if self.stored is None:
            return status(404, "NotFound")
        return httpx2.Response(200, json=self.stored)


def secret_of(issued: kube.Issued) -> dict[str, Any]:
    pem = {
        "ca.crt": issued.ca.cert_pem,
        "ca.key": issued.ca.key_pem,
        "tls.crt": issued.serving.cert_pem,
        "tls.key": issued.serving.key_pem,
    }
    data = {k: base64.b64encode(v).decode() for k, v in pem.items()}
    meta = {"name": "tls", "namespace": "ns", "resourceVersion": "3"}
    return {"apiVersion": "v1", "kind": "Secret", "metadata": meta, "data": data}


HOSTS = ["sidecar-injector.ns.svc"]


async def test_first_replica_creates_the_secret_and_the_next_reads_it() -> None:
    store = SecretStore()
    first = await kube.ensure_certificate_secret(
        client(store.handle), name="tls", namespace="ns", hosts=HOSTS
    )
    assert first.created and store.creates == 1
    second = await kube.ensure_certificate_secret(
        client(store.handle), name="tls", namespace="ns", hosts=HOSTS
    )
    assert second == first and not second.created
    assert store.creates == 1
    assert "sidecar-injector.ns.svc" in certs.describe(second.serving.cert_pem)


async def test_a_replica_that_loses_the_create_race_uses_the_winners_certificate() -> None:
    ca = certs.make_ca()
    winner = kube.Issued(ca, certs.make_serving(ca, hosts=HOSTS))
    store = SecretStore(race=secret_of(winner))
    got = await kube.ensure_certificate_secret(
        client(store.handle), name="tls", namespace="ns", hosts=HOSTS
    )
    assert got == winner
    assert store.creates == 1


async def test_namespace_labels() -> None:
    def handle(request: httpx2.Request) -> httpx2.Response:
        assert request.url.path == "/api/v1/namespaces"
        items = [
            {"metadata": {"name": "a", "labels": {"istio-injection": "enabled"}}},
            {"metadata": {"name": "b"}},
        ]
        body = {"kind": "NamespaceList", "apiVersion": "v1", "metadata": {}, "items": items}
        return httpx2.Response(200, json=body)

    labels = await kube.namespace_labels(client(handle))
    assert labels == {"a": {"istio-injection": "enabled"}, "b": {}}


# --- serve's background work ----------------------------------------------------------------


def api_of(secrets: SecretStore, webhooks: WebhookStore) -> Handler:
    """One API server holding the certificate Secret and the webhook configuration."""

    def handle(request: httpx2.Request) -> httpx2.Response:
        if "/secrets" in request.url.path:
            return secrets.handle(request)
        return webhooks.handle(request)

    return handle


def self_plan(
    tmp_path: Path,
    webhooks: WebhookStore,
    *,
    every: float,
    renew_every: float = 60.0,
    validating: tuple[str, ...] = (),
) -> kube.SelfCertificates:
    """`--cert-mode self` for the Secret ns/tls and the one webhook configuration."""
    targets: list[tuple[kube.WebhookKind, str]] = [("mutating", webhooks.body["metadata"]["name"])]
    return kube.SelfCertificates(
        "ns/tls",
        files=certs.StateFiles(tmp_path),
        hosts=HOSTS,
        webhooks=targets + [("validating", name) for name in validating],
        every=every,
        renew_every=renew_every,
    )


def wait_until(condition: Callable[[], bool]) -> None:
    """Bounded wait for the background thread; fails the test instead of hanging it."""
    done = threading.Event()
    for _ in range(500):
        if condition():
            return
        done.wait(0.01)
    raise AssertionError("the background work did not get there")


DEFAULTS = Path(manifests.__file__).parent / "defaults"


def test_configmap_watch_source_serves_the_latest_data_and_bad_updates_fail_to_load() -> None:
    good = (DEFAULTS / "config.yaml").read_text()
    gate = threading.Event()
    watch = ScriptedWatch(
        lists=[({"config": good}, "1")],
        streams=[[gate, event("MODIFIED", configmap({"config": "policy: [nonsense"}, "2"))]],
    )
    source = kube.ConfigMapWatch(kube.ConfigMaps.parse("ns/inj"), client=client(watch.handle))
    first, load = source.snapshot(revision="")
    assert load().injection.policy == "enabled"
    gate.set()
    wait_until(lambda: source.snapshot(revision="")[0] != first)
    _, load_bad = source.snapshot(revision="")
    with pytest.raises(config.ConfigError):
        load_bad()
    assert "watched" in source.describe()
    source.close()


def test_configmap_watch_source_without_the_configmap() -> None:
    watch = ScriptedWatch(lists=[(None, "1")], streams=[[]])
    source = kube.ConfigMapWatch(kube.ConfigMaps.parse("ns/inj"), client=client(watch.handle))
    with pytest.raises(config.ConfigError, match="does not exist"):
        source.snapshot(revision="")
    source.close()
    with pytest.raises(config.ConfigError, match="--config-map 'inj' is not NAMESPACE/NAME"):
        kube.ConfigMaps.parse("inj")
    with pytest.raises(config.ConfigError, match="--mesh-config-map 'x' is not NAMESPACE/NAME"):
        kube.ConfigMaps.parse("ns/inj", mesh_map="x")


def test_configmap_watch_follows_the_mesh_configmap_too() -> None:
    gate = threading.Event()
    injector = ScriptedWatch(
        lists=[({"config": "policy: enabled\ntemplates: {sidecar: '{}'}\n", "mesh": "{}"}, "1")],
        streams=[[]],
    )
    mesh = ScriptedWatch(
        lists=[({"mesh": "defaultConfig: {concurrency: 3}"}, "1")],
        streams=[
            [gate, event("MODIFIED", configmap({"mesh": "defaultConfig: {concurrency: 5}"}, "2"))]
        ],
        name="istio",
    )

    def route(request: httpx2.Request) -> httpx2.Response:
        wanted = request.url.params["fieldSelector"]
        return (mesh if wanted == "metadata.name=istio" else injector).handle(request)

    maps = kube.ConfigMaps.parse("ns/inj", mesh_map="ns/istio")
    source = kube.ConfigMapWatch(maps, client=client(route))
    first, load = source.snapshot(revision="")
    assert load().mesh.default_config.data["concurrency"] == 3
    assert source.describe() == "ConfigMap ns/inj and ConfigMap ns/istio (watched)"
    gate.set()
    wait_until(lambda: source.snapshot(revision="")[0] != first)
    _, load = source.snapshot(revision="")
    assert load().mesh.default_config.data["concurrency"] == 5
    source.close()


def test_self_certificates_issue_files_and_patch_the_webhooks(tmp_path: Path) -> None:
    secrets = SecretStore()
    webhooks = WebhookStore(generated_webhooks())

    handle = api_of(secrets, webhooks)
    plan = self_plan(tmp_path, webhooks, every=0.01)
    background = kube.start_self_certificates(plan, client=client(handle))
    assert secrets.creates == 1
    served = plan.files.cert.read_bytes()
    assert certs.problem(served) is None
    bundle = certs.ca_bundle(certs.KeyPair(plan.files.ca_cert.read_bytes(), b""))
    wait_until(lambda: len(webhooks.patches) >= 1)
    assert {h["clientConfig"]["caBundle"] for h in webhooks.body["webhooks"]} == {bundle}
    webhooks.body["webhooks"][0]["clientConfig"].pop("caBundle")
    wait_until(lambda: len(webhooks.patches) >= 2)
    assert webhooks.body["webhooks"][0]["clientConfig"]["caBundle"] == bundle
    background.stop()


async def test_maintenance_outlives_an_api_outage(tmp_path: Path) -> None:
    secrets = SecretStore()
    webhooks = WebhookStore(generated_webhooks())
    outage = [3]

    def handle(request: httpx2.Request) -> httpx2.Response:
        if outage[0] > 0:
            outage[0] -= 1
            return status(503, "ServiceUnavailable")
        if "/secrets" in request.url.path:
            return secrets.handle(request)
        return webhooks.handle(request)

    plan = self_plan(tmp_path, webhooks, every=0)
    task = asyncio.create_task(plan.maintain(client(handle)))
    async with asyncio.timeout(10):
        while not webhooks.patches:
            await asyncio.sleep(0)
    task.cancel()
    with contextlib.suppress(asyncio.CancelledError):
        await task
    assert outage == [0]
    assert secrets.creates == 1
    assert plan.files.cert.exists()


async def test_a_serving_certificate_near_expiry_is_renewed_from_the_same_ca() -> None:
    ca = certs.make_ca()
    expiring = kube.Issued(ca, certs.make_serving(ca, hosts=HOSTS, days=10))
    store = SecretStore(stored=secret_of(expiring))
    got = await kube.ensure_certificate_secret(
        client(store.handle), name="tls", namespace="ns", hosts=HOSTS
    )
    assert store.replaced == 1 and store.creates == 0
    assert got.ca == ca
    assert got.serving != expiring.serving
    assert certs.problem(got.serving.cert_pem) is None


NODE_INFO = [
    *("architecture", "bootID", "containerRuntimeVersion", "kernelVersion", "kubeProxyVersion"),
    *("machineID", "operatingSystem", "osImage", "systemUUID"),
]


def node(name: str, kubelet: str | None) -> dict[str, Any]:
    """A Node as the API server lists it; `None`: one whose status has no nodeInfo yet."""
    if kubelet is None:
        return {"metadata": {"name": name}, "status": {}}
    info = {**dict.fromkeys(NODE_INFO, "x"), "kubeletVersion": kubelet}
    return {"metadata": {"name": name}, "status": {"nodeInfo": info}}


class NodeList:
    """GET /api/v1/nodes answers the scripted lists in turn (the last one from then on)."""

    def __init__(self, *answers: list[dict[str, Any]] | int) -> None:
        self.answers = list(answers)
        self.calls = 0

    def handle(self, request: httpx2.Request) -> httpx2.Response:
        assert request.url.path == "/api/v1/nodes"
        answer = self.answers[min(self.calls, len(self.answers) - 1)]
        self.calls += 1
        if isinstance(answer, int):
            return status(answer, "Forbidden")
        body = {"kind": "NodeList", "apiVersion": "v1", "metadata": {}, "items": answer}
        return httpx2.Response(200, json=body)


async def test_kubelet_versions_by_node() -> None:
    nodes = NodeList([node("a", "v1.33.2-eks-1"), node("b", None)])
    assert await kube.kubelet_versions(client(nodes.handle)) == {"a": "v1.33.2-eks-1", "b": ""}


def test_node_watch_reports_each_change_once_and_outlives_refusals_and_bad_nodes() -> None:
    old, new = [node("a", "v1.32.0")], [node("a", "v1.33.0"), node("b", "v1.33.1")]
    broken = [{"metadata": {"name": "c"}, "status": {"nodeInfo": {"kubeletVersion": "v1"}}}]
    nodes = NodeList(old, old, 403, broken, new)
    seen: list[dict[str, str]] = []
    watch = kube.NodeWatch(lambda v: seen.append(dict(v)), client=client(nodes.handle), every=0.01)
    wait_until(lambda: nodes.calls >= 7)
    watch.close()
    assert seen == [{"a": "v1.32.0"}, {"a": "v1.33.0", "b": "v1.33.1"}]


def test_a_watch_that_dies_says_so(caplog: pytest.LogCaptureFixture) -> None:
    def broken(request: httpx2.Request) -> httpx2.Response:
        return httpx2.Response(200, content=b"{not json")

    with caplog.at_level(logging.ERROR):
        source = kube.ConfigMapWatch(kube.ConfigMaps.parse("ns/inj"), client=client(broken))
        wait_until(lambda: any("stopped" in r.getMessage() for r in caplog.records))
        source.close()


def bundle_of(webhooks: WebhookStore, index: int = 0) -> set[bytes]:
    """The CAs (PEM) that a webhook's caBundle trusts."""
    bundle = webhooks.body["webhooks"][index]["clientConfig"].get("caBundle", "")
    return {ca.public_bytes(Encoding.PEM) for ca in kube.bundle_cas(bundle)}


async def test_a_replica_follows_a_new_ca_in_the_secret(tmp_path: Path) -> None:
    """Someone deletes the Secret and another replica makes a new CA: this replica serves and
    patches the new CA at its next re-read, not an hour later, and trusts the old one only
    for a while after."""
    secrets, webhooks = SecretStore(), WebhookStore(generated_webhooks())
    plan = self_plan(tmp_path, webhooks, every=0.01, renew_every=0.02)
    task = asyncio.create_task(plan.maintain(client(api_of(secrets, webhooks))))
    async with asyncio.timeout(10):
        while not bundle_of(webhooks):
            await asyncio.sleep(0.01)
        first = bundle_of(webhooks)
        new_ca = certs.make_ca()
        other = kube.Issued(new_ca, certs.make_serving(new_ca, hosts=HOSTS), created=True)
        secrets.stored = secret_of(other)
        while bundle_of(webhooks) != {new_ca.cert_pem}:
            await asyncio.sleep(0.01)
    task.cancel()
    with contextlib.suppress(asyncio.CancelledError):
        await task
    assert plan.files.ca_cert.read_bytes() == new_ca.cert_pem
    # Read from the patches, not by polling: on a busy machine the both-CAs bundle can come and
    # go between two looks at the store.
    history = bundles_patched(webhooks)
    assert history[-1] == {new_ca.cert_pem}
    both = first | {new_ca.cert_pem}
    assert both in history
    assert history.index(both) > history.index(first)


def bundles_patched(webhooks: WebhookStore, index: int = 0) -> list[set[bytes]]:
    """Each caBundle the patches wrote into webhook `index`, in order."""
    written = [
        op["value"]
        for ops in webhooks.patches
        for op in ops
        if op["op"] != "test" and op["path"].split("/")[2] == str(index)
    ]
    return [{ca.public_bytes(Encoding.PEM) for ca in kube.bundle_cas(value)} for value in written]


def verifies(bundle: set[bytes], serving_pem: bytes) -> bool:
    serving = x509.load_pem_x509_certificate(serving_pem)
    for pem in bundle:
        with contextlib.suppress(ValueError, TypeError, InvalidSignature):
            serving.verify_directly_issued_by(x509.load_pem_x509_certificate(pem))
            return True
    return False


async def test_two_replicas_keep_every_serving_certificate_verified_through_a_ca_change(
    tmp_path: Path,
) -> None:
    """Issue 16: replica B re-reads the Secret rarely; the Secret is deleted and A makes a new
    CA. After every patch of either replica, the bundle must verify what both serve, and B
    must never write its old CA alone over the new one."""
    secrets, webhooks = SecretStore(), WebhookStore(generated_webhooks())
    handle = api_of(secrets, webhooks)
    a = self_plan(tmp_path / "a", webhooks, every=0.01, renew_every=0.05)
    b = self_plan(tmp_path / "b", webhooks, every=0.01, renew_every=3600)
    unverified: list[str] = []
    patch = webhooks.handle

    def checked(request: httpx2.Request) -> httpx2.Response:
        answer = patch(request)
        if request.method == "PATCH":
            trusted = bundle_of(webhooks)
            for plan in (a, b):
                if plan.files.cert.exists() and not verifies(trusted, plan.files.cert.read_bytes()):
                    unverified.append(str(plan.files.directory))
        return answer

    webhooks.handle = checked  # type: ignore[method-assign]
    tasks = [asyncio.create_task(p.maintain(client(handle))) for p in (a, b)]
    async with asyncio.timeout(20):
        while not (a.files.cert.exists() and b.files.cert.exists() and webhooks.patches):
            await asyncio.sleep(0.01)
        old = a.files.ca_cert.read_bytes()
        assert b.files.ca_cert.read_bytes() == old
        secrets.stored = None  # deleted: A makes a new CA at its next read
        while a.files.ca_cert.read_bytes() == old or b.files.ca_cert.read_bytes() == old:
            await asyncio.sleep(0.01)
        new = a.files.ca_cert.read_bytes()
        while bundle_of(webhooks) != {new}:
            await asyncio.sleep(0.01)
    for task in tasks:
        task.cancel()
    await asyncio.gather(*tasks, return_exceptions=True)
    assert secrets.creates == 2
    assert b.files.ca_cert.read_bytes() == new
    assert unverified == []


def test_api_calls_are_logged_at_debug_only(caplog: pytest.LogCaptureFixture) -> None:
    """The HTTP client's per-request lines would be two a second in poll mode."""
    calls = logging.getLogger("httpx2")
    with caplog.at_level(logging.INFO):
        calls.info(
            'HTTP Request: %s %s "%s %d %s"', "GET", "https://k8s.test/x", "HTTP/1.1", 200, "OK"
        )
        calls.warning("a real problem")
    assert [r.getMessage() for r in caplog.records] == ["a real problem"]
    caplog.clear()
    with caplog.at_level(logging.DEBUG):
        calls.info("HTTP Request: GET https://k8s.test/x")
    assert [(r.levelname, r.getMessage()) for r in caplog.records] == [
        ("DEBUG", "HTTP Request: GET https://k8s.test/x")
    ]


async def test_a_missing_webhook_configuration_is_warned_once(
    caplog: pytest.LogCaptureFixture, tmp_path: Path
) -> None:
    secrets, webhooks = SecretStore(), WebhookStore(generated_webhooks())
    asked: list[str] = []
    handle = api_of(secrets, webhooks)

    def counted(request: httpx2.Request) -> httpx2.Response:
        asked.append(request.url.path)
        return handle(request)

    plan = self_plan(tmp_path, webhooks, every=0, validating=("absent",))
    with caplog.at_level(logging.INFO, logger="sidecar_injector.kube"):
        task = asyncio.create_task(plan.maintain(client(counted)))
        async with asyncio.timeout(10):
            while sum(path.endswith("/absent") for path in asked) < 3:
                await asyncio.sleep(0.001)
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task
    warned = [r for r in caplog.records if r.levelno == logging.WARNING]
    assert [r.getMessage() for r in warned] == [
        "the validating webhook configuration absent does not exist; retrying every 0 s"
    ]


class DataSource:
    """A config source over `ConfigMaps.snapshot`, with data a test edits between reloads."""

    def __init__(self, maps: kube.ConfigMaps, data: dict[str, str]) -> None:
        self.maps, self.data = maps, data

    def describe(self) -> str:
        return self.maps.describe()

    def snapshot(self, *, revision: str) -> tuple[str, Callable[[], config.Config]]:
        return self.maps.snapshot(dict(self.data), None, revision=revision)


def test_a_deleted_config_key_keeps_the_last_good_config_and_says_so(
    caplog: pytest.LogCaptureFixture,
) -> None:
    from unittest import mock

    from prometheus_client import CollectorRegistry

    from sidecar_injector import metrics, server

    shipped = manifests.configmaps(manifests.Settings())[0]["data"]
    mine = shipped["config"].replace("policy: enabled", "policy: disabled")
    source = DataSource(kube.ConfigMaps.parse("ns/inj"), {**shipped, "config": mine})
    digest, load = source.snapshot(revision="")
    pipeline = mock.Mock()
    recorder = metrics.create(CollectorRegistry())
    watch = server.ConfigWatch(source, pipeline=pipeline, metrics=recorder, digest=digest)
    assert load().injection.policy == "disabled"
    del source.data["config"]
    with caplog.at_level(logging.ERROR):
        assert watch.refresh() is False
        assert watch.refresh() is False
    pipeline.swap.assert_not_called()
    removed = "ConfigMap ns/inj data.config was removed; serving the last good config"
    assert removed in (watch.error or "")
    assert [r.getMessage().count(removed) for r in caplog.records] == [1]
    assert watch.check().ok and removed in watch.check().detail
    sample = recorder.registry.get_sample_value
    assert sample("sidecar_injector_config_last_reload_ok") == 0
    assert sample("sidecar_injector_config_reloads_total", {"result": "error"}) == 1
    source.data["config"] = mine
    assert watch.refresh() is False
    assert watch.error is None
    assert sample("sidecar_injector_config_last_reload_ok") == 1


def test_a_key_never_loaded_may_be_absent_and_a_failed_one_may_go() -> None:
    """The embedded default stands in for a key the ConfigMap never had; a key whose config
    never loaded can be removed again (that is how a bad edit is reverted)."""
    maps = kube.ConfigMaps.parse("ns/inj")
    _, load = maps.snapshot({}, None, revision="")
    assert load().injection.policy == "enabled"
    _, load_bad = maps.snapshot({"values": "{nonsense"}, None, revision="")
    with pytest.raises(config.ConfigError):
        load_bad()
    maps.snapshot({}, None, revision="")
    _, load = maps.snapshot({"values": "{}", "mesh": "{}"}, None, revision="")
    load()
    with pytest.raises(
        config.ConfigError, match=r"data\.values and ConfigMap ns/inj data\.mesh were"
    ):
        maps.snapshot({}, None, revision="")
