"""Injection engines: real child processes, deadlines that kill them, and their replacement."""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
import struct
import sys
import threading
import time
from collections.abc import AsyncIterator
from importlib import resources
from typing import Any

import orjson
import pytest

from sidecar_injector import config
from sidecar_injector.admission import engines, pipeline
from tests.unit.test_review import a_pod

pytestmark = pytest.mark.anyio


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


@pytest.fixture(scope="module")
def default_config() -> config.Config:
    return config.load_default()


def big_pod(containers: int) -> dict[str, Any]:
    """A pod whose injection takes a while: many containers with many env vars."""
    env = [{"name": f"V{i}", "value": "x" * 20} for i in range(200)]
    return {
        "kind": "Pod",
        "metadata": {"name": "big"},
        "spec": {"containers": [{"name": f"c{i}", "env": env} for i in range(containers)]},
    }


def soon(seconds: float = 60.0) -> float:
    """A deadline; the default leaves room for an engine to start on a loaded machine."""
    return time.monotonic() + seconds


@contextlib.asynccontextmanager
async def pooled(
    current: config.Config, **limits: Any
) -> AsyncIterator[tuple[engines.Pool, engines.IsolatedPipeline]]:
    """A started pool of real engine processes (no replica cache), closed afterwards."""
    pool = engines.Pool(engines.Limits(**limits))
    work = engines.IsolatedPipeline(current, engines=pool, cache_entries=0)
    await work.start()
    try:
        yield pool, work
    finally:
        await work.close()


async def admit(work: engines.IsolatedPipeline, pod: dict[str, Any], **kw: Any) -> Any:
    return await work.admit(pod, namespace="shop", params={}, deadline=kw.get("deadline", soon()))


async def test_an_engine_answers_as_the_pipeline_does(default_config: config.Config) -> None:
    async with pooled(default_config, engines=1) as (_, work):
        answer = await admit(work, a_pod(name="p"))
    expected = pipeline.InjectionPipeline(default_config, cache_entries=0).admit(
        a_pod(name="p"), namespace="shop", params={}
    )
    assert answer == expected
    assert answer.patch is not None


async def test_past_its_deadline_the_engine_is_killed_and_replaced(
    default_config: config.Config,
) -> None:
    async with pooled(default_config, engines=1) as (pool, work):
        (first,) = pool._all
        with pytest.raises(engines.DeadlineExceeded):
            await admit(work, big_pod(300), deadline=soon(0.05))
        assert pool.replaced == {"deadline": 1}
        assert await asyncio.wait_for(first.process.wait(), 5) == -signal.SIGKILL
        answer = await admit(work, a_pod(name="after"))
        assert answer.patch is not None
        assert first not in pool._all


async def test_an_engine_that_died_idle_is_replaced_before_use(
    default_config: config.Config,
) -> None:
    async with pooled(default_config, engines=1) as (pool, work):
        (first,) = pool._all
        os.kill(first.process.pid, signal.SIGKILL)
        await first.process.wait()
        answer = await admit(work, a_pod(name="p"))
        assert answer.patch is not None
        assert pool.replaced == {"died": 1}


async def test_an_engine_that_dies_mid_admission_fails_that_one(
    default_config: config.Config,
) -> None:
    async with pooled(default_config, engines=1) as (pool, work):
        (first,) = pool._all
        slow = asyncio.ensure_future(admit(work, big_pod(300)))
        await asyncio.sleep(0.1)
        os.kill(first.process.pid, signal.SIGKILL)
        with pytest.raises(engines.EngineFailed, match="engine stopped during the admission"):
            await slow
        assert (await admit(work, a_pod(name="p"))).patch is not None


async def test_a_pod_past_the_engines_memory_limit_fails_alone(
    default_config: config.Config,
) -> None:
    async with pooled(default_config, engines=1, memory_bytes=200 * 1024 * 1024) as (_, work):
        with pytest.raises(engines.Refused, match="more memory than an engine may use"):
            await admit(work, big_pod(3000), deadline=soon(60))
        assert (await admit(work, a_pod(name="after"))).patch is not None


async def test_a_server_that_grew_does_not_make_new_engines_look_big(
    default_config: config.Config,
) -> None:
    """Linux keeps `ru_maxrss` across execve: engines measure what they hold now instead."""
    ballast = b"x" * (200 * 1024 * 1024)
    async with pooled(default_config, engines=1) as (pool, work):
        assert (await admit(work, a_pod(name="p"))).patch is not None
        assert pool.replaced == {}
    assert len(ballast) == 200 * 1024 * 1024


async def test_an_engine_past_its_memory_peak_is_recycled(default_config: config.Config) -> None:
    async with pooled(default_config, engines=1, recycle_bytes=1) as (pool, work):
        await admit(work, a_pod(name="p"))
        assert pool.replaced == {"memory": 1}
        assert (await admit(work, a_pod(name="q"))).patch is not None


async def test_a_new_config_reaches_every_engine(default_config: config.Config) -> None:
    disabled = config.load(config="policy: disabled\ntemplates:\n  sidecar: |\n    spec: {}\n")
    async with pooled(default_config, engines=2) as (_, work):
        assert (await admit(work, a_pod(name="p"))).inject
        work.swap(disabled)
        answers = await asyncio.gather(*(admit(work, a_pod(name=f"p{i}")) for i in range(4)))
        assert {a.inject for a in answers} == {False}


async def test_validate_runs_in_an_engine(default_config: config.Config) -> None:
    async with pooled(default_config, engines=1) as (_, work):
        values = (resources.files("sidecar_injector") / "defaults/values.yaml").read_text()
        await work.validate({"values": values}, deadline=soon())
        with pytest.raises(engines.Refused, match="not valid YAML"):
            await work.validate({"values": "a: [\n"}, deadline=soon())
        with pytest.raises(engines.Refused, match="fails for the canonical plain pod"):
            await work.validate({"values": "global: {}\n"}, deadline=soon())


async def test_a_busy_pool_refuses_at_the_deadline(default_config: config.Config) -> None:
    async with pooled(default_config, engines=1) as (_, work):
        slow = asyncio.ensure_future(admit(work, big_pod(300), deadline=soon(5)))
        await asyncio.sleep(0.05)
        with pytest.raises(engines.DeadlineExceeded, match="no injection engine was free"):
            await admit(work, a_pod(name="waits"), deadline=soon(0.05))
        assert (await slow).patch is not None


async def test_large_pods_leave_an_engine_to_the_others(default_config: config.Config) -> None:
    async with pooled(default_config, engines=2) as (_, work):
        heavy = [asyncio.ensure_future(admit(work, big_pod(300))) for _ in range(3)]
        await asyncio.sleep(0.05)
        ordinary = await admit(work, a_pod(name="ordinary"))
        assert ordinary.patch is not None
        assert not all(task.done() for task in heavy)
        assert all(answer.patch is not None for answer in await asyncio.gather(*heavy))


async def test_a_pod_too_deep_to_encode_is_refused_in_the_server(
    default_config: config.Config,
) -> None:
    deep: Any = "x"
    for _ in range(300):
        deep = {"a": deep}
    pod = a_pod(name="deep", labels=deep)
    work = engines.inline(default_config)
    with pytest.raises(engines.Refused, match="nested too deeply"):
        await admit(work, pod)


async def test_the_cache_answers_before_any_engine(default_config: config.Config) -> None:
    class Counting(engines.Inline):
        calls = 0

        async def run(
            self, head: Any, blob: bytes, *, state: Any, deadline: float, heavy: bool = False
        ) -> Any:
            Counting.calls += 1
            return await super().run(head, blob, state=state, deadline=deadline, heavy=heavy)

    work = engines.IsolatedPipeline(default_config, engines=Counting())
    first = await admit(work, a_pod(name="same"))
    again = await admit(work, a_pod(name="same"))
    assert first == again
    assert Counting.calls == 1


def test_a_frame_split_across_reads_is_read_whole() -> None:
    blob = bytes(range(256)) * 400
    data = b"".join(engines.frame_parts({"op": "admit", "n": 1}, blob))
    incoming = engines.Incoming()
    ours, theirs = os.pipe()
    try:
        cuts = (3, 20, 60_000, len(data))
        answers = []
        for start, end in zip((0, *cuts), cuts, strict=False):
            os.write(theirs, data[start:end])
            answers.append(incoming.read(ours))
        assert answers[:-1] == [None] * (len(cuts) - 1)
        assert answers[-1] == ({"op": "admit", "n": 1}, blob)
        os.close(theirs)
        with pytest.raises(EOFError):
            incoming.read(ours)
    finally:
        os.close(ours)


def test_a_frame_over_the_limit_or_a_second_frame_breaks_the_protocol() -> None:
    frame = b"".join(engines.frame_parts({"op": "admit"}, b"pod"))
    ours, theirs = os.pipe()
    try:
        os.write(theirs, frame + frame)
        with pytest.raises(engines.FrameError, match="second frame"):
            engines.Incoming().read(ours)
        os.write(theirs, struct.pack(">II", 10, engines.MAX_FRAME_BYTES))
        with pytest.raises(engines.FrameError, match="more than"):
            engines.Incoming().read(ours)
    finally:
        os.close(ours)
        os.close(theirs)


def test_a_frame_larger_than_a_pipe_crosses_a_blocking_pipe() -> None:
    blob = os.urandom(3 * 1024 * 1024)
    ours, theirs = os.pipe()
    incoming = engines.Incoming()
    frames: list[Any] = []

    def reader() -> None:
        while (frame := incoming.read(ours)) is None:
            pass
        frames.append(frame)

    thread = threading.Thread(target=reader)
    thread.start()
    try:
        engines.write_frame(theirs, {"op": "admit"}, blob)
    finally:
        thread.join(30)
        os.close(ours)
        os.close(theirs)
    assert frames == [({"op": "admit"}, blob)]


def test_only_unwritten_parts_are_sent_again() -> None:
    parts = engines.frame_parts({"a": 1}, b"0123456789")
    whole = b"".join(parts)
    for written in range(len(whole) + 1):
        assert b"".join(engines.unwritten(parts, written)) == whole[written:]


async def fake_engine(script: str) -> engines._Engine:
    """An `_Engine` around a Python script standing in for a real engine."""
    engine_input, requests = os.pipe2(os.O_CLOEXEC)
    replies, engine_output = os.pipe2(os.O_CLOEXEC)
    process = await asyncio.create_subprocess_exec(
        sys.executable, "-c", script, stdin=engine_input, stdout=engine_output
    )
    os.close(engine_input)
    os.close(engine_output)
    os.set_blocking(requests, False)
    os.set_blocking(replies, False)
    return engines._Engine(process, requests=requests, replies=replies)


HALF_A_FRAME = """
import os, struct, sys
os.read(0, 1 << 16)
os.write(1, struct.pack(">II", 2, 100) + b"{}" + b"x" * 10)
"""
NONSENSE = """
import os, struct, sys, time
os.read(0, 1 << 16)
os.write(1, struct.pack(">II", 2, 1 << 30))
time.sleep(60)
"""


async def test_an_engine_that_dies_mid_frame_fails_the_call() -> None:
    engine = await fake_engine(HALF_A_FRAME)
    try:
        with pytest.raises(engines.EngineFailed, match="engine stopped during the admission"):
            await engine.call({"op": "admit"}, b"{}", soon())
        assert not engine.usable
    finally:
        engine.kill()
        await engine.process.wait()


async def test_an_engine_that_answers_nonsense_fails_the_call() -> None:
    engine = await fake_engine(NONSENSE)
    try:
        with pytest.raises(engines.EngineFailed, match="answered nonsense"):
            await engine.call({"op": "admit"}, b"{}", soon())
        assert not engine.usable
    finally:
        engine.kill()
        assert await engine.process.wait() == -signal.SIGKILL


async def test_a_pod_larger_than_a_pipe_crosses_in_pieces(default_config: config.Config) -> None:
    pod = big_pod(120)
    assert len(orjson.dumps(pod)) > engines.PIPE_BYTES
    async with pooled(default_config, engines=1, recycle_bytes=1 << 40) as (pool, work):
        answer = await admit(work, pod)
        assert pool.replaced == {}
    expected = pipeline.InjectionPipeline(default_config, cache_entries=0).admit(
        pod, namespace="shop", params={}
    )
    assert answer == expected
    assert answer.patch is not None


async def test_waiting_admissions_get_engines_in_order(default_config: config.Config) -> None:
    async with pooled(default_config, engines=1) as (pool, work):
        answers = await asyncio.gather(*(admit(work, a_pod(name=f"p{i}")) for i in range(6)))
        assert [a.patch is not None for a in answers] == [True] * 6
        assert pool.replaced == {}
        assert pool.check().detail.startswith("1 of 1 in service, 1 idle")


async def test_an_admission_cancelled_while_waiting_leaves_the_engine_to_others(
    default_config: config.Config,
) -> None:
    async with pooled(default_config, engines=1) as (pool, work):
        slow = asyncio.ensure_future(admit(work, big_pod(100)))
        await asyncio.sleep(0.05)
        waiting = asyncio.ensure_future(admit(work, a_pod(name="gives up")))
        await asyncio.sleep(0.05)
        waiting.cancel()
        assert (await slow).patch is not None
        assert (await admit(work, a_pod(name="next"))).patch is not None
        assert pool.replaced == {}


async def test_readiness_says_how_many_engines_serve(default_config: config.Config) -> None:
    async with pooled(default_config, engines=2) as (pool, work):
        ready = work.check()
        assert ready.ok
        assert ready.detail.startswith("2 of 2 in service")
    assert not pool.check().ok
