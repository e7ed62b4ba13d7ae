"""Which labels of a collection name the event a query counts or lists."""

from __future__ import annotations

import pytest

from hierarchy.candidates import matching_labels

LABELS = ["goal", "goal kick", "corner kick", "yellow card", "goalkeeper save", "throw-in", "offsides", "进球", "pass"]


@pytest.mark.parametrize(
    ("event", "found"),
    [
        ("goals", ["goal"]),  # the label of those very words, not also 'goal kick'
        ("goal", ["goal"]),
        ("corners", ["corner kick"]),  # else the labels holding every word
        ("yellow cards", ["yellow card"]),
        ("save", ["goalkeeper save"]),
        ("throw ins", ["throw-in"]),
        ("offside", ["offsides"]),
        ("进球", ["进球"]),  # any script
        ("passes", ["pass"]),
        ("kick", ["goal kick", "corner kick"]),
        ("header", []),
        ("", []),
    ],
)
def test_labels_match_an_event_word_for_word(event: str, found: list[str]) -> None:
    assert matching_labels(event, LABELS) == found
