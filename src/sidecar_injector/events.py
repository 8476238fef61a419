"""Kubernetes Events about admissions (`serve --events`): `Injected`, `InjectionSkipped` and
`InjectionFailed` on the pod's owner, where `kubectl describe` shows them.

A pod has no name yet when the webhook sees it (the API server names it from `generateName`
after admission), so the event goes to the workload that creates it: the pod's controller
(a ReplicaSet, a Job, ...), or the pod itself when it has a name and no controller. That one
carries no uid (the API server assigns it after admission), so `kubectl describe pod`, which
filters by uid, does not list it; docs/deploy.md says how to find it. A scale-up
would write one event per replica; one event per owner, kind of event and reason per minute is
what `kubectl describe` needs, so the rest are counted, not sent.

Nothing here may slow or fail an admission: `EventSender.submit` puts the notice on a bounded
queue of a background loop and returns; a full queue drops it (counted), and a failed create
is logged and counted.
"""

from __future__ import annotations

import asyncio
import datetime
import logging
import socket
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from lightkube import AsyncClient, codecs
from prometheus_client import Counter

from sidecar_injector import kube
from sidecar_injector.admission.app import Notice

logger = logging.getLogger(__name__)
JSON = Any

COMPONENT = "sidecar-injector"
KINDS: Mapping[str, tuple[str, str]] = {
    "injected": ("Injected", "Normal"),
    "skipped": ("InjectionSkipped", "Normal"),
    "denied": ("InjectionFailed", "Warning"),
    "failOpen": ("InjectionFailed", "Warning"),
}
"""Admission outcome to the event's reason and type; other outcomes make no event."""
MESSAGE_LIMIT = 1024
"""Kubernetes refuses event messages over 1 KiB."""


@dataclass(frozen=True, slots=True)
class Target:
    """The object an event is about (`involvedObject`)."""

    api_version: str
    kind: str
    name: str
    namespace: str
    uid: str = ""


def target(notice: Notice) -> Target | None:
    """The pod's controller, or the named pod itself; None for an unnamed pod without one."""
    owner = notice.controller
    if owner is not None and owner.get("kind") and owner.get("name"):
        return Target(
            str(owner.get("apiVersion") or ""),
            str(owner["kind"]),
            str(owner["name"]),
            notice.namespace,
            str(owner.get("uid") or ""),
        )
    if notice.name:
        return Target("v1", "Pod", notice.name, notice.namespace)
    return None


def event_for(notice: Notice, *, now: datetime.datetime, instance: str) -> dict[str, JSON] | None:
    """The core/v1 Event for `notice`, or None when the outcome or the pod makes none."""
    kind = KINDS.get(notice.outcome)
    about = target(notice)
    if kind is None or about is None:
        return None
    reason, event_type = kind
    pod = notice.name or f"{notice.generate_name}<generated>"
    message = f"pod {pod}: {notice.reason}: {notice.message}".rstrip(": ")
    stamp = now.astimezone(datetime.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
    involved = {
        "apiVersion": about.api_version,
        "kind": about.kind,
        "name": about.name,
        "namespace": about.namespace,
        **({"uid": about.uid} if about.uid else {}),
    }
    return {
        "apiVersion": "v1",
        "kind": "Event",
        "metadata": {"generateName": f"{about.name}.", "namespace": about.namespace},
        "involvedObject": involved,
        "reason": reason,
        "message": message[:MESSAGE_LIMIT],
        "type": event_type,
        "source": {"component": COMPONENT},
        "reportingComponent": COMPONENT,
        "reportingInstance": instance,
        "firstTimestamp": stamp,
        "lastTimestamp": stamp,
        "count": 1,
    }


class Window:
    """One event per key (owner, event reason, admission reason) per `seconds`."""

    def __init__(self, seconds: float = 60.0, *, limit: int = 10_000) -> None:
        self.seconds = seconds
        self.limit = limit
        self._sent: dict[tuple[str, ...], float] = {}

    def admits(self, key: tuple[str, ...], *, at: float) -> bool:
        """Whether an event with `key` at time `at` (seconds) goes out; remembers it if so."""
        last = self._sent.get(key)
        if last is not None and at - last < self.seconds:
            return False
        if len(self._sent) >= self.limit:
            self._sent = {k: t for k, t in self._sent.items() if at - t < self.seconds}
        self._sent[key] = at
        return True


def repeat_key(event: JSON, notice: Notice) -> tuple[str, ...]:
    """What makes two events the same for `Window`: owner, event reason, admission reason."""
    involved = event["involvedObject"]
    return (
        involved["namespace"],
        involved["kind"],
        involved["name"],
        event["reason"],
        notice.reason,
    )


class EventSender:
    """Creates the events of admissions from a background loop, behind a bounded queue."""

    def __init__(
        self,
        *,
        counter: Counter,
        client: AsyncClient | None = None,
        capacity: int = 1000,
        window: Window | None = None,
        clock: Callable[[], datetime.datetime] = lambda: datetime.datetime.now(datetime.UTC),
    ) -> None:
        self.counter = counter
        self.capacity = capacity
        self.window = window or Window()
        self.clock = clock
        self.instance = socket.gethostname()
        self._background = kube.Background("events")
        self._queue: asyncio.Queue[Notice] = asyncio.Queue(capacity)
        self._task = self._background.submit(self._send_all(client))

    def submit(self, notice: Notice) -> None:
        """Queue the notice for its event; never blocks and never raises."""
        try:
            self._background.loop.call_soon_threadsafe(self._enqueue, notice)
        except RuntimeError:  # the loop is closed: serve is stopping
            self.counter.labels("dropped").inc()

    def _enqueue(self, notice: Notice) -> None:
        try:
            self._queue.put_nowait(notice)
        except asyncio.QueueFull:
            self.counter.labels("dropped").inc()

    async def _send_all(self, given: AsyncClient | None) -> None:
        client = kube.client_or_log(given, purpose="--events")
        if client is None:
            return
        loop = asyncio.get_running_loop()
        while True:
            notice = await self._queue.get()
            event = event_for(notice, now=self.clock(), instance=self.instance)
            if event is None:
                continue
            if not self.window.admits(repeat_key(event, notice), at=loop.time()):
                self.counter.labels("repeat").inc()
                continue
            await self._create(client, event)

    async def _create(self, client: AsyncClient, event: JSON) -> None:
        try:
            await client.create(codecs.from_dict(event))
        except (*kube.TransportErrors, ValueError) as err:
            self.counter.labels("failed").inc()
            logger.warning("cannot create the %s event: %s", event["reason"], err)
        else:
            self.counter.labels("sent").inc()

    def close(self) -> None:
        self._background.stop()
