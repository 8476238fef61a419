"""What every benchmark shares: paths, the Go tools, and go-ref-injector's template as our config.

go-ref-injector renders `sidecar-template.yaml` to a YAML document with the top-level keys
`initContainers`, `containers`, `volumes`, `imagePullSecrets`, `labels` and `annotations`. Our
modern config renders a Pod overlay instead, so `reference_config` moves the first four under
`spec:` and the last two under `metadata:`, indenting those template lines by two spaces (the
template has no `indent`, so its output lines move with it). The data (`.Values`) is the
reference's built-in values, read from its `main.go`, so both servers render the same thing.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
SHARED = Path(os.environ.get("SHARED_DIR", REPO.parent / "shared"))
TOOLS = SHARED / "tools"
SAMPLES = TOOLS / "loadgen/samples"
BIN = REPO / ".tools/bin"
TEMPLATE = TOOLS / "go-ref-injector/sidecar-template.yaml"
SPEC_KEYS = ("initContainers:", "containers:", "volumes:", "imagePullSecrets:")
META_KEYS = ("labels:", "annotations:")


def require_shared(script: str) -> None:
    """Stop with what is missing, not a traceback: the benchmarks compare with the Go reference
    injector and drive loadgen with its samples, all from ../shared/tools, which a clone alone
    does not have (the tests do not need it)."""
    if not (TOOLS / "go-ref-injector").is_dir() or not SAMPLES.is_dir():
        sys.exit(
            f"{script}: needs ../shared/tools (the Go reference injector, loadgen and its sample"
            f" AdmissionReviews), and it is not at {TOOLS}: put the project's shared/ folder"
            " beside the repo or set SHARED_DIR to it"
        )


def go_tool(name: str) -> Path:
    """The binary of a shared Go tool, built into .tools/bin with its own build.sh when missing."""
    binary = BIN / name
    source = TOOLS / name / "main.go"
    if not binary.exists() or source.stat().st_mtime > binary.stat().st_mtime:
        env = {**os.environ, "BIN_DIR": str(BIN)}
        subprocess.run(["bash", str(TOOLS / name / "build.sh")], check=True, env=env)
    return binary


def reference_values() -> str:
    """go-ref-injector's built-in `.Values` (the YAML constant in its main.go)."""
    source = (TOOLS / "go-ref-injector/main.go").read_text(encoding="utf-8")
    return source.split("const defaultValues = `", 1)[1].split("`", 1)[0]


def pod_overlay_template(text: str) -> str:
    """The reference template with its sidecar keys under `spec:` and `metadata:`."""
    lines: list[str] = []
    section = ""
    for line in text.splitlines():
        if line.startswith(SPEC_KEYS) and section != "spec":
            section = "spec"
            lines.append("spec:")
        elif line.startswith(META_KEYS) and section != "metadata":
            section = "metadata"
            lines.append("metadata:")
        lines.append(f"  {line}" if section and line else line)
    return "\n".join(lines) + "\n"


def reference_config(directory: Path, *, policy: str = "enabled") -> tuple[Path, Path]:
    """Write our injection config and values for the reference template; return both paths.

    `policy="disabled"` gives the allow-only floor: the same server and config, but every pod
    is admitted without a patch after decoding and the policy decision.
    """
    template = pod_overlay_template(TEMPLATE.read_text(encoding="utf-8"))
    body = "".join(f"    {line}\n" if line else "\n" for line in template.splitlines())
    config = directory / f"inject-{policy}.yaml"
    config.write_text(
        f"policy: {policy}\ndefaultTemplates: [sidecar]\ntemplates:\n  sidecar: |\n{body}",
        encoding="utf-8",
    )
    values = directory / "values.yaml"
    values.write_text(reference_values(), encoding="utf-8")
    return config, values
