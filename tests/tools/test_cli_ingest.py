"""``strata ingest`` on re-runs and on lines that are not segments: every segment stored
or a failure, and a bad line named by file and line before its batch is sent."""

from __future__ import annotations

import itertools
import json
import os
import re
import signal
import subprocess
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import duckdb
import numpy as np
import pytest

from service.client import StrataClient
from tests.service.conftest import start_server
from tests.tools.conftest import STRATA, run_strata


def _run(target: str, *args: str) -> subprocess.CompletedProcess[str]:
    return run_strata(target, *args, COLUMNS="200")


def _segment(video_id: str, i: int, /, **extra: Any) -> dict[str, Any]:
    return {"video_id": video_id, "start_ms": i * 1000, "end_ms": i * 1000 + 1000, "vector": [1, 0, 0, i], **extra}


def _write(path: Path, rows: list[dict[str, Any]]) -> Path:
    path.write_text("".join(json.dumps(r) + "\n" for r in rows))
    return path


def _piped(target: str, text: str, *args: str) -> subprocess.CompletedProcess[str]:
    """``strata ARGS`` with ``text`` on its standard input, a pipe."""
    env = {**os.environ, "STRATA_TARGET": target}
    return subprocess.run([STRATA, *args], input=text, capture_output=True, text=True, env=env, timeout=300)


@pytest.mark.parametrize("given", ["-", "/dev/stdin", "fifo"])
def test_a_file_that_can_be_read_once_is_stored_whole(address: str, tmp_path: Path, given: str) -> None:
    """Standard input, a pipe or a FIFO (``<(zcat f.gz)``): counting its lines for the
    progress bar read it all, and the run then stored nothing and said it succeeded."""
    text = "".join(json.dumps(_segment("p", i)) + "\n" for i in range(7))
    collection = f"once-{given.strip('/-').replace('/', '-') or 'dash'}"
    with StrataClient(address) as client:
        client.create_collection(collection, dimension=4)
        if given == "fifo":
            os.mkfifo(fifo := tmp_path / "segments.jsonl")
            writer = threading.Thread(target=fifo.write_text, args=(text,))
            writer.start()
            out = _run(address, "ingest", collection, str(fifo), "--batch-size", "3")
            if writer.is_alive():  # the run never opened it: a reader lets the writer end
                reader = os.open(fifo, os.O_RDONLY | os.O_NONBLOCK)
                writer.join()
                os.close(reader)
            writer.join()
        else:
            out = _piped(address, text, "ingest", collection, given, "--batch-size", "3")
        assert out.returncode == 0 and "ingested 7 new segments in 3 batches" in out.stdout, out.stdout + out.stderr
        assert client.get_video(collection, "p").segment_count == 7


def test_a_bad_line_of_standard_input_is_named_by_its_line(address: str) -> None:
    text = json.dumps(_segment("q", 0)) + "\n" + json.dumps({"video_id": "q", "end_ms": 5}) + "\n"
    with StrataClient(address) as client:
        client.create_collection("stdin-bad", dimension=4)
        out = _piped(address, text, "ingest", "stdin-bad", "-")
        assert out.returncode == 1 and "<stdin>:2: start_ms: is missing" in out.stderr, out.stderr
        assert list(client.list_videos("stdin-bad")) == []


def test_a_rerun_with_another_batch_size_stores_every_segment_or_fails(address: str, tmp_path: Path) -> None:
    rows = [_segment("a", i) for i in range(40)]
    data = _write(tmp_path / "rows.jsonl", rows)
    with StrataClient(address) as client:
        client.create_collection("rerun", dimension=4)
        client.create_video("rerun", "a")
        client.append_segments("rerun", [rows[20]])  # the second batch of 15 is refused for it
        first = _run(address, "ingest", "rerun", str(data), "--batch-size", "15")
        clash = "segments[5].start_ms: video 'a' holds a segment starting at 20000 ms already"
        assert first.returncode == 1 and clash in first.stderr, first.stderr
        assert client.get_video("rerun", "a").segment_count == 16  # the first batch and the one above
        again = _run(address, "ingest", "rerun", str(data), "--batch-size", "40")
        stored = client.get_video("rerun", "a").segment_count
    assert again.returncode != 0 or stored == 40, (again.stdout, stored)
    assert again.returncode == 0 or "give that run's --batch-size" in again.stderr, again.stderr
    assert "Traceback" not in again.stderr


def test_the_same_batches_replay_and_new_ones_are_written(address: str, tmp_path: Path) -> None:
    rows = [_segment("b", i) for i in range(30)]
    _write(tmp_path / "rows.jsonl", rows[:20])
    with StrataClient(address) as client:
        client.create_collection("replay", dimension=4)
        assert _run(address, "ingest", "replay", str(tmp_path / "rows.jsonl"), "--batch-size", "10").returncode == 0
        _write(tmp_path / "rows.jsonl", rows)  # the file grew by a batch
        out = _run(address, "ingest", "replay", str(tmp_path / "rows.jsonl"), "--batch-size", "10")
        assert out.returncode == 0 and "ingested 10 new segments in 3 batches (20 already present)" in out.stdout
        assert client.get_video("replay", "b").segment_count == 30


def test_a_bad_line_after_stored_batches_says_they_are_stored(address: str, tmp_path: Path) -> None:
    rows = [_segment("s", i) for i in range(5)] + [{**_segment("s", 5), "start_ms": "x"}]
    data = _write(tmp_path / "rows.jsonl", rows)
    with StrataClient(address) as client:
        client.create_collection("partly", dimension=4)
        out = _run(address, "ingest", "partly", str(data), "--batch-size", "2")
        assert out.returncode == 1 and "rows.jsonl:6: start_ms" in out.stderr
        assert "the 4 segments before its batch are stored" in out.stderr, out.stderr
        assert client.get_video("partly", "s").segment_count == 4


def test_a_field_no_segment_has_is_refused_by_name(address: str, tmp_path: Path) -> None:
    """ "label" for "labels" was dropped without a word, and the segment stored unlabelled."""
    data = _write(tmp_path / "rows.jsonl", [_segment("t", 0, label=["goal"])])
    with StrataClient(address) as client:
        client.create_collection("typo", dimension=4)
        out = _run(address, "ingest", "typo", str(data))
        assert out.returncode == 1 and "rows.jsonl:1: label: is not a segment field" in out.stderr, out.stderr
        assert "labels" in out.stderr


def test_null_fields_are_left_out(address: str, tmp_path: Path) -> None:
    # The line's check passes null; the client then refused it, and the command died.
    nulls = {"id": None, "text": None, "labels": None, "shot_cut": None, "attributes": None}
    data = _write(tmp_path / "rows.jsonl", [_segment("n", i, **nulls) for i in range(3)])
    with StrataClient(address) as client:
        client.create_collection("nulls", dimension=4)
        out = _run(address, "ingest", "nulls", str(data))
        assert out.returncode == 0, out.stderr
        assert client.get_video("nulls", "n").segment_count == 3


def test_a_rerun_after_the_video_was_deleted_stores_it_again(address: str, tmp_path: Path) -> None:
    data = _write(tmp_path / "rows.jsonl", [_segment("c", i) for i in range(5)])
    with StrataClient(address) as client:
        client.create_collection("again", dimension=4)
        assert _run(address, "ingest", "again", str(data)).returncode == 0
        client.delete_video("again", "c")
        out = _run(address, "ingest", "again", str(data))
        assert out.returncode == 0 and "(0 already present), 1 new video" in out.stdout, out.stdout + out.stderr
        assert client.get_video("again", "c").segment_count == 5


def test_a_rerun_after_deleting_a_video_that_shared_a_batch_says_to_ingest_its_lines_alone(
    address: str, tmp_path: Path
) -> None:
    """A batch's id holds when its videos were made: one holding the tail of a video
    still stored and the head of one deleted and made again is new, and refused for the
    stored tail. The hint says so, not "give that run's --batch-size" alone."""
    rows = [_segment("a", i) for i in range(5)] + [_segment("b", i) for i in range(5)]
    data = _write(tmp_path / "rows.jsonl", rows)
    with StrataClient(address) as client:
        client.create_collection("shared", dimension=4)
        assert _run(address, "ingest", "shared", str(data), "--batch-size", "4").returncode == 0
        client.delete_video("shared", "b")
        out = _run(address, "ingest", "shared", str(data), "--batch-size", "4")
        assert out.returncode == 1 and "ALREADY_EXISTS" in out.stderr, out.stderr
        assert "ingest the deleted video's lines in a file of their own" in " ".join(out.stderr.split())
        only_b = _write(tmp_path / "b.jsonl", rows[5:])
        assert _run(address, "ingest", "shared", str(only_b), "--batch-size", "4").returncode == 0
        assert [client.get_video("shared", v).segment_count for v in "ab"] == [5, 5]


def test_a_batch_past_its_timeout_is_dropped_and_a_longer_timeout_stores_it(
    address: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A batch the server is slow over (texts to embed, a busy server) past --timeout:
    the run says to give a longer one; the server dropped the batch, so the re-run stores
    it (and replays the batch stored before)."""
    from hierarchy import ingest

    checked, calls = ingest.checked, itertools.count()

    def slow_second_batch(*args: Any, **kwargs: Any) -> Any:
        if next(calls) == 1:
            time.sleep(1.5)
        return checked(*args, **kwargs)

    monkeypatch.setattr(ingest, "checked", slow_second_batch)
    data = _write(tmp_path / "rows.jsonl", [_segment("t", i) for i in range(6)])
    with StrataClient(address) as client:
        client.create_collection("slow", dimension=4)
        out = _run(address, "ingest", "slow", str(data), "--batch-size", "3", "--timeout", "1")
        said = " ".join(out.stderr.split())
        assert out.returncode == 1 and "DEADLINE_EXCEEDED" in said and "a longer --timeout" in said, said
        assert "the 3 segments before its batch are stored" in said
        time.sleep(0.6)  # the dropped batch's call ends on the server
        assert client.get_video("slow", "t").segment_count == 3
        again = _run(address, "ingest", "slow", str(data), "--batch-size", "3")
        assert again.returncode == 0 and "(3 already present)" in again.stdout, again.stdout + again.stderr
        assert client.get_video("slow", "t").segment_count == 6


def _before_second_batch(monkeypatch: pytest.MonkeyPatch, collection: str, act: Callable[[Any], None]) -> None:
    """Run ``act`` on the server's database as ``collection``'s second batch arrives,
    before that batch is appended (it may raise: the batch's refusal)."""
    from hierarchy.db import Database

    append, calls = Database.append_segments, itertools.count()

    def acting_at_the_second_batch(db: Database, name: str, *args: Any, **kwargs: Any) -> Any:
        if name == collection and next(calls) == 1:
            act(db)
        return append(db, name, *args, **kwargs)

    monkeypatch.setattr(Database, "append_segments", acting_at_the_second_batch)


def test_a_collection_deleted_during_an_ingest_is_not_said_to_keep_what_it_stored(
    address: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    _before_second_batch(monkeypatch, "gone", lambda db: db.delete_collection("gone"))
    data = _write(tmp_path / "rows.jsonl", [_segment("g", i) for i in range(6)])
    with StrataClient(address) as client:
        client.create_collection("gone", dimension=4)
        out = _run(address, "ingest", "gone", str(data), "--batch-size", "3")
        said = " ".join(out.stderr.split())
        assert out.returncode == 1 and "NOT_FOUND" in said and "the collection is gone" in said, said
        assert "replays them" not in said and "are stored" not in said
        typo = _run(address, "ingest", "gnoe", str(data))  # never made: the server's word alone
        said = " ".join(typo.stderr.split())
        assert typo.returncode == 1 and "does not exist" in said and "is gone" not in said, said


def test_a_server_that_stops_serving_mid_ingest_is_told_to_rerun_the_same_command(
    address: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from hierarchy.errors import Unavailable

    def recovering(db: Any) -> None:
        raise Unavailable("the server is recovering its indexes; try again shortly")

    _before_second_batch(monkeypatch, "halted", recovering)
    data = _write(tmp_path / "rows.jsonl", [_segment("h", i) for i in range(6)])
    with StrataClient(address) as client:
        client.create_collection("halted", dimension=4)
        out = _run(address, "ingest", "halted", str(data), "--batch-size", "3")
        said = " ".join(out.stderr.split())
        assert out.returncode == 1 and "UNAVAILABLE" in said, said
        assert "run the same command once it serves again" in said and "the 3 segments before its batch" in said
        again = _run(address, "ingest", "halted", str(data), "--batch-size", "3")
        assert again.returncode == 0 and "(3 already present)" in again.stdout, again.stdout + again.stderr


def _another_client_writes_after_create(monkeypatch: pytest.MonkeyPatch, address: str, collection: str) -> None:
    """Once video r of ``collection`` is created, another client stores its segment 4."""
    from hierarchy.db import Database

    create = Database.create_video

    def create_then_another_client_writes(db: Database, name: str, video_id: str, *args: Any) -> Any:
        created = create(db, name, video_id, *args)
        if name == collection:
            with StrataClient(address) as other:
                other.append_segments(collection, [_segment("r", 4)])
        return created

    monkeypatch.setattr(Database, "create_video", create_then_another_client_writes)


def test_a_refused_batch_keeps_a_video_it_created_that_another_client_wrote_to(
    address: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The run creates video r; before its batch arrives, another client stores a segment
    in r (acknowledged), which makes the server refuse the batch. Undoing its create, the
    run deleted r, and the other client's segment with it."""
    _another_client_writes_after_create(monkeypatch, address, "race")
    data = _write(tmp_path / "rows.jsonl", [_segment("r", i) for i in range(6)])
    with StrataClient(address) as client:
        client.create_collection("race", dimension=4)
        out = _run(address, "ingest", "race", str(data))
        assert out.returncode == 1 and "ALREADY_EXISTS" in out.stderr and "rows.jsonl:5" in out.stderr, out.stderr
        # And it says so: the video left behind is not this run's to clean up.
        assert "kept 'r', made for this batch: another client has stored segments in it since" in out.stderr
        kept = client.get_video("race", "r")
        assert kept.segment_count == 1  # the other client's, acknowledged to it
        assert [n.node.start_ms for n in client.search("race", vector=np.array([1, 0, 0, 4])).hits] == [4000]


def test_a_line_refused_for_its_duration_names_the_video_its_undo_kept(
    address: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Refused before its batch was sent, for a later line's other video_duration_ms, the
    run kept video r (another client has stored a segment in it) and did not say so."""
    _another_client_writes_after_create(monkeypatch, address, "race-duration")
    data = _write(tmp_path / "rows.jsonl", [_segment("r", 0), _segment("r", 1, video_duration_ms=9000)])
    with StrataClient(address) as client:
        client.create_collection("race-duration", dimension=4)
        out = _run(address, "ingest", "race-duration", str(data))
        assert out.returncode == 1 and f"{data}:2: video_duration_ms: is 9000" in out.stderr, out.stderr
        assert "kept 'r', made for this batch: another client has stored segments in it since" in out.stderr
        assert client.get_video("race-duration", "r").segment_count == 1


@pytest.mark.parametrize(
    ("first", "stored", "expected"),
    [
        (5000, None, "is 6000, but video 'dur' was created with duration_ms 5000 from {data}:1"),
        (None, None, "is 6000, but video 'dur' was created with no duration (0: unknown) from {data}:1"),
        (5000, 5000, "is 6000, but video 'dur' exists with duration_ms 5000"),
    ],
    ids=["set-by-an-earlier-line", "unset-by-an-earlier-line", "set-before-the-run"],
)
def test_a_line_whose_video_duration_is_not_its_videos_is_named_and_nothing_of_its_batch_stays(
    address: str, tmp_path: Path, first: int | None, stored: int | None, expected: str
) -> None:
    """A video's duration is set when it is created: a later line's other value was
    accepted and ignored."""
    collection = f"duration-{first}-{stored}"
    rows = [_segment("dur", 0, video_duration_ms=first), _segment("dur", 1, video_duration_ms=5000 if first else None)]
    data = _write(tmp_path / "rows.jsonl", [*rows, _segment("dur", 2, video_duration_ms=6000)])
    with StrataClient(address) as client:
        client.create_collection(collection, dimension=4)
        if stored:
            client.create_video(collection, "dur", stored)
        out = _run(address, "ingest", collection, str(data))
        assert out.returncode == 1 and f"{data}:3: video_duration_ms: {expected.format(data=data)}" in out.stderr
        assert [(v.id, v.duration_ms, v.segment_count) for v in client.list_videos(collection)] == (
            [("dur", stored, 0)] if stored else []
        )


def test_a_video_the_server_refuses_is_named_by_its_line_and_leaves_no_video_of_its_batch(
    address: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A server with a rule the lines' checks do not know (a newer one): the refusal named
    no line, and the batch's video created before it was left behind, empty."""
    from hierarchy.db import Database
    from hierarchy.errors import InvalidArgument

    create = Database.create_video

    def refuse_b(db: Database, collection: str, video_id: str, *args: Any) -> Any:
        if video_id == "b":
            raise InvalidArgument("video_id", "is refused by this server")
        return create(db, collection, video_id, *args)

    monkeypatch.setattr(Database, "create_video", refuse_b)
    data = _write(tmp_path / "rows.jsonl", [_segment("a", 0), _segment("b", 0)])
    with StrataClient(address) as client:
        client.create_collection("refused-video", dimension=4)
        out = _run(address, "ingest", "refused-video", str(data))
        assert out.returncode == 1 and f"{data}:2: video_id: is refused by this server" in out.stderr, out.stderr
        assert list(client.list_videos("refused-video")) == []


@pytest.mark.parametrize(
    ("fields", "expected"),
    [
        ({"video_duration_ms": [1]}, "video_duration_ms: must be an integer"),
        ({"video_duration_ms": "1e400"}, "video_duration_ms: must be an integer"),
        ({"video_duration_ms": -1}, "video_duration_ms: must be between 0 and"),
        ({"start_ms": "abc"}, "start_ms: must be an integer"),
        ({"start_ms": None}, "start_ms: is missing"),
        ({"end_ms": 2**64}, "end_ms: must be between 0 and"),
        ({"end_ms": 0}, "end_ms: must be after start_ms"),
        ({"shot_cut": "no"}, "shot_cut: must be true or false"),
        ({"video_id": ""}, "video_id: must be a non-empty string"),
        ({"video_id": "B\u0007"}, "video_id: must be 1-128 printable characters"),
        ({"video_id": "B" * 129}, "video_id: must be 1-128 printable characters"),
        ({"video_id": " B"}, "video_id: must not start or end with a space"),
        ({"id": 7}, "id: must be a string"),
        ({"id": "bad-video/scene/0"}, "id: 'bad-video/scene/0' has the form of a scene"),
        ({"id": "bad-video@0"}, "id: 'bad-video@0' has the form of the id a segment sent without one gets"),
        ({"labels": ["goal", ""]}, "labels[1]: labels must be 1-256 printable characters"),
        ({"labels": ["x" * 257]}, "labels[0]: labels must be 1-256 printable characters"),
        ({"text": ["a"]}, "text: must be a string"),
        ({"text": "a" * 65_537}, "text: has 65537 characters; the limit is 65536"),
        ({"labels": "goal"}, "labels: must be a list of strings"),
        ({"attributes": [1]}, "attributes: must be an object"),
        ({"attributes": {"x": "NaN"}}, "attributes.x: must be a finite number"),
        ({"vector": [1, "x", 0, 0]}, "vector: must be a list of numbers"),
        ({"vector": [1, 0, 0, "1e400"]}, "vector: must be a list of numbers"),
        ({"vector": [1, 0, 0, 10**400]}, "vector: must be a list of numbers"),
        ({"vector": [True, 0, 0, 0.5]}, "vector: must be a list of numbers"),  # not 1.0
        ({"vector": [1, 0, 0, 1e39]}, "vector: must be a list of numbers"),  # past float32
    ],
)
def test_a_bad_field_is_named_with_its_line_before_its_batch_is_sent(
    address: str, tmp_path: Path, fields: dict[str, Any], expected: str
) -> None:
    with StrataClient(address) as client:
        if "bad" not in {c.name for c in client.list_collections()}:
            client.create_collection("bad", dimension=4)
        # Written by hand: json.dumps cannot write 1e400 or NaN, and a JSON reader takes them.
        bad = json.dumps(_segment("bad-video", 1, **fields)).replace('"1e400"', "1e400").replace('"NaN"', "NaN")
        (tmp_path / "rows.jsonl").write_text(json.dumps(_segment("bad-video", 0)) + "\n\n" + bad + "\n")
        result = _run(address, "ingest", "bad", str(tmp_path / "rows.jsonl"))
        assert result.returncode == 1 and "Traceback" not in result.stderr, result.stderr
        lines = [line for line in result.stderr.splitlines() if line.strip()]
        assert len(lines) == 1 and f"rows.jsonl:3: {expected}" in lines[0], result.stderr
        assert [v.id for v in client.list_videos("bad")] == []  # the batch was never sent


def test_a_refused_batch_is_named_by_the_line_of_its_segment_with_what_is_stored(address: str, tmp_path: Path) -> None:
    # The server names the segment within its batch (segments[1]): the run says the line.
    rows = [_segment("d", i) for i in range(5)]
    rows[3]["vector"] = [1.0, 0.0, 0.0]
    data = _write(tmp_path / "rows.jsonl", rows)
    with StrataClient(address) as client:
        client.create_collection("lines", dimension=4)
        out = _run(address, "ingest", "lines", str(data), "--batch-size", "2")
        assert out.returncode == 1 and f"{data}:4: segments[1].vector" in out.stderr, out.stderr
        assert "the 2 segments before its batch are stored" in out.stderr
        assert client.get_video("lines", "d").segment_count == 2
    _write(data, [_segment("e", 0, id="kick-1"), _segment("e", 1, id="kick-1")])
    out = _run(address, "ingest", "lines", str(data), "--batch-size", "1")
    assert out.returncode == 1 and f"{data}:2: segments[0].id" in out.stderr, out.stderr
    assert "or by another line or file with this id" in out.stderr


@pytest.fixture(scope="module")
def small(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """A server taking 20 segments a batch and 1 MB a message."""
    server = start_server(tmp_path_factory.mktemp("small") / "data", max_message_mb=1, max_batch=20)
    yield server.address
    server.stop(0)


def test_a_batch_past_the_servers_limits_is_told_to_shrink_without_undoing_what_is_stored(
    small: str, tmp_path: Path
) -> None:
    with StrataClient(small) as client:
        client.create_collection("big", dimension=4)
        data = _write(tmp_path / "rows.jsonl", [_segment("g", i) for i in range(25)])
        out = _run(small, "ingest", "big", str(data), "--batch-size", "25")  # past 20 segments a batch
        assert out.returncode == 1 and "(send smaller batches: lower --batch-size)" in out.stderr, out.stderr
        # Past 1 MB a message: the second batch of 10, once the first is stored.
        long = [_segment("g", i, text="\u00e9" * 60_000) for i in range(10, 20)]
        data = _write(tmp_path / "rows.jsonl", [_segment("g", i) for i in range(10)] + long)
        out = _run(small, "ingest", "big", str(data), "--batch-size", "10")
        assert out.returncode == 1 and "RESOURCE_EXHAUSTED" in out.stderr, out.stderr
        assert f"ingest the lines from {data}:11 on, in a file of their own, with a lower" in out.stderr
        assert "the same --batch-size" not in out.stderr  # it would be refused the same way
        assert client.get_video("big", "g").segment_count == 10


def test_a_line_too_large_alone_is_named_by_its_line_not_told_to_shrink_the_batch(small: str, tmp_path: Path) -> None:
    """A text past the server's limit of characters, larger than a message alone: the
    message was refused with no line named, and advice no --batch-size could follow."""
    data = _write(tmp_path / "rows.jsonl", [_segment("t", 0), _segment("t", 1, text="a" * 1_100_000)])
    with StrataClient(small) as client:
        client.create_collection("long-text", dimension=4)
        out = _run(small, "ingest", "long-text", str(data))
        assert out.returncode == 1 and f"{data}:2: text: has 1100000 characters; the limit is 65536" in out.stderr
        assert "--batch-size" not in out.stderr, out.stderr
        assert list(client.list_videos("long-text")) == []


def test_a_full_disk_is_told_to_make_room_and_rerun_with_the_same_batch_size(
    address: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Not to lower --batch-size: a re-run cutting the stored lines into other batches is
    refused for them."""
    from hierarchy import nodes

    insert, inserts = nodes.insert, itertools.count()

    def full_from_the_second_write(tx: Any, table: Any) -> None:
        if next(inserts):  # what DuckDB raises when a commit's log write meets a full disk
            raise duckdb.TransactionException('Could not write file "strata.duckdb.wal": No space left on device')
        insert(tx, table)

    monkeypatch.setattr(nodes, "insert", full_from_the_second_write)
    data = _write(tmp_path / "rows.jsonl", [_segment("f", i) for i in range(6)])
    with StrataClient(address) as client:
        client.create_collection("full", dimension=4)
        out = _run(address, "ingest", "full", str(data), "--batch-size", "3")
        assert out.returncode == 1 and "RESOURCE_EXHAUSTED" in out.stderr and "make room" in out.stderr, out.stderr
        assert "a re-run with the same --batch-size replays them" in out.stderr
        assert "lower --batch-size" not in out.stderr
        assert client.get_video("full", "f").segment_count == 3


def test_every_field_of_the_ingest_format_has_a_check_before_it_is_sent() -> None:
    # The client's field list (service.rows) and the CLI's per-field checks name the same
    # fields: a field added to one alone would be refused by one and taken by the other.
    from service.rows import FIELDS
    from tools.jsonl import _FIELDS

    assert {name for name, _ in _FIELDS} == FIELDS


def test_ctrl_c_during_an_ingest_says_what_is_stored_and_the_same_command_finishes_it(
    address: str, tmp_path: Path
) -> None:
    # It ended without a word of what was stored or how to go on.
    assert _run(address, "collections", "create", "cut", "--dim", "4").returncode == 0
    rows = [_segment(f"v{v}", i) for v in range(4) for i in range(3000)]
    data = _write(tmp_path / "rows.jsonl", rows)
    command = [STRATA, "ingest", "cut", str(data), "--batch-size", "20"]
    proc = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                            env={**os.environ, "STRATA_TARGET": address})  # fmt: skip
    with StrataClient(address) as client:
        while not client.stats("cut").collections[0].levels[0].node_count:  # some batches stored
            assert proc.poll() is None, proc.communicate()
            time.sleep(0.02)
        proc.send_signal(signal.SIGINT)
        out, errors = proc.communicate(timeout=60)
        lines = errors.strip().splitlines()
        assert proc.returncode == 130 and not out and len(lines) == 1, errors
        said = re.fullmatch(r"interrupted: (\d+) segments acknowledged \(and maybe the batch under way\); the same "
                            r"command \(--batch-size 20\) replays them and goes on", lines[0])  # fmt: skip
        stored = client.stats("cut").collections[0].levels[0].node_count
        assert said is not None and int(said[1]) in (stored, stored - 20), lines  # a batch acked as the signal came
        assert int(said[1]) < len(rows)
    again = _run(address, "ingest", "cut", str(data), "--batch-size", "20")
    assert again.returncode == 0 and f"ingested {len(rows) - stored} new segments" in again.stdout, again.stdout


def test_a_file_that_begins_with_a_byte_order_mark_is_ingested(address: str, tmp_path: Path) -> None:
    # Refused with Python's own advice: "Unexpected UTF-8 BOM (decode using utf-8-sig)".
    assert _run(address, "collections", "create", "bom", "--dim", "4").returncode == 0
    data = _write(tmp_path / "rows.jsonl", [_segment("v", i) for i in range(3)])
    data.write_bytes(b"\xef\xbb\xbf" + data.read_bytes())
    done = _run(address, "ingest", "bom", str(data))
    assert done.returncode == 0 and "ingested 3 new segments" in done.stdout, done.stderr
