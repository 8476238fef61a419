"""Each attack of tests/hostile/attacks.py on a real `serve`, beside a normal client.

    .venv/bin/python bench/abuse.py                      # every attack, `serve` as deployed
    .venv/bin/python bench/abuse.py --only "48 MiB header" --serve-args --engines 0

For each attack: the normal client's pods (a new pod every 200 ms, 3 s timeout, from a process
of its own so that the attacker's client work never delays it) answered and
lost and its worst wait; how long the attacker took to be answered; the server's peak RSS (the
whole process tree: the worker and its injection engines, sampled every 50 ms) during the
attack. `serve` runs on the embedded default config with a self-signed certificate on loopback
and its default flags unless --serve-args says otherwise. Prints a table, then one JSON line.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from tests.hostile import attacks  # noqa: E402
from webhook import free_port, pss_mb, rss_mb, wait_healthy  # noqa: E402


async def measure(target: attacks.Target, pid: int, name: str) -> dict[str, object]:
    attack = attacks.ATTACKS[name]
    halt = asyncio.Event()
    peak, peak_pss = rss_mb(pid), pss_mb(pid)

    async def sample() -> None:
        nonlocal peak, peak_pss
        while not halt.is_set():
            peak, peak_pss = max(peak, rss_mb(pid)), max(peak_pss, pss_mb(pid))
            await asyncio.sleep(0.05)

    sampler = asyncio.ensure_future(sample())
    normal = attacks.NormalProcess(target)
    if normal.pid is not None and os.getpriority(os.PRIO_PROCESS, 0) > 0:
        os.setpriority(os.PRIO_PROCESS, normal.pid, 0)
    try:
        await asyncio.to_thread(normal.wait_injecting)
        await asyncio.sleep(1.0)
        seen = await attack(target)
        await asyncio.sleep(1.0)
    finally:
        halt.set()
        client = normal.finish()
    await sampler
    return {
        "attack": name,
        "normal_sent": client.sent,
        "normal_injected": client.injected,
        "normal_lost": len(client.lost),
        "normal_worst_ms": round(client.worst * 1000, 1),
        "attacker_s": round(seen.seconds, 2),
        "peak_rss_mb": peak,
        "peak_pss_mb": peak_pss,
        "answers": sorted({_summary(a) for a in seen.answers}),
        "normal_lost_first": client.lost[:3],
    }


def _summary(answer: object) -> str:
    if isinstance(answer, dict):
        if answer.get("allowed") is False:
            return "denied: " + str(answer.get("status", {}).get("message", ""))[:90]
        return "allowed" + (" with patch" if answer.get("patch") else "")
    return str(answer)[:90]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--only", nargs="*", default=list(attacks.ATTACKS), metavar="ATTACK")
    parser.add_argument(
        "--attacker-nice",
        type=int,
        default=0,
        help="niceness of the attacker (this process) once serve and the normal client run: on "
        "a 2-core machine the attacker's own TLS client otherwise takes the server's CPU "
        "(lowering the normal client's back to 0 needs root)",
    )
    parser.add_argument("--serve-args", nargs=argparse.REMAINDER, default=[])
    args = parser.parse_args()
    rows = []
    with tempfile.TemporaryDirectory() as work:
        port = free_port()
        command = [
            *(sys.executable, "-m", "sidecar_injector", "serve", "--port", str(port)),
            *("--state-dir", work, "--log-level", "error", *args.serve_args),
        ]
        process = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        try:
            cafile = Path(work) / "ca.crt"
            while not cafile.exists():
                time.sleep(0.05)
            wait_healthy(f"https://127.0.0.1:{port}/healthz", cafile=cafile, process=process)
            target = attacks.Target("127.0.0.1", port, str(cafile))
            idle = rss_mb(process.pid)
            os.setpriority(os.PRIO_PROCESS, 0, args.attacker_nice)
            for name in args.only:
                rows.append(asyncio.run(measure(target, process.pid, name)))
                print(_line(rows[-1]), flush=True)
        finally:
            process.terminate()
            process.wait(timeout=60)
    print(f"server RSS at rest: {idle} MB")
    print(
        json.dumps(
            {"bench": "abuse", "serve_args": args.serve_args, "idle_rss_mb": idle, "rows": rows}
        )
    )


def _line(row: dict[str, object]) -> str:
    return (
        f"{row['attack']:<55} normal {row['normal_injected']}/{row['normal_sent']} "
        f"lost {row['normal_lost']} worst {row['normal_worst_ms']} ms | attacker "
        f"{row['attacker_s']} s | peak RSS {row['peak_rss_mb']} MB PSS {row['peak_pss_mb']} MB"
        f" | {'; '.join(row['answers'])}"  # type: ignore[arg-type]
    )


if __name__ == "__main__":
    main()
