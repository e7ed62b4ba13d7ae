"""Calls that race on one collection: creates against deletes, two deletes, two config
changes, a config change against a delete. Each ends, and the state it leaves is one a
sequential order of the calls would leave."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from typing import Any

from hierarchy.db import Database
from hierarchy.errors import AlreadyExists, FailedPrecondition, NotFound, StrataError
from hierarchy.types import EmbeddingSpace
from tests.hierarchy.helpers import COLLECTION, DIM, segments, unit_vectors


def test_creates_racing_deletes_return_what_they_created(db: Database) -> None:
    """A create answered after a delete of the same name ran right behind it still returns
    the collection (or video) it made, never None."""
    stop = threading.Event()

    def delete_again_and_again() -> None:
        while not stop.is_set():
            for call in (lambda: db.delete_video("race", "v"), lambda: db.delete_collection("race")):
                try:
                    call()
                except NotFound:
                    pass

    deleter = threading.Thread(target=delete_again_and_again)
    deleter.start()
    try:
        for _ in range(60):
            try:
                created = db.create_collection("race", EmbeddingSpace(DIM))
                assert created is not None and created.name == "race"
                video = db.create_video("race", "v")
                assert video is not None and video.id == "v"
            except (NotFound, AlreadyExists):
                pass  # deleted before the next call, or not yet deleted
    finally:
        stop.set()
        deleter.join()


def _behind_a_held_lock(lock: Any, calls: list[Callable[[], object]]) -> list[object]:
    """Run ``calls`` in threads that all reach ``lock`` while the test holds it, then let
    them go; each call's result or the exception it raised, in order."""
    out: list[object] = [None] * len(calls)

    def run(i: int) -> None:
        try:
            out[i] = calls[i]()
        except StrataError as exc:
            out[i] = exc

    with lock:
        threads = [threading.Thread(target=run, args=(i,)) for i in range(len(calls))]
        for t in threads:
            t.start()
        time.sleep(0.3)  # every call reads what it read before it waits here
    for t in threads:
        t.join()
    return out


def test_two_config_changes_at_once_both_land(games: Database) -> None:
    coll = games.get_collection(COLLECTION)
    _behind_a_held_lock(
        games._locks.lock(coll.id),
        [
            lambda: games.set_hierarchy_config(COLLECTION, {"scene_penalty": 9.0}),
            lambda: games.set_hierarchy_config(COLLECTION, {"half_count": 3}),
        ],
    )
    stored = games.hierarchy_config(COLLECTION)
    assert (stored.scene_penalty, stored.half_count) == (9.0, 3)


def test_of_two_deletes_at_once_one_deletes_and_the_other_is_not_found(games: Database) -> None:
    coll = games.get_collection(COLLECTION)
    videos = _behind_a_held_lock(
        games._locks.lock(coll.id), [lambda: games.delete_video(COLLECTION, "v1") for _ in range(2)]
    )
    assert sorted(type(r).__name__ for r in videos) == ["NoneType", "NotFound"]
    collections = _behind_a_held_lock(
        games._catalog_lock, [lambda: games.delete_collection(COLLECTION) for _ in range(2)]
    )
    assert sorted(type(r).__name__ for r in collections) == ["NoneType", "NotFound"]


def test_a_delete_only_if_empty_that_waited_behind_an_append_keeps_the_video_and_its_segment(
    games: Database,
) -> None:
    """The video is found empty under the lock appends take, not before it: a segment
    stored while the delete waited is never deleted with the video."""
    coll = games.get_collection(COLLECTION)
    outcome: list[object] = []

    def delete() -> None:
        try:
            outcome.append(games.delete_video(COLLECTION, "v1", only_if_empty=True))
        except StrataError as exc:
            outcome.append(exc)

    with games._locks.lock(coll.id):
        deleter = threading.Thread(target=delete)
        deleter.start()
        time.sleep(0.3)  # the delete has found v1 (empty) before it waits here
        games.append_segments(COLLECTION, segments("v1", unit_vectors(1)))  # another writer (the lock is re-entrant)
    deleter.join()
    assert isinstance(outcome[0], FailedPrecondition) and outcome[0].field == "video_id", outcome
    assert games.get_video(COLLECTION, "v1").segment_count == 1


def test_a_config_change_and_a_delete_of_the_collection_at_once_both_end(games: Database) -> None:
    coll = games.get_collection(COLLECTION)
    with games._locks.lock(coll.id):  # the change waits here first, then the delete
        config = {"half_count": 3}
        change = threading.Thread(target=lambda: _ignore(lambda: games.set_hierarchy_config(COLLECTION, config)))
        change.start()
        time.sleep(0.2)
        delete = threading.Thread(target=lambda: _ignore(lambda: games.delete_collection(COLLECTION)))
        delete.start()
        time.sleep(0.2)
    change.join(10)
    delete.join(10)
    assert not change.is_alive() and not delete.is_alive(), "a config change and a delete deadlocked"


def _ignore(call: Callable[[], object]) -> None:
    try:
        call()
    except StrataError:
        pass


def test_deletes_in_two_collections_at_once_all_land(db: Database) -> None:
    """Deletes of videos (and collections) in different collections run side by side: each
    answers, and none is refused for the other's write (both keep the store's highest
    commit in one row)."""
    for name in ("left", "right"):
        db.create_collection(name, EmbeddingSpace(DIM))
        for i in range(40):
            db.create_video(name, f"v{i}")
    failed: list[BaseException] = []

    def delete_all(name: str) -> None:
        try:
            for i in range(40):
                db.delete_video(name, f"v{i}")
            db.delete_collection(name)
        except BaseException as exc:  # noqa: BLE001 - reported below, whatever it is
            failed.append(exc)

    threads = [threading.Thread(target=delete_all, args=(name,)) for name in ("left", "right")]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not failed, failed
    assert not db.list_collections()[0]
