"""One change-set in the making, and the row helpers the store shares.

A :class:`Changeset` collects change-log entries while a transaction runs and, at the end,
writes them and raises the serial, or leaves the serial alone when nothing changed (which is
what makes ingest idempotent). :class:`RawSQL` runs the ingest hot path's statements through the
DBAPI cursor with rows encoded once.
"""

from __future__ import annotations

import gc
import json
import uuid
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import Connection, select, update

from twin._schema import change_log, twin_meta
from twin.ingest import Rejection, iter_chunks
from twin.model import Entity, NodeKind, Relation, utcnow

__all__ = [
    "ENTITY_COLS",
    "LOG_COLS",
    "OBS_COLS",
    "ApplyResult",
    "Changeset",
    "RawSQL",
    "aware",
    "ent_row",
    "make_entity",
    "merge_views",
    "no_gc",
    "row_ent",
    "same_facts",
    "same_view",
    "with_changes",
]

_CHUNK = 2000


@dataclass(frozen=True)
class ApplyResult:
    """What a change-set did."""

    serial: int
    """The twin's serial after the change-set (unchanged when nothing changed)."""
    changeset_id: str
    changed: int
    """Change-log rows written: entities created/changed/tombstoned, relations added/removed."""
    touched: int
    """Records that passed validation."""
    rejections: list[Rejection] = field(default_factory=list)
    tombstoned: int = 0
    seen: int = 0
    """Entities only confirmed (newer ``last_seen``, same facts); they too raise the serial,
    so other processes learn what is fresh."""


class Changeset:
    """Change-log rows of one transaction; :meth:`finish` commits them under one new serial."""

    def __init__(self, conn: Connection, *, actor: str, reason: str) -> None:
        self.conn = conn
        # FOR UPDATE: on PostgreSQL two writers must not both take serial + 1 (SQLite engines
        # already hold the write lock from BEGIN IMMEDIATE).
        current = conn.execute(select(twin_meta.c.serial).with_for_update()).scalar_one()
        self.serial = int(current) + 1
        self.id = uuid.uuid4().hex[:16]
        self.actor = actor
        self.reason = reason
        self.at = utcnow()
        self.raw = RawSQL(conn)
        self._at = self.raw.dt(self.at)
        self.rows: list[tuple[Any, ...]] = []
        self._seen: dict[datetime, list[str]] = {}

    def note(self, key: str, op: str, before: Entity | None, after: Entity | None) -> None:
        """Record an entity change."""
        js = self.raw.entity_json
        self.rows.append(
            (
                self.serial,
                self.id,
                key,
                op,
                js(before) if before is not None else None,
                js(after) if after is not None else None,
                self.actor,
                self.reason,
                self._at,
            )
        )

    def note_rel(self, rel: Relation, op: str) -> None:
        """Record a relation added (``relate``) or removed (``unrelate``)."""
        body = rel.model_dump_json()
        key = f"{rel.src}|{rel.type.value}|{rel.dst}"
        self._add(key, op, body if op == "unrelate" else None, body if op == "relate" else None)

    def seen(self, entity_id: str, at: datetime) -> None:
        """Record that a source confirmed an entity at ``at`` without changing a fact."""
        self._seen.setdefault(at, []).append(entity_id)

    def _add(self, key: str, op: str, before: str | None, after: str | None) -> None:
        # a tuple in LOG_COLS order, written by RawSQL (see there for why)
        self.rows.append(
            (self.serial, self.id, key, op, before, after, self.actor, self.reason, self._at)
        )

    def finish(
        self, touched: int, rejections: list[Rejection], *, tombstoned: int = 0
    ) -> ApplyResult:
        """Write the log and raise the serial if anything changed; the result either way."""
        changed = len(self.rows)
        seen = 0
        # Confirmations are compact: one row per distinct time and 5,000 ids, not one per entity,
        # because a quiet full sync confirms the whole estate.
        for at, ids in sorted(self._seen.items()):
            seen += len(ids)
            for part in iter_chunks(ids, 5000):
                self._add(
                    f"{len(part)} entities",
                    "seen",
                    None,
                    json.dumps({"last_seen": at.isoformat(), "ids": part}),
                )
        if not self.rows:
            return ApplyResult(self.serial - 1, self.id, 0, touched, rejections, tombstoned)
        self.raw.insert(change_log.name, LOG_COLS, self.rows)
        self.conn.execute(update(twin_meta).values(serial=self.serial))
        return ApplyResult(self.serial, self.id, changed, touched, rejections, tombstoned, seen)


@contextmanager
def no_gc() -> Iterator[None]:
    """Pause the cyclic garbage collector while a bulk operation allocates.

    A process that holds a 100,000-entity twin has over a million long-lived objects; a bulk
    load or a large change-set allocates enough to trigger full collections that scan them all,
    which costs more than the work itself. Reference counting still frees everything acyclic.
    """
    was_enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if was_enabled:
            gc.enable()


def aware(dt: datetime) -> datetime:
    """SQLite hands back naive datetimes even for timezone=True columns; we only store UTC."""
    return dt if dt.tzinfo else dt.replace(tzinfo=UTC)


def ent_row(e: Entity) -> dict[str, Any]:
    """An entity as a ``twin_entity`` row."""
    return {
        "id": e.id,
        "kind": e.kind.value,
        "name": e.name,
        "attrs": e.attrs,
        "source": e.source,
        "source_ref": e.source_ref,
        "first_seen": e.first_seen,
        "last_seen": e.last_seen,
        "version": e.version,
        "active": e.active,
    }


_FIELDS_SET = frozenset(Entity.model_fields)
_new = Entity.__new__
_set = object.__setattr__


def make_entity(**fields: Any) -> Entity:
    """An entity from already-valid fields (every field given), without validation or copying.

    This is what ``model_construct`` does, minus its per-call bookkeeping; ``model_copy`` is
    slower still. On the ingest path the difference is a third of the time.
    """
    return _entity_from(fields)


def _entity_from(fields: dict[str, Any]) -> Entity:
    """:func:`make_entity` of a dict the entity may keep."""
    e = _new(Entity)
    _set(e, "__dict__", fields)
    _set(e, "__pydantic_fields_set__", set(_FIELDS_SET))
    _set(e, "__pydantic_extra__", None)
    _set(e, "__pydantic_private__", None)
    return e


def with_changes(e: Entity, **changes: Any) -> Entity:
    """A copy of ``e`` with some fields replaced (no validation)."""
    return _entity_from({**e.__dict__, **changes})


def row_ent(r: Any, *, obs: bool = False) -> Entity:
    """A ``twin_entity`` (or, with ``obs``, a ``twin_observation``) row as an entity."""
    return make_entity(
        id=r.entity_id if obs else r.id,
        kind=NodeKind(r.kind),
        name=r.name,
        attrs=r.attrs,
        source=r.source,
        source_ref=r.source_ref,
        first_seen=aware(r.first_seen),
        last_seen=aware(r.last_seen),
        version=0 if obs else r.version,
        active=True if obs else r.active,
    )


def _same_attrs(a: Mapping[str, Any], b: Mapping[str, Any]) -> bool:
    # dict equality says 1 == True; the JSON text tells them apart
    return a == b and json.dumps(a, sort_keys=True) == json.dumps(b, sort_keys=True)


def same_view(a: Entity, b: Entity) -> bool:
    """Whether two views of one source agree on every fact (provenance times aside)."""
    return (
        a.kind == b.kind
        and a.name == b.name
        and a.source_ref == b.source_ref
        and _same_attrs(a.attrs, b.attrs)
    )


def same_facts(a: Entity, b: Entity) -> bool:
    """Whether two effective entities agree (not last_seen, not version)."""
    return same_view(a, b) and a.source == b.source and a.active == b.active


def merge_views(
    views: Mapping[str, Entity], rank: Callable[[str], Any], old: Entity | None
) -> Entity:
    """The effective entity: attributes merged lowest-priority first, the top source leading.

    ``old`` (the entity as stored) keeps its first_seen and gives the version: unchanged when
    the facts are the same, one higher when they differ.
    """
    if len(views) == 1:
        # the common case, without sorting or merging
        (top,) = views.values()
        attrs = top.attrs
        first, last = top.first_seen, top.last_seen
    else:
        ordered = sorted(views.values(), key=lambda v: rank(v.source))
        top = ordered[-1]
        attrs = {}
        for v in ordered:
            attrs.update(v.attrs)
        if attrs == top.attrs:
            # the top source reports everything: share its dict (one JSON encoding, not two)
            attrs = top.attrs
        first = min([v.first_seen for v in ordered])
        last = max([v.last_seen for v in ordered])
    if old is not None and old.first_seen < first:
        first = old.first_seen
    if old is None:
        version = 1
    else:
        same = (
            old.active
            and old.kind == top.kind
            and old.name == top.name
            and old.source == top.source
            and old.source_ref == top.source_ref
            and _same_attrs(old.attrs, attrs)
        )
        version = old.version if same else old.version + 1
    return make_entity(
        id=top.id,
        kind=top.kind,
        name=top.name,
        attrs=attrs,
        source=top.source,
        source_ref=top.source_ref,
        first_seen=first,
        last_seen=last,
        version=version,
        active=True,
    )


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
        j, w, build = self._json, self._when, _entity_from
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
        j, w, build = self._json, self._when, _entity_from
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
