"""The domain error tree. Transport-neutral: the service maps each kind to a status code.

::

    StrataError
    ├── InvalidArgument      bad input; names the field (``segments[3].vector``)
    ├── NotFound             an id that does not exist
    ├── AlreadyExists        an id that is taken
    ├── FailedPrecondition   valid input, wrong state (e.g. a sealed video)
    ├── ResourceExhausted    a configured limit was exceeded
    ├── Unimplemented        a capability this build does not offer
    ├── DeadlineExceeded     the caller's deadline passed
    └── Unavailable          the store cannot serve (locked, recovering, broken)

Every message says what went wrong and how to fix it.
"""

from __future__ import annotations


class StrataError(Exception):
    """Base of every error Strata raises on purpose."""

    def __init__(self, message: str, field: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.field = field

    def __str__(self) -> str:
        return f"{self.field}: {self.message}" if self.field else self.message


class InvalidArgument(StrataError):
    """The request is malformed; ``field`` names the offending field."""

    def __init__(self, field: str, message: str) -> None:
        super().__init__(message, field)


class NotFound(StrataError):
    """A named collection, video or node does not exist."""


class AlreadyExists(StrataError):
    """A collection, video or segment with that id already exists."""


class FailedPrecondition(StrataError):
    """The request is valid but the target is in the wrong state."""


class ResourceExhausted(StrataError):
    """A configured limit (batch size, message size, top_k, ...) was exceeded."""


class Unimplemented(StrataError):
    """The capability is not offered by this build."""


class DeadlineExceeded(StrataError):
    """The caller's deadline passed before the work finished."""


class Unavailable(StrataError):
    """The database cannot serve: its directory is in use, or the store failed."""
