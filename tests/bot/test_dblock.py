"""Start-up serialised by a database lock: replicas bootstrapping one empty database together."""

from __future__ import annotations

import threading
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import Engine

import bot.bootstrap as bootstrap_module
from adapters.sim import SimTimings
from bot.bootstrap import Opshand, bootstrap
from bot.dblock import database_lock
from bot.settings import Settings
from tests.conftest import _drop_schema, _pg_engine
from twin.db import make_engine


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def empty_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    """The URL of a database with no tables at all."""
    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path / 'empty.db'}"
        return
    schema = f"b_{uuid.uuid4().hex[:10]}"
    eng = _pg_engine(schema)
    url = eng.url.render_as_string(hide_password=False) + f"?options=-csearch_path%3D{schema}"
    eng.dispose()
    yield url
    _drop_schema(schema)


def _counting(seed: Callable[..., int], calls: list[int]) -> Callable[..., int]:
    def wrapped(*args: Any, **kwargs: Any) -> int:
        calls.append(1)
        return seed(*args, **kwargs)

    return wrapped


def test_three_replicas_bootstrap_an_empty_database_once(
    empty_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    seeds: list[int] = []
    monkeypatch.setattr(
        bootstrap_module, "seed_sample", _counting(bootstrap_module.seed_sample, seeds)
    )
    barrier = threading.Barrier(3)
    done: list[Opshand] = []
    errors: list[BaseException] = []

    def replica(i: int) -> None:
        settings = Settings(
            data_dir=tmp_path / f"r{i}", database_url=empty_url, sample_endpoints=50
        )
        barrier.wait()
        try:
            done.append(bootstrap(settings, sim_timings=SimTimings(scale=0)))
        except BaseException as exc:  # reported below, with the other replicas' results
            errors.append(exc)

    threads = [threading.Thread(target=replica, args=(i,)) for i in range(3)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    try:
        assert errors == [] and len(done) == 3
        assert len(seeds) == 1
        sizes = {len(list(o.store.load().entities())) for o in done}
        assert len(sizes) == 1 and sizes.pop() > 0
    finally:
        for o in done:
            o.close()


def test_database_lock_excludes_a_second_holder(empty_url: str) -> None:
    engine: Engine = make_engine(empty_url)
    inside: list[str] = []
    first_in = threading.Event()
    release = threading.Event()

    def holder() -> None:
        with database_lock(engine, "t"):
            inside.append("first")
            first_in.set()
            release.wait(10)
            inside.append("first out")

    def waiter() -> None:
        first_in.wait(10)
        with database_lock(engine, "t"):
            inside.append("second")

    a, b = threading.Thread(target=holder), threading.Thread(target=waiter)
    a.start()
    b.start()
    first_in.wait(10)
    b.join(0.5)  # the waiter must still be blocked while the holder is inside
    assert inside == ["first"]
    release.set()
    a.join()
    b.join()
    assert inside == ["first", "first out", "second"]
    engine.dispose()
