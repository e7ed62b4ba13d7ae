"""Typed server settings: defaults in code, overridden by ``STRATA_*`` environment
variables, overridden in turn by explicit values (command-line flags)."""

from __future__ import annotations

import dataclasses
import ipaddress
import os
import re
import socket
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from hierarchy.errors import InvalidArgument
from hierarchy.indexparams import GRAPH_DTYPES
from hierarchy.options import DatabaseOptions
from hierarchy.store import readable

ENV_PREFIX = "STRATA_"
# The core's defaults, so a server and an embedded database agree unless told otherwise
# (each database setting below is documented on DatabaseOptions).
_CORE = DatabaseOptions()
LIMITS = ("max_message_mb", "max_batch", "max_top_k", "max_page_size", "max_query_chars")
MAX_MESSAGE_MB = (2**31 - 1) // 2**20  # 2047: gRPC's message limits are signed 32-bit byte counts
MAX_SECONDS = 365 * 86_400  # a year: the longest grace or save interval taken
_LOG_LEVELS = ("DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL")


def default_data_dir() -> Path:
    """Where data lives when no directory is named."""
    return Path.home() / ".strata" / "data"


@dataclass(frozen=True)
class Settings:
    """Everything a server needs to start."""

    host: str = "127.0.0.1"
    port: int = 50051
    data_dir: Path = dataclasses.field(default_factory=default_data_dir)
    memory_limit: str = _CORE.memory_limit
    duckdb_threads: int = _CORE.threads
    checkpoint_threshold: str = _CORE.checkpoint_threshold  # DuckDB's log size that triggers a checkpoint
    max_message_mb: int = 64
    max_batch: int = _CORE.max_batch
    max_top_k: int = _CORE.max_top_k
    max_page_size: int = _CORE.max_page_size
    max_query_chars: int = _CORE.max_query_chars
    # Acknowledged vectors per level that may wait to be linked into the HNSW graph (each
    # search scans them exactly) before writes wait for the background linker.
    max_unlinked: int = _CORE.max_unlinked
    # An unfiltered segment search also scores exactly the segments of this many best
    # scenes (0: the HNSW graph alone), and meanwhile searches the graph with this beam and
    # builds it with this expansion and precision (see DatabaseOptions.narrowed_dtype).
    narrow_parents: int = _CORE.narrow_parents
    narrowed_expansion_search: int = _CORE.narrowed_expansion_search
    narrowed_expansion_add: int = _CORE.narrowed_expansion_add
    narrowed_dtype: str = _CORE.narrowed_dtype
    workers: int = 16
    # Threads that run searches, apart from ``workers`` (0: one per core). Searches are
    # CPU work; more of them at once than the cores can run only contend for the
    # interpreter lock, which numpy and USearch let go of and take back many times a
    # search: each hand-over wakes another thread (BENCHMARKS.md, "Where the time goes",
    # the interpreter lock). A stream holds a worker for its whole length, so the other
    # calls keep their own, larger pool.
    search_workers: int = 0
    blas_threads: int = _CORE.blas_threads  # numpy's BLAS pool (0: the library's default)
    scan_memory_mb: int = _CORE.scan_memory_mb  # float32 copies of small levels (see DatabaseOptions)
    # Every node's fields but its vector kept in memory, so hits are not looked up in the
    # store (about 100 bytes a node plus its text; see hierarchy.noderows).
    resident_nodes: bool = _CORE.resident_nodes
    grace_seconds: float = 5.0
    # Indexes changed since their last save are saved this often (0: only on a clean stop),
    # so a restart after a crash catches up from a recent watermark instead of rebuilding.
    index_save_seconds: float = 300.0
    log_level: str = "INFO"
    # One line per call (request id, method, status, ms) on the strata.access logger, at
    # INFO; off keeps the server's other INFO lines without them.
    access_log: bool = True
    metrics_port: int = -1  # Prometheus /metrics on host:metrics_port; -1 off, 0 a free port
    auth_tokens_file: Path | None = None  # JSON or TOML token list; see service.auth
    # TOKEN:ROLE[:COLL1,COLL2] entries separated by ';'; kept out of repr so logs never show it.
    auth_tokens: str = dataclasses.field(default="", repr=False)
    tls_cert: Path | None = None  # PEM certificate chain; with tls_key, serve TLS
    tls_key: Path | None = None
    tls_client_ca: Path | None = None  # PEM CA; when set, clients must present a certificate it signed

    def __post_init__(self) -> None:
        # A limit of 0 or less would refuse every request; say so at start instead.
        for name in LIMITS:
            if getattr(self, name) < 1:
                raise InvalidArgument(ENV_PREFIX + name.upper(), f"is {getattr(self, name)}; limits must be at least 1")
        if self.max_message_mb > MAX_MESSAGE_MB:
            raise InvalidArgument("STRATA_MAX_MESSAGE_MB", f"is {self.max_message_mb}; use 1-{MAX_MESSAGE_MB}")
        if self.workers < 1:
            raise InvalidArgument("STRATA_WORKERS", f"is {self.workers}; use at least 1")
        if self.search_workers < 0:
            raise InvalidArgument("STRATA_SEARCH_WORKERS", f"is {self.search_workers}; use 0 (one per core) or more")
        # What each value below 1 means is said with the range: "use -1-65535" read as a typo.
        for name, low, taken in (
            ("port", 0, "0 (any free port) or 1-65535"),
            ("metrics_port", -1, "-1 (no metrics), 0 (any free port) or 1-65535"),
        ):
            if not low <= getattr(self, name) <= 65535:
                raise InvalidArgument(ENV_PREFIX + name.upper(), f"is {getattr(self, name)}; use {taken}")
        for name in ("grace_seconds", "index_save_seconds"):
            # (a wait past threading.TIMEOUT_MAX, or inf, stopped the thread that waits)
            if not 0 <= (seconds := getattr(self, name)) <= MAX_SECONDS:
                raise InvalidArgument(ENV_PREFIX + name.upper(), f"is {seconds}; use 0-{MAX_SECONDS} seconds")
        counts = (
            "narrow_parents",
            "narrowed_expansion_search",
            "narrowed_expansion_add",
            "max_unlinked",
            "blas_threads",
        )
        for name in counts:  # (a negative narrow_parents turned narrowing off, and rebuilt the segment index)
            if getattr(self, name) < 0:
                raise InvalidArgument(ENV_PREFIX + name.upper(), f"is {getattr(self, name)}; use 0 or more")
        if self.scan_memory_mb < 0:
            raise InvalidArgument("STRATA_SCAN_MEMORY_MB", f"is {self.scan_memory_mb}; use 0 (no copies) or more")
        if self.duckdb_threads < 1:
            raise InvalidArgument("STRATA_DUCKDB_THREADS", f"is {self.duckdb_threads}; use at least 1")
        for name in ("memory_limit", "checkpoint_threshold"):
            # DuckDB reads a negative size as none at all: no memory cap, no checkpoints.
            if (size := getattr(self, name)).strip().startswith("-") or not readable(name, size):
                raise InvalidArgument(ENV_PREFIX + name.upper(), f"is {size!r}; give a size such as '2GB'")
        if self.log_level.upper() not in _LOG_LEVELS:
            raise InvalidArgument("STRATA_LOG_LEVEL", f"is {self.log_level!r}; use one of {', '.join(_LOG_LEVELS)}")
        if self.narrowed_dtype and self.narrowed_dtype not in GRAPH_DTYPES:
            choices = ", ".join(sorted(GRAPH_DTYPES))
            raise InvalidArgument("STRATA_NARROWED_DTYPE", f"is {self.narrowed_dtype!r}; use one of {choices} or empty")

    def endpoint(self, port: int) -> str:
        """``host:port`` to bind or dial (an IPv6 address in brackets, given with or without)."""
        return f"{_bracketed(self.host.strip('[]'))}:{port}"

    def bind_hosts(self) -> list[str]:
        """Where to listen, as the host part of ``host:port``: ``host`` itself, or, for a
        name that resolves to several addresses of this machine (``localhost``: 127.0.0.1
        and ::1), each of them. Given the name, gRPC binds every address it can and fails
        only when none binds: a port another server held on 127.0.0.1 went unnoticed, that
        server answering every client that dialled localhost."""
        addresses = _local_addresses(self.host.strip("[]"))
        return [_bracketed(a) for a in addresses] if len(addresses) > 1 else [_bracketed(self.host.strip("[]"))]

    def wildcard(self) -> ipaddress.IPv4Address | ipaddress.IPv6Address | None:
        """``host`` when it is a wildcard address (``0.0.0.0``, ``::``: every interface), else None."""
        try:
            address = ipaddress.ip_address(self.host.strip("[]"))
        except ValueError:  # a host name
            return None
        return address if address.is_unspecified else None

    def reachable(self, port: int) -> str:
        """``host:port`` a user on this machine dials: a wildcard address names no machine
        (another machine cannot dial it, browsers refuse it), so ``localhost`` stands for it."""
        return f"localhost:{port}" if self.wildcard() else self.endpoint(port)

    def interfaces_note(self) -> str | None:
        """For a wildcard ``host``, that the server is bound to every interface and what
        other machines dial; None for any other host."""
        if (wildcard := self.wildcard()) is None:
            return None
        kind = "IPv4 " if wildcard.version == 4 else ""  # "::" takes IPv4 too (a dual-stack socket)
        return (
            f"bound to every {kind}interface ({self.host}): localhost reaches it from this machine; "
            f"from another, dial {socket.gethostname()} or an address of this machine"
        )

    @classmethod
    def load(cls, env: Mapping[str, str] | None = None, **overrides: Any) -> Settings:
        """Defaults, then ``STRATA_<FIELD>`` variables, then non-None ``overrides`` (the
        command line's options): a value refused names its variable, or its option
        (``--metrics-port``) when it came from there."""
        env = os.environ if env is None else env
        values: dict[str, Any] = {}
        given = {k: v for k, v in overrides.items() if v is not None}
        for f in dataclasses.fields(cls):
            raw = env.get(ENV_PREFIX + f.name.upper())
            if f.name in given or raw is None:
                continue  # the command line's value wins: its variable is not read (nor refused)
            # An empty variable leaves a setting unset (a path's: the data directory's
            # default, not the working directory; a number's: its default, not "'' is not
            # a valid int"); a text's is its value.
            if raw.strip() or str(f.type) == "str":
                values[f.name] = _convert(f.name, f.type, raw)
        values.update(given)
        if "data_dir" in values:
            values["data_dir"] = Path(values["data_dir"]).expanduser()
        try:
            return cls(**values)
        except InvalidArgument as exc:
            field = as_option(exc.field or "", given, env)
            if field == exc.field:
                raise
            raise InvalidArgument(field, exc.message) from None

    def search_threads(self) -> int:
        """Threads of the search pool: ``search_workers``, or one per core."""
        return self.search_workers or os.cpu_count() or 1

    def database_options(self) -> DatabaseOptions:
        """The core's options derived from these settings."""
        return DatabaseOptions(
            memory_limit=self.memory_limit,
            threads=self.duckdb_threads,
            checkpoint_threshold=self.checkpoint_threshold,
            max_batch=self.max_batch,
            max_top_k=self.max_top_k,
            max_page_size=self.max_page_size,
            max_query_chars=self.max_query_chars,
            max_unlinked=self.max_unlinked,
            narrow_parents=self.narrow_parents,
            narrowed_expansion_search=self.narrowed_expansion_search,
            narrowed_expansion_add=self.narrowed_expansion_add,
            narrowed_dtype=self.narrowed_dtype,
            blas_threads=self.blas_threads,
            resident_nodes=self.resident_nodes,
            scan_memory_mb=self.scan_memory_mb,
        )


def as_option(field: str, given: Iterable[str], env: Mapping[str, str] | None = None) -> str:
    """``field`` (a variable's name, perhaps followed by where in its value: ``STRATA_TLS_KEY``,
    ``STRATA_AUTH_TOKENS_FILE: /etc/t.json entry 2``; or a setting's own name, ``data_dir``)
    with the setting named as its option (``--tls-key``) when it came from the command
    line (``given``). A setting's own name not given there is named as the operator set
    it: its variable when ``env`` (default: the process's) sets one, else its option."""
    for name in given:
        variable = ENV_PREFIX + name.upper()
        if field == name:
            return "--" + name.replace("_", "-")
        if field == variable or field.startswith((variable + ":", variable + " ")):
            return "--" + name.replace("_", "-") + field[len(variable) :]
    if field in {f.name for f in dataclasses.fields(Settings)}:
        variable = ENV_PREFIX + field.upper()
        return (
            variable
            if (os.environ if env is None else env).get(variable, "").strip()
            else "--" + field.replace("_", "-")
        )
    return field


def as_given(text: str, given: Iterable[str]) -> str:
    """``text`` (a message) with each variable of a setting the command line gave
    (``given``) named as its option: ``TLS needs both STRATA_TLS_CERT and --tls-key``."""
    for name in given:
        text = re.sub(rf"\b{ENV_PREFIX}{name.upper()}\b", "--" + name.replace("_", "-"), text)
    return text


def _convert(name: str, kind: Any, raw: str) -> Any:
    optional = str(kind).endswith(" | None")
    if optional and not raw.strip():
        return None  # an empty variable leaves an optional setting unset
    target = {"int": int, "float": float, "str": str, "Path": Path, "bool": _flag}.get(
        str(kind).removesuffix(" | None"), str
    )
    try:
        return target(raw)
    except ValueError as exc:
        kind_name = "flag (1/0, true/false, yes/no, on/off)" if target is _flag else target.__name__
        raise InvalidArgument(ENV_PREFIX + name.upper(), f"{raw!r} is not a valid {kind_name}") from exc


def _flag(raw: str) -> bool:
    word = raw.strip().lower()
    if word in ("1", "true", "yes", "on"):
        return True
    if word in ("0", "false", "no", "off"):
        return False
    raise ValueError(raw)


def _bracketed(host: str) -> str:
    """A host as ``host:port`` writes it: an IPv6 address in brackets."""
    return f"[{host}]" if ":" in host else host


def _local_addresses(host: str) -> list[str]:
    """The addresses of this machine a host name resolves to, each once, in the resolver's
    order; none for an address (or a name that does not resolve: binding it says so)."""
    try:
        ipaddress.ip_address(host)
        return []
    except ValueError:
        pass
    if host.lower() == "localhost":  # gRPC binds both loopbacks for it, whatever the resolver says
        candidates = [(socket.AF_INET, "127.0.0.1"), (socket.AF_INET6, "::1")]
    else:
        try:
            infos = socket.getaddrinfo(host, None, type=socket.SOCK_STREAM)
        except (socket.gaierror, UnicodeError):
            return []
        candidates = [(family, str(sockaddr[0])) for family, _, _, _, sockaddr in infos]
    found: list[str] = []
    for family, address in candidates:
        if address in found:
            continue
        with socket.socket(family, socket.SOCK_STREAM) as probe:
            try:
                probe.bind((address, 0))
            except OSError:  # not an address of this machine (IPv6 turned off): gRPC skips it too
                continue
        found.append(address)
    return found
