"""A10: the one intent reader on a labelled corpus; questions, conditionals, negations and quoted
text authorise nothing, and the held-out part is scored (target: every decision right)."""

from __future__ import annotations

from collections import Counter

from tests.agent.intent.corpus import LABELS, load, score


def test_intent_corpus_is_large_and_covers_every_label() -> None:
    rows = load()
    assert len(rows) >= 320
    counts = Counter(r.label for r in rows)
    assert set(counts) == set(LABELS)
    held = [r for r in rows if r.split == "heldout"]
    assert len(held) >= 60
    assert set(Counter(r.label for r in held)) == set(LABELS)


def test_a10_intent_training_part_reads_every_sentence_right() -> None:
    result = score([r for r in load() if r.split == "train"])
    assert result.wrong == ()


def test_a10_intent_held_out_part_authorises_exactly_what_was_asked() -> None:
    result = score([r for r in load() if r.split == "heldout"])
    assert result.false_authorisations == 0, result.wrong
    assert result.decided_right == result.rows, result.wrong
    # Labels are reported; a wrong label that still decides right is not a safety failure.
    assert result.labelled_right >= 0.9 * result.rows, result.wrong
