"""Certificates for a federation's TLS: a CA, and the server's certificate signed by it for the names and
addresses the sites dial. For trials and tests; a hospital's IT would issue its own from its PKI."""

from __future__ import annotations

import datetime as dt
import ipaddress
from collections.abc import Sequence
from pathlib import Path

from neopain.core.atomic import atomic_write_bytes

DAYS = 365


def _key():
    from cryptography.hazmat.primitives.asymmetric import ec

    return ec.generate_private_key(ec.SECP256R1())


def _pem_key(key) -> bytes:
    from cryptography.hazmat.primitives import serialization

    return key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                             serialization.NoEncryption())


def _names(hosts: Sequence[str]) -> list:
    from cryptography import x509

    names = []
    for host in hosts:
        try:
            names.append(x509.IPAddress(ipaddress.ip_address(host)))
        except ValueError:
            names.append(x509.DNSName(host))
    return names


def make_certs(folder: str | Path, hosts: Sequence[str] = ("127.0.0.1", "localhost")) -> Path:
    """Write ca.crt, ca.key, server.pem and server.key (keys readable by the owner only) into ``folder``."""
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.x509.oid import NameOID

    if not hosts:
        raise ValueError("certs: give at least one --host the sites will dial")
    out = Path(folder)
    out.mkdir(parents=True, exist_ok=True)
    now = dt.datetime.now(dt.UTC)
    ca_key, server_key = _key(), _key()
    ca_name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "neopain federation CA")])
    ca = (x509.CertificateBuilder().subject_name(ca_name).issuer_name(ca_name).public_key(ca_key.public_key())
          .serial_number(x509.random_serial_number()).not_valid_before(now)
          .not_valid_after(now + dt.timedelta(days=DAYS))
          .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
          .sign(ca_key, hashes.SHA256()))
    server = (x509.CertificateBuilder()
              .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, hosts[0])]))
              .issuer_name(ca_name).public_key(server_key.public_key())
              .serial_number(x509.random_serial_number()).not_valid_before(now)
              .not_valid_after(now + dt.timedelta(days=DAYS))
              .add_extension(x509.SubjectAlternativeName(_names(hosts)), critical=False)
              .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
              .sign(ca_key, hashes.SHA256()))
    pem = serialization.Encoding.PEM
    atomic_write_bytes(out / "ca.crt", ca.public_bytes(pem))
    atomic_write_bytes(out / "server.pem", server.public_bytes(pem))
    for name, key in (("ca.key", ca_key), ("server.key", server_key)):
        atomic_write_bytes(out / name, _pem_key(key))
        (out / name).chmod(0o600)
    return out
