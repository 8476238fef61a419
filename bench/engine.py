"""Per-step cost of one admission in-process, for each sample: where a regression is.

    .venv/bin/python bench/engine.py                  # the three samples, 200 rounds each
    .venv/bin/python bench/engine.py --profile typical  # cProfile of 200 typical admissions

Steps: decode (AdmissionReview bytes -> Request), decide (policy), data (Go-shaped template
data), render (execute the templates, parse their YAML), merge (the rest of `inject_pod`:
strategic merge, probes, status annotation), patch (RFC 6902 ops against the request's pod) and
encode (the ops and the AdmissionReview response to bytes). The config is go-ref-injector's
template and values (bench/reference.py), so the figures line up with the Go handler benchmark
in shared/tools/go-ref-injector/RESULTS.md. Medians of CPU milliseconds (this process's CPU
time: steadier than wall time on a shared machine); the last line is JSON.

With the core compiled (setup.py), `inject_pod` calls decide, data and render directly, so the
stopwatch cannot split them out: their time is counted in merge, and the JSON says
`"build": "compiled"`. `SIDECAR_INJECTOR_PURE_PYTHON=1` gives the split of the pure-Python build.
"""

from __future__ import annotations

import argparse
import cProfile
import json
import pstats
import statistics
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import orjson
import reference

from sidecar_injector import (
    compiled_modules,
    config,
    decision,
    inject,
    patch,
    render,
    templatedata,
)
from sidecar_injector.admission import review

STEPS = ("decode", "decide", "data", "render", "merge", "patch", "encode")


class Stopwatch:
    """Times the functions `inject_pod` calls by wrapping them where inject.py looks them up."""

    def __init__(self) -> None:
        self.spent: dict[str, float] = {}

    def wrap(self, module: Any, name: str, step: str) -> None:
        original: Callable[..., Any] = getattr(module, name)

        def timed(*args: Any, **kwargs: Any) -> Any:
            start = time.process_time()
            try:
                return original(*args, **kwargs)
            finally:
                self.spent[step] = self.spent.get(step, 0.0) + time.process_time() - start

        setattr(module, name, timed)


def admit(body: bytes, *, settings: config.Config, watch: Stopwatch) -> dict[str, float]:
    """One admission, step by step; seconds per step."""
    watch.spent = {}
    t0 = time.process_time()
    request = review.decode(body)
    t1 = time.process_time()
    result = inject.inject_pod(request.object, namespace=request.namespace, config=settings)
    t2 = time.process_time()
    ops = patch.make_patch(result.request or request.object, result.pod)
    t3 = time.process_time()
    review.respond(review.Verdict(allowed=True, patch=orjson.dumps(ops)), uid=request.uid)
    t4 = time.process_time()
    inner = sum(watch.spent.values())
    return {
        "decode": t1 - t0,
        **{step: watch.spent.get(step, 0.0) for step in ("decide", "data", "render")},
        "merge": t2 - t1 - inner,
        "patch": t3 - t2,
        "encode": t4 - t3,
    }


def measure(
    sample: str, *, rounds: int, settings: config.Config, watch: Stopwatch
) -> dict[str, object]:
    body = (reference.SAMPLES / f"{sample}.json").read_bytes()
    admit(body, settings=settings, watch=watch)
    runs = [admit(body, settings=settings, watch=watch) for _ in range(rounds)]
    medians = {f"{s}_ms": round(statistics.median(r[s] for r in runs) * 1000, 3) for s in STEPS}
    totals = [sum(r.values()) for r in runs]
    return {
        "sample": sample,
        "rounds": rounds,
        **medians,
        "total_ms": round(statistics.median(totals) * 1000, 3),
    }


def load_settings() -> config.Config:
    with tempfile.TemporaryDirectory() as work:
        injection, values = reference.reference_config(Path(work))
        return config.load_files(config=injection, values=values, mesh=None, env={})


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rounds", type=int, default=200)
    parser.add_argument("--samples", nargs="+", default=["small", "typical", "large"])
    parser.add_argument("--profile", metavar="SAMPLE", help="print a cProfile of SAMPLE instead")
    parser.add_argument(
        "--sort",
        choices=("tottime", "cumulative"),
        default="tottime",
        help="order of the profile: time in each function, or with what it calls",
    )
    args = parser.parse_args()
    reference.require_shared("bench/engine.py")
    settings = load_settings()
    watch = Stopwatch()
    watch.wrap(decision, "decide", "decide")
    watch.wrap(templatedata, "build", "data")
    watch.wrap(render, "render", "render")
    if args.profile:
        body = (reference.SAMPLES / f"{args.profile}.json").read_bytes()
        admit(body, settings=settings, watch=watch)
        with cProfile.Profile() as profile:
            for _ in range(args.rounds):
                admit(body, settings=settings, watch=watch)
        pstats.Stats(profile).sort_stats(args.sort).print_stats(30)
        return
    rows = [measure(s, rounds=args.rounds, settings=settings, watch=watch) for s in args.samples]
    columns = ["sample", *(f"{s}_ms" for s in STEPS), "total_ms"]
    print("| " + " | ".join(columns) + " |")
    print("|" + "---|" * len(columns))
    for row in rows:
        print("| " + " | ".join(str(row[c]) for c in columns) + " |")
    load = Path("/proc/loadavg").read_text().split()[0]
    build = "compiled" if compiled_modules() else "pure-python"
    print(json.dumps({"bench": "engine", "build": build, "load": load, "rows": rows}))


if __name__ == "__main__":
    main()
