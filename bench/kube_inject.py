"""Time `kube-inject` on a stream of 1,000 Deployments and print the figures.

    .venv/bin/python bench/kube_inject.py                    # the real pipeline, embedded config
    .venv/bin/python bench/kube_inject.py --injector none    # document handling alone
    .venv/bin/python bench/kube_inject.py --count 5000 --injectConfigFile C --valuesFile V \\
        --meshConfigFile M

The last line is JSON, for scripts: {"bench": "kube_inject", "documents": N, "seconds": S, ...}.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import time
from pathlib import Path

from sidecar_injector import config, workloads

DEPLOYMENT = """\
apiVersion: apps/v1
kind: Deployment
metadata:
  name: app-{index}
  namespace: shop
spec:
  replicas: 2
  selector:
    matchLabels: {{app: app-{index}}}
  template:
    metadata:
      labels: {{app: app-{index}, version: v1}}
    spec:
      containers:
      - name: app
        image: example.com/app:{index}
        ports: [{{containerPort: 8080, name: http}}]
        readinessProbe: {{httpGet: {{path: /ready, port: 8080}}}}
---
"""


def stream(count: int) -> str:
    return "".join(DEPLOYMENT.format(index=index) for index in range(count))


def untouched(template: workloads.PodTemplate) -> workloads.Injected:
    return workloads.Injected(template.pod)


def run_once(text: str, *, injector: str, settings: config.Config) -> workloads.Output:
    if injector == "none":
        return workloads.inject_stream(text, inject=untouched)
    return workloads.kube_inject(text, settings=settings)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--count", type=int, default=1000)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--injector", choices=("pipeline", "none"), default="pipeline")
    parser.add_argument("--injectConfigFile", type=Path)
    parser.add_argument("--valuesFile", type=Path)
    parser.add_argument("--meshConfigFile", type=Path)
    args = parser.parse_args()
    settings = config.load_files(
        config=args.injectConfigFile,
        values=args.valuesFile,
        mesh=args.meshConfigFile,
        env=dict(os.environ),
    )
    text = stream(args.count)
    times = []
    for _ in range(args.repeat):
        start = time.perf_counter()
        output = run_once(text, injector=args.injector, settings=settings)
        times.append(time.perf_counter() - start)
    best = min(times)
    print(f"kube-inject, {args.injector} injector: {args.count} Deployments, {len(text)} bytes in")
    print(f"  {len(output.text)} bytes out, {len(output.warnings)} warnings")
    print(f"  best {best:.3f} s, median {statistics.median(times):.3f} s of {args.repeat} runs")
    print(f"  {args.count / best:.0f} documents/s, {best / args.count * 1e3:.2f} ms per document")
    print(
        json.dumps(
            {
                "bench": "kube_inject",
                "injector": args.injector,
                "documents": args.count,
                "seconds": round(best, 4),
                "median_seconds": round(statistics.median(times), 4),
                "documents_per_second": round(args.count / best, 1),
            }
        )
    )


if __name__ == "__main__":
    main()
