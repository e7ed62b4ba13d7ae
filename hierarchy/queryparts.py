"""The vectors of a routed query's parts (its sentences, a sequence's two events, a
counted event): the client's, checked against the parts of its text, or embedded."""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

from hierarchy import router, validate
from hierarchy.encoder import get_encoder
from hierarchy.query import parse
from hierarchy.types import Collection, Mode, SearchQuery


def checked(coll: Collection, query: SearchQuery) -> np.ndarray:
    """The client's part vectors as rows, checked: one for each part of a routed search's
    text (``router.parts``), each of the collection's dimension (unit length for cosine)."""
    given = query.part_vectors
    if not given:
        return np.zeros((0, coll.space.dimension), np.float32)
    if query.mode is not Mode.AUTO:
        raise validate.InvalidArgument(
            "part_vectors", "only a routed search (granularity AUTO) scores the parts of its text; send none"
        )
    expected = router.parts(parse(query.text))
    if len(given) != len(expected):
        if not expected:
            why = "none (no description in several sentences, sequence of two events or counted event); send none"
        else:
            listed = "; ".join(f"'{t}'" for t in expected)
            why = f"{len(expected)} ({listed}); send one vector for each, in that order"
        raise validate.InvalidArgument("part_vectors", f"has {len(given)} vectors; the parts of the text: {why}")
    return validate.query_vectors(given, coll.space.dimension, coll.space.metric, lambda i: f"part_vectors[{i}]")


def source(coll: Collection, query: SearchQuery) -> Callable[[tuple[str, ...]], np.ndarray | None] | None:
    """Vectors of a text's parts for a routed search: the client's part vectors for the
    parts of its text, else the parts embedded in one pass (five sentences took 11 ms
    against 27 one by one) and remembered for the next page; None where there is no text
    encoder and no part vectors."""
    given = np.stack(query.part_vectors) if query.part_vectors else None
    name = coll.space.text_encoder
    if given is None and not name:
        return None
    named = router.parts(parse(query.text)) if given is not None else ()

    def vectors(texts: tuple[str, ...]) -> np.ndarray | None:
        if given is not None and tuple(texts) == named:
            return given
        # The encoder is looked up only here: most searches never embed a part.
        return get_encoder(name).encode_queries(list(texts)) if name and texts else None

    return vectors
