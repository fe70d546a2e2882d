"""Call log, effect counters and idempotency records of the sim.

Tests prove "exactly once" by counting *effects* (changes that reached the estate), not calls:
a retried call with the same idempotency key is a call but not an effect. Everything here is
guarded by a lock because executor workers call the sim from several threads. The log and the
idempotency records sit behind the small :class:`CallStore` protocol so a SQLite-backed store
(:mod:`adapters.sim.sqlite_store`) can replace the in-memory one when several processes, or a
restarted one, must share them. The store also hands out named sequences and keeps shared
objects, so replicas on one store number tickets from one counter and see each other's tickets.
"""

from __future__ import annotations

import json
import threading
from collections import Counter
from collections.abc import Iterator, Mapping
from contextlib import AbstractContextManager, nullcontext
from datetime import datetime
from typing import Any, Protocol

from pydantic import BaseModel, ConfigDict

__all__ = [
    "CallLog",
    "CallRecord",
    "CallStore",
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
    """Storage behind :class:`CallLog` and the idempotency records of one estate.

    Implementations must be safe to call from several threads; :meth:`exclusive` must make the
    idempotency check and the change one atomic step for every party sharing the store.
    """

    def append(self, record: CallRecord) -> CallRecord:
        """Keep one call record; return it with the sequence number the store gave it."""
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

    def lookup(self, category: str, key: str) -> tuple[str, object] | None:
        """The (fingerprint, result) stored for an idempotency key, if any."""
        ...

    def remember(self, category: str, key: str, fp: str, result: object) -> None:
        """Keep the result of the first successful application of ``key``."""
        ...

    def exclusive(self) -> AbstractContextManager[None]:
        """Hold off every other writer while a key is checked and its change applied."""
        ...

    def next_number(self, name: str, *, after: int = 0) -> int:
        """The next value of the named sequence, unique among every party sharing the store.

        Args:
            name: the sequence (``tk`` for ticket ids, ``TCK`` for ticket numbers ...).
            after: the value is greater than this too (numbers already taken outside the
                sequence, e.g. tickets loaded from the twin).
        """
        ...

    def save_object(self, kind: str, key: str, value: BaseModel) -> None:
        """Keep the current state of one shared object (a ticket), replacing the last one."""
        ...

    def load_object(self, kind: str, key: str) -> BaseModel | None:
        """The state kept for ``(kind, key)``, if any party saved one."""
        ...

    def objects(self, kind: str) -> list[BaseModel]:
        """Every object of ``kind`` kept, in the order they were first saved."""
        ...


class MemoryCallStore:
    """In-process :class:`CallStore` (the estate's own lock already serialises writers)."""

    def __init__(self) -> None:
        self._records: list[CallRecord] = []
        self._effects: Counter[tuple[str, str, str | None]] = Counter()
        self._seen: dict[tuple[str, str], tuple[str, object]] = {}
        self._sequences: Counter[str] = Counter()
        self._objects: dict[tuple[str, str], BaseModel] = {}
        self._lock = threading.Lock()

    def append(self, record: CallRecord) -> CallRecord:
        """Keep one call record, numbered in arrival order."""
        with self._lock:
            rec = record.model_copy(update={"seq": len(self._records) + 1})
            self._records.append(rec)
            return rec

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

    def lookup(self, category: str, key: str) -> tuple[str, object] | None:
        """The (fingerprint, result) stored for the key, if any."""
        with self._lock:
            return self._seen.get((category, key))

    def remember(self, category: str, key: str, fp: str, result: object) -> None:
        """Keep the result of the first successful application of ``key``."""
        with self._lock:
            self._seen[(category, key)] = (fp, result)

    def exclusive(self) -> AbstractContextManager[None]:
        """Nothing to do: one process, and the estate lock is held around every change."""
        return nullcontext()

    def next_number(self, name: str, *, after: int = 0) -> int:
        """The next value of the named sequence (1, 2, ... unless ``after`` is higher)."""
        with self._lock:
            self._sequences[name] = max(self._sequences[name], after) + 1
            return self._sequences[name]

    def save_object(self, kind: str, key: str, value: BaseModel) -> None:
        """Keep the current state of one object (frozen records, so no copy is needed)."""
        with self._lock:
            self._objects[(kind, key)] = value

    def load_object(self, kind: str, key: str) -> BaseModel | None:
        """The state kept for ``(kind, key)``, if any."""
        with self._lock:
            return self._objects.get((kind, key))

    def objects(self, kind: str) -> list[BaseModel]:
        """Every object of ``kind``, in the order they were first saved."""
        with self._lock:
            return [v for (k, _), v in self._objects.items() if k == kind]


class CallLog:
    """Every call to the sim and every effect it had; iterable, sized, thread-safe."""

    def __init__(self, store: CallStore | None = None) -> None:
        self.store: CallStore = store if store is not None else MemoryCallStore()

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
        return self.store.append(
            CallRecord(
                seq=0,
                category=category,
                method=method,
                target=target,
                args=args,
                idempotency_key=idempotency_key,
                at=at,
                outcome=outcome,
            )
        )

    def add_effect(self, category: str, method: str, target: str | None) -> None:
        """Count one change that reached the estate."""
        self.store.add_effect(category, method, target)

    def effects(self, category: str, method: str, target: str | None = None) -> int:
        """How many changes ``category.method`` made (on ``target``, or on any target)."""
        return sum(
            n
            for (cat, meth, tgt), n in self.store.effects().items()
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
            for r in self.store.records()
            if (category is None or r.category == category)
            and (method is None or r.method == method)
            and (outcome is None or r.outcome == outcome)
        ]

    def __iter__(self) -> Iterator[CallRecord]:
        return iter(self.store.records())

    def __len__(self) -> int:
        return len(self.store.records())


def fingerprint(method: str, args: Mapping[str, Any]) -> str:
    """A canonical text form of a call, to compare two uses of one idempotency key."""
    return json.dumps({"method": method, "args": args}, sort_keys=True, default=str)
