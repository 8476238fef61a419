"""A real `sidecar-injector serve` over TLS, attacked while a normal client creates pods.

Each test runs one attack of `attacks.ATTACKS` beside the normal client (a new pod every 200 ms,
3 s timeout) and asserts what the attacker was answered and that the normal client lost
nothing. Timings are bench/abuse.py's business, not these tests'.
"""

from __future__ import annotations

import asyncio
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Awaitable, Callable, Iterator
from dataclasses import dataclass
from importlib import resources
from pathlib import Path
from typing import Any

import pytest

from tests.hostile import attacks
from tests.hostile.attacks import Seen, Target

pytestmark = pytest.mark.timeout(180)


@dataclass
class Served:
    target: Target
    process: subprocess.Popen[bytes]
    config: Path
    log: Path


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


def start(directory: Path, *extra: str) -> Served:
    config = directory / "config.yaml"
    shutil.copy(Path(str(resources.files("sidecar_injector") / "defaults/config.yaml")), config)
    port = free_port()
    log = directory / "serve.log"
    binary = Path(sys.executable).with_name("sidecar-injector")
    with log.open("wb") as stderr:
        process = subprocess.Popen(
            [
                *(str(binary), "serve", "--port", str(port)),
                *("--state-dir", str(directory / "state"), "--inject-config", str(config)),
                *("--reload-interval", "0.2", "--cache-entries", "0"),
                *("--header-timeout", "2", "--body-timeout", "2", *extra),
            ],
            stdout=subprocess.DEVNULL,
            stderr=stderr,
        )
    deadline = time.monotonic() + 60
    while not (directory / "state/ca.crt").exists() or b"startup complete" not in log.read_bytes():
        assert process.poll() is None, log.read_text()
        assert time.monotonic() < deadline, log.read_text()
        time.sleep(0.05)
    return Served(Target("127.0.0.1", port, str(directory / "state/ca.crt")), process, config, log)


def stop(served: Served) -> None:
    served.process.send_signal(signal.SIGTERM)
    try:
        served.process.wait(30)
    except subprocess.TimeoutExpired:
        served.process.kill()
        served.process.wait()


@pytest.fixture(scope="module")
def served(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Served]:
    running = start(tmp_path_factory.mktemp("hostile"))
    try:
        yield running
    finally:
        stop(running)


def under_attack(
    served: Served, attack: Callable[[Target], Awaitable[Seen]]
) -> tuple[Seen, attacks.Normal]:
    async def attacking() -> Seen:
        await asyncio.sleep(0.5)
        seen = await attack(served.target)
        await asyncio.sleep(0.3)
        return seen

    client = attacks.NormalProcess(served.target)
    try:
        client.wait_injecting()
        seen = asyncio.run(attacking())
    finally:
        normal = client.finish()
    assert normal.lost == [], normal.lost
    assert normal.injected >= 2
    assert served.process.poll() is None, served.log.read_text()[-3000:]
    return seen, normal


def denied(answer: Any) -> str:
    assert isinstance(answer, dict), answer
    assert answer["allowed"] is False, answer
    message: str = answer["status"]["message"]
    return message


def test_alias_bombs_in_an_annotation_are_denied(served: Served) -> None:
    seen, _ = under_attack(served, attacks.alias_bomb_annotation)
    for answer in seen.answers:
        message = denied(answer)
        assert "proxy.istio.io/config" in message
        assert "alias" in message


def test_an_alias_bomb_in_values_is_refused_by_validate(served: Served) -> None:
    seen, _ = under_attack(served, attacks.alias_bomb_validate)
    (answer,) = seen.answers
    assert "alias" in denied(answer)


def test_distinct_large_templates_are_each_answered(served: Served) -> None:
    seen, _ = under_attack(
        served, lambda target: attacks.distinct_templates_validate(target, count=6)
    )
    assert all(isinstance(a, dict) and "allowed" in a for a in seen.answers), seen.answers


def test_oversized_heads_are_refused(served: Served) -> None:
    seen, _ = under_attack(served, lambda target: attacks.huge_header(target, mib=8))
    assert seen.answers in ([431], [0])
    seen, _ = under_attack(served, attacks.many_headers)
    assert seen.answers == [431]


def test_half_sent_requests_are_closed(served: Served) -> None:
    seen, _ = under_attack(
        served, lambda target: attacks.slowloris(target, connections=200, hold=10)
    )
    assert "held" not in seen.answers
    assert set(seen.answers) <= {408, 503, 0}


def test_no_annotation_or_name_adds_a_field(served: Served) -> None:
    seen, _ = under_attack(served, attacks.smuggling)
    for obj, answer in zip(attacks.smuggling_pods(), seen.answers, strict=True):
        assert isinstance(answer, dict), answer
        if not answer["allowed"]:
            continue
        for op in attacks.patch_of(answer):
            assert "command" not in str(op["value"]) or op["path"] != "/spec/containers/1", obj
            value = op["value"]
            containers = value.get("containers", []) if isinstance(value, dict) else []
            proxies = [c for c in containers if c.get("name") == "istio-proxy"]
            if op["path"] == "/spec/containers/-" or op["path"].startswith("/spec/containers/"):
                proxies += [value] if isinstance(value, dict) and value.get("name") else []
            for proxy in proxies:
                assert "command" not in proxy, proxy
                assert "y" not in proxy, proxy
    logs = [a for a in seen.answers[:2] if not a["allowed"]]
    for answer in logs:
        assert "LogLevel" in denied(answer) or "logLevel" in denied(answer)


def test_deep_nesting_is_a_clear_denial(served: Served) -> None:
    seen, _ = under_attack(served, attacks.deep_json)
    for answer in seen.answers:
        message = denied(answer)
        assert "internal error" not in message
        assert "nested" in message or "not valid JSON" in message


def test_a_large_bad_value_is_not_echoed_in_full(served: Served) -> None:
    seen, _ = under_attack(served, attacks.big_invalid_annotation)
    (answer,) = seen.answers
    message = denied(answer)
    assert "proxyCPU" in message
    assert len(message) < 2000


def test_only_pod_creation_is_mutated(served: Served) -> None:
    seen, _ = under_attack(served, attacks.other_operations)
    for answer in seen.answers:
        assert isinstance(answer, dict), answer
        assert answer["allowed"] is True
        assert "patch" not in answer


def test_huge_pods_are_answered_within_their_deadline(served: Served) -> None:
    seen, _ = under_attack(served, attacks.huge_pods_short_deadline)
    assert any(isinstance(answer, dict) for answer in seen.answers), seen.answers
    for answer in seen.answers:
        if answer == 503:
            continue
        assert isinstance(answer, dict), answer
        if not answer["allowed"]:
            assert (
                "deadline" in answer["status"]["message"] or "free" in answer["status"]["message"]
            )


def test_a_config_that_fails_to_render_never_serves(served: Served) -> None:
    good = served.config.read_text()
    failing = 'policy: enabled\ntemplates:\n  sidecar: |\n    {{ fail "broken on purpose" }}\n'

    async def replace_config(target: Target) -> Seen:
        served.config.write_text(failing)
        await asyncio.sleep(1.5)
        return Seen()

    try:
        under_attack(served, replace_config)
        ready = asyncio.run(
            attacks.exchange(
                served.target, b"GET /readyz HTTP/1.1\r\nhost: x\r\nconnection: close\r\n\r\n"
            )
        )
        assert ready[0] == 200
        assert b"broken on purpose" in ready[1]
        assert b"last good" in ready[1]
    finally:
        served.config.write_text(good)


def test_sigterm_answers_what_is_queued_within_the_graceful_timeout(tmp_path: Path) -> None:
    served = start(tmp_path, "--engines", "1", "--graceful-timeout", "1")
    obj = attacks.huge_pod(1.0)

    async def queue_then_stop() -> list[Any]:
        pending = [
            asyncio.ensure_future(
                attacks.admit(served.target, obj, uid=f"q-{i}", path="/inject?timeout=30s")
            )
            for i in range(12)
        ]
        await asyncio.wait(pending, return_when=asyncio.FIRST_COMPLETED)
        served.process.send_signal(signal.SIGTERM)
        return await asyncio.gather(*pending, return_exceptions=True)

    try:
        answers = asyncio.run(queue_then_stop())
        assert served.process.wait(20) == 0
    finally:
        if served.process.poll() is None:
            stop(served)
    reviews = [a for a in answers if isinstance(a, dict)]
    assert reviews, answers
    stopped = [a for a in reviews if not a["allowed"]]
    assert all("stopped before" in a["status"]["message"] for a in stopped)
    assert os.path.exists(tmp_path / "serve.log")
