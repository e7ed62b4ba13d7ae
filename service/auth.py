"""Who may call what: bearer tokens, roles, collection scopes, and TLS credentials.

A token carries a **role** (``read`` < ``write`` < ``admin``) and optionally a list of
**collections** it is limited to. Every RPC of the API needs a role (``METHOD_ROLES``);
health and reflection need none. The server checks the ``authorization: Bearer <token>``
metadata of each call:

- no token, a malformed header or an unknown token: ``UNAUTHENTICATED``;
- a known token whose role is too low, or a collection outside its list:
  ``PERMISSION_DENIED``.

A scoped token's listings name its collections only, and fields that describe the whole
server are left unset in its answers (``SERVER_WIDE``).

Tokens come from a file (``STRATA_AUTH_TOKENS_FILE``, JSON or TOML, preferably holding
SHA-256 hashes) and/or the environment (``STRATA_AUTH_TOKENS``); see :func:`load_tokens`.
Presented tokens are hashed and compared in constant time.
"""

from __future__ import annotations

import contextlib
import enum
import hashlib
import hmac
import ipaddress
import json
import os
import ssl
import tempfile
import tomllib
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, NamedTuple

import grpc

from hierarchy.errors import InvalidArgument
from service.pem import certificates_problem

if TYPE_CHECKING:  # the client imports this module and must not pull in the store
    from service.settings import Settings


class Role(enum.IntEnum):
    """What a token may do; each role includes the ones below it."""

    READ = 1
    WRITE = 2
    ADMIN = 3


def _rpcs(service: str, role: Role, *methods: str) -> dict[str, Role]:
    return {f"/strata.v1.{service}/{m}": role for m in methods}


# The role each RPC needs. A test checks that every RPC of the API is listed; a method
# missing here needs ``admin`` (fail closed).
METHOD_ROLES: dict[str, Role] = {
    **_rpcs("CollectionService", Role.READ, "GetCollection", "ListCollections"),
    **_rpcs("CollectionService", Role.ADMIN, "CreateCollection", "DeleteCollection"),
    **_rpcs("VideoService", Role.READ, "GetVideo", "ListVideos"),
    **_rpcs("VideoService", Role.WRITE, "CreateVideo", "DeleteVideo", "SealVideo", "ReopenVideo"),
    **_rpcs("SegmentService", Role.WRITE, "AppendSegments", "StreamAppendSegments"),
    **_rpcs("SearchService", Role.READ, "Search", "ParseQuery"),
    **_rpcs("HierarchyService", Role.WRITE, "BuildHierarchy"),
    **_rpcs("HierarchyService", Role.READ, "GetOperation"),
    **_rpcs("GraphService", Role.READ, "GetNode", "ListChildren", "GetAncestors", "GetNeighbors"),
    **_rpcs("GraphService", Role.READ, "GetSubtree", "FindSimilar"),
    **_rpcs("AdminService", Role.READ, "GetStats"),
    # Verify holds writes back while it checks; a snapshot copies every collection.
    **_rpcs("AdminService", Role.ADMIN, "Verify", "CreateSnapshot"),
}

# Where a request names its collection when the field is not ``collection``. ``None``:
# the RPC concerns no collection (an operation name is a random id only its starter knows).
COLLECTION_FIELDS: dict[str, str | None] = {
    "/strata.v1.CollectionService/CreateCollection": "name",
    "/strata.v1.CollectionService/GetCollection": "name",
    "/strata.v1.CollectionService/DeleteCollection": "name",
    "/strata.v1.SegmentService/StreamAppendSegments": "batch.collection",
    "/strata.v1.HierarchyService/GetOperation": None,
    "/strata.v1.SearchService/ParseQuery": None,  # reads a text, touches no collection
}

# RPCs that act on every collection when none is named: refused to a scoped token, saying why.
WHOLE_SERVER = frozenset({"/strata.v1.AdminService/Verify", "/strata.v1.AdminService/CreateSnapshot"})

# RPCs that list collections when none is named: a scoped token gets the list filtered to
# its own collections (field of the response holding messages with a ``name``).
LIST_COLLECTIONS = "/strata.v1.CollectionService/ListCollections"
LISTINGS: dict[str, str] = {
    LIST_COLLECTIONS: "collections",
    "/strata.v1.AdminService/GetStats": "collections",
}
LISTING_PAGE = 1000  # collections read a page while a scoped token's are gathered

# Fields of a response that describe the whole server rather than a collection: a scoped
# token gets them unset (zero). GetStats' commit sequence counts every collection's commits
# and its disk use covers the directory that holds them all; neither can be told per
# collection (the store is one file, and a restart forgets which commit was whose).
SERVER_WIDE: dict[str, tuple[str, ...]] = {
    "/strata.v1.AdminService/GetStats": ("commit_sequence", "disk_bytes"),
}

EXEMPT_PREFIXES = ("/grpc.health.v1.Health/", "/grpc.reflection.")


def required_role(method: str) -> Role:
    """The role a full method name (``/strata.v1.SearchService/Search``) needs."""
    return METHOD_ROLES.get(method, Role.ADMIN)


@dataclass(frozen=True)
class Principal:
    """The holder of a token: a name for logs and errors, a role, an optional scope."""

    name: str
    role: Role
    collections: frozenset[str] | None = None  # None: every collection

    def may_use(self, collection: str) -> bool:
        """Whether the token reaches ``collection``."""
        return self.collections is None or collection in self.collections


class _Entry(NamedTuple):
    digest: bytes
    principal: Principal


class TokenStore:
    """Known tokens by SHA-256 digest."""

    def __init__(self, entries: Iterable[_Entry]) -> None:
        self._entries = list(entries)

    def __len__(self) -> int:
        return len(self._entries)

    def authenticate(self, header: str | None) -> Principal | None:
        """The principal of an ``authorization`` header value, or None when it is
        missing, malformed or names no known token."""
        scheme, _, token = (header or "").strip().partition(" ")
        token = token.strip()
        if scheme.lower() != "bearer" or not token:
            return None
        digest = hashlib.sha256(token.encode()).digest()
        found = None
        for entry in self._entries:  # no early exit: the time taken does not depend on which matched
            if hmac.compare_digest(entry.digest, digest):
                found = entry.principal
        return found


def load_tokens(settings: Settings) -> TokenStore | None:
    """The tokens of ``settings`` (file and environment together); None when auth is off.

    File (``STRATA_AUTH_TOKENS_FILE``): JSON, a list of entries or ``{"tokens": [...]}``,
    or TOML (``.toml``) with ``[[tokens]]`` tables. An entry has ``role`` (read, write or
    admin), ``token_sha256`` (hex SHA-256 of the token; preferred) or ``token`` (the token
    itself), and optionally ``name`` and ``collections`` (a non-empty list; absent = all).

    Environment (``STRATA_AUTH_TOKENS``): entries separated by ``;``, each
    ``TOKEN:ROLE`` or ``TOKEN:ROLE:COLL1,COLL2``.
    """
    entries: list[_Entry] = []
    if settings.auth_tokens_file:
        entries += parse_token_file(Path(settings.auth_tokens_file).expanduser())
    if settings.auth_tokens.strip():
        entries += parse_token_env(settings.auth_tokens)
    if not entries and (settings.auth_tokens_file or settings.auth_tokens.strip()):
        # Configured but empty is a mistake, not a wish to turn authentication off.
        field = "STRATA_AUTH_TOKENS_FILE" if settings.auth_tokens_file else "STRATA_AUTH_TOKENS"
        raise InvalidArgument(field, "names no token; add one, or unset it to turn authentication off")
    _no_token_twice(entries, settings)
    return TokenStore(entries) if entries else None


def _no_token_twice(entries: list[_Entry], settings: Settings) -> None:
    """A token given twice (in the file, the environment, or both) took the last entry's
    role and scope: narrowing a token by adding an entry widened it instead."""
    seen: dict[bytes, str] = {}
    for entry in entries:
        if entry.digest in seen:
            field = "STRATA_AUTH_TOKENS_FILE" if settings.auth_tokens_file else "STRATA_AUTH_TOKENS"
            names = f"{seen[entry.digest]!r} and {entry.principal.name!r}"
            raise InvalidArgument(field, f"entries {names} hold the same token; keep one entry per token")
        seen[entry.digest] = entry.principal.name


def parse_token_file(path: Path) -> list[_Entry]:
    """Entries of a JSON or TOML token file (see :func:`load_tokens`)."""
    field = "STRATA_AUTH_TOKENS_FILE"
    try:
        data = _token_data(path.read_text(), path.suffix.lower())
    except (OSError, ValueError) as exc:
        raise InvalidArgument(field, f"cannot read token file {path}: {exc}") from exc
    raw = data.get("tokens") if isinstance(data, dict) else data
    if not isinstance(raw, list) or not all(isinstance(item, dict) for item in raw):
        raise InvalidArgument(field, f"{path} must hold a list of token entries (or a 'tokens' list)")
    return [_file_entry(item, i, f"{field}: {path} entry {i}") for i, item in enumerate(raw)]


def _token_data(text: str, suffix: str) -> Any:
    """A token file's content: JSON for ``.json``, TOML for ``.toml``, and for any other
    name whichever of the two it is (a TOML file named tokens.conf was refused with a
    JSON parser's complaint); ValueError says what each made of it."""
    if suffix in (".json", ".toml"):
        return json.loads(text) if suffix == ".json" else tomllib.loads(text)
    try:
        return json.loads(text)
    except ValueError as as_json:
        try:
            return tomllib.loads(text)
        except ValueError as as_toml:
            raise ValueError(f"neither JSON ({as_json}) nor TOML ({as_toml})") from as_toml


_ENTRY_KEYS = frozenset({"name", "token", "token_sha256", "role", "collections"})


def _file_entry(item: dict[str, Any], index: int, where: str) -> _Entry:
    if unknown := sorted(set(item) - _ENTRY_KEYS):  # "collection" for "collections" left a token unscoped
        raise InvalidArgument(where, f"{unknown[0]!r} is not a token entry key; use {', '.join(sorted(_ENTRY_KEYS))}")
    name = str(item.get("name") or f"entry-{index}")
    if "token_sha256" in item:
        try:
            digest = bytes.fromhex(str(item["token_sha256"]))
        except ValueError:
            digest = b""
        if len(digest) != hashlib.sha256().digest_size:
            raise InvalidArgument(where, "token_sha256 must be 64 hex digits (sha256sum of the token)")
    elif item.get("token"):
        digest = hashlib.sha256(str(item["token"]).encode()).digest()
    else:
        raise InvalidArgument(where, "give token_sha256 (preferred) or token")
    collections = item.get("collections")  # absent: every collection (null or [] is refused)
    names = isinstance(collections, list) and all(isinstance(c, str) and c.strip() for c in collections)
    if "collections" in item and not (names and collections):
        raise InvalidArgument(where, "collections must be a non-empty list of names; leave it out to allow all")
    return _Entry(digest, Principal(name, _role(item.get("role"), where), _scope(collections)))


def parse_token_env(text: str) -> list[_Entry]:
    """Entries of ``TOKEN:ROLE[:COLL1,COLL2]`` separated by ``;``."""
    entries = []
    for i, part in enumerate(p.strip() for p in text.split(";")):
        if not part:
            continue
        where = f"STRATA_AUTH_TOKENS entry {i}"
        fields = part.split(":", 2)
        if len(fields) < 2 or not fields[0].strip():
            raise InvalidArgument(where, "expected TOKEN:ROLE or TOKEN:ROLE:COLL1,COLL2")
        collections = [c.strip() for c in fields[2].split(",") if c.strip()] if len(fields) == 3 else None
        if collections == []:
            raise InvalidArgument(where, "name at least one collection after the role, or drop the second ':'")
        digest = hashlib.sha256(fields[0].strip().encode()).digest()
        entries.append(_Entry(digest, Principal(f"env-{i}", _role(fields[1], where), _scope(collections))))
    return entries


def _role(value: Any, where: str) -> Role:
    try:
        return Role[str(value).strip().upper()]
    except KeyError:
        # The value is not echoed: a token and a role swapped would print the token.
        raise InvalidArgument(where, "role is not one of read, write, admin") from None


def _scope(collections: list[Any] | None) -> frozenset[str] | None:
    return None if collections is None else frozenset(str(c) for c in collections)


class AuthInterceptor(grpc.ServerInterceptor):
    """Refuses calls without a known bearer token of a high enough role and scope."""

    def __init__(self, tokens: TokenStore) -> None:
        self.tokens = tokens

    def intercept_service(self, continuation: Callable, handler_call_details: grpc.HandlerCallDetails) -> Any:
        handler = continuation(handler_call_details)
        method = handler_call_details.method
        if handler is None or method.startswith(EXEMPT_PREFIXES):
            return handler
        headers = [v for k, v in handler_call_details.invocation_metadata or () if k == "authorization"]
        if len(headers) > 1:
            # Which of two credentials a proxy or client meant is not ours to guess.
            message = f"send one 'authorization' header; the call has {len(headers)}"
            return _refused(handler, grpc.StatusCode.UNAUTHENTICATED, message)
        principal = self.tokens.authenticate(headers[0] if headers else None)
        if principal is None:
            message = "send a known token as 'authorization: Bearer <token>' metadata"
            return _refused(handler, grpc.StatusCode.UNAUTHENTICATED, message)
        needed = required_role(method)
        if principal.role < needed:
            message = f"token {principal.name!r} has role {principal.role.name.lower()}; {method} needs "
            return _refused(handler, grpc.StatusCode.PERMISSION_DENIED, message + needed.name.lower())
        return handler if principal.collections is None else _scoped(handler, method, principal)


_KINDS = ("unary_unary", "unary_stream", "stream_unary", "stream_stream")


def _refused(handler: grpc.RpcMethodHandler, code: grpc.StatusCode, message: str) -> grpc.RpcMethodHandler:
    """The handler with its behaviour replaced by a refusal. The request is not even
    deserialised: a caller without a token gets nothing parsed on its behalf."""

    def refuse(request: Any, context: grpc.ServicerContext) -> Any:
        context.abort(code, message)

    kind = next(k for k in _KINDS if getattr(handler, k))
    return handler._replace(request_deserializer=None, **{kind: refuse})  # type: ignore[attr-defined]


def _scoped(handler: grpc.RpcMethodHandler, method: str, principal: Principal) -> grpc.RpcMethodHandler:
    """The handler, checking each request message against the token's collections."""
    if handler.unary_unary:
        return handler._replace(unary_unary=_scoped_unary(handler.unary_unary, method, principal))  # type: ignore
    if handler.stream_unary:
        return handler._replace(stream_unary=_scoped_stream(handler.stream_unary, method, principal))  # type: ignore
    return _refused(handler, grpc.StatusCode.PERMISSION_DENIED, f"{method} is not open to collection-scoped tokens")


def _scoped_unary(behaviour: Callable, method: str, principal: Principal) -> Callable:
    def wrapper(request: Any, context: grpc.ServicerContext) -> Any:
        denial = _denial(method, request, principal)
        if denial:
            context.abort(grpc.StatusCode.PERMISSION_DENIED, denial)
        if method == LIST_COLLECTIONS and hasattr(request, "DESCRIPTOR"):  # (bytes that did not parse: refused within)
            return _own_collections(behaviour, request, context, principal)
        return _filtered(method, behaviour(request, context), principal)

    return wrapper


def _own_collections(behaviour: Callable, request: Any, context: grpc.ServicerContext, principal: Principal) -> Any:
    """``ListCollections`` for a scoped token: every collection it reaches, in one page.
    Pages cut from every collection's listing named the others in their tokens (the
    name a page ends after), and came back empty between the token's own."""
    asked = type(request)()
    asked.CopyFrom(request)
    asked.page_size = LISTING_PAGE
    kept: list[Any] = []
    while True:
        reply = behaviour(asked, context)
        kept += [c for c in reply.collections if principal.may_use(c.name)]
        if not reply.next_page_token:
            return type(reply)(collections=kept)
        asked.page_token = reply.next_page_token


def _scoped_stream(behaviour: Callable, method: str, principal: Principal) -> Callable:
    def wrapper(request_iterator: Iterator[Any], context: grpc.ServicerContext) -> Any:
        denials: list[str] = []

        def checked() -> Iterator[Any]:
            for message in request_iterator:
                denial = _denial(method, message, principal)
                if denial:
                    denials.append(denial)
                    return
                yield message

        # The stream ends at the first refused message rather than aborting inside the
        # servicer's loop, where its error mapping would report the abort as INTERNAL.
        response = behaviour(checked(), context)
        if denials:
            context.abort(grpc.StatusCode.PERMISSION_DENIED, denials[0])
        return response

    return wrapper


def _denial(method: str, request: Any, principal: Principal) -> str | None:
    """Why ``principal`` may not send ``request`` to ``method``; None when it may."""
    path = COLLECTION_FIELDS.get(method, "collection")
    if path is None or not hasattr(request, "DESCRIPTOR"):
        return None  # no collection to check; or bytes that did not parse, refused further in
    collection = _field(request, path)
    if not collection and method in LISTINGS:
        return None  # answered with the token's own collections only
    if collection is not None and principal.may_use(collection):
        return None
    if not collection and method in WHOLE_SERVER:  # a verify or a snapshot of every collection
        scope = ", ".join(map(repr, sorted(principal.collections or ())))
        one = "; or name one of them in the request" if collection is not None else ""
        return f"token {principal.name!r} reaches only {scope}: a call on every collection needs an unscoped token{one}"
    return f"token {principal.name!r} does not reach collection {collection!r}"


def _field(message: Any, path: str) -> str | None:
    for name in path.split("."):
        if name not in message.DESCRIPTOR.fields_by_name:
            return None  # an RPC without a collection field: refused to scoped tokens
        message = getattr(message, name)
    return message if isinstance(message, str) else None


def _filtered(method: str, response: Any, principal: Principal) -> Any:
    """``response`` as a scoped token may see it: listings cut to its collections, and
    the server-wide fields unset."""
    if response is None:
        return response
    field = LISTINGS.get(method)
    if field is not None:
        items = getattr(response, field)
        kept = [item for item in items if principal.may_use(item.name)]
        del items[:]
        items.extend(kept)
    for name in SERVER_WIDE.get(method, ()):
        response.ClearField(name)
    return response


@dataclass(frozen=True)
class Security:
    """What a server is secured with, read from its settings' files once (a file changed
    between two reads would otherwise check one version and serve another)."""

    tokens: TokenStore | None  # None: authentication off
    credentials: grpc.ServerCredentials | None  # None: plain text

    @classmethod
    def load(cls, settings: Settings) -> Security:
        """The tokens and TLS credentials ``settings`` name; a mistake in either is an
        InvalidArgument naming the setting."""
        return cls(load_tokens(settings), server_credentials(settings))

    def interceptors(self) -> list[grpc.ServerInterceptor]:
        """The interceptors that enforce the tokens (none when authentication is off)."""
        return [AuthInterceptor(self.tokens)] if self.tokens else []


def server_credentials(settings: Settings) -> grpc.ServerCredentials | None:
    """TLS credentials from ``tls_cert``/``tls_key`` (and ``tls_client_ca`` to require
    client certificates); None when TLS is off."""
    if not settings.tls_cert and not settings.tls_key:
        if settings.tls_client_ca:  # client certificates are asked for over TLS only: never serve plaintext
            raise InvalidArgument("STRATA_TLS_CLIENT_CA", "needs STRATA_TLS_CERT and STRATA_TLS_KEY (mutual TLS)")
        return None
    if not settings.tls_cert or not settings.tls_key:
        missing = "STRATA_TLS_KEY" if settings.tls_cert else "STRATA_TLS_CERT"
        raise InvalidArgument(missing, "is not set: TLS needs both STRATA_TLS_CERT and STRATA_TLS_KEY")
    key = _read(settings.tls_key, "STRATA_TLS_KEY")
    cert = _read(settings.tls_cert, "STRATA_TLS_CERT")
    _check_pair(cert, key, settings.tls_cert, settings.tls_key)
    ca = _read(settings.tls_client_ca, "STRATA_TLS_CLIENT_CA") if settings.tls_client_ca else None
    if ca is not None and (problem := certificates_problem(ca)) is not None:
        raise InvalidArgument("STRATA_TLS_CLIENT_CA", f"{settings.tls_client_ca} {problem}")
    return grpc.ssl_server_credentials([(key, cert)], root_certificates=ca, require_client_auth=ca is not None)


def _check_pair(cert: bytes, key: bytes, cert_path: Path, key_path: Path) -> None:
    """Refuse a certificate and key that do not belong together (gRPC would fail to bind and
    blame the port). Checked on the bytes read, not by reading the files again: a pipe
    (``--tls-key <(fetch-key)``) can be read once."""
    with _in_memory(cert, key) as (cert_file, key_file):
        try:
            ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER).load_cert_chain(cert_file, key_file)
        except ssl.SSLError as exc:
            raise InvalidArgument(
                "STRATA_TLS_KEY",
                f"{key_path} is not the private key of the certificate {cert_path} ({exc.reason or exc})",
            ) from exc


@contextlib.contextmanager
def _in_memory(*contents: bytes) -> Iterator[list[str]]:
    """Paths that read as ``contents`` for a call that takes only paths (``ssl``): files
    in memory (a private key is never written to disk), else in a private directory."""
    if not hasattr(os, "memfd_create"):  # not Linux
        with tempfile.TemporaryDirectory(prefix="strata-tls-") as folder:  # mode 0700
            paths = [os.path.join(folder, str(i)) for i in range(len(contents))]
            for path, data in zip(paths, contents, strict=True):
                Path(path).write_bytes(data)
            yield paths
        return
    fds = [os.memfd_create("strata-tls") for _ in contents]
    try:
        for fd, data in zip(fds, contents, strict=True):
            with os.fdopen(fd, "wb", closefd=False) as file:  # every byte, however the writes split
                file.write(data)
        yield [f"/proc/self/fd/{fd}" for fd in fds]
    finally:
        for fd in fds:
            os.close(fd)


def _read(path: Path, field: str) -> bytes:
    try:
        data = Path(path).expanduser().read_bytes()
    except OSError as exc:
        raise InvalidArgument(field, f"cannot read {path}: {exc.strerror}") from exc
    if b"-----BEGIN " not in data:  # else gRPC fails later, blaming the port
        raise InvalidArgument(field, f"{path} is not a PEM file (no '-----BEGIN' line)")
    return data


def is_loopback(host: str) -> bool:
    """Whether ``host`` is reachable from this machine only."""
    host = host.strip("[]")
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False  # a host name: assume the network can reach it


def exposure_warning(settings: Settings) -> str | None:
    """What is unprotected when the server binds beyond loopback; None when nothing is."""
    if is_loopback(settings.host):
        return None
    auth = bool(settings.auth_tokens_file or settings.auth_tokens.strip())
    tls = bool(settings.tls_cert and settings.tls_key)
    where = f"serving on {settings.host}"
    enable_auth = "set STRATA_AUTH_TOKENS_FILE or STRATA_AUTH_TOKENS"
    enable_tls = "set STRATA_TLS_CERT and STRATA_TLS_KEY"
    if not auth and not tls:
        return (
            f"{where} without authentication or TLS: anyone who can reach it can read and change "
            f"every collection; {enable_auth} and {enable_tls}, or bind 127.0.0.1"
        )
    if not auth:
        return f"{where} without authentication: anyone who can reach it can read and change anything; {enable_auth}"
    if not tls:
        return f"{where} without TLS: bearer tokens cross the network in clear text; {enable_tls}"
    return None


class _CallDetails(NamedTuple):
    method: str
    timeout: float | None
    metadata: Any
    credentials: Any
    wait_for_ready: bool | None
    compression: Any


class BearerToken(
    grpc.UnaryUnaryClientInterceptor,
    grpc.UnaryStreamClientInterceptor,
    grpc.StreamUnaryClientInterceptor,
    grpc.StreamStreamClientInterceptor,
):
    """Client side: adds ``authorization: Bearer <token>`` to every call of a channel."""

    def __init__(self, token: str) -> None:
        self._header = ("authorization", f"Bearer {token}")

    def _details(self, details: grpc.ClientCallDetails) -> _CallDetails:
        metadata = [*(details.metadata or ()), self._header]
        return _CallDetails(
            details.method,
            details.timeout,
            metadata,
            details.credentials,
            details.wait_for_ready,
            details.compression,  # type: ignore[attr-defined]
        )

    def intercept_unary_unary(self, continuation: Callable, details: grpc.ClientCallDetails, request: Any) -> Any:
        return continuation(self._details(details), request)

    def intercept_unary_stream(self, continuation: Callable, details: grpc.ClientCallDetails, request: Any) -> Any:
        return continuation(self._details(details), request)

    def intercept_stream_unary(self, continuation: Callable, details: grpc.ClientCallDetails, requests: Any) -> Any:
        return continuation(self._details(details), requests)

    def intercept_stream_stream(self, continuation: Callable, details: grpc.ClientCallDetails, requests: Any) -> Any:
        return continuation(self._details(details), requests)
