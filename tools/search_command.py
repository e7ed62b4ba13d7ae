"""``strata search`` and ``strata parse``: a search of a collection by text, and how a
routed search reads a text. ``tools.cli`` registers them among its commands."""

from __future__ import annotations

import json
from enum import Enum
from typing import Annotated

import typer
from google.protobuf import json_format
from rich.table import Table

from service.client import GRANULARITIES, StrataRpcError
from tools.connect import DEFAULT_TARGET, connect
from tools.options import Target, Text, TlsCa, Token, fail
from tools.output import console, escape
from tools.render import print_hits, search_json

# Choices of --level, so a typo is a usage error listing them.
LevelName = Enum("LevelName", {name: name for name in GRANULARITIES}, type=str)  # type: ignore[misc]


def search(
    collection: str,
    text: Text,
    level: Annotated[
        LevelName, typer.Option(help="auto (the router picks), all, segment, scene, drive, half or video.")
    ] = LevelName.auto,
    top_k: Annotated[
        int, typer.Option("--top-k", help="Number of hits (0: the server's default, 10 or its limit if lower).")
    ] = 0,
    video: Annotated[list[str] | None, typer.Option("--video", help="Only this video (repeatable).")] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print one JSON object.")] = False,
    group_by_video: Annotated[
        bool, typer.Option("--group-by-video", help="Answer with videos (--top-k of them), each with its best hits.")
    ] = False,
    group_size: Annotated[int, typer.Option(help="Hits per video when grouping (0 means 3).")] = 0,
    reranker: Annotated[str, typer.Option(help="joint (default), overlap or none.")] = "",
    diversity: Annotated[float, typer.Option(help="0-1: trade relevance for variety in the joint rerank.")] = 0.0,
    target: Target = DEFAULT_TARGET,
    token: Token = None,
    tls_ca: TlsCa = None,
) -> None:
    """Search a collection by text."""
    with connect(target, token, tls_ca) as client:
        try:
            reply = client.search(
                collection,
                text,
                level=level.value,
                top_k=top_k,
                video_ids=video or (),
                reranker=reranker,
                diversity=diversity,
                group_by_video=group_by_video,
                group_size=group_size,
            )
        except StrataRpcError as exc:
            fail(exc)
    if as_json:
        print(json.dumps(search_json(reply)))
    else:
        print_hits(console, text, reply)


def parse_query(
    text: Text,
    as_json: Annotated[bool, typer.Option("--json", help="Print one JSON object.")] = False,
    target: Target = DEFAULT_TARGET,
    token: Token = None,
    tls_ca: TlsCa = None,
) -> None:
    """Show how a routed search reads TEXT: scope, ordinal, count, event phrase, and the
    parts a client embedding with its own model sends part vectors for."""
    with connect(target, token, tls_ca) as client:
        try:
            reading = client.parse_query(text)
        except StrataRpcError as exc:
            fail(exc)
    fields = json_format.MessageToDict(reading, preserving_proto_field_name=True)
    if as_json:
        print(json.dumps(fields))
        return
    table = Table("field", "value", title=escape(f"{text!r}: {reading.explanation}"))
    for key, value in fields.items():
        table.add_row(key, escape(" | ".join(value) if isinstance(value, list) else str(value)))
    console.print(table)
