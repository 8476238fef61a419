"""Huge pods: time and memory of one admission as env vars and containers grow; is it linear?

    .venv/bin/python bench/huge_pod.py    # 1,000 / 5,000 / 20,000 env vars; 10, 100 containers
    .venv/bin/python bench/huge_pod.py --env 1000 2000 --containers 10 100 --rounds 5

Each pod is the typical sample's with its first container's env replaced by N generated
variables (values and secret refs alternating), or with its containers repeated to N. One
admission is the whole server path from request bytes to response bytes (decode, inject, patch,
encode) with go-ref-injector's template (bench/reference.py). Time: the best CPU time of
`--rounds` (the machine is shared). Memory: tracemalloc's peak of one admission, in a separate
pass. The per-unit figures (µs per env var, per container) stay flat when the growth is linear.
Then the same bodies over HTTPS to go-ref-injector and to our `serve` (uncached), `--requests`
each: server CPU ms per admission and RSS, and the ratio ours/Go. The last line is JSON.
"""

from __future__ import annotations

import argparse
import copy
import json
import subprocess
import time
import tracemalloc
from pathlib import Path
from typing import Any

import engine
import orjson
import reference
import webhook

from sidecar_injector import config, inject, patch
from sidecar_injector.admission import review


def review_with_env(count: int) -> bytes:
    body = json.loads((reference.SAMPLES / "typical.json").read_bytes())
    env: list[dict[str, Any]] = []
    for i in range(count):
        if i % 2:
            ref = {"secretKeyRef": {"name": f"secret-{i % 7}", "key": f"key-{i}"}}
            env.append({"name": f"SECRET_{i}", "valueFrom": ref})
        else:
            env.append({"name": f"VAR_{i}", "value": f"value-{i}-" + "x" * (i % 40)})
    body["request"]["object"]["spec"]["containers"][0]["env"] = env
    return orjson.dumps(body)


def review_with_containers(count: int) -> bytes:
    body = json.loads((reference.SAMPLES / "typical.json").read_bytes())
    spec = body["request"]["object"]["spec"]
    first = spec["containers"][0]
    containers = []
    for i in range(count):
        each = copy.deepcopy(first)
        each["name"] = f"app-{i}"
        for port in each.get("ports", []):
            port["containerPort"] = 10000 + i * 10 + port["containerPort"] % 10
            port.pop("name", None)
        containers.append(each)
    spec["containers"] = containers
    return orjson.dumps(body)


def admit(body: bytes, *, settings: config.Config) -> bytes:
    request = review.decode(body)
    result = inject.inject_pod(request.object, namespace=request.namespace, config=settings)
    ops = orjson.dumps(patch.make_patch(request.object, result.pod))
    return review.respond(review.Verdict(allowed=True, patch=ops), uid=request.uid)


def measure(
    kind: str, count: int, body: bytes, *, rounds: int, settings: config.Config
) -> dict[str, object]:
    times = []
    for _ in range(rounds):
        start = time.process_time()
        reply = admit(body, settings=settings)
        times.append(time.process_time() - start)
    tracemalloc.start()
    admit(body, settings=settings)
    _, peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    best = min(times)
    return {
        "kind": kind,
        "count": count,
        "request_kb": round(len(body) / 1024, 1),
        "response_kb": round(len(reply) / 1024, 1),
        "best_ms": round(best * 1000, 1),
        "us_per_unit": round(best * 1e6 / count, 1),
        "peak_mb": round(peak / 2**20, 1),
    }


def served(rows: list[dict[str, object]], bodies: list[bytes], *, requests: int) -> None:
    """Add each server's CPU per admission of each body, over HTTPS as in bench/webhook.py:
    go-ref-injector and ours (`--cache-entries 0`), one after the other, `requests` each."""
    with webhook.throwaway_certs() as certs:
        files = []
        for index, body in enumerate(bodies):
            files.append(certs / f"body-{index}.json")
            files[-1].write_bytes(body)
        for kind in ("go", "ours"):
            with webhook.running(kind, certs=certs, workers=1) as (pid, port):
                for row, body_file in zip(rows, files, strict=True):
                    row[f"{kind}_server_ms"] = server_ms(pid, port, certs, body_file, requests)
                    row[f"{kind}_rss_mb"] = webhook.rss_mb(pid)
    for row in rows:
        row["server_ours_over_go"] = webhook.ratio_of(row["ours_server_ms"], row["go_server_ms"])


def server_ms(pid: int, port: int, certs: Path, body: Path, requests: int) -> float:
    """Server CPU ms per admission over `requests` sequential requests, after one warm-up."""
    command = [
        str(reference.go_tool("loadgen")),
        *("-url", f"https://127.0.0.1:{port}/inject", "-body", str(body)),
        *("-cacert", str(certs / "ca.crt"), "-c", "1", "-timeout", "60s"),
    ]
    subprocess.run([*command, "-n", "1"], check=True, capture_output=True)
    before = webhook.cpu_seconds(pid)
    out = subprocess.run([*command, "-n", str(requests)], check=True, capture_output=True)
    spent = webhook.cpu_seconds(pid) - before
    result = json.loads(out.stdout.decode().strip().splitlines()[-1])
    if result["errors"]:
        raise SystemExit(f"{result['errors']} errors from the server on {body.name}")
    return round(spent / int(result["requests"]) * 1000, 1)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--env", nargs="+", type=int, default=[1000, 5000, 20000])
    parser.add_argument("--containers", nargs="+", type=int, default=[10, 100])
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument(
        "--requests", type=int, default=30, help="per body and server; 0: in-process only"
    )
    args = parser.parse_args()
    reference.require_shared("bench/huge_pod.py")
    settings = engine.load_settings()
    bodies = [("env", n, review_with_env(n)) for n in args.env]
    bodies += [("containers", n, review_with_containers(n)) for n in args.containers]
    rows = [
        measure(kind, n, body, rounds=args.rounds, settings=settings) for kind, n, body in bodies
    ]
    if args.requests:
        served(rows, [body for _, _, body in bodies], requests=args.requests)
    columns = list(rows[0])
    print("| " + " | ".join(columns) + " |")
    print("|" + "---|" * len(columns))
    for row in rows:
        print("| " + " | ".join(str(row[c]) for c in columns) + " |")
    load = Path("/proc/loadavg").read_text().split()[0]
    print(json.dumps({"bench": "huge_pod", "load": load, "rows": rows}))


if __name__ == "__main__":
    main()
