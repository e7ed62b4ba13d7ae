"""The vector a search scores with: the client's, an example node's, or its text embedded."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import duckdb
import numpy as np

from hierarchy import auto, nodes, validate
from hierarchy.encoder import get_encoder
from hierarchy.errors import FailedPrecondition, NotFound
from hierarchy.query import parse
from hierarchy.types import Collection, Level, Mode, Route, SearchQuery

# The stored vector of a node of a level (None when it is gone).
VectorOf = Callable[[Level, int], "np.ndarray | None"]


@dataclass(frozen=True)
class ExampleNode:
    """The node a query-by-example search starts from."""

    key: int
    level: Level


def resolve(
    cur: duckdb.DuckDBPyConnection, coll: Collection, query: SearchQuery, vector_of: VectorOf
) -> tuple[np.ndarray, ExampleNode | None]:
    """The vector that scores ``query``, and the example node when it is a search by example."""
    space = coll.space
    if query.node_id:
        if query.vector is not None:
            raise validate.InvalidArgument(
                "vector", "a search by example scores with node_id's vector: send one or the other"
            )
        return _example(cur, coll, query.node_id, vector_of)
    if query.vector is not None:
        return validate.query_vectors([query.vector], space.dimension, space.metric, lambda _: "vector")[0], None
    if not query.text.strip():
        raise validate.InvalidArgument("text", "give a query text, a query vector or a node_id")
    if not space.text_encoder:
        raise FailedPrecondition(f"collection {coll.name!r} has no text encoder; send a query vector", "text")
    encoder = get_encoder(space.text_encoder)
    phrase = auto.event_phrase(parse(query.text)) if query.mode is not Mode.LEVEL else None
    if phrase is not None:  # the routed search embeds its event phrase too: both in one pass
        return encoder.encode_queries([query.text, phrase])[0], None
    return encoder.encode_query(query.text), None


def level_route(query: SearchQuery) -> Route:
    """The route of a search at one level, and why that level; a text sent beside a vector
    or an example is said to be unread (only a routed search parses it), not dropped unseen."""
    why = "the example's level" if query.node_id and query.level_of_example else "requested explicitly"
    if query.text.strip() and (query.node_id or query.vector is not None):
        scorer = "the example's vector" if query.node_id else "the query vector"
        why += f"; the text is not read: at one level {scorer} scores (AUTO or ALL parse it)"
    return Route((query.level,), f"level {query.level.label}: {why}")


def _example(
    cur: duckdb.DuckDBPyConnection, coll: Collection, node_id: str, vector_of: VectorOf
) -> tuple[np.ndarray, ExampleNode]:
    validate.node_id(node_id, "node_id")
    found = nodes.by_ids(cur, coll.id, [node_id]).get(node_id)
    if found is None:
        raise NotFound(f"node {node_id!r} does not exist in collection {coll.name!r}", "node_id")
    key, node = found
    vector = vector_of(node.level, key)
    if vector is None:  # deleted or rebuilt since it was looked up
        raise NotFound(f"node {node_id!r} does not exist in collection {coll.name!r}", "node_id")
    return vector, ExampleNode(key, node.level)
