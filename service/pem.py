"""PEM certificates checked before gRPC is given them: gRPC takes any bytes, and bytes
that hold no certificate failed only the connection, as if no server were there."""

from __future__ import annotations

import re
import ssl

# A certificate block of a PEM file; text around blocks is allowed, as gRPC allows it
# (openssl's exports start with "Bag Attributes", bundles with the names of their CAs).
_BLOCK = re.compile(rb"-----BEGIN CERTIFICATE-----\r?\n.*?-----END CERTIFICATE-----", re.DOTALL)


def certificates_problem(pem: bytes) -> str | None:
    """What is wrong with ``pem`` as the PEM certificates of a CA, to follow its name, or
    None when openssl reads a certificate from each of its blocks."""
    if not pem.strip():  # empty must not mean "no TLS"
        return "is empty; give the PEM certificate of the CA"
    blocks = _BLOCK.findall(pem)
    if not blocks:
        return "is not a valid PEM certificate: it has no -----BEGIN CERTIFICATE----- block"
    try:  # what is inside the blocks, by openssl: base64 of an X.509 certificate
        ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT).load_verify_locations(cadata=b"\n".join(blocks).decode("ascii"))
    except (ssl.SSLError, UnicodeDecodeError):
        return "is not a valid PEM certificate: a -----BEGIN CERTIFICATE----- block holds none"
    return None
