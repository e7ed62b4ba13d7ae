"""Verify, snapshot and restore over the wire and from the command line: a snapshot taken
while a writer ingests restores every acknowledged segment and answers searches alike."""

from __future__ import annotations

import errno
import json
import os
import signal
import subprocess
import sys
import threading
from pathlib import Path

import grpc
import numpy as np
import pytest
from typer.testing import CliRunner

from hierarchy import snapshot as snapshots
from hierarchy.db import Database
from hierarchy.errors import FailedPrecondition, InvalidArgument, Unavailable
from hierarchy.types import Level
from service.client import StrataClient, StrataRpcError
from service.gen.strata.v1 import admin_pb2, common_pb2
from service.server import StrataServer
from tests.service.conftest import DIM, rows, start_server, unit_vectors
from tools.cli import app

BATCH = 10
ROOT = Path(__file__).resolve().parents[2]
cli = CliRunner()


def segment_key(server: StrataServer, node_id: str) -> int:
    row = server.db.store.cursor().execute("SELECT key FROM nodes WHERE node_id = ?", [node_id]).fetchall()
    return int(row[0][0])


def drop_from_segment_index(server: StrataServer, collection: str, node_id: str) -> None:
    """Damage behind the store's back: the segment index forgets one vector."""
    cid = server.db.get_collection(collection).id
    server.db.indexes.find(cid, Level.SEGMENT).remove(np.array([segment_key(server, node_id)]))


# -- verify ---------------------------------------------------------------------------


def test_verify_is_clean_on_a_healthy_server(client: StrataClient, loaded: np.ndarray) -> None:
    client.seal_video("c", "v1")
    reply = client.verify()
    assert list(reply.problems) == []
    assert (reply.collections_checked, reply.levels_checked, reply.videos_checked) == (1, 5, 1)
    assert reply.nodes_checked >= len(loaded) and reply.vectors_compared == reply.nodes_checked


def test_verify_reports_a_key_missing_from_the_index(
    server: StrataServer, client: StrataClient, loaded: np.ndarray
) -> None:
    drop_from_segment_index(server, "c", "v1@4000")
    problems = client.verify("c").problems
    kinds = {(p.collection, p.level, p.kind) for p in problems}
    assert ("c", common_pb2.LEVEL_SEGMENT, admin_pb2.VERIFY_PROBLEM_KIND_MISSING_FROM_INDEX) in kinds
    assert ("c", common_pb2.LEVEL_SEGMENT, admin_pb2.VERIFY_PROBLEM_KIND_COUNT) in kinds
    assert any("v1@4000" in p.message for p in problems)


def test_verify_of_an_unknown_collection_is_not_found(client: StrataClient) -> None:
    with pytest.raises(StrataRpcError) as caught:
        client.verify("nope")
    assert caught.value.code is grpc.StatusCode.NOT_FOUND


def test_cli_verify_exits_1_with_a_table_of_problems(
    server: StrataServer, client: StrataClient, loaded: np.ndarray
) -> None:
    clean = cli.invoke(app, ["verify", "--target", server.address])
    assert clean.exit_code == 0, clean.output
    assert "no problems" in clean.output
    drop_from_segment_index(server, "c", "v1@0")
    damaged = cli.invoke(app, ["verify", "c", "--target", server.address])
    assert damaged.exit_code == 1
    assert "missing_from_index" in damaged.output and "2 problems" in damaged.output


# -- snapshot: the destination --------------------------------------------------------


@pytest.mark.parametrize(
    ("where", "code"),
    [
        ("empty", grpc.StatusCode.INVALID_ARGUMENT),
        ("relative", grpc.StatusCode.INVALID_ARGUMENT),
        ("home", grpc.StatusCode.INVALID_ARGUMENT),
        ("nul", grpc.StatusCode.INVALID_ARGUMENT),
        ("inside-data", grpc.StatusCode.INVALID_ARGUMENT),
        ("not-empty", grpc.StatusCode.FAILED_PRECONDITION),
        ("a-file", grpc.StatusCode.FAILED_PRECONDITION),
    ],
)
def test_a_bad_destination_is_refused_naming_the_field(
    server: StrataServer, client: StrataClient, tmp_path: Path, where: str, code: grpc.StatusCode
) -> None:
    (tmp_path / "full").mkdir()
    (tmp_path / "full" / "x").write_text("x")
    (tmp_path / "file").write_text("x")
    destination = {
        "empty": "",
        "relative": "snapshots/today",
        "home": "~/snapshots",  # the server expands nothing
        "nul": str(tmp_path / "a\x00b"),
        "inside-data": str(server.db.data_dir / "snap"),
        "not-empty": str(tmp_path / "full"),
        "a-file": str(tmp_path / "file"),
    }[where]
    with pytest.raises(StrataRpcError) as caught:
        client.create_snapshot(destination)
    assert caught.value.code is code
    assert "destination_dir" in caught.value.fields
    assert not (server.db.data_dir / "snap").exists()


def test_a_snapshot_lists_its_files_with_checksums(client: StrataClient, loaded: np.ndarray, tmp_path: Path) -> None:
    reply = client.create_snapshot(str(tmp_path / "snap"))
    names = {f.path for f in reply.files}
    assert "strata.duckdb" in names and "indexes/c1/segment.usearch" in names and "indexes/c1/segment.json" in names
    manifest = snapshots.read_manifest(tmp_path / "snap")
    assert manifest.commit_sequence == reply.commit_sequence
    assert {(f.path, f.size, f.sha256) for f in manifest.files} == {
        (f.path, f.size_bytes, f.sha256) for f in reply.files
    }


def test_cli_snapshot_prints_the_sequence_and_refuses_a_used_directory(
    server: StrataServer, loaded: np.ndarray, tmp_path: Path
) -> None:
    made = cli.invoke(app, ["snapshot", str(tmp_path / "snap"), "--target", server.address])
    assert made.exit_code == 0, made.output
    assert "commit sequence 1" in made.output and (tmp_path / "snap" / snapshots.MANIFEST).is_file()
    again = cli.invoke(app, ["snapshot", str(tmp_path / "snap"), "--target", server.address])
    assert again.exit_code == 1 and "FAILED_PRECONDITION" in again.output


def test_cli_snapshot_refuses_an_empty_path_rather_than_write_to_the_working_directory(
    server: StrataServer, loaded: np.ndarray, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # `strata snapshot "$BACKUP_DIR"` with the variable unset: the CLI sent its working
    # directory, and the snapshot was written there.
    here = tmp_path / "here"
    here.mkdir()
    monkeypatch.chdir(here)
    for given in ("", " "):
        refused = cli.invoke(app, ["snapshot", given, "--target", server.address])
        assert refused.exit_code == 2 and "Invalid value for 'PATH': is empty" in refused.output, refused.output
    assert list(here.iterdir()) == []


# -- snapshot while ingesting, restore, serve ----------------------------------------


class Writer(threading.Thread):
    """Appends batches of ``BATCH`` segments to live/feed until stopped; remembers the acknowledged."""

    def __init__(self, address: str) -> None:
        super().__init__(daemon=True)
        self.client = StrataClient(address, timeout=30)
        self.acked: list[list[str]] = []  # segment ids per acknowledged batch, in order
        self.progress = threading.Condition()
        self.halt = threading.Event()

    def run(self) -> None:
        batch = 0
        while not self.halt.is_set() and batch < 1000:
            segs = rows("feed", unit_vectors(BATCH, seed=1000 + batch), start_index=batch * BATCH)
            reply = self.client.append_segments("live", segs, request_id=f"feed-{batch}")
            with self.progress:
                self.acked.append(list(reply.segment_ids))
                self.progress.notify_all()
            batch += 1

    def wait_for(self, batches: int) -> int:
        """Block until ``batches`` batches are acknowledged; returns how many are."""
        with self.progress:
            assert self.progress.wait_for(lambda: len(self.acked) >= batches, timeout=30)
            return len(self.acked)

    def stop(self) -> None:
        self.halt.set()
        self.join(timeout=30)
        self.client.close()


def searches(client: StrataClient, vectors: np.ndarray) -> list[list[tuple[str, float]]]:
    """Top-5 answers of a few vector queries at two levels and AUTO."""
    out = []
    for vector in vectors[:5]:
        for level in ("segment", "scene", "auto"):
            reply = client.search("c", vector=vector, level=level, top_k=5)
            out.append([(h.node.id, round(h.score, 4)) for h in reply.hits])
    return out


def test_snapshot_while_ingesting_then_restore_and_serve(
    server: StrataServer, client: StrataClient, loaded: np.ndarray, tmp_path: Path
) -> None:
    client.seal_video("c", "v1")
    client.create_collection("live", dimension=DIM)
    client.create_video("live", "feed")
    writer = Writer(server.address)
    writer.start()
    try:
        acked_before = writer.wait_for(3)
        snap = client.create_snapshot(str(tmp_path / "snap"))
        writer.wait_for(acked_before + 2)  # the writer goes on after the pause
    finally:
        writer.stop()
    expected = searches(client, loaded)

    restored = cli.invoke(app, ["restore", str(tmp_path / "snap"), "--data-dir", str(tmp_path / "restored")])
    assert restored.exit_code == 0, restored.output
    copy = start_server(tmp_path / "restored")
    try:
        with StrataClient(copy.address, timeout=30) as other:
            segment_count = other.get_video("live", "feed").segment_count
            # Batches are atomic and the writer is sequential: the copy holds a prefix of them.
            assert segment_count % BATCH == 0
            assert acked_before * BATCH <= segment_count <= len(writer.acked) * BATCH
            for batch in writer.acked[:acked_before]:
                assert other.get_node("live", batch[0]).id == batch[0]
                assert other.get_node("live", batch[-1]).id == batch[-1]
            assert searches(other, loaded) == expected
            assert list(other.verify().problems) == []
            stats = other.stats()
            assert stats.commit_sequence == snap.commit_sequence
            assert all(lv.indexed_count == lv.node_count for c in stats.collections for lv in c.levels)
    finally:
        copy.stop(0)


def test_a_snapshot_on_a_full_data_disk_copies_the_log_and_the_server_goes_on_serving(
    server: StrataServer, client: StrataClient, loaded: np.ndarray, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Its checkpoint met the full disk: a fatal error to DuckDB, and every call, searches
    # too, answered UNAVAILABLE until a restart. Now no checkpoint is tried without room.
    from hierarchy import store as stores

    data_disk = Path(server.db.store.path).parent
    usage = stores.shutil.disk_usage
    monkeypatch.setattr(
        stores.shutil,
        "disk_usage",
        lambda path: usage(path)._replace(free=0) if Path(path) == data_disk else usage(path),
    )

    def no_room(*_: object, **__: object) -> None:
        raise AssertionError("a checkpoint was tried on a full disk")

    monkeypatch.setattr(server.db.store, "checkpoint", no_room)
    client.append_segments("c", rows("v1", unit_vectors(5, seed=3), start_index=50))  # in the log

    def full(path: object = None) -> None:  # an index save on the full disk (it refused the snapshot)
        raise OSError(errno.ENOSPC, "No space left on device", "segment.tmp")

    for index in server.db.indexes.of_collection(server.db.get_collection("c").id).values():
        monkeypatch.setattr(index, "save", full)
    snap = client.create_snapshot(str(tmp_path / "snap"))
    assert "strata.duckdb.wal" in {f.path for f in snap.files}
    assert client.health() == "SERVING" and client.search("c", vector=loaded[0], top_k=3).hits
    assert cli.invoke(app, ["restore", str(tmp_path / "snap"), "--data-dir", str(tmp_path / "copy")]).exit_code == 0
    copy = start_server(tmp_path / "copy")
    try:
        with StrataClient(copy.address, timeout=30) as other:
            assert other.get_video("c", "v1").segment_count == 55
            assert other.get_node("c", "v1@108000").id == "v1@108000"  # the last, from the log
            hits = other.search("c", vector=unit_vectors(5, seed=3)[4], level="segment", top_k=1).hits
            assert [h.node.id for h in hits] == ["v1@108000"]  # its index caught up from the store
    finally:
        copy.stop(0)


def test_two_snapshots_to_one_new_directory_one_is_refused(
    client: StrataClient, loaded: np.ndarray, tmp_path: Path, server: StrataServer
) -> None:
    # Both saw it empty and both answered OK, with different commit sequences: one caller
    # held a backup that was not there.
    target = tmp_path / "snap"
    first = snapshots.check_destination(str(target), server.db.data_dir)  # claimed, not yet written
    with pytest.raises(FailedPrecondition, match="is being written by another snapshot"):
        snapshots.check_destination(str(target), server.db.data_dir)
    snapshots.discard(first)
    results: list[object] = []
    barrier = threading.Barrier(2)

    def take() -> None:
        barrier.wait()
        try:
            results.append(client.create_snapshot(str(target / "both")))
        except StrataRpcError as exc:
            results.append(exc)

    threads = [threading.Thread(target=take) for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    made = [r for r in results if isinstance(r, admin_pb2.CreateSnapshotResponse)]
    [refused] = [r for r in results if isinstance(r, StrataRpcError)]
    assert len(made) == 1 and refused.code is grpc.StatusCode.FAILED_PRECONDITION
    assert snapshots.read_manifest(target / "both").commit_sequence == made[0].commit_sequence


# -- restore refusals -----------------------------------------------------------------


@pytest.fixture
def snap(client: StrataClient, loaded: np.ndarray, tmp_path: Path) -> Path:
    client.create_snapshot(str(tmp_path / "snap"))
    return tmp_path / "snap"


def test_restore_refuses_a_damaged_file(snap: Path, tmp_path: Path) -> None:
    with (snap / "indexes" / "c1" / "segment.usearch").open("r+b") as handle:
        handle.seek(100)
        handle.write(b"\xff\xff")
    with pytest.raises(FailedPrecondition, match="checksum"):
        snapshots.restore(snap, tmp_path / "restored")
    assert not (tmp_path / "restored" / "strata.duckdb").exists()


# A restore killed (SIGKILL) right after it copied its first file: the old data is gone
# and only part of the snapshot is there.
KILLED_RESTORE = """
import os, signal, sys
from pathlib import Path
from hierarchy import snapshot

copy = snapshot._copy

def copy_then_die(source, target):
    copy(source, target)
    os.kill(os.getpid(), signal.SIGKILL)

snapshot._copy = copy_then_die
snapshot.restore(Path(sys.argv[1]), Path(sys.argv[2]), force=True)
"""


def test_a_directory_a_restore_was_killed_in_is_refused_until_restored_again(snap: Path, tmp_path: Path) -> None:
    target = tmp_path / "restored"
    Database.open(target).close()  # the directory held a database before
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    killed = subprocess.run([sys.executable, "-c", KILLED_RESTORE, str(snap), str(target)], env=env, timeout=120)
    assert killed.returncode == -signal.SIGKILL
    with pytest.raises(FailedPrecondition) as info:
        Database.open(target)
    assert info.value.field == "data_dir" and "restore" in str(info.value)
    served = cli.invoke(app, ["serve", "--data-dir", str(target), "--port", "0"])
    assert served.exit_code != 0 and "did not finish" in served.output
    snapshots.restore(snap, target, force=True)
    db = Database.open(target)
    try:
        assert db.verify().ok and db.get_video("c", "v1").segment_count == 50
    finally:
        db.close()


def test_restore_flushes_every_directory_it_made_before_it_removes_its_marker(
    snap: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A power cut after a restore must not drop a directory entry it made (``indexes/c1``
    inside ``indexes``): each is flushed, deepest first, before the marker goes."""
    target = tmp_path / "restored"
    flushed: list[Path] = []
    real_fsync_dir = snapshots.fsync_dir

    def recording(path: Path) -> None:
        flushed.append(path)
        real_fsync_dir(path)

    monkeypatch.setattr(snapshots, "fsync_dir", recording)
    restored = snapshots.restore(snap, target)
    made = {target.resolve()} | {
        p.resolve() for e in restored.files for p in (target / e.path).parents if p.is_relative_to(target)
    }
    assert any(len(p.relative_to(target.resolve()).parts) == 2 for p in made)  # e.g. indexes/c1
    before_marker = flushed[1:-1]  # the first flush writes the marker's entry, the last its removal
    assert made <= {p.resolve() for p in before_marker}
    depths = [len(p.parts) for p in before_marker]
    assert depths == sorted(depths, reverse=True)


def test_restore_refuses_an_unfinished_snapshot(snap: Path, tmp_path: Path) -> None:
    (snap / snapshots.MANIFEST).unlink()
    with pytest.raises(FailedPrecondition, match="manifest"):
        snapshots.restore(snap, tmp_path / "restored")


def test_restore_needs_force_for_a_non_empty_directory(snap: Path, tmp_path: Path) -> None:
    target = tmp_path / "restored"
    Database.open(target).close()  # a data directory
    (target / "old.txt").write_text("old")
    refused = cli.invoke(app, ["restore", str(snap), "--data-dir", str(target)])
    assert refused.exit_code == 1 and "--force" in refused.output
    forced = cli.invoke(app, ["restore", str(snap), "--data-dir", str(target), "--force"])
    assert forced.exit_code == 0, forced.output
    assert not (target / "old.txt").exists() and (target / "strata.duckdb").is_file()


def test_restore_force_never_empties_a_folder_that_is_no_data_directory(snap: Path, tmp_path: Path) -> None:
    """An empty ``--data-dir`` (an unset shell variable) named the working directory, and
    ``--force`` emptied it: it is refused, and so is any folder holding no store."""
    folder = tmp_path / "documents"
    folder.mkdir()
    (folder / "precious.txt").write_text("keep me")
    refused = cli.invoke(app, ["restore", str(snap), "--data-dir", str(folder), "--force"])
    assert refused.exit_code == 1 and "no Strata store" in refused.output
    assert (folder / "precious.txt").read_text() == "keep me"
    empty = cli.invoke(app, ["restore", str(snap), "--data-dir", "", "--force"])
    assert empty.exit_code == 2 and "is empty" in empty.output


@pytest.mark.parametrize(
    ("holds", "force"), [("a-file", False), ("a-file", True), ("a-store", False)], ids=["plain", "force", "data-dir"]
)
def test_a_refused_restore_leaves_the_folder_as_it_was(snap: Path, tmp_path: Path, holds: str, force: bool) -> None:
    # A folder holding a file of the operator's held a LOCK beside it after the refusal.
    folder = tmp_path / "t4"
    if holds == "a-store":
        Database.open(folder).close()  # a data directory: its own LOCK stays
    folder.mkdir(exist_ok=True)
    (folder / "x").write_text("x")
    before = sorted(p.name for p in folder.iterdir())
    refused = cli.invoke(app, ["restore", str(snap), "--data-dir", str(folder), *(["--force"] if force else [])])
    assert refused.exit_code == 1 and ("--force" in refused.output or "no Strata store" in refused.output)
    assert sorted(p.name for p in folder.iterdir()) == before


def test_restore_into_a_file_says_so_in_one_line(snap: Path, tmp_path: Path) -> None:
    (tmp_path / "a-file").write_text("")
    refused = cli.invoke(app, ["restore", str(snap), "--data-dir", str(tmp_path / "a-file")])
    assert refused.exit_code == 1 and "cannot use" in refused.output and "choose another --data-dir" in refused.output


def test_a_data_directory_that_cannot_hold_its_lock_file_says_so_in_one_line(snap: Path, tmp_path: Path) -> None:
    # A read-only directory (or one whose LOCK cannot be a file) ended serve and restore
    # in a traceback from opening the lock file.
    target = tmp_path / "locked-out"
    (target / "LOCK").mkdir(parents=True)
    for args in (
        ["serve", "--data-dir", str(target), "--port", "0"],
        ["restore", str(snap), "--data-dir", str(target)],
    ):
        refused = cli.invoke(app, args)
        said = " ".join(refused.output.split())  # as one line, whatever the terminal's width
        assert refused.exit_code == 1 and f"cannot use {target} as a data directory" in said, said
        assert refused.exception is None or isinstance(refused.exception, SystemExit)


def test_a_restore_that_runs_out_of_room_says_what_to_do_in_one_line(
    snap: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    target = tmp_path / "restored"
    copied: list[Path] = []
    real_copy = snapshots._copy

    def fill_up(source: Path, destination: Path) -> None:  # the disk fills on the second file
        if copied:
            raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC), str(destination))
        copied.append(destination)
        real_copy(source, destination)

    monkeypatch.setattr(snapshots, "_copy", fill_up)
    refused = cli.invoke(app, ["restore", str(snap), "--data-dir", str(target)])
    said = " ".join(refused.output.split())
    assert refused.exit_code == 1 and "No space left on device; make room" in said, said
    assert "--force` again" in said and (target / snapshots.RESTORING).exists()


def test_restore_refuses_a_directory_a_server_is_running_on(server: StrataServer, snap: Path) -> None:
    with pytest.raises(Unavailable, match="running"):
        snapshots.restore(snap, server.db.data_dir, force=True)


def test_restore_refuses_to_overlap_the_snapshot(snap: Path) -> None:
    with pytest.raises(InvalidArgument, match="overlap"):
        snapshots.restore(snap, snap / "data", force=True)
    with pytest.raises(InvalidArgument, match="overlap"):
        snapshots.restore(snap, snap.parent, force=True)
    assert (snap / snapshots.MANIFEST).is_file()


OUTSIDE = json.dumps(
    {
        "format": 1,
        "commit_sequence": 1,
        "schema_version": 1,
        "created_ms": 0,
        "files": [{"path": "../x", "size": 1, "sha256": "0"}],
    }
)


@pytest.mark.parametrize("text", ["[]", "{", '{"format": 2}', '{"format": 1}', OUTSIDE])
def test_restore_refuses_a_damaged_manifest(snap: Path, tmp_path: Path, text: str) -> None:
    (snap / snapshots.MANIFEST).write_text(text)
    with pytest.raises(FailedPrecondition):
        snapshots.restore(snap, tmp_path / "restored")
