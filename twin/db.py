"""The one SQLAlchemy ``MetaData`` every table registers on, and engine creation.

SQLite (the embedded default) runs in WAL mode with a busy timeout so several connections of one
process, or several processes, can share the file; PostgreSQL is the production path. One code
path serves both: only engine options differ.

The schema is versioned with Alembic (revisions in ``twin/migrations/versions``, shipped with the
package). The application calls :func:`migrate` at start-up with its full metadata; after
changing a table, :func:`new_revision` writes the next revision file to review and commit
(``tests/twin/test_migrations.py`` fails until one exists).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from sqlalchemy import Connection, Engine, MetaData, create_engine, event, inspect

__all__ = [
    "BASELINE_REVISION",
    "VERSION_TABLE",
    "make_engine",
    "metadata",
    "migrate",
    "new_revision",
    "normalise_url",
    "schema_revision",
]

metadata = MetaData(
    naming_convention={
        "ix": "ix_%(column_0_label)s",
        "uq": "uq_%(table_name)s_%(column_0_name)s",
        "ck": "ck_%(table_name)s_%(constraint_name)s",
        "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
        "pk": "pk_%(table_name)s",
    }
)

_SQLITE_BUSY_MS = 30_000
_SQLITE_CACHE_KB = 65_536


def normalise_url(url: str) -> str:
    """Use the psycopg 3 driver for bare ``postgresql://`` URLs."""
    if url.startswith("postgresql://") or url.startswith("postgres://"):
        return "postgresql+psycopg://" + url.split("://", 1)[1]
    return url


def make_engine(url: str, **kwargs: Any) -> Engine:
    """Create an engine for ``url`` with the options opshand relies on."""
    url = normalise_url(url)
    if url.startswith("sqlite"):
        engine = create_engine(
            url,
            connect_args={"check_same_thread": False, "timeout": _SQLITE_BUSY_MS / 1000},
            **kwargs,
        )

        @event.listens_for(engine, "connect")
        def _sqlite_pragmas(dbapi_conn: Any, _record: Any) -> None:
            # Let SQLAlchemy, not pysqlite, decide when transactions begin, so BEGIN IMMEDIATE
            # below takes the write lock up front and concurrent writers queue instead of failing.
            dbapi_conn.isolation_level = None
            cur = dbapi_conn.cursor()
            cur.execute("PRAGMA journal_mode=WAL")
            cur.execute(f"PRAGMA busy_timeout={_SQLITE_BUSY_MS}")
            cur.execute("PRAGMA synchronous=NORMAL")
            cur.execute("PRAGMA foreign_keys=ON")
            # 64 MB page cache (default 2 MB): a 100,000-entity twin's indexes stay in memory,
            # which halves the time of a large change-set
            cur.execute(f"PRAGMA cache_size=-{_SQLITE_CACHE_KB}")
            cur.close()

        @event.listens_for(engine, "begin")
        def _sqlite_begin(conn: Any) -> None:
            conn.exec_driver_sql("BEGIN IMMEDIATE")

        return engine
    return create_engine(url, pool_pre_ping=True, **kwargs)


VERSION_TABLE = "twin_schema_version"
"""Where Alembic records the schema revision (prefixed like every other table)."""
BASELINE_REVISION = "0001"
"""The first revision: the schema as ``metadata.create_all`` made it before migrations existed."""
_MIGRATIONS = Path(__file__).parent / "migrations"


def _alembic_config(conn: Connection, target: MetaData | None) -> Any:
    from alembic.config import Config

    cfg = Config()
    cfg.set_main_option("script_location", str(_MIGRATIONS))
    cfg.attributes["connection"] = conn
    cfg.attributes["target_metadata"] = target
    return cfg


def migrate(
    target: Engine | str,
    *,
    metadata: MetaData = metadata,
    revision: str = "head",
) -> str:
    """Bring the database's schema to ``revision`` (Alembic ``upgrade``), in one transaction.

    A database made by ``metadata.create_all`` before migrations existed (it has ``twin_meta``
    but no version table) is first stamped at :data:`BASELINE_REVISION`, whose schema it has.

    Args:
        target: an engine from :func:`make_engine`, or a database URL.
        metadata: the application's metadata, with every module that registers tables imported;
            only autogenerate compares against it, the revisions carry their own DDL.
        revision: where to go (default the newest).

    Returns:
        The revision the database is at afterwards.
    """
    from alembic import command

    engine = target if isinstance(target, Engine) else make_engine(target)
    try:
        with engine.begin() as conn:
            cfg = _alembic_config(conn, metadata)
            tables = set(inspect(conn).get_table_names())
            if VERSION_TABLE not in tables and "twin_meta" in tables:
                command.stamp(cfg, BASELINE_REVISION)
            command.upgrade(cfg, revision)
        return schema_revision(engine) or ""
    finally:
        if not isinstance(target, Engine):
            engine.dispose()


def schema_revision(engine: Engine) -> str | None:
    """The revision the database is at, or None for a database never migrated."""
    from alembic.runtime.migration import MigrationContext

    with engine.connect() as conn:
        ctx = MigrationContext.configure(conn, opts={"version_table": VERSION_TABLE})
        rev = ctx.get_current_revision()
        conn.rollback()
    return rev


def new_revision(engine: Engine, message: str, *, metadata: MetaData = metadata) -> str:
    """Write a new revision file with the DDL that takes ``engine``'s schema to ``metadata``.

    Run it against a scratch database migrated to head, with every table-registering module
    imported, after changing a table; review the file, then commit it. Returns its path.
    """
    from alembic import command

    with engine.begin() as conn:
        cfg = _alembic_config(conn, metadata)
        script = command.revision(cfg, message=message, autogenerate=True)
    scripts = script if isinstance(script, list) else [script]
    return str(scripts[0].path) if scripts and scripts[0] is not None else ""
