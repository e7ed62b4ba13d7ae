"""Opaque page tokens that never expire.

A token records where the next page starts and a digest of the request it belongs to,
so a token reused with a different request is refused instead of paging silently wrong.
"""

from __future__ import annotations

import base64
import hashlib
import json
from typing import Any

from hierarchy.errors import InvalidArgument


def digest(*parts: Any) -> str:
    """A short stable digest of request fields."""
    raw = json.dumps(parts, sort_keys=True, default=str).encode()
    return hashlib.sha256(raw).hexdigest()[:16]


def encode(position: Any, request_digest: str) -> str:
    """Token for the page that starts at ``position``."""
    raw = json.dumps({"p": position, "d": request_digest}, separators=(",", ":")).encode()
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def decode(token: str, request_digest: str, field: str = "page_token") -> Any:
    """The position stored in ``token``; None for an empty token."""
    if not token:
        return None
    try:
        padded = token + "=" * (-len(token) % 4)
        data = json.loads(base64.urlsafe_b64decode(padded.encode()))
        position, owner = data["p"], data["d"]
    except (ValueError, KeyError, TypeError, RecursionError) as exc:
        raise InvalidArgument(field, "is malformed; pass back a next_page_token unchanged") from exc
    if owner != request_digest:
        raise InvalidArgument(field, "belongs to a different request; keep the other fields unchanged")
    return position
