"""The CA certificate a command verifies a TLS server with (``--tls-ca``), read and
checked before connecting: grpc takes any bytes, and a file that holds no certificate
only failed the connection, as if no server were there."""

from __future__ import annotations

import re
import ssl
from pathlib import Path

# A certificate block of a PEM file; text around blocks is allowed, as grpc allows it
# (openssl's exports start with "Bag Attributes", bundles with the names of their CAs).
_BLOCK = re.compile(rb"-----BEGIN CERTIFICATE-----\r?\n.*?-----END CERTIFICATE-----", re.DOTALL)


def read_ca(path: Path) -> bytes:
    """The content of ``path``, PEM certificates; else ValueError with what is wrong with
    the file (unreadable, empty, not PEM certificates), to follow its name."""
    try:
        pem = path.read_bytes()
    except OSError as exc:
        raise ValueError(f"cannot be read: {exc.strerror or exc}") from None
    if not pem.strip():  # an empty file must not mean "no TLS"
        raise ValueError("is empty; give the PEM certificate of the server's CA")
    blocks = _BLOCK.findall(pem)
    if not blocks:
        raise ValueError("is not a valid PEM certificate: it has no -----BEGIN CERTIFICATE----- block")
    try:  # what is inside the blocks, by openssl: base64 of an X.509 certificate
        ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT).load_verify_locations(cadata=b"\n".join(blocks).decode("ascii"))
    except (ssl.SSLError, UnicodeDecodeError):
        raise ValueError("is not a valid PEM certificate: a -----BEGIN CERTIFICATE----- block holds none") from None
    return pem
