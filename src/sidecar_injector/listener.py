"""HTTP connection limits: what uvicorn's httptools protocol does not bound by itself.

A webhook on every pod's path must not be held by its clients: a request's head (request line
and header fields) has a size and a field count limit, it must arrive within a time, and so must
its body; a worker keeps a bounded number of connections, and when it is full it sheds the
oldest connection that has no request in progress (a slow client's half-sent head) rather than
refusing the new one, so a flood of slow connections cannot lock out the API server.
"""

from __future__ import annotations

import asyncio
import ctypes
import functools
import socket
import ssl
import weakref
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, cast

import httptools
import uvicorn
from uvicorn.config import STARTUP_FAILURE
from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol


@dataclass(frozen=True, slots=True)
class Limits:
    max_header_bytes: int = 64 * 1024
    """The request line and header fields together (Go's net/http allows 1 MiB; the API
    server sends well under 1 KiB)."""
    max_headers: int = 100
    header_timeout: float = 10.0
    """Seconds from the connection (or the first byte of a request) to the end of its head."""
    body_timeout: float = 10.0
    """Seconds from the end of the head to the end of the body."""
    max_connections: int = 256
    """Per worker; past it a connection with no request in progress is closed: the oldest that
    has not yet sent a whole request, else the oldest idle one."""
    handshake_timeout: float = 5.0
    max_handshakes: int = 64
    """TLS handshakes in progress per worker; the next connection waits in the kernel's
    backlog (a real client's handshake takes a millisecond)."""


CLOSE_GRACE = 1.0
"""Seconds a refused connection may take to close: a TLS close waits for the peer's
close_notify (30 s by default), and a client that never reads would hold the connection."""


class _Refusal(Exception):
    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.message = message


_PHRASES = {
    400: b"Bad Request",
    408: b"Request Timeout",
    431: b"Request Header Fields Too Large",
    503: b"Service Unavailable",
}


class GuardedProtocol(HttpToolsProtocol):
    """uvicorn's httptools protocol with `Limits`."""

    def __init__(self, *args: Any, limits: Limits = Limits(), **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.limits = limits
        self.reading_head = True
        self.head_bytes = 0
        """Bytes received while a head is incomplete: bounds what the parser buffers."""
        self.head_size = 0
        """The complete head's request line and fields, as the parser hands them over."""
        self.header_count = 0
        self.born = self.loop.time()
        self.answered = 0
        """Requests read whole: a connection that has had none yet is shed first."""
        self.deadline: float | None = None
        """When the head or body being read must be complete; None between requests."""
        self.timer: asyncio.TimerHandle | None = None
        self.newcomers = _newcomers.setdefault(self.server_state, {})
        """This server's connections that have not sent a whole request yet, oldest first."""
        self.corked: Corked | None = None
        """What the response being written goes through (none for pipelined requests)."""

    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        super().connection_made(transport)
        self._arm(self.limits.header_timeout)
        self.newcomers[self] = None
        if len(self.connections) > self.limits.max_connections:
            self._shed()

    def connection_lost(self, exc: Exception | None) -> None:
        self.newcomers.pop(self, None)
        self._disarm()
        if self.timer is not None:
            self.timer.cancel()
            self.timer = None
        super().connection_lost(exc)
        _closed.count += 1
        if _closed.count % TRIM_EVERY == 0:
            self.loop.call_soon(give_back_memory)

    def data_received(self, data: bytes) -> None:
        self._unset_keepalive_if_required()
        if self.reading_head:
            self.head_bytes += len(data)
        try:
            self.parser.feed_data(data)
        except httptools.HttpParserCallbackError as err:
            refusal = err.__context__
            if isinstance(refusal, _Refusal):
                self.refuse(refusal.status, refusal.message)
            else:
                self.refuse(400, "Invalid HTTP request received.")
            return
        except httptools.HttpParserUpgrade:
            self.refuse(400, "Protocol upgrades are not supported.")
            return
        except httptools.HttpParserError:
            self.refuse(400, "Invalid HTTP request received.")
            return
        if self.reading_head and self.head_bytes > self.limits.max_header_bytes:
            self.refuse(431, f"The request head is over {self.limits.max_header_bytes} bytes.")

    def on_message_begin(self) -> None:
        super().on_message_begin()
        self.reading_head = True
        self.header_count = 0
        if self.deadline is None:
            self._arm(self.limits.header_timeout)

    def on_url(self, url: bytes) -> None:
        super().on_url(url)
        self.head_size = len(self.url)
        if len(self.url) > self.limits.max_header_bytes:
            raise _Refusal(431, f"The request URL is over {self.limits.max_header_bytes} bytes.")

    def on_header(self, name: bytes, value: bytes) -> None:
        self.header_count += 1
        self.head_size += len(name) + len(value) + 4
        if self.header_count > self.limits.max_headers:
            raise _Refusal(431, f"More than {self.limits.max_headers} header fields.")
        if self.head_size > self.limits.max_header_bytes:
            raise _Refusal(431, f"The request head is over {self.limits.max_header_bytes} bytes.")
        HttpToolsProtocol.on_header(self, name, value)

    def on_headers_complete(self) -> None:
        self.reading_head = False
        self.head_bytes = 0
        self._arm(self.limits.body_timeout)
        previous = self.cycle
        answers_now = previous is None or previous.response_complete
        super().on_headers_complete()
        cycle = self.cycle
        if cycle is not previous and answers_now and not self.expect_100_continue:
            self.corked = cycle.transport = Corked(self.transport)

    def on_response_complete(self) -> None:
        if self.corked is not None:
            self.corked.flush()
            self.corked = None
        super().on_response_complete()

    def on_message_complete(self) -> None:
        self.answered += 1
        self.newcomers.pop(self, None)
        self._disarm()
        super().on_message_complete()

    def refuse(self, status: int, message: str, *, grace: float = CLOSE_GRACE) -> None:
        """Answer with `status` and close, without involving the application; what has not
        closed after `grace` seconds is aborted (0: at once, for connections shed in a flood,
        whose buffers must go now)."""
        self.newcomers.pop(self, None)
        if self.transport.is_closing():
            return
        body = message.encode("utf-8", "replace")
        self.transport.write(
            b"HTTP/1.1 %d %s\r\ncontent-type: text/plain; charset=utf-8\r\n"
            b"content-length: %d\r\nconnection: close\r\n\r\n%s"
            % (status, _PHRASES.get(status, b"Error"), len(body), body)
        )
        if grace <= 0:
            self.transport.abort()
            return
        self.transport.close()
        self.loop.call_later(grace, self.transport.abort)

    def busy(self) -> bool:
        """Whether a request of this connection is being read whole or answered."""
        return not self.reading_head and self.cycle is not None and not self.cycle.response_complete

    def _shed(self) -> None:
        for waiting in self.newcomers:
            if waiting is not self and not waiting.busy() and not waiting.transport.is_closing():
                waiting.refuse(503, "Too many connections; closing the oldest idle one.", grace=0)
                return
        idle = [c for c in self.connections if isinstance(c, GuardedProtocol) and not c.busy()]
        idle = [c for c in idle if c is not self]
        if idle:
            victim = min(idle, key=lambda c: (c.answered > 0, c.born))
            victim.refuse(503, "Too many connections; closing the oldest idle one.", grace=0)
        else:
            self.refuse(503, "Too many connections in progress.")

    def _arm(self, seconds: float) -> None:
        """Expire `seconds` from now. One timer serves many requests: it is replaced only when
        it would fire too late, and when it fires early it waits on for the rest (a new timer
        for each head and each body cost more than the rest of this protocol's checks)."""
        deadline = self.loop.time() + seconds
        self.deadline = deadline
        if self.timer is not None:
            if self.timer.when() <= deadline:
                return
            self.timer.cancel()
        self.timer = self.loop.call_at(deadline, self._expire)

    def _disarm(self) -> None:
        self.deadline = None

    def _expire(self) -> None:
        self.timer = None
        if self.deadline is None:
            return
        if self.loop.time() < self.deadline:
            self.timer = self.loop.call_at(self.deadline, self._expire)
            return
        self.deadline = None
        what = "head" if self.reading_head else "body"
        self.refuse(408, f"The request {what} did not arrive in time.")


class Corked(asyncio.Transport):
    """The transport as one response sees it: the head is held until the body comes, and
    both leave in one write. uvicorn writes them apart, and over TLS each write is a record
    and a system call of its own. A response with a 100 Continue is not corked."""

    __slots__ = ("held", "passing", "transport")

    def __init__(self, transport: asyncio.Transport) -> None:
        super().__init__()
        self.transport = transport
        self.held: bytes | None = None
        self.passing = False

    def write(self, data: bytes | bytearray | memoryview) -> None:
        if self.passing:
            self.transport.write(data)
        elif self.held is None:
            self.held = bytes(data)
        else:
            self.passing = True
            held, self.held = self.held, None
            if len(data) <= COPY_BYTES:
                self.transport.write(held + data)
            else:
                self.transport.writelines((held, data))

    def flush(self) -> None:
        """Write what is held (a response without a body write: HEAD), and let all pass."""
        self.passing = True
        if self.held is not None:
            held, self.held = self.held, None
            self.transport.write(held)

    def close(self) -> None:
        self.flush()
        self.transport.close()

    def is_closing(self) -> bool:
        return self.transport.is_closing()


COPY_BYTES = 64 * 1024
"""Bodies up to this size are joined to the head (one TLS record); larger ones are not copied."""


class _Closed:
    count = 0


_closed = _Closed()
TRIM_EVERY = 64
"""Closed connections between two `give_back_memory` calls: a flood of connections churns
hundreds of MB a second through the C heap, more than a trim per reload tick keeps up with."""

_newcomers: weakref.WeakKeyDictionary[Any, dict[GuardedProtocol, None]] = (
    weakref.WeakKeyDictionary()
)


def give_back_memory() -> None:
    """Return the C heap's free pages to the system (glibc's `malloc_trim`). Closed TLS
    connections leave their buffers free but scattered, and glibc keeps them: after a burst of
    thousands of connections the server would stay hundreds of MB larger for good. A no-op
    where the C library has no `malloc_trim`."""
    if _malloc_trim is not None:
        _malloc_trim(0)


def _find_malloc_trim() -> Callable[[int], int] | None:
    try:
        trim: Callable[[int], int] = ctypes.CDLL(None).malloc_trim
    except (OSError, AttributeError):
        return None
    return trim


_malloc_trim = _find_malloc_trim()


def protocol(limits: Limits) -> type[GuardedProtocol]:
    """What uvicorn's `http=` takes: a factory of protocols with these limits, picklable for
    uvicorn's worker processes."""
    return cast(type[GuardedProtocol], functools.partial(GuardedProtocol, limits=limits))


class Gate:
    """A listening socket served by our own accept loop: at most `limits.max_handshakes` TLS
    handshakes in progress (the next connection is accepted only when one finishes) and each
    bounded by `limits.handshake_timeout`. The event loop's own TLS servers accept every
    connection at once and give a handshake 60 s: a flood of new connections then holds
    thousands of handshakes and their buffers at once."""

    def __init__(
        self,
        sock: socket.socket,
        factory: Callable[[], asyncio.Protocol],
        *,
        tls: Callable[[], ssl.SSLContext],
        limits: Limits,
        owned: bool = False,
    ) -> None:
        self.sock = sock
        self.owned = owned
        self.factory = factory
        self.tls = tls
        self.limits = limits
        self.sockets = [sock]
        self._slots = asyncio.Semaphore(limits.max_handshakes)
        self._handshakes: set[asyncio.Task[None]] = set()
        self._accepting = asyncio.get_running_loop().create_task(self._accept_forever())

    async def _accept_forever(self) -> None:
        loop = asyncio.get_running_loop()
        while True:
            await self._slots.acquire()
            try:
                conn, _ = await loop.sock_accept(self.sock)
            except OSError:
                self._slots.release()
                await asyncio.sleep(0.05)
                continue
            task = loop.create_task(self._handshake(conn))
            self._handshakes.add(task)
            task.add_done_callback(self._handshakes.discard)

    async def _handshake(self, conn: socket.socket) -> None:
        try:
            await asyncio.get_running_loop().connect_accepted_socket(
                self.factory,
                conn,
                ssl=self.tls(),
                ssl_handshake_timeout=self.limits.handshake_timeout,
            )
        except (OSError, ssl.SSLError, TimeoutError, ConnectionError):
            conn.close()
        finally:
            self._slots.release()

    def close(self) -> None:
        """Stop accepting (what uvicorn's shutdown calls on each of its servers)."""
        self._accepting.cancel()
        for task in self._handshakes:
            task.cancel()
        if self.owned:
            self.sock.close()

    async def wait_closed(self) -> None:
        await asyncio.gather(self._accepting, *self._handshakes, return_exceptions=True)


class GatedServer(uvicorn.Server):
    """uvicorn's server listening through a `Gate` per socket (one worker process)."""

    def __init__(
        self, config: uvicorn.Config, *, tls: Callable[[], ssl.SSLContext], limits: Limits
    ) -> None:
        super().__init__(config)
        self.tls = tls
        self.limits = limits

    async def startup(self, sockets: list[socket.socket] | None = None) -> None:
        await self.lifespan.startup()
        if self.lifespan.should_exit:
            raise SystemExit(STARTUP_FAILURE)
        config = self.config

        def protocol() -> asyncio.Protocol:
            made: asyncio.Protocol = config.http_protocol_class(  # type: ignore[call-arg]
                config=config, server_state=self.server_state, app_state=self.lifespan.state
            )
            return made

        owned = sockets is None
        listening = sockets or [_listen(config.host, config.port, backlog=config.backlog)]
        for sock in listening:
            sock.setblocking(False)
        gates = [
            Gate(sock, protocol, tls=self.tls, limits=self.limits, owned=owned)
            for sock in listening
        ]
        self.servers = cast(list[asyncio.base_events.Server], gates)
        self.started = True


def _listen(host: str, port: int, *, backlog: int) -> socket.socket:
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    return socket.create_server((host, port), family=family, backlog=backlog)
