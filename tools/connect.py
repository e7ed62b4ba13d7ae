"""How a ``strata`` command reaches its server (``--target``, ``--token``, ``--tls-ca``
and a client certificate), and what to tell its user when a call reached none."""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

from service.client import StrataClient, StrataRpcError
from tools.arguments import dialled
from tools.output import stop
from tools.tls_ca import read_ca

DEFAULT_TARGET = "localhost:50051"
CLIENT_CERT, CLIENT_KEY = "STRATA_TLS_CLIENT_CERT", "STRATA_TLS_CLIENT_KEY"

# What to do about a refusal that is not about the request itself.
_HINTS = {
    "UNAVAILABLE": "is a server running at --target (STRATA_TARGET)? A TLS server needs --tls-ca.",
    "UNAUTHENTICATED": "pass a known token with --token (STRATA_TOKEN).",
}


@dataclass(frozen=True)
class Dialled:
    """How the last client made by :func:`connect` reaches its server."""

    tls: bool = False
    ca: str = ""  # the file of --tls-ca; "" for the system's CAs
    client_certificate: str = ""  # its file, when one is presented


# A command makes one client, and its failures reach the CLI's error handler without it;
# what is wrong with a connection depends on how it was made (with TLS, with a client
# certificate), so the last one made is kept here.
_last = [Dialled()]


def connect(target: str, token: str | None = None, tls_ca: Path | None = None) -> StrataClient:
    """A client for ``target`` (a bare host gets the default port), with ``token``, TLS
    verified by ``tls_ca``, and the client certificate named by the environment; a
    problem of these ends the command with a message naming the option or variable."""
    if not target.strip():
        stop("--target (STRATA_TARGET) is empty; give the server's address as host:port")
    try:
        target = dialled(target, DEFAULT_TARGET)
    except ValueError as exc:  # the commands' --target refuses it first, naming where it came from
        stop(f"--target (STRATA_TARGET) {exc}")
    try:
        roots = read_ca(tls_ca) if tls_ca else None
    except ValueError as exc:
        stop(f"--tls-ca {tls_ca} {exc}")
    # A server with STRATA_TLS_CLIENT_CA asks for a client certificate: from the environment.
    cert, key = (os.environ.get(name) or "" for name in (CLIENT_CERT, CLIENT_KEY))
    if bool(cert) != bool(key):
        stop(f"set both {CLIENT_CERT} and {CLIENT_KEY} (PEM files), or neither")
    try:
        pair = (Path(key).read_bytes(), Path(cert).read_bytes()) if cert else None
    except OSError as exc:
        stop(f"cannot read the client certificate or key: {exc.strerror}: {exc.filename}")
    _last[0] = Dialled(tls=bool(roots or pair), ca=str(tls_ca or ""), client_certificate=cert)
    return StrataClient(target, token=token, root_certificates=roots, client_certificate=pair)


def hint(exc: StrataRpcError) -> str:
    """What to do about a call refused before it reached a server (the server's address,
    a token, TLS), or ``""``."""
    dialled_with = _last[0]
    if exc.code.name == "UNAVAILABLE" and dialled_with.tls and _dropped_after_handshake(exc.message):
        # The server's certificate was verified (a bad one fails the handshake here, and
        # says so), then the server hung up: a server that requires a client certificate
        # does that, under TLS 1.3, when it gets none or one its CA did not sign.
        # A server stopping mid-call closes the socket too: said as the likely cause.
        if dialled_with.client_certificate:
            return (
                f"the server closed the connection: it likely did not accept the client certificate "
                f"{dialled_with.client_certificate} ({CLIENT_CERT}); give one signed by the CA the server "
                "trusts (its --tls-client-ca)"
            )
        return (
            f"the server closed the connection: it likely requires a client certificate; set {CLIENT_CERT} and "
            f"{CLIENT_KEY} to PEM files of a certificate signed by the CA it trusts (its --tls-client-ca) "
            "and of its key"
        )
    if exc.code.name == "UNAVAILABLE" and dialled_with.tls:  # "a TLS server needs --tls-ca" is no advice here
        return _tls_fault(exc.message, dialled_with) or "is a server running at --target (STRATA_TARGET)?"
    return _HINTS.get(exc.code.name, "")


def _tls_fault(message: str, dialled_with: Dialled) -> str:
    """What to do about a TLS handshake that gRPC's ``message`` says failed on this side, or ``""``."""
    if "WRONG_VERSION_NUMBER" in message:  # the answer was no TLS record
        return (
            "the server at --target does not serve TLS: leave out --tls-ca (STRATA_TLS_CA) and the client certificate"
        )
    if "CERTIFICATE_VERIFY_FAILED" in message:
        signer = f"the CA in --tls-ca {dialled_with.ca}" if dialled_with.ca else "a CA this machine trusts"
        return f"the server's certificate is not signed by {signer}: give the CA certificate that signed it to --tls-ca"
    if "Hostname Verification" in message:
        return (
            "the server's certificate does not name the host of --target: dial a name or address it holds "
            "(its subjectAltName)"
        )
    return ""


def _dropped_after_handshake(message: str) -> bool:
    """Whether gRPC's ``message`` says the server closed a connection without a failed
    handshake (``Socket closed``), or refused it for want of a certificate (TLS 1.3's
    ``certificate_required`` alert, when it comes during the handshake)."""
    return "Socket closed" in message or "CERTIFICATE_REQUIRED" in message
