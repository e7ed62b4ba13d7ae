"""The one table that maps domain errors to gRPC status codes, and the decorator that
applies it to every servicer method."""

from __future__ import annotations

import functools
import logging
from collections.abc import Callable
from typing import Any, TypeVar

import grpc
from google.protobuf import any_pb2
from google.rpc import code_pb2, error_details_pb2, status_pb2
from grpc_status import rpc_status

from hierarchy import errors

log = logging.getLogger(__name__)

STATUS_CODES: dict[type[errors.StrataError], grpc.StatusCode] = {
    errors.InvalidArgument: grpc.StatusCode.INVALID_ARGUMENT,
    errors.NotFound: grpc.StatusCode.NOT_FOUND,
    errors.AlreadyExists: grpc.StatusCode.ALREADY_EXISTS,
    errors.FailedPrecondition: grpc.StatusCode.FAILED_PRECONDITION,
    errors.ResourceExhausted: grpc.StatusCode.RESOURCE_EXHAUSTED,
    errors.Unimplemented: grpc.StatusCode.UNIMPLEMENTED,
    errors.DeadlineExceeded: grpc.StatusCode.DEADLINE_EXCEEDED,
    errors.Unavailable: grpc.StatusCode.UNAVAILABLE,
}


def status_code(error: errors.StrataError) -> grpc.StatusCode:
    """The status code of a domain error (INTERNAL for an unmapped kind)."""
    for kind in type(error).__mro__:
        if kind in STATUS_CODES:
            return STATUS_CODES[kind]
    return grpc.StatusCode.INTERNAL


def to_status(error: errors.StrataError) -> grpc.Status:
    """A rich status; when the error names a field, a BadRequest detail names it too."""
    code = status_code(error)
    status = status_pb2.Status(code=getattr(code_pb2, code.name), message=str(error))
    if error.field:
        detail = any_pb2.Any()
        violation = error_details_pb2.BadRequest.FieldViolation(field=error.field, description=error.message)
        detail.Pack(error_details_pb2.BadRequest(field_violations=[violation]))
        status.details.append(detail)
    return rpc_status.to_status(status)


F = TypeVar("F", bound=Callable[..., Any])


def map_errors(method: F) -> F:
    """Turn domain errors raised by a servicer method into gRPC statuses."""

    @functools.wraps(method)
    def wrapper(self: Any, request: Any, context: grpc.ServicerContext) -> Any:
        try:
            return method(self, request, context)
        except errors.StrataError as exc:
            context.abort_with_status(to_status(exc))
        except Exception:
            log.exception("unexpected error in %s", method.__qualname__)
            context.abort(grpc.StatusCode.INTERNAL, "internal error; see the server log")

    return wrapper  # type: ignore[return-value]
