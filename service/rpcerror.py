"""The errors a :class:`service.client.StrataClient` raises of its own: a failed call, with
the fields the server named, and a call after the client was closed."""

from __future__ import annotations

from typing import Any

import grpc
from google.rpc import error_details_pb2
from grpc_status import rpc_status


class ClientClosedError(ValueError):
    """A call on a :class:`StrataClient` after :meth:`StrataClient.close`."""

    def __init__(self) -> None:
        super().__init__("this StrataClient is closed; make a new StrataClient to call the server again")


class StrataRpcError(Exception):
    """A failed call: its status code, message, and the request fields at fault."""

    def __init__(self, code: grpc.StatusCode, message: str, fields: dict[str, str]) -> None:
        super().__init__(f"{code.name}: {message}")
        self.code = code
        self.message = message
        self.fields = fields

    def __reduce__(self) -> tuple[Any, ...]:
        # Rebuilt from its parts: a worker process's error reaches its parent whole.
        return type(self), (self.code, self.message, self.fields)

    @classmethod
    def from_rpc_error(cls, error: grpc.RpcError) -> StrataRpcError:
        """Decode the rich status (BadRequest field violations) of a failed call."""
        fields: dict[str, str] = {}
        status = rpc_status.from_call(error)  # type: ignore[arg-type]
        for detail in status.details if status else []:
            if detail.Is(error_details_pb2.BadRequest.DESCRIPTOR):
                bad = error_details_pb2.BadRequest()
                detail.Unpack(bad)
                fields.update({v.field: v.description for v in bad.field_violations})
        return cls(error.code(), error.details() or "", fields)  # type: ignore[attr-defined]
