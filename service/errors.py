"""The one table that maps domain errors to gRPC status codes, and the decorator that
applies it to every servicer method."""

from __future__ import annotations

import functools
import logging
from collections.abc import Callable
from typing import Any, TypeVar

import grpc
from google.protobuf import any_pb2
from google.protobuf.message import DecodeError
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


# Statuses travel in trailing metadata, which gRPC caps (16 KiB by default); a message
# quoting a huge client value would turn the answer into a transport error instead.
MAX_MESSAGE_CHARS = 1024


def clip(text: str, limit: int = MAX_MESSAGE_CHARS) -> str:
    """``text`` cut to ``limit`` characters, marked when cut."""
    return text if len(text) <= limit else text[: limit - 15] + "… (truncated)"


def to_status(error: errors.StrataError) -> grpc.Status:
    """A rich status; when the error names a field, a BadRequest detail names it too."""
    code = status_code(error)
    status = status_pb2.Status(code=getattr(code_pb2, code.name), message=clip(str(error)))
    if error.field:
        detail = any_pb2.Any()
        field, description = clip(error.field, 256), clip(error.message)
        violation = error_details_pb2.BadRequest.FieldViolation(field=field, description=description)
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
        except grpc.RpcError:
            if context.is_active():
                raise_internal(method, context)
            # Reading a request stream the client gave up on: nobody hears the answer, but
            # the access log and the metrics should say what happened, not INTERNAL.
            remaining = context.time_remaining()
            expired = remaining is not None and remaining <= 0
            context.abort(grpc.StatusCode.DEADLINE_EXCEEDED if expired else grpc.StatusCode.CANCELLED, "call ended")
        except Exception:
            raise_internal(method, context)

    return wrapper  # type: ignore[return-value]


def raise_internal(method: Callable[..., Any], context: grpc.ServicerContext) -> None:
    """Log the exception being handled and answer INTERNAL."""
    log.exception("unexpected error in %s", method.__qualname__)
    context.abort(grpc.StatusCode.INTERNAL, "internal error; see the server log")


class Undecodable:
    """Stands in for a request whose bytes are not a valid message of the method's type."""

    def __init__(self, reason: str) -> None:
        self.reason = reason

    def error(self) -> errors.InvalidArgument:
        """The refusal, naming the request as the field at fault."""
        return errors.InvalidArgument("request", f"is not a valid protobuf message of this method ({self.reason})")


class UndecodableRequestInterceptor(grpc.ServerInterceptor):
    """Refuse requests whose bytes do not parse with INVALID_ARGUMENT.

    gRPC answers INTERNAL when a request cannot be deserialized, which reads as a server
    fault; the fault is the caller's, so the parse failure is carried to the method and
    refused there like any other bad field.
    """

    def intercept_service(self, continuation: Callable, handler_call_details: grpc.HandlerCallDetails) -> Any:
        handler = continuation(handler_call_details)
        if handler is None or handler.request_deserializer is None:
            return handler
        lenient = _lenient(handler.request_deserializer)
        if handler.unary_unary:
            return handler._replace(request_deserializer=lenient, unary_unary=_refuse_unary(handler.unary_unary))
        if handler.stream_unary:
            return handler._replace(request_deserializer=lenient, stream_unary=_refuse_stream(handler.stream_unary))
        return handler


def _lenient(deserialize: Callable[[bytes], Any]) -> Callable[[bytes], Any]:
    def parse(raw: bytes) -> Any:
        try:
            return deserialize(raw)
        except DecodeError as exc:
            return Undecodable(str(exc))

    return parse


def _refuse_unary(behaviour: Callable) -> Callable:
    def guarded(request: Any, context: grpc.ServicerContext) -> Any:
        if isinstance(request, Undecodable):
            context.abort_with_status(to_status(request.error()))
        return behaviour(request, context)

    return guarded


def _refuse_stream(behaviour: Callable) -> Callable:
    def checked(requests: Any) -> Any:
        for request in requests:
            if isinstance(request, Undecodable):
                raise request.error()  # inside the method, so its error mapping answers
            yield request

    return lambda requests, context: behaviour(checked(requests), context)
