"""`serve --events`: the Event of each admission, one per owner and reason a minute, sent from a
bounded queue that never holds an admission up; against a fake Kubernetes API at the HTTP level."""

from __future__ import annotations

import datetime
import json
import threading
from typing import Any

import httpx
import httpx2
import orjson
import pytest
from prometheus_client import CollectorRegistry

from sidecar_injector import config, events, metrics
from sidecar_injector.admission import app, engines
from tests.unit.test_kube import client, status, wait_until
from tests.unit.test_review import admission_review

NOW = datetime.datetime(2026, 12, 5, 19, 30, 0, tzinfo=datetime.UTC)
REPLICA_SET = {
    "apiVersion": "apps/v1",
    "kind": "ReplicaSet",
    "name": "web-5d4f8b9c7",
    "uid": "rs-uid",
    "controller": True,
}


def notice(
    outcome: app.Outcome = "injected",
    *,
    reason: str = "policyEnabled",
    owner: str = "web-5d4f8b9c7",
    name: str = "",
    controller: bool = True,
) -> app.Notice:
    return app.Notice(
        namespace="shop",
        name=name,
        generate_name=f"{owner}-",
        controller={**REPLICA_SET, "name": owner} if controller else None,
        outcome=outcome,
        reason=reason,
        message="the namespace policy is enabled",
    )


def test_an_injected_replica_makes_an_event_on_its_replica_set() -> None:
    event = events.event_for(notice(), now=NOW, instance="injector-0")
    assert event == {
        "apiVersion": "v1",
        "kind": "Event",
        "metadata": {"generateName": "web-5d4f8b9c7.", "namespace": "shop"},
        "involvedObject": {
            "apiVersion": "apps/v1",
            "kind": "ReplicaSet",
            "name": "web-5d4f8b9c7",
            "namespace": "shop",
            "uid": "rs-uid",
        },
        "reason": "Injected",
        "message": "pod web-5d4f8b9c7-<generated>: policyEnabled: the namespace policy is enabled",
        "type": "Normal",
        "source": {"component": "sidecar-injector"},
        "reportingComponent": "sidecar-injector",
        "reportingInstance": "injector-0",
        "firstTimestamp": "2026-12-05T19:30:00Z",
        "lastTimestamp": "2026-12-05T19:30:00Z",
        "count": 1,
    }


@pytest.mark.parametrize(
    ("outcome", "reason", "kind"),
    [
        ("skipped", "InjectionSkipped", "Normal"),
        ("denied", "InjectionFailed", "Warning"),
        ("failOpen", "InjectionFailed", "Warning"),
    ],
)
def test_each_outcome_has_its_event(outcome: app.Outcome, reason: str, kind: str) -> None:
    event = events.event_for(notice(outcome), now=NOW, instance="i")
    assert event is not None
    assert (event["reason"], event["type"]) == (reason, kind)


def test_a_named_pod_without_a_controller_gets_the_event_itself() -> None:
    event = events.event_for(notice(name="debug", controller=False), now=NOW, instance="i")
    assert event is not None
    assert event["involvedObject"] == {
        "apiVersion": "v1",
        "kind": "Pod",
        "name": "debug",
        "namespace": "shop",
    }
    assert event["message"].startswith("pod debug: ")


@pytest.mark.parametrize(
    "quiet",
    [notice(controller=False), notice("allowed"), notice("rejected")],
    ids=["unnamed-and-unowned", "allowed", "rejected"],
)
def test_no_event_without_an_object_or_for_other_outcomes(quiet: app.Notice) -> None:
    assert events.event_for(quiet, now=NOW, instance="i") is None


def test_the_window_lets_one_event_per_key_through_a_minute() -> None:
    window = events.Window(60)
    assert window.admits(("a",), at=0)
    assert not window.admits(("a",), at=59.9)
    assert window.admits(("b",), at=30)
    assert window.admits(("a",), at=60)


class EventStore:
    """POST /api/v1/namespaces/NS/events records the Event; `gate` can hold the first one."""

    def __init__(self, *, fail: bool = False, gate: threading.Event | None = None) -> None:
        self.created: list[dict[str, Any]] = []
        self.fail = fail
        self.gate = gate
        self.entered = threading.Event()

    def handle(self, request: httpx2.Request) -> httpx2.Response:
        assert request.method == "POST"
        assert request.url.path == "/api/v1/namespaces/shop/events"
        self.entered.set()
        if self.gate is not None:
            self.gate.wait(5)
            self.gate = None
        if self.fail:
            return status(500, "InternalError")
        body = json.loads(request.content)
        self.created.append(body)
        return httpx2.Response(201, json={**body, "metadata": {**body["metadata"], "name": "e1"}})


def counted(recorder: metrics.Metrics, result: str) -> float:
    value = recorder.registry.get_sample_value("sidecar_injector_events_total", {"result": result})
    return value or 0.0


def sender(store: EventStore, recorder: metrics.Metrics, **kwargs: Any) -> events.EventSender:
    return events.EventSender(
        counter=recorder.events, client=client(store.handle), clock=lambda: NOW, **kwargs
    )


def test_repeats_within_a_minute_are_counted_not_sent() -> None:
    store, recorder = EventStore(), metrics.create(CollectorRegistry())
    work = sender(store, recorder)
    for item in (notice(), notice(), notice("skipped", reason="podAnnotationFalse")):
        work.submit(item)
    wait_until(lambda: counted(recorder, "sent") + counted(recorder, "repeat") == 3)
    work.close()
    assert [e["reason"] for e in store.created] == ["Injected", "InjectionSkipped"]
    assert counted(recorder, "repeat") == 1


def test_a_failing_api_is_counted_and_the_sender_goes_on() -> None:
    store, recorder = EventStore(fail=True), metrics.create(CollectorRegistry())
    work = sender(store, recorder)
    work.submit(notice())
    work.submit(notice(owner="api-7c9d"))
    wait_until(lambda: counted(recorder, "failed") == 2)
    work.close()


def test_a_full_queue_drops_notices_instead_of_waiting() -> None:
    gate = threading.Event()
    store, recorder = EventStore(gate=gate), metrics.create(CollectorRegistry())
    work = sender(store, recorder, capacity=2)
    work.submit(notice(owner="first"))
    assert store.entered.wait(5)
    for owner in ("b", "c", "d", "e", "f"):
        work.submit(notice(owner=owner))
    gate.set()
    wait_until(lambda: counted(recorder, "sent") == 3)
    work.close()
    assert counted(recorder, "dropped") == 3
    assert [e["involvedObject"]["name"] for e in store.created] == ["first", "b", "c"]


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


def review_body() -> bytes:
    pod = {
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {"generateName": "web-5d4f8b9c7-", "ownerReferences": [REPLICA_SET]},
        "spec": {"containers": [{"name": "web", "image": "nginx"}]},
    }
    return orjson.dumps(admission_review(pod, namespace="shop"))


async def post(notify: Any) -> dict[str, Any]:
    webhook = app.Webhook(
        engines.inline(config.load_default()),
        metrics=metrics.create(CollectorRegistry()),
        notify=notify,
    )
    transport = httpx.ASGITransport(app=webhook)
    async with httpx.AsyncClient(transport=transport, base_url="https://t") as http:
        reply = await http.post(
            "/inject", content=review_body(), headers={"Content-Type": "application/json"}
        )
    assert reply.status_code == 200
    answer: dict[str, Any] = reply.json()["response"]
    return answer


@pytest.mark.anyio
async def test_the_webhook_tells_of_each_admission() -> None:
    heard: list[app.Notice] = []
    answer = await post(heard.append)
    assert answer["allowed"] and answer["patch"]
    (told,) = heard
    assert (told.outcome, told.namespace, told.generate_name) == (
        "injected",
        "shop",
        "web-5d4f8b9c7-",
    )
    assert told.controller == REPLICA_SET


@pytest.mark.anyio
async def test_a_failing_listener_does_not_fail_the_admission() -> None:
    def broken(_: app.Notice) -> None:
        raise RuntimeError("listener bug")

    answer = await post(broken)
    assert answer["allowed"] and answer["patch"]
