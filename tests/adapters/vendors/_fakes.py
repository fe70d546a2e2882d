"""Test doubles for the HTTP layer: a fake clock/sleep and a recording mock transport."""

from __future__ import annotations

import json
import random
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx

from adapters._http import HttpHooks

Handler = Callable[[httpx.Request], httpx.Response]

T0 = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)


@dataclass
class FakeTime:
    """A clock that only moves when something sleeps or the test advances it."""

    wall: datetime = T0
    mono: float = 1000.0
    sleeps: list[float] = field(default_factory=list)

    def sleep(self, seconds: float) -> None:
        self.sleeps.append(seconds)
        self.advance(seconds)

    def advance(self, seconds: float) -> None:
        self.mono += seconds
        self.wall += timedelta(seconds=seconds)

    def hooks(self, seed: int = 7) -> HttpHooks:
        return HttpHooks(
            sleep=self.sleep,
            clock=lambda: self.mono,
            now=lambda: self.wall,
            rng=random.Random(seed),
        )


class Recorder:
    """Wraps a handler and keeps every request it saw (with its body already read)."""

    def __init__(self, handler: Handler) -> None:
        self.handler = handler
        self.requests: list[httpx.Request] = []

    def __call__(self, request: httpx.Request) -> httpx.Response:
        request.read()
        self.requests.append(request)
        return self.handler(request)

    def client(self) -> httpx.Client:
        return httpx.Client(transport=httpx.MockTransport(self))


def body_of(request: httpx.Request) -> Any:
    return json.loads(request.content) if request.content else None


def ok(data: Any, status: int = 200, headers: dict[str, str] | None = None) -> httpx.Response:
    return httpx.Response(status, json=data, headers=headers)
