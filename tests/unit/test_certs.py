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


def test_a_certificate_from_another_ca_is_replaced(tmp_path: Path) -> None:
    files = certs.StateFiles(tmp_path)
    certs.ensure_self_signed(files, hosts=["localhost"])
    stranger = certs.make_serving(certs.make_ca(), hosts=["localhost"])
    certs.write_pair(stranger, cert=files.cert, key=files.key)
    ca = certs.ensure_self_signed(files, hosts=["localhost"])
    certs.KeyPair(files.cert.read_bytes(), b"").certificate.verify_directly_issued_by(
        ca.certificate
    )


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
