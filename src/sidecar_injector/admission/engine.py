"""The injection engine process, and the zygote engines are forked from.

A worker's *zygote* is a fork of the worker, made while the worker has one thread
(`forked_zygote`: it shares the worker's pages, the loaded config among them), or else
`python -m sidecar_injector.admission.engine`, which imports only the pipeline (`injection`: no
server, metrics or event loop). It loads the configs the worker sends and forks an engine for
each pair of pipe ends the worker sends it. An engine shares the
zygote's pages copy-on-write (the modules, the parsed config and its templates), so it costs
the memory it writes rather than a Python start and a config load; `gc.freeze()` before each
fork keeps the collector from writing to every object an engine inherits (nothing is unfrozen:
a config leaves no cycles behind, so what it held is still freed). The zygote stays
single-threaded, so forking it is safe. It reaps an engine only when the worker asks, after the
engine's reply pipe has closed: until then the engine's pid cannot name another process, so the
worker may kill it by pid (no pidfd, which old kernels and seccomp profiles lack).

Each engine answers frames (`frames`) on its two pipes, one at a time, with `Handler`, under
its own memory limit: RLIMIT_DATA at what it inherited plus the worker's `memory_bytes`, so that
every engine may allocate as much whatever its zygote holds.
"""

from __future__ import annotations

import contextlib
import gc
import os
import resource
import signal
import socket
import traceback
from collections.abc import Mapping
from dataclasses import dataclass
from typing import NoReturn

import orjson

from sidecar_injector import errors
from sidecar_injector.admission import injection
from sidecar_injector.admission.frames import (
    FIRST_READ_BYTES,
    Frame,
    FrameError,
    Head,
    Incoming,
    frame_parts,
    write_frame,
)
from sidecar_injector.config import JSON, Config, Recipe

MEMORY_ENV = "SIDECAR_INJECTOR_ENGINE_MEMORY"
"""How the worker tells the zygote each engine's memory limit (bytes)."""
MAX_DEPTH_MESSAGE = (
    "the pod is nested too deeply to be a Pod (JSON nested more than 254 levels); "
    "no Kubernetes object is that deep"
)
PAGE_BYTES = os.sysconf("SC_PAGE_SIZE")


@dataclass(frozen=True, slots=True)
class _Loaded:
    config: Config
    kubelet_versions: Mapping[str, str] | None


class Handler:
    """Answers frames with the config last loaded; never raises."""

    def __init__(self) -> None:
        self.loaded: _Loaded | None = None

    def adopt(self, config: Config, kubelet_versions: Mapping[str, str] | None) -> None:
        """Serve a config loaded already (the worker's, inherited by a fork)."""
        self.loaded = _Loaded(config, kubelet_versions)

    def answer(self, head: Head, blob: bytes) -> Frame:
        try:
            return self._answer(head, blob)
        except errors.InjectorError as err:
            reason = getattr(err, "reason", None) or type(err).__name__
            return {"error": str(err), "reason": reason}, b""
        except RecursionError:
            return {"error": MAX_DEPTH_MESSAGE, "reason": "tooDeep"}, b""
        except MemoryError:
            self.loaded = None
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
            self.loaded = None
            nodes = head.get("nodes")
            config = Recipe.from_json(head["recipe"]).load()
            self.loaded = _Loaded(config, dict(nodes) if nodes is not None else None)
            return {"ok": True}, b""
        loaded = self.loaded
        if loaded is None:
            return {"error": "no config loaded", "reason": "engineFailed"}, b""
        if op == "admit":
            pod = _decode(blob)
            if not isinstance(pod, dict):
                return {"error": "the pod is not a JSON object", "reason": "engineFailed"}, b""
            verdict = injection.admit(
                loaded.config,
                pod,
                namespace=head["namespace"],
                params=head["params"],
                kubelet_versions=loaded.kubelet_versions,
            )
            return {
                "inject": verdict.inject,
                "reason": verdict.reason,
                "message": verdict.message,
                "warnings": list(verdict.warnings),
                "patched": verdict.patch is not None,
            }, verdict.patch or b""
        if op == "validate":
            data = _decode(blob)
            if not isinstance(data, dict):
                return {"error": "the data is not a JSON object", "reason": "engineFailed"}, b""
            injection.validate(data, revision=loaded.config.revision)
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
    `ru_maxrss`: Linux carries the peak over `fork` and `execve`, so a new engine would report
    the peak of the process that started it."""
    try:
        pages = int(os.pread(statm, 128, 0).split()[1])
    except (OSError, IndexError, ValueError):
        return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024
    return pages * PAGE_BYTES


def data_bytes() -> int:
    """The size of this process's data segments (VmData), what RLIMIT_DATA bounds."""
    with open("/proc/self/status", "rb") as status:
        for line in status:
            if line.startswith(b"VmData:"):
                return int(line.split()[1]) * 1024
    raise OSError("no VmData in /proc/self/status")


def serve(handler: Handler, *, requests: int, replies: int) -> None:
    """Answer frames from `requests` on `replies` until the pipe closes or an answer says to
    exit. Each answer carries `grown`, the resident memory the engine gained since it started,
    for the worker to recycle it: what it inherited from the zygote (and the zygote from the
    worker) is shared and not its own."""
    statm = os.open("/proc/self/statm", os.O_RDONLY | os.O_CLOEXEC)
    start = resident_bytes(statm)
    incoming = Incoming()
    while True:
        try:
            frame = incoming.read(requests)
        except (EOFError, FrameError):
            return
        if frame is None:
            continue
        head, blob = handler.answer(*frame)
        head["grown"] = resident_bytes(statm) - start
        write_frame(replies, head, blob)
        if head.get("exit"):
            return


class Zygote:
    """Loads configs and forks engines, as the worker asks on `control` (a Unix stream socket).

    Requests are frames: `{"op": "load", ...}` (`Handler`'s), `{"op": "spawn"}` with the
    engine's two pipe ends attached (SCM_RIGHTS), answered `{"pid": n}`, and
    `{"op": "reap", "pid": n}`, answered `{"status": exit status}`.
    """

    def __init__(self, control: socket.socket, *, memory_bytes: int) -> None:
        self.control = control
        self.memory_bytes = memory_bytes
        self.handler = Handler()
        self.engines: set[int] = set()

    def serve(self) -> None:
        """Until the worker closes its end."""
        incoming = Incoming()
        received: list[int] = []
        while True:
            try:
                chunk, fds, _, _ = socket.recv_fds(self.control, FIRST_READ_BYTES, 2)
                received.extend(fds)
                frame = incoming.feed(chunk)
            except (EOFError, FrameError, OSError):
                return
            if frame is None:
                continue
            head, blob = frame
            attached, received = received, []
            if head.get("op") == "spawn":
                reply = self._spawn(attached)
            else:
                _close(attached)
                reply = self._reap(head) if head.get("op") == "reap" else self._load(head, blob)
            try:
                self.control.sendall(b"".join(frame_parts(reply, b"")))
            except OSError:
                return

    def _load(self, head: Head, blob: bytes) -> Head:
        if head.get("op") != "load":
            return {"error": f"unknown operation {head.get('op')!r}", "reason": "engineFailed"}
        return self.handler.answer(head, blob)[0]

    def _spawn(self, fds: list[int]) -> Head:
        if len(fds) != 2:
            _close(fds)
            return {"error": "an engine needs two pipe ends", "reason": "engineFailed"}
        gc.collect()
        gc.freeze()
        try:
            pid = os.fork()
        except OSError as err:
            _close(fds)
            return {"error": f"cannot fork an engine: {err}", "reason": "engineFailed"}
        if pid == 0:
            self._engine(*fds)
        _close(fds)
        self.engines.add(pid)
        return {"pid": pid}

    def _reap(self, head: Head) -> Head:
        pid = head.get("pid")
        if not isinstance(pid, int) or pid not in self.engines:
            return {"error": f"{pid!r} is not an engine of this zygote", "reason": "engineFailed"}
        self.engines.discard(pid)
        _, status = os.waitpid(pid, 0)
        return {"status": os.waitstatus_to_exitcode(status)}

    def _engine(self, requests: int, replies: int) -> NoReturn:
        """The forked engine: serves, then exits without returning into the zygote's loop."""
        code = 1
        try:
            self.control.close()
            if self.memory_bytes > 0:
                limit = data_bytes() + self.memory_bytes
                resource.setrlimit(resource.RLIMIT_DATA, (limit, limit))
            serve(self.handler, requests=requests, replies=replies)
            code = 0
        except BaseException:
            traceback.print_exc()
        finally:
            os._exit(code)


def _close(fds: list[int]) -> None:
    for fd in fds:
        os.close(fd)


def forked_zygote(
    control: socket.socket,
    *,
    memory_bytes: int,
    config: Config | None,
    kubelet_versions: Mapping[str, str] | None,
) -> NoReturn:
    """The zygote as a fork of the worker (the worker froze its objects before forking).

    The worker's objects stay frozen here: never scanned, so their pages stay shared, and
    never collected, so no finalizer closes a descriptor number that is now another's. Every
    descriptor but stdio and `control` is closed; the worker's signal handling is undone.
    """
    code = 1
    try:
        signal.set_wakeup_fd(-1)
        signal.signal(signal.SIGCHLD, signal.SIG_DFL)
        _close_inherited(keep=control.fileno())
        zygote = _zygote(control, memory_bytes)
        if config is not None:
            zygote.handler.adopt(config, kubelet_versions)
        zygote.serve()
        code = 0
    except BaseException:
        traceback.print_exc()
    finally:
        os._exit(code)


def _close_inherited(*, keep: int) -> None:
    for name in os.listdir("/proc/self/fd"):
        fd = int(name)
        if fd > 2 and fd != keep:
            with contextlib.suppress(OSError):
                os.close(fd)


def _zygote(control: socket.socket, memory_bytes: int) -> Zygote:
    """Signals are the worker's business (it drains, then closes the socket); stray prints go
    to stderr."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    signal.signal(signal.SIGTERM, signal.SIG_IGN)
    os.dup2(2, 1)
    return Zygote(control, memory_bytes=memory_bytes)


def main() -> None:
    """The zygote as a new interpreter: its control socket is stdin."""
    control = socket.socket(fileno=0)
    _zygote(control, int(os.environ.get(MEMORY_ENV, "0"))).serve()


if __name__ == "__main__":
    main()
