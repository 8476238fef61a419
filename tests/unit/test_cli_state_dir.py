"""`serve --state-dir` with a state directory that is corrupt or does not fit together: the CLI
names the file and what to do, and leaves the CA alone (a new one would not match the caBundle
already installed)."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest
from typer.testing import CliRunner

from sidecar_injector import certs, cli


def state(tmp_path: Path) -> certs.StateFiles:
    files = certs.StateFiles(tmp_path / "state")
    certs.ensure_self_signed(files, hosts=[*certs.LOCAL_HOSTS])
    return files


def serve(files: certs.StateFiles) -> tuple[int, str]:
    result = CliRunner().invoke(
        cli.app, ["serve", "--state-dir", str(files.directory), "--port", "1"]
    )
    return result.exit_code, result.stderr


def _corrupt_ca(files: certs.StateFiles) -> Path:
    files.ca_cert.write_bytes(b"-----BEGIN CERTIFICATE-----\nbroken\n-----END CERTIFICATE-----\n")
    return files.ca_cert


def _corrupt_key(files: certs.StateFiles) -> Path:
    files.key.write_bytes(b"not a key")
    return files.key


def _other_key(files: certs.StateFiles) -> Path:
    ca = certs.KeyPair(files.ca_cert.read_bytes(), files.ca_key.read_bytes())
    files.key.write_bytes(certs.make_serving(ca, hosts=["localhost"]).key_pem)
    return files.key


def _other_ca(files: certs.StateFiles) -> Path:
    certs.write_pair(
        certs.make_serving(certs.make_ca(), hosts=["localhost"]), cert=files.cert, key=files.key
    )
    return files.cert


@pytest.mark.parametrize(
    ("damage", "says", "fix"),
    [
        (_corrupt_ca, "is not a PEM certificate", "to make a new CA, then update"),
        (_corrupt_key, "is not a PEM private key", "issues new ones from"),
        (_other_key, "is not the private key of", "issues new ones from"),
        (_other_ca, "is not signed by", "issues new ones from"),
    ],
    ids=["corrupt ca.crt", "corrupt tls.key", "tls.key of another cert", "tls.crt of another CA"],
)
def test_a_damaged_state_dir_stops_serve_naming_the_file(
    tmp_path: Path, damage: Callable[[certs.StateFiles], Path], says: str, fix: str
) -> None:
    files = state(tmp_path)
    damaged = damage(files)
    before = {p: p.read_bytes() for p in files.directory.iterdir()}
    code, stderr = serve(files)
    assert code == 1
    assert stderr.startswith(f"sidecar-injector: error: {damaged} {says}")
    assert fix in stderr
    assert "Traceback" not in stderr
    assert {p: p.read_bytes() for p in files.directory.iterdir()} == before


def test_the_ca_hint_names_the_directory(tmp_path: Path) -> None:
    files = state(tmp_path)
    _corrupt_ca(files)
    _, stderr = serve(files)
    assert f"remove {files.directory} to make a new CA" in stderr
    assert "caBundle" in stderr
