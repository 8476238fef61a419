"""Render time of go-ref-injector's sidecar template: our engine next to Go's, as a ratio.

    .venv/bin/python bench/render.py                 # the three samples, 300 renders, best of 5
    .venv/bin/python bench/render.py --samples typical --rounds 1000

The Go side is bench/go/render (our own small program: text/template + sprig from Debian's
packages, built into .tools/bin/bench-render by tools/go-build, as the test oracle is);
it parses once and times `rounds` executions inside one process, so no pipe or process cost is
counted. Both engines get the same template and the same data: the sample's pod with Go field
names (`.ObjectMeta.Annotations`, `.Spec.Containers`, `.ContainerPort`) as plain maps, integral
numbers as int64, go-ref-injector's values, and must produce the same text (checked). Each side's
figure is its best batch of `--repeat`, in wall time and in CPU time (the process's, so Go's GC
threads count; CPU time is the steadier figure on a loaded machine); the last line is JSON.

The last two columns are what reading that output costs us afterwards (best CPU ms of a batch):
`blockyaml.load`, which the webhook tries first, and PyYAML through `boundedyaml.load`, which it
falls back to (a blank when blockyaml refuses the text).
"""

from __future__ import annotations

import argparse
import json
import subprocess
import time
from pathlib import Path
from typing import Any

import reference
import yaml

from sidecar_injector import blockyaml, boundedyaml, gotemplate, render

GO_PROGRAM = reference.REPO / "bench/go/render"
GO_BINARY = reference.BIN / "bench-render"
MAP_FIELDS = {"annotations", "labels", "nodeSelector", "limits", "requests", "matchLabels"}


def go_binary() -> Path:
    """Build bench/go/render with Debian's Go and sprig when it is missing or older."""
    source = GO_PROGRAM / "main.go"
    if not GO_BINARY.exists() or source.stat().st_mtime > GO_BINARY.stat().st_mtime:
        build = reference.REPO / "tools/go-build"
        subprocess.run([str(build), str(GO_PROGRAM), str(GO_BINARY)], check=True)
    return GO_BINARY


def go_names(value: Any, *, field: str = "") -> Any:
    """JSON keys as Go field names (first letter upper), except inside map-typed fields."""
    if isinstance(value, dict):
        if field in MAP_FIELDS:
            return dict(value)
        return {k[:1].upper() + k[1:]: go_names(v, field=k) for k, v in value.items()}
    if isinstance(value, list):
        return [go_names(v, field=field) for v in value]
    return value


def template_data(sample: str) -> dict[str, Any]:
    review = json.loads((reference.SAMPLES / f"{sample}.json").read_bytes())
    pod = review["request"]["object"]
    meta = go_names(pod.get("metadata", {}))
    meta.setdefault("Annotations", {})
    meta.setdefault("Labels", {})
    owner = meta.get("GenerateName", "").rstrip("-").rsplit("-", 1)[0] or meta.get("Name", "")
    return {
        "ObjectMeta": meta,
        "Spec": go_names(pod.get("spec", {})),
        "DeploymentMeta": {"Name": owner, "Namespace": review["request"].get("namespace", "")},
        "Values": yaml.safe_load(reference.reference_values()),
        "Revision": "default",
    }


Timing = tuple[float, float, str]
"""Best wall seconds and best CPU seconds per render, and the output."""


def ours(text: str, data: dict[str, Any], *, rounds: int, repeat: int) -> Timing:
    template = gotemplate.parse(text, name="sidecar", sprig=True)
    output = template.execute(data)
    wall = cpu = float("inf")
    for _ in range(repeat):
        start, start_cpu = time.perf_counter(), time.process_time()
        for _ in range(rounds):
            template.execute(data)
        wall = min(wall, (time.perf_counter() - start) / rounds)
        cpu = min(cpu, (time.process_time() - start_cpu) / rounds)
    return wall, cpu, output


def reading(output: str, *, rounds: int, repeat: int) -> tuple[float | None, float]:
    """Best CPU seconds to read `output` with blockyaml (None when refused) and with PyYAML."""

    def best(read: Any) -> float:
        cpu = float("inf")
        for _ in range(repeat):
            start = time.process_time()
            for _ in range(rounds):
                read(output)
            cpu = min(cpu, (time.process_time() - start) / rounds)
        return cpu

    try:
        blockyaml.load(output)
        fast: float | None = best(blockyaml.load)
    except blockyaml.Unsupported:
        fast = None
    limits, source = render.OUTPUT_LIMITS, "bench"
    return fast, best(lambda text: boundedyaml.load(text, limits=limits, source=source))


def go(text: str, data: dict[str, Any], *, rounds: int, repeat: int) -> Timing:
    request = json.dumps({"template": text, "data": data, "rounds": rounds})
    wall = cpu = float("inf")
    output = ""
    for _ in range(repeat):
        reply = subprocess.run(
            [str(go_binary())], input=request, capture_output=True, text=True, check=True
        )
        answer = json.loads(reply.stdout)
        wall = min(wall, answer["ns_per_render"] / 1e9)
        cpu = min(cpu, answer["cpu_ns_per_render"] / 1e9)
        output = answer["output"]
    return wall, cpu, output


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--samples", nargs="+", default=["small", "typical", "large"])
    parser.add_argument("--rounds", type=int, default=300)
    parser.add_argument("--repeat", type=int, default=5)
    args = parser.parse_args()
    reference.require_shared("bench/render.py")
    text = reference.TEMPLATE.read_text(encoding="utf-8")
    rows = []
    for sample in args.samples:
        data = template_data(sample)
        ours_s, ours_cpu, ours_out = ours(text, data, rounds=args.rounds, repeat=args.repeat)
        go_s, go_cpu, go_out = go(text, data, rounds=args.rounds, repeat=args.repeat)
        fast, pyyaml = reading(ours_out, rounds=args.rounds, repeat=args.repeat)
        rows.append(
            {
                "sample": sample,
                "output_bytes": len(go_out),
                "same_output": ours_out == go_out,
                "ours_ms": round(ours_s * 1000, 3),
                "go_ms": round(go_s * 1000, 3),
                "ours_over_go": round(ours_s / go_s, 1),
                "ours_cpu_ms": round(ours_cpu * 1000, 3),
                "go_cpu_ms": round(go_cpu * 1000, 3),
                "cpu_ours_over_go": round(ours_cpu / go_cpu, 1),
                "read_blockyaml_cpu_ms": round(fast * 1000, 3) if fast is not None else None,
                "read_pyyaml_cpu_ms": round(pyyaml * 1000, 3),
            }
        )
    columns = list(rows[0])
    print("| " + " | ".join(columns) + " |")
    print("|" + "---|" * len(columns))
    for row in rows:
        print("| " + " | ".join(str(row[c]) for c in columns) + " |")
    load = Path("/proc/loadavg").read_text().split()[0]
    print(json.dumps({"bench": "render", "load": load, "rounds": args.rounds, "rows": rows}))


if __name__ == "__main__":
    main()
