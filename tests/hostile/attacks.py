"""Attacks on a running `serve`, and the normal client that must not notice them.

Used by the hostile suite (tests/hostile/test_hostile.py: what each attack is answered) and by
bench/abuse.py (how long the normal client waited, how fast the attacker was answered, how big
the server grew). Everything goes to 127.0.0.1 over real TLS. Each attack is bounded in
requests and time and returns what the attacker saw.
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import functools
import multiprocessing
import ssl
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

import orjson


@dataclass(frozen=True)
class Target:
    host: str
    port: int
    cafile: str

    @property
    def context(self) -> ssl.SSLContext:
        return _context(self.cafile)


@functools.cache
def _context(cafile: str) -> ssl.SSLContext:
    return ssl.create_default_context(cafile=cafile)


@dataclass
class Seen:
    """What an attack got back: one entry per request (a parsed review response, an HTTP
    status line, or the error that ended it)."""

    answers: list[Any] = field(default_factory=list)
    seconds: float = 0.0


# HTTP over raw TLS streams, so that attacks can send what no client library would.


async def exchange(
    target: Target, request: bytes, *, timeout: float = 30.0, chunk: int = 0
) -> tuple[int, bytes]:
    """Send `request` (in `chunk`-byte writes when given), read to the end of the answer.
    The status is 0 when the server closed without an HTTP answer."""
    reader, writer = await asyncio.open_connection(target.host, target.port, ssl=target.context)
    try:
        async with asyncio.timeout(timeout):
            with contextlib.suppress(ConnectionError, ssl.SSLError):
                if chunk:
                    for start in range(0, len(request), chunk):
                        writer.write(request[start : start + chunk])
                        await writer.drain()
                else:
                    writer.write(request)
                    await writer.drain()
            return await read_answer(reader)
    finally:
        await close(writer)


async def close(writer: asyncio.StreamWriter) -> None:
    writer.close()
    try:
        await asyncio.wait_for(writer.wait_closed(), 2)
    except Exception:
        writer.transport.abort()


async def read_answer(reader: asyncio.StreamReader) -> tuple[int, bytes]:
    try:
        head = await reader.readuntil(b"\r\n\r\n")
    except (asyncio.IncompleteReadError, ConnectionError, ssl.SSLError):
        return 0, b""
    status = int(head.split(b" ", 2)[1])
    length = 0
    for line in head.split(b"\r\n")[1:]:
        name, _, value = line.partition(b":")
        if name.strip().lower() == b"content-length":
            length = int(value)
    try:
        return status, await reader.readexactly(length)
    except (asyncio.IncompleteReadError, ConnectionError, ssl.SSLError):
        return status, b""


def post(path: str, body: bytes, *, extra: bytes = b"", keep_alive: bool = False) -> bytes:
    connection = b"" if keep_alive else b"connection: close\r\n"
    return (
        b"POST %s HTTP/1.1\r\nhost: injector\r\ncontent-type: application/json\r\n"
        b"content-length: %d\r\n%s%s\r\n%s" % (path.encode(), len(body), connection, extra, body)
    )


def review(obj: dict[str, Any] | None, *, uid: str, operation: str = "CREATE") -> dict[str, Any]:
    request: dict[str, Any] = {"uid": uid, "namespace": "shop", "operation": operation}
    if obj is not None:
        request["object"] = obj
    return {"apiVersion": "admission.k8s.io/v1", "kind": "AdmissionReview", "request": request}


def pod(name: str, *, annotations: dict[str, str] | None = None, **spec: Any) -> dict[str, Any]:
    return {
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {"name": name, "namespace": "shop", "annotations": annotations or {}},
        "spec": {"containers": [{"name": "app", "image": "app:1"}], **spec},
    }


def response(body: bytes) -> dict[str, Any]:
    parsed: dict[str, Any] = orjson.loads(body)["response"]
    return parsed


def patch_of(answer: dict[str, Any]) -> list[dict[str, Any]]:
    ops: list[dict[str, Any]] = orjson.loads(base64.b64decode(answer["patch"]))
    return ops


async def admit(
    target: Target, obj: dict[str, Any] | None, *, uid: str, path: str = "/inject", **kw: Any
) -> Any:
    """One admission over a fresh connection: the review response, or the HTTP status."""
    body = orjson.dumps(review(obj, uid=uid, operation=kw.pop("operation", "CREATE")))
    status, content = await exchange(target, post(path, body), **kw)
    return response(content) if status == 200 else status


# The normal client: the API server creating pods while the attacks run.


@dataclass
class Normal:
    sent: int = 0
    injected: int = 0
    lost: list[str] = field(default_factory=list)
    latencies: list[float] = field(default_factory=list)

    @property
    def worst(self) -> float:
        return max(self.latencies, default=0.0)


async def normal_client(
    target: Target,
    stop: asyncio.Event,
    *,
    every: float = 0.2,
    timeout: float = 3.0,
    injecting: Callable[[], None] = lambda: None,
) -> Normal:
    """A new pod every `every` seconds on one keep-alive connection (reopened when closed),
    each a different pod so that no cache answers it; anything but an injection is lost.
    `injecting` is called once the first pod is injected."""
    seen = Normal()
    connection: tuple[asyncio.StreamReader, asyncio.StreamWriter] | None = None
    while not stop.is_set():
        seen.sent += 1
        body = orjson.dumps(review(pod(f"normal-{seen.sent}"), uid=f"normal-{seen.sent}"))
        started = time.monotonic()
        try:
            async with asyncio.timeout(timeout):
                if connection is None:
                    connection = await asyncio.open_connection(
                        target.host, target.port, ssl=target.context
                    )
                reader, writer = connection
                writer.write(post("/inject?timeout=3s", body, keep_alive=True))
                status, content = await read_answer(reader)
            if status != 200:
                raise ConnectionError(f"HTTP status {status}")
            answer = response(content)
            if not answer.get("patch"):
                raise ValueError(f"not injected: {answer}")
            seen.injected += 1
            if seen.injected == 1:
                injecting()
        except Exception as err:
            seen.lost.append(f"{seen.sent}: {type(err).__name__}: {err}"[:300])
            if connection is not None:
                await close(connection[1])
            connection = None
        seen.latencies.append(time.monotonic() - started)
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(stop.wait(), max(every - (time.monotonic() - started), 0))
    if connection is not None:
        await close(connection[1])
    return seen


class NormalProcess:
    """The normal client in a process of its own, so that the attacker's work (thousands of
    TLS handshakes, megabytes of JSON) never delays it on this side of the wire."""

    def __init__(self, target: Target) -> None:
        context = multiprocessing.get_context("spawn")
        self._stop = context.Event()
        self._injecting = context.Event()
        self._results: multiprocessing.Queue[Normal] = context.Queue()
        self._process = context.Process(
            target=_normal_main,
            args=(target, self._stop, self._results, self._injecting),
            daemon=True,
        )
        self._process.start()

    def wait_injecting(self, timeout: float = 30.0) -> None:
        """Until the client has had its first pod injected: a new Python process takes a while
        to start on a busy machine, and an attack over before then would prove nothing."""
        if not self._injecting.wait(timeout):
            raise TimeoutError(f"the normal client injected nothing within {timeout} s")

    @property
    def pid(self) -> int | None:
        return self._process.pid

    def finish(self) -> Normal:
        self._stop.set()
        result = self._results.get(timeout=30)
        self._process.join(10)
        self._results.close()
        self._results.join_thread()
        return result


def _normal_main(target: Target, stop: Any, results: Any, injecting: Any) -> None:
    async def run() -> Normal:
        halt = asyncio.Event()
        client = asyncio.ensure_future(normal_client(target, halt, injecting=injecting.set))
        while not stop.is_set():
            await asyncio.sleep(0.05)
        halt.set()
        return await client

    results.put(asyncio.run(run()))


# The attacks.


def alias_bomb(levels: int = 9, width: int = 9) -> str:
    """ "Billion laughs": `width ** levels` strings out of a few hundred bytes of YAML."""
    lines = [f"a0: &a0 [{', '.join(['lol'] * width)}]"]
    for level in range(1, levels):
        refs = ", ".join([f"*a{level - 1}"] * width)
        lines.append(f"a{level}: &a{level} [{refs}]")
    return "\n".join(lines)


def bomb_in_proxy_config() -> str:
    indented = "\n".join("  " + line for line in alias_bomb().splitlines())
    return f"holdApplicationUntilProxyStarts: true\nunknownKey:\n{indented}\n"


async def alias_bomb_annotation(target: Target, *, count: int = 3) -> Seen:
    bomb = {"proxy.istio.io/config": bomb_in_proxy_config()}
    return await _many(
        count, lambda i: admit(target, pod(f"bomb-{i}", annotations=bomb), uid=f"bomb-{i}")
    )


async def alias_bomb_validate(target: Target) -> Seen:
    configmap = {
        "apiVersion": "v1",
        "kind": "ConfigMap",
        "metadata": {"name": "istio-sidecar-injector", "namespace": "istio-system"},
        "data": {"values": alias_bomb()},
    }
    return await _many(1, lambda i: admit(target, configmap, uid="vbomb", path="/validate"))


async def distinct_templates_validate(target: Target, *, count: int = 20) -> Seen:
    """Large, different, valid templates: each parsed (and remembered, if the cache let it)."""

    def configmap(i: int) -> dict[str, Any]:
        padding = "{{/* " + f"{i:06d}" * 40_000 + " */}}"
        template = padding + "\nspec:\n  containers:\n  - name: istio-proxy\n    image: proxy\n"
        config = orjson.dumps({"policy": "enabled", "templates": {"sidecar": template}}).decode()
        return {"kind": "ConfigMap", "metadata": {"name": "x"}, "data": {"config": config}}

    return await _many(
        count, lambda i: admit(target, configmap(i), uid=f"tpl-{i}", path="/validate"), at_once=2
    )


async def huge_header(target: Target, *, mib: int = 48) -> Seen:
    junk = b"x-junk: " + b"a" * (mib * 1024 * 1024) + b"\r\n"
    request = post("/inject", b"{}", extra=junk)
    return await _many(1, lambda i: exchange(target, request, chunk=256 * 1024), status_only=True)


async def many_headers(target: Target, *, count: int = 20_000) -> Seen:
    fields = b"".join(b"x-h%d: v\r\n" % i for i in range(count))
    return await _many(
        1, lambda i: exchange(target, post("/inject", b"{}", extra=fields)), status_only=True
    )


async def slowloris(target: Target, *, connections: int = 500, hold: float = 15.0) -> Seen:
    """Connections that send half a request head and wait: each should be closed by the
    server (408) long before `hold` seconds."""

    async def one(i: int) -> Any:
        reader, writer = await asyncio.open_connection(target.host, target.port, ssl=target.context)
        try:
            writer.write(b"POST /inject HTTP/1.1\r\nhost: injector\r\n")
            await writer.drain()
            async with asyncio.timeout(hold):
                status, _ = await read_answer(reader)
            return status
        except TimeoutError:
            return "held"
        finally:
            await close(writer)

    return await _many(connections, one, at_once=connections)


def smuggling_pods() -> list[dict[str, Any]]:
    payload = "warning\n    command: [sh, -c, x]\n    args:"
    return [
        pod("smuggle-log", annotations={"sidecar.istio.io/logLevel": payload}),
        pod("smuggle-agent", annotations={"sidecar.istio.io/agentLogLevel": payload}),
        {
            **pod("smuggle-owner"),
            "metadata": {
                "name": "smuggle-owner",
                "namespace": "shop",
                "ownerReferences": [
                    {
                        "apiVersion": "apps/v1",
                        "kind": "ReplicaSet",
                        "name": 'x"\n    command: [sh, -c, x]\n    y: "',
                        "uid": "1",
                        "controller": True,
                    }
                ],
            },
        },
    ]


async def smuggling(target: Target) -> Seen:
    pods = smuggling_pods()
    return await _many(len(pods), lambda i: admit(target, pods[i], uid=f"smuggle-{i}"))


def nested(depth: int) -> bytes:
    """A review whose pod has a `nodeSelector` nested `depth` levels deep, written as text
    (JSON encoders refuse to write what is this deep)."""
    text = orjson.dumps(review(pod(f"deep-{depth}", nodeSelector="NESTED"), uid=f"deep-{depth}"))
    return text.replace(b'"NESTED"', b'{"a":' * depth + b'"x"' + b"}" * depth)


async def deep_json(target: Target) -> Seen:
    depths = (256, 600, 1024, 5000)

    async def one(i: int) -> Any:
        status, content = await exchange(target, post("/inject", nested(depths[i])))
        return response(content) if status == 200 else status

    return await _many(len(depths), one)


async def big_invalid_annotation(target: Target) -> Seen:
    bad = pod("big", annotations={"sidecar.istio.io/proxyCPU": "x" * 200_000})
    return await _many(1, lambda i: admit(target, bad, uid="big-annotation"))


async def other_operations(target: Target) -> Seen:
    cases: list[tuple[str, dict[str, Any] | None, str]] = [
        ("UPDATE", pod("upd"), "/inject"),
        ("DELETE", None, "/inject"),
        ("CONNECT", None, "/inject"),
    ]

    async def one(i: int) -> Any:
        operation, obj, path = cases[i]
        return await admit(target, obj, uid=f"op-{i}", path=path, operation=operation)

    seen = await _many(len(cases), one)
    body = review(pod("eph"), uid="sub")
    body["request"]["subResource"] = "ephemeralcontainers"
    status, content = await exchange(target, post("/inject", orjson.dumps(body)))
    seen.answers.append(response(content) if status == 200 else status)
    return seen


def huge_pod(mib: float = 5.0) -> dict[str, Any]:
    """A pod of about `mib` MiB: many containers with many env vars (under the body limit)."""
    env = [{"name": f"VAR_{i}", "value": "v" * 40} for i in range(500)]
    containers = max(1, int(mib * 1024 * 1024 / len(orjson.dumps(env))))
    obj = pod("huge")
    obj["spec"]["containers"] = [
        {"name": f"c{i}", "image": "x", "env": env} for i in range(containers)
    ]
    return obj


async def huge_pods_short_deadline(target: Target, *, count: int = 4, mib: float = 5.9) -> Seen:
    obj = huge_pod(mib)
    return await _many(
        count, lambda i: admit(target, obj, uid=f"huge-{i}", path="/inject?timeout=2s")
    )


async def _many(
    count: int,
    one: Callable[[int], Awaitable[Any]],
    *,
    at_once: int = 0,
    status_only: bool = False,
) -> Seen:
    started = time.monotonic()
    limit = asyncio.Semaphore(at_once or count)

    async def bounded(i: int) -> Any:
        async with limit:
            try:
                result = await one(i)
            except Exception as err:
                return f"{type(err).__name__}: {err}"[:300]
            return result[0] if status_only and isinstance(result, tuple) else result

    answers = await asyncio.gather(*(bounded(i) for i in range(count)))
    return Seen(list(answers), time.monotonic() - started)


ATTACKS: dict[str, Callable[[Target], Awaitable[Seen]]] = {
    "alias bomb in proxy.istio.io/config (x3)": alias_bomb_annotation,
    "alias bomb in values to /validate": alias_bomb_validate,
    "20 distinct 240 KB templates to /validate": distinct_templates_validate,
    "48 MiB header": huge_header,
    "20,000 headers": many_headers,
    "500 half-sent requests": slowloris,
    "5,000 half-sent requests (over the 256 connection cap)": functools.partial(
        slowloris, connections=5000
    ),
    "field smuggling (logLevel, agentLogLevel, owner name)": smuggling,
    "JSON nested 256-5,000 levels": deep_json,
    "invalid 200 KB annotation": big_invalid_annotation,
    "UPDATE, DELETE, CONNECT, subresource": other_operations,
    "four 5.9 MiB pods at once with ?timeout=2s": huge_pods_short_deadline,
}
