"""Server wiring: the core behind gRPC, with health, reflection, access logging and a
graceful shutdown that persists the indexes.

The port is bound before the indexes are recovered: health answers NOT_SERVING (and the
Strata services UNAVAILABLE) until recovery ends, see :mod:`service.readiness`."""

from __future__ import annotations

import errno
import logging
import re
import threading
import time
import uuid
from collections.abc import Callable
from concurrent import futures
from typing import Any

import grpc
from grpc_health.v1 import health, health_pb2_grpc
from grpc_reflection.v1alpha import reflection

from hierarchy.db import Database
from hierarchy.errors import StrataError, Unavailable
from service import auth, servicers
from service.errors import UndecodableRequestInterceptor
from service.gen.strata.v1 import (
    admin_pb2,
    admin_pb2_grpc,
    collection_pb2,
    collection_pb2_grpc,
    graph_pb2,
    graph_pb2_grpc,
    hierarchy_pb2,
    hierarchy_pb2_grpc,
    search_pb2,
    search_pb2_grpc,
    segment_pb2,
    segment_pb2_grpc,
    video_pb2,
    video_pb2_grpc,
)
from service.metrics import ServerMetrics, returned_status, status_name
from service.readiness import Readiness, ReadinessInterceptor
from service.settings import Settings

log = logging.getLogger(__name__)
access_log = logging.getLogger("strata.access")

# Searches run on their own pool (``Settings.search_workers``).
SEARCH_METHOD = f"/{search_pb2.DESCRIPTOR.services_by_name['SearchService'].full_name}/Search"

SERVICE_NAMES = [
    collection_pb2.DESCRIPTOR.services_by_name["CollectionService"].full_name,
    video_pb2.DESCRIPTOR.services_by_name["VideoService"].full_name,
    segment_pb2.DESCRIPTOR.services_by_name["SegmentService"].full_name,
    search_pb2.DESCRIPTOR.services_by_name["SearchService"].full_name,
    admin_pb2.DESCRIPTOR.services_by_name["AdminService"].full_name,
    hierarchy_pb2.DESCRIPTOR.services_by_name["HierarchyService"].full_name,
    graph_pb2.DESCRIPTOR.services_by_name["GraphService"].full_name,
]


_REQUEST_ID = re.compile(r"[A-Za-z0-9._:-]{1,64}")


class AccessLogInterceptor(grpc.ServerInterceptor):
    """Logs one line per call: request id, method, status code and duration."""

    def intercept_service(self, continuation: Callable, handler_call_details: grpc.HandlerCallDetails) -> Any:
        handler = continuation(handler_call_details)
        if handler is None:
            return None
        metadata = dict(handler_call_details.invocation_metadata or ())
        given = metadata.get("x-request-id") or ""
        # A client's id is logged as sent only if it is one short token: spaces or a long
        # text could forge or swamp the log's lines.
        request_id = given if _REQUEST_ID.fullmatch(given) else uuid.uuid4().hex[:12]
        method = handler_call_details.method
        if handler.unary_unary:
            return handler._replace(unary_unary=_logged(handler.unary_unary, method, request_id))
        if handler.stream_unary:
            return handler._replace(stream_unary=_logged(handler.stream_unary, method, request_id))
        return handler


class SearchPoolInterceptor(grpc.ServerInterceptor):
    """Runs searches on their own, smaller thread pool.

    gRPC runs a call on the pool named by its behaviour's ``experimental_thread_pool``
    when it has one, else on the server's. The server's pool must be large: a stream holds
    a thread for its whole length. On it, eight clients searching 1 M segments ran eight
    searches at once on two cores; on a pool of four, 298-313 queries/s instead of 265-276
    and a p99 of 36-40 instead of 51-55 ms, and on one thread per core fewer still contend
    (``Settings.search_threads``; BENCHMARKS.md). Outermost, so its behaviour is
    the one gRPC sees; if gRPC ever drops the attribute, searches share the server's pool
    again (the pool test fails then).
    """

    def __init__(self, pool: futures.ThreadPoolExecutor) -> None:
        self.pool = pool

    def intercept_service(self, continuation: Callable, handler_call_details: grpc.HandlerCallDetails) -> Any:
        handler = continuation(handler_call_details)
        if handler is None or handler.unary_unary is None or handler_call_details.method != SEARCH_METHOD:
            return handler
        behaviour = handler.unary_unary

        def on_search_pool(request: Any, context: grpc.ServicerContext) -> Any:
            return behaviour(request, context)

        on_search_pool.experimental_thread_pool = self.pool  # type: ignore[attr-defined]
        return handler._replace(unary_unary=on_search_pool)


def _logged(behaviour: Callable, method: str, request_id: str) -> Callable:
    def wrapper(request: Any, context: grpc.ServicerContext) -> Any:
        start = time.perf_counter()
        code = "UNKNOWN"
        try:
            reply = behaviour(request, context)
            code = returned_status(context)  # a code set without raising (health's NOT_FOUND) counts
            return reply
        except Exception:
            code = status_name(context, "UNKNOWN")
            raise
        finally:
            millis = (time.perf_counter() - start) * 1000
            access_log.info("%s %s %s %.1fms", request_id, method, code, millis)

    return wrapper


class StrataServer:
    """A running (or ready to run) Strata gRPC server over one open database."""

    def __init__(self, settings: Settings, db: Database, security: auth.Security) -> None:
        self.settings = settings
        self.db = db
        options = [
            ("grpc.max_receive_message_length", settings.max_message_mb * 1024 * 1024),
            ("grpc.max_send_message_length", settings.max_message_mb * 1024 * 1024),
            # gRPC shares a busy port by default (SO_REUSEPORT): a second server on it would
            # take half the calls, with its own data directory. Refuse the port instead.
            ("grpc.so_reuseport", 0),
        ]
        self.health = health.HealthServicer()
        self.readiness = Readiness(self.health, SERVICE_NAMES, db.store.failure)
        self.metrics = ServerMetrics(db) if settings.metrics_port >= 0 else None
        self.metrics_port: int | None = None  # the /metrics port, once started
        self._search_pool = futures.ThreadPoolExecutor(settings.search_threads(), thread_name_prefix="strata-search")
        self._server = grpc.server(
            futures.ThreadPoolExecutor(max_workers=settings.workers, thread_name_prefix="strata-rpc"),
            # The pool choice outermost (gRPC reads it from the final behaviour), then access
            # logging, so refused calls are logged with their status too; readiness
            # innermost, so a caller without a valid token learns nothing more.
            interceptors=[
                SearchPoolInterceptor(self._search_pool),
                *([AccessLogInterceptor()] if settings.access_log else []),
                *([self.metrics.interceptor] if self.metrics else []),  # refused calls count too
                *security.interceptors(),
                UndecodableRequestInterceptor(),  # garbage bytes: INVALID_ARGUMENT, not INTERNAL
                ReadinessInterceptor(self.readiness),
            ],
            options=options,
        )
        self._recovery = threading.Thread(target=self._recover, name="strata-recovery", daemon=True)
        self._saver = threading.Thread(target=self._save_periodically, name="strata-index-saver", daemon=True)
        self._recovered = threading.Event()
        self._recovery_error: BaseException | None = None
        self._recovery_failed = False  # on its own, not stopped: it was logged, and a close writes nothing
        self._register()
        self.port = self._bind_all(security.credentials)
        self.exposure = auth.exposure_warning(settings)
        self._stopped = threading.Event()

    def _register(self) -> None:
        s = self._server
        largest = self.settings.max_message_mb * 1024 * 1024
        collection_pb2_grpc.add_CollectionServiceServicer_to_server(servicers.CollectionServicer(self.db), s)
        video_pb2_grpc.add_VideoServiceServicer_to_server(servicers.VideoServicer(self.db, largest), s)
        segments = servicers.SegmentServicer(self.db, self.settings.workers)
        segment_pb2_grpc.add_SegmentServiceServicer_to_server(segments, s)
        search_pb2_grpc.add_SearchServiceServicer_to_server(servicers.SearchServicer(self.db, largest), s)
        admin_pb2_grpc.add_AdminServiceServicer_to_server(servicers.AdminServicer(self.db), s)
        hierarchy_pb2_grpc.add_HierarchyServiceServicer_to_server(servicers.HierarchyServicer(self.db), s)
        graph_pb2_grpc.add_GraphServiceServicer_to_server(servicers.GraphServicer(self.db, largest), s)
        health_pb2_grpc.add_HealthServicer_to_server(self.health, s)
        names = [*SERVICE_NAMES, health.SERVICE_NAME, reflection.SERVICE_NAME]
        reflection.enable_server_reflection(names, s)

    def _bind_all(self, credentials: grpc.ServerCredentials | None) -> int:
        """Listen on every address of ``host`` (see ServerSettings.bind_hosts): the
        first picks the port when it is 0, the others take the same; the port."""
        port = self.settings.port
        for host in self.settings.bind_hosts():
            port = self._bind(f"{host}:{port}", credentials)
        return port

    def _bind(self, address: str, credentials: grpc.ServerCredentials | None) -> int:
        try:
            if credentials is None:
                return self._server.add_insecure_port(address)
            return self._server.add_secure_port(address, credentials)
        except RuntimeError as exc:  # gRPC says only "Failed to bind"
            raise Unavailable(
                f"cannot listen on {address}: the port is in use or the host is not an address of this "
                "machine; choose another --port (0 picks a free one) or --host"
            ) from exc

    @property
    def address(self) -> str:
        """``host:port`` to dial the server at from this machine: ``localhost:port`` when it
        listens on every interface (``0.0.0.0``, ``::``), which is no address to dial."""
        return self.settings.reachable(self.port)

    def start(self, wait: bool = True) -> StrataServer:
        """Start answering (health NOT_SERVING, Strata RPCs UNAVAILABLE), recover the
        database's indexes in the background, then report SERVING.

        With ``wait`` (the default) return once it serves, or stop and raise why recovery
        failed; otherwise return at once (see :meth:`wait_ready`).
        """
        self._server.start()
        log.info("listening on %s (data directory %s)", self.address, self.db.data_dir)
        if note := self.settings.interfaces_note():
            log.info(note)
        if self.metrics is not None:
            try:
                self.metrics_port = self.metrics.serve(self.settings.bind_hosts(), self.settings.metrics_port)
            except OSError as exc:
                self.stop(0)
                where = self.settings.endpoint(self.settings.metrics_port)
                reason = f"cannot serve metrics on {where}: {exc.strerror}; choose another --metrics-port"
                raise Unavailable(reason) from exc
            log.info("metrics on http://%s/metrics", self.settings.reachable(self.metrics_port))
        if self.exposure:
            log.warning(self.exposure)
        self._recovery.start()
        if wait:
            try:
                self.wait_ready()
            except BaseException:
                self.stop(0)
                raise
        return self

    def wait_ready(self, timeout: float | None = None) -> bool:
        """Wait until recovery ends: True once serving, False on timeout; raises what made
        recovery fail."""
        if not self._recovered.wait(timeout):
            return False
        if self._recovery_error is not None:
            raise self._recovery_error
        return True

    def _recover(self) -> None:
        try:
            self.db.recover()
        except BaseException as exc:  # kept for wait_ready; the server stays NOT_SERVING
            self._recovery_error = exc
            if self._stopped.is_set():  # abandoned by stop(): the next start catches up
                log.info("recovery stopped with the server: %s", exc)
            else:
                self._recovery_failed = True
                # A condition that explains itself is one line; anything else is a bug,
                # logged with its traceback.
                if (known := recovery_failure(exc)) is not None:
                    log.error("recovery failed: %s", known)
                else:
                    log.exception("recovery failed")
                self.readiness.fail(f"recovery failed ({known or exc}); see the server log", logged=True)
        else:
            self.readiness.serving()
            log.info("recovered; serving")
            if self.settings.index_save_seconds > 0:
                self._saver.start()
        finally:
            self._recovered.set()

    def _save_periodically(self) -> None:
        """Save changed indexes every ``index_save_seconds`` until the server stops."""
        while not self._stopped.wait(self.settings.index_save_seconds):
            try:
                if written := self.db.save_indexes(changed_only=True):
                    log.info("saved %d changed indexes", written)
            except Exception as exc:  # the next round retries; a crash meanwhile only costs catch-up
                if (known := known_failure(exc, "the next round saves them")) is not None:  # one line a round
                    log.error("saving indexes failed: %s", known)
                else:
                    log.exception("saving indexes failed")

    def stop(self, grace: float | None = None) -> None:
        """Drain calls for ``grace`` seconds, then persist indexes and close the store."""
        if self._stopped.is_set():
            return
        self._stopped.set()
        self.health.enter_graceful_shutdown()
        self._server.stop(self.settings.grace_seconds if grace is None else grace).wait()
        self._search_pool.shutdown(wait=True)
        if self._recovery.is_alive():  # stop it soon, then wait: closing under it would fail it
            self.db.abandon_recovery()
            self._recovery.join()
        if self._saver.is_alive():  # (it wakes on _stopped) a save under close would fail
            self._saver.join()
        if self.metrics is not None:  # no scrape may read the database while it closes
            self.metrics.stop()
        failed = self.db.store.failure()
        self.readiness.stopping()  # calls still running past the grace meet a closed store
        saved = self.db.close()
        if self._recovery_failed:  # (its error said why, and close wrote nothing over the files)
            log.info("stopped after the failed recovery; nothing was saved")
        elif failed:
            log.warning("stopped without saving indexes or a checkpoint: %s; the next start recovers", failed)
        elif not saved:  # (the save or the checkpoint said why)
            log.warning("stopped without saving every index or a checkpoint; the next start catches up")
        else:
            log.info("stopped; indexes saved")

    def wait(self) -> None:
        """Block until the server stops."""
        self._server.wait_for_termination()


def recovery_failure(exc: BaseException) -> str | None:
    """What a failed recovery met, in one line, when it is a known condition: Strata's own
    errors (a store it cannot read, a directory it may not write: each says what to do),
    and the system refusing a file (a full disk, a permission), named with the file. None
    for anything else: a bug, whose traceback is wanted."""
    return known_failure(exc, "then start the server again")


def known_failure(exc: BaseException, then: str) -> str | None:
    """:func:`recovery_failure` for any work of the server: a known condition in one line,
    a system refusal ending with its fix and ``then`` (what happens after it); None for a
    bug."""
    if isinstance(exc, StrataError):
        return exc.message
    if isinstance(exc, OSError) and exc.strerror:
        where = " -> ".join(str(name) for name in (exc.filename, exc.filename2) if name is not None)
        said = f"{exc.strerror}: {where}" if where else exc.strerror
        return f"{said}; {_FIXES.get(exc.errno or 0, 'fix that')}, {then}"
    return None


# What an operator does about the system refusing a file, by errno.
_FIXES = {
    errno.ENOSPC: "free space on its file system",
    errno.EDQUOT: "free space on its file system",
    errno.EFBIG: "raise the server's file size limit",
    errno.EACCES: "give the server's user access to it",
    errno.EPERM: "give the server's user access to it",
    errno.EROFS: "serve from a writable file system",
}


def create_server(settings: Settings | None = None, db: Database | None = None) -> StrataServer:
    """Open the database named by ``settings`` (unless given) and wire a server over it.

    The directory lock and the store are taken here, so a directory in use fails at
    once; the indexes are recovered by :meth:`StrataServer.start`. Bind port 0 to get a
    free port (see ``StrataServer.port``).
    """
    settings = settings or Settings.load()
    # Tokens and TLS files are read first: a mistake in them is named before the data
    # directory is made, locked or migrated.
    security = auth.Security.load(settings)
    db = db or Database.open(settings.data_dir, settings.database_options(), recover=False)
    try:
        return StrataServer(settings, db, security)
    except Exception:
        db.close()
        raise
