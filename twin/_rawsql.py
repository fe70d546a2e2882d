"""The ingest hot path's SQL, straight through the DBAPI cursor with rows encoded once.

See :class:`RawSQL`; ``tests/twin/test_raw_sql.py`` holds its encodings to SQLAlchemy's own.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Sequence
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import Connection

from twin._entities import entity_from
from twin.ingest import iter_chunks
from twin.model import Entity, NodeKind

__all__ = ["ENTITY_COLS", "LOG_COLS", "OBS_COLS", "RawSQL"]

_CHUNK = 2000


_UTC = UTC
_from_iso = datetime.fromisoformat
_loads = json.loads
# What json.dumps / json.loads run underneath, built once instead of per call (their Python
# wrappers cost as much as the C work on a 300-byte dict). Same output as json.dumps with its
# defaults, less the circular-reference check (attributes come from JSON in the first place).
_encode = json.encoder.c_make_encoder(  # type: ignore[attr-defined]
    None,
    json.JSONEncoder().default,
    json.encoder.encode_basestring_ascii,
    None,
    ": ",
    ", ",
    False,
    False,
    True,
)
_scan = json.decoder.JSONDecoder().scan_once  # type: ignore[attr-defined]


def _dumps(value: Any) -> str:
    return "".join(_encode(value, 0))


def _parse(text: str) -> Any:
    """JSON text we wrote (no surrounding whitespace); anything else goes to ``json.loads``."""
    try:
        value, end = _scan(text, 0)
    except StopIteration:
        return _loads(text)  # raises the proper JSONDecodeError
    return value if end == len(text) else _loads(text)


# the C string escaper json.dumps itself uses: quotes included, non-ASCII as \\u escapes
_esc: Callable[[str], str] = json.encoder.encode_basestring_ascii
ENTITY_COLS = (
    "id",
    "kind",
    "name",
    "attrs",
    "source",
    "source_ref",
    "first_seen",
    "last_seen",
    "version",
    "active",
)
OBS_COLS = ("entity_id", "source", "kind", "name", "attrs", "source_ref", "first_seen", "last_seen")
LOG_COLS = ("serial", "changeset_id", "key", "op", "before", "after", "actor", "reason", "at")


class RawSQL:
    """The ingest hot path's statements, straight through the DBAPI cursor.

    SQLAlchemy's per-row parameter processing cost more than SQLite's own work on a large
    change-set, so here rows are plain tuples, encoded once the way the dialect's own bind
    processors would (for UTC times; ``tests/twin/test_raw_sql.py`` holds them to that), and
    the SQL text is written once per shape. The same text runs on SQLite and PostgreSQL: only
    the placeholder and the datetime / JSON encodings differ.
    """

    def __init__(self, conn: Connection) -> None:
        self.conn = conn
        dialect = conn.dialect
        self.sqlite = dialect.name == "sqlite"
        self.mark = "?" if dialect.paramstyle == "qmark" else "%s"
        self._q = dialect.identifier_preparer.quote
        # Memos: a change-set's entities share attribute dicts (a view and the merged entity,
        # the before image and what the database held) and timestamps (one observed_at), and
        # encoding each once is most of what is left to save. Keyed by id(), so each entry
        # holds its object: an id is only unique while the object lives.
        self._texts: dict[int, tuple[Any, str]] = {}
        self._times: dict[Any, Any] = {}
        self._parsed: dict[Any, datetime] = {}
        self._iso: dict[datetime, str] = {}
        self._by_text: dict[str, Any] = {}

    def forget(self) -> None:
        """Drop the memos (between chunks, so they do not grow with the change-set)."""
        self._texts.clear()
        self._times.clear()
        self._parsed.clear()
        self._iso.clear()
        self._by_text.clear()

    def dt(self, value: datetime) -> Any:
        """A datetime as the column takes it.

        SQLite: SQLAlchemy's text format, as UTC wall time. (SQLAlchemy itself drops any offset,
        which stores the wrong instant for a non-UTC time; the memo is keyed by instant, so
        here it must be UTC.)
        """
        if not self.sqlite:
            return value
        out = self._times.get(value)
        if out is None:
            utc = value.astimezone(_UTC) if value.utcoffset() else value
            out = self._times[value] = utc.replace(tzinfo=None).isoformat(" ", "microseconds")
        return out

    def attrs_json(self, attrs: dict[str, Any]) -> str:
        """``attrs`` as JSON text, each dict encoded once."""
        hit = self._texts.get(id(attrs))
        if hit is None:
            hit = self._texts[id(attrs)] = (attrs, _dumps(attrs))
        return hit[1]

    def entity_json(self, e: Entity) -> str:
        """An entity as the JSON the change log keeps (what ``Entity.model_validate_json`` reads).

        Put together from escaped strings and the memoised attribute text and timestamps: a
        fraction of the cost of ``model_dump_json`` (``tests/twin/test_raw_sql.py`` checks the
        two read back the same).
        """
        d = e.__dict__
        iso = self._iso
        first, last = d["first_seen"], d["last_seen"]
        first_s = iso.get(first) or iso.setdefault(first, first.isoformat())
        last_s = iso.get(last) or iso.setdefault(last, last.isoformat())
        return (
            f'{{"id": {_esc(d["id"])}, "kind": {_esc(d["kind"])}, "name": {_esc(d["name"])}, '
            f'"source": {_esc(d["source"])}, "source_ref": {_esc(d["source_ref"])}, '
            f'"first_seen": "{first_s}", "last_seen": "{last_s}", '
            f'"version": {int(d["version"])}, "active": {"true" if d["active"] else "false"}, '
            f'"attrs": {self.attrs_json(d["attrs"])}}}'
        )

    def _cols(self, cols: Sequence[str]) -> str:
        return ", ".join(self._q(c) for c in cols)

    def insert(
        self,
        table: str,
        cols: Sequence[str],
        rows: Sequence[tuple[Any, ...]],
        *,
        upsert_on: Sequence[str] = (),
    ) -> None:
        """Insert ``rows``; with ``upsert_on`` (the key), replace the other columns on conflict."""
        if not rows:
            return
        sql = (
            f"INSERT INTO {self._q(table)} ({self._cols(cols)}) "
            f"VALUES ({', '.join([self.mark] * len(cols))})"
        )
        if upsert_on:
            sets = ", ".join(
                f"{self._q(c)} = excluded.{self._q(c)}" for c in cols if c not in upsert_on
            )
            sql += f" ON CONFLICT ({self._cols(upsert_on)}) DO UPDATE SET {sets}"
        for part in iter_chunks(list(rows), _CHUNK):
            self.conn.exec_driver_sql(sql, part)

    def execute_many(self, sql: str, rows: Sequence[tuple[Any, ...]]) -> None:
        """Run ``sql`` (with ``{m}`` for each placeholder) once per row."""
        if rows:
            self.conn.exec_driver_sql(sql.format(m=self.mark), list(rows))

    def select_in(
        self, table: str, cols: Sequence[str], key: str, values: Sequence[str]
    ) -> list[tuple[Any, ...]]:
        """Rows of ``table`` whose ``key`` is one of ``values`` (chunked)."""
        out: list[tuple[Any, ...]] = []
        head = f"SELECT {self._cols(cols)} FROM {self._q(table)} WHERE {self._q(key)} IN "
        for part in iter_chunks(list(values), _CHUNK):
            sql = head + f"({', '.join([self.mark] * len(part))})"
            out += self.conn.exec_driver_sql(sql, tuple(part)).fetchall()
        return out

    def _json(self, value: Any) -> Any:
        if not isinstance(value, str):
            return value  # psycopg decodes json columns itself
        # an entity and the view it was merged from usually hold the very same text
        attrs = self._by_text.get(value)
        if attrs is None:
            attrs = self._by_text[value] = _parse(value)
            self._texts[id(attrs)] = (attrs, value)
        return attrs

    def _when(self, value: Any) -> datetime:
        out = self._parsed.get(value)
        if out is None:
            if isinstance(value, str):
                out = _from_iso(value)
                if out.tzinfo is None:
                    out = out.replace(tzinfo=_UTC)
                # written back unchanged (first_seen mostly is): the text we read is the text
                self._times[out] = value
            else:
                out = value if value.tzinfo else value.replace(tzinfo=_UTC)
            self._parsed[value] = out
        return out

    def entities(self, ids: Sequence[str]) -> dict[str, Entity]:
        """The stored entities among ``ids``."""
        kinds = _KINDS
        j, w, build = self._json, self._when, entity_from
        out: dict[str, Entity] = {}
        for eid, kind, name, attrs, source, ref, first, last, version, active in self.select_in(
            "twin_entity", ENTITY_COLS, "id", ids
        ):
            out[eid] = build(
                {
                    "id": eid,
                    "kind": kinds[kind],
                    "name": name,
                    "attrs": j(attrs),
                    "source": source,
                    "source_ref": ref,
                    "first_seen": w(first),
                    "last_seen": w(last),
                    "version": version,
                    "active": bool(active),
                }
            )
        return out

    def views(self, ids: Sequence[str]) -> dict[str, dict[str, Entity]]:
        """Every source's stored view of each of ``ids``."""
        kinds = _KINDS
        j, w, build = self._json, self._when, entity_from
        out: dict[str, dict[str, Entity]] = {}
        for eid, source, kind, name, attrs, ref, first, last in self.select_in(
            "twin_observation", OBS_COLS, "entity_id", ids
        ):
            view = build(
                {
                    "id": eid,
                    "kind": kinds[kind],
                    "name": name,
                    "attrs": j(attrs),
                    "source": source,
                    "source_ref": ref,
                    "first_seen": w(first),
                    "last_seen": w(last),
                    "version": 0,
                    "active": True,
                }
            )
            mine = out.get(eid)
            if mine is None:
                out[eid] = {source: view}
            else:
                mine[source] = view
        return out

    def entity_row(self, e: Entity) -> tuple[Any, ...]:
        """``e`` as a ``twin_entity`` row in :data:`ENTITY_COLS` order."""
        d = e.__dict__
        return (
            d["id"],
            d["kind"].value,
            d["name"],
            self.attrs_json(d["attrs"]),
            d["source"],
            d["source_ref"],
            self.dt(d["first_seen"]),
            self.dt(d["last_seen"]),
            d["version"],
            d["active"],
        )

    ENTITY_UPDATE = (
        "UPDATE twin_entity SET attrs = {m}, source = {m}, source_ref = {m}, first_seen = {m},"
        " last_seen = {m}, version = {m}, active = {m} WHERE id = {m}"
    )
    """For :meth:`entity_update` rows (through :meth:`execute_many`)."""

    def entity_update(self, e: Entity) -> tuple[Any, ...]:
        """``e`` as parameters of :data:`ENTITY_UPDATE` (kind and name left as stored)."""
        d = e.__dict__
        return (
            self.attrs_json(d["attrs"]),
            d["source"],
            d["source_ref"],
            self.dt(d["first_seen"]),
            self.dt(d["last_seen"]),
            d["version"],
            d["active"],
            d["id"],
        )

    def obs_row(self, e: Entity) -> tuple[Any, ...]:
        """``e`` as its source's ``twin_observation`` row in :data:`OBS_COLS` order."""
        d = e.__dict__
        return (
            d["id"],
            d["source"],
            d["kind"].value,
            d["name"],
            self.attrs_json(d["attrs"]),
            d["source_ref"],
            self.dt(d["first_seen"]),
            self.dt(d["last_seen"]),
        )


_KINDS = {k.value: k for k in NodeKind}
