"""Readiness: whether the Strata services may answer, as the health service reports it.

A server binds its port before its database has recovered its indexes, so that health
checks answer from the first moment. Its states:

- **recovering**: health ``NOT_SERVING``; every Strata RPC answers ``UNAVAILABLE``
  (recovering, retry);
- **serving**: health ``SERVING``;
- **failed**: recovery failed, or the store hit a fatal error (DuckDB invalidates its
  database after one, e.g. a checkpoint that cannot write to a full disk): health
  ``NOT_SERVING`` and every Strata RPC ``UNAVAILABLE`` until the server is restarted.

Health and reflection answer in every state.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable
from typing import Any

import grpc
from grpc_health.v1 import health, health_pb2

log = logging.getLogger(__name__)

RECOVERING = "the server is recovering its indexes; retry shortly"
STRATA_METHODS = "/strata.v1."  # prefix of every method of the Strata API

_SERVING = health_pb2.HealthCheckResponse.SERVING
_NOT_SERVING = health_pb2.HealthCheckResponse.NOT_SERVING


class Readiness:
    """The serving state of one server, published on its health service."""

    def __init__(
        self, health_servicer: health.HealthServicer, services: Iterable[str], probe: Callable[[], str | None]
    ) -> None:
        """``services`` are reported besides the server as a whole (""); ``probe`` says why
        the store can no longer serve, or None."""
        self._health = health_servicer
        self._services = ["", *services]
        self._probe = probe
        self.refusal: str | None = RECOVERING  # None: calls may run
        self._stopping = False
        self._publish(_NOT_SERVING)

    def serving(self) -> None:
        """Recovery finished: let calls run and report SERVING (unless already failed)."""
        if self.refusal == RECOVERING:
            self.refusal = None
            self._publish(_SERVING)

    def fail(self, reason: str, logged: bool = False) -> None:
        """Refuse every call with ``reason`` until restart, and report NOT_SERVING;
        ``logged``: the caller has logged why (the reason is not logged again)."""
        if self.refusal != reason and not logged:
            log.error("not serving: %s", reason)
        self.refusal = reason
        self._publish(_NOT_SERVING)

    def stopping(self) -> None:
        """The server is closing its store: a call that meets it closed is no store failure."""
        self._stopping = True

    def check_store(self) -> str | None:
        """After a call failed unexpectedly: if the store is broken, fail; returns the reason."""
        failure = self._probe()
        if failure is None or self._stopping:
            return None
        self.fail(f"the store failed ({failure}); restart the server, which recovers from its files")
        return self.refusal

    def _publish(self, status: int) -> None:
        for name in self._services:
            self._health.set(name, status)


class ReadinessInterceptor(grpc.ServerInterceptor):
    """Refuses Strata RPCs with UNAVAILABLE while the server is not ready, and turns an
    internal error caused by a broken store into UNAVAILABLE (and NOT_SERVING)."""

    def __init__(self, readiness: Readiness) -> None:
        self.readiness = readiness

    def intercept_service(self, continuation: Callable, handler_call_details: grpc.HandlerCallDetails) -> Any:
        handler = continuation(handler_call_details)
        if handler is None or not handler_call_details.method.startswith(STRATA_METHODS):
            return handler
        if handler.unary_unary:
            return handler._replace(unary_unary=_gated(handler.unary_unary, self.readiness))
        if handler.stream_unary:
            return handler._replace(stream_unary=_gated(handler.stream_unary, self.readiness))
        return handler


def _gated(behaviour: Callable, readiness: Readiness) -> Callable:
    def wrapper(request: Any, context: grpc.ServicerContext) -> Any:
        if readiness.refusal is not None:
            context.abort(grpc.StatusCode.UNAVAILABLE, readiness.refusal)
        try:
            return behaviour(request, context)
        except Exception:
            # The servicer already answered INTERNAL; a broken store makes it UNAVAILABLE:
            # the client should retry elsewhere or after the restart, not report a bug.
            failed = context.code() in (grpc.StatusCode.INTERNAL, grpc.StatusCode.UNAVAILABLE)
            if failed and (reason := readiness.check_store()):
                context.set_code(grpc.StatusCode.UNAVAILABLE)
                context.set_details(reason)
            raise

    return wrapper
