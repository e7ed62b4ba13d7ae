"""A recovery that fails on a known condition (a damaged store, a file the system refuses)
says so in one log line with what to do, and ``strata serve`` exits 1 with one line of its
own; only a failure nobody explained (a bug) is logged with its traceback."""

from __future__ import annotations

import logging
import shutil
import sys
from pathlib import Path

import pytest

from hierarchy.db import Database
from hierarchy.errors import Unavailable
from hierarchy.types import Level
from service.client import StrataClient
from service.server import create_server
from service.settings import Settings
from tests.hierarchy.helpers import unprivileged
from tests.service.conftest import DIM, rows, start_server, unit_vectors
from tools.crashtest import ServerProcess

# ``strata serve`` whose index directory (the first argument) turns read-only once the
# database is open: after the checks the open makes (hierarchy.indexdir), before recovery
# saves what it rebuilt, as when a file system is remounted read-only meanwhile.
READ_ONLY_AFTER_OPEN = """
import sys
from pathlib import Path

import service.server
from tools.cli import main

opened, read_only = service.server.create_server, Path(sys.argv[1])


def open_then_refuse_writes(*args, **kwargs):
    server = opened(*args, **kwargs)
    read_only.chmod(0o555)
    return server


service.server.create_server = open_then_refuse_writes
sys.argv = ["strata", *sys.argv[2:]]
main()
"""


@pytest.fixture
def data_dir(tmp_path: Path) -> Path:
    """Two collections of a sealed video each, their indexes saved, the server stopped."""
    server = start_server(tmp_path / "data")
    try:
        with StrataClient(server.address) as client:
            for name in ("games", "clips"):
                client.create_collection(name, dimension=DIM)
                client.create_video(name, "v1")
                client.append_segments(name, rows("v1", unit_vectors(400, seed=len(name))))
                client.seal_video(name, "v1")
    finally:
        server.stop(0)
    return tmp_path / "data"


def failed_serve(process: ServerProcess, log: Path) -> tuple[list[str], str]:
    """Run a ``strata serve`` whose recovery fails: (the log's ERROR lines, its stderr)."""
    with log.open("w") as out:
        process.log = out
        try:
            process.start()  # bound: recovery runs after this
            assert process.next_line() == "", "it printed more than 'listening on'"
            assert process.proc is not None and process.proc.wait(timeout=60) == 1
        finally:
            process.close()
    said = log.read_text()
    return [line for line in said.splitlines() if " ERROR " in line], said


def test_a_store_damaged_where_recovery_reads_is_one_line_saying_what_to_do(data_dir: Path, tmp_path: Path) -> None:
    # Before: "ERROR ... not serving: recovery failed (...)" and "ERROR ... recovery failed"
    # with two tracebacks (DuckDB's error, then Strata's), then the command's own line
    # wrapped over five, and a warning that the next start catches up.
    store = data_dir / "strata.duckdb"
    damaged = bytearray(store.read_bytes())
    for at in range(400_000, min(len(damaged), 600_000), 997):  # blocks read by recovery, not by the open
        damaged[at] ^= 0x5A
    store.write_bytes(bytes(damaged))
    errors, said = failed_serve(ServerProcess(data_dir), tmp_path / "server.log")
    assert "Traceback" not in said, said
    [error] = errors
    assert "recovery failed: cannot read the store" in error and "restore a snapshot (strata restore)" in error
    [line] = [line for line in said.splitlines() if line.startswith("error ")]  # the command's, whole
    assert line.startswith("error recovery failed: cannot read the store") and line.endswith("data directory aside")
    assert "catches up" not in said


@pytest.mark.parametrize("refusing", ["indexes", "indexes/c1"])
def test_a_rebuilt_index_the_system_refuses_to_save_is_one_line_naming_the_file(
    data_dir: Path, tmp_path: Path, refusing: str
) -> None:
    # Before: "ERROR ... recovery failed" and a traceback, of a PermissionError (the index
    # directory: its collection directory cannot be made) or of USearch's RuntimeError
    # "Permission denied" (a collection's directory: its graph cannot be written), which
    # named no file.
    as_user = unprivileged()
    indexes = data_dir / "indexes"
    # Clips (c2) is rebuilt into a new indexes/c2, games (c1) its segments' graph into
    # indexes/c1: the save into the read-only directory fails.
    shutil.rmtree(indexes / "c2")
    for file in (indexes / "c1").glob("segment.*"):
        file.unlink()
    refused = data_dir / refusing
    command = [*as_user, sys.executable, "-c", READ_ONLY_AFTER_OPEN, str(refused), "serve", "--data-dir"]
    try:
        errors, said = failed_serve(ServerProcess(data_dir, command=[*command, str(data_dir)]), tmp_path / "server.log")
    finally:
        refused.chmod(0o755)
    assert "Traceback" not in said, said
    [error] = errors
    assert f"recovery failed: Permission denied: {refused}/" in error, error
    assert error.endswith("give the server's user access to it, then start the server again")
    [line] = [line for line in said.splitlines() if line.startswith("error ")]
    assert line == f"error {error.split(' service.server ')[1]}"


def test_a_rebuilt_index_that_finds_no_room_to_be_saved_is_served_from_memory(
    data_dir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # The start failed, and nothing was served, reads included (a saved index is a cache).
    import errno

    from hierarchy.index import LevelIndex

    shutil.rmtree(data_dir / "indexes" / "c2")  # clips: rebuilt, then saved

    def full(index: LevelIndex) -> None:
        raise OSError(errno.ENOSPC, "No space left on device", str(index.path))

    monkeypatch.setattr(LevelIndex, "save", full)
    server = start_server(data_dir)
    try:
        with StrataClient(server.address) as client:
            hits = client.search("clips", vector=unit_vectors(400, seed=len("clips"))[7], level="segment", top_k=1).hits
            assert [h.node.id for h in hits] == ["v1@14000"]
        assert server.db.indexes.find(server.db.get_collection("clips").id, Level.SEGMENT).dirty  # saved later
    finally:
        monkeypatch.undo()
        server.stop(0)


def test_a_bug_in_recovery_keeps_its_traceback(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    def broken(db: Database) -> None:
        raise ZeroDivisionError("division by zero")

    monkeypatch.setattr(Database, "recover", broken)
    server = create_server(Settings.load(env={}, data_dir=tmp_path / "data", port=0))
    with caplog.at_level(logging.INFO, logger="service"), pytest.raises(ZeroDivisionError):
        server.start()
    [error] = [record for record in caplog.records if record.levelno >= logging.ERROR]
    assert error.getMessage() == "recovery failed" and error.exc_info is not None


def test_a_known_failure_in_process_is_one_record_without_a_traceback(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    said = "cannot read the store X: damaged; restore a snapshot (strata restore)"

    def unreadable(db: Database) -> None:
        raise Unavailable(said)

    monkeypatch.setattr(Database, "recover", unreadable)
    server = create_server(Settings.load(env={}, data_dir=tmp_path / "data", port=0))
    with caplog.at_level(logging.INFO, logger="service"), pytest.raises(Unavailable):
        server.start()
    [error] = [record for record in caplog.records if record.levelno >= logging.ERROR]
    assert error.getMessage() == f"recovery failed: {said}"
    assert error.exc_info is None
    assert "stopped after the failed recovery; nothing was saved" in caplog.text
