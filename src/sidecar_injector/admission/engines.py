"""Injection engines: processes that run the pure pipeline, off the server's event loop.

With `failurePolicy: Fail` a stalled webhook stops pod creation cluster-wide, so the event loop
only does I/O (TLS, HTTP, probes, metrics) and each admission that the replica cache cannot answer
goes to an engine: a process that holds the config and runs `injection` (see `engine`). An
admission has a deadline (from the API server's `?timeout=`); past it the engine is killed,
which really stops the work (a thread could not be stopped), and a new one takes its place.
An engine whose memory passes a limit is replaced after its answer, so no pod can grow the
server for good.

Engines are forked by one zygote process per worker (`engine.Zygote`) that holds the config: a
fork of the worker made as it starts, or later a new interpreter that imports nothing of the
server. Engines share its pages, and a replacement costs a fork. The worker speaks frames
(`frames`) with each engine over two pipes, watched by the event loop: a call is one future and
its deadline one timer. The config crosses as a `config.Recipe`, the texts it was loaded from.

`--engines 0` runs the same handler in the server process itself (`Inline`): no isolation, for
comparison in benchmarks and for tests.
"""

from __future__ import annotations

import asyncio
import collections
import contextlib
import fcntl
import gc
import logging
import os
import signal
import socket
import sys
import threading
import time
from collections.abc import Awaitable, Coroutine, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Protocol, TypeVar

import orjson

from sidecar_injector import errors
from sidecar_injector.admission import app, pipeline, review
from sidecar_injector.admission.engine import (
    MAX_DEPTH_MESSAGE,
    MEMORY_ENV,
    Handler,
    Zygote,
    forked_zygote,
)
from sidecar_injector.admission.frames import (
    FIRST_READ_BYTES,
    Frame,
    FrameError,
    Head,
    Incoming,
    Parts,
    frame_parts,
    unwritten,
)
from sidecar_injector.config import JSON, Config, Recipe

logger = logging.getLogger(__name__)

T = TypeVar("T")
HEAVY_POD_BYTES = 256 * 1024
"""Pods larger than this (a typical one is 10 KB) share all engines but one, so a few huge pods
cannot keep every engine busy while ordinary pods wait."""
PIPE_BYTES = 1024 * 1024
"""Each pipe's capacity (Linux's default is 64 KiB), so a large pod crosses in a few writes."""
ZYGOTE_SECONDS = 60.0
"""How long the zygote may take to load a config or fork; past it, it is replaced."""


class DeadlineExceeded(errors.InjectorError):
    """The admission did not finish before its deadline; the engine doing it was stopped."""

    reason = "deadlineExceeded"


class EngineFailed(errors.InjectorError):
    """An engine died or answered nonsense; it has been replaced."""

    reason = "engineFailed"


class Refused(errors.InjectorError):
    """An error the engine reported for this admission, with the engine's reason code."""

    def __init__(self, message: str, *, reason: str) -> None:
        super().__init__(message)
        self.reason = reason


@dataclass(frozen=True, slots=True, eq=False)
class State:
    """What an engine must have loaded to answer: compared by identity, replaced as a whole.
    `config` is `recipe` loaded, which a zygote forked from the worker adopts as it is."""

    recipe: Recipe
    kubelet_versions: Mapping[str, str] | None = None
    config: Config | None = None

    def head(self) -> Head:
        versions = dict(self.kubelet_versions) if self.kubelet_versions is not None else None
        return {"op": "load", "recipe": self.recipe.to_json(), "nodes": versions}


# The server's side.


@dataclass(frozen=True, slots=True)
class Limits:
    """How many engines, and how much memory each may use before it is replaced or refused."""

    engines: int = 2
    memory_bytes: int = 384 * 1024 * 1024
    """What an engine may allocate beyond what it inherits from its zygote (RLIMIT_DATA): an
    allocation past it fails the admission, not the server."""
    recycle_bytes: int = 128 * 1024 * 1024
    """Resident memory an engine may have gained since it started (what it shares with its
    zygote is not its own) before it is replaced, after an answer: only a multi-megabyte pod
    leaves that much behind, and the memory it kept goes."""


class Engines(Protocol):
    async def start(self, state: State) -> None: ...

    def update(self, state: State) -> None: ...

    async def run(
        self, head: Head, blob: bytes, *, state: State, deadline: float, heavy: bool = False
    ) -> Frame: ...

    async def close(self) -> None: ...

    def check(self) -> app.Check: ...


class Inline:
    """The handler in this process: no isolation and no deadline (`--engines 0`)."""

    def __init__(self) -> None:
        self.handler = Handler()
        self.state: State | None = None

    async def start(self, state: State) -> None:
        self._load(state)

    def update(self, state: State) -> None:
        pass

    async def run(
        self, head: Head, blob: bytes, *, state: State, deadline: float, heavy: bool = False
    ) -> Frame:
        if state is not self.state:
            self._load(state)
        return self.handler.answer(head, blob)

    def _load(self, state: State) -> None:
        reply, _ = self.handler.answer(state.head(), b"")
        if "error" in reply:
            raise Refused(str(reply["error"]), reason=str(reply["reason"]))
        self.state = state

    async def close(self) -> None:
        pass

    def check(self) -> app.Check:
        return app.Check("engines", True, "admissions run in the worker (--engines 0)")


class _Child(Protocol):
    @property
    def pid(self) -> int: ...

    @property
    def returncode(self) -> int | None: ...

    def kill(self) -> None: ...

    async def wait(self) -> int: ...


class _Forked:
    """A child this process forked itself (a zygote): asyncio does not watch it, so it is
    reaped here, by `wait`; until then its pid names it and no other process."""

    def __init__(self, pid: int) -> None:
        self.pid = pid
        self.returncode: int | None = None

    def kill(self) -> None:
        if self.returncode is None:
            with contextlib.suppress(ProcessLookupError):
                os.kill(self.pid, signal.SIGKILL)

    async def wait(self) -> int:
        while self.returncode is None:
            pid, status = os.waitpid(self.pid, os.WNOHANG)
            if pid:
                self.returncode = os.waitstatus_to_exitcode(status)
            else:
                await asyncio.sleep(0.01)
        return self.returncode


class _Zygote:
    """The worker's end of the zygote (`engine.Zygote`): a child process and a Unix socket.

    One request at a time: load a state, fork an engine (its pipe ends go along, SCM_RIGHTS),
    or reap one that has exited.
    """

    def __init__(self, process: _Child, control: socket.socket) -> None:
        self.process = process
        self.control = control
        self.state: State | None = None
        self._lock = asyncio.Lock()
        self._loop = asyncio.get_running_loop()
        self._incoming = Incoming()
        self._answer: asyncio.Future[Frame] | None = None
        self._lost = False
        self._loop.add_reader(control.fileno(), self._readable)

    @classmethod
    async def start(cls, limits: Limits, state: State | None) -> _Zygote:
        """Forked from this process while it has one thread, so that the zygote and its
        engines share the worker's pages, `state`'s loaded config among them (the objects this
        process holds then stay frozen, out of its collections); else (a
        replacement once the worker has threads) a new interpreter that imports only the
        pipeline and loads the config itself."""
        if _single_threaded():
            return cls._fork(limits, state)
        return await cls._exec(limits)

    @classmethod
    def _fork(cls, limits: Limits, state: State | None) -> _Zygote:
        config = state.config if state is not None else None
        versions = state.kubelet_versions if state is not None else None
        ours, theirs = socket.socketpair(socket.AF_UNIX, socket.SOCK_STREAM)
        gc.freeze()
        try:
            pid = os.fork()
        except OSError:
            gc.unfreeze()
            ours.close()
            theirs.close()
            raise
        if pid == 0:
            forked_zygote(
                theirs, memory_bytes=limits.memory_bytes, config=config, kubelet_versions=versions
            )
        # What the worker held at the fork stays out of its own collections too: its first
        # full collection would write to every one of those objects and so copy each page it
        # shares with the zygote and the engines (about 17 MB of a worker's tree). As in the
        # zygote, a config leaves no cycles behind, so what it held is still freed.
        theirs.close()
        ours.setblocking(False)
        zygote = cls(_Forked(pid), ours)
        if config is not None:
            zygote.state = state
        return zygote

    @classmethod
    async def _exec(cls, limits: Limits) -> _Zygote:
        env = {**os.environ, MEMORY_ENV: str(limits.memory_bytes)}
        ours, theirs = socket.socketpair(socket.AF_UNIX, socket.SOCK_STREAM)
        try:
            process = await asyncio.create_subprocess_exec(
                sys.executable, "-m", Zygote.__module__, stdin=theirs.fileno(), env=env
            )
        except BaseException:
            ours.close()
            raise
        finally:
            theirs.close()
        ours.setblocking(False)
        return cls(process, ours)

    @property
    def usable(self) -> bool:
        return not self._lost and self.process.returncode is None

    async def load(self, state: State) -> None:
        reply, _ = await self._ask(state.head())
        if "error" in reply:
            message = f"the engine cannot load the config: {reply['error']}"
            raise Refused(message, reason="engineConfig")
        self.state = state

    async def fork(self) -> _Engine:
        """A new engine holding `self.state`."""
        engine_input, requests = os.pipe2(os.O_CLOEXEC)
        replies, engine_output = os.pipe2(os.O_CLOEXEC)
        try:
            for end in (requests, replies):
                with contextlib.suppress(OSError):
                    fcntl.fcntl(end, fcntl.F_SETPIPE_SZ, PIPE_BYTES)
            state = self.state
            reply, _ = await self._ask({"op": "spawn"}, fds=(engine_input, engine_output))
        except BaseException:
            os.close(requests)
            os.close(replies)
            raise
        finally:
            os.close(engine_input)
            os.close(engine_output)
        if "error" in reply:
            os.close(requests)
            os.close(replies)
            raise EngineFailed(f"the zygote did not fork an engine: {reply['error']}")
        os.set_blocking(requests, False)
        os.set_blocking(replies, False)
        forked = _Engine(int(reply["pid"]), requests=requests, replies=replies, zygote=self)
        forked.state = state
        return forked

    async def reap(self, pid: int) -> int:
        """The exit status of an engine that has exited; its pid is free from now on."""
        reply, _ = await self._ask({"op": "reap", "pid": pid})
        if "error" in reply:
            raise EngineFailed(f"the zygote cannot reap engine {pid}: {reply['error']}")
        return int(reply["status"])

    async def close(self) -> None:
        """Close the socket (the zygote exits when it reads the end), kill it after 1 s."""
        self._quiet()
        try:
            await asyncio.wait_for(self.process.wait(), 1.0)
        except TimeoutError:
            with contextlib.suppress(ProcessLookupError):
                self.process.kill()
            await self.process.wait()

    async def _ask(self, head: Head, *, fds: Sequence[int] = ()) -> Frame:
        async with self._lock:
            if not self.usable:
                raise EngineFailed("the injection engines' zygote stopped")
            answer: asyncio.Future[Frame] = self._loop.create_future()
            self._answer = answer
            data = b"".join(frame_parts(head, b""))
            try:
                if fds:
                    socket.send_fds(self.control, [data], list(fds))
                else:
                    await self._loop.sock_sendall(self.control, data)
                return await asyncio.wait_for(answer, ZYGOTE_SECONDS)
            except (OSError, TimeoutError) as err:
                self._fail(f"the injection engines' zygote failed: {err or 'no answer'}")
                raise EngineFailed(f"the injection engines' zygote failed: {err}") from None
            except asyncio.CancelledError:
                # Its answer is still on the way and would be taken for the next question's.
                self._fail("a question to the injection engines' zygote was abandoned")
                raise

    def _readable(self) -> None:
        try:
            frame = self._incoming.feed(self.control.recv(FIRST_READ_BYTES))
        except (BlockingIOError, InterruptedError):
            return
        except (EOFError, FrameError, ValueError, OSError) as err:
            self._fail(f"the injection engines' zygote stopped or answered nonsense: {err}")
            return
        if frame is None:
            return
        answer, self._answer = self._answer, None
        if answer is not None and not answer.done():
            answer.set_result(frame)

    def _fail(self, why: str) -> None:
        self._lost = True
        self._quiet()
        answer, self._answer = self._answer, None
        if answer is not None and not answer.done():
            answer.set_exception(EngineFailed(why))
        with contextlib.suppress(ProcessLookupError):
            self.process.kill()

    def _quiet(self) -> None:
        if self.control.fileno() >= 0:
            self._loop.remove_reader(self.control.fileno())
            self.control.close()


class _Engine:
    """One engine process, our non-blocking ends of its two pipes, and its call in flight.

    No stream objects and no task per call: the reply pipe stays registered with the event
    loop, a call is one future, and its deadline one timer. The engine holds the only write
    end of the reply pipe, so the end of that pipe is the end of the process: the zygote
    reaps it only when asked (`Pool._reap`), after that, so until then its pid names it and
    no other process, and a kill by pid is safe. A frame that breaks the protocol makes the
    engine unusable (`failure`) as well.
    """

    def __init__(
        self, pid: int, *, requests: int, replies: int, zygote: _Zygote | None = None
    ) -> None:
        self.pid = pid
        self.zygote = zygote
        self.requests = requests
        self.replies = replies
        self.state: State | None = None
        self.grown = 0
        """Resident memory the engine gained since it started, as of its last answer."""
        self.failure: str | None = None
        self._loop = asyncio.get_running_loop()
        self._incoming = Incoming()
        self._answer: asyncio.Future[Frame] | None = None
        self._timer: asyncio.TimerHandle | None = None
        self._unsent: Parts = []
        self._exited: asyncio.Future[None] = self._loop.create_future()
        self._loop.add_reader(replies, self._readable)

    @property
    def running(self) -> bool:
        """Until its end of the reply pipe closes, which it does only by exiting."""
        return not self._exited.done()

    @property
    def usable(self) -> bool:
        return self.failure is None and self.running

    def call(self, head: Head, blob: bytes, deadline: float | None) -> asyncio.Future[Frame]:
        """Send one frame; the future is its reply, or `DeadlineExceeded` past `deadline`,
        or `EngineFailed`."""
        answer: asyncio.Future[Frame] = self._loop.create_future()
        if self.failure is not None or self._answer is not None:
            answer.set_exception(EngineFailed(self.failure or "the engine is busy"))
            return answer
        self._answer = answer
        if deadline is not None:
            delay = max(deadline - time.monotonic(), 0.0)
            self._timer = self._loop.call_later(delay, self._expired)
        self._send(frame_parts(head, blob))
        return answer

    async def load(self, state: State, deadline: float | None) -> None:
        reply, _ = await self.call(state.head(), b"", deadline)
        if "error" in reply:
            message = f"the engine cannot load the config: {reply['error']}"
            raise Refused(message, reason="engineConfig")
        self.state = state

    def close_input(self) -> None:
        """End the engine's input: an idle engine exits when it reads the end."""
        self._stop_sending()
        if self.requests >= 0:
            os.close(self.requests)
            self.requests = -1

    def kill(self) -> None:
        self._fail(self.failure or "the injection engine was stopped")
        self.close_input()
        if self.running:
            with contextlib.suppress(ProcessLookupError):
                os.kill(self.pid, signal.SIGKILL)

    async def wait(self) -> None:
        """Until the process has exited (the zygote still has to reap it)."""
        await asyncio.shield(self._exited)

    def _send(self, parts: Parts) -> None:
        try:
            parts = unwritten(parts, os.writev(self.requests, parts))
        except BlockingIOError:
            pass
        except OSError:
            self._fail(self._lost())
            return
        if parts and not self._unsent:
            self._loop.add_writer(self.requests, self._writable)
        elif not parts and self._unsent:
            self._loop.remove_writer(self.requests)
        self._unsent = parts

    def _writable(self) -> None:
        self._send(self._unsent)

    def _stop_sending(self) -> None:
        if self._unsent:
            self._loop.remove_writer(self.requests)
            self._unsent = []

    def _readable(self) -> None:
        if self.failure is not None:
            self._drain()
            return
        try:
            frame = self._incoming.read(self.replies)
        except BlockingIOError:
            return
        except EOFError:
            self._fail(self._lost())
            self._gone()
            return
        except (FrameError, ValueError, OSError) as err:
            self._fail(f"the injection engine answered nonsense: {err}")
            return
        if frame is None:
            return
        answer = self._settle()
        if answer is None:
            self._fail("the injection engine spoke out of turn")
            return
        self.grown = int(frame[0].get("grown") or 0)
        if not answer.done():
            answer.set_result(frame)

    def _drain(self) -> None:
        """After a failure only the end of the pipe, the process's exit, still matters."""
        try:
            chunk = os.read(self.replies, FIRST_READ_BYTES)
        except BlockingIOError:
            return
        except OSError:
            chunk = b""
        if not chunk:
            self._gone()

    def _gone(self) -> None:
        self._loop.remove_reader(self.replies)
        os.close(self.replies)
        self._exited.set_result(None)

    def _expired(self) -> None:
        self._timer = None
        answer = self._settle()
        if answer is not None and not answer.done():
            message = "the admission did not finish before its deadline"
            answer.set_exception(DeadlineExceeded(message))

    def _fail(self, why: str) -> None:
        self.failure = why
        self._stop_sending()
        answer = self._settle()
        if answer is not None and not answer.done():
            answer.set_exception(EngineFailed(why))

    def _settle(self) -> asyncio.Future[Frame] | None:
        """The call in flight, which ends now."""
        answer, self._answer = self._answer, None
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None
        return answer

    def _lost(self) -> str:
        return "the injection engine stopped during the admission"


class Pool:
    """`limits.engines` engine processes; a request waits for an idle one within its deadline."""

    def __init__(self, limits: Limits = Limits()) -> None:
        self.limits = limits
        self.state: State | None = None
        self._idle: list[_Engine] = []
        """A stack: at low load one engine takes every admission and its caches stay warm
        (alternating engines cost a quarter more CPU at c=1)."""
        self._waiters: collections.deque[asyncio.Future[_Engine]] = collections.deque()
        """Admissions waiting for an engine, first come first served."""
        self._all: set[_Engine] = set()
        """The engines in service (idle or running an admission)."""
        self._living: set[_Engine] = set()
        """Every engine whose process has not been reaped, replaced ones too."""
        self._tasks: set[asyncio.Task[None]] = set()
        self._heavy = asyncio.Semaphore(max(1, limits.engines - 1))
        self._closed = False
        self._loop: asyncio.AbstractEventLoop | None = None
        self._zygote: _Zygote | None = None
        self._forking = asyncio.Lock()
        self.replaced: dict[str, int] = {}

    async def start(self, state: State) -> None:
        self._loop = asyncio.get_running_loop()
        self.state = state
        engines = await asyncio.gather(*(self._spawn() for _ in range(self.limits.engines)))
        for engine in engines:
            self._checkin(engine)

    def update(self, state: State) -> None:
        """Serve `state` from now on; the zygote loads it and idle engines are renewed from it
        in the background. Any thread may call it (config reloads run in one)."""
        if self._loop is not None:
            self._loop.call_soon_threadsafe(self._update, state)

    def _update(self, state: State) -> None:
        self.state = state
        self._background(self._refresh_idle(state))

    async def run(
        self, head: Head, blob: bytes, *, state: State, deadline: float, heavy: bool = False
    ) -> Frame:
        """Run on an idle engine; `heavy` work (a large pod) never takes the last idle one."""
        if not heavy:
            return await self._run(head, blob, state=state, deadline=deadline)
        try:
            if self._heavy.locked():
                await _within(self._heavy.acquire(), deadline)
            else:
                await self._heavy.acquire()
        except DeadlineExceeded:
            raise DeadlineExceeded(
                "no injection engine was free for a large pod before the deadline"
            ) from None
        try:
            return await self._run(head, blob, state=state, deadline=deadline)
        finally:
            self._heavy.release()

    async def _run(self, head: Head, blob: bytes, *, state: State, deadline: float) -> Frame:
        engine = self._take_idle() or await self._checkout(deadline)
        try:
            if engine.state is not state:
                await engine.load(state, deadline)
            reply, out = await engine.call(head, blob, deadline)
        except BaseException as err:
            self._replace(engine, why=_why(err))
            raise
        if reply.get("exit") or engine.grown > self.limits.recycle_bytes:
            self._replace(engine, why="memory")
        else:
            self._checkin(engine)
        return reply, out

    async def close(self) -> None:
        """Stop every engine (idle ones read the end of their input, the rest are killed after
        1 s), then the zygote."""
        self._closed = True
        for task in list(self._tasks):
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
        await asyncio.gather(*(self._stop(engine) for engine in self._living))
        if self._zygote is not None:
            await self._zygote.close()

    def check(self) -> app.Check:
        """Ready while at least one engine is in service (a replacement may be starting)."""
        replaced = ", ".join(f"{why} {n}" for why, n in sorted(self.replaced.items()))
        detail = f"{len(self._all)} of {self.limits.engines} in service, {len(self._idle)} idle"
        if replaced:
            detail += f"; replaced: {replaced}"
        return app.Check("engines", bool(self._all), detail)

    def _take_idle(self) -> _Engine | None:
        """The idle engine used last, if one is idle and usable (a dead one is replaced)."""
        while self._idle:
            engine = self._idle.pop()
            if engine.usable:
                return engine
            self._replace(engine, why="died")
        return None

    def _checkin(self, engine: _Engine) -> None:
        """To the longest waiting admission, else to the idle stack."""
        while self._waiters:
            waiter = self._waiters.popleft()
            if not waiter.done():
                waiter.set_result(engine)
                return
        self._idle.append(engine)

    async def _checkout(self, deadline: float) -> _Engine:
        """Wait for an engine until `deadline`."""
        loop = asyncio.get_running_loop()
        while True:
            waiter: asyncio.Future[_Engine] = loop.create_future()
            self._waiters.append(waiter)
            timer = loop.call_later(max(deadline - time.monotonic(), 0.0), self._expire, waiter)
            try:
                engine = await waiter
            except asyncio.CancelledError:
                if waiter.done() and not waiter.cancelled() and waiter.exception() is None:
                    self._checkin(waiter.result())
                raise
            finally:
                timer.cancel()
            if engine.usable:
                return engine
            self._replace(engine, why="died")

    def _expire(self, waiter: asyncio.Future[_Engine]) -> None:
        if not waiter.done():
            busy = self.limits.engines
            message = f"no injection engine was free before the deadline ({busy} busy)"
            waiter.set_exception(DeadlineExceeded(message))

    async def _spawn(self) -> _Engine:
        async with self._forking:
            zygote = await self._ready_zygote()
            engine = await zygote.fork()
        self._all.add(engine)
        self._living.add(engine)
        return engine

    async def _ready_zygote(self) -> _Zygote:
        """The zygote holding the state served; a new one if it stopped."""
        zygote = self._zygote
        if zygote is None or not zygote.usable:
            if zygote is not None:
                logger.warning("the injection engines' zygote stopped; starting another")
                await zygote.close()
            zygote = self._zygote = await _Zygote.start(self.limits, self.state)
        if self.state is not None and zygote.state is not self.state:
            await zygote.load(self.state)
        return zygote

    def _replace(self, engine: _Engine, *, why: str) -> None:
        engine.kill()
        self._all.discard(engine)
        self.replaced[why] = self.replaced.get(why, 0) + 1
        logger.warning("injection engine %s replaced (%s)", engine.pid, why)
        self._background(self._reap_and_respawn(engine))

    async def _reap_and_respawn(self, engine: _Engine) -> None:
        await engine.wait()
        await self._reap(engine)
        while not self._closed:
            try:
                self._checkin(await self._spawn())
                return
            except Exception:
                logger.exception("starting an injection engine failed; trying again in 1 s")
                await asyncio.sleep(1)

    async def _refresh_idle(self, state: State) -> None:
        """The zygote loads `state`, then each idle engine without it makes way for a fork that
        has it, one at a time, while it is the state served; an engine taken meanwhile loads
        it itself."""
        try:
            async with self._forking:
                await self._ready_zygote()
        except Exception:
            logger.exception("the injection engines' zygote cannot load the new config")
            return
        for engine in list(self._idle):
            if self.state is not state:
                return
            if engine not in self._idle or engine.state is state:
                continue
            self._idle.remove(engine)
            try:
                fresh = await self._spawn()
            except Exception:
                logger.exception("starting an injection engine for the new config failed")
                self._checkin(engine)
                return
            self._checkin(fresh)
            await self._stop(engine)

    def _background(self, work: Coroutine[Any, Any, None]) -> None:
        task = asyncio.get_running_loop().create_task(work)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def _stop(self, engine: _Engine) -> None:
        """Close the engine's input (it exits when it reads the end), kill it after 1 s."""
        self._all.discard(engine)
        engine.close_input()
        try:
            await asyncio.wait_for(engine.wait(), 1.0)
        except TimeoutError:
            engine.kill()
            await engine.wait()
        await self._reap(engine)

    async def _reap(self, engine: _Engine) -> None:
        """Have the zygote reap an engine that exited (a zygote that stopped left its engines
        to init); an exit nobody asked for is logged with its status."""
        if engine not in self._living:
            return
        self._living.discard(engine)
        zygote = engine.zygote
        if zygote is not None and zygote.usable:
            try:
                status = await zygote.reap(engine.pid)
            except EngineFailed:
                logger.warning("injection engine %s was not reaped", engine.pid, exc_info=True)
            else:
                if status not in (0, -signal.SIGKILL):
                    logger.warning("injection engine %s exited with status %s", engine.pid, status)


def _single_threaded() -> bool:
    """Whether this process may fork: no other thread can hold a lock the child would inherit
    taken (a worker is single-threaded until its first config reload check)."""
    return threading.active_count() == 1 and len(os.listdir("/proc/self/task")) == 1


async def _within(work: Awaitable[T], deadline: float) -> T:
    remaining = deadline - time.monotonic()
    try:
        return await asyncio.wait_for(work, max(remaining, 0.0))
    except TimeoutError:
        raise DeadlineExceeded("the admission did not finish before its deadline") from None


def _why(err: BaseException) -> str:
    if isinstance(err, DeadlineExceeded):
        return "deadline"
    if isinstance(err, asyncio.CancelledError):
        return "cancelled"
    return "failed"


# The pipeline the webhook calls.


@dataclass(frozen=True, slots=True)
class _Serving:
    config: Config
    state: State
    cache: pipeline.ReplicaCache | None


class IsolatedPipeline:
    """The replica cache in the server process, everything else in an engine.

    A cache hit never reaches an engine. The pod crosses as the JSON the cache keys it by, so
    it is encoded once.
    """

    def __init__(
        self, current: Config, *, engines: Engines, cache_entries: int = pipeline.CACHE_ENTRIES
    ) -> None:
        self.engines = engines
        self.cache_entries = cache_entries
        self._serving = self._serve(current, None)

    @property
    def config(self) -> Config:
        return self._serving.config

    async def start(self) -> None:
        await self.engines.start(self._serving.state)

    async def close(self) -> None:
        await self.engines.close()

    def check(self) -> app.Check:
        return self.engines.check()

    def swap(self, current: Config) -> None:
        """Serve `current` from now on; answers remembered for the previous config are dropped."""
        self._serving = self._serve(current, self._serving.state.kubelet_versions)
        self.engines.update(self._serving.state)

    def observe_nodes(self, kubelet_versions: Mapping[str, str]) -> None:
        self._serving = self._serve(self._serving.config, dict(kubelet_versions))
        self.engines.update(self._serving.state)

    def _serve(self, current: Config, kubelet_versions: Mapping[str, str] | None) -> _Serving:
        if current.recipe is None:
            raise ValueError("an engine can only load a config made by config.load")
        cache = pipeline.ReplicaCache.for_config(current, self.cache_entries)
        return _Serving(current, State(current.recipe, kubelet_versions, current), cache)

    async def admit(
        self, pod: review.Object, *, namespace: str, params: Mapping[str, str], deadline: float
    ) -> app.Admitted:
        serving = self._serving
        body = _encode(pipeline.without_managed_fields(pod))
        cache = serving.cache
        key = cache.key(body, namespace=namespace, params=params) if cache is not None else None
        if cache is not None and key is not None and (hit := cache.get(key)) is not None:
            return hit
        head = {"op": "admit", "namespace": namespace, "params": dict(params)}
        reply, patch = await self.engines.run(
            head, body, state=serving.state, deadline=deadline, heavy=len(body) > HEAVY_POD_BYTES
        )
        admitted = _admitted(reply, patch)
        if cache is not None and key is not None:
            cache.put(key, admitted)
        return admitted

    async def validate(self, data: Mapping[str, JSON], *, deadline: float) -> None:
        head = {"op": "validate"}
        reply, _ = await self.engines.run(
            head, _encode(dict(data)), state=self._serving.state, deadline=deadline
        )
        _raise_for(reply)


def _encode(value: JSON) -> bytes:
    try:
        return orjson.dumps(value)
    except orjson.JSONEncodeError as err:
        if "recursion" in str(err).lower():
            raise Refused(MAX_DEPTH_MESSAGE, reason="tooDeep") from None
        raise


def _raise_for(reply: Head) -> None:
    if reply.get("trace"):
        logger.error("injection engine error: %s", reply["trace"])
    if "error" in reply:
        raise Refused(str(reply["error"]), reason=str(reply.get("reason") or "engineFailed"))


def _admitted(reply: Head, patch: bytes) -> app.Admitted:
    _raise_for(reply)
    return app.Admitted(
        inject=bool(reply["inject"]),
        reason=str(reply["reason"]),
        message=str(reply["message"]),
        warnings=tuple(str(w) for w in reply["warnings"]),
        patch=patch if reply.get("patched") else None,
    )


def isolated(
    current: Config, *, cache_entries: int = pipeline.CACHE_ENTRIES, limits: Limits = Limits()
) -> IsolatedPipeline:
    """What `serve` runs: `limits.engines` engine processes, or none (`Inline`) for 0."""
    work: Engines = Pool(limits) if limits.engines > 0 else Inline()
    return IsolatedPipeline(current, engines=work, cache_entries=cache_entries)


def inline(current: Config, *, cache_entries: int = pipeline.CACHE_ENTRIES) -> IsolatedPipeline:
    """The pipeline without engine processes (tests, `--engines 0`); it loads on first use."""
    return IsolatedPipeline(current, engines=Inline(), cache_entries=cache_entries)
