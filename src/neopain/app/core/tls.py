"""HTTPS for the ward network: a self-signed certificate made on first use (or the user's own pair)."""

from __future__ import annotations

import datetime as dt
import ipaddress
import socket
from pathlib import Path

from neopain.core.atomic import atomic_write_bytes

CERT_FILE = "neopain-cert.pem"
KEY_FILE = "neopain-key.pem"
VALID_DAYS = 825  # the most that Apple devices accept for a server certificate


class ServeError(ValueError):
    """A server option that cannot work (e.g. a LAN address without HTTPS)."""


class TlsError(ValueError):
    """A certificate or key that is missing or cannot be used."""


def is_loopback(host: str) -> bool:
    if host in ("localhost", "localhost.localdomain"):
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def _names_for(host: str) -> tuple[list[str], list[str]]:
    """DNS names and IP addresses the certificate should cover."""
    dns = {"localhost", socket.gethostname()}
    ips = {"127.0.0.1", "::1"}
    for candidate in (host, *_local_addresses()):
        try:
            ipaddress.ip_address(candidate)
            ips.add(candidate)
        except ValueError:
            if candidate:
                dns.add(candidate)
    ips.discard("0.0.0.0")
    ips.discard("::")
    return sorted(dns), sorted(ips)


def _local_addresses() -> list[str]:
    try:
        return sorted({info[4][0] for info in socket.getaddrinfo(socket.gethostname(), None)})
    except OSError:
        return []


def self_signed(folder: Path, host: str) -> tuple[Path, Path]:
    """(cert, key) under ``folder``, created once; reused on later starts so phones trust it once."""
    cert_path, key_path = folder / CERT_FILE, folder / KEY_FILE
    if cert_path.is_file() and key_path.is_file():
        return cert_path, key_path
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID

    folder.mkdir(parents=True, exist_ok=True)
    key = ec.generate_private_key(ec.SECP256R1())
    dns, ips = _names_for(host)
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "neopain bedside (self-signed)")])
    now = dt.datetime.now(dt.UTC)
    alt = [x509.DNSName(d) for d in dns] + [x509.IPAddress(ipaddress.ip_address(i)) for i in ips]
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(minutes=5))
        .not_valid_after(now + dt.timedelta(days=VALID_DAYS))
        .add_extension(x509.SubjectAlternativeName(alt), critical=False)
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .sign(key, hashes.SHA256())
    )
    key_pem = key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    )
    # mkstemp creates the temporary file 0600, and the rename keeps it: the key is never world-readable.
    atomic_write_bytes(key_path, key_pem)
    atomic_write_bytes(cert_path, cert.public_bytes(serialization.Encoding.PEM))
    return cert_path, key_path


def fingerprint(cert_path: Path) -> str:
    """SHA-256 fingerprint to compare on the phone when it warns about the self-signed certificate."""
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes

    cert = x509.load_pem_x509_certificate(cert_path.read_bytes())
    return cert.fingerprint(hashes.SHA256()).hex(":").upper()


def check_pair(cert: Path | None, key: Path | None) -> tuple[Path, Path] | None:
    """The user's own certificate and key, both or neither."""
    if cert is None and key is None:
        return None
    if cert is None or key is None:
        raise TlsError("give both --cert and --key, or neither")
    for path in (cert, key):
        if not path.is_file():
            raise TlsError(f"{path}: file not found")
    return cert, key


def tls_files(settings, host: str, https: bool, cert: Path | None, key: Path | None):  # type: ignore[no-untyped-def]
    """(cert, key) to serve with, or None for plain HTTP on loopback or behind a trusted TLS proxy
    (NEOPAIN_TRUSTED_PROXIES); ServeError for a LAN address without HTTPS (phones open the camera only in
    a secure context)."""
    own = check_pair(cert, key)
    if own is not None:
        return own
    if not https:
        if not is_loopback(host) and not settings.proxies:
            raise ServeError(
                f"binding {host} exposes the app to the network: add --https (phones only open the camera "
                "over HTTPS), put it behind a TLS proxy (NEOPAIN_TRUSTED_PROXIES), or keep --host 127.0.0.1"
            )
        return None
    return self_signed(settings.app_dir / "tls", host)
