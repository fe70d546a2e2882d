"""Call log, effect counters and idempotency records of the sim.

Tests prove "exactly once" by counting *effects* (changes that reached the estate), not calls:
a retried call with the same idempotency key is a call but not an effect. Everything here is
guarded by a lock because executor workers call the sim from several threads. The log sits
behind the small :class:`CallStore` protocol so a file- or SQLite-backed store can replace the
in-memory one when several processes must share counts.
"""

from __future__ import annotations

import json
import threading
from collections import Counter
from collections.abc import Iterator, Mapping
from datetime import datetime
from typing import Any, Protocol

from pydantic import BaseModel, ConfigDict

__all__ = [
    "CallLog",
    "CallRecord",
    "CallStore",
    "IdempotencyStore",
    "MemoryCallStore",
    "fingerprint",
]


class CallRecord(BaseModel):
    """One call made to a sim adapter."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    seq: int
    category: str
    method: str
    target: str | None
    args: dict[str, Any]
    idempotency_key: str | None
    at: datetime
    outcome: str
    """``ok``, ``replayed`` (same key, same arguments) or the error class name raised."""


class CallStore(Protocol):
    """Storage behind :class:`CallLog`; implementations must be safe to call concurrently."""

    def append(self, record: CallRecord) -> None:
        """Keep one call record."""
        ...

    def records(self) -> list[CallRecord]:
        """Every record, oldest first."""
        ...

    def add_effect(self, category: str, method: str, target: str | None) -> None:
        """Count one change that reached the estate."""
        ...

    def effects(self) -> Mapping[tuple[str, str, str | None], int]:
        """Counts per (category, method, target)."""
        ...


class MemoryCallStore:
    """In-process :class:`CallStore`."""

    def __init__(self) -> None:
        self._records: list[CallRecord] = []
        self._effects: Counter[tuple[str, str, str | None]] = Counter()
        self._lock = threading.Lock()

    def append(self, record: CallRecord) -> None:
        """Keep one call record."""
        with self._lock:
            self._records.append(record)

    def records(self) -> list[CallRecord]:
        """Every record, oldest first."""
        with self._lock:
            return list(self._records)

    def add_effect(self, category: str, method: str, target: str | None) -> None:
        """Count one change that reached the estate."""
        with self._lock:
            self._effects[(category, method, target)] += 1

    def effects(self) -> Mapping[tuple[str, str, str | None], int]:
        """A snapshot of the counts."""
        with self._lock:
            return dict(self._effects)


class CallLog:
    """Every call to the sim and every effect it had; iterable, sized, thread-safe."""

    def __init__(self, store: CallStore | None = None) -> None:
        self._store: CallStore = store if store is not None else MemoryCallStore()
        self._seq = 0
        self._lock = threading.Lock()

    def record(
        self,
        *,
        category: str,
        method: str,
        target: str | None,
        args: dict[str, Any],
        idempotency_key: str | None,
        at: datetime,
        outcome: str,
    ) -> CallRecord:
        """Append one call and return its record."""
        with self._lock:
            self._seq += 1
            seq = self._seq
        rec = CallRecord(
            seq=seq,
            category=category,
            method=method,
            target=target,
            args=args,
            idempotency_key=idempotency_key,
            at=at,
            outcome=outcome,
        )
        self._store.append(rec)
        return rec

    def add_effect(self, category: str, method: str, target: str | None) -> None:
        """Count one change that reached the estate."""
        self._store.add_effect(category, method, target)

    def effects(self, category: str, method: str, target: str | None = None) -> int:
        """How many changes ``category.method`` made (on ``target``, or on any target)."""
        return sum(
            n
            for (cat, meth, tgt), n in self._store.effects().items()
            if cat == category and meth == method and (target is None or tgt == target)
        )

    def filter(
        self,
        *,
        category: str | None = None,
        method: str | None = None,
        outcome: str | None = None,
    ) -> list[CallRecord]:
        """Records matching every given field."""
        return [
            r
            for r in self._store.records()
            if (category is None or r.category == category)
            and (method is None or r.method == method)
            and (outcome is None or r.outcome == outcome)
        ]

    def __iter__(self) -> Iterator[CallRecord]:
        return iter(self._store.records())

    def __len__(self) -> int:
        return len(self._store.records())


def fingerprint(method: str, args: Mapping[str, Any]) -> str:
    """A canonical text form of a call, to compare two uses of one idempotency key."""
    return json.dumps({"method": method, "args": args}, sort_keys=True, default=str)


class IdempotencyStore:
    """Results of mutating calls by (category, key); not thread-safe on its own.

    The estate lock guards it, because looking up a key and applying the change must be one
    atomic step or two racing retries could both act.
    """

    def __init__(self) -> None:
        self._seen: dict[tuple[str, str], tuple[str, object]] = {}

    def lookup(self, category: str, key: str) -> tuple[str, object] | None:
        """The (fingerprint, result) stored for the key, if any."""
        return self._seen.get((category, key))

    def store(self, category: str, key: str, fp: str, result: object) -> None:
        """Remember the result of the first successful application of ``key``."""
        self._seen[(category, key)] = (fp, result)
