"""HTTP limits of the listener, through a real uvicorn over real TLS with raw sockets."""

from __future__ import annotations

import asyncio
import socket
import ssl
import threading
import time
from collections.abc import Iterable, Iterator
from contextlib import ExitStack, contextmanager
from pathlib import Path
from typing import Any

import pytest
import uvicorn

from sidecar_injector import certs, listener


async def echo(scope: dict[str, Any], receive: Any, send: Any) -> None:
    """Reads the whole body, answers its length."""
    if scope["type"] != "http":
        return
    size, more = 0, True
    while more:
        message = await receive()
        if message["type"] == "http.disconnect":
            return
        size += len(message.get("body", b""))
        more = message.get("more_body", False)
    body = str(size).encode()
    headers = [(b"content-type", b"text/plain"), (b"content-length", str(len(body)).encode())]
    await send({"type": "http.response.start", "status": 200, "headers": headers})
    await send({"type": "http.response.body", "body": body})


@pytest.fixture(scope="module")
def ca() -> certs.KeyPair:
    return certs.make_ca()


@contextmanager
def serving(tmp_path: Path, ca: certs.KeyPair, limits: listener.Limits) -> Iterator[int]:
    """The server one worker runs: TLS through the listener's gate, `limits` applied."""
    pair = certs.make_serving(ca, hosts=["127.0.0.1"])
    (tmp_path / "tls.crt").write_bytes(pair.cert_pem)
    (tmp_path / "tls.key").write_bytes(pair.key_pem)
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    context.load_cert_chain(tmp_path / "tls.crt", tmp_path / "tls.key")
    config = uvicorn.Config(
        echo,
        host="127.0.0.1",
        port=0,
        http=listener.protocol(limits),
        ws="none",
        lifespan="off",
        log_config=None,
        access_log=False,
    )
    server = listener.GatedServer(config, tls=lambda: context, limits=limits)
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 10
    while not server.started:
        assert time.monotonic() < deadline
        time.sleep(0.01)
    try:
        yield server.servers[0].sockets[0].getsockname()[1]
    finally:
        server.should_exit = True
        thread.join(10)


@contextmanager
def connect(port: int, ca: certs.KeyPair) -> Iterator[ssl.SSLSocket]:
    context = ssl.create_default_context(cadata=ca.cert_pem.decode())
    raw = socket.create_connection(("127.0.0.1", port), timeout=10)
    with context.wrap_socket(raw, server_hostname="127.0.0.1") as tls:
        yield tls


def answer(tls: ssl.SSLSocket) -> bytes:
    """Everything the server sends until it closes (b"" if it closed without a word)."""
    chunks = []
    try:
        while chunk := tls.recv(65536):
            chunks.append(chunk)
    except (ConnectionResetError, ssl.SSLError):
        pass
    return b"".join(chunks)


def post(size: int, extra: bytes = b"") -> bytes:
    return (
        b"POST /inject HTTP/1.1\r\nhost: x\r\ncontent-type: application/json\r\n"
        b"content-length: %d\r\n%s\r\n" % (size, extra)
    )


LIMITS = listener.Limits(
    max_header_bytes=4096, max_headers=20, header_timeout=0.5, body_timeout=0.5, max_connections=4
)


def test_a_normal_request_is_answered(tmp_path: Path, ca: certs.KeyPair) -> None:
    with serving(tmp_path, ca, LIMITS) as port, connect(port, ca) as tls:
        tls.sendall(post(5, b"connection: close\r\n") + b"hello")
        reply = answer(tls)
    assert reply.startswith(b"HTTP/1.1 200")
    assert reply.endswith(b"\r\n\r\n5")


def test_a_response_leaves_in_one_tls_record(tmp_path: Path, ca: certs.KeyPair) -> None:
    """Its head and body in one write: one read (one TLS record) holds all of it."""
    with serving(tmp_path, ca, LIMITS) as port, connect(port, ca) as tls:
        for _ in range(2):
            tls.sendall(post(5) + b"hello")
            reply = tls.recv(65536)
            assert reply.startswith(b"HTTP/1.1 200")
            assert reply.endswith(b"\r\n\r\n5")


def test_a_head_request_gets_its_held_head(tmp_path: Path, ca: certs.KeyPair) -> None:
    """uvicorn writes no body for HEAD: the held head leaves when the response ends."""
    with serving(tmp_path, ca, LIMITS) as port, connect(port, ca) as tls:
        tls.settimeout(2)
        tls.sendall(b"HEAD /inject HTTP/1.1\r\nhost: x\r\n\r\n")
        reply = tls.recv(65536)
    assert reply.startswith(b"HTTP/1.1 200")
    assert reply.endswith(b"\r\n\r\n")


def test_a_100_continue_is_not_held_back(tmp_path: Path, ca: certs.KeyPair) -> None:
    with serving(tmp_path, ca, LIMITS) as port, connect(port, ca) as tls:
        tls.settimeout(2)
        tls.sendall(post(5, b"expect: 100-continue\r\nconnection: close\r\n"))
        assert tls.recv(65536).startswith(b"HTTP/1.1 100 Continue")
        tls.sendall(b"hello")
        reply = answer(tls)
    assert reply.startswith(b"HTTP/1.1 200")
    assert reply.endswith(b"\r\n\r\n5")


class Recorded(asyncio.Transport):
    def __init__(self) -> None:
        super().__init__()
        self.writes: list[bytes] = []
        self.closed = False

    def write(self, data: bytes | bytearray | memoryview) -> None:
        self.writes.append(bytes(data))

    def writelines(self, list_of_data: Iterable[bytes | bytearray | memoryview]) -> None:
        self.writes.append(b"".join(list_of_data))

    def close(self) -> None:
        self.closed = True


@pytest.mark.parametrize("size", [5, listener.COPY_BYTES + 1])
def test_a_corked_response_writes_head_and_body_once_then_passes(size: int) -> None:
    sent = Recorded()
    corked = listener.Corked(sent)
    corked.write(b"head")
    assert sent.writes == []
    corked.write(b"b" * size)
    corked.write(b"more")
    assert sent.writes == [b"head" + b"b" * size, b"more"]


def test_a_held_head_is_written_when_the_response_ends_or_closes() -> None:
    for end in ("flush", "close"):
        sent = Recorded()
        corked = listener.Corked(sent)
        corked.write(b"head")
        getattr(corked, end)()
        assert sent.writes == [b"head"]
        assert sent.closed == (end == "close")


def test_an_oversized_head_is_431(tmp_path: Path, ca: certs.KeyPair) -> None:
    with serving(tmp_path, ca, LIMITS) as port:
        with connect(port, ca) as tls:
            tls.sendall(post(0, b"x-big: " + b"a" * 10_000 + b"\r\n"))
            assert answer(tls).startswith(b"HTTP/1.1 431")
        with connect(port, ca) as tls:
            tls.sendall(b"POST /inject HTTP/1.1\r\nx-never-ends: " + b"a" * 8000)
            assert answer(tls).startswith(b"HTTP/1.1 431")


def test_too_many_header_fields_is_431(tmp_path: Path, ca: certs.KeyPair) -> None:
    fields = b"".join(b"x-%d: 1\r\n" % i for i in range(30))
    with serving(tmp_path, ca, LIMITS) as port, connect(port, ca) as tls:
        tls.sendall(post(0, fields))
        reply = answer(tls)
    assert reply.startswith(b"HTTP/1.1 431")
    assert b"More than 20 header fields" in reply


def test_a_head_that_does_not_arrive_in_time_is_closed(tmp_path: Path, ca: certs.KeyPair) -> None:
    with serving(tmp_path, ca, LIMITS) as port:
        with connect(port, ca) as tls:
            tls.sendall(b"POST /inject HTTP/1.1\r\nhost: x\r\n")
            assert answer(tls).startswith(b"HTTP/1.1 408")
        with connect(port, ca) as silent:
            assert answer(silent).startswith(b"HTTP/1.1 408")


def test_a_body_that_does_not_arrive_in_time_is_closed(tmp_path: Path, ca: certs.KeyPair) -> None:
    with serving(tmp_path, ca, LIMITS) as port, connect(port, ca) as tls:
        tls.sendall(post(100) + b"only part of it")
        reply = answer(tls)
    assert reply.startswith(b"HTTP/1.1 408")
    assert b"body did not arrive in time" in reply


def test_a_body_timeout_shorter_than_the_head_timeout_still_holds(
    tmp_path: Path, ca: certs.KeyPair
) -> None:
    limits = listener.Limits(header_timeout=30, body_timeout=0.5)
    with serving(tmp_path, ca, limits) as port, connect(port, ca) as tls:
        tls.sendall(post(100) + b"only part of it")
        reply = answer(tls)
    assert reply.startswith(b"HTTP/1.1 408")
    assert b"body did not arrive in time" in reply


def test_each_request_of_a_kept_alive_connection_has_its_own_head_time(
    tmp_path: Path, ca: certs.KeyPair
) -> None:
    """The second head starts half a timeout after the connection and takes more than the
    other half: it is on time, counted from its own first byte."""
    limits = listener.Limits(header_timeout=2.0, body_timeout=2.0)
    with serving(tmp_path, ca, limits) as port, connect(port, ca) as tls:
        tls.sendall(post(2) + b"ok")
        first = b""
        while not first.endswith(b"\r\n\r\n2"):
            first += tls.recv(65536)
        time.sleep(1.0)
        second = post(2, b"connection: close\r\n") + b"ok"
        tls.sendall(second[:20])
        time.sleep(1.4)
        tls.sendall(second[20:])
        assert answer(tls).startswith(b"HTTP/1.1 200")


def test_past_the_connection_cap_the_oldest_idle_one_is_shed(
    tmp_path: Path, ca: certs.KeyPair
) -> None:
    limits = listener.Limits(max_connections=3, header_timeout=30)
    with ExitStack() as stack:
        port = stack.enter_context(serving(tmp_path, ca, limits))
        first, second, third = (stack.enter_context(connect(port, ca)) for _ in range(3))
        for slow in (first, second, third):
            slow.sendall(b"POST /inject HTTP/1.1\r\n")
        time.sleep(0.2)
        with connect(port, ca) as fourth:
            fourth.sendall(post(2, b"connection: close\r\n") + b"ok")
            assert answer(fourth).startswith(b"HTTP/1.1 200")
        assert answer(first).startswith(b"HTTP/1.1 503")
        second.settimeout(0.2)
        with pytest.raises(TimeoutError):
            second.recv(1)


def test_a_kept_alive_client_outlives_half_sent_requests(tmp_path: Path, ca: certs.KeyPair) -> None:
    """The API server's idle keep-alive connection is older than the flood, yet the flood goes
    first: connections that never sent a whole request are shed before any that did."""
    limits = listener.Limits(max_connections=3, header_timeout=30)
    with ExitStack() as stack:
        port = stack.enter_context(serving(tmp_path, ca, limits))
        client = stack.enter_context(connect(port, ca))
        client.sendall(post(2) + b"ok")
        first = b""
        while not first.endswith(b"\r\n\r\n2"):
            first += client.recv(65536)
        assert first.startswith(b"HTTP/1.1 200")
        flood = [stack.enter_context(connect(port, ca)) for _ in range(3)]
        for slow in flood:
            slow.sendall(b"POST /inject HTTP/1.1\r\n")
            time.sleep(0.05)
        assert answer(flood[0]).startswith(b"HTTP/1.1 503")
        client.sendall(post(2, b"connection: close\r\n") + b"ok")
        assert answer(client).startswith(b"HTTP/1.1 200")


def test_silent_connections_hold_a_handshake_place_only_until_its_timeout(
    tmp_path: Path, ca: certs.KeyPair
) -> None:
    """Two places for handshakes: two clients that never start TLS take both, a real client
    waits in the backlog, and is served once the silent ones are dropped at the timeout."""
    limits = listener.Limits(max_handshakes=2, handshake_timeout=0.5)
    with serving(tmp_path, ca, limits) as port, ExitStack() as stack:
        silent = [
            stack.enter_context(socket.create_connection(("127.0.0.1", port))) for _ in range(2)
        ]
        with connect(port, ca) as tls:
            tls.sendall(post(2, b"connection: close\r\n") + b"ok")
            assert answer(tls).startswith(b"HTTP/1.1 200")
        for dropped in silent:
            dropped.settimeout(5)
            assert dropped.recv(1) == b""
