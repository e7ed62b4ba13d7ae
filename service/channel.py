"""The channel of a :class:`service.client.StrataClient`, from its arguments, each checked
as the client is made: gRPC takes them as given, and what it cannot use failed every call
later (a token with a newline: INTERNAL "Invalid metadata"; a key that is none: every call
UNAVAILABLE, as if no server ran)."""

from __future__ import annotations

import json
from typing import Any

import grpc

from service.auth import BearerToken
from service.pem import certificates_problem, private_key_problem
from service.rows import whole

# gRPC's message limits are int32 bytes: 2047 MB is the most that fits.
MAX_MESSAGE_MB = 2047
# gRPC sends a call at most five times, whatever a retry policy asks.
MAX_RETRIES = 4
# The calls that only read: sent again, they answer as the first would have, so gRPC may
# retry them (a write is retried by append_segments itself, under one request id).
READS = {
    "strata.v1.CollectionService": ("GetCollection", "ListCollections"),
    "strata.v1.VideoService": ("GetVideo", "ListVideos"),
    "strata.v1.GraphService": ("GetNode", "ListChildren", "GetAncestors", "GetNeighbors", "GetSubtree", "FindSimilar"),
    "strata.v1.SearchService": ("Search", "ParseQuery"),
    "strata.v1.AdminService": ("GetStats", "Verify"),
    "strata.v1.HierarchyService": ("GetOperation",),
    "grpc.health.v1.Health": ("Check",),
}


def channel(
    target: str,
    max_message_mb: int,
    token: str | None,
    tls: bool,
    root_certificates: bytes | None,
    client_certificate: tuple[bytes, bytes] | None,
    retries: int = 0,
) -> grpc.Channel:
    """A channel to ``target`` (see :class:`service.client.StrataClient`); an argument gRPC
    could not use is a ValueError (TypeError for one of the wrong kind) naming it."""
    if not target.strip():  # gRPC would make a channel that fails every call UNKNOWN
        raise ValueError("target is empty; give the server's address as host:port")
    size = _megabytes(max_message_mb) * 1024 * 1024
    options: list[tuple[str, Any]] = [("grpc.max_send_message_length", size), ("grpc.max_receive_message_length", size)]
    if count := _retries(retries):
        options += [("grpc.enable_retries", 1), ("grpc.service_config", read_retries(count))]
    _check_token(token)
    made = _secured(target, options, tls, root_certificates, client_certificate)
    return grpc.intercept_channel(made, BearerToken(token)) if token else made


def read_retries(retries: int) -> str:
    """gRPC's service config that sends a read again after UNAVAILABLE (a server recovering
    or out of reach), up to ``retries`` times, each wait drawn at random below a bound of
    0.2 s that doubles, to 5 s (gRFC A6's exponential backoff)."""
    names = [{"service": service, "method": method} for service, methods in READS.items() for method in methods]
    policy = {
        "maxAttempts": retries + 1,
        "initialBackoff": "0.2s",
        "maxBackoff": "5s",
        "backoffMultiplier": 2,
        "retryableStatusCodes": ["UNAVAILABLE"],
    }
    return json.dumps({"methodConfig": [{"name": names, "retryPolicy": policy}]})


def _retries(value: Any) -> int:
    count = whole(value, "retries")
    if not 0 <= count <= MAX_RETRIES:
        raise ValueError(f"retries is {count}; give 0 to {MAX_RETRIES} (gRPC sends a call at most five times)")
    return count


def _megabytes(value: Any) -> int:
    mb = whole(value, "max_message_mb", "a whole number of megabytes")
    if not 1 <= mb <= MAX_MESSAGE_MB:  # 0 refused every message; past 2047 gRPC overflowed
        raise ValueError(f"max_message_mb is {mb}; give 1 to {MAX_MESSAGE_MB} (megabytes)")
    return mb


def _check_token(token: Any) -> None:
    if token is None:
        return
    if not isinstance(token, str):
        raise TypeError(f"token: give a string, not {type(token).__name__}")
    if "\n" in token or "\r" in token:  # as a token read from a file ends
        raise ValueError("token holds a newline (as one read from a file ends); strip it, e.g. token.strip()")
    if bad := next((c for c in token if not " " <= c <= "~"), None):
        raise ValueError(f"token holds {bad!r}; a call's metadata carries only printable ASCII characters")


def _secured(
    target: str,
    options: list[tuple[str, Any]],
    tls: bool,
    root_certificates: bytes | None,
    client_certificate: tuple[bytes, bytes] | None,
) -> grpc.Channel:
    if root_certificates is not None:
        _pem_bytes(root_certificates, "root_certificates")
        if (problem := certificates_problem(root_certificates)) is not None:
            # Empty bytes read as "not given" and the channel went out in plaintext; other bytes
            # that hold no certificate failed every call UNAVAILABLE, as if no server ran.
            raise ValueError(f"root_certificates {problem} (or None for the system's roots)")
    if client_certificate is not None:
        _check_pair(client_certificate)
    if not (tls or root_certificates is not None or client_certificate is not None):
        return grpc.insecure_channel(target, options=options)
    key, chain = client_certificate or (None, None)
    credentials = grpc.ssl_channel_credentials(root_certificates, key, chain)
    return grpc.secure_channel(target, credentials, options=options)


def _check_pair(pair: Any) -> None:
    """A client certificate: ``(private key, certificate chain)``, each PEM bytes."""
    if not isinstance(pair, tuple | list) or len(pair) != 2:
        raise TypeError(f"client_certificate: give a (private key, certificate chain) pair, not {type(pair).__name__}")
    key, chain = pair
    _pem_bytes(key, "client_certificate[0] (the private key)")
    _pem_bytes(chain, "client_certificate[1] (the certificate chain)")
    if private_key_problem(key) and not private_key_problem(chain):
        raise ValueError(
            "client_certificate is (certificate chain, private key); give (private key, certificate chain)"
        )
    if (problem := private_key_problem(key)) is not None:
        raise ValueError(f"client_certificate[0] (the private key) {problem}")
    if (problem := certificates_problem(chain, "of this client")) is not None:
        raise ValueError(f"client_certificate[1] (the certificate chain) {problem}")


def _pem_bytes(value: Any, name: str) -> None:
    if not isinstance(value, bytes):  # a str failed inside the check with a bare TypeError
        raise TypeError(f"{name}: give the PEM file's bytes, not {type(value).__name__}")
