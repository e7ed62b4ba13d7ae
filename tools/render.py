"""How the command line draws what the server answers: search hits as a table (a table a
video when grouped) or JSON, subtrees as trees, a node and what ``strata node`` lists
around it, how a level is searched."""

from __future__ import annotations

from typing import Any

from google.protobuf import json_format
from rich.console import Console
from rich.table import Column, Table
from rich.tree import Tree as RichTree

from service.client import METRICS, StrataClient
from service.gen.strata.v1 import common_pb2
from tools.output import escape, many, quoted


def search_json(reply: Any) -> dict[str, Any]:
    """A search response as the CLI's JSON object: its route, hits (or groups of them by
    video), and the token of the next page (``""`` on the last)."""
    route = {
        "levels": [level_name(lv) for lv in reply.route.levels],
        "reason": reply.route.reason,
        "confidence": {level_name(c.level): round(c.confidence, 4) for c in reply.route.confidences},
        "parse": parse_json(reply.route.parse),
        "in_time_order": reply.route.in_time_order,
    }
    out: dict[str, Any] = {"route": route, "hits": [_hit_json(h) for h in reply.hits]}
    if reply.groups:
        out["groups"] = [
            {"rank": g.rank, "video_id": g.video_id, "score": round(g.score, 6), "hits": [_hit_json(h) for h in g.hits]}
            for g in reply.groups
        ]
    out["next_page_token"] = reply.next_page_token  # "" on the last page
    return out


def _hit_json(h: Any) -> dict[str, Any]:
    """A hit: its node's fields, then how it ranks, what explains it and where it sits."""
    out = {
        "rank": h.rank,  # across pages; within its video in a group
        **_node_json(h.node),
        "focus": [h.focus.start_ms, h.focus.end_ms],
        "score": round(h.score, 6),
        "similarity": round(h.similarity, 6),  # the raw similarity: score is a z-score on a routed search
        "raw_score": round(h.raw_score, 6),  # before the joint rerank
    }
    if h.HasField("count"):  # the route counted an event: how many the node holds
        out["count"] = h.count
    out["evidence"] = [_hit_json(e) for e in h.evidence]  # empty with --no-evidence
    out["ancestors"] = [_node_json(a) for a in h.ancestors]  # parent first; with --ancestors
    return out


def _node_json(node: Any) -> dict[str, Any]:
    """A node's fields as the API returns them (its attributes' numbers are doubles)."""
    return {
        "id": node.id,
        "level": level_name(node.level),
        "video_id": node.video_id,
        "start_ms": node.start_ms,
        "end_ms": node.end_ms,
        "parent_id": node.parent_id,
        "text": node.text,
        "labels": list(node.labels),
        "attributes": json_format.MessageToDict(node.attributes),
        "child_count": node.child_count,
        "label_counts": dict(node.label_counts),
        "shot_cut": node.shot_cut,
    }


def parse_json(parse: Any) -> dict[str, Any]:
    """How the query text was read: every field of the parse, a level by its name (None
    where the parse names none), a list as a list (``search --json`` and ``parse --json``
    alike)."""
    out: dict[str, Any] = {}
    for field in parse.DESCRIPTOR.fields:
        value = getattr(parse, field.name)
        if field.enum_type is common_pb2.Level.DESCRIPTOR:
            value = level_name(value) if value else None
        elif field.is_repeated:
            value = list(value)
        out[field.name] = value
    return out


def message_json(message: Any) -> dict[str, Any]:
    """A reply as the CLI's ``--json``: every field by its proto name (zeros and empty lists
    included, counts as numbers), levels, metrics, problem kinds and video states named as
    the options and ``search --json`` name them (``scene``, ``cos``, ``index_mismatch``,
    ``sealed``)."""
    data = json_format.MessageToDict(
        message,
        always_print_fields_with_no_presence=True,
        preserving_proto_field_name=True,
        unquote_int64_if_possible=True,
    )
    return _enums_named(data)


_METRIC_FLAGS = {common_pb2.Metric.Name(value): flag for flag, value in METRICS.items()}
_ENUM_NAMES = {
    "level": lambda name: name.removeprefix("LEVEL_").lower(),
    "metric": lambda name: _METRIC_FLAGS.get(name, name),
    "kind": lambda name: name.removeprefix("VERIFY_PROBLEM_KIND_").lower(),
    "state": lambda name: name.removeprefix("VIDEO_STATE_").lower(),
}


def metric_flag(metric: int) -> str:
    """A metric as ``--metric`` takes it (``cos``, not cosine); a newer server's, its number."""
    name = common_pb2.Metric.Name(metric) if metric in common_pb2.Metric.values() else ""
    return _METRIC_FLAGS.get(name, str(metric))


def _enums_named(value: Any) -> Any:
    if isinstance(value, list):
        return [_enums_named(item) for item in value]
    if not isinstance(value, dict):
        return value
    named = {k: _ENUM_NAMES[k](v) if k in _ENUM_NAMES and isinstance(v, str) else v for k, v in value.items()}
    return {k: _enums_named(v) for k, v in named.items()}


def level_name(value: int) -> str:
    """A level's lower-case name (``LEVEL_SCENE`` -> ``scene``)."""
    return common_pb2.Level.Name(value).removeprefix("LEVEL_").lower()


def clock(ms: int) -> str:
    """A time of a video as H:MM:SS (milliseconds dropped)."""
    seconds = ms // 1000
    return f"{seconds // 3600}:{seconds // 60 % 60:02d}:{seconds % 60:02d}"


def print_hits(out: Console, text: str, reply: Any) -> None:
    """Draw a search response: a table of its hits, or, grouped by video, a table per
    video headed by its place, id and number of hits."""
    chosen = ", ".join(level_name(lv) for lv in reply.route.levels)
    title = escape(f"{quoted(text)} → {chosen}: {reply.route.reason}")  # the query and the reason are text, not markup
    if reply.hits or not reply.groups:
        out.print(_hits_table(reply.hits, title))
        return
    out.print(title, soft_wrap=True)
    for group in reply.groups:
        hits = many(len(group.hits), "hit")
        heading = f"{group.rank}. video {escape(group.video_id)}: {hits}, best score {group.score:.3f}"
        # The server numbers a group's hits from 1 in each video: the header says so.
        out.print(_hits_table(group.hits, heading, in_video=True))


def _hits_table(hits: Any, title: str, in_video: bool = False) -> Table:
    """Hits as a table; ``in_video``: one video's, ranked within it (the title names it).
    Hits with ancestors show them, from the video down, in a ``within`` column."""
    video = [] if in_video else ["video"]
    rank = "# in video" if in_video else "#"
    heading = {"title_justify": "left", "title_style": "bold"} if in_video else {}
    counted = ["count"] if any(h.HasField("count") for h in hits) else []  # how many of the event each holds
    within = ["within"] if any(h.ancestors for h in hits) else []  # asked for with --ancestors
    table = Table(rank, "level", *video, "span", *counted, "score", "text", *within, title=title, **heading)
    for h in hits:
        n = h.node
        table.add_row(
            str(h.rank),
            level_name(n.level),
            *([] if in_video else [escape(n.video_id)]),
            f"{clock(n.start_ms)}–{clock(n.end_ms)}",
            *([str(h.count)] if counted else []),
            f"{h.score:.3f}",
            escape(_shown_text(h)),
            *([escape(" › ".join(a.id for a in reversed(h.ancestors)))] if within else []),
        )
    return table


def _shown_text(hit: Any) -> str:
    """A hit's caption, cut to 70 characters: a parent's is its best moment's, with its
    time (a half's own text is its first captions, which say nothing of why it answers)."""
    node, text = hit.node, hit.node.text
    if hit.evidence and node.level != common_pb2.LEVEL_SEGMENT and hit.evidence[0].node.text:
        moment = hit.evidence[0].node
        text = f"at {clock(moment.start_ms)}: {moment.text}"
    return (text[:70] + "…") if len(text) > 70 else text


def draw_tree(nodes: list[Any]) -> RichTree:
    """A subtree (depth-first, with depths) as a rich tree."""
    root = RichTree(node_line(nodes[0].node))
    branches = {0: root}
    for item in nodes[1:]:
        branches[item.depth] = branches[item.depth - 1].add(node_line(item.node))
    return root


def node_line(node: Any) -> str:
    """One line about a node, in rich markup: its level, id, span, and labels or children.
    All but the level is escaped as one piece: ids, labels and captions are the user's
    text, and "[" in one and "]" in the next must not make a tag either."""
    span = f"{node.id} {clock(node.start_ms)}–{clock(node.end_ms)}"
    if not node.child_count:  # a segment: its own labels and caption
        text = node.text if len(node.text) <= 60 else node.text[:59] + "…"
        parts = [span + (" · shot cut" if node.shot_cut else ""), ", ".join(node.labels), text]
    else:
        top = sorted(node.label_counts.items(), key=lambda kv: (-kv[1], kv[0]))[:3]
        parts = [span, many(node.child_count, "child", "children"), ", ".join(f"{name} x{n}" for name, n in top)]
    rest = " · ".join(part for part in parts if part)  # no empty field between two dots
    return f"[bold]{level_name(node.level)}[/bold] {escape(rest)}"


def node_sections(
    client: StrataClient, collection: str, node_id: str, children: bool, ancestors: bool, neighbors: int, similar: int
) -> list[tuple[str, list[str]]]:
    """What ``strata node`` lists after the node itself: (title, lines) per section asked for."""
    out: list[tuple[str, list[str]]] = []
    if children:
        out.append(("children", [node_line(n) for n in client.list_children(collection, node_id)]))
    if ancestors:
        out.append(("ancestors", [node_line(n) for n in client.ancestors(collection, node_id)]))
    if neighbors:
        around = client.neighbors(collection, node_id, neighbors, neighbors)
        out.append(("before", [node_line(n) for n in around.before]))
        out.append(("after", [node_line(n) for n in around.after]))
    if similar:
        found = client.find_similar(collection, node_id, similar)
        out.append(("similar", [f"{s.similarity:.3f} {node_line(s.node)}" for s in found]))
    return out


def search_kind(exact: bool, unlinked: int) -> str:
    """How a level is searched: exactly, or HNSW (with how many vectors still await linking)."""
    if exact:
        return "exact"
    return f"hnsw + {unlinked:,} linking" if unlinked else "hnsw"


def stats_table(reply: Any) -> Table:
    """A row per collection and level: node and index counts, how the level is searched;
    a collection with nothing ingested yet has one row of its own."""
    # A name is folded onto more lines, never cut: the table is what an operator copies it from.
    table = Table(Column("collection", overflow="fold"), "videos", "level", "nodes", "indexed", "watermark", "search")
    for c in reply.collections:
        # Every level is listed, zero where empty (a server before that listed none).
        if not any(lv.node_count or lv.indexed_count for lv in c.levels):
            table.add_row(escape(c.name), str(c.video_count), "-", "0", "0", "-", "-")
            continue
        for lv in c.levels:
            counts = (str(lv.node_count), str(lv.indexed_count), str(lv.indexed_sequence))
            searched = search_kind(lv.exact, lv.unlinked_count)
            table.add_row(escape(c.name), str(c.video_count), level_name(lv.level), *counts, searched)
    return table
