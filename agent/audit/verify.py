"""Verifying the audit chain: walk every row in order and compare it with every checkpoint.

:func:`verify_chain` stops at the first problem and says, in a :class:`VerifyResult`, which seq
is wrong and how (an edited, deleted, moved or undecodable row, a truncated tail, a rewritten
chain). :meth:`agent.audit.log.AuditLog.verify` feeds it the checkpoints and the pages of rows.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict
from sqlalchemy import Row

from agent.audit.chain import GENESIS_HASH, compute_hash, iso_utc, row_from_db
from agent.audit.checkpoint import CheckpointEntry

__all__ = ["VerifyProblem", "VerifyResult", "verify_chain"]

VerifyProblem = Literal[
    "hash_mismatch",
    "prev_link_broken",
    "seq_gap",
    "row_unreadable",
    "behind_checkpoint",
    "checkpoint_mismatch",
    "checkpoint_unreadable",
]


class VerifyResult(BaseModel):
    """Outcome of :meth:`AuditLog.verify`."""

    model_config = ConfigDict(frozen=True)

    ok: bool
    """True when every row and every checkpoint agree."""
    rows_checked: int
    """Rows whose link and hash were checked before stopping."""
    checkpoints_checked: int
    """Checkpoint entries compared against the chain."""
    head_seq: int
    """Last seq read (0 for an empty log)."""
    first_bad_seq: int | None = None
    """The first seq at which something is wrong."""
    problem: VerifyProblem | None = None
    """What is wrong there."""
    detail: str
    """One sentence for a person."""


def verify_chain(
    entries: list[CheckpointEntry], pages: Iterator[list[Row[Any]] | Exception]
) -> VerifyResult:
    """Check every row of ``pages`` (in seq order from 1) and every checkpoint entry.

    Args:
        entries: Every checkpoint entry recorded, read before the first page.
        pages: Rows of :func:`agent.audit.chain.select_rows` in seq order, a page at a time; an
            exception in place of a page means the database could not decode those rows.

    Returns:
        The outcome; ``ok`` is false at the first problem found.
    """
    marks: dict[int, list[CheckpointEntry]] = {}
    for entry in entries:
        marks.setdefault(entry.seq, []).append(entry)
    return _Walk(marks).run(pages)


class _Walk:
    """The state of one verification pass."""

    def __init__(self, marks: dict[int, list[CheckpointEntry]]) -> None:
        self.marks = marks
        self.checked = 0
        self.marks_checked = 0
        self.expected_seq = 1
        self.prev = GENESIS_HASH

    def fail(self, seq: int, problem: VerifyProblem, detail: str) -> VerifyResult:
        return VerifyResult(
            ok=False,
            rows_checked=self.checked,
            checkpoints_checked=self.marks_checked,
            head_seq=self.expected_seq - 1,
            first_bad_seq=seq,
            problem=problem,
            detail=detail,
        )

    def run(self, pages: Iterator[list[Row[Any]] | Exception]) -> VerifyResult:
        for page in pages:
            if isinstance(page, Exception):
                return self.fail(
                    self.expected_seq,
                    "row_unreadable",
                    f"rows from seq {self.expected_seq} cannot be decoded: {page}",
                )
            for raw in page:
                bad = self.check(raw)
                if bad is not None:
                    return bad
        head = self.expected_seq - 1
        if self.marks and max(self.marks) > head:
            top = self.marks[max(self.marks)][0]
            return self.fail(
                head + 1,
                "behind_checkpoint",
                f"the log ends at seq {head} but a checkpoint recorded seq {top.seq} "
                f"(at {iso_utc(top.at)}): rows were removed from the tail",
            )
        return VerifyResult(
            ok=True,
            rows_checked=self.checked,
            checkpoints_checked=self.marks_checked,
            head_seq=head,
            detail=f"{self.checked} rows and {self.marks_checked} checkpoints verify",
        )

    def check(self, raw: Row[Any]) -> VerifyResult | None:
        seq = raw.seq
        if seq != self.expected_seq:
            return self.fail(
                seq, "seq_gap", f"seq {self.expected_seq} is missing: the next row is seq {seq}"
            )
        if raw.prev_hash != self.prev:
            return self.fail(
                seq,
                "prev_link_broken",
                f"row {seq} does not link to row {seq - 1}: a row was deleted, moved or replaced",
            )
        try:
            row = row_from_db(raw)
            recomputed = compute_hash(row)
        except (ValueError, TypeError) as exc:
            return self.fail(seq, "row_unreadable", f"row {seq} cannot be decoded: {exc}")
        if recomputed != row.hash:
            return self.fail(
                seq, "hash_mismatch", f"row {seq} was changed after it was written (hash mismatch)"
            )
        for mark in self.marks.get(seq, ()):
            self.marks_checked += 1
            if mark.hash != row.hash:
                return self.fail(
                    seq,
                    "checkpoint_mismatch",
                    f"row {seq} differs from the checkpoint taken at {iso_utc(mark.at)}: "
                    "the chain was rewritten",
                )
        self.checked += 1
        self.expected_seq = seq + 1
        self.prev = row.hash
        return None
