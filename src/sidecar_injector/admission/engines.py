"""Injection engines: processes that run the pure pipeline, off the server's event loop.

With `failurePolicy: Fail` a stalled webhook stops pod creation cluster-wide, so the event loop
only does I/O (TLS, HTTP, probes, metrics) and each admission that the replica cache cannot answer
goes to an engine: a child process that holds the config and runs `pipeline.InjectionPipeline`.
An admission has a deadline (from the API server's `?timeout=`); past it the engine is killed,
which really stops the work (a thread could not be stopped), and a new one takes its place.
An engine whose memory passes a limit is replaced after its answer, so no pod can grow the
server for good.

Parent and engine speak length-prefixed frames over the engine's stdin and stdout: a JSON head
and a binary blob (the pod's JSON going in, the patch's JSON coming back). The config crosses as
a `config.Recipe`, the texts it was loaded from.

`--engines 0` runs the same handler in the server process itself (`Inline`): no isolation, for
comparison in benchmarks and for tests.
"""

from __future__ import annotations

import asyncio
import collections
import contextlib
import fcntl
import logging
import os
import resource
import signal
import struct
import sys
import time
import traceback
from collections.abc import Awaitable, Coroutine, Mapping
from dataclasses import dataclass
from typing import Any, Protocol, TypeVar

import orjson

from sidecar_injector import errors
from sidecar_injector.admission import app, pipeline, review
from sidecar_injector.config import JSON, Config, Recipe

logger = logging.getLogger(__name__)

Head = dict[str, JSON]
Frame = tuple[Head, bytes]
Parts = list[bytes | memoryview]
"""A frame as the pieces of one `os.writev`."""
_SIZES = struct.Struct(">II")
T = TypeVar("T")
MAX_FRAME_BYTES = 64 * 1024 * 1024
"""A pod is at most the request body (6 MiB by default), a patch a few times that."""
MEMORY_ENV = "SIDECAR_INJECTOR_ENGINE_MEMORY"
"""How the parent tells an engine its memory limit (bytes)."""
HEAVY_POD_BYTES = 256 * 1024
"""Pods larger than this (a typical one is 10 KB) share all engines but one, so a few huge pods
cannot keep every engine busy while ordinary pods wait."""
MAX_DEPTH_MESSAGE = (
    "the pod is nested too deeply to be a Pod (JSON nested more than 254 levels); "
    "no Kubernetes object is that deep"
)


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
    """What an engine must have loaded to answer: compared by identity, replaced as a whole."""

    recipe: Recipe
    kubelet_versions: Mapping[str, str] | None = None

    def head(self) -> Head:
        versions = dict(self.kubelet_versions) if self.kubelet_versions is not None else None
        return {"op": "load", "recipe": self.recipe.to_json(), "nodes": versions}


# The engine's side.


class Handler:
    """Answers frames with the pipeline of the state last loaded; never raises."""

    def __init__(self) -> None:
        self.work: pipeline.InjectionPipeline | None = None

    def answer(self, head: Head, blob: bytes) -> Frame:
        try:
            return self._answer(head, blob)
        except errors.InjectorError as err:
            reason = getattr(err, "reason", None) or type(err).__name__
            return {"error": str(err), "reason": reason}, b""
        except RecursionError:
            return {"error": MAX_DEPTH_MESSAGE, "reason": "tooDeep"}, b""
        except MemoryError:
            self.work = None
            message = "the admission needed more memory than an engine may use"
            return {"error": message, "reason": "tooLarge", "exit": True}, b""
        except Exception as err:
            return {
                "error": f"internal error: {type(err).__name__}: {errors.excerpt(str(err))}",
                "reason": "internalError",
                "trace": traceback.format_exc(),
            }, b""

    def _answer(self, head: Head, blob: bytes) -> Frame:
        op = head.get("op")
        if op == "load":
            self.work = None
            recipe = Recipe.from_json(head["recipe"])
            work = pipeline.InjectionPipeline(recipe.load(), cache_entries=0)
            if head.get("nodes") is not None:
                work.observe_nodes(head["nodes"])
            self.work = work
            return {"ok": True}, b""
        if self.work is None:
            return {"error": "no config loaded", "reason": "engineFailed"}, b""
        if op == "admit":
            admitted = self.work.admit(
                _decode(blob), namespace=head["namespace"], params=head["params"]
            )
            return {
                "inject": admitted.inject,
                "reason": admitted.reason,
                "message": admitted.message,
                "warnings": list(admitted.warnings),
                "patched": admitted.patch is not None,
            }, admitted.patch or b""
        if op == "validate":
            self.work.validate(_decode(blob))
            return {"ok": True}, b""
        return {"error": f"unknown operation {op!r}", "reason": "engineFailed"}, b""


def _decode(blob: bytes) -> JSON:
    """orjson reports running out of memory as a decoding error."""
    try:
        return orjson.loads(blob)
    except orjson.JSONDecodeError as err:
        if "memory" in str(err).lower():
            raise MemoryError(str(err)) from None
        raise


def resident_bytes(statm: int) -> int:
    """This process's resident memory now, read from `statm`, an open /proc/self/statm. Not
    `ru_maxrss`: Linux carries the peak over `execve`, so a new engine would report the peak
    of the server that started it."""
    try:
        pages = int(os.pread(statm, 128, 0).split()[1])
    except (OSError, IndexError, ValueError):
        return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024
    return pages * PAGE_BYTES


PAGE_BYTES = os.sysconf("SC_PAGE_SIZE")
FIRST_READ_BYTES = 64 * 1024
"""What the first read of a frame asks for: a typical frame (10 KB) arrives whole in it."""
PIPE_BYTES = 1024 * 1024
"""Each pipe's capacity (Linux's default is 64 KiB), so a large pod crosses in a few writes."""


class FrameError(Exception):
    """A frame that breaks the protocol: larger than `MAX_FRAME_BYTES`, or two at once."""


class Incoming:
    """The frame being read from a pipe, fed one read at a time (blocking or not).

    The first read usually holds the whole frame, and it is parsed in place; a larger frame
    is gathered into one buffer of its announced size, bounded by `MAX_FRAME_BYTES`.
    """

    def __init__(self) -> None:
        self._start = b""
        self._whole: bytearray | None = None
        self._filled = 0

    def read(self, fd: int) -> Frame | None:
        """One read from `fd`: the frame once it is complete, else None. Raises EOFError at
        the pipe's end, BlockingIOError when a non-blocking pipe is empty, FrameError."""
        whole = self._whole
        if whole is None:
            chunk = os.read(fd, FIRST_READ_BYTES)
            if not chunk:
                raise EOFError
            self._start += chunk
            return self._parse_start()
        with memoryview(whole) as view:
            count = os.readv(fd, [view[self._filled :]])
        if not count:
            raise EOFError
        self._filled += count
        if self._filled < len(whole):
            return None
        self._whole = None
        return _split(whole)

    def _parse_start(self) -> Frame | None:
        start = self._start
        if len(start) < _SIZES.size:
            return None
        head_size, blob_size = _SIZES.unpack_from(start)
        size = _SIZES.size + head_size + blob_size
        if size > MAX_FRAME_BYTES:
            raise FrameError(f"a frame of {size} bytes, more than {MAX_FRAME_BYTES}")
        if len(start) > size:
            raise FrameError("a second frame before the first was answered")
        self._start = b""
        if len(start) == size:
            return _split(start)
        self._whole = bytearray(size)
        self._whole[: len(start)] = start
        self._filled = len(start)
        return None


def _split(frame: bytes | bytearray) -> Frame:
    head_size, _ = _SIZES.unpack_from(frame)
    with memoryview(frame) as view:
        head = orjson.loads(view[_SIZES.size : _SIZES.size + head_size])
        return head, bytes(view[_SIZES.size + head_size :])


def frame_parts(head: Head, blob: bytes) -> Parts:
    """A frame as the pieces one `os.writev` sends: the blob is not copied."""
    encoded = orjson.dumps(head)
    return [_SIZES.pack(len(encoded), len(blob)), encoded, blob]


def unwritten(parts: Parts, written: int) -> Parts:
    """What of `parts` remains after `written` bytes were sent."""
    for index, part in enumerate(parts):
        if written < len(part):
            return [memoryview(part)[written:], *parts[index + 1 :]]
        written -= len(part)
    return []


def write_frame(fd: int, head: Head, blob: bytes) -> None:
    """Send a frame on a blocking pipe."""
    parts = frame_parts(head, blob)
    while parts:
        parts = unwritten(parts, os.writev(fd, parts))


def serve(handler: Handler, *, requests: int, replies: int) -> None:
    """Answer frames from `requests` on `replies` until the pipe closes or an answer says to
    exit; each answer carries the engine's resident memory, for the parent to recycle it."""
    statm = os.open("/proc/self/statm", os.O_RDONLY | os.O_CLOEXEC)
    incoming = Incoming()
    while True:
        try:
            frame = incoming.read(requests)
        except (EOFError, FrameError):
            return
        if frame is None:
            continue
        head, blob = handler.answer(*frame)
        head["rss"] = resident_bytes(statm)
        write_frame(replies, head, blob)
        if head.get("exit"):
            return


def main() -> None:
    """The engine process: frames in on stdin, answers out on stdout, until stdin closes.

    Signals are the parent's business (it drains, then closes our stdin); stray prints go to
    stderr so that nothing but frames ever reaches the parent.
    """
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    signal.signal(signal.SIGTERM, signal.SIG_IGN)
    memory = int(os.environ.get(MEMORY_ENV, "0"))
    if memory > 0:
        resource.setrlimit(resource.RLIMIT_DATA, (memory, memory))
    replies = os.dup(1)
    os.dup2(2, 1)
    serve(Handler(), requests=0, replies=replies)


# The server's side.


@dataclass(frozen=True, slots=True)
class Limits:
    """How many engines, and how much memory each may use before it is replaced or refused."""

    engines: int = 2
    memory_bytes: int = 384 * 1024 * 1024
    """Hard limit (RLIMIT_DATA): an allocation past it fails the admission, not the server."""
    recycle_bytes: int = 128 * 1024 * 1024
    """Resident memory after an answer past which the engine is replaced: one at rest holds
    about 45 MB, so only a multi-megabyte pod leaves it there, and the memory it kept goes."""


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


class _Engine:
    """One engine process, our non-blocking ends of its two pipes, and its call in flight.

    No stream objects and no task per call: the reply pipe stays registered with the event
    loop, a call is one future, and its deadline one timer. The engine's end of the pipe
    closing, or a frame that breaks the protocol, makes the engine unusable (`failure`).
    """

    def __init__(self, process: asyncio.subprocess.Process, *, requests: int, replies: int) -> None:
        self.process = process
        self.requests = requests
        self.replies = replies
        self.state: State | None = None
        self.rss = 0
        self.failure: str | None = None
        self._loop = asyncio.get_running_loop()
        self._incoming = Incoming()
        self._answer: asyncio.Future[Frame] | None = None
        self._timer: asyncio.TimerHandle | None = None
        self._unsent: Parts = []
        self._loop.add_reader(replies, self._readable)

    @property
    def usable(self) -> bool:
        return self.failure is None and self.process.returncode is None

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
        self._quiet()
        with contextlib.suppress(OSError):
            os.close(self.requests)
        with contextlib.suppress(OSError):
            os.close(self.replies)

    def kill(self) -> None:
        self.failure = self.failure or "stopped"
        self.close_input()
        with contextlib.suppress(ProcessLookupError):
            self.process.kill()

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

    def _readable(self) -> None:
        try:
            frame = self._incoming.read(self.replies)
        except BlockingIOError:
            return
        except EOFError:
            self._fail(self._lost())
            return
        except (FrameError, ValueError) as err:
            self._fail(f"the injection engine answered nonsense: {err}")
            return
        except OSError as err:
            self._fail(f"cannot read from the injection engine: {err}")
            return
        if frame is None:
            return
        answer = self._answer
        if answer is None:
            self._fail("the injection engine spoke out of turn")
            return
        self.rss = int(frame[0].get("rss") or 0)
        self._settle()
        if not answer.done():
            answer.set_result(frame)

    def _expired(self) -> None:
        self._timer = None
        answer = self._settle()
        if answer is not None and not answer.done():
            answer.set_exception(
                DeadlineExceeded("the admission did not finish before its deadline")
            )

    def _fail(self, why: str) -> None:
        self.failure = why
        answer = self._settle()
        self._quiet()
        if answer is not None and not answer.done():
            answer.set_exception(EngineFailed(why))

    def _settle(self) -> asyncio.Future[Frame] | None:
        """The call in flight, which ends now."""
        answer, self._answer = self._answer, None
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None
        return answer

    def _quiet(self) -> None:
        """Stop watching the pipes (before they close); the call in flight, if any, ends."""
        self._loop.remove_reader(self.replies)
        if self._unsent:
            self._loop.remove_writer(self.requests)
            self._unsent = []
        answer = self._settle()
        if answer is not None:
            answer.cancel()

    def _lost(self) -> str:
        code = self.process.returncode
        status = f" (exit status {code})" if code is not None else ""
        return f"the injection engine stopped during the admission{status}"


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
        self.replaced: dict[str, int] = {}

    async def start(self, state: State) -> None:
        self._loop = asyncio.get_running_loop()
        self.state = state
        engines = await asyncio.gather(*(self._spawn() for _ in range(self.limits.engines)))
        for engine in engines:
            self._checkin(engine)

    def update(self, state: State) -> None:
        """Serve `state` from now on; idle engines load it in the background. Any thread may
        call it (config reloads run in one)."""
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
            await _within(self._heavy.acquire(), deadline)
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
        if reply.get("exit") or engine.rss > self.limits.recycle_bytes:
            self._replace(engine, why="memory")
        else:
            self._checkin(engine)
        return reply, out

    async def close(self) -> None:
        """Stop every engine: idle ones by closing their stdin, the rest by a kill."""
        self._closed = True
        for task in list(self._tasks):
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
        await asyncio.gather(*(self._stop(engine) for engine in self._living))

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
        env = {**os.environ, MEMORY_ENV: str(self.limits.memory_bytes)}
        engine_input, requests = os.pipe2(os.O_CLOEXEC)
        replies, engine_output = os.pipe2(os.O_CLOEXEC)
        try:
            for end in (requests, replies):
                with contextlib.suppress(OSError):
                    fcntl.fcntl(end, fcntl.F_SETPIPE_SZ, PIPE_BYTES)
            process = await asyncio.create_subprocess_exec(
                sys.executable, "-m", __name__, stdin=engine_input, stdout=engine_output, env=env
            )
        except BaseException:
            os.close(requests)
            os.close(replies)
            raise
        finally:
            os.close(engine_input)
            os.close(engine_output)
        os.set_blocking(requests, False)
        os.set_blocking(replies, False)
        engine = _Engine(process, requests=requests, replies=replies)
        self._all.add(engine)
        self._living.add(engine)
        if self.state is not None:
            try:
                await engine.load(self.state, None)
            except BaseException:
                await self._stop(engine)
                raise
        return engine

    def _replace(self, engine: _Engine, *, why: str) -> None:
        engine.kill()
        self._all.discard(engine)
        self.replaced[why] = self.replaced.get(why, 0) + 1
        logger.warning("injection engine %s replaced (%s)", engine.process.pid, why)
        self._background(self._reap_and_respawn(engine))

    async def _reap_and_respawn(self, engine: _Engine) -> None:
        await engine.process.wait()
        self._living.discard(engine)
        while not self._closed:
            try:
                self._checkin(await self._spawn())
                return
            except Exception:
                logger.exception("starting an injection engine failed; trying again in 1 s")
                await asyncio.sleep(1)

    async def _refresh_idle(self, state: State) -> None:
        """Load `state` into each idle engine that lacks it, one at a time, while it is the
        state served; an engine taken meanwhile loads it itself."""
        for engine in list(self._idle):
            if self.state is not state:
                return
            if engine not in self._idle or engine.state is state:
                continue
            self._idle.remove(engine)
            try:
                await engine.load(state, None)
            except BaseException as err:
                self._replace(engine, why=_why(err))
                continue
            self._checkin(engine)

    def _background(self, work: Coroutine[Any, Any, None]) -> None:
        task = asyncio.get_running_loop().create_task(work)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def _stop(self, engine: _Engine) -> None:
        self._all.discard(engine)
        engine.close_input()
        try:
            await asyncio.wait_for(engine.process.wait(), 1.0)
        except TimeoutError:
            engine.kill()
            await engine.process.wait()
        self._living.discard(engine)


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
        return _Serving(current, State(current.recipe, kubelet_versions), cache)

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


if __name__ == "__main__":
    main()
