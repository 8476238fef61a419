"""Our webhook and the Go reference injector under the same load, one after the other.

    .venv/bin/python bench/webhook.py                   # typical sample, c = 1, 8, 64, 10 s each
    .venv/bin/python bench/webhook.py --samples small typical large -c 8 --seconds 5
    .venv/bin/python bench/webhook.py --servers ours --workers 2
    .venv/bin/python bench/webhook.py --servers go ours --vary -1   # a new pod every request
    .venv/bin/python bench/webhook.py --servers go ours --rounds 3  # go, ours, go, ours, ...

Five servers, each started once and given every (sample, concurrency) row: `go`
(shared/tools/go-ref-injector), `ours` (`sidecar-injector serve` with the reference template as
its config, bench/reference.py, and `--cache-entries 0`: every request injected from scratch, as
Go does), `cached` (the same with the replica cache on, as `serve` runs by default: loadgen sends
one body over and over, so this is the best case, a burst of identical replicas), `inline`
(`ours` with `--engines 0`: admissions in the worker itself, no isolation; ours/inline is what
the injection engines cost) and `allow`
(ours with `policy: disabled`: decode, decide, answer allowed without a patch: the floor of
HTTP + TLS + JSON cost). All use one throwaway
certificate (RSA-2048, as the reference's bench.sh) and are driven by shared/tools/loadgen over
loopback HTTP/1.1 keep-alive. Server CPU is utime+stime of the server's whole process tree over
the measured window (after loadgen's warm-up); RSS (summed) and PSS (shared pages counted once,
as a container's memory counts them) are the tree's after the row. `--rounds N` runs the
servers in turn N times, so that each ratio compares Go and ours measured minutes apart at most
on a machine whose speed drifts; the ratios are per round, then their median. `--split` adds,
for a one-worker tree of ours, the CPU and PSS of its worker, zygote and engines apart. The
figures are printed as tables, then one JSON line:
{"bench": "webhook", "rows": [...], "ratios": [...], "medians": [...]}.
"""

from __future__ import annotations

import argparse
import json
import os
import socket
import ssl
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import reference

CLOCK_TICKS = os.sysconf("SC_CLK_TCK")


def tree(pid: int) -> list[int]:
    """`pid` and all its descendants (worker processes of `serve --workers`)."""
    pids = [pid]
    for child in _children(pid):
        pids.extend(tree(child))
    return pids


def cpu_seconds(pid: int) -> float:
    return sum(_cpu_of(each) for each in tree(pid))


def _cpu_of(pid: int) -> float:
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except FileNotFoundError:
        return 0.0
    return (int(fields[11]) + int(fields[12])) / CLOCK_TICKS


ROLES = ("worker", "zygote", "engines")
"""What each depth of a one-worker `serve` tree is: the worker, its zygote, the engines."""


def by_role(pid: int) -> dict[str, list[int]]:
    """The processes of a one-worker tree by `ROLES` (`--split`)."""
    found: dict[str, list[int]] = {role: [] for role in ROLES}
    level = [pid]
    for role in ROLES:
        found[role] = level
        level = [child for each in level for child in _children(each)]
    return found


def _children(pid: int) -> list[int]:
    pids: list[int] = []
    for child in Path(f"/proc/{pid}/task").glob("*/children"):
        pids.extend(int(text) for text in child.read_text().split())
    return pids


def _pss_of(pid: int) -> float:
    try:
        text = Path(f"/proc/{pid}/smaps_rollup").read_text()
    except OSError:
        return 0.0
    return int(text.split("\nPss:")[1].split()[0]) / 1024


def rss_mb(pid: int) -> float:
    """Summed resident set of the tree (shared pages counted in each process)."""
    kb = 0
    for each in tree(pid):
        for line in Path(f"/proc/{each}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                kb += int(line.split()[1])
    return round(kb / 1024, 1)


def pss_mb(pid: int) -> float:
    """The tree's proportional set size: pages shared by the worker and its engines (the
    interpreter, libraries, what engines inherit from their zygote) counted once, as the
    container's memory counts them."""
    return round(sum(_pss_of(each) for each in tree(pid)), 1)


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


def wait_healthy(url: str, *, cafile: Path, process: subprocess.Popen[bytes]) -> None:
    context = ssl.create_default_context(cafile=str(cafile))
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise SystemExit(f"the server exited with status {process.returncode}")
        try:
            with urllib.request.urlopen(url, context=context, timeout=2):
                return
        except OSError:
            time.sleep(0.1)
    raise SystemExit(f"{url} did not answer within 60 s")


def server_command(kind: str, *, port: int, certs: Path, workers: int) -> list[str]:
    tls = ["--tls-cert-file", str(certs / "tls.crt"), "--tls-key-file", str(certs / "tls.key")]
    if kind == "go":
        return [
            str(reference.go_tool("go-ref-injector")),
            "-addr",
            f"127.0.0.1:{port}",
            "-cert",
            str(certs / "tls.crt"),
            "-key",
            str(certs / "tls.key"),
            "-template",
            str(reference.TEMPLATE),
        ]
    config, values = reference.reference_config(
        certs, policy="disabled" if kind == "allow" else "enabled"
    )
    return [
        sys.executable,
        "-m",
        "sidecar_injector",
        "serve",
        "--port",
        str(port),
        *tls,
        "--inject-config",
        str(config),
        "--values",
        str(values),
        "--state-dir",
        str(certs / "state"),
        "--workers",
        str(workers),
        "--log-level",
        "warning",
        "--cache-entries",
        "128" if kind == "cached" else "0",
        *(["--engines", "0"] if kind == "inline" else []),
    ]


@contextmanager
def throwaway_certs() -> Iterator[Path]:
    """A directory with a throwaway CA and serving certificate (RSA-2048, as the reference's
    bench.sh makes them), shared by every server of a run."""
    with tempfile.TemporaryDirectory() as work:
        subprocess.run(
            ["bash", str(reference.TOOLS / "go-ref-injector/gen-cert.sh"), work],
            check=True,
            stdout=subprocess.DEVNULL,
        )
        yield Path(work)


@contextmanager
def running(kind: str, *, certs: Path, workers: int) -> Iterator[tuple[int, int]]:
    """Start one server; yield (pid, port); stop it."""
    port = free_port()
    command = server_command(kind, port=port, certs=certs, workers=workers)
    process = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        wait_healthy(f"https://127.0.0.1:{port}/healthz", cafile=certs / "ca.crt", process=process)
        yield process.pid, port
    finally:
        process.terminate()
        process.wait(timeout=60)


def drive(
    kind: str,
    *,
    pid: int,
    port: int,
    certs: Path,
    sample: str,
    concurrency: int,
    args: argparse.Namespace,
) -> dict[str, object]:
    """One loadgen row; server CPU measured over the tree, from the end of the warm-up."""
    command = [
        str(reference.go_tool("loadgen")),
        "-url",
        f"https://127.0.0.1:{port}/inject",
        "-body",
        str(reference.SAMPLES / f"{sample}.json"),
        "-cacert",
        str(certs / "ca.crt"),
        "-c",
        str(concurrency),
        "-d",
        f"{args.seconds}s",
        "-warmup",
        f"{args.warmup}s",
        "-server-pid",
        str(pid),
        "-label",
        f"{kind} {sample} c={concurrency}",
        "-vary",
        str(args.vary),
    ]
    loadgen = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL)
    time.sleep(args.warmup)
    cpu_before = cpu_seconds(pid)
    split = args.split and kind != "go" and args.workers == 1
    roles_before = {role: sum(map(_cpu_of, pids)) for role, pids in by_role(pid).items()}
    out, _ = loadgen.communicate()
    cpu = cpu_seconds(pid) - cpu_before
    roles = by_role(pid)
    result = json.loads(out.decode().strip().splitlines()[-1])
    requests = int(result["requests"])
    return {
        "server": kind,
        "sample": sample,
        "c": concurrency,
        "requests": requests,
        "errors": result["errors"],
        "req_per_s": result["requests_per_s"],
        "p50_ms": result["p50_ms"],
        "p99_ms": result["p99_ms"],
        "cpu_s_per_1000": round(cpu / requests * 1000, 3) if requests else None,
        "rss_mb": rss_mb(pid),
        "pss_mb": pss_mb(pid),
        "load": Path("/proc/loadavg").read_text().split()[0],
        **(_split(roles, roles_before, requests) if split and requests else {}),
    }


def _split(
    roles: dict[str, list[int]], before: dict[str, float], requests: int
) -> dict[str, object]:
    """CPU ms per admission and PSS MB of each role of a one-worker tree (engines summed)."""
    row: dict[str, object] = {}
    for role, pids in roles.items():
        cpu = sum(map(_cpu_of, pids)) - before.get(role, 0.0)
        row[f"{role}_cpu_ms"] = round(cpu / requests * 1000, 3)
        row[f"{role}_pss_mb"] = round(sum(map(_pss_of, pids)), 1)
    return row


def ratios(rows: list[dict[str, object]]) -> list[dict[str, object]]:
    """ours (and cached) over Go for each (sample, c, round) present for both, and over the
    floor."""
    found = {(r["server"], r["sample"], r["c"], r["round"]): r for r in rows}
    out: list[dict[str, object]] = []
    for (server, sample, c, round_), ours in found.items():
        if server not in ("ours", "cached", "inline"):
            continue
        entry: dict[str, object] = {"server": server, "sample": sample, "c": c, "round": round_}
        go = found.get(("go", sample, c, round_))
        if go:
            for key in ("req_per_s", "p99_ms", "cpu_s_per_1000", "rss_mb", "pss_mb"):
                entry[f"{key}_ours_over_go"] = ratio_of(ours[key], go[key])
        floor = found.get(("allow", sample, c, round_))
        if floor:
            entry["cpu_over_allow_floor"] = ratio_of(
                ours["cpu_s_per_1000"], floor["cpu_s_per_1000"]
            )
        out.append(entry)
    return out


def medians(summary: list[dict[str, object]]) -> list[dict[str, object]]:
    """Each ratio's median over the rounds, with the rounds' values beside it."""
    groups: dict[tuple[object, ...], list[dict[str, object]]] = {}
    for entry in summary:
        groups.setdefault((entry["server"], entry["sample"], entry["c"]), []).append(entry)
    out: list[dict[str, object]] = []
    for (server, sample, c), entries in groups.items():
        row: dict[str, object] = {"server": server, "sample": sample, "c": c}
        for key in ("cpu_s_per_1000_ours_over_go", "p99_ms_ours_over_go", "pss_mb_ours_over_go"):
            found = [v for e in entries if isinstance(v := e.get(key), float)]
            if found:
                row[key] = round(statistics.median(found), 2)
                row[f"{key}_rounds"] = " ".join(str(v) for v in found)
        out.append(row)
    return out


def ratio_of(a: object, b: object) -> float | None:
    if isinstance(a, int | float) and isinstance(b, int | float) and b:
        return round(a / b, 2)
    return None


def print_table(rows: list[dict[str, object]], columns: list[str]) -> None:
    print("| " + " | ".join(columns) + " |")
    print("|" + "---|" * len(columns))
    for row in rows:
        print("| " + " | ".join(str(row.get(c, "")) for c in columns) + " |")


def serve_rows(
    kind: str, *, certs: Path, args: argparse.Namespace, round_: int
) -> list[dict[str, object]]:
    """Every (sample, concurrency) row of one server, started once."""
    rows: list[dict[str, object]] = []
    with running(kind, certs=certs, workers=args.workers) as (pid, port):
        for sample in args.samples:
            for c in args.concurrency:
                row = drive(
                    kind, pid=pid, port=port, certs=certs, sample=sample, concurrency=c, args=args
                )
                row = {"round": round_, **row}
                print(json.dumps(row), file=sys.stderr, flush=True)
                rows.append(row)
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--servers", nargs="+", default=["go", "ours", "cached", "allow"])
    parser.add_argument("--samples", nargs="+", default=["typical"])
    parser.add_argument("-c", "--concurrency", nargs="+", type=int, default=[1, 8, 64])
    parser.add_argument("--seconds", type=int, default=10)
    parser.add_argument("--warmup", type=int, default=2)
    parser.add_argument("--workers", type=int, default=1, help="worker processes of ours")
    parser.add_argument(
        "--vary",
        type=int,
        default=0,
        help="loadgen's -vary: 0 sends the sample as is, -1 makes every request a new pod (a"
        " new label, so the rendered template differs too), N cycles N pods",
    )
    parser.add_argument("--rounds", type=int, default=1, help="the servers in turn, this often")
    parser.add_argument(
        "--split",
        action="store_true",
        help="with one worker: CPU per admission and PSS of the worker, its zygote and its"
        " engines apart (an engine replaced during the row counts only from its start)",
    )
    args = parser.parse_args()
    reference.require_shared("bench/webhook.py")
    print(f"machine: {os.cpu_count()} CPUs, load before: {Path('/proc/loadavg').read_text()[:15]}")
    rows: list[dict[str, object]] = []
    with throwaway_certs() as certs:
        for round_ in range(1, args.rounds + 1):
            for kind in args.servers:
                rows += serve_rows(kind, certs=certs, args=args, round_=round_)
    columns = ["round", "server", "sample", "c", "requests", "errors", "req_per_s", "p50_ms"]
    columns.append("p99_ms")
    print_table(rows, [*columns, "cpu_s_per_1000", "rss_mb", "pss_mb", "load"])
    split = [row for row in rows if "worker_cpu_ms" in row]
    if split:
        print()
        keys = [f"{role}_{what}" for what in ("cpu_ms", "pss_mb") for role in ROLES]
        print_table(split, ["round", "server", "sample", "c", *keys])
    print()
    summary = ratios(rows)
    if summary:
        print_table(summary, list(summary[0]))
    middle = medians(summary)
    if args.rounds > 1 and middle:
        print()
        print_table(middle, list(middle[0]))
    print(
        json.dumps(
            {
                "bench": "webhook",
                "workers": args.workers,
                "vary": args.vary,
                "rows": rows,
                "ratios": summary,
                "medians": middle,
            }
        )
    )


if __name__ == "__main__":
    main()
