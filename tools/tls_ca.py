"""The CA certificate a command verifies a TLS server with (``--tls-ca``), read and
checked before connecting (:mod:`service.pem`)."""

from __future__ import annotations

from pathlib import Path

from service.pem import certificates_problem


def read_ca(path: Path) -> bytes:
    """The content of ``path``, PEM certificates; else ValueError with what is wrong with
    the file (unreadable, empty, not PEM certificates), to follow its name."""
    try:
        pem = path.read_bytes()
    except OSError as exc:
        raise ValueError(f"cannot be read: {exc.strerror or exc}") from None
    if (problem := certificates_problem(pem)) is not None:
        raise ValueError(problem)
    return pem
