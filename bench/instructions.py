"""Instructions per new-pod admission in an injection engine, counted by valgrind.

    .venv/bin/python bench/instructions.py                  # 200 new pods, the build installed
    SIDECAR_INJECTOR_PURE_PYTHON=1 .venv/bin/python bench/instructions.py

CPU seconds on a shared machine drift by a third within minutes; instructions do not: the same
build, pods and config give the same count whatever else runs (valgrind's callgrind counts what
the CPU executes). Two runs under callgrind answer the same frames an engine gets
(`engine.Handler.answer`: decode the pod, decide, render, merge, patch, encode) for go-ref-
injector's template (bench/reference.py), after the same 20 warm-up pods; they differ only in
how many new pods follow (each with its own label, as loadgen's `-vary -1` sends them), so the
difference of their totals divided by the difference of pods is what one more new pod costs,
with the start-up left out. Instructions are not time (a cache miss costs more than an add);
bench/webhook.py measures time. The last line is JSON.
"""

from __future__ import annotations

import argparse
import json
import re
import shutil
import subprocess
import sys

import engine
import orjson
import reference

from sidecar_injector import compiled_modules
from sidecar_injector.admission import engine as engine_process
from sidecar_injector.admission import review

WARMUP = 20
COLLECTED = re.compile(r"Collected : ([0-9]+)")


def answer_pods(count: int) -> None:
    """What runs under valgrind: the warm-up pods, then `count` new pods."""
    handler = engine_process.Handler()
    handler.adopt(engine.load_settings(), None)
    request = review.decode((reference.SAMPLES / "typical.json").read_bytes())
    pod = orjson.dumps(request.object)
    for index in range(WARMUP + count):
        blob = pod.replace(b'"labels":{', b'"labels":{"bench-variant":"%d",' % index, 1)
        head = {"op": "admit", "namespace": request.namespace, "params": {}}
        reply, _ = handler.answer(head, blob)
        if not reply.get("inject"):
            sys.exit(f"bench/instructions.py: pod {index} was not injected: {reply}")


def counted(count: int) -> int:
    """The instructions of a whole run that answers `count` new pods."""
    command = ["valgrind", "--tool=callgrind", "--callgrind-out-file=/dev/null"]
    command += [sys.executable, __file__, "--answer", str(count)]
    run = subprocess.run(command, capture_output=True, text=True, check=False)
    found = COLLECTED.search(run.stderr)
    if run.returncode != 0 or found is None:
        sys.exit(f"bench/instructions.py: valgrind failed:\n{run.stderr[-2000:]}")
    return int(found.group(1))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--pods", type=int, default=200, help="new pods in the larger run")
    parser.add_argument("--answer", type=int, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.answer is not None:
        answer_pods(args.answer)
        return
    reference.require_shared("bench/instructions.py")
    if shutil.which("valgrind") is None:
        sys.exit("bench/instructions.py: needs valgrind (Debian's package valgrind)")
    few = max(args.pods // 4, 1)
    small, large = counted(few), counted(args.pods)
    per_pod = (large - small) / (args.pods - few)
    build = "compiled" if compiled_modules() else "pure"
    print(f"build: {build}; runs of {few} and {args.pods} new pods: {small:,} and {large:,}")
    print(f"instructions per new pod: {per_pod:,.0f}")
    print(json.dumps({"bench": "instructions", "build": build, "per_new_pod": round(per_pod)}))


if __name__ == "__main__":
    main()
