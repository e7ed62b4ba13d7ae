"""Sequence queries: two events, one after the other ("a cross and then a header",
"a foul followed by a replay"). The parse splits the event phrase at its connective into
the two events; ``hierarchy.pairs`` ranks pairs of moments for them.

Descriptions use "then" too: as an adverb ("the woman then sits down"), or chaining the
actions of one continuous moment ("a man tunes his guitar and then starts to strum it").
Neither is two moments. A sequence names each event briefly (``MAX_WORDS``); after a
bare "then" the second event opens as a noun phrase or a gerund ("then a header", "then
shooting"), not a verb; and a text written as a full sentence (ending in a full stop) is
a description. Of the 17,505 ActivityNet Captions val_1 sentences (all of them full
sentences), 2,434 hold a connective: the first two rules alone read 141 of them as
sequences, all three none.
"""

from __future__ import annotations

import re

# "then", "and then", ", then", "followed by": the connectives that order two events.
_CONNECTIVE = re.compile(r"\s*,?\s*\b(?:(?:and\s+)?then|followed\s+by)\b\s*", re.IGNORECASE)
# Words that say nothing of what happens: a side made only of them names no event.
_EMPTY = frozenset("a an the and it its this that one".split())
_DETERMINERS = frozenset("a an the another some his her their its".split())
MAX_WORDS = 6  # words of each event, at most


def of(text: str, event: str) -> tuple[str, ...]:
    """The events of a query's event phrase, in order, when it names a sequence (see
    :func:`split`); none for a text written as a full sentence."""
    if text.rstrip().endswith("."):
        return ()
    return split(event) or ()


def split(event: str) -> tuple[str, str] | None:
    """The two events of a sequence, in order ("a cross then a header" -> ("a cross",
    "a header")); None unless the phrase has exactly one connective with an event named
    briefly on each side of it (see the module docstring)."""
    found = list(_CONNECTIVE.finditer(event))
    if len(found) != 1:
        return None
    connective = found[0]
    first, second = event[: connective.start()].strip(" ,"), event[connective.end() :].strip(" ,")
    if not (_names_something(first) and _names_something(second)):
        return None
    if len(first.split()) > MAX_WORDS or len(second.split()) > MAX_WORDS:
        return None
    lead = second.split()[0].lower()
    if connective.group().strip().lower() == "then" and not (lead in _DETERMINERS or lead.endswith("ing")):
        return None  # an adverb: "the camera then spins"
    return first, second


def _names_something(phrase: str) -> bool:
    return any(word not in _EMPTY for word in phrase.lower().split())
