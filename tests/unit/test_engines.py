"""Injection engines: real child processes, deadlines that kill them, and their replacement."""

from __future__ import annotations

import asyncio
import contextlib
import gc
import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import AsyncIterator
from importlib import resources
from pathlib import Path
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


FORKING = "SIDECAR_INJECTOR_TEST_FORKED_ZYGOTES"
"""Set in the pytest that `test_zygotes_forked_from_the_test_process` starts."""


@pytest.fixture(autouse=True)
def zygote_from(monkeypatch: pytest.MonkeyPatch) -> str:
    """Pools here start their zygote as a new interpreter: this test process may have threads
    (pytest-xdist's), and a zygote is forked only from a single-threaded worker. The run that
    `test_zygotes_forked_from_the_test_process` starts forks them."""
    if os.environ.get(FORKING):
        return "fork"
    monkeypatch.setattr(engines, "_single_threaded", lambda: False)
    return "exec"


def test_zygotes_forked_from_the_test_process() -> None:
    """This module's tests again in a new single-threaded pytest, whose pools fork their
    zygote from it, as `serve` does from a worker that has just started."""
    if os.environ.get(FORKING):
        pytest.skip("this is the run with forked zygotes")
    command = [sys.executable, "-m", "pytest", "-q", "-x", "-p", "no:cacheprovider"]
    command += ["-p", "no:xdist", "-W", "error", __file__]
    run = subprocess.run(
        command, env={**os.environ, FORKING: "1"}, capture_output=True, timeout=600
    )
    assert run.returncode == 0, run.stdout.decode()[-4000:]


@pytest.fixture(scope="module")
def default_config() -> config.Config:
    return config.load_default()


SLOW = 1000
"""Containers of a `big_pod` whose injection keeps an engine busy for tenths of a second."""


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


async def busy(pool: engines.Pool) -> None:
    """Until no engine is idle."""
    for _ in range(500):
        if not pool._idle:
            return
        await asyncio.sleep(0.01)
    raise AssertionError("an engine stayed idle")


async def overrun(pool: engines.Pool) -> None:
    """An admission whose deadline passes while an engine works on it (the pod is encoded
    before the deadline starts)."""
    assert pool.state is not None
    body = orjson.dumps(big_pod(SLOW))
    head: dict[str, Any] = {"op": "admit", "namespace": "shop", "params": {}}
    with pytest.raises(engines.DeadlineExceeded, match="did not finish before its deadline"):
        await pool.run(head, body, state=pool.state, deadline=soon(0.05))


@contextlib.asynccontextmanager
async def pooled(
    current: config.Config, **limits: Any
) -> AsyncIterator[tuple[engines.Pool, engines.IsolatedPipeline]]:
    """A started pool of real engine processes (no replica cache), closed afterwards."""
    if os.environ.get(FORKING):
        await single_threaded()
    pool = engines.Pool(engines.Limits(**limits))
    work = engines.IsolatedPipeline(current, engines=pool, cache_entries=0)
    await work.start()
    try:
        forked = isinstance(pool._zygote and pool._zygote.process, engines._Forked)
        assert forked == bool(os.environ.get(FORKING)), "the zygote is forked in the forked run"
        yield pool, work
    finally:
        await work.close()


async def single_threaded() -> None:
    """Until this process runs one thread again: the thread asyncio waits for a subprocess's
    exit with (`fake_engine`) ends a moment after the exit is reported, and a pool forks its
    zygote only from a single-threaded process (on a loaded machine the next test came first)."""
    for _ in range(500):
        if engines._single_threaded():
            return
        await asyncio.sleep(0.01)


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
        await overrun(pool)
        assert pool.replaced == {"deadline": 1}
        await asyncio.wait_for(first.wait(), 5)
        assert not first.running
        answer = await admit(work, a_pod(name="after"))
        assert answer.patch is not None
        assert first not in pool._all
        assert await reaped(first.pid)


async def test_an_engine_that_died_idle_is_replaced_before_use(
    default_config: config.Config,
) -> None:
    async with pooled(default_config, engines=1) as (pool, work):
        (first,) = pool._all
        os.kill(first.pid, signal.SIGKILL)
        await first.wait()
        answer = await admit(work, a_pod(name="p"))
        assert answer.patch is not None
        assert pool.replaced == {"died": 1}


async def test_an_engine_that_dies_mid_admission_fails_that_one(
    default_config: config.Config,
) -> None:
    async with pooled(default_config, engines=1) as (pool, work):
        (first,) = pool._all
        slow = asyncio.ensure_future(admit(work, big_pod(SLOW)))
        await busy(pool)
        await asyncio.sleep(0.05)
        os.kill(first.pid, signal.SIGKILL)
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
    """Engines measure what they gained since they started: not `ru_maxrss`, which Linux keeps
    across execve, nor what a fork inherited."""
    ballast = b"x" * (200 * 1024 * 1024)
    async with pooled(default_config, engines=1) as (pool, work):
        assert (await admit(work, a_pod(name="p"))).patch is not None
        assert pool.replaced == {}
    assert len(ballast) == 200 * 1024 * 1024


async def test_an_engine_past_its_memory_peak_is_recycled(default_config: config.Config) -> None:
    async with pooled(default_config, engines=1, recycle_bytes=1024 * 1024) as (pool, work):
        await admit(work, big_pod(100))
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
    async with pooled(default_config, engines=1) as (pool, work):
        slow = asyncio.ensure_future(admit(work, big_pod(SLOW), deadline=soon(30)))
        await busy(pool)
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


@contextlib.asynccontextmanager
async def fake_engine(script: str) -> AsyncIterator[engines._Engine]:
    """An `_Engine` around a Python script standing in for a real engine, killed afterwards."""
    engine_input, requests = os.pipe2(os.O_CLOEXEC)
    replies, engine_output = os.pipe2(os.O_CLOEXEC)
    process = await asyncio.create_subprocess_exec(
        sys.executable, "-c", script, stdin=engine_input, stdout=engine_output
    )
    os.close(engine_input)
    os.close(engine_output)
    os.set_blocking(requests, False)
    os.set_blocking(replies, False)
    engine = engines._Engine(process.pid, requests=requests, replies=replies)
    try:
        yield engine
    finally:
        engine.kill()
        await process.wait()
        await engine.wait()


HALF_A_FRAME = """
import os, struct, sys
os.read(0, 1 << 16)
os.write(1, struct.pack(">II", 2, 100) + b"{}" + b"x" * 10)
"""
SILENT = """
import os, time
os.read(0, 1 << 16)
time.sleep(60)
"""
NONSENSE = """
import os, struct, sys, time
os.read(0, 1 << 16)
os.write(1, struct.pack(">II", 2, 1 << 30))
time.sleep(60)
"""


async def test_an_engine_that_dies_mid_frame_fails_the_call() -> None:
    async with fake_engine(HALF_A_FRAME) as engine:
        with pytest.raises(engines.EngineFailed, match="engine stopped during the admission"):
            await engine.call({"op": "admit"}, b"{}", soon())
        assert not engine.usable


async def test_an_engine_that_answers_nonsense_fails_the_call() -> None:
    async with fake_engine(NONSENSE) as engine:
        with pytest.raises(engines.EngineFailed, match="answered nonsense"):
            await engine.call({"op": "admit"}, b"{}", soon())
        assert not engine.usable
        assert engine.running


async def test_past_its_deadline_a_call_fails_and_the_engine_runs_until_killed() -> None:
    async with fake_engine(SILENT) as engine:
        with pytest.raises(engines.DeadlineExceeded):
            await engine.call({"op": "admit"}, b"{}", soon(0.05))
        assert engine.running
        engine.kill()
        await asyncio.wait_for(engine.wait(), 5)
        assert not engine.running


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
        slow = asyncio.ensure_future(admit(work, big_pod(SLOW)))
        await busy(pool)
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


async def reaped(pid: int) -> bool:
    """Whether the process is gone, zombie and all, within a few seconds."""
    for _ in range(100):
        if not Path(f"/proc/{pid}").exists():
            return True
        await asyncio.sleep(0.05)
    return False


def parent_of(pid: int) -> int:
    return int(Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[1])


async def test_engines_are_forked_from_one_zygote(default_config: config.Config) -> None:
    async with pooled(default_config, engines=2) as (pool, work):
        assert (await admit(work, a_pod(name="p"))).patch is not None
        zygote = pool._zygote
        assert zygote is not None
        assert parent_of(zygote.process.pid) == os.getpid()
        assert {parent_of(engine.pid) for engine in pool._all} == {zygote.process.pid}


def proportional_mb(pid: int) -> float:
    text = Path(f"/proc/{pid}/smaps_rollup").read_text()
    return int(text.split("\nPss:")[1].split()[0]) / 1024


async def test_the_workers_collections_leave_the_pages_it_shares_with_its_zygote(
    default_config: config.Config,
) -> None:
    """A full collection in the worker (here, this test process) must not write to the
    objects a forked zygote shares with it: it would copy every page of them (17 MB of a
    worker's tree; more here, with pytest's modules)."""
    if not os.environ.get(FORKING):
        pytest.skip("a zygote forked from this process: the forked run")
    async with pooled(default_config, engines=1) as (pool, _):
        assert pool._zygote is not None
        tree = (os.getpid(), pool._zygote.process.pid)
        before = sum(map(proportional_mb, tree))
        gc.collect()
        after = sum(map(proportional_mb, tree))
        assert after - before < 4.0, f"PSS {before:.1f} -> {after:.1f} MB"


def test_the_engine_side_imports_nothing_of_the_server() -> None:
    server_side = ("asyncio", "prometheus_client", "uvicorn", "sidecar_injector.admission.app")
    script = (
        "import sys, sidecar_injector.admission.engine as e; "
        f"print([m for m in {server_side!r} if m in sys.modules])"
    )
    found = subprocess.run([sys.executable, "-c", script], capture_output=True, check=True)
    assert found.stdout.strip() == b"[]"


async def test_a_zygote_that_stopped_is_replaced_when_an_engine_is_needed(
    default_config: config.Config,
) -> None:
    async with pooled(default_config, engines=1) as (pool, work):
        first = pool._zygote
        assert first is not None
        os.kill(first.process.pid, signal.SIGKILL)
        await first.process.wait()
        await overrun(pool)
        assert (await admit(work, a_pod(name="after"))).patch is not None
        assert pool._zygote is not first
        assert pool.replaced == {"deadline": 1}


async def test_a_question_to_the_zygote_abandoned_midway_retires_it(
    default_config: config.Config,
) -> None:
    """Its answer would otherwise be read as the answer to the next question (a reap took a
    load's `{"ok": true}` when closing a pool cancelled the load)."""
    async with pooled(default_config, engines=1) as (pool, work):
        first = pool._zygote
        assert first is not None and pool.state is not None
        asking = asyncio.ensure_future(first.load(pool.state))
        await asyncio.sleep(0)
        asking.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await asking
        assert not first.usable
        assert await pool._ready_zygote() is not first
        assert (await admit(work, a_pod(name="after"))).patch is not None


async def test_a_new_config_renews_idle_engines_from_the_zygote(
    default_config: config.Config,
) -> None:
    disabled = config.load(config="policy: disabled\ntemplates:\n  sidecar: |\n    spec: {}\n")
    async with pooled(default_config, engines=2) as (pool, work):
        old = pool.state
        before = {engine.pid for engine in pool._all}
        work.swap(disabled)
        for _ in range(400):
            renewed = [e for e in pool._idle if e.state is not old]
            if pool.state is not old and len(renewed) == 2:
                break
            await asyncio.sleep(0.05)
        assert pool._zygote is not None and pool._zygote.state is pool.state
        assert {engine.pid for engine in pool._all}.isdisjoint(before)
        assert not (await admit(work, a_pod(name="p"))).inject
        assert pool.replaced == {}


async def test_the_zygote_reaps_only_its_own_engines(default_config: config.Config) -> None:
    async with pooled(default_config, engines=1) as (pool, _):
        assert pool._zygote is not None
        with pytest.raises(engines.EngineFailed, match="not an engine of this zygote"):
            await pool._zygote.reap(os.getpid())
        assert pool._zygote.usable


async def test_a_forked_zygote_keeps_no_descriptor_of_the_worker(
    default_config: config.Config,
) -> None:
    with socket.socket() as held:
        inode = f"socket:[{os.fstat(held.fileno()).st_ino}]"
        async with pooled(default_config, engines=1) as (pool, work):
            assert (await admit(work, a_pod(name="p"))).patch is not None
            zygote = pool._zygote
            assert zygote is not None
            if isinstance(zygote.process, engines._Forked):
                assert zygote.state is pool.state, "it adopted the worker's loaded config"
            (engine,) = pool._all
            for pid in (zygote.process.pid, engine.pid):
                fds = os.listdir(f"/proc/{pid}/fd")
                assert inode not in [os.readlink(f"/proc/{pid}/fd/{fd}") for fd in fds]
