"""A self-signed CA and the webhook's serving certificate, and the digest that detects rotation.

The API server only calls webhooks over TLS it can verify against the configuration's
`caBundle`, so `serve` with no flags makes a CA and a serving certificate once, in a state
directory, and reuses them while they are valid. Renewed certificates arrive as a Secret's
symlink swap, which leaves timestamps unreliable: the content digest is what says "changed".
"""

from __future__ import annotations

import base64
import contextlib
import datetime
import hashlib
import ipaddress
import os
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

from cryptography import x509
from cryptography.exceptions import InvalidSignature, UnsupportedAlgorithm
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.asymmetric.types import PublicKeyTypes
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

    Returns the CA. The CA is kept across serving renewals so a `caBundle` stays good, and it is
    made only when the directory holds none: a CA file that is corrupt, expired or without its
    key is an error, since a new CA would silently stop matching the installed `caBundle`.
    Serving files that do not parse, or do not belong together or to the CA, are errors too.
    """
    files.directory.mkdir(parents=True, exist_ok=True)
    ca = _state_ca(files)
    serving = _state_serving(files, ca=ca)
    if serving is None or not _fits(serving, hosts=hosts):
        write_pair(make_serving(ca, hosts=hosts), cert=files.cert, key=files.key)
    else:
        _owner_only(files.key)
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


def _fits(serving: KeyPair, *, hosts: Sequence[str]) -> bool:
    """Still good to serve for `hosts` past the renewal margin (the CA was checked before)."""
    soon = datetime.datetime.now(datetime.UTC) + RENEW_BEFORE
    if problem(serving.cert_pem) is not None or problem(serving.cert_pem, now=soon) is not None:
        return False
    try:
        names = serving.certificate.extensions.get_extension_for_class(
            x509.SubjectAlternativeName
        ).value
    except x509.ExtensionNotFound:
        return False
    present = {str(n.value) for n in names}
    return all(str(_general_name(h).value) in present for h in hosts)


def _state_ca(files: StateFiles) -> KeyPair:
    """The state directory's CA, checked; a new one only when neither file is there."""
    present = [p for p in (files.ca_cert, files.ca_key) if p.exists()]
    if not present:
        ca = make_ca()
        write_pair(ca, cert=files.ca_cert, key=files.ca_key)
        return ca
    hint = (
        f"remove {files.directory} to make a new CA, then update the webhook configurations' "
        "caBundle with the one `serve` prints"
    )
    if len(present) == 1:
        missing = files.ca_key if present[0] == files.ca_cert else files.ca_cert
        raise CertificateError(f"{missing} is missing beside {present[0]}", hint=hint)
    ca = KeyPair(_read_state(files.ca_cert), _read_state(files.ca_key))
    _check_pair(ca, cert=files.ca_cert, key=files.ca_key, hint=hint)
    why = problem(ca.cert_pem)
    if why is not None:
        raise CertificateError(f"{files.ca_cert}: the CA certificate is {why}", hint=hint)
    _owner_only(files.ca_key)
    return ca


def _state_serving(files: StateFiles, *, ca: KeyPair) -> KeyPair | None:
    """The serving pair when both files are there, checked against each other and the CA."""
    if not (files.cert.exists() and files.key.exists()):
        return None
    hint = (
        f"remove {files.cert} and {files.key}: `serve` then issues new ones from "
        f"{files.ca_cert} and the caBundle stays good"
    )
    serving = KeyPair(_read_state(files.cert), _read_state(files.key))
    cert = _check_pair(serving, cert=files.cert, key=files.key, hint=hint)
    try:
        cert.verify_directly_issued_by(ca.certificate)
    except (ValueError, TypeError, InvalidSignature):
        raise CertificateError(
            f"{files.cert} is not signed by {files.ca_cert}", hint=hint
        ) from None
    return serving


def _check_pair(pair: KeyPair, *, cert: Path, key: Path, hint: str) -> x509.Certificate:
    """The parsed certificate, once it and the key parse and the key is the certificate's."""
    try:
        certificate = x509.load_pem_x509_certificate(pair.cert_pem)
    except ValueError as err:
        raise CertificateError(f"{cert} is not a PEM certificate: {_why(err)}", hint=hint) from None
    try:
        private = serialization.load_pem_private_key(pair.key_pem, password=None)
    except (ValueError, TypeError, UnsupportedAlgorithm) as err:
        raise CertificateError(f"{key} is not a PEM private key: {_why(err)}", hint=hint) from None
    if _public_der(private.public_key()) != _public_der(certificate.public_key()):
        raise CertificateError(f"{key} is not the private key of {cert}", hint=hint)
    return certificate


def _why(err: Exception) -> str:
    """cryptography's reason without its FAQ link ("Unable to load PEM file. See ...")."""
    return str(err).rpartition("for more details.")[2].strip() or type(err).__name__


def _public_der(key: PublicKeyTypes) -> bytes:
    return key.public_bytes(
        serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
    )


MAX_STATE_FILE = 1 << 20
"""A PEM certificate or key is a few kilobytes; more is not one of ours."""


def _read_state(path: Path) -> bytes:
    with path.open("rb") as handle:
        data = handle.read(MAX_STATE_FILE + 1)
    if len(data) > MAX_STATE_FILE:
        raise CertificateError(
            f"{path} is larger than {MAX_STATE_FILE} bytes: not a certificate or key",
            hint=f"remove {path.parent} to start over, then update the webhook's caBundle",
        )
    return data


def _owner_only(key: Path) -> None:
    """A key file readable by others (written by an older version, or by hand) is tightened."""
    if key.stat().st_mode & 0o077:
        os.chmod(key, 0o600)


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
    """Write through a fresh temporary file, so a stale one (its mode, a symlink) cannot leak into
    `path`: unlinked first, created exclusively, then set to exactly `mode` whatever the umask."""
    temporary = path.with_name(f".{path.name}.tmp")
    with contextlib.suppress(FileNotFoundError):
        temporary.unlink()
    fd = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_EXCL, mode)
    with os.fdopen(fd, "wb") as handle:
        os.fchmod(handle.fileno(), mode)
        handle.write(data)
    os.replace(temporary, path)
