"""What the SDK streams, against a real server: batches read in the caller's thread,
errors that name the batch and row, a stream's deadline, refusals and interrupts that stop
it, batches past the message size, and numbered batches that replay."""

from __future__ import annotations

import itertools
import sqlite3
import time
from pathlib import Path

import grpc
import numpy as np
import pytest

from service.client import StrataClient, StrataRpcError
from service.server import StrataServer
from tests.service.conftest import DIM, rows, unit_vectors


def test_an_error_in_a_stream_names_its_batch_and_row(client: StrataClient, loaded: np.ndarray) -> None:
    good = rows("v1", unit_vectors(3, seed=6), start_index=100)
    bad = rows("v1", unit_vectors(3, seed=7), start_index=103)
    del bad[2]["video_id"]
    with pytest.raises(TypeError, match=r"^batch\[1\]\.segments\[2\]\.video_id: is missing"):
        client.stream_segments("c", iter([("b0", good), ("b1", bad)]))
    assert client.get_video("c", "v1").segment_count == len(loaded) + 3  # the batch before it is stored


def test_a_stream_whose_batches_fail_to_come_raises_that_error_after_storing_the_rest(
    client: StrataClient,
) -> None:
    # gRPC cancelled the stream and said UNKNOWN 'Exception iterating requests!'.
    client.create_collection("st", dimension=unit_vectors(1).shape[1])
    client.create_video("st", "v")

    def batches():  # type: ignore[no-untyped-def]
        yield "b0", rows("v", unit_vectors(4, seed=1))
        raise RuntimeError("the source broke")

    with pytest.raises(RuntimeError, match="the source broke"):
        client.stream_segments("st", batches())
    assert client.get_video("st", "v").segment_count == 4  # the batch sent before it is stored
    with pytest.raises(TypeError, match="video_id: is missing"):
        client.stream_segments("st", iter([("b1", [{"start_ms": 0, "end_ms": 1}])]))


def test_a_stream_has_the_deadline_it_is_given(client: StrataClient) -> None:
    client.create_collection("slow", dimension=unit_vectors(1).shape[1])
    client.create_video("slow", "v")

    def batches():  # type: ignore[no-untyped-def]
        yield "b0", rows("v", unit_vectors(2, seed=2))

        time.sleep(2)
        yield "b1", rows("v", unit_vectors(2, seed=3), start_index=2)

    with pytest.raises(StrataRpcError) as err:
        client.stream_segments("slow", batches(), timeout=0.5)
    assert err.value.code is grpc.StatusCode.DEADLINE_EXCEEDED


def test_a_stream_reads_its_batches_in_the_calling_thread(client: StrataClient, tmp_path: Path) -> None:
    # gRPC read them on a thread of its own, where rows of a cursor made here failed:
    # "SQLite objects created in a thread can only be used in that same thread".
    client.create_collection("sq", dimension=DIM)
    client.create_video("sq", "v")
    db = sqlite3.connect(tmp_path / "rows.db")
    db.execute("CREATE TABLE segment (start_ms INTEGER, vector BLOB)")
    db.executemany(
        "INSERT INTO segment VALUES (?, ?)", [(i * 2000, v.tobytes()) for i, v in enumerate(unit_vectors(6))]
    )
    cursor = db.execute("SELECT start_ms, vector FROM segment ORDER BY start_ms")

    def batches():  # type: ignore[no-untyped-def]
        while chunk := cursor.fetchmany(2):
            yield (
                f"b{chunk[0][0]}",
                [
                    {
                        "video_id": "v",
                        "start_ms": start,
                        "end_ms": start + 2000,
                        "vector": np.frombuffer(blob, np.float32),
                    }
                    for start, blob in chunk
                ],
            )

    reply = client.stream_segments("sq", batches())
    assert (reply.batch_count, reply.segment_count) == (3, 6)


def test_a_stream_the_server_refuses_stops_reading_its_batches(client: StrataClient) -> None:
    # The source is endless: once the server has refused a batch, the call returns.
    client.create_collection("st", dimension=DIM)
    client.create_video("st", "v")

    def batches():  # type: ignore[no-untyped-def]
        for i in itertools.count():
            yield f"b{i}", rows("v" if i == 0 else "nowhere", unit_vectors(1, seed=i), start_index=i)

    with pytest.raises(StrataRpcError) as err:
        client.stream_segments("st", batches())
    assert err.value.code is grpc.StatusCode.NOT_FOUND and "batch[1].segments[0].video_id" in err.value.fields
    assert client.get_video("st", "v").segment_count == 1


def test_an_interrupted_stream_is_cancelled(client: StrataClient) -> None:
    class Interrupt(BaseException):  # as KeyboardInterrupt is
        pass

    client.create_collection("st", dimension=DIM)
    client.create_video("st", "v")

    def batches():  # type: ignore[no-untyped-def]
        yield "b0", rows("v", unit_vectors(1))
        raise Interrupt

    with pytest.raises(Interrupt):
        client.stream_segments("st", batches())
    assert client.stream_segments("st", iter([("b1", rows("v", unit_vectors(1), start_index=1))])).batch_count == 1


def test_a_batch_past_the_message_size_names_the_batch_and_stores_nothing_of_it(server: StrataServer) -> None:
    # gRPC refused it as "Sent message larger than max (1986776 vs. 1048576)", naming no batch.
    small = StrataClient(server.address, max_message_mb=1)
    small.create_collection("c", dimension=DIM)
    small.create_video("c", "v1")
    big = rows("v1", unit_vectors(16_000))  # over 1 MB at DIM dimensions
    with pytest.raises(StrataRpcError) as caught:
        small.append_segments("c", big)
    said = "the batch is 1.9 MB, past the 1 MB a message may carry (the client's max_message_mb); send its segments"
    assert caught.value.code is grpc.StatusCode.RESOURCE_EXHAUSTED and caught.value.fields["segments"].startswith(said)
    assert small.get_video("c", "v1").segment_count == 0
    with pytest.raises(StrataRpcError, match=r"batch\[1\]\.segments: the batch is 1\.\d MB, past the 1 MB"):
        small.stream_segments("c", [("first", big[:10]), ("second", big[10:])])
    assert small.get_video("c", "v1").segment_count == 10  # the batch before it is stored


def test_batches_of_a_stream_replay_when_the_same_rows_are_sent_again(client: StrataClient) -> None:
    from service.client import batches

    client.create_collection("b", dimension=DIM)
    client.create_video("b", "v1")
    rows_sent = rows("v1", unit_vectors(25, seed=5))
    assert [(rid, len(batch)) for rid, batch in batches(rows_sent, 10, "load-")] == [
        ("load-0", 10),
        ("load-1", 10),
        ("load-2", 5),
    ]
    first = client.stream_segments("b", batches(iter(rows_sent), 10, "load-"))  # any iterable, read as sent
    again = client.stream_segments("b", batches(rows_sent, 10, "load-"))
    assert (first.batch_count, first.segment_count) == (3, 25)
    assert (again.batch_count, again.segment_count) == (3, 0)  # every batch replayed: none stored twice
    assert client.get_video("b", "v1").segment_count == 25
    with pytest.raises(ValueError, match=r"^size: is 0; give 1 or more segments a batch"):
        batches(rows_sent, 0)
