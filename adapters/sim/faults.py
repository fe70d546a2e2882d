"""Fault injection for the sim: rules that make calls slow, fail, lie or break things.

A :class:`FaultRule` matches calls by category, method and target; when it matches, it fires
with its ``probability`` (drawn from the estate's seeded random generator, so a run is
reproducible) at most ``times`` times. What firing does depends on ``kind``:

- ``latency``: the call waits ``latency_seconds`` on the estate clock first.
- ``error``: :class:`~adapters.errors.TransientError` before anything is applied (a 5xx).
- ``rate_limit``: :class:`~adapters.errors.RateLimited` with ``retry_after`` (a 429).
- ``auth``: :class:`~adapters.errors.AuthError` (``status`` 401 or 403).
- ``timeout``: the change IS applied, then :class:`~adapters.errors.AmbiguousOutcome` is raised.
- ``partial_failure``: the job on that target ends ``failed`` (patches marked failed).
- ``offline``: the target device drops off the network just before the call is handled.
- ``bad_patch``: installing ``patch_id`` succeeds but breaks ``service`` on the host afterwards.
"""

from __future__ import annotations

import random
import threading
from collections.abc import Iterable
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

from adapters.contracts import Category

__all__ = ["FaultKind", "FaultRule", "FaultSet"]

FaultKind = Literal[
    "latency",
    "error",
    "rate_limit",
    "auth",
    "timeout",
    "partial_failure",
    "offline",
    "bad_patch",
]


# Kinds that only make sense for some categories (they act on devices or on jobs).
_KIND_CATEGORIES: dict[str, tuple[str, ...]] = {
    "offline": ("rmm",),
    "bad_patch": ("rmm",),
    "partial_failure": ("rmm", "backup"),
}


class FaultRule(BaseModel):
    """One fault: which calls it matches and what it does when it fires."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    category: Category
    """Adapter category the rule applies to."""
    call: str | None = None
    """Method name (``reboot``, ``apply_patches`` ...); ``None`` matches every method."""
    target: str | None = None
    """Source-system id of the target (device id, user id, rule id ...); ``None`` matches all."""
    kind: FaultKind
    probability: float = Field(default=1.0, ge=0.0, le=1.0)
    """Chance of firing on each matching call."""
    times: int | None = Field(default=None, ge=1)
    """Fire at most this many times; ``None`` means forever."""
    latency_seconds: float = Field(default=1.0, ge=0)
    """For ``latency``: how long the call waits."""
    retry_after: float | None = Field(default=30.0, ge=0)
    """For ``rate_limit``: the Retry-After the vendor announces (``None``: not announced)."""
    status: Literal[401, 403] = 401
    """For ``auth``: which HTTP status the vendor would answer."""
    patch_id: str | None = None
    """For ``bad_patch``: the patch that breaks something once installed."""
    service: str | None = None
    """For ``bad_patch``: name or id of the service the patch breaks."""

    @model_validator(mode="after")
    def _check_kind(self) -> FaultRule:
        if self.kind == "bad_patch" and (not self.patch_id or not self.service):
            raise ValueError("a bad_patch fault needs both patch_id and service")
        allowed = _KIND_CATEGORIES.get(self.kind)
        if allowed is not None and self.category not in allowed:
            raise ValueError(
                f"a {self.kind} fault applies to {' or '.join(allowed)} calls, not {self.category}"
            )
        return self


class FaultSet:
    """The estate's active fault rules, thread-safe, drawing from one seeded generator."""

    def __init__(self, seed: int = 0) -> None:
        self._rules: list[FaultRule] = []
        self._remaining: dict[int, int | None] = {}
        self._rng = random.Random(seed)
        self._lock = threading.Lock()

    def add(self, rule: FaultRule) -> FaultRule:
        """Activate ``rule``; returns it so a test can later :meth:`remove` it."""
        with self._lock:
            self._rules.append(rule)
            self._remaining[id(rule)] = rule.times
        return rule

    def remove(self, rule: FaultRule) -> None:
        """Deactivate one rule (no error if it already ran out)."""
        with self._lock:
            self._rules = [r for r in self._rules if r is not rule]
            self._remaining.pop(id(rule), None)

    def clear(self) -> None:
        """Remove every rule."""
        with self._lock:
            self._rules.clear()
            self._remaining.clear()

    @property
    def rules(self) -> list[FaultRule]:
        """The rules still active, in the order they were added."""
        with self._lock:
            return list(self._rules)

    def fire(
        self,
        category: str,
        call: str,
        target: str | None,
        *,
        patch_ids: Iterable[str] = (),
    ) -> list[FaultRule]:
        """Return the rules that fire for this call, consuming their ``times``.

        A ``bad_patch`` rule only matches calls that install its ``patch_id``, so unrelated
        calls do not use it up.
        """
        patches = set(patch_ids)
        fired: list[FaultRule] = []
        with self._lock:
            for rule in list(self._rules):
                if rule.category != category or rule.call not in (None, call):
                    continue
                if rule.target is not None and rule.target != target:
                    continue
                if rule.kind == "bad_patch" and rule.patch_id not in patches:
                    continue
                # Draw only for matching rules so the sequence of outcomes depends on the
                # sequence of matching calls alone: same seed, same calls, same faults.
                if rule.probability < 1.0 and self._rng.random() >= rule.probability:
                    continue
                fired.append(rule)
                left = self._remaining.get(id(rule))
                if left is not None:
                    if left <= 1:
                        self._rules = [r for r in self._rules if r is not rule]
                        self._remaining.pop(id(rule), None)
                    else:
                        self._remaining[id(rule)] = left - 1
        return fired
