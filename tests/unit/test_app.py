"""The ASGI webhook through httpx's ASGITransport, with a fake pipeline in place of injection."""

from __future__ import annotations

import asyncio
import base64
import logging
import time
from collections.abc import Mapping
from typing import Any

import httpx
import jsonpatch
import orjson
import pytest
from prometheus_client import CollectorRegistry

from sidecar_injector import config, errors, metrics
from sidecar_injector.admission import app, review
from tests.unit.test_review import a_pod, admission_review

JSON_HEADERS = {"Content-Type": "application/json"}
pytestmark = pytest.mark.anyio


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


class TemplateFailed(errors.InjectorError):
    pass


class FakePipeline:
    """Injects an annotation unless the pod says no; fails on request, through its annotations."""

    def __init__(self) -> None:
        self.params: list[Mapping[str, str]] = []
        self.validated: list[Mapping[str, config.JSON]] = []

    async def admit(
        self, pod: review.Object, *, namespace: str, params: Mapping[str, str], deadline: float
    ) -> app.Admitted:
        self.params.append(dict(params))
        annotations = pod.get("metadata", {}).get("annotations", {})
        if "fail" in annotations:
            raise TemplateFailed("template: sidecar:3:7: boom")
        if "crash" in annotations:
            raise KeyError("bug")
        if annotations.get("inject") == "false":
            return app.Admitted(False, "podAnnotationFalse", "the pod said no")
        ops = [{"op": "add", "path": "/metadata/labels", "value": {"injected": namespace}}]
        return app.Admitted(True, "policyEnabled", "policy", ("a warning",), orjson.dumps(ops))

    async def validate(self, data: Mapping[str, config.JSON], *, deadline: float) -> None:
        self.validated.append(data)
        if "config" not in data:
            raise errors.InjectorError("config: key missing")


class RememberingPipeline(FakePipeline):
    """One answer for every pod, as the replica cache gives the replicas of a scale-up."""

    def __init__(self) -> None:
        super().__init__()
        ops = [{"op": "add", "path": "/metadata/labels", "value": {"injected": "yes"}}]
        self.answer = app.Admitted(True, "policyEnabled", "", (), orjson.dumps(ops))

    async def admit(
        self, pod: review.Object, *, namespace: str, params: Mapping[str, str], deadline: float
    ) -> app.Admitted:
        return self.answer


def make_client(
    pipeline: FakePipeline | None = None, **settings: Any
) -> tuple[httpx.AsyncClient, metrics.Metrics]:
    registry = metrics.create(CollectorRegistry())
    webhook = app.Webhook(
        pipeline or FakePipeline(),
        metrics=registry,
        settings=app.Settings(**settings),
        checks=[lambda: app.Check("config", True, "loaded")],
    )
    transport = httpx.ASGITransport(app=webhook)
    return httpx.AsyncClient(transport=transport, base_url="https://test"), registry


def sample(value: str, *, reg: metrics.Metrics, **labels: str) -> float:
    found = reg.registry.get_sample_value(value, labels)
    return found or 0.0


async def post(client: httpx.AsyncClient, body: Any, path: str = "/inject") -> httpx.Response:
    content = body if isinstance(body, bytes) else orjson.dumps(body)
    return await client.post(path, content=content, headers=JSON_HEADERS)


@pytest.mark.parametrize("version", review.API_VERSIONS)
async def test_injects_and_the_patch_applies(version: review.ApiVersion) -> None:
    client, reg = make_client()
    pod = a_pod(name="p")
    response = await post(client, admission_review(pod, api_version=version, uid="u-9"))
    assert response.status_code == 200
    reply = response.json()
    assert reply["apiVersion"] == version
    assert reply["response"]["uid"] == "u-9"
    assert reply["response"]["warnings"] == ["a warning"]
    ops = orjson.loads(base64.b64decode(reply["response"]["patch"]))
    assert jsonpatch.apply_patch(pod, ops)["metadata"]["labels"] == {"injected": "default"}
    assert sample("sidecar_injection_injected_total", reg=reg, reason="policyEnabled") == 1
    assert sample("sidecar_injection_success_total", reg=reg) == 1


async def test_a_remembered_answer_is_encoded_once_and_sent_with_each_uid() -> None:
    pipeline = RememberingPipeline()
    client, _ = make_client(pipeline)
    replies = [
        (await post(client, admission_review(a_pod(), uid=uid))).json()["response"]
        for uid in ("r-1", "r-2")
    ]
    assert [reply["uid"] for reply in replies] == ["r-1", "r-2"]
    assert pipeline.answer.patch is not None
    encoded = base64.b64encode(pipeline.answer.patch).decode()
    assert [reply["patch"] for reply in replies] == [encoded, encoded]
    assert pipeline.answer.encoded_patch() is pipeline.answer.encoded_patch()


async def test_skipped_pod_is_allowed_without_a_patch() -> None:
    client, reg = make_client()
    response = await post(client, admission_review(a_pod(annotations={"inject": "false"})))
    assert response.json()["response"] == {"uid": "uid-1", "allowed": True}
    assert sample("sidecar_injection_skip_total", reg=reg, reason="podAnnotationFalse") == 1


@pytest.mark.parametrize(
    ("path", "params", "warnings"),
    [
        ("/inject/", {}, []),
        ("/inject/cluster/c2/net/n2", {"cluster": "c2", "net": "n2"}, []),
        ("/inject/custom/a--slash--b/odd", {"custom": "a/b"}, ["'odd' has no value"]),
        ("/inject/:ENV:cluster=c1:ENV:bad:ENV:net=n1", {"cluster": "c1", "net": "n1"}, []),
    ],
)
async def test_path_parameters(path: str, params: dict[str, str], warnings: list[str]) -> None:
    pipeline = FakePipeline()
    client, _ = make_client(pipeline)
    response = await post(client, admission_review(a_pod()), path=path)
    assert pipeline.params == [params]
    got = response.json()["response"]["warnings"]
    assert len(got) == len(warnings) + 1
    for wanted, line in zip(warnings, got, strict=False):
        assert wanted in line


async def test_injection_error_denies_by_default() -> None:
    client, reg = make_client()
    response = await post(client, admission_review(a_pod(annotations={"fail": "1"})))
    reply = response.json()["response"]
    assert response.status_code == 200
    assert reply["allowed"] is False
    assert "template: sidecar:3:7: boom" in reply["status"]["message"]
    assert sample("sidecar_injection_failure_total", reg=reg, reason="TemplateFailed") == 1


async def test_on_error_allow_lets_the_pod_through_with_a_warning() -> None:
    client, reg = make_client(on_error="allow")
    response = await post(client, admission_review(a_pod(annotations={"fail": "1"})))
    reply = response.json()["response"]
    assert reply["allowed"] is True
    assert "patch" not in reply
    assert "admitted without a sidecar" in reply["warnings"][0]
    assert sample("sidecar_injection_fail_open_total", reg=reg, reason="TemplateFailed") == 1


async def test_a_bug_is_answered_and_logged_with_the_uid(caplog: pytest.LogCaptureFixture) -> None:
    client, _ = make_client()
    with caplog.at_level(logging.INFO):
        response = await post(client, admission_review(a_pod(annotations={"crash": "1"})))
    reply = response.json()["response"]
    assert response.status_code == 200
    assert reply["allowed"] is False
    assert "internal error: KeyError" in reply["status"]["message"]
    assert any("uid-1" in r.getMessage() and r.exc_info for r in caplog.records)


async def test_one_log_line_per_admission(caplog: pytest.LogCaptureFixture) -> None:
    client, _ = make_client()
    with caplog.at_level(logging.INFO, logger="sidecar_injector.admission.app"):
        await post(client, admission_review(a_pod(generateName="web-"), uid="u-7"))
    (record,) = [r for r in caplog.records if r.getMessage() == "admission"]
    fields = record.__dict__["fields"]
    assert fields["uid"] == "u-7"
    assert fields["pod"] == "web-"
    assert fields["namespace"] == "default"
    assert fields["decision"] == "injected"
    assert fields["reason"] == "policyEnabled"
    assert fields["patch_bytes"] > 0
    assert fields["warnings"] == ["a warning"]


@pytest.mark.parametrize(
    ("method", "headers", "content", "status", "text"),
    [
        ("GET", JSON_HEADERS, b"", 405, "use POST"),
        ("PUT", JSON_HEADERS, b"{}", 405, "use POST"),
        ("POST", {"Content-Type": "text/plain"}, b"{}", 415, "want `application/json`"),
        ("POST", {}, b"{}", 415, "want `application/json`"),
        ("POST", JSON_HEADERS, b"", 400, "no body found"),
        ("POST", JSON_HEADERS, b"x" * 101, 400, "Request entity too large: limit is 100"),
    ],
)
async def test_bad_http_requests(
    method: str, headers: dict[str, str], content: bytes, status: int, text: str
) -> None:
    client, reg = make_client(max_body_bytes=100)
    response = await client.request(method, "/inject", headers=headers, content=content)
    assert response.status_code == status
    assert text in response.text
    assert sample("sidecar_injection_requests_total", reg=reg) == 1
    assert sample("sidecar_injection_success_total", reg=reg) == 0
    healthy = await client.get("/healthz")
    assert healthy.status_code == 200


@pytest.mark.parametrize(
    ("body", "text"),
    [
        (b"{oops", "not valid JSON"),
        (b'{"apiVersion": "admission.k8s.io/v1", "kind": "AdmissionReview"}', "no request"),
        (admission_review(None), "request.object is missing"),
        (admission_review({"kind": "Service", "metadata": {}}), "is a Service, want a Pod"),
        (admission_review({"metadata": [], "spec": {}}), "request.object.metadata is not an"),
        (admission_review({"metadata": {}, "spec": "x"}), "request.object.spec is not an object"),
    ],
)
async def test_bad_reviews_are_denied_with_a_reason(body: Any, text: str) -> None:
    client, reg = make_client()
    response = await post(client, body)
    assert response.status_code == 200
    reply = response.json()["response"]
    assert reply["allowed"] is False
    assert text in reply["status"]["message"]
    assert sample("sidecar_injection_failure_total", reg=reg, reason="badReview") == 1


async def test_validate_accepts_and_refuses_configmaps() -> None:
    pipeline = FakePipeline()
    client, _ = make_client(pipeline)
    good = {"kind": "ConfigMap", "metadata": {}, "data": {"config": "policy: enabled"}}
    reply = (await post(client, admission_review(good), path="/validate")).json()
    assert reply["response"]["allowed"] is True
    assert pipeline.validated == [{"config": "policy: enabled"}]
    bad = {"kind": "ConfigMap", "metadata": {}, "data": {"values": "{}"}}
    reply = (await post(client, admission_review(bad), path="/validate")).json()
    assert reply["response"]["allowed"] is False
    assert "config: key missing" in reply["response"]["status"]["message"]


async def test_probes_and_metrics() -> None:
    client, _ = make_client()
    assert (await client.get("/healthz")).text == "ok\n"
    ready = await client.get("/readyz")
    assert ready.json() == {
        "ready": True,
        "checks": [{"name": "config", "ok": True, "detail": "loaded"}],
    }
    await post(client, admission_review(a_pod()))
    scraped = (await client.get("/metrics")).text
    assert "sidecar_injection_requests_total 1.0" in scraped
    assert 'sidecar_injection_time_seconds_bucket{le="0.0001"}' in scraped
    assert (await client.post("/healthz")).status_code == 405
    assert (await client.get("/nope")).status_code == 404


async def test_readyz_is_503_when_a_check_fails() -> None:
    webhook = app.Webhook(
        FakePipeline(),
        metrics=metrics.create(CollectorRegistry()),
        checks=[lambda: app.Check("certificate", False, "expired")],
    )
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=webhook)) as client:
        ready = await client.get("https://test/readyz")
    assert ready.status_code == 503
    assert ready.json()["checks"][0]["detail"] == "expired"


async def test_an_error_before_the_review_is_read_is_still_answered() -> None:
    webhook = app.Webhook(FakePipeline(), metrics=metrics.create(CollectorRegistry()))
    sent: list[app.Message] = []

    async def receive() -> app.Message:
        raise RuntimeError("transport broke")

    async def send(message: app.Message) -> None:
        sent.append(message)

    scope = {
        "type": "http",
        "method": "POST",
        "path": "/inject",
        "headers": [(b"content-type", b"application/json")],
    }
    await webhook(scope, receive, send)
    assert sent[0]["status"] == 200
    reply = orjson.loads(sent[1]["body"])["response"]
    assert reply["allowed"] is False
    assert "internal error: RuntimeError: transport broke" in reply["status"]["message"]


async def test_validate_reports_an_internal_error_as_a_config_problem() -> None:
    class Broken(FakePipeline):
        async def validate(self, data: Mapping[str, config.JSON], *, deadline: float) -> None:
            raise ValueError("bug")

    client, _ = make_client(Broken())
    configmap = {"kind": "ConfigMap", "metadata": {}, "data": {"config": "x"}}
    reply = (await post(client, admission_review(configmap), path="/validate")).json()
    assert reply["response"]["allowed"] is False
    assert reply["response"]["status"]["message"].startswith("the config does not load: internal")


@pytest.mark.parametrize(
    ("operation", "sub_resource", "reason"),
    [
        ("UPDATE", "", "notCreate"),
        ("DELETE", "", "notCreate"),
        ("CONNECT", "exec", "subResource"),
        ("CREATE", "ephemeralcontainers", "subResource"),
    ],
)
async def test_only_the_creation_of_a_pod_is_mutated(
    operation: str, sub_resource: str, reason: str
) -> None:
    pipeline = FakePipeline()
    client, reg = make_client(pipeline)
    review_ = admission_review(a_pod(name="p"))
    review_["request"]["operation"] = operation
    if sub_resource:
        review_["request"]["subResource"] = sub_resource
    if operation in ("DELETE", "CONNECT"):
        del review_["request"]["object"]
    reply = (await post(client, review_)).json()["response"]
    assert reply == {"uid": "uid-1", "allowed": True}
    assert pipeline.params == []
    assert sample("sidecar_injection_skip_total", reg=reg, reason=reason) == 1


async def test_an_over_limit_content_length_is_refused_before_the_body_is_read() -> None:
    client, _ = make_client(max_body_bytes=100)
    headers = {**JSON_HEADERS, "Content-Length": "5000000"}

    async def never() -> Any:
        raise AssertionError("the body was read")
        yield b""

    response = await client.post("/inject", content=never(), headers=headers)
    assert response.status_code == 400
    assert "limit is 100, Content-Length is 5000000" in response.text


@pytest.mark.parametrize(
    ("query", "seconds"),
    [
        (b"timeout=10s", 9.0),
        (b"timeout=2s", 1.6),
        (b"timeout=1m0s", 29.0),
        (b"", 4.0),
        (b"timeout=x", 4.0),
    ],
)
def test_the_deadline_comes_from_the_api_servers_timeout(query: bytes, seconds: float) -> None:
    webhook = app.Webhook(
        FakePipeline(),
        metrics=metrics.create(CollectorRegistry()),
        settings=app.Settings(default_timeout=5),
    )
    now = time.monotonic()
    deadline = webhook._deadline({"query_string": query})
    assert deadline - now == pytest.approx(seconds, abs=0.5)


async def test_echoed_values_are_cut_short() -> None:
    class Verbose(FakePipeline):
        async def admit(
            self, pod: review.Object, *, namespace: str, params: Mapping[str, str], deadline: float
        ) -> app.Admitted:
            raise TemplateFailed("bad value: " + "v" * 200_000)

    client, _ = make_client(Verbose())
    response = await post(client, admission_review(a_pod(name="p")))
    message = response.json()["response"]["status"]["message"]
    assert len(message) < 1200
    assert message.endswith("more characters)")
    assert len(response.content) < 2000


async def test_a_dry_run_has_no_side_effects() -> None:
    heard: list[app.Notice] = []
    webhook = app.Webhook(
        FakePipeline(), metrics=metrics.create(CollectorRegistry()), notify=heard.append
    )
    client = httpx.AsyncClient(transport=httpx.ASGITransport(app=webhook), base_url="https://t")
    dry = admission_review(a_pod(name="p"))
    dry["request"]["dryRun"] = True
    assert (await post(client, dry)).json()["response"]["allowed"] is True
    assert heard == []
    await post(client, admission_review(a_pod(name="p")))
    assert len(heard) == 1


async def test_a_cancelled_admission_still_gets_a_review_answer() -> None:
    """At the end of the graceful shutdown uvicorn cancels what is left: the API server still
    reads a review (denied, or allowed with --on-error allow), not a 500."""

    class Stuck(FakePipeline):
        async def admit(
            self, pod: review.Object, *, namespace: str, params: Mapping[str, str], deadline: float
        ) -> app.Admitted:
            await asyncio.Event().wait()
            raise AssertionError("never")

    webhook = app.Webhook(Stuck(), metrics=metrics.create(CollectorRegistry()))
    body = orjson.dumps(admission_review(a_pod(name="p"), uid="u-stop"))
    sent: list[dict[str, Any]] = []
    scope = {
        "type": "http",
        "method": "POST",
        "path": "/inject",
        "query_string": b"",
        "headers": [(b"content-type", b"application/json")],
    }

    async def receive() -> dict[str, Any]:
        return {"type": "http.request", "body": body, "more_body": False}

    async def send(message: app.Message) -> None:
        sent.append(dict(message))

    task = asyncio.ensure_future(webhook(scope, receive, send))
    await asyncio.sleep(0.01)
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    reply = orjson.loads(sent[1]["body"])["response"]
    assert reply["uid"] == "u-stop"
    assert reply["allowed"] is False
    assert "stopped before this admission finished" in reply["status"]["message"]
