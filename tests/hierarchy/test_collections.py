"""Collections through the ``Database`` facade: create, get, list, delete, names and
spaces refused, and what a deleted collection leaves behind (real DuckDB, real USearch)."""

from __future__ import annotations

import threading
from pathlib import Path

import numpy as np
import pytest

from hierarchy.db import Database
from hierarchy.errors import AlreadyExists, InvalidArgument, NotFound, StrataError
from hierarchy.types import Collection, EmbeddingSpace, Level, Metric, Mode, SearchQuery
from tests.hierarchy.helpers import COLLECTION, DIM, OpenDb, query, segments, unit_vectors


def test_a_video_list_token_of_a_deleted_collection_is_refused_by_its_namesake(db: Database) -> None:
    def made() -> None:
        db.create_collection("c", EmbeddingSpace(DIM))
        for video in ("a", "b", "c"):
            db.create_video("c", video)

    made()
    _, token = db.list_videos("c", page_size=2)
    db.delete_collection("c")
    made()
    with pytest.raises(InvalidArgument, match="since deleted") as err:
        db.list_videos("c", page_size=2, page_token=token)
    assert err.value.field == "page_token"
    first, again = db.list_videos("c", page_size=2)
    assert [v.id for v in db.list_videos("c", page_size=2, page_token=again)[0]] == ["c"] and len(first) == 2


def test_create_and_get_collection(db: Database) -> None:
    space = EmbeddingSpace(DIM, Metric.INNER_PRODUCT, "clip", "v2")
    created = db.create_collection("matches", space)
    fetched = db.get_collection("matches")
    assert created.name == fetched.name == "matches"
    assert created.space == fetched.space == space
    assert (fetched.video_count, fetched.segment_count) == (0, 0)


def test_a_zero_query_vector_of_an_inner_product_collection_names_the_field(db: Database) -> None:
    db.create_collection("ip", EmbeddingSpace(DIM, Metric.INNER_PRODUCT))
    db.create_video("ip", "v1")
    db.append_segments("ip", segments("v1", unit_vectors(5, seed=1)))
    with pytest.raises(InvalidArgument) as err:
        db.search(SearchQuery("ip", Level.SEGMENT, vector=np.zeros(DIM, np.float32)))
    assert err.value.field == "vector" and "zero vector" in err.value.message


def test_get_unknown_collection_is_not_found(db: Database) -> None:
    with pytest.raises(NotFound) as err:
        db.get_collection("nothing")
    assert err.value.field == "name"


def test_list_collections_pages_in_name_order(db: Database) -> None:
    names = ["delta", "alpha", "echo", "charlie", "bravo"]
    for name in names:
        db.create_collection(name, EmbeddingSpace(DIM))
    seen, tokens, token = [], [], ""
    for _ in range(5):
        page, token = db.list_collections(page_size=2, page_token=token)
        seen.append([c.name for c in page])
        tokens.append(token)
        if not token:
            break
    assert seen == [["alpha", "bravo"], ["charlie", "delta"], ["echo"]]
    assert all(tokens[:-1]) and tokens[-1] == ""
    again, _ = db.list_collections(page_size=2, page_token=tokens[0])
    assert [c.name for c in again] == ["charlie", "delta"]


def test_list_collections_full_last_page_has_empty_token(db: Database) -> None:
    for name in ["a", "b", "c", "d"]:
        db.create_collection(name, EmbeddingSpace(DIM))
    first, token = db.list_collections(page_size=2)
    last, end = db.list_collections(page_size=2, page_token=token)
    assert [c.name for c in first + last] == ["a", "b", "c", "d"]
    assert token and end == ""


def test_list_collections_refuses_garbage_token(db: Database) -> None:
    with pytest.raises(InvalidArgument) as err:
        db.list_collections(page_token="certainly-not-a-token")
    assert err.value.field == "page_token"


def test_delete_collection_removes_it_and_its_index(games: Database, data_dir: Path) -> None:
    games.append_segments(COLLECTION, segments("v1", unit_vectors(3)))
    games.save_indexes()
    assert list(data_dir.glob("indexes/**/*.usearch"))
    games.delete_collection(COLLECTION)
    with pytest.raises(NotFound):
        games.get_collection(COLLECTION)
    with pytest.raises(NotFound) as again:  # a second delete is told to check the name, not to create it
        games.delete_collection(COLLECTION)
    assert again.value.field == "name" and "check the name" in again.value.message
    assert not list(data_dir.glob("indexes/**/*.usearch"))
    recreated = games.create_collection(COLLECTION, EmbeddingSpace(DIM))
    assert (recreated.video_count, recreated.segment_count) == (0, 0)
    assert games.search(query(unit_vectors(1)[0])).hits == []


def test_a_recreated_collection_inherits_nothing_of_the_deleted_one(games: Database, open_db: OpenDb) -> None:
    """Caches, statistics and index files are keyed by a collection's id: a collection
    created after a delete gets a new id, even after a restart, and answers as new."""
    old = games.get_collection(COLLECTION).id
    games.append_segments(COLLECTION, segments("v1", unit_vectors(40)))
    assert games.search(query(unit_vectors(1)[0], mode=Mode.AUTO)).hits  # statistics computed
    games.delete_collection(COLLECTION)
    wider = games.create_collection(COLLECTION, EmbeddingSpace(2 * DIM))
    assert wider.id != old
    games.create_video(COLLECTION, "v1")
    games.append_segments(COLLECTION, segments("v1", unit_vectors(40, dim=2 * DIM, seed=3)))
    hits = games.search(query(unit_vectors(1, dim=2 * DIM, seed=3)[0], mode=Mode.AUTO)).hits
    assert hits and hits[0].node.id == "v1@0"
    games.delete_collection(COLLECTION)
    games.close()
    assert open_db().create_collection("other", EmbeddingSpace(DIM)).id not in (old, wider.id)


def test_a_write_that_waited_out_a_delete_is_refused_and_writes_nothing(
    games: Database, monkeypatch: pytest.MonkeyPatch
) -> None:
    coll = games.get_collection(COLLECTION)
    looked_up = threading.Event()
    real = games._collection

    def collection(name: str, field: str = "collection") -> Collection:
        found = real(name, field)
        looked_up.set()
        return found

    monkeypatch.setattr(games, "_collection", collection)
    failed: list[Exception] = []

    def create() -> None:
        try:
            games.create_video(COLLECTION, "late")
        except StrataError as exc:
            failed.append(exc)

    writer = threading.Thread(target=create)
    with games._locks.lock(coll.id):  # the writer waits here, its collection in hand
        writer.start()
        assert looked_up.wait(5)
        games.delete_collection(COLLECTION)
    writer.join(5)
    assert len(failed) == 1 and isinstance(failed[0], NotFound) and failed[0].field == "collection"
    rows = games.store.cursor().execute("SELECT count(*) FROM videos WHERE collection_id = ?", [coll.id]).fetchall()
    assert rows[0][0] == 0
    with pytest.raises(NotFound):  # nor does a search in flight make its index again
        games.indexes.get(coll, Level.SEGMENT)


@pytest.mark.parametrize(
    "name",
    [
        "", "-starts-with-dash", "has space", "x" * 65, "ümlaut", "slash/name",
        "games\n",
    ],
    ids=repr,
)  # fmt: skip
def test_bad_collection_name_is_refused(db: Database, name: str) -> None:
    with pytest.raises(InvalidArgument) as err:
        db.create_collection(name, EmbeddingSpace(DIM))
    assert err.value.field == "name"
    assert db.list_collections()[0] == []


def test_duplicate_collection_already_exists(db: Database) -> None:
    db.create_collection("twice", EmbeddingSpace(DIM))
    with pytest.raises(AlreadyExists) as err:
        db.create_collection("twice", EmbeddingSpace(DIM * 2))
    assert err.value.field == "name"
    assert db.get_collection("twice").space.dimension == DIM


def test_collection_without_dimension_or_encoder_is_refused(db: Database) -> None:
    with pytest.raises(InvalidArgument) as err:
        db.create_collection("nodim", EmbeddingSpace(0))
    assert err.value.field == "space.dimension"


def test_a_deleted_collection_leaves_no_book_keeping_behind(db: Database) -> None:
    # About 1.3 KB a deleted collection stayed (commit counters per level, its lock):
    # 110 MB a day at one collection a second.
    def held() -> list[int]:
        commits, locks = db.commits, db._locks
        return [len(commits._written), len(commits._rewrites), len(commits._visible), len(locks._locks)]

    db.create_collection("keep", EmbeddingSpace(DIM))
    before = None
    for i in range(30):
        db.create_collection("brief", EmbeddingSpace(DIM))
        db.create_video("brief", "v")
        db.append_segments("brief", segments("v", unit_vectors(12, seed=i)))
        db.seal_video("brief", "v")
        db.delete_collection("brief")
        before = before or held()
        assert held() == before
    with pytest.raises(NotFound):
        db.append_segments("brief", segments("v", unit_vectors(1)))
