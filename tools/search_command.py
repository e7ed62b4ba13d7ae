"""``strata search`` and ``strata parse``: a search of a collection by text, and how a
routed search reads a text. ``tools.cli`` registers them among its commands."""

from __future__ import annotations

import json
import re
import shlex
from dataclasses import dataclass
from enum import Enum
from typing import Annotated

import typer
from rich.table import Table

from service.client import GRANULARITIES, StrataRpcError
from tools.arguments import attribute_conditions, time_ms
from tools.connect import DEFAULT_TARGET, connect
from tools.options import MAX_COUNT, Target, Text, TlsCa, Token, fail
from tools.output import console, escape, quoted
from tools.render import parse_json, print_hits, search_json

# Choices of --level, so a typo is a usage error listing them.
LevelName = Enum("LevelName", {name: name for name in GRANULARITIES}, type=str)  # type: ignore[misc]


@dataclass(frozen=True)
class _Time:
    """A ``--from`` or ``--to`` time: in milliseconds, and as typed (for a message)."""

    ms: int
    typed: str


def _time(raw: str) -> _Time:
    """A ``--from`` or ``--to`` time; a usage error if it is none."""
    try:
        return _Time(time_ms(raw), raw)
    except ValueError as exc:
        raise typer.BadParameter(str(exc)) from None


def search(
    collection: str,
    text: Text,
    level: Annotated[
        LevelName, typer.Option(help="auto (the router picks), all, segment, scene, drive, half or video.")
    ] = LevelName.auto,
    top_k: Annotated[
        int,
        typer.Option("--top-k", max=MAX_COUNT, help="Hits a page (0: the server's default, 10 or its limit if lower)."),
    ] = 0,
    video: Annotated[list[str] | None, typer.Option("--video", help="Only this video (repeatable).")] = None,
    start: Annotated[
        _Time | None,
        typer.Option(
            "--from",
            parser=_time,
            metavar="<time>",
            help="Only hits that end after this time of their video: seconds (12.5) or a clock time (1:30).",
        ),
    ] = None,
    end: Annotated[
        _Time | None,
        typer.Option(
            "--to",
            parser=_time,
            metavar="<time>",
            help="Only hits that start before this time of their video: seconds (90) or a clock time (0:01:30).",
        ),
    ] = None,
    label: Annotated[
        list[str] | None,
        typer.Option(
            "--label", help="Only hits carrying this label (repeatable: any of them; a parent has its segments')."
        ),
    ] = None,
    attr: Annotated[
        list[str] | None,
        typer.Option(
            "--attr",
            metavar="<condition>",
            help='Only hits whose attribute passes: KEY=VALUE (a number, true, false, text, or "80" for text '
            "that reads as a number), KEY>=NUMBER, KEY<=NUMBER (repeatable: all of them).",
        ),
    ] = None,
    page_token: Annotated[
        str, typer.Option("--page-token", help="The next page, from a search with the same TEXT and options.")
    ] = "",
    evidence: Annotated[
        bool,
        typer.Option(
            "--evidence/--no-evidence",
            help="Attach the segments that explain each hit (a parent's row shows the best).",
        ),
    ] = True,
    ancestors: Annotated[
        bool, typer.Option("--ancestors", help="Attach each hit's ancestors (the table's 'within' column).")
    ] = False,
    as_json: Annotated[
        bool, typer.Option("--json", help="Print one JSON object: the route, every field of each hit, next_page_token.")
    ] = False,
    group_by_video: Annotated[
        bool, typer.Option("--group-by-video", help="Answer with videos (--top-k of them), each with its best hits.")
    ] = False,
    group_size: Annotated[int, typer.Option(max=MAX_COUNT, help="Hits per video when grouping (0 means 3).")] = 0,
    reranker: Annotated[str, typer.Option(help="joint (default), tiered, overlap or none.")] = "",
    diversity: Annotated[float, typer.Option(help="0-1: trade relevance for variety in the joint rerank.")] = 0.0,
    target: Target = DEFAULT_TARGET,
    token: Token = None,
    tls_ca: TlsCa = None,
) -> None:
    """Search a collection by text. Filters narrow the hits (each must hold): ``--video``,
    ``--from``/``--to`` (hits overlapping that time), ``--label``, ``--attr``. A page
    that is not the last ends with the ``--page-token`` of the next (``next_page_token``
    in JSON): give it with the same TEXT and options."""
    if group_size and not group_by_video:  # the server ignores it: the hits would come ungrouped without a word
        raise typer.BadParameter(
            "sets the hits per video of --group-by-video: add --group-by-video, or leave --group-size out",
            param_hint="--group-size",
        )
    if end is not None and end.ms == 0:  # the API's end 0 is "to the end of the video": not what --to 0 says
        raise typer.BadParameter("must be after the video's start (leave --to out for its end)", param_hint="--to")
    if start is not None and end is not None and start.ms >= end.ms:  # the API would name its field, time_range
        raise typer.BadParameter(f"--from ({start.typed}) must be before --to ({end.typed})")
    try:
        attributes, typed = attribute_conditions(attr or ())
    except ValueError as exc:
        raise typer.BadParameter(str(exc), param_hint="--attr") from None
    given = _Given(video or [], label or [], typed)
    with connect(target, token, tls_ca) as client:
        try:
            reply = client.search(
                collection,
                text,
                level=level.value,
                top_k=top_k,
                video_ids=given.videos,
                time_range=None if start is None and end is None else (start.ms if start else 0, end.ms if end else 0),
                labels=given.labels,
                attributes=attributes,
                page_token=page_token,
                include_evidence=evidence,
                include_ancestors=ancestors,
                reranker=reranker,
                diversity=diversity,
                group_by_video=group_by_video,
                group_size=group_size,
            )
        except StrataRpcError as exc:
            fail(exc, _text_hint(exc, collection, text) or given.option_of(exc.fields))
    if as_json:
        print(json.dumps(search_json(reply)))
        return
    print_hits(console, text, reply)
    if reply.next_page_token:
        console.print(
            f"next page: the same search with --page-token {escape(shlex.quote(reply.next_page_token))}", soft_wrap=True
        )


def _text_hint(exc: StrataRpcError, collection: str, text: str) -> str:
    """What a user of ``strata search``, which sends a text and nothing else, can do about
    a refusal of the text, or ``""``: the server's message offers a query vector or a
    node_id, which only a client sends."""
    if "text" not in exc.fields:
        return ""
    if exc.code.name == "FAILED_PRECONDITION":  # a collection with no text encoder
        return (
            "this collection takes vectors from its own model: search it from a client with a query vector, "
            f"or find nodes like one with strata node {shlex.quote(collection)} NODE --similar N"
        )
    return "strata search takes a query text only: give one" if not text.strip() else ""


# A field the server names in a refusal: its name and, in a list, its index.
_FIELD = re.compile(r"(filter\.\w+|\w+)(?:\[(\d+)\])?")
_OPTIONS = {
    "filter.time_range": "--from/--to",
    "filter.attributes": "--attr",
    "page_token": "--page-token",
    "top_k": "--top-k",
    "group_size": "--group-size",
    "diversity": "--diversity",
    "reranker": "--reranker",
}


@dataclass(frozen=True)
class _Given:
    """What the options of a search put in its request's lists, as typed, to name the
    option behind a field the server refuses."""

    videos: list[str]
    labels: list[str]
    attributes: list[str]  # the --attr conditions of each key sent, in order

    def option_of(self, fields: dict[str, str]) -> str:
        """``given as --label 'x'``: the option behind the first field refused, or ``""``."""
        for field in fields:
            match = _FIELD.match(field)
            if match is None:
                continue
            name, index = match[1], None if match[2] is None else int(match[2])
            listed = {"filter.video_ids": ("--video", self.videos), "filter.labels": ("--label", self.labels)}
            if name in listed and index is not None and index < len(listed[name][1]):
                option, values = listed[name]
                return f"given as {option} {shlex.quote(values[index])}"
            if name == "filter.attributes" and index is not None and index < len(self.attributes):
                return f"given as --attr {self.attributes[index]}"
            if name in _OPTIONS:
                return f"given as {_OPTIONS[name]}"
        return ""


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
    fields = parse_json(reading)
    if as_json:
        print(json.dumps(fields))
        return
    table = Table("field", "value", title=escape(f"{quoted(text)}: {reading.explanation}"))
    for key, value in fields.items():
        if value not in (None, "", 0, False, []):  # what the text does not say is left out
            table.add_row(key, escape(" | ".join(value) if isinstance(value, list) else str(value)))
    console.print(table)
