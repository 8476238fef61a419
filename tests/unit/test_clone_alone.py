"""A clone alone works: the suite collects, and what needs ../shared skips, from a copy of the
tracked files in a folder with no `shared` beside it (as someone who clones from a forge has).

The copy runs with this venv's Python and its own `src` first on the path, so no install is
needed. It holds what a clone of this work tree would once committed: the tracked files and the
new ones git does not ignore, as they are on disk (never .venv, .tools or caches).
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from tests.conftest import REPO


def _tracked_files() -> list[str]:
    try:
        listed = subprocess.run(
            [
                "git",
                "-C",
                str(REPO),
                "ls-files",
                "-z",
                "--cached",
                "--others",
                "--exclude-standard",
            ],
            capture_output=True,
            check=True,
        )
    except (OSError, subprocess.CalledProcessError):
        pytest.skip("not a git checkout: nothing says which files a clone has")
    return [name for name in listed.stdout.decode().split("\0") if name]


@pytest.fixture(scope="module")
def clone(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The files of a clone under <tmp>/alone/main; <tmp>/alone has nothing else."""
    root = tmp_path_factory.mktemp("alone") / "main"
    for name in _tracked_files():
        source = REPO / name
        if source.is_file():
            target = root / name
            target.parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(source, target)
    assert not (root.parent / "shared").exists()
    return root


def pytest_in(clone: Path, *args: str) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("SHARED_DIR", "PYTEST_"))}
    env["PYTHONPATH"] = f"{clone / 'src'}{os.pathsep}{clone}"
    command = [sys.executable, "-m", "pytest", "-p", "no:cacheprovider", "-p", "no:xdist", *args]
    return subprocess.run(
        command, cwd=clone, env=env, capture_output=True, text=True, timeout=240, check=False
    )


def test_the_whole_suite_collects_without_errors(clone: Path) -> None:
    result = pytest_in(clone, "--collect-only", "-q")
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    closing = result.stdout.strip().splitlines()[-1]
    assert "error" not in closing, closing
    assert "tests collected" in closing


def test_what_needs_shared_skips_with_the_reason(clone: Path) -> None:
    files = [
        "tests/unit/test_config.py",
        "tests/unit/test_merge.py",
        "tests/unit/test_annotations.py",
        "tests/differential/test_gotemplate_cases.py",
    ]
    result = pytest_in(clone, "-q", "-rs", *files)
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    assert "conformance kit is optional" in result.stdout
    assert "shipped cases are optional" in result.stdout
    assert " failed" not in result.stdout and " error" not in result.stdout
