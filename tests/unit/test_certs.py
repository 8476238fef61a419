"""The self-signed CA and serving certificate: made once, reused, renewed when they stop fitting."""

from __future__ import annotations

import base64
import datetime
import ssl
import stat
from pathlib import Path

import pytest

from sidecar_injector import certs


def test_serving_certificate_verifies_against_its_ca(tmp_path: Path) -> None:
    ca = certs.make_ca()
    serving = certs.make_serving(ca, hosts=["localhost", "127.0.0.1"])
    certs.write_pair(serving, cert=tmp_path / "tls.crt", key=tmp_path / "tls.key")
    server = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    server.load_cert_chain(tmp_path / "tls.crt", tmp_path / "tls.key")
    serving.certificate.verify_directly_issued_by(ca.certificate)
    assert "localhost, 127.0.0.1" in certs.describe(serving.cert_pem)
    assert stat.S_IMODE((tmp_path / "tls.key").stat().st_mode) == 0o600


def test_state_is_reused_while_it_fits(tmp_path: Path) -> None:
    files = certs.StateFiles(tmp_path / "state")
    ca = certs.ensure_self_signed(files, hosts=["localhost"])
    first = certs.digest(files.cert, files.key)
    again = certs.ensure_self_signed(files, hosts=["localhost"])
    assert again == ca
    assert certs.digest(files.cert, files.key) == first
    assert base64.b64decode(certs.ca_bundle(ca)) == files.ca_cert.read_bytes()


def test_a_new_host_renews_the_serving_certificate_but_keeps_the_ca(tmp_path: Path) -> None:
    files = certs.StateFiles(tmp_path)
    ca = certs.ensure_self_signed(files, hosts=["localhost"])
    first = certs.digest(files.cert, files.key)
    assert certs.ensure_self_signed(files, hosts=["localhost", "10.0.0.1"]) == ca
    assert certs.digest(files.cert, files.key) != first
    assert "10.0.0.1" in certs.describe(files.cert.read_bytes())


def test_a_certificate_from_another_ca_is_an_error_not_replaced(tmp_path: Path) -> None:
    files = certs.StateFiles(tmp_path)
    certs.ensure_self_signed(files, hosts=["localhost"])
    stranger = certs.make_serving(certs.make_ca(), hosts=["localhost"])
    certs.write_pair(stranger, cert=files.cert, key=files.key)
    with pytest.raises(certs.CertificateError) as caught:
        certs.ensure_self_signed(files, hosts=["localhost"])
    assert f"{files.cert} is not signed by {files.ca_cert}" in str(caught.value)
    assert f"remove {files.cert} and {files.key}" in str(caught.value)
    assert files.cert.read_bytes() == stranger.cert_pem


def test_an_expiring_serving_certificate_is_renewed_by_the_same_ca(tmp_path: Path) -> None:
    files = certs.StateFiles(tmp_path)
    ca = certs.ensure_self_signed(files, hosts=["localhost"])
    short = certs.make_serving(ca, hosts=["localhost"], days=1)
    certs.write_pair(short, cert=files.cert, key=files.key)
    assert certs.ensure_self_signed(files, hosts=["localhost"]) == ca
    assert files.cert.read_bytes() != short.cert_pem
    certs.KeyPair(files.cert.read_bytes(), b"").certificate.verify_directly_issued_by(
        ca.certificate
    )


def test_a_ca_certificate_without_its_key_is_an_error(tmp_path: Path) -> None:
    files = certs.StateFiles(tmp_path)
    ca = certs.ensure_self_signed(files, hosts=["localhost"])
    files.ca_key.unlink()
    with pytest.raises(certs.CertificateError, match=f"{files.ca_key} is missing beside"):
        certs.ensure_self_signed(files, hosts=["localhost"])
    assert files.ca_cert.read_bytes() == ca.cert_pem


def test_an_expired_ca_is_an_error(tmp_path: Path) -> None:
    files = certs.StateFiles(tmp_path)
    certs.ensure_self_signed(files, hosts=["localhost"])
    old = certs.make_ca(days=0)
    certs.write_pair(old, cert=files.ca_cert, key=files.ca_key)
    with pytest.raises(certs.CertificateError) as caught:
        certs.ensure_self_signed(files, hosts=["localhost"])
    assert f"{files.ca_cert}: the CA certificate is expired at" in str(caught.value)
    assert f"remove {tmp_path} to make a new CA" in str(caught.value)


def test_a_ca_key_of_another_ca_is_an_error(tmp_path: Path) -> None:
    files = certs.StateFiles(tmp_path)
    certs.ensure_self_signed(files, hosts=["localhost"])
    files.ca_key.write_bytes(certs.make_ca().key_pem)
    with pytest.raises(certs.CertificateError, match="is not the private key of"):
        certs.ensure_self_signed(files, hosts=["localhost"])


def test_a_huge_state_file_is_an_error_before_it_is_parsed(tmp_path: Path) -> None:
    files = certs.StateFiles(tmp_path)
    certs.ensure_self_signed(files, hosts=["localhost"])
    files.cert.write_bytes(b"-" * (certs.MAX_STATE_FILE + 1))
    with pytest.raises(certs.CertificateError, match="larger than"):
        certs.ensure_self_signed(files, hosts=["localhost"])


def test_a_stale_temporary_file_cannot_loosen_the_key(tmp_path: Path) -> None:
    files = certs.StateFiles(tmp_path)
    stale = tmp_path / ".tls.key.tmp"
    stale.write_bytes(b"left by a crash")
    stale.chmod(0o644)
    elsewhere = tmp_path / "elsewhere"
    elsewhere.write_bytes(b"not to be written")
    (tmp_path / ".ca.key.tmp").symlink_to(elsewhere)
    certs.ensure_self_signed(files, hosts=["localhost"])
    for key in (files.key, files.ca_key):
        assert stat.S_IMODE(key.stat().st_mode) == 0o600
        assert not key.is_symlink()
    assert elsewhere.read_bytes() == b"not to be written"
    assert not stale.exists()


def test_a_reused_key_readable_by_others_is_tightened(tmp_path: Path) -> None:
    files = certs.StateFiles(tmp_path)
    certs.ensure_self_signed(files, hosts=["localhost"])
    before = certs.digest(files.cert, files.key)
    files.key.chmod(0o644)
    files.ca_key.chmod(0o640)
    certs.ensure_self_signed(files, hosts=["localhost"])
    assert certs.digest(files.cert, files.key) == before
    assert stat.S_IMODE(files.key.stat().st_mode) == 0o600
    assert stat.S_IMODE(files.ca_key.stat().st_mode) == 0o600


def test_problem_names_expiry_and_garbage() -> None:
    pair = certs.make_serving(certs.make_ca(), hosts=["localhost"], days=1)
    assert certs.problem(pair.cert_pem) is None
    later = datetime.datetime.now(datetime.UTC) + datetime.timedelta(days=2)
    assert (certs.problem(pair.cert_pem, now=later) or "").startswith("expired at")
    earlier = datetime.datetime.now(datetime.UTC) - datetime.timedelta(days=1)
    assert (certs.problem(pair.cert_pem, now=earlier) or "").startswith("not valid before")
    assert (certs.problem(b"junk") or "").startswith("not a PEM certificate")


def test_no_hosts_is_an_error() -> None:
    with pytest.raises(certs.CertificateError, match="at least one host"):
        certs.make_serving(certs.make_ca(), hosts=[])
