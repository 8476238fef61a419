"""Time the webhook: each step of one admission in-process, then the real server under load.

    .venv/bin/python bench/webhook.py                   # in-process steps, the three samples
    .venv/bin/python bench/webhook.py --load 10 -c 8    # plus `serve` under the Go loadgen, 10 s

The load run starts `sidecar-injector serve` (embedded config, throwaway certificate, a free
port) and drives it with shared/tools/loadgen (built into .tools/bin on first use). Every line
printed is JSON: {"bench": "webhook-steps", ...} per sample, then loadgen's own lines.
"""

from __future__ import annotations

import argparse
import json
import os
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import orjson

from sidecar_injector import config, inject, patch
from sidecar_injector.admission import review

REPO = Path(__file__).resolve().parents[1]
SHARED = Path(os.environ.get("SHARED_DIR", REPO.parent / "shared"))
SAMPLES = SHARED / "tools/loadgen/samples"
LOADGEN = REPO / ".tools/bin/loadgen"


def steps(sample: Path, *, rounds: int, current: config.Config) -> dict[str, object]:
    """Median milliseconds of decode, inject, patch and respond for one sample."""
    body = sample.read_bytes()
    timings: dict[str, list[float]] = {"decode": [], "inject": [], "patch": [], "respond": []}
    for _ in range(rounds):
        t0 = time.perf_counter()
        request = review.decode(body)
        t1 = time.perf_counter()
        result = inject.inject_pod(request.object, namespace=request.namespace, config=current)
        t2 = time.perf_counter()
        ops = orjson.dumps(patch.make_patch(request.object, result.pod))
        t3 = time.perf_counter()
        review.respond(review.Verdict(allowed=True, patch=ops), uid=request.uid)
        t4 = time.perf_counter()
        for name, seconds in zip(timings, (t1 - t0, t2 - t1, t3 - t2, t4 - t3), strict=True):
            timings[name].append(seconds * 1000)
    medians = {f"{k}_ms": round(statistics.median(v), 3) for k, v in timings.items()}
    total = round(sum(medians.values()), 3)
    return {
        "bench": "webhook-steps",
        "sample": sample.stem,
        "rounds": rounds,
        **medians,
        "total_ms": total,
    }


def load(sample: Path, *, seconds: int, concurrency: int) -> None:
    """`serve` on a free port, loadgen against it; loadgen prints its JSON line."""
    if not LOADGEN.exists():
        env = {**os.environ, "BIN_DIR": str(LOADGEN.parent)}
        subprocess.run(["bash", str(SHARED / "tools/loadgen/build.sh")], check=True, env=env)
    with tempfile.TemporaryDirectory() as state, socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
        probe.close()
        command = [
            sys.executable,
            "-m",
            "sidecar_injector",
            "serve",
            "--state-dir",
            state,
            "--port",
            str(port),
            "--log-level",
            "warning",
        ]
        server = subprocess.Popen(command, stdout=subprocess.DEVNULL)
        try:
            _wait_for(port)
            subprocess.run(
                [
                    str(LOADGEN),
                    "-url",
                    f"https://127.0.0.1:{port}/inject",
                    "-body",
                    str(sample),
                    "-cacert",
                    f"{state}/ca.crt",
                    "-c",
                    str(concurrency),
                    "-d",
                    f"{seconds}s",
                    "-warmup",
                    "1s",
                    "-server-pid",
                    str(server.pid),
                    "-label",
                    "sidecar-injector",
                ],
                check=True,
            )
        finally:
            server.terminate()
            server.wait(timeout=30)


def _wait_for(port: int) -> None:
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        with socket.socket() as attempt:
            if attempt.connect_ex(("127.0.0.1", port)) == 0:
                return
        time.sleep(0.1)
    raise SystemExit("the server did not start")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rounds", type=int, default=50)
    parser.add_argument("--load", type=int, default=0, help="seconds of load (0: none)")
    parser.add_argument("-c", "--concurrency", type=int, default=8)
    parser.add_argument("--sample", default="typical", help="sample for the load run")
    args = parser.parse_args()
    current = config.load_default()
    for sample in sorted(SAMPLES.glob("*.json")):
        print(json.dumps(steps(sample, rounds=args.rounds, current=current)), flush=True)
    if args.load:
        load(SAMPLES / f"{args.sample}.json", seconds=args.load, concurrency=args.concurrency)


if __name__ == "__main__":
    main()
