"""The webhook as a raw ASGI application: routes, HTTP checks, and errors turned into responses.

With `failurePolicy: Fail` an unanswered review blocks every pod in the cluster, so nothing a
client sends may escape as a 500 or kill the worker: every exception of a review route ends in
`_answer_error`, the one place errors become responses (SPEC §5, reference §6.1).
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import logging
import time
import urllib.parse
from collections.abc import AsyncIterator, Awaitable, Callable, Mapping, MutableMapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Literal, NamedTuple, Protocol

import orjson

from sidecar_injector import config, errors, metrics, templatedata
from sidecar_injector.admission import review
from sidecar_injector.gotemplate.sprig.durations import parse_duration

logger = logging.getLogger(__name__)

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]
Headers = tuple[tuple[bytes, bytes], ...]
OnError = Literal["deny", "allow"]
Route = Literal["inject", "validate"]
Outcome = Literal["injected", "skipped", "denied", "failOpen", "allowed", "rejected"]

MAX_BODY_BYTES = 6 * 1024 * 1024
DEFAULT_TIMEOUT = 10.0
"""Seconds an admission may take when the API server does not say (its own default is 10)."""
MAX_TIMEOUT = 30.0
"""The longest `timeoutSeconds` the API server allows."""
LARGE_BODY_BYTES = 256 * 1024
"""Requests declaring a larger body are read one at a time per worker (`Webhook._room`)."""
MAX_MESSAGE_CHARS = 1000
"""Answers and log lines quote at most this much of an error: bad values can be megabytes."""
JSON_TYPE = b"application/json"
TEXT_TYPE = b"text/plain; charset=utf-8"
_ANY_ROOM: contextlib.nullcontext[None] = contextlib.nullcontext()
"""The room of a request that is not large: nothing to wait for."""


@dataclass(frozen=True, slots=True)
class Admitted:
    """What the injection pipeline decided for one pod; `patch` is the JSON of RFC 6902 ops."""

    inject: bool
    reason: str
    message: str
    warnings: tuple[str, ...] = ()
    patch: bytes | None = field(default=None, repr=False)
    _encoded: str | None = field(default=None, init=False, repr=False, compare=False)

    def encoded_patch(self) -> str | None:
        """`patch` as the reply carries it, encoded on first use and kept: the replica cache
        hands one answer to every replica of a scale-up, and a patch is ~10 KB to encode."""
        if self.patch is None:
            return None
        if self._encoded is None:
            object.__setattr__(self, "_encoded", review.encode_patch(self.patch))
        return self._encoded


class Pipeline(Protocol):
    """The work behind the routes, passed in so that tests and reloads can swap it.

    Both run off the event loop (`engines`) and raise an `InjectorError` past `deadline`, a
    `time.monotonic()` instant.
    """

    async def admit(
        self, pod: review.Object, *, namespace: str, params: Mapping[str, str], deadline: float
    ) -> Admitted: ...

    async def validate(self, data: Mapping[str, config.JSON], *, deadline: float) -> None:
        """Raise an `InjectorError` when an injector ConfigMap's data would not load."""


@dataclass(frozen=True, slots=True)
class Check:
    """One readiness fact for `/readyz`: not ok means not ready; `detail` says why either way."""

    name: str
    ok: bool
    detail: str = ""


@dataclass(frozen=True, slots=True)
class Settings:
    on_error: OnError = "deny"
    max_body_bytes: int = MAX_BODY_BYTES
    default_timeout: float = DEFAULT_TIMEOUT


class ShuttingDown(errors.InjectorError):
    reason = "shuttingDown"


class RequestError(errors.InjectorError):
    """A request refused before it is a review: answered with an HTTP status, not a review."""

    def __init__(self, message: str, *, status: int, reason: str, headers: Headers = ()) -> None:
        super().__init__(message)
        self.status = status
        self.reason = reason
        self.headers = headers


@dataclass(frozen=True, slots=True)
class Answer:
    """A finished response plus what the log line and metrics say about it."""

    status: int
    body: bytes = field(repr=False)
    outcome: Outcome
    reason: str
    content_type: bytes = JSON_TYPE
    headers: Headers = ()
    patch_bytes: int = 0
    message: str = ""
    warnings: tuple[str, ...] = ()


@dataclass(frozen=True, slots=True)
class Notice:
    """An answered admission, for what reports on admissions (`serve --events`)."""

    namespace: str
    name: str
    generate_name: str
    controller: Mapping[str, object] | None
    outcome: Outcome
    reason: str
    message: str

    @classmethod
    def of(cls, request: review.Request, answer: Answer) -> Notice:
        metadata = request.object.get("metadata")
        metadata = metadata if isinstance(metadata, dict) else {}
        controller = templatedata.controller_of(metadata)
        return cls(
            namespace=request.namespace,
            name=_string(metadata.get("name")),
            generate_name=_string(metadata.get("generateName")),
            controller=controller,
            outcome=answer.outcome,
            reason=answer.reason,
            message=answer.message,
        )


def _string(value: object) -> str:
    return value if isinstance(value, str) else ""


class Webhook:
    """The ASGI callable: POST `/inject[/k/v...]`, `/validate`; GET `/healthz /readyz /metrics`.

    `notify`, when given, hears of every answered pod admission; it must return at once and
    never raise (an exception is logged and ignored).
    """

    def __init__(
        self,
        pipeline: Pipeline,
        *,
        metrics: metrics.Metrics,
        settings: Settings = Settings(),
        checks: Sequence[Callable[[], Check]] = (),
        notify: Callable[[Notice], None] | None = None,
    ) -> None:
        self.pipeline = pipeline
        self.metrics = metrics
        self.settings = settings
        self.checks = tuple(checks)
        self.notify = notify
        self._large = asyncio.Semaphore(1)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "lifespan":
            await _lifespan(receive, send)
            return
        if scope["type"] != "http":
            return
        path: str = scope["path"]
        if path == "/inject" or path.startswith("/inject/"):
            await self._inject(scope, receive, send)
        elif path == "/validate":
            await self._validate(scope, receive, send)
        elif path in ("/healthz", "/readyz", "/metrics"):
            await _send(send, self._probe(scope["method"], path))
        else:
            await _send(send, _text(404, f"no route for {path}", reason="notFound"))

    async def _inject(self, scope: Scope, receive: Receive, send: Send) -> None:
        started = time.perf_counter()
        deadline = self._deadline(scope)
        self.metrics.requests.inc()
        request: review.Request | None = None
        try:
            params, warnings = parse_path_params(scope["path"])
            fields = _body_fields(scope)
            async with self._room(fields, deadline):
                request = review.decode(await self._body(scope, receive, fields))
                answer = await self._admit(
                    request, params=params, warnings=warnings, deadline=deadline
                )
        except asyncio.CancelledError:
            await self._last_word(send, request=request, route="inject")
            raise
        except Exception as err:
            answer = self._answer_error(err, request=request, route="inject")
        await _send(send, answer)
        self._record(answer, request=request, seconds=time.perf_counter() - started)
        if self.notify is not None and request is not None and not request.dry_run:
            self._tell(self.notify, request, answer)

    def _deadline(self, scope: Scope) -> float:
        """When the answer must leave: a little before the API server's `?timeout=` runs out,
        so that it reads our answer (deny, or allow with `--on-error allow`), not its own."""
        timeout = _timeout(scope.get("query_string", b"")) or self.settings.default_timeout
        timeout = min(timeout, MAX_TIMEOUT)
        return time.monotonic() + timeout - min(1.0, timeout / 5)

    @staticmethod
    def _tell(notify: Callable[[Notice], None], request: review.Request, answer: Answer) -> None:
        try:
            notify(Notice.of(request, answer))
        except Exception:
            logger.exception("reporting the admission of %s failed", request.uid)

    async def _admit(
        self,
        request: review.Request,
        *,
        params: Mapping[str, str],
        warnings: tuple[str, ...],
        deadline: float,
    ) -> Answer:
        if not request.mutates:
            return _untouched(request)
        _expect(request, kind="Pod", fields=("metadata", "spec"))
        admitted = await self.pipeline.admit(
            request.object, namespace=request.namespace, params=params, deadline=deadline
        )
        verdict = review.Verdict(
            allowed=True,
            patch=admitted.encoded_patch(),
            warnings=tuple(map(shorten, warnings + admitted.warnings)),
        )
        return Answer(
            status=200,
            body=review.respond(verdict, uid=request.uid, api_version=request.api_version),
            outcome="injected" if admitted.patch is not None else "skipped",
            reason=admitted.reason,
            patch_bytes=len(admitted.patch or b""),
            message=shorten(admitted.message),
            warnings=verdict.warnings,
        )

    async def _validate(self, scope: Scope, receive: Receive, send: Send) -> None:
        started = time.perf_counter()
        deadline = self._deadline(scope)
        request: review.Request | None = None
        try:
            fields = _body_fields(scope)
            async with self._room(fields, deadline):
                request = review.decode(await self._body(scope, receive, fields))
                answer = await self._check_config(request, deadline=deadline)
        except asyncio.CancelledError:
            await self._last_word(send, request=request, route="validate")
            raise
        except Exception as err:
            answer = self._answer_error(err, request=request, route="validate")
        await _send(send, answer)
        self._record(
            answer, request=request, seconds=time.perf_counter() - started, route="validate"
        )

    async def _check_config(self, request: review.Request, *, deadline: float) -> Answer:
        if request.operation == "DELETE" or request.sub_resource:
            return _untouched(request)
        _expect(request, kind="ConfigMap", fields=("metadata", "data"))
        await self.pipeline.validate(request.object.get("data") or {}, deadline=deadline)
        body = review.respond(
            review.Verdict(allowed=True), uid=request.uid, api_version=request.api_version
        )
        return Answer(200, body, outcome="allowed", reason="configValid")

    def _room(
        self, fields: _BodyFields, deadline: float
    ) -> contextlib.AbstractAsyncContextManager[None]:
        """Room for one request's body and decoded object: a large one (a typical pod is
        10 KB) waits for the one place for large requests of this worker, so that concurrent
        multi-megabyte bodies cannot multiply the server's memory."""
        declared = fields.content_length
        if declared.isdigit() and int(declared) > LARGE_BODY_BYTES:
            return self._large_room(deadline)
        return _ANY_ROOM

    @contextlib.asynccontextmanager
    async def _large_room(self, deadline: float) -> AsyncIterator[None]:
        try:
            await asyncio.wait_for(self._large.acquire(), max(deadline - time.monotonic(), 0))
        except TimeoutError:
            raise RequestError(
                "another large request is being handled; try again",
                status=503,
                reason="largeRequestBusy",
                headers=((b"retry-after", b"1"),),
            ) from None
        try:
            yield
        finally:
            self._large.release()

    async def _body(self, scope: Scope, receive: Receive, fields: _BodyFields) -> bytes:
        """The request body after the method and content-type checks, within the size limit."""
        if scope["method"] != "POST":
            raise RequestError(
                f"method {scope['method']} is not allowed; use POST",
                status=405,
                reason="methodNotAllowed",
                headers=((b"allow", b"POST"),),
            )
        content_type = fields.content_type
        if content_type.split(";", 1)[0].strip().lower() != "application/json":
            raise RequestError(
                f"invalid Content-Type {content_type!r}, want `application/json`",
                status=415,
                reason="unsupportedMediaType",
            )
        limit = self.settings.max_body_bytes
        declared = fields.content_length
        if declared.isdigit() and int(declared) > limit:
            raise RequestError(
                f"Request entity too large: limit is {limit}, Content-Length is {declared}",
                status=400,
                reason="bodyTooLarge",
                headers=((b"connection", b"close"),),
            )
        body = await _read_body(receive, limit=limit)
        if not body:
            raise RequestError("no body found", status=400, reason="emptyBody")
        return body

    async def _last_word(self, send: Send, *, request: review.Request | None, route: Route) -> None:
        """Cancelled (the graceful shutdown timed out): still a review answer, not uvicorn's
        500, so the API server applies `--on-error` rather than its failure policy."""
        stopping = ShuttingDown("the webhook stopped before this admission finished")
        with contextlib.suppress(Exception):
            await _send(send, self._answer_error(stopping, request=request, route=route))

    def _answer_error(
        self, err: Exception, *, request: review.Request | None, route: Route
    ) -> Answer:
        if isinstance(err, RequestError):
            return _text(err.status, err.message, reason=err.reason, headers=err.headers)
        if isinstance(err, review.ReviewError):
            return _denied(
                f"bad AdmissionReview: {err}",
                reason="badReview",
                uid=err.uid,
                api_version=err.api_version,
            )
        if isinstance(err, errors.InjectorError):
            reason, message = getattr(err, "reason", None) or type(err).__name__, str(err)
        else:
            logger.exception("internal error handling review %s", request.uid if request else "-")
            reason, message = "internalError", f"internal error: {type(err).__name__}: {err}"
        if request is None:
            return _denied(message, reason=reason, uid="", api_version=None)
        if route == "validate":
            return _denied(
                f"the config does not load: {message}",
                reason=reason,
                uid=request.uid,
                api_version=request.api_version,
            )
        return _failed(request, reason=reason, message=message, on_error=self.settings.on_error)

    def _probe(self, method: str, path: str) -> Answer:
        if method != "GET":
            return _text(
                405,
                f"method {method} is not allowed; use GET",
                reason="methodNotAllowed",
                headers=((b"allow", b"GET"),),
            )
        if path == "/healthz":
            return _text(200, "ok", reason="alive")
        if path == "/metrics":
            exposition = self.metrics.exposition()
            return Answer(
                200,
                exposition,
                outcome="allowed",
                reason="metrics",
                content_type=metrics.CONTENT_TYPE.encode(),
            )
        checks = [check() for check in self.checks]
        ready = all(check.ok for check in checks)
        body = orjson.dumps(
            {
                "ready": ready,
                "checks": [{"name": c.name, "ok": c.ok, "detail": c.detail} for c in checks],
            }
        )
        return Answer(200 if ready else 503, body, outcome="allowed", reason="readiness")

    def _record(
        self,
        answer: Answer,
        *,
        request: review.Request | None,
        seconds: float,
        route: Route = "inject",
    ) -> None:
        if route == "inject":
            self._count(answer)
            self.metrics.latency.observe(seconds)
        level = logging.WARNING if answer.outcome in ("denied", "failOpen") else logging.INFO
        if not logger.isEnabledFor(level):
            return
        fields = {
            "route": route,
            "uid": request.uid if request else "",
            "namespace": request.namespace if request else "",
            "pod": request.object_name if request else "",
            "decision": answer.outcome,
            "reason": answer.reason,
            "status": answer.status,
            "duration_ms": round(seconds * 1000, 3),
            "patch_bytes": answer.patch_bytes,
        }
        if answer.message:
            fields["message"] = answer.message
        if answer.warnings:
            fields["warnings"] = list(answer.warnings)
        logger.log(level, "admission", extra={"fields": fields})

    def _count(self, answer: Answer) -> None:
        recorder, outcome, reason = self.metrics, answer.outcome, answer.reason
        if outcome == "rejected":
            recorder.by_reason(recorder.failure, reason).inc()
            return
        recorder.success.inc()
        if outcome == "injected":
            recorder.by_reason(recorder.injected, reason).inc()
        elif outcome == "skipped":
            recorder.by_reason(recorder.skip, reason).inc()
        else:
            recorder.by_reason(recorder.failure, reason).inc()
        if outcome == "failOpen":
            recorder.by_reason(recorder.fail_open, reason).inc()


def _expect(request: review.Request, *, kind: str, fields: tuple[str, ...]) -> None:
    """The shape the API server guarantees after decoding; anything else is a bad review."""
    problem = None
    if request.object_kind not in (None, kind):
        problem = f"request.object is a {request.object_kind}, want a {kind}"
    for name in fields:
        value = request.object.get(name)
        if value is not None and not isinstance(value, dict):
            problem = f"request.object.{name} is not an object"
    if problem is not None:
        raise review.ReviewError(problem, api_version=request.api_version, uid=request.uid)


def _untouched(request: review.Request) -> Answer:
    """Allowed as it is: only the creation of a pod is injected (and validated, of a config)."""
    what = f"{request.operation or 'CREATE'} {request.sub_resource}".strip()
    reason = "subResource" if request.sub_resource else "notCreate"
    body = review.respond(
        review.Verdict(allowed=True), uid=request.uid, api_version=request.api_version
    )
    return Answer(200, body, outcome="skipped", reason=reason, message=f"{what}: not injected")


@functools.lru_cache(maxsize=16)
def _timeout(query: bytes) -> float | None:
    """The API server's `?timeout=10s`, in seconds; None when absent or not a duration.
    Remembered: the API server sends the same query with every review of a webhook."""
    if not query:
        return None
    values = urllib.parse.parse_qs(query.decode("latin-1")).get("timeout")
    if not values:
        return None
    try:
        seconds = parse_duration(values[0]) / 1e9
    except Exception:
        return None
    return seconds if seconds > 0 else None


def shorten(message: str, limit: int = MAX_MESSAGE_CHARS) -> str:
    """At most `limit` characters of `message`, saying how much was left out."""
    if len(message) <= limit:
        return message
    return f"{message[:limit]}… ({len(message) - limit} more characters)"


def _denied(
    message: str, *, reason: str, uid: str, api_version: review.ApiVersion | None
) -> Answer:
    message = shorten(message)
    body = review.respond(
        review.Verdict(allowed=False, message=message), uid=uid, api_version=api_version
    )
    return Answer(200, body, outcome="denied", reason=reason, message=message)


def _failed(request: review.Request, *, reason: str, message: str, on_error: OnError) -> Answer:
    """An injection that failed for this pod: denied (as Istio), or let through when asked to."""
    message = shorten(message)
    if on_error == "allow":
        warning = f"sidecar injection failed, pod admitted without a sidecar: {message}"
        verdict = review.Verdict(allowed=True, warnings=(warning,))
        outcome: Outcome = "failOpen"
    else:
        verdict = review.Verdict(allowed=False, message=f"sidecar injection failed: {message}")
        outcome = "denied"
    body = review.respond(verdict, uid=request.uid, api_version=request.api_version)
    return Answer(
        200, body, outcome=outcome, reason=reason, message=message, warnings=verdict.warnings
    )


def parse_path_params(path: str) -> tuple[dict[str, str], tuple[str, ...]]:
    """Istio's `/inject/k1/v1/k2/v2` and deprecated `/inject/:ENV:k=v` (reference §6.6)."""
    parts = path.rstrip("/").split("/", 2)
    rest = parts[2] if len(parts) == 3 else ""
    if not rest:
        return {}, ()
    if rest.startswith(":ENV:"):
        pairs = (item.partition("=") for item in rest.split(":ENV:"))
        return {k: v for k, eq, v in pairs if k and eq}, ()
    items = rest.split("/")
    params = {k: v.replace("--slash--", "/") for k, v in zip(items[::2], items[1::2], strict=False)}
    if len(items) % 2:
        return params, (f"injection path parameter {items[-1]!r} has no value; ignored",)
    return params, ()


async def _read_body(receive: Receive, *, limit: int) -> bytes:
    chunks: list[bytes] = []
    size = 0
    more = True
    while more:
        message = await receive()
        if message["type"] == "http.disconnect":
            raise RequestError("the client went away", status=400, reason="disconnected")
        chunk: bytes = message.get("body", b"")
        size += len(chunk)
        if size > limit:
            raise RequestError(
                f"Request entity too large: limit is {limit}", status=400, reason="bodyTooLarge"
            )
        chunks.append(chunk)
        more = message.get("more_body", False)
    return b"".join(chunks)


class _BodyFields(NamedTuple):
    """The header fields the body checks read ("" when absent; the first when repeated)."""

    content_length: str
    content_type: str


def _body_fields(scope: Scope) -> _BodyFields:
    """Both fields in one pass over the headers."""
    length: bytes | None = None
    kind: bytes | None = None
    for key, value in scope["headers"]:
        key = key.lower()
        if key == b"content-length":
            length = value if length is None else length
        elif key == b"content-type":
            kind = value if kind is None else kind
    return _BodyFields(_latin1(length), _latin1(kind))


def _latin1(value: bytes | None) -> str:
    return "" if value is None else bytes(value).decode("latin-1")


def _text(status: int, message: str, *, reason: str, headers: Headers = ()) -> Answer:
    outcome: Outcome = "allowed" if status < 400 else "rejected"
    return Answer(
        status,
        message.encode() + b"\n",
        outcome=outcome,
        reason=reason,
        content_type=TEXT_TYPE,
        headers=headers,
        message=message if status >= 400 else "",
    )


async def _send(send: Send, answer: Answer) -> None:
    headers = [
        (b"content-type", answer.content_type),
        (b"content-length", str(len(answer.body)).encode()),
        *answer.headers,
    ]
    await send({"type": "http.response.start", "status": answer.status, "headers": headers})
    await send({"type": "http.response.body", "body": answer.body})


async def _lifespan(receive: Receive, send: Send) -> None:
    while True:
        message = await receive()
        if message["type"] == "lifespan.startup":
            await send({"type": "lifespan.startup.complete"})
        elif message["type"] == "lifespan.shutdown":
            await send({"type": "lifespan.shutdown.complete"})
            return
