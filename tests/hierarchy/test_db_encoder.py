"""The database's text encoders: a collection embeds its segments' text and queries with
the built-in model (loaded once for this module), a missing model folder, one encoder a
folder however it is spelled, remembered and batched query embeddings, a close or a
caller's deadline that stops a batch still embedding."""

from __future__ import annotations

import threading
import time
from pathlib import Path

import numpy as np
import pytest

from hierarchy import encoder as encoders
from hierarchy.db import Database
from hierarchy.encoder import TextEncoder, get_encoder
from hierarchy.errors import AlreadyExists, DeadlineExceeded, FailedPrecondition, InvalidArgument, Unavailable
from hierarchy.types import EmbeddingSpace, Level, SearchQuery, SegmentInput
from tests.hierarchy.helpers import OpenDb


@pytest.fixture(scope="module")
def encoder() -> TextEncoder:
    return get_encoder("default")


def test_encoder_collection_takes_the_encoder_dimension(db: Database, encoder: TextEncoder) -> None:
    created = db.create_collection("clips", EmbeddingSpace(0, text_encoder="default"))
    assert created.space.dimension == encoder.dimension == 384
    with pytest.raises(InvalidArgument) as err:
        db.create_collection("clash", EmbeddingSpace(128, text_encoder="default"))
    assert err.value.field == "space.dimension"


def test_text_segments_are_embedded_and_text_query_ranks_them(db: Database, encoder: TextEncoder) -> None:
    corner = "a corner kick is taken from the right"
    keeper = "the goalkeeper kicks the ball out"
    db.create_collection("clips", EmbeddingSpace(0, text_encoder="default"))
    db.create_video("clips", "match")
    db.append_segments(
        "clips",
        [
            SegmentInput("match", 0, 5000, text=keeper),
            SegmentInput("match", 5000, 9000, text=corner),
        ],
    )
    hits = db.search(SearchQuery("clips", Level.SEGMENT, text="corner kick")).hits
    assert [h.node.text for h in hits] == [corner, keeper]
    assert hits[0].similarity > hits[1].similarity
    by_vector = db.search(SearchQuery("clips", Level.SEGMENT, vector=encoder.encode([keeper])[0], top_k=1))
    assert by_vector.hits[0].node.text == keeper
    assert by_vector.hits[0].similarity == pytest.approx(1.0, abs=1e-3)


def test_a_collection_whose_encoder_folder_is_gone_still_opens(open_db: OpenDb, tmp_path: Path) -> None:
    model = tmp_path / "model"
    model.symlink_to(encoders.default_model_path())
    db = open_db()
    db.create_collection("clips", EmbeddingSpace(0, text_encoder=str(model)))
    db.close()
    model.unlink()  # (the encoder was kept under the folder it named, not this path)
    reopened = open_db()  # loads each collection's encoder before serving; a missing one is logged
    with pytest.raises(InvalidArgument) as err:
        reopened.search(SearchQuery("clips", Level.SEGMENT, text="a corner kick"))
    assert err.value.field == "space.text_encoder" and "does not exist" in err.value.message


def test_each_spelling_of_one_model_folder_shares_one_encoder(tmp_path: Path) -> None:
    # Keyed by the text, /m/./x and /m/x loaded a copy each (150 MB), never freed.
    folder = encoders.default_model_path()
    link = tmp_path / "link"
    link.symlink_to(folder)
    spellings = [str(folder), f"{folder}/", f"{folder.parent}/./{folder.name}", str(link), encoders.DEFAULT_ENCODER]
    assert len({id(encoders.get_encoder(name)) for name in spellings}) == 1


def test_query_embeddings_are_remembered_until_forgotten(encoder: TextEncoder) -> None:
    text = "a looping free kick that dips under the bar"
    first = encoder.encode_query(text)
    again = encoder.encode_query(text)
    again[:] = 0.0  # a caller writing into its copy does not change what is remembered
    assert np.array_equal(encoder.encode_query(text), first)
    encoder.forget()
    assert np.allclose(encoder.encode_query(text), encoder.encode([text])[0], atol=1e-5)
    assert np.allclose(encoder.encode_query(text), first, atol=1e-5)


def test_query_texts_embedded_together_match_one_at_a_time(encoder: TextEncoder) -> None:
    texts = ["the visitors earn a corner", "visitors earn a corner", "the visitors earn a corner"]
    encoder.forget()
    together = encoder.encode_queries(texts)
    assert together.shape == (3, encoder.dimension)
    assert np.array_equal(together[0], together[2])
    encoder.forget()
    for text, vector in zip(texts, together, strict=True):
        assert np.allclose(encoder.encode_query(text), vector, atol=1e-5)


def test_a_close_stops_a_batch_still_embedding_its_texts(db: Database, open_db: OpenDb, encoder: TextEncoder) -> None:
    """A batch of captions to embed takes seconds: a close under way refuses it between
    chunks (UNAVAILABLE, resend) rather than waiting for it or letting it meet a closed
    store; nothing of it is written."""
    db.create_collection("clips", EmbeddingSpace(0, text_encoder="default"))
    db.create_video("clips", "v")
    batch = [
        SegmentInput("v", i * 1000, i * 1000 + 1000, None, f"caption number {i} of a long batch") for i in range(3000)
    ]
    outcome: list[BaseException] = []

    def append() -> None:
        try:
            db.append_segments("clips", batch)
        except BaseException as exc:  # noqa: BLE001 - the test reads what it was
            outcome.append(exc)

    writer = threading.Thread(target=append)
    writer.start()
    time.sleep(0.5)  # inside the first chunks of embedding
    started = time.perf_counter()
    db.close()
    writer.join(30)
    assert not writer.is_alive() and time.perf_counter() - started < 10
    assert len(outcome) == 1 and isinstance(outcome[0], Unavailable)
    assert open_db().get_video("clips", "v").segment_count == 0


def test_a_batch_whose_deadline_passes_while_embedding_stops_and_stores_nothing(
    db: Database, encoder: TextEncoder
) -> None:
    """A caller that stopped waiting (its deadline passed) does not have its captions
    embedded to the end and stored after it was told the batch failed: the batch stops
    at the next chunk, DeadlineExceeded, and nothing of it is written."""
    db.create_collection("clips", EmbeddingSpace(0, text_encoder="default"))
    db.create_video("clips", "v")
    batch = [SegmentInput("v", i * 1000, i * 1000 + 1000, None, f"caption {i} of a long batch") for i in range(3000)]
    started = time.perf_counter()
    with pytest.raises(DeadlineExceeded, match="before the batch was stored; nothing of it was"):
        db.append_segments("clips", batch, deadline=time.monotonic() + 0.2)
    # 3,000 captions take seconds; the batch stopped within a chunk of its deadline.
    assert time.perf_counter() - started < 3
    assert db.get_video("clips", "v").segment_count == 0
    db.append_segments("clips", batch[:5], deadline=time.monotonic() + 60)  # time to spare: stored
    assert db.get_video("clips", "v").segment_count == 5


def test_a_batch_embedding_its_texts_does_not_hold_up_another_writer(
    db: Database, encoder: TextEncoder, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A batch's captions are embedded before the collection's write lock is taken: a
    writer sending vectors commits meanwhile instead of waiting out the embedding."""
    db.create_collection("clips", EmbeddingSpace(0, text_encoder="default"))
    db.create_video("clips", "captioned")
    db.create_video("clips", "filmed")
    kick = encoder.encode_query("a corner kick")
    embedding, released = threading.Event(), threading.Event()
    real = encoder.encode

    def held_encode(texts: list[str]) -> np.ndarray:
        embedding.set()
        released.wait(10)  # the embedding lasts until the other writer is done
        return real(texts)

    monkeypatch.setattr(encoder, "encode", held_encode)
    captioned = [SegmentInput("captioned", 0, 1000, None, "a header into the top corner")]
    writer = threading.Thread(target=db.append_segments, args=("clips", captioned))
    writer.start()
    try:
        assert embedding.wait(10)
        started = time.perf_counter()
        db.append_segments("clips", [SegmentInput("filmed", 0, 1000, kick)])
        waited = time.perf_counter() - started
    finally:
        released.set()
        writer.join(30)
    assert waited < 5
    assert [db.get_video("clips", v).segment_count for v in ("captioned", "filmed")] == [1, 1]


def test_a_repeated_batch_of_texts_is_answered_without_embedding_it_again(
    db: Database, encoder: TextEncoder, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A retried append (same request id) of captions replays its first answer, and does
    not pay for embedding them again to find out."""
    db.create_collection("clips", EmbeddingSpace(0, text_encoder="default"))
    db.create_video("clips", "v")
    batch = [SegmentInput("v", i * 1000, i * 1000 + 1000, None, f"caption {i}") for i in range(3)]
    first = db.append_segments("clips", batch, request_id="load-1")
    calls: list[int] = []
    real = encoder.encode
    monkeypatch.setattr(encoder, "encode", lambda texts: calls.append(len(texts)) or real(texts))
    again = db.append_segments("clips", batch, request_id="load-1")
    assert again.replayed and again.segment_ids == first.segment_ids and again.commit_sequence == first.commit_sequence
    assert calls == [] and db.get_video("clips", "v").segment_count == 3


def test_a_batch_of_texts_the_store_refuses_is_refused_before_it_is_embedded(
    db: Database, encoder: TextEncoder, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Captions for a sealed video, or overlapping stored segments, are refused at once:
    embedding them first would take seconds (and the process's encoder) for nothing."""
    db.create_collection("clips", EmbeddingSpace(0, text_encoder="default"))
    db.create_video("clips", "v")
    db.append_segments("clips", [SegmentInput("v", 0, 1000, None, "kick off")])
    calls: list[int] = []
    real = encoder.encode
    monkeypatch.setattr(encoder, "encode", lambda texts: calls.append(len(texts)) or real(texts))
    with pytest.raises(AlreadyExists) as err:
        db.append_segments("clips", [SegmentInput("v", 500, 1500, None, "a pass back")])
    assert err.value.field == "segments[0].start_ms"
    db.seal_video("clips", "v")
    with pytest.raises(FailedPrecondition) as err:
        db.append_segments("clips", [SegmentInput("v", 1000, 2000, None, "a pass back")])
    assert err.value.field == "segments[0].video_id"
    assert calls == [] and db.get_video("clips", "v").segment_count == 1
