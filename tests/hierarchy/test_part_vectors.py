"""Part vectors: a client that embeds with its own model sends a vector for each part of a
routed search's text (a sequence's events, a description's sentences), and is answered
as a collection with a built-in encoder answers."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest

from hierarchy.db import Database
from hierarchy.encoder import get_encoder
from hierarchy.errors import InvalidArgument
from hierarchy.query import parse
from hierarchy.router import parts
from hierarchy.types import EmbeddingSpace, Level, Mode, SearchQuery, SearchResult, SegmentInput
from tests.hierarchy.helpers import fast_options

OWN, BUILT = "own-model", "built-in"
DOG, CAT, FILLER = "a dog barks loudly at the gate", "a cat jumps onto the garden fence", "rain falls on the street"
KITCHEN = ["a chef slices onions on a board", "a pan of oil sizzles on the stove", "the chef plates a steak"]
GARDEN = ["a man mows the lawn in the sun", "he trims the hedge with shears", "a dog runs across the grass"]
# "v": a dog then a cat at 1-2 and at 9-11, a lone cat at 5. "k", "g": a kitchen and a garden.
VIDEOS = {
    "v": [FILLER, DOG, CAT, FILLER, FILLER, CAT, FILLER, FILLER, FILLER, DOG, FILLER, CAT, FILLER, FILLER],
    "k": [c for c in KITCHEN for _ in range(4)],
    "g": [c for c in GARDEN for _ in range(4)],
}
SEQUENCE = "a dog barking then a cat jumping"
PARAGRAPH = "A man mows the lawn on a sunny day. Then he trims the hedge with a pair of shears."


@pytest.fixture(scope="module")
def library(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Database]:
    """The same vectors twice: in a collection with no text encoder (the client's own
    model) and in one with the built-in encoder (which then embeds the query's parts)."""
    db = Database.open(Path(tmp_path_factory.mktemp("parts")), fast_options())
    encoder = get_encoder()
    db.create_collection(OWN, EmbeddingSpace(encoder.dimension))
    db.create_collection(BUILT, EmbeddingSpace(0, text_encoder="default"))
    for video, captions in VIDEOS.items():
        vectors = encoder.encode(captions)
        rows = [SegmentInput(video, 2000 * i, 2000 * (i + 1), vectors[i], c) for i, c in enumerate(captions)]
        for coll in (OWN, BUILT):
            db.create_video(coll, video)
            db.append_segments(coll, rows)
            db.seal_video(coll, video)
    yield db
    db.close()


def routed(db: Database, coll: str, text: str, **kwargs: object) -> SearchResult:
    vector = get_encoder().encode([text])[0]  # the client embeds the whole text, as for any search
    return db.search(SearchQuery(coll, text=text, vector=vector, mode=Mode.AUTO, top_k=5, **kwargs))


def same_answers(one: SearchResult, other: SearchResult) -> bool:
    """The same hits in the same order, their scores alike to float32's precision (the
    two collections' statistics are summed apart: rounded to five places, 3.2526049 and
    3.2526051 once differed)."""
    ids, scores = [h.node.id for h in one.hits], [h.score for h in one.hits]
    return ids == [h.node.id for h in other.hits] and scores == pytest.approx([h.score for h in other.hits], rel=1e-6)


def own_parts(text: str) -> tuple[np.ndarray, ...]:
    """What a client embedding with its own model sends: a vector per part, in order."""
    return tuple(get_encoder().encode(list(parts(parse(text)))))


def test_the_parts_of_a_text_are_a_sequences_events_or_a_descriptions_sentences() -> None:
    assert parts(parse(SEQUENCE)) == ("dog barking", "a cat jumping")
    assert parts(parse(PARAGRAPH)) == (
        "A man mows the lawn on a sunny day",
        "Then he trims the hedge with a pair of shears",
    )
    assert parts(parse("a dog barking")) == ()


def test_a_sequence_with_the_clients_part_vectors_is_answered_as_the_built_in_encoder_answers(
    library: Database,
) -> None:
    own = routed(library, OWN, SEQUENCE, part_vectors=own_parts(SEQUENCE))
    built = routed(library, BUILT, SEQUENCE)
    assert own.route.reason.startswith("a sequence: 'dog barking' then")
    assert same_answers(own, built) and own.route.reason == built.route.reason
    best = own.hits[0]  # the dog at 1, the cat right after it
    assert (best.node.start_ms, best.focus.start_ms, best.focus.end_ms) == (2000, 2000, 6000)
    # Without them the events cannot be scored apart: single moments by the whole text,
    # and the reason says why no pair was made.
    alone = routed(library, OWN, SEQUENCE)
    assert not alone.route.reason.startswith("a sequence:")
    assert "a sequence ('dog barking' then 'a cat jumping') not paired: no vector for each event" in alone.route.reason


def test_a_description_with_the_clients_part_vectors_is_answered_as_the_built_in_encoder_answers(
    library: Database,
) -> None:
    own = routed(library, OWN, PARAGRAPH, part_vectors=own_parts(PARAGRAPH))
    built = routed(library, BUILT, PARAGRAPH)
    assert own.route.levels == (Level.VIDEO,) and "each sentence's best scene" in own.route.reason
    assert same_answers(own, built) and own.route.reason == built.route.reason
    assert own.hits[0].node.video_id == "g"
    assert "each sentence" not in routed(library, OWN, PARAGRAPH).route.reason


def test_a_count_with_the_clients_vector_for_its_event_is_answered_as_the_built_in_encoder_answers(
    library: Database,
) -> None:
    text = "a video with at least two dogs barking"  # no label names them: matches are counted
    assert parts(parse(text)) == ("dogs barking",)
    own = routed(library, OWN, text, part_vectors=own_parts(text))
    assert same_answers(own, routed(library, BUILT, text)) and own.hits[0].node.video_id == "v"
    assert "nothing counted" not in own.route.reason
    alone = routed(library, OWN, text)
    assert "nothing counted: no label names 'dogs barking'" in alone.route.reason
    assert alone.hits[0].score < own.hits[0].score - 99  # the count's bonus is missing


def test_part_vectors_that_do_not_fit_the_text_are_refused_naming_the_field(library: Database) -> None:
    vectors = own_parts(SEQUENCE)
    with pytest.raises(InvalidArgument, match="'dog barking'; 'a cat jumping'") as wrong_count:
        routed(library, OWN, SEQUENCE, part_vectors=vectors[:1])
    assert wrong_count.value.field == "part_vectors"
    with pytest.raises(InvalidArgument, match="the parts of the text: none") as no_parts:
        routed(library, OWN, "a dog barking", part_vectors=vectors[:1])
    assert no_parts.value.field == "part_vectors"
    with pytest.raises(InvalidArgument, match="dimension 3") as short:
        routed(library, OWN, SEQUENCE, part_vectors=(vectors[0], np.ones(3, np.float32)))
    assert short.value.field == "part_vectors[1]"
    with pytest.raises(InvalidArgument, match="zero vector") as zero:
        routed(library, OWN, SEQUENCE, part_vectors=(np.zeros_like(vectors[0]), vectors[1]))
    assert zero.value.field == "part_vectors[0]"
    one_level = SearchQuery(OWN, Level.SEGMENT, text=SEQUENCE, vector=vectors[0], part_vectors=vectors)
    with pytest.raises(InvalidArgument, match="only a routed search") as level:
        library.search(one_level)
    assert level.value.field == "part_vectors"


def test_a_page_token_holds_only_for_the_part_vectors_it_was_given_with(library: Database) -> None:
    vectors = own_parts(SEQUENCE)
    first = routed(library, OWN, SEQUENCE, part_vectors=vectors)
    assert first.next_page_token
    query = SearchQuery(OWN, text=SEQUENCE, vector=get_encoder().encode([SEQUENCE])[0], mode=Mode.AUTO, top_k=5)
    second = library.search(replace(query, part_vectors=vectors), first.next_page_token)
    assert not {h.node.id for h in first.hits} & {h.node.id for h in second.hits}
    with pytest.raises(InvalidArgument) as other:
        library.search(replace(query, part_vectors=vectors[::-1]), first.next_page_token)
    assert other.value.field == "page_token"
