"""PEM certificates and keys checked before gRPC is given them: gRPC takes any bytes, and
bytes that hold no certificate failed only the connection, as if no server were there."""

from __future__ import annotations

import re
import ssl

# A certificate block of a PEM file; text around blocks is allowed, as gRPC allows it
# (openssl's exports start with "Bag Attributes", bundles with the names of their CAs).
_BLOCK = re.compile(rb"-----BEGIN CERTIFICATE-----\r?\n.*?-----END CERTIFICATE-----", re.DOTALL)
# A private key block: PKCS#8 ("PRIVATE KEY", "ENCRYPTED PRIVATE KEY") or a key type's own
# ("RSA PRIVATE KEY", "EC PRIVATE KEY").
_KEY = re.compile(rb"-----BEGIN ([A-Z]+ )?PRIVATE KEY-----\r?\n.*?-----END ([A-Z]+ )?PRIVATE KEY-----", re.DOTALL)


def certificates_problem(pem: bytes, whose: str = "of the CA") -> str | None:
    """What is wrong with ``pem`` as the PEM certificates of a CA (or ``whose`` they are),
    to follow its name, or None when openssl reads a certificate from each of its blocks."""
    if not pem.strip():  # empty must not mean "no TLS"
        return f"is empty; give the PEM certificate {whose}"
    blocks = _BLOCK.findall(pem)
    if not blocks:
        return "is not a valid PEM certificate: it has no -----BEGIN CERTIFICATE----- block"
    try:  # what is inside the blocks, by openssl: base64 of an X.509 certificate
        ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT).load_verify_locations(cadata=b"\n".join(blocks).decode("ascii"))
    except (ssl.SSLError, UnicodeDecodeError):
        return "is not a valid PEM certificate: a -----BEGIN CERTIFICATE----- block holds none"
    return None


def private_key_problem(pem: bytes) -> str | None:
    """What is wrong with ``pem`` as a PEM private key, to follow its name, or None when it
    holds a private key block (gRPC reads it only as it connects: a bad key failed every
    call UNAVAILABLE, as if no server ran)."""
    if not pem.strip():
        return "is empty; give the PEM private key"
    if _KEY.search(pem) is None:
        return "is not a PEM private key: it has no -----BEGIN PRIVATE KEY----- block"
    return None
