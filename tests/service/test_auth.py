"""Authentication, roles, collection scopes and TLS over a real loopback server."""

from __future__ import annotations

import hashlib
import json
import logging
import os
import re
import subprocess
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import grpc
import pytest
from google.protobuf import descriptor_pool

from hierarchy.errors import InvalidArgument
from service import auth
from service.client import StrataClient, StrataRpcError, segment_from_dict
from service.gen.strata.v1 import collection_pb2, segment_pb2
from service.server import SERVICE_NAMES, StrataServer
from service.settings import Settings
from tests.service.conftest import DIM, rows, start_server, unit_vectors

TOKENS = "admin-secret:admin; write-secret:write; read-secret:read; scoped-secret:write:a; scoped-admin:admin:a"
DENIED = grpc.StatusCode.PERMISSION_DENIED
UNAUTHENTICATED = grpc.StatusCode.UNAUTHENTICATED


def all_methods() -> list[tuple[str, bool]]:
    """``(full method name, client streaming)`` of every RPC of the API."""
    pool = descriptor_pool.Default()
    return [
        (f"/{name}/{m.name}", m.client_streaming)
        for name in SERVICE_NAMES
        for m in pool.FindServiceByName(name).methods
    ]


@pytest.fixture(scope="module")
def secured(tmp_path_factory: pytest.TempPathFactory) -> Iterator[StrataServer]:
    """A server with tokens, holding collections ``a`` and ``b``, each with video ``v``."""
    srv = start_server(tmp_path_factory.mktemp("auth") / "data", auth_tokens=TOKENS)
    with StrataClient(srv.address, timeout=30, token="admin-secret") as admin:
        for name in ("a", "b"):
            admin.create_collection(name, dimension=DIM)
            admin.create_video(name, "v")
            admin.append_segments(name, rows("v", unit_vectors(4)))
    yield srv
    srv.stop(0)


def connect(server: StrataServer, token: str | None) -> StrataClient:
    return StrataClient(server.address, timeout=30, token=token)


def code_of(call: object) -> grpc.StatusCode:
    with pytest.raises(StrataRpcError) as info:
        call()  # type: ignore[operator]
    return info.value.code


def test_every_rpc_needs_a_listed_role() -> None:
    methods = {name for name, _ in all_methods()}
    assert methods - auth.METHOD_ROLES.keys() == set(), "give each new RPC a role in service.auth.METHOD_ROLES"
    assert auth.METHOD_ROLES.keys() - methods == set(), "METHOD_ROLES names an RPC the API no longer has"


@pytest.mark.parametrize(("method", "streaming"), all_methods(), ids=[m.split(".")[-1] for m, _ in all_methods()])
def test_every_rpc_refuses_a_call_without_token(secured: StrataServer, method: str, streaming: bool) -> None:
    with grpc.insecure_channel(secured.address) as channel:
        with pytest.raises(grpc.RpcError) as info:
            if streaming:
                channel.stream_unary(method)(iter([b""]), timeout=10)
            else:
                channel.unary_unary(method)(b"", timeout=10)
    assert info.value.code() == UNAUTHENTICATED  # type: ignore[attr-defined]


@pytest.mark.parametrize("header", ["Bearer wrong-secret", "Bearer", "Basic read-secret", "read-secret"])
def test_unknown_or_malformed_token_is_unauthenticated(secured: StrataServer, header: str) -> None:
    with grpc.insecure_channel(secured.address) as channel:
        search = channel.unary_unary("/strata.v1.CollectionService/ListCollections")
        with pytest.raises(grpc.RpcError) as info:
            search(b"", metadata=[("authorization", header)], timeout=10)
    assert info.value.code() == UNAUTHENTICATED  # type: ignore[attr-defined]


def test_two_authorization_headers_are_refused_whichever_comes_last(secured: StrataServer) -> None:
    with grpc.insecure_channel(secured.address) as channel:
        listing = channel.unary_unary("/strata.v1.CollectionService/ListCollections")
        for pair in (["Bearer read-secret", "Bearer admin-secret"], ["Bearer admin-secret", "Bearer read-secret"]):
            with pytest.raises(grpc.RpcError) as info:
                listing(b"", metadata=[("authorization", h) for h in pair], timeout=10)
            assert info.value.code() == UNAUTHENTICATED  # type: ignore[attr-defined]
            assert "one 'authorization' header" in info.value.details()  # type: ignore[attr-defined]
        assert listing(b"", metadata=[("authorization", "Bearer read-secret")], timeout=10) is not None


def test_no_token_is_refused_on_read_write_and_admin_rpcs(secured: StrataServer) -> None:
    with connect(secured, None) as client:
        assert code_of(lambda: client.search("a", vector=unit_vectors(1)[0])) == UNAUTHENTICATED
        assert code_of(lambda: client.create_video("a", "x")) == UNAUTHENTICATED
        assert code_of(lambda: client.create_collection("x", dimension=DIM)) == UNAUTHENTICATED


def test_health_needs_no_token(secured: StrataServer) -> None:
    with connect(secured, None) as client:
        assert client.health() == "SERVING"


def test_read_token_reads_but_cannot_write_or_administer(secured: StrataServer) -> None:
    with connect(secured, "read-secret") as client:
        assert client.search("a", vector=unit_vectors(1)[0], level="segment").hits
        assert {c.name for c in client.list_collections()} >= {"a", "b"}
        assert code_of(lambda: client.append_segments("a", rows("v", unit_vectors(1), 10))) == DENIED
        assert code_of(lambda: client.create_collection("x", dimension=DIM)) == DENIED
        assert code_of(lambda: client.delete_collection("a")) == DENIED


def test_write_token_ingests_but_cannot_create_collections(secured: StrataServer) -> None:
    with connect(secured, "write-secret") as client:
        client.create_video("b", "w")
        assert client.append_segments("b", rows("w", unit_vectors(3))).segment_ids
        streamed = client.stream_segments("b", [("s1", rows("w", unit_vectors(2), 3))])
        assert streamed.segment_count == 2
        with pytest.raises(StrataRpcError) as info:
            client.create_collection("x", dimension=DIM)
        assert info.value.code == DENIED and "needs admin" in info.value.message


def test_scoped_token_reaches_only_its_collections(secured: StrataServer) -> None:
    with connect(secured, "scoped-secret") as client:
        client.create_video("a", "s")
        assert client.append_segments("a", rows("s", unit_vectors(2))).segment_ids
        assert code_of(lambda: client.append_segments("b", rows("v", unit_vectors(1), 20))) == DENIED
        assert code_of(lambda: client.search("b", vector=unit_vectors(1)[0])) == DENIED
        assert code_of(lambda: client.get_collection("b")) == DENIED
        assert code_of(lambda: client.stream_segments("b", [("r", rows("v", unit_vectors(1), 30))])) == DENIED
        assert [c.name for c in client.list_collections()] == ["a"]
        assert [c.name for c in client.stats().collections] == ["a"]


def test_a_scoped_token_refused_a_call_on_every_collection_is_told_why(secured: StrataServer, tmp_path: Path) -> None:
    # It read "does not reach collection ''" (verify) and "does not reach collection None" (snapshot).
    said = "reaches only 'a': a call on every collection needs an unscoped token"
    with connect(secured, "scoped-admin") as client:
        assert not client.verify("a").problems
        with pytest.raises(StrataRpcError) as err:
            client.verify()
        assert err.value.code is DENIED and err.value.message.endswith(f"{said}; or name one of them in the request")
        with pytest.raises(StrataRpcError) as err:
            client.create_snapshot(tmp_path / "snap")
        assert err.value.code is DENIED and err.value.message.endswith(said)
        with pytest.raises(StrataRpcError) as err:  # no collection named where one is needed: as ever
            client.get_video("", "v")
        assert err.value.code is DENIED and "does not reach collection ''" in err.value.message


def test_a_scoped_listing_never_names_another_collection(secured: StrataServer) -> None:
    """Pages of every collection's listing, filtered, named the others in their tokens
    (the name a page ends after): a scoped token gets its own collections in one page."""
    with connect(secured, "admin-secret") as admin:
        admin.create_collection("0-merger-plans", dimension=DIM)  # sorts before "a"
    with grpc.insecure_channel(secured.address) as channel:
        listing = channel.unary_unary(
            "/strata.v1.CollectionService/ListCollections",
            request_serializer=collection_pb2.ListCollectionsRequest.SerializeToString,
            response_deserializer=collection_pb2.ListCollectionsResponse.FromString,
        )
        reply = listing(
            collection_pb2.ListCollectionsRequest(page_size=1),
            metadata=[("authorization", "Bearer scoped-secret")],
            timeout=10,
        )
    assert [c.name for c in reply.collections] == ["a"] and reply.next_page_token == ""


def test_scoped_stats_tell_nothing_of_other_collections(secured: StrataServer) -> None:
    """The commit sequence counts every collection's commits and the data directory holds
    them all: a scoped token gets them unset, with or without a collection named, while its
    own collection's figures are told in full."""
    with connect(secured, "admin-secret") as admin, connect(secured, "scoped-secret") as scoped:
        before = admin.stats()
        admin.create_video("b", "elsewhere")  # (video "v" of each collection is left as it was)
        admin.append_segments("b", rows("elsewhere", unit_vectors(2)))  # another collection moves on
        after = admin.stats()
        assert after.commit_sequence > before.commit_sequence > 0 and after.disk_bytes > 0
        own = {lv.level: lv.node_count for c in after.collections if c.name == "a" for lv in c.levels}
        for reply in (scoped.stats(), scoped.stats("a")):
            assert (reply.commit_sequence, reply.disk_bytes) == (0, 0)
            assert reply.version == after.version  # the server's, not any collection's
            [mine] = reply.collections
            assert mine.name == "a" and {lv.level: lv.node_count for lv in mine.levels} == own
        with pytest.raises(StrataRpcError) as info:
            scoped.stats("b")
        assert info.value.code == DENIED


def test_scoped_stream_stops_at_the_first_foreign_batch(secured: StrataServer) -> None:
    def batch(collection: str, video: str, start: int) -> segment_pb2.StreamAppendSegmentsRequest:
        segments = [segment_from_dict(r) for r in rows(video, unit_vectors(1), start)]
        return segment_pb2.StreamAppendSegmentsRequest(
            batch=segment_pb2.AppendSegmentsRequest(collection=collection, segments=segments)
        )

    with connect(secured, "scoped-secret") as client:
        client.create_video("a", "mixed")
        with pytest.raises(grpc.RpcError) as info:
            client.segments.StreamAppendSegments(iter([batch("a", "mixed", 0), batch("b", "v", 40)]), timeout=10)
        assert info.value.code() == DENIED  # type: ignore[attr-defined]
        assert client.get_video("a", "mixed").segment_count == 1  # the batch before the refusal stands
    with connect(secured, "admin-secret") as admin:
        assert admin.get_video("b", "v").segment_count == 4


@pytest.mark.parametrize("token", ["admin-secret", "scoped-secret"])
@pytest.mark.parametrize(
    ("method", "streamed"),
    [
        ("VideoService/GetVideo", False),
        ("SegmentService/StreamAppendSegments", True),
        ("CollectionService/ListCollections", False),  # a scoped listing is answered apart
    ],
)
def test_bytes_that_do_not_parse_are_invalid_argument_for_a_scoped_token_too(
    secured: StrataServer, token: str, method: str, streamed: bool
) -> None:
    """A collection-scoped token's scope check must not choke on a request that did not parse."""
    garbage = b"\xff\xff\xff\xff\x0f"
    metadata = [("authorization", f"Bearer {token}")]
    with grpc.insecure_channel(secured.address) as channel:
        kind = channel.stream_unary if streamed else channel.unary_unary
        call = kind(f"/strata.v1.{method}", request_serializer=lambda b: b, response_deserializer=lambda b: b)
        with pytest.raises(grpc.RpcError) as info:
            call(iter([garbage]) if streamed else garbage, metadata=metadata, timeout=10)
    assert info.value.code() == grpc.StatusCode.INVALID_ARGUMENT  # type: ignore[attr-defined]
    details = info.value.details()  # type: ignore[attr-defined]
    assert ("batch[0]" if streamed else "request") in details and "not a valid protobuf message" in details, details


def test_token_file_in_json_and_toml(tmp_path: Path) -> None:
    digest = hashlib.sha256(b"s3cret").hexdigest()
    as_json = tmp_path / "tokens.json"
    as_json.write_text(json.dumps({"tokens": [{"name": "ci", "token_sha256": digest, "role": "write"}]}))
    as_toml = tmp_path / "tokens.toml"
    as_toml.write_text('[[tokens]]\nname = "viewer"\ntoken = "t0ml"\nrole = "read"\ncollections = ["a"]\n')
    json_store = auth.load_tokens(Settings.load(env={}, auth_tokens_file=as_json))
    toml_store = auth.load_tokens(Settings.load(env={}, auth_tokens_file=as_toml))
    assert json_store and json_store.authenticate("Bearer s3cret") == auth.Principal("ci", auth.Role.WRITE)
    assert toml_store and toml_store.authenticate("bearer t0ml") == auth.Principal(
        "viewer", auth.Role.READ, frozenset({"a"})
    )
    assert json_store.authenticate("Bearer t0ml") is None


def test_a_token_file_of_another_name_is_read_as_what_it_holds(tmp_path: Path) -> None:
    """A TOML file named tokens.conf was refused with a JSON parser's complaint."""
    conf = tmp_path / "tokens.conf"
    conf.write_text('[[tokens]]\ntoken = "s3cret-token"\nrole = "read"\n')
    store = auth.load_tokens(Settings.load(env={}, auth_tokens_file=conf))
    assert store and store.authenticate("Bearer s3cret-token") == auth.Principal("entry-0", auth.Role.READ)
    conf.write_text(json.dumps([{"token": "from-json", "role": "write"}]))
    store = auth.load_tokens(Settings.load(env={}, auth_tokens_file=conf))
    assert store and store.authenticate("Bearer from-json") == auth.Principal("entry-0", auth.Role.WRITE)
    conf.write_text("tokens = [")
    with pytest.raises(InvalidArgument) as info:
        auth.load_tokens(Settings.load(env={}, auth_tokens_file=conf))
    said = info.value.message
    assert f"cannot read token file {conf}: neither JSON (" in said and ") nor TOML (" in said, said


@pytest.mark.parametrize(
    "content",
    [
        [{"role": "read"}],
        [{"token": "x", "role": "owner"}],
        [{"token_sha256": "abc", "role": "read"}],
        [{"token": "x", "role": "read", "collections": []}],
        {"tokens": []},
        "not a list",
        [{"token": "x", "role": "write", "collection": ["a"]}],  # unscoped the token, unseen
        [{"token": "x", "role": "read", "collections": None}],
        [{"token": "x", "role": "read", "collections": [None]}],  # was scoped to a collection named "None"
        [{"token": "x", "role": "read", "collections": ["a"]}, {"token": "x", "role": "admin"}],  # last won
    ],
    ids=[
        "no-token",
        "bad-role",
        "short-hash",
        "empty-scope",
        "no-entries",
        "not-a-list",
        "typo",
        "null",
        "null-name",
        "twice",
    ],  # fmt: skip
)
def test_bad_token_file_names_the_problem(tmp_path: Path, content: object) -> None:
    path = tmp_path / "tokens.json"
    path.write_text(json.dumps(content))
    with pytest.raises(InvalidArgument) as info:
        auth.load_tokens(Settings.load(env={}, auth_tokens_file=path))
    assert "STRATA_AUTH_TOKENS_FILE" in str(info.value)


def test_bad_tokens_are_named_before_the_data_directory_is_made(tmp_path: Path) -> None:
    with pytest.raises(InvalidArgument):
        start_server(tmp_path / "data", auth_tokens="t:owner")
    assert not (tmp_path / "data").exists()


def test_a_token_given_twice_or_in_a_swapped_entry_is_refused_without_echoing_it() -> None:
    with pytest.raises(InvalidArgument) as twice:
        auth.load_tokens(Settings.load(env={"STRATA_AUTH_TOKENS": "t:read:games;t:admin"}))
    assert "the same token" in str(twice.value) and "STRATA_AUTH_TOKENS" in str(twice.value)
    with pytest.raises(InvalidArgument) as swapped:  # ROLE:TOKEN for TOKEN:ROLE
        auth.load_tokens(Settings.load(env={"STRATA_AUTH_TOKENS": "admin:Sup3r-S3cret-T0ken"}))
    assert "Sup3r" not in str(swapped.value) and "role" in str(swapped.value)


def _served_from_pipes(tmp_path: Path, contents: dict[str, bytes], what: str) -> StrataServer:
    """A server started with each setting of ``contents`` a pipe that holds its bytes and
    can be read once (`--auth-tokens-file <(fetch-secrets)`); the test fails if the start
    does not end, as it did not when a file was read twice."""
    pipes = {name: tmp_path / f"{name}.pipe" for name in contents}

    def write_each() -> None:
        for name, pipe in pipes.items():
            threading.Thread(target=pipe.write_bytes, args=(contents[name],), daemon=True).start()

    for pipe in pipes.values():
        os.mkfifo(pipe)
    write_each()
    started: list[StrataServer] = []
    starting = threading.Thread(target=lambda: started.append(start_server(tmp_path / "data", **pipes)), daemon=True)
    starting.start()
    starting.join(timeout=60)
    if not started:
        write_each()  # let the second reads end, so the thread does not outlive the test
        pytest.fail(f"start-up read the {what} twice")
    return started[0]


def test_a_token_file_that_can_be_read_once_is_enough(tmp_path: Path) -> None:
    # `--auth-tokens-file <(fetch-secrets)` gives a pipe, read once: start-up read the
    # file to check it, then again to serve, and waited on the empty pipe for good.
    entries = json.dumps([{"name": "ops", "token": "piped-secret", "role": "admin"}]).encode()
    server = _served_from_pipes(tmp_path, {"auth_tokens_file": entries}, "token file")
    try:
        with StrataClient(server.address, timeout=30, token="piped-secret") as admin:
            assert list(admin.list_collections()) == []
    finally:
        server.stop(0)


def test_tls_files_that_can_be_read_once_are_enough(tmp_path: Path) -> None:
    # `--tls-cert <(...) --tls-key <(...)`: the pair was checked by reading both files
    # again, found empty, and refused as "not the private key of the certificate".
    certs = make_certificates(tmp_path)
    pem = {"tls_cert": certs["server_cert"].read_bytes(), "tls_key": certs["server_key"].read_bytes()}
    server = _served_from_pipes(tmp_path, pem, "TLS files")
    try:
        with StrataClient(server.address, timeout=30, root_certificates=pem["tls_cert"]) as client:
            assert list(client.list_collections()) == []
    finally:
        server.stop(0)


def test_environment_tokens_and_settings() -> None:
    settings = Settings.load(env={"STRATA_AUTH_TOKENS": "k1:admin;k2:read:a, b", "STRATA_TLS_CERT": ""})
    store = auth.load_tokens(settings)
    assert store and len(store) == 2 and settings.tls_cert is None
    assert store.authenticate("Bearer k2") == auth.Principal("env-1", auth.Role.READ, frozenset({"a", "b"}))
    assert "k1" not in repr(settings)
    with pytest.raises(InvalidArgument):
        auth.parse_token_env("k3")


def test_non_loopback_bind_without_protection_warns(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    with caplog.at_level(logging.WARNING, logger="service.server"):
        srv = start_server(tmp_path / "data", host="0.0.0.0")
        srv.stop(0)
    assert any("without authentication or TLS" in r.getMessage() for r in caplog.records)
    assert auth.exposure_warning(Settings.load(env={}, host="127.0.0.1")) is None
    assert "clear text" in str(auth.exposure_warning(Settings.load(env={}, host="::", auth_tokens="k:read")))


def make_certificates(folder: Path) -> dict[str, Path]:
    """Self-signed server and client certificates (for localhost and 127.0.0.1) made by
    openssl: ``server_key``, ``server_cert``, ``client_key``, ``client_cert``."""
    made: dict[str, Path] = {}
    for who in ("server", "client"):
        key, cert = folder / f"{who}.key", folder / f"{who}.pem"
        command = ["openssl", "req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1"]
        command += ["-nodes", "-days", "1", "-keyout", str(key), "-out", str(cert), "-subj", f"/CN={who}"]
        command += ["-addext", "subjectAltName=DNS:localhost,IP:127.0.0.1"]
        subprocess.run(command, check=True, capture_output=True)
        made[f"{who}_key"], made[f"{who}_cert"] = key, cert
    return made


@pytest.fixture(scope="module")
def certificates(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    return make_certificates(tmp_path_factory.mktemp("tls"))


def test_tls_round_trip_with_token(tmp_path: Path, certificates: dict[str, Path]) -> None:
    srv = start_server(
        tmp_path / "data",
        tls_cert=certificates["server_cert"],
        tls_key=certificates["server_key"],
        auth_tokens="tls-secret:admin",
    )
    ca = certificates["server_cert"].read_bytes()
    try:
        with StrataClient(srv.address, timeout=10, token="tls-secret", root_certificates=ca) as client:
            assert client.create_collection("t", dimension=DIM).name == "t"
        with StrataClient(srv.address, timeout=2) as plain:
            assert code_of(lambda: plain.get_collection("t")) == grpc.StatusCode.UNAVAILABLE
    finally:
        srv.stop(0)


def test_mutual_tls_requires_a_client_certificate(tmp_path: Path, certificates: dict[str, Path]) -> None:
    srv = start_server(
        tmp_path / "data",
        tls_cert=certificates["server_cert"],
        tls_key=certificates["server_key"],
        tls_client_ca=certificates["client_cert"],
    )
    ca = certificates["server_cert"].read_bytes()
    mine = (certificates["client_key"].read_bytes(), certificates["client_cert"].read_bytes())
    try:
        with StrataClient(srv.address, timeout=10, root_certificates=ca, client_certificate=mine) as client:
            assert client.health() == "SERVING"
        with StrataClient(srv.address, timeout=2, root_certificates=ca) as anonymous:
            assert code_of(anonymous.health) == grpc.StatusCode.UNAVAILABLE
    finally:
        srv.stop(0)


@pytest.mark.parametrize(
    ("pair", "error", "said"),
    [
        (lambda key, cert: (cert, key), ValueError, "client_certificate is (certificate chain, private key); give ("),
        (lambda key, cert: (b"", cert), ValueError, "client_certificate[0] (the private key) is empty"),
        (lambda key, cert: (cert, cert), ValueError, "client_certificate[0] (the private key) is not a PEM private"),
        (lambda key, cert: (key, key), ValueError, "client_certificate[1] (the certificate chain) is not a valid PEM"),
        (lambda key, cert: (key.decode(), cert), TypeError, "client_certificate[0] (the private key): give the PEM"),
        (lambda key, cert: key, TypeError, "client_certificate: give a (private key, certificate chain) pair"),
    ],
)
def test_a_client_certificate_that_is_no_pem_key_and_chain_is_refused_as_the_client_is_made(
    server: StrataServer, certificates: dict[str, Path], pair: Any, error: type[Exception], said: str
) -> None:
    # gRPC took them, and every call failed UNAVAILABLE as if no server ran.
    key, cert = certificates["client_key"].read_bytes(), certificates["client_cert"].read_bytes()
    with pytest.raises(error, match=f"^{re.escape(said)}"):
        StrataClient(server.address, client_certificate=pair(key, cert))


def test_tls_needs_both_certificate_and_key(tmp_path: Path, certificates: dict[str, Path]) -> None:
    with pytest.raises(InvalidArgument) as info:
        start_server(tmp_path / "data", tls_cert=certificates["server_cert"])
    assert "STRATA_TLS_KEY" in str(info.value)


def test_client_certificates_without_a_server_certificate_are_refused(
    tmp_path: Path, certificates: dict[str, Path]
) -> None:
    """Asking for client certificates means mutual TLS: never a plaintext server instead."""
    with pytest.raises(InvalidArgument) as info:
        start_server(tmp_path / "data", tls_client_ca=certificates["client_cert"])
    assert info.value.field == "STRATA_TLS_CLIENT_CA" and "STRATA_TLS_CERT" in str(info.value)


def test_a_client_ca_that_holds_no_certificate_is_named(tmp_path: Path, certificates: dict[str, Path]) -> None:
    """A key given as the client CA is PEM, but no CA: every client would be refused, with
    nothing in the server's log to say why."""
    with pytest.raises(InvalidArgument) as info:
        start_server(
            tmp_path / "data",
            tls_cert=certificates["server_cert"],
            tls_key=certificates["server_key"],
            tls_client_ca=certificates["client_key"],
        )
    assert info.value.field == "STRATA_TLS_CLIENT_CA" and "is not a valid PEM certificate" in str(info.value)


@pytest.mark.parametrize("pair", [("server_cert", "client_key"), ("server_key", "server_cert")])
def test_a_key_that_is_not_the_certificates_is_named(
    tmp_path: Path, certificates: dict[str, Path], pair: tuple[str, str]
) -> None:
    """A mismatched or swapped certificate and key name the key, not the port."""
    cert, key = (certificates[name] for name in pair)
    with pytest.raises(InvalidArgument) as info:
        start_server(tmp_path / "data", tls_cert=cert, tls_key=key)
    assert info.value.field == "STRATA_TLS_KEY" and "is not the private key" in str(info.value)
