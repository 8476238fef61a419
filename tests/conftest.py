"""Shared fixtures: the Go text/template oracle, and the optional inputs of ../shared.

The suite runs from a clone alone: `../shared` (or `SHARED_DIR`) adds Istio's conformance kit
and the load generator's three sample AdmissionReviews. Tests that need the kit skip with
`NO_KIT`; sample-driven tests fall back to the sample docs/samples ships.
"""

from __future__ import annotations

import json
import logging
import os
import subprocess
import threading
from collections.abc import Iterator
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest

from sidecar_injector import PURE_PYTHON_ENV

REPO = Path(__file__).resolve().parents[1]
SHARED = Path(os.environ.get("SHARED_DIR", REPO.parent / "shared"))
KIT = SHARED / "conformance/istio"
NO_KIT = f"Istio's conformance kit is optional and not at {KIT} (../shared or SHARED_DIR)"
needs_kit = pytest.mark.skipif(not KIT.is_dir(), reason=NO_KIT)
SHIPPED_SAMPLE = REPO / "docs/samples/admission-review.json"
"""The loadgen's `typical` AdmissionReview, as the README's curl example sends it."""


LOADGEN_SAMPLES = sorted((SHARED / "tools/loadgen/samples").glob("*.json"))
"""The loadgen's small, typical and large AdmissionReviews; none without ../shared."""


def pytest_configure(config: pytest.Config) -> None:
    """Stop at once when the compiled core (setup.py) is older than its sources: the tests
    would run yesterday's code while reading today's. The code of every compiled module is in
    the one shared library mypyc builds (`_native__mypyc`); each module's own `.so` is a shim."""
    if os.environ.get(PURE_PYTHON_ENV, "") not in ("", "0"):
        return
    package = REPO / "src/sidecar_injector"
    library = next(package.glob("_native__mypyc.*.so"), None)
    if library is None:
        return
    built = library.stat().st_mtime
    for shim in package.rglob("*.so"):
        source = shim.parent / f"{shim.name.split('.', 1)[0]}.py"
        if source.is_file() and source.stat().st_mtime > built:
            pytest.exit(
                f"{source.relative_to(REPO)} is newer than the compiled core; run scripts/install"
                f" (or set {PURE_PYTHON_ENV}=1 to test the sources alone)",
                returncode=4,
            )


def patches_inside(module: ModuleType) -> pytest.MarkDecorator:
    """For tests that replace a function inside `module` and need its callers to see the
    replacement: a compiled module calls its own functions directly, so such tests run in the
    pure-Python pass of scripts/test and skip in the compiled one."""
    compiled = (getattr(module, "__file__", None) or "").endswith(".so")
    reason = f"{module.__name__} is compiled; this test runs with {PURE_PYTHON_ENV}=1"
    return pytest.mark.skipif(compiled, reason=reason)


def admission_samples() -> list[Path]:
    """The loadgen's samples when ../shared is there; else the shipped one (its `typical`)."""
    return LOADGEN_SAMPLES or [SHIPPED_SAMPLE]


class GoOracle:
    """One long-lived `gotmpl-oracle` process: JSON request per line in, JSON reply per line out."""

    def __init__(self, binary: Path) -> None:
        self._proc = subprocess.Popen(
            [str(binary)],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            text=True,
            encoding="utf-8",
        )
        self._lock = threading.Lock()

    def render(self, template: str, data: object = None, **options: Any) -> dict[str, Any]:
        """Go's answer: `{"output": ...}` or `{"error": ..., "phase": ..., "partial": ...}`."""
        request = json.dumps({"template": template, "data": data, **options})
        assert self._proc.stdin is not None and self._proc.stdout is not None
        with self._lock:
            self._proc.stdin.write(request + "\n")
            self._proc.stdin.flush()
            reply: dict[str, Any] = json.loads(self._proc.stdout.readline())
        return reply

    def close(self) -> None:
        if self._proc.stdin is not None:
            self._proc.stdin.close()
        self._proc.wait(timeout=10)
        if self._proc.stdout is not None:
            self._proc.stdout.close()


@pytest.fixture(scope="session")
def go_oracle() -> Iterator[GoOracle]:
    binary = Path(os.environ.get("GOTMPL_ORACLE", REPO / ".tools/bin/gotmpl-oracle"))
    if not binary.is_file():
        pytest.fail(
            f"the Go oracle is missing at {binary}: run scripts/install"
            " (it builds tools/gotmpl-oracle with Debian's Go and sprig)"
        )
    oracle = GoOracle(binary)
    yield oracle
    oracle.close()


def pytest_addoption(parser: pytest.Parser) -> None:
    parser.addoption(
        "--update-golden",
        action="store_true",
        default=False,
        help="rewrite the expected files under tests/golden/ from the current output",
    )


@pytest.fixture
def update_golden(request: pytest.FixtureRequest) -> bool:
    """True when the run was asked to rewrite golden files instead of comparing with them."""
    return bool(request.config.getoption("--update-golden"))


@pytest.fixture(autouse=True)
def root_logging() -> Iterator[None]:
    """`serve` sets up the process's logging (JSON on stderr at its level); a test that runs it
    in process must not leave that to the tests after it."""
    root = logging.getLogger()
    handlers, level = root.handlers[:], root.level
    yield
    root.handlers[:] = handlers
    root.setLevel(level)
