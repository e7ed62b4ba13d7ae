"""Settings: code defaults, then STRATA_ variables, then explicit values."""

from __future__ import annotations

import os
import socket
import urllib.request
from pathlib import Path

import pytest
from threadpoolctl import threadpool_info, threadpool_limits

from hierarchy.db import Database
from hierarchy.errors import InvalidArgument, Unavailable
from hierarchy.options import DatabaseOptions
from service.client import StrataClient
from service.server import create_server
from service.settings import Settings


def test_environment_overrides_defaults_and_flags_override_environment() -> None:
    env = {"STRATA_PORT": "6000", "STRATA_DATA_DIR": "/tmp/x", "STRATA_MAX_TOP_K": "50"}
    assert Settings.load(env=env).port == 6000
    assert Settings.load(env=env).data_dir == Path("/tmp/x")
    assert Settings.load(env=env, port=7000).port == 7000
    assert Settings.load(env=env).database_options().max_top_k == 50


def test_bad_environment_value_names_the_variable() -> None:
    with pytest.raises(InvalidArgument) as info:
        Settings.load(env={"STRATA_PORT": "abc"})
    assert info.value.field == "STRATA_PORT"


@pytest.mark.parametrize(
    ("variable", "raw"),
    [
        ("STRATA_NARROWED_EXPANSION_ADD", "-3"),  # every write failed, in USearch, with INTERNAL
        ("STRATA_NARROWED_EXPANSION_SEARCH", "-1"),
        ("STRATA_MAX_UNLINKED", "-5"),
        ("STRATA_NARROW_PARENTS", "-1"),  # turned narrowing off, and rebuilt the segment index
        ("STRATA_INDEX_SAVE_SECONDS", "inf"),  # the saver thread died at start
        ("STRATA_GRACE_SECONDS", "1e308"),
        ("STRATA_MEMORY_LIMIT", "banana"),  # named the core's field, after making the directory
        ("STRATA_CHECKPOINT_THRESHOLD", "lots"),
    ],
)
def test_a_setting_out_of_its_range_is_refused_at_start_by_name(variable: str, raw: str) -> None:
    with pytest.raises(InvalidArgument) as info:
        Settings.load(env={variable: raw})
    assert info.value.field == variable


def test_an_empty_data_directory_variable_is_the_default_not_the_working_directory() -> None:
    assert Settings.load(env={"STRATA_DATA_DIR": ""}).data_dir == Settings().data_dir != Path(".")


def test_a_variable_the_command_line_overrides_is_not_read() -> None:
    # STRATA_PORT=abc with --port 0 refused the start, naming --port: "'abc' is not a valid int".
    assert (
        Settings.load(env={"STRATA_PORT": "abc", "STRATA_GRACE_SECONDS": "soon"}, port=0, grace_seconds=1.0).port == 0
    )


@pytest.mark.parametrize(
    "variable", ["STRATA_PORT", "STRATA_GRACE_SECONDS", "STRATA_BLAS_THREADS", "STRATA_METRICS_PORT"]
)
def test_an_empty_number_variable_is_its_default(variable: str) -> None:
    # It was refused: "'' is not a valid int", named as the command line's option.
    assert Settings.load(env={variable: " "}) == Settings.load(env={})


def _narrowing(options: DatabaseOptions) -> tuple[int, int, int, str]:
    return (
        options.narrow_parents,
        options.narrowed_expansion_search,
        options.narrowed_expansion_add,
        options.narrowed_dtype,
    )


def test_narrowing_settings_reach_the_database() -> None:
    env = {
        "STRATA_NARROW_PARENTS": "0",
        "STRATA_NARROWED_EXPANSION_SEARCH": "256",
        "STRATA_NARROWED_EXPANSION_ADD": "96",
        "STRATA_NARROWED_DTYPE": "",
    }
    assert _narrowing(Settings.load(env=env).database_options()) == (0, 256, 96, "")


@pytest.mark.parametrize(
    ("raw", "expected"), [("0", False), ("off", False), ("False", False), ("yes", True), ("1", True)]
)
def test_a_flag_reads_the_usual_spellings(raw: str, expected: bool) -> None:
    assert Settings.load(env={"STRATA_RESIDENT_NODES": raw}).database_options().resident_nodes is expected


def test_a_flag_that_is_neither_on_nor_off_is_refused_by_name() -> None:
    with pytest.raises(InvalidArgument) as info:
        Settings.load(env={"STRATA_RESIDENT_NODES": "sometimes"})
    assert info.value.field == "STRATA_RESIDENT_NODES" and "true/false" in str(info.value)


def test_a_server_without_settings_runs_the_databases_defaults() -> None:
    # One source of defaults: a server and an embedded database (the benchmark reopens the
    # server's directory in-process) build and search their indexes alike, and a default
    # changed in the core reaches the server.
    assert Settings.load(env={}).database_options() == DatabaseOptions()


def test_an_unknown_graph_precision_is_refused_by_name() -> None:
    with pytest.raises(InvalidArgument) as info:
        Settings.load(env={"STRATA_NARROWED_DTYPE": "int4"})
    assert info.value.field == "STRATA_NARROWED_DTYPE" and "i8" in str(info.value)
    with pytest.raises(InvalidArgument) as info:
        DatabaseOptions(narrowed_dtype="f8")
    assert info.value.field == "narrowed_dtype"


def _blas_threads() -> set[int]:
    return {pool["num_threads"] for pool in threadpool_info() if pool["user_api"] == "blas"}


@pytest.mark.parametrize(("setting", "expected"), [("1", 1), ("0", 2)])
def test_the_server_caps_the_blas_pool(tmp_path: Path, setting: str, expected: int) -> None:
    """Requests run side by side: the server keeps numpy's BLAS to one thread unless told."""
    with threadpool_limits(2, user_api="blas"):  # as numpy starts on this two-core machine
        server = create_server(Settings.load(env={"STRATA_BLAS_THREADS": setting}, data_dir=tmp_path, port=0))
        try:
            assert _blas_threads() == {expected}
        finally:
            server.stop(0)


def test_an_embedded_database_caps_the_blas_pool(tmp_path: Path) -> None:
    with threadpool_limits(2, user_api="blas"):
        Database.open(tmp_path, DatabaseOptions(memory_limit="256MB")).close()
        assert _blas_threads() == {1}


def test_the_checkpoint_threshold_reaches_the_store(tmp_path: Path) -> None:
    options = Settings.load(env={"STRATA_CHECKPOINT_THRESHOLD": "64MB"}).database_options()
    db = Database.open(tmp_path, options)
    try:
        setting = db.store.cursor().execute("SELECT current_setting('checkpoint_threshold')").fetchone()
        assert setting is not None and setting[0] == "61.0 MiB"  # 64 MB in DuckDB's binary units
    finally:
        db.close()
    with pytest.raises(InvalidArgument) as info:
        Database.open(tmp_path / "other", DatabaseOptions(checkpoint_threshold="lots"))
    assert info.value.field == "checkpoint_threshold"
    Database.open(tmp_path / "other", DatabaseOptions()).close()  # the refused open left no lock behind


def test_search_pool_defaults_to_one_thread_per_core_and_refuses_negative_sizes() -> None:
    assert Settings.load(env={}).search_threads() == (os.cpu_count() or 1)
    assert Settings.load(env={"STRATA_SEARCH_WORKERS": "3"}).search_threads() == 3
    for name, value in (("STRATA_SEARCH_WORKERS", "-1"), ("STRATA_WORKERS", "0")):
        with pytest.raises(InvalidArgument) as info:
            Settings.load(env={name: value})
        assert info.value.field == name


@pytest.mark.parametrize(
    ("variable", "value"),
    [
        ("STRATA_PORT", "99999"), ("STRATA_PORT", "-5"), ("STRATA_METRICS_PORT", "-2"),
        ("STRATA_GRACE_SECONDS", "-3"), ("STRATA_INDEX_SAVE_SECONDS", "-1"), ("STRATA_DUCKDB_THREADS", "0"),
        ("STRATA_MEMORY_LIMIT", "-1GB"), ("STRATA_CHECKPOINT_THRESHOLD", "-1"), ("STRATA_LOG_LEVEL", "LOUD"),
        ("STRATA_MAX_MESSAGE_MB", "2048"),  # gRPC's limit is a signed 32-bit count of bytes
        ("STRATA_SCAN_MEMORY_MB", "-1"),
    ],
)  # fmt: skip
def test_a_setting_out_of_range_is_refused_by_name(variable: str, value: str) -> None:
    """Not wrapped (a port modulo 65,536) nor read by DuckDB as none at all (a negative size)."""
    with pytest.raises(InvalidArgument) as info:
        Settings.load(env={variable: value})
    assert info.value.field == variable


@pytest.mark.parametrize(
    ("option", "value", "named"),
    [("port", 70000, "--port"), ("metrics_port", -2, "--metrics-port"), ("log_level", "LOUD", "--log-level")],
)
def test_a_refused_option_is_named_as_the_option_not_its_variable(option: str, value: object, named: str) -> None:
    # 'strata serve --port 70000' said 'STRATA_PORT: is 70000', a variable nobody set.
    with pytest.raises(InvalidArgument) as info:
        Settings.load(env={}, **{option: value})
    assert info.value.field == named
    with pytest.raises(InvalidArgument) as info:  # the same value from the variable names it
        Settings.load(env={"STRATA_" + option.upper(): str(value)})
    assert info.value.field == "STRATA_" + option.upper()


def test_a_second_server_on_a_busy_port_is_refused(tmp_path: Path) -> None:
    """gRPC would share the port (SO_REUSEPORT), each server answering half the calls."""
    first = create_server(Settings(data_dir=tmp_path / "a", port=0))
    try:
        with pytest.raises(Unavailable) as info:
            create_server(Settings(data_dir=tmp_path / "b", port=first.port))
        assert f":{first.port}" in info.value.message and "--port" in info.value.message
    finally:
        first.stop(0)


def test_a_host_name_held_on_one_of_its_addresses_is_refused_and_a_free_one_listens_on_each(tmp_path: Path) -> None:
    """gRPC binds localhost on 127.0.0.1 and ::1 and fails only when neither binds: a
    second server took ::1 alone, beside a first one on 127.0.0.1, and clients dialling
    localhost reached the one or the other."""
    first = create_server(Settings(data_dir=tmp_path / "a", port=0))  # 127.0.0.1
    try:
        with pytest.raises(Unavailable) as info:
            create_server(Settings(data_dir=tmp_path / "b", host="localhost", port=first.port))
        assert f"cannot listen on 127.0.0.1:{first.port}" in info.value.message
    finally:
        first.stop(0)
    both = create_server(Settings(data_dir=tmp_path / "c", host="localhost", port=0)).start()
    try:
        loopbacks = ["127.0.0.1"] + (["[::1]"] if socket.has_ipv6 and _binds("::1") else [])
        for host in loopbacks:  # one port on every address of the name
            with StrataClient(f"{host}:{both.port}") as client:
                assert list(client.list_collections()) == []
    finally:
        both.stop(0)


def _binds(address: str) -> bool:
    with socket.socket(socket.AF_INET6, socket.SOCK_STREAM) as probe:
        try:
            probe.bind((address, 0))
        except OSError:
            return False
    return True


def test_a_tls_file_that_is_not_pem_is_refused_by_name(tmp_path: Path) -> None:
    (tmp_path / "cert.pem").write_text("not a certificate")
    (tmp_path / "key.pem").write_text("-----BEGIN PRIVATE KEY-----\n")
    with pytest.raises(InvalidArgument) as info:
        create_server(
            Settings(data_dir=tmp_path / "d", port=0, tls_cert=tmp_path / "cert.pem", tls_key=tmp_path / "key.pem")
        )
    assert info.value.field == "STRATA_TLS_CERT"


def _has_ipv6_loopback() -> bool:
    try:
        with socket.socket(socket.AF_INET6) as probe:
            probe.bind(("::1", 0))
        return True
    except OSError:
        return False


@pytest.mark.skipif(not _has_ipv6_loopback(), reason="this machine has no IPv6 loopback")
@pytest.mark.parametrize("host", ["::1", "[::1]"])
def test_an_ipv6_host_serves_grpc_and_metrics_with_or_without_brackets(tmp_path: Path, host: str) -> None:
    server = create_server(Settings(data_dir=tmp_path / "data", host=host, port=0, metrics_port=0)).start()
    try:
        assert server.address == f"[::1]:{server.port}"
        with StrataClient(server.address, timeout=10) as client:
            assert client.health() == "SERVING"
        with urllib.request.urlopen(f"http://[::1]:{server.metrics_port}/metrics", timeout=10) as page:
            assert page.status == 200
    finally:
        server.stop(0)


@pytest.mark.skipif(not _has_ipv6_loopback(), reason="this machine has no IPv6 loopback")
def test_metrics_on_localhost_listen_on_each_of_its_addresses_as_grpc_does(tmp_path: Path) -> None:
    # /metrics held 127.0.0.1 alone: an IPv6-first scraper failed, and [::1]:PORT was free
    # for another process to take.
    server = create_server(Settings(data_dir=tmp_path / "data", host="localhost", port=0, metrics_port=0)).start()
    try:
        for host in ("127.0.0.1", "[::1]"):
            with urllib.request.urlopen(f"http://{host}:{server.metrics_port}/metrics", timeout=10) as page:
                assert page.status == 200 and b"strata_requests" in page.read()
    finally:
        server.stop(0)
    with socket.socket(socket.AF_INET6, socket.SOCK_STREAM) as held:  # ::1 taken: no metrics, no start
        held.bind(("::1", 0))
        held.listen()
        port = held.getsockname()[1]
        with pytest.raises(Unavailable, match=f"cannot serve metrics on localhost:{port}"):
            create_server(Settings(data_dir=tmp_path / "data", host="localhost", port=0, metrics_port=port)).start()


@pytest.mark.parametrize(
    ("host", "reached", "bound"),
    [
        ("0.0.0.0", "localhost:7000", "bound to every IPv4 interface (0.0.0.0)"),
        ("::", "localhost:7000", "bound to every interface (::)"),
        ("[::]", "localhost:7000", "bound to every interface ([::])"),
        ("127.0.0.1", "127.0.0.1:7000", None),
        ("::1", "[::1]:7000", None),
        ("db.example.org", "db.example.org:7000", None),
    ],
)
def test_a_wildcard_host_is_reached_at_localhost_and_said_to_be_every_interface(
    host: str, reached: str, bound: str | None
) -> None:
    # 0.0.0.0 and :: name no machine: they were printed as the address to dial.
    settings = Settings(host=host)
    assert settings.reachable(7000) == reached
    note = settings.interfaces_note()
    if bound is None:
        assert note is None
    else:  # ... while it says it listens on all of them, and what another machine dials
        assert note is not None and note.startswith(bound) and socket.gethostname() in note, note
