"""Idempotent appends: a request id replays its batch's answer, across restarts too; a
batch naming what is stored already is refused whole."""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest

from hierarchy.db import Database
from hierarchy.errors import AlreadyExists, InvalidArgument, NotFound
from tests.hierarchy.helpers import (
    COLLECTION,
    SEGMENT_MS,
    OpenDb,
    indexed_count,
    segment_count,
    segments,
    unit_vectors,
)


def test_repeated_request_id_replays_the_answer(games: Database) -> None:
    batch = segments("v1", unit_vectors(5))
    first = games.append_segments(COLLECTION, batch, request_id="req-1")
    again = games.append_segments(COLLECTION, batch, request_id="req-1")
    assert (first.replayed, again.replayed) == (False, True)
    assert again.segment_ids == first.segment_ids
    assert again.commit_sequence == first.commit_sequence
    assert segment_count(games) == indexed_count(games) == 5


def test_a_retry_is_answered_as_first_answered_whatever_it_holds(games: Database) -> None:
    """A retry (same request id) is a no-op returning the original answer, even when the
    batch resent would now be refused: it is looked up before any check."""
    batch = segments("v1", unit_vectors(3))
    first = games.append_segments(COLLECTION, batch, request_id="req-1")
    damaged = [dataclasses.replace(batch[0], vector=np.full(len(batch[0].vector), np.nan, np.float32)), *batch[1:]]
    again = games.append_segments(COLLECTION, damaged, request_id="req-1")
    assert again.replayed and (again.segment_ids, again.commit_sequence) == (first.segment_ids, first.commit_sequence)
    with pytest.raises(InvalidArgument) as err:  # under a new id it is a new batch, checked
        games.append_segments(COLLECTION, damaged, request_id="req-2")
    assert err.value.field == "segments[0].vector"
    assert segment_count(games) == 3


def test_other_segments_under_a_used_request_id_are_refused_not_answered_as_stored(games: Database) -> None:
    """A client whose counter restarted sends a new batch under an id it used before: it
    was answered OK (replayed) and its segments were never stored."""
    first = games.append_segments(COLLECTION, segments("v1", unit_vectors(3)), request_id="batch-1")
    later = segments("v1", unit_vectors(2), first_ms=10 * SEGMENT_MS)
    with pytest.raises(InvalidArgument) as err:
        games.append_segments(COLLECTION, later, request_id="batch-1")
    assert err.value.field == "request_id" and "other segments (3 segments from 'v1@0')" in err.value.message
    assert segment_count(games) == 3
    assert games.append_segments(COLLECTION, later, request_id="batch-2").segment_ids != first.segment_ids
    assert segment_count(games) == 5


def test_a_retry_in_another_order_is_told_to_resend_the_batch_as_sent(games: Database) -> None:
    """Its answer lists the segments in the first batch's order, so it is no retry; it was
    told its segments were other ones."""
    batch = segments("v1", unit_vectors(3))
    games.append_segments(COLLECTION, batch, request_id="ordered")
    with pytest.raises(InvalidArgument) as err:
        games.append_segments(COLLECTION, batch[::-1], request_id="ordered")
    assert err.value.field == "request_id" and "these segments in another order" in err.value.message
    assert games.append_segments(COLLECTION, batch, request_id="ordered").replayed


def test_same_segments_under_another_request_id_already_exist(games: Database) -> None:
    """Sent without ids, they clash on their starts: the error named segments[0].id, a
    field the caller never set."""
    batch = segments("v1", unit_vectors(5))
    games.append_segments(COLLECTION, batch, request_id="req-1")
    with pytest.raises(AlreadyExists) as err:
        games.append_segments(COLLECTION, batch, request_id="req-2")
    assert err.value.field == "segments[0].start_ms"
    assert "video 'v1' holds a segment starting at 0 ms already ('v1@0')" in err.value.message
    assert segment_count(games) == 5
    named = [dataclasses.replace(seg, id=f"named-{i}") for i, seg in enumerate(batch)]
    with pytest.raises(AlreadyExists) as err:  # named ones clash on their start too (their ids are new)
        games.append_segments(COLLECTION, named, request_id="req-3")
    assert err.value.field == "segments[0].start_ms"


def test_a_segment_may_not_take_the_name_another_is_given_by_default(games: Database) -> None:
    """ "v1@2000" is the name a segment of v1 starting at 2 s gets when sent unnamed. A
    segment of v2 that took it first made that one fail ALREADY_EXISTS on a field its
    client never set; it is refused instead, naming the form and the way out."""
    named = segments("v2", unit_vectors(1))[0]
    with pytest.raises(InvalidArgument) as err:
        games.append_segments(COLLECTION, [dataclasses.replace(named, id="v1@2000")])
    assert err.value.field == "segments[0].id" and "<video_id>@<start_ms>" in err.value.message
    assert "'v2@0'" in err.value.message  # the one it would get
    games.append_segments(COLLECTION, [dataclasses.replace(named, id="v2@0")])  # its own default: as unnamed
    games.append_segments(COLLECTION, segments("v1", unit_vectors(4)))
    assert segment_count(games) == 5


def test_a_batch_naming_a_stored_id_is_refused_whole(games: Database) -> None:
    named = segments("v2", unit_vectors(1))[0]
    games.append_segments(COLLECTION, [dataclasses.replace(named, id="goal-7")])
    batch = segments("v1", unit_vectors(4))
    batch[2] = dataclasses.replace(batch[2], id="goal-7")
    with pytest.raises(AlreadyExists) as err:
        games.append_segments(COLLECTION, batch)
    assert (err.value.field, "'goal-7' already exists" in str(err.value)) == ("segments[2].id", True)
    assert segment_count(games) == 1
    games.append_segments(COLLECTION, segments("v1", unit_vectors(2)))  # the store took the rest back
    assert segment_count(games) == 3


def test_request_id_replays_after_restart(games: Database, open_db: OpenDb) -> None:
    batch = segments("v1", unit_vectors(5))
    first = games.append_segments(COLLECTION, batch, request_id="req-1")
    games.close()
    reopened = open_db()
    again = reopened.append_segments(COLLECTION, batch, request_id="req-1")
    assert again.replayed
    assert (again.segment_ids, again.commit_sequence) == (first.segment_ids, first.commit_sequence)
    assert segment_count(reopened) == 5


def test_a_deleted_videos_request_ids_are_forgotten_but_not_those_of_a_batch_it_shared(games: Database) -> None:
    # Kept for the collection's life, a deleted video's ids grew the store under churn,
    # and a retry answered with the ids of segments long gone.
    own = segments("v1", unit_vectors(3))
    shared = segments("v1", unit_vectors(2, seed=1), first_ms=60_000) + segments("v2", unit_vectors(2, seed=2))
    games.append_segments(COLLECTION, own, request_id="v1-only")
    games.append_segments(COLLECTION, shared, request_id="both")
    games.delete_video(COLLECTION, "v1")
    with pytest.raises(NotFound):  # a retry is a new batch: its video is gone
        games.append_segments(COLLECTION, own, request_id="v1-only")
    assert games.append_segments(COLLECTION, shared, request_id="both").replayed  # v2 still holds its segments
    games.create_video(COLLECTION, "v1")
    again = games.append_segments(COLLECTION, own, request_id="v1-only")
    assert not again.replayed and segment_count(games) == 5
    games.delete_video(COLLECTION, "v2")
    with pytest.raises(NotFound):
        games.append_segments(COLLECTION, shared, request_id="both")
