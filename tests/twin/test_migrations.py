from __future__ import annotations

import importlib
import pkgutil
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from sqlalchemy import Engine, inspect, text

from tests.conftest import _drop_schema, _pg_engine
from twin.db import (
    BASELINE_REVISION,
    VERSION_TABLE,
    make_engine,
    metadata,
    migrate,
    schema_revision,
)
from twin.store import TwinStore


def _import_every_module() -> None:
    """Every module that may register a table, so the metadata is the application's schema
    whichever tests ran before (a module imported by one test would otherwise change it)."""
    for pkg in ("twin", "adapters", "agent", "bot"):
        root = importlib.import_module(pkg)
        for info in pkgutil.walk_packages(root.__path__, f"{pkg}."):
            if ".migrations" not in info.name and not info.name.endswith("__main__"):
                importlib.import_module(info.name)


_import_every_module()


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def empty_engine(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Engine]:
    """A database with no tables at all."""
    if request.param == "sqlite":
        engine = make_engine(f"sqlite:///{tmp_path / 'empty.db'}")
        yield engine
        engine.dispose()
        return
    schema = f"m_{uuid.uuid4().hex[:10]}"
    engine = _pg_engine(schema)
    yield engine
    engine.dispose()
    _drop_schema(schema)


def _diff(engine: Engine) -> list[object]:
    with engine.connect() as conn:
        ctx = MigrationContext.configure(
            conn, opts={"compare_type": True, "version_table": VERSION_TABLE}
        )
        return list(compare_metadata(ctx, metadata))


def test_migrate_empty_database_gives_exactly_the_metadata_schema(empty_engine: Engine) -> None:
    rev = migrate(empty_engine, metadata=metadata)
    assert rev == schema_revision(empty_engine) and rev
    tables = set(inspect(empty_engine).get_table_names())
    assert tables == set(metadata.tables) | {VERSION_TABLE}
    # columns, types, indexes, constraints: nothing autogenerate would still want to change
    assert _diff(empty_engine) == []


def test_migrate_twice_is_a_no_op_and_the_store_works(empty_engine: Engine) -> None:
    migrate(empty_engine, metadata=metadata)
    migrate(empty_engine, metadata=metadata)
    store = TwinStore(empty_engine)
    store.create()
    assert store.meta()[1] == 0


def test_database_made_by_create_all_is_adopted_at_the_baseline(empty_engine: Engine) -> None:
    metadata.create_all(empty_engine)
    assert schema_revision(empty_engine) is None
    rev = migrate(empty_engine, metadata=metadata)
    assert schema_revision(empty_engine) == rev
    assert rev >= BASELINE_REVISION


def test_sqlite_runs_in_wal_mode(tmp_path: Path) -> None:
    engine = make_engine(f"sqlite:///{tmp_path / 'wal.db'}")
    migrate(engine, metadata=metadata)
    with engine.connect() as conn:
        assert conn.execute(text("PRAGMA journal_mode")).scalar() == "wal"
    engine.dispose()


def test_migrate_accepts_a_url(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'by_url.db'}"
    rev = migrate(url, metadata=metadata)
    assert rev >= BASELINE_REVISION
    engine = make_engine(url)
    assert schema_revision(engine) == rev
    engine.dispose()
