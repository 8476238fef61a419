"""The compiled core (setup.py, mypyc) and the pure-Python sources behave as one program.

`SIDECAR_INJECTOR_PURE_PYTHON=1` must really load the `.py` files, and both builds must give
byte-identical answers: patches for the admission samples, a kube-inject of a Deployment, and
the same errors. Each build runs in its own interpreter, since a process has one or the other.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

import sidecar_injector
from sidecar_injector import PURE_PYTHON_ENV, inject
from tests.conftest import REPO, admission_samples

COMPILED = (getattr(inject, "__file__", None) or "").endswith(".so")
"""This process runs the compiled core."""
BUILT = any((REPO / "src/sidecar_injector").glob("inject.*.so"))
"""The compiled core is there, whether this process uses it or not."""
needs_compiled = pytest.mark.skipif(
    not BUILT, reason="the core is not compiled here (SIDECAR_INJECTOR_COMPILE=0 or no C compiler)"
)

ADMIT = """
import json, sys
import orjson
from sidecar_injector import config
from sidecar_injector.admission import pipeline, review
work = pipeline.InjectionPipeline(config.load(), cache_entries=0)
for path in sys.argv[1:]:
    request = review.decode(open(path, "rb").read())
    for namespace in ("default", "kube-system"):
        try:
            admitted = work.admit(request.object, namespace=namespace, params={})
            print(admitted.inject, admitted.reason, admitted.message, admitted.warnings)
            print((admitted.patch or b"").decode())
        except Exception as err:
            print("error", type(err).__name__, err)
broken = {"metadata": {"annotations": {"sidecar.istio.io/proxyCPU": "lots"}},
          "spec": {"containers": [{"name": "app", "image": "app"}]}}
try:
    work.admit(broken, namespace="default", params={})
except Exception as err:
    print("error", type(err).__name__, err)
"""

DEPLOYMENT = """\
apiVersion: apps/v1
kind: Deployment
metadata: {name: shop, namespace: shop}
spec:
  selector: {matchLabels: {app: shop}}
  template:
    metadata:
      labels: {app: shop}
      annotations: {proxy.istio.io/config: "holdApplicationUntilProxyStarts: true"}
    spec:
      initContainers: [{name: setup, image: busybox}]
      containers:
      - name: shop
        image: shop:1
        ports: [{containerPort: 8080}]
        readinessProbe: {httpGet: {path: /ready, port: 8080}}
"""


def _run(args: list[str], *, pure: bool, stdin: str | None = None) -> str:
    env = {**os.environ, PURE_PYTHON_ENV: "1" if pure else ""}
    done = subprocess.run(
        args, env=env, input=stdin, capture_output=True, text=True, cwd=REPO, timeout=120
    )
    assert done.returncode == 0, done.stderr
    return done.stdout


def test_the_switch_loads_the_sources() -> None:
    code = (
        "import json, sidecar_injector.admission.pipeline as p, sidecar_injector as s;"
        "from sidecar_injector import inject, typedpod;"
        "print(json.dumps([inject.__file__, typedpod.__file__, s.compiled_modules()]))"
    )
    files = json.loads(_run([sys.executable, "-c", code], pure=True))
    assert files[0].endswith("inject.py")
    assert files[1].endswith("typedpod.py")
    assert files[2] == []


@needs_compiled
def test_without_the_switch_the_core_runs_compiled() -> None:
    code = "import sidecar_injector.inject as i, sidecar_injector as s; print(s.compiled_modules())"
    shown = _run([sys.executable, "-c", code], pure=False)
    assert "sidecar_injector.inject" in shown
    assert "sidecar_injector.typedpod" in shown


@needs_compiled
def test_both_builds_answer_admissions_alike() -> None:
    samples = [str(path) for path in admission_samples()]
    compiled = _run([sys.executable, "-c", ADMIT, *samples], pure=False)
    assert compiled == _run([sys.executable, "-c", ADMIT, *samples], pure=True)
    assert '"op":"add"' in compiled
    assert "error" in compiled.splitlines()[-1]


@needs_compiled
def test_both_builds_inject_a_deployment_alike(tmp_path: Path) -> None:
    command = [sys.executable, "-m", "sidecar_injector", "kube-inject", "-f", "-"]
    compiled = _run(command, pure=False, stdin=DEPLOYMENT)
    assert compiled == _run(command, pure=True, stdin=DEPLOYMENT)
    assert "istio-proxy" in compiled


def test_version_says_which_build_runs() -> None:
    command = [sys.executable, "-m", "sidecar_injector", "version"]
    assert "core: pure Python" in _run(command, pure=True)
    if BUILT:
        assert "core: compiled with mypyc" in _run(command, pure=False)


def test_this_process_reports_its_own_build() -> None:
    compiled = sidecar_injector.compiled_modules()
    assert ("sidecar_injector.inject" in compiled) == COMPILED
