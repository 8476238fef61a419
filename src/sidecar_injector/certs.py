"""A self-signed CA and the webhook's serving certificate, and the digest that detects rotation.

The API server only calls webhooks over TLS it can verify against the configuration's
`caBundle`, so `serve` with no flags makes a CA and a serving certificate once, in a state
directory, and reuses them while they are valid. Renewed certificates arrive as a Secret's
symlink swap, which leaves timestamps unreliable: the content digest is what says "changed".
"""

from __future__ import annotations

import base64
import datetime
import hashlib
import ipaddress
import os
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

from cryptography import x509
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

from sidecar_injector import errors

LOCAL_HOSTS = ("localhost", "127.0.0.1", "::1")
RENEW_BEFORE = datetime.timedelta(days=30)


class CertificateError(errors.InjectorError):
    """A certificate or key that cannot be read, or that does not fit."""


@dataclass(frozen=True, slots=True)
class KeyPair:
    """A PEM certificate and its PEM private key."""

    cert_pem: bytes
    key_pem: bytes = field(repr=False)

    @property
    def certificate(self) -> x509.Certificate:
        return x509.load_pem_x509_certificate(self.cert_pem)


@dataclass(frozen=True, slots=True)
class StateFiles:
    """Where `serve` keeps its generated CA and serving certificate."""

    directory: Path

    @property
    def ca_cert(self) -> Path:
        return self.directory / "ca.crt"

    @property
    def ca_key(self) -> Path:
        return self.directory / "ca.key"

    @property
    def cert(self) -> Path:
        return self.directory / "tls.crt"

    @property
    def key(self) -> Path:
        return self.directory / "tls.key"


def make_ca(*, common_name: str = "sidecar-injector CA", days: int = 3650) -> KeyPair:
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, common_name)])
    builder = (
        _builder(subject=name, issuer=name, public_key=key.public_key(), days=days)
        .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
        .add_extension(_key_usage(ca=True), critical=True)
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()), critical=False)
    )
    return KeyPair(_pem(builder.sign(key, hashes.SHA256())), _key_pem(key))


def make_serving(ca: KeyPair, *, hosts: Sequence[str], days: int = 365) -> KeyPair:
    """A serving certificate for `hosts` (DNS names or IP addresses), signed by `ca`."""
    if not hosts:
        raise CertificateError("a serving certificate needs at least one host name")
    ca_key = serialization.load_pem_private_key(ca.key_pem, password=None)
    if not isinstance(ca_key, ec.EllipticCurvePrivateKey):
        raise CertificateError("the CA key is not an EC key; regenerate the CA")
    key = ec.generate_private_key(ec.SECP256R1())
    subject = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, hosts[0])])
    builder = (
        _builder(
            subject=subject, issuer=ca.certificate.subject, public_key=key.public_key(), days=days
        )
        .add_extension(
            x509.SubjectAlternativeName([_general_name(h) for h in hosts]), critical=False
        )
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .add_extension(_key_usage(ca=False), critical=True)
        .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.SERVER_AUTH]), critical=False)
        .add_extension(
            x509.AuthorityKeyIdentifier.from_issuer_public_key(ca_key.public_key()), critical=False
        )
    )
    return KeyPair(_pem(builder.sign(ca_key, hashes.SHA256())), _key_pem(key))


def ensure_self_signed(files: StateFiles, *, hosts: Sequence[str]) -> KeyPair:
    """Reuse the CA and serving certificate in `files` while valid for `hosts`, else make new ones.

    Returns the CA. The CA is kept across serving renewals so a `caBundle` stays good.
    """
    files.directory.mkdir(parents=True, exist_ok=True)
    ca = _read_pair(files.ca_cert, files.ca_key)
    if ca is None or problem(ca.cert_pem) is not None:
        ca = make_ca()
        write_pair(ca, cert=files.ca_cert, key=files.ca_key)
    serving = _read_pair(files.cert, files.key)
    if serving is None or not _fits(serving, ca=ca, hosts=hosts):
        write_pair(make_serving(ca, hosts=hosts), cert=files.cert, key=files.key)
    return ca


def write_pair(pair: KeyPair, *, cert: Path, key: Path) -> None:
    """Write both files atomically (rename), the key readable by its owner only."""
    _write_atomic(key, pair.key_pem, mode=0o600)
    _write_atomic(cert, pair.cert_pem, mode=0o644)


def ca_bundle(ca: KeyPair) -> str:
    """The `caBundle` value of a webhook configuration: the CA's PEM, base64."""
    return base64.b64encode(ca.cert_pem).decode("ascii")


def digest(*paths: Path) -> str:
    """A SHA-256 over the files' contents (through symlinks): equal digests, same certificate."""
    hasher = hashlib.sha256()
    for path in paths:
        hasher.update(path.read_bytes())
        hasher.update(b"\0")
    return hasher.hexdigest()


def problem(cert_pem: bytes, *, now: datetime.datetime | None = None) -> str | None:
    """Why the certificate should not be served now (`None` when it is fine)."""
    try:
        cert = x509.load_pem_x509_certificate(cert_pem)
    except ValueError as err:
        return f"not a PEM certificate: {err}"
    now = now or datetime.datetime.now(datetime.UTC)
    if now < cert.not_valid_before_utc:
        return f"not valid before {cert.not_valid_before_utc.isoformat()}"
    if now >= cert.not_valid_after_utc:
        return f"expired at {cert.not_valid_after_utc.isoformat()}"
    return None


def describe(cert_pem: bytes) -> str:
    """Subject, names and expiry, for logs and `/readyz` (never the key)."""
    cert = x509.load_pem_x509_certificate(cert_pem)
    try:
        names = cert.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
        hosts = ", ".join(str(n.value) for n in names)
    except x509.ExtensionNotFound:
        hosts = ""
    expiry = cert.not_valid_after_utc.isoformat()
    return f"{cert.subject.rfc4514_string()} [{hosts}] valid until {expiry}"


def _fits(serving: KeyPair, *, ca: KeyPair, hosts: Sequence[str]) -> bool:
    soon = datetime.datetime.now(datetime.UTC) + RENEW_BEFORE
    if problem(serving.cert_pem) is not None or problem(serving.cert_pem, now=soon) is not None:
        return False
    cert = serving.certificate
    if cert.issuer != ca.certificate.subject:
        return False
    try:
        cert.verify_directly_issued_by(ca.certificate)
        names = cert.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    except (ValueError, TypeError, InvalidSignature, x509.ExtensionNotFound):
        return False
    present = {str(n.value) for n in names}
    return all(str(_general_name(h).value) in present for h in hosts)


def _read_pair(cert: Path, key: Path) -> KeyPair | None:
    if not (cert.is_file() and key.is_file()):
        return None
    return KeyPair(cert.read_bytes(), key.read_bytes())


def _builder(
    *, subject: x509.Name, issuer: x509.Name, public_key: ec.EllipticCurvePublicKey, days: int
) -> x509.CertificateBuilder:
    now = datetime.datetime.now(datetime.UTC)
    return (
        x509.CertificateBuilder()
        .subject_name(subject)
        .issuer_name(issuer)
        .public_key(public_key)
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(minutes=5))
        .not_valid_after(now + datetime.timedelta(days=days))
    )


def _key_usage(*, ca: bool) -> x509.KeyUsage:
    return x509.KeyUsage(
        digital_signature=True,
        content_commitment=False,
        key_encipherment=not ca,
        data_encipherment=False,
        key_agreement=False,
        key_cert_sign=ca,
        crl_sign=ca,
        encipher_only=False,
        decipher_only=False,
    )


def _general_name(host: str) -> x509.GeneralName:
    try:
        return x509.IPAddress(ipaddress.ip_address(host))
    except ValueError:
        return x509.DNSName(host)


def _pem(cert: x509.Certificate) -> bytes:
    return cert.public_bytes(serialization.Encoding.PEM)


def _key_pem(key: ec.EllipticCurvePrivateKey) -> bytes:
    return key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    )


def _write_atomic(path: Path, data: bytes, *, mode: int) -> None:
    temporary = path.with_name(f".{path.name}.tmp")
    fd = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, mode)
    with os.fdopen(fd, "wb") as handle:
        handle.write(data)
    os.replace(temporary, path)
