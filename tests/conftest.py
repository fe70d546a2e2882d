"""Shared fixtures: clean environment, database engines (SQLite and PostgreSQL), small estates."""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import Engine, text

import tests.profiles  # noqa: F401  (registers and loads the Hypothesis profiles)
from twin.db import make_engine, metadata

# pytest-xdist workers inherit the controller's COLUMNS/LINES; rich would fix its consoles'
# width from them at import time, so a test's own COLUMNS could not widen CLI tables.
for _var in ("COLUMNS", "LINES"):
    os.environ.pop(_var, None)

# Modules whose module-scoped fixtures are expensive and shared by all their tests: under
# pytest-xdist one worker runs all of a module's tests, so the fixture is built once, not once
# per worker (the eval suite's two reports run every scenario, the paraphrase report asks all
# 501 rows, Socket Mode starts a real ``opshand serve`` per database). Every other test is
# scheduled on its own, as ``--dist load`` does.
ONE_WORKER_MODULES = frozenset(
    {
        "tests/agent/test_eval.py",
        "tests/agent/test_paraphrase.py",
        "tests/bot/test_socket_mode.py",
    }
)

PG_ENV = "OPSHAND_TEST_POSTGRES_URL"
_PG_URL = os.environ.get(PG_ENV, "")
_IN_CI = os.environ.get("CI", "").lower() == "true"


@pytest.hookimpl(optionalhook=True)
def pytest_xdist_make_scheduler(config: pytest.Config, log: Any) -> Any:
    """Load scheduling with the modules of :data:`ONE_WORKER_MODULES` kept on one worker."""
    from xdist.scheduler import LoadScopeScheduling

    class _Scheduling(LoadScopeScheduling):
        def _split_scope(self, nodeid: str) -> str:
            module = nodeid.split("::", 1)[0]
            return module if module in ONE_WORKER_MODULES else nodeid

    if config.getvalue("dist") != "load":
        return None  # an explicit --dist mode keeps its own scheduling
    return _Scheduling(config, log)


@pytest.fixture(autouse=True)
def _clean_opshand_env(monkeypatch: pytest.MonkeyPatch) -> None:
    """No test sees the developer's OPSHAND_* settings."""
    for key in list(os.environ):
        if key.startswith("OPSHAND_") and key != PG_ENV:
            monkeypatch.delenv(key, raising=False)


def postgres_url() -> str | None:
    """The test PostgreSQL URL; in CI its absence or unreachability is a failure, not a skip."""
    if not _PG_URL:
        if _IN_CI:
            pytest.fail(f"CI=true but {PG_ENV} is not set: the PostgreSQL path must be tested")
        return None
    return _PG_URL


def _pg_engine(schema: str) -> Engine:
    url = postgres_url()
    if url is None:
        pytest.skip(f"{PG_ENV} not set")
    admin = make_engine(url)
    try:
        with admin.begin() as conn:
            conn.execute(text(f'CREATE SCHEMA IF NOT EXISTS "{schema}"'))
    except Exception as exc:
        admin.dispose()
        if _IN_CI:
            pytest.fail(f"PostgreSQL at {PG_ENV} is unreachable in CI: {exc}")
        pytest.skip(f"PostgreSQL unreachable: {exc}")
    admin.dispose()
    return make_engine(url, connect_args={"options": f"-csearch_path={schema}"})


def _drop_schema(schema: str) -> None:
    url = postgres_url()
    assert url is not None
    admin = make_engine(url)
    with admin.begin() as conn:
        conn.execute(text(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE'))
    admin.dispose()


_PG_SPARE: list[str] = []
"""This worker's emptied PostgreSQL schemas, each holding every opshand table, ready for reuse.

Creating a schema with every table and dropping it afterwards costs about half a second a test;
emptying the tables (rows deleted, sequences restarted) costs a tenth of that.
"""


def _schema_engine(schema: str) -> Engine:
    url = postgres_url()
    assert url is not None
    return make_engine(url, connect_args={"options": f"-csearch_path={schema}"})


def _empty_for_reuse(schema: str) -> bool:
    """Empty a used schema's tables for the next test; False if it cannot be reused as is.

    A schema is reused only when it holds exactly the opshand tables (a test that created or
    dropped tables leaves it to be dropped). Waiting on a lock a test left behind ends after a
    few seconds and the schema is dropped instead of hanging the run.
    """
    engine = _schema_engine(schema)
    try:
        with engine.begin() as conn:
            conn.execute(text("SET LOCAL lock_timeout = '5s'"))
            found = set(
                conn.execute(
                    text("SELECT tablename FROM pg_tables WHERE schemaname = current_schema()")
                ).scalars()
            )
            if found != set(metadata.tables):
                return False
            for table in reversed(metadata.sorted_tables):
                conn.execute(table.delete())
            sequences = conn.execute(
                text("SELECT sequencename FROM pg_sequences WHERE schemaname = current_schema()")
            ).scalars()
            for name in sequences:
                conn.execute(text(f'ALTER SEQUENCE "{name}" RESTART'))
        return True
    except Exception:
        return False
    finally:
        engine.dispose()


@pytest.fixture(scope="session")
def _pg_spare_schemas() -> Iterator[list[str]]:
    """The worker's pool of reusable schemas, dropped when the worker's session ends."""
    yield _PG_SPARE
    while _PG_SPARE:
        _drop_schema(_PG_SPARE.pop())


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def db_url_engine(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Engine]:
    """An empty database with every opshand table, on SQLite and on PostgreSQL.

    On PostgreSQL each test gets a schema of its own, emptied and reused by later tests of the
    same worker (:data:`_PG_SPARE`).
    """
    if request.param == "sqlite":
        engine = make_engine(f"sqlite:///{tmp_path / 'test.db'}")
        metadata.create_all(engine)
        yield engine
        engine.dispose()
        return
    spare: list[str] = request.getfixturevalue("_pg_spare_schemas")
    if spare:
        schema = spare.pop()
        engine = _schema_engine(schema)
    else:
        schema = f"t_{uuid.uuid4().hex[:10]}"
        engine = _pg_engine(schema)
        metadata.create_all(engine)
    yield engine
    engine.dispose()
    if _empty_for_reuse(schema):
        spare.append(schema)
    else:
        _drop_schema(schema)


@pytest.fixture
def engine(db_url_engine: Engine) -> Engine:
    """Alias: the parametrised engine."""
    return db_url_engine
