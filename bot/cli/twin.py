"""``opshand twin ...``: load, sync and look at the twin (the live model of the estate).

Readable tables by default, ``--json`` for scripts. ``load`` and ``sync`` write; every other
command only reads.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import replace
from datetime import timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer

from bot.cli.common import DataDir, JsonOut, boot, dump, err, out, settings
from bot.cli.twin_view import (
    brief,
    check_scope,
    parse_kind,
    print_applied,
    print_blast,
    print_deps,
    print_entities,
    print_entity,
    print_sample,
    print_sync,
    progress,
    resolve,
)

if TYPE_CHECKING:
    from twin.graph import TwinGraph
    from twin.store import TwinStore

__all__ = ["twin_app"]

twin_app = typer.Typer(
    help="Load, sync and look at the twin (the live model of the estate).", no_args_is_help=True
)

Limit = Annotated[int, typer.Option(help="At most this many rows.")]


@contextmanager
def _writable_store(data_dir: Path | None) -> Iterator[TwinStore]:
    """The twin's store, schema migrated, without starting the rest of opshand."""
    import bot.bootstrap  # noqa: F401  (registers every table on the metadata we migrate to)
    from twin.db import make_engine, metadata, migrate
    from twin.store import TwinStore

    s = settings(data_dir)
    s.data_dir.mkdir(parents=True, exist_ok=True)
    engine = make_engine(s.db_url)
    try:
        migrate(engine, metadata=metadata)
        store = TwinStore(engine)
        store.create()
        yield store
    finally:
        engine.dispose()


@contextmanager
def _graph(data_dir: Path | None) -> Iterator[tuple[TwinGraph, TwinStore]]:
    oh = boot(data_dir)
    try:
        yield oh.ops.graph, oh.store
    finally:
        oh.close()


# ---------------------------------------------------------------------- writes
@twin_app.command("sample")
def twin_sample(
    endpoints: Annotated[int, typer.Option(help="Number of endpoints.")] = 4200,
    seed: Annotated[int, typer.Option(help="Random seed.")] = 7,
    json_out: JsonOut = False,
) -> None:
    """Generate the deterministic sample estate and print its summary (nothing is stored)."""
    from twin.sample import generate_estate

    est = generate_estate(endpoints=endpoints, seed=seed)
    summary = est.summary()
    if json_out:
        dump({"entities": len(est.entities), "relations": len(est.relations), "by_kind": summary})
        return
    print_sample(summary, len(est.relations), endpoints, seed)


@twin_app.command("load")
def twin_load(
    file: Annotated[
        Path | None,
        typer.Argument(help="Estate JSON: {source, entities: [...], relations: [...]}."),
    ] = None,
    sample: Annotated[
        int | None,
        typer.Option(help="Load the sample estate of about this many nodes instead of a file."),
    ] = None,
    seed: Annotated[int, typer.Option(help="Sample seed.")] = 7,
    full_sync: Annotated[
        bool,
        typer.Option(
            "--full-sync", help="The file is all its source knows: tombstone what it lacks."
        ),
    ] = False,
    json_out: JsonOut = False,
    data_dir: DataDir = None,
) -> None:
    """Load an estate JSON file, or a generated sample estate, into the twin."""
    from twin.ingest import IngestBatch

    if (file is None) == (sample is None):
        err.print("Give an estate file or --sample N (one of them).")
        raise typer.Exit(2)
    if file is not None:
        try:
            raw = json.loads(file.read_text())
        except (OSError, ValueError) as exc:
            err.print(f"Cannot read {file}: {exc}")
            raise typer.Exit(2) from exc
        if not isinstance(raw, dict) or not isinstance(raw.get("entities", []), list):
            err.print(f"{file}: expected an object with 'entities' and 'relations' lists.")
            raise typer.Exit(2)
        batch = IngestBatch(
            source=str(raw.get("source", "file")),
            entities=list(raw.get("entities", [])),
            relations=list(raw.get("relations", [])),
            full_sync=full_sync,
            actor="cli",
            reason=f"load {file.name}",
        )
    else:
        from twin.sample import generate_estate

        with progress("Generating the sample estate", None):
            est = generate_estate(target_nodes=max(sample or 0, 2_000), seed=seed)
        batch = IngestBatch(
            source="sample",
            entities=list(est.entities),
            relations=list(est.relations),
            actor="cli",
            reason="sample estate",
        )
    with _writable_store(data_dir) as store:
        total = len(batch.entities) + len(batch.relations)
        with progress("Loading into the twin", total) as advance:
            res = store.apply(batch, progress=advance)
    print_applied(res, json_out, "Loaded")


@twin_app.command("sync")
def twin_sync(
    full: Annotated[
        bool,
        typer.Option(
            "--full", help="Full sync: tombstone what a source no longer reports (after grace)."
        ),
    ] = False,
    explain: Annotated[
        bool,
        typer.Option(
            "--explain",
            help="Show how each topology source's records matched the twin "
            "(matched, new, ambiguous, unmatched).",
        ),
    ] = False,
    json_out: JsonOut = False,
    data_dir: DataDir = None,
) -> None:
    """Sync the twin from the integrations' inventories, then its topology.

    Inventories (RMM, identity, firewall, backup) are read through ``adapters.sync``; without
    ``--full`` every batch is an update only and nothing is tombstoned. Topology comes next from
    the topology sources (CMDB, vCenter, Proxmox, NetBox, trace telemetry; simulated from the
    sample by default): relations with their sources, learned ones aged out, coverage redone.
    """
    from adapters.errors import AdapterError
    from adapters.integration_config import ConfigError
    from adapters.inventory import known_ids
    from adapters.sync import sync_all
    from bot.cli.topology import topology_sync
    from twin.model import NodeKind

    failed: list[tuple[str, AdapterError]] = []
    oh = boot(data_dir)
    try:
        if oh.sim is None:
            err.print("sync reads the simulated estate; no simulated estate is configured.")
            raise typer.Exit(2)
        sim = oh.sim
        graph = oh.ops.graph
        clients = [e.id.split(":", 1)[1] for e in graph.entities(NodeKind.CLIENT)]
        adapters = {
            "rmm": sim.rmm,
            "identity": {c: sim.identity_for(c) for c in clients},
            "firewall": sim.firewall,
            "backup": sim.backup,
            "psa": sim.psa,
            "siem": sim.siem,
        }
        with progress("Reading the integrations", None):
            batches = sync_all(
                adapters,
                known=known_ids(graph.entities()),
                actor="cli",
                on_error=lambda c, e: failed.append((c, e)),
            )
        results = []
        with progress("Syncing", len(batches)) as advance:
            for b in batches:
                if not full:
                    b = replace(b, full_sync=False)  # noqa: PLW2901
                res = oh.store.apply(b)
                results.append(
                    {
                        "source": b.source,
                        "records": res.touched,
                        "changed": res.changed,
                        "tombstoned": res.tombstoned,
                        "rejected": [str(r) for r in res.rejections],
                    }
                )
                advance(1)
        with progress("Syncing topology", None):
            try:
                topo = topology_sync(oh)
            except ConfigError as bad:
                err.print(f"[red]Topology settings error:[/red] {bad}")
                raise typer.Exit(2) from bad
    finally:
        oh.close()
    print_sync(results, topo, failed, explain=explain, json_out=json_out)


# ---------------------------------------------------------------------- reads
@twin_app.command("search")
def twin_search(
    query: Annotated[str, typer.Argument(help="Name or part of it (typos are fine).")] = "",
    kind: Annotated[str | None, typer.Option(help="Entity kind (host, service ...).")] = None,
    client: Annotated[str | None, typer.Option(help="Only this client.")] = None,
    where: Annotated[
        list[str] | None,
        typer.Option(help="Attribute filter key=value (repeatable); true/false/numbers are typed."),
    ] = None,
    missing_patch: Annotated[
        str | None, typer.Option(help="Hosts on which this patch (e.g. KB5034441) is pending.")
    ] = None,
    pending_reboot: Annotated[
        bool, typer.Option("--pending-reboot", help="Hosts waiting for a reboot.")
    ] = False,
    servers: Annotated[
        bool, typer.Option("--servers", help="With --pending-reboot: servers only.")
    ] = False,
    limit: Limit = 20,
    json_out: JsonOut = False,
    data_dir: DataDir = None,
) -> None:
    """Search the twin by name, kind and attributes."""
    from twin import queries

    conds: dict[str, Any] = {"client": client} if client else {}
    for item in where or []:
        key, sep, value = item.partition("=")
        if not sep:
            err.print(f"--where needs key=value, got '{item}'.")
            raise typer.Exit(2)
        try:
            conds[key] = json.loads(value)
        except ValueError:
            conds[key] = value
    kinds = {parse_kind(kind)} if kind else None
    with _graph(data_dir) as (g, _):
        check_scope(g, client, sites=False)
        if missing_patch:
            rows = queries.hosts_missing_patch(g, missing_patch, client)
            scores = [100.0] * len(rows)
        elif pending_reboot:
            rows = queries.pending_reboot(g, client, servers_only=servers)
            scores = [100.0] * len(rows)
        else:
            hits = g.search(query, kinds=kinds, where=conds, limit=limit)
            rows, scores = [h.entity for h in hits], [h.score for h in hits]
    if json_out:
        dump(
            {
                "total": len(rows),
                "items": [
                    {**brief(e), "score": s} for e, s in zip(rows[:limit], scores, strict=False)
                ],
            }
        )
        return
    print_entities(rows, f"{len(rows)} found", limit=limit)


@twin_app.command("show")
def twin_show(entity: str, json_out: JsonOut = False, data_dir: DataDir = None) -> None:
    """One entity: attributes, provenance per source, what it needs and what needs it."""
    from twin.queries import entity_detail

    with _graph(data_dir) as (g, store):
        e = resolve(g, entity)
        data = entity_detail(g, e.id)
        data["observations"] = [
            {
                "source": v.source,
                "source_ref": v.source_ref,
                "attrs": v.attrs,
                "last_seen": v.last_seen.isoformat(),
            }
            for v in store.observations(e.id)
        ]
    if json_out:
        dump(data)
        return
    print_entity(e, data)


@twin_app.command("blast")
def twin_blast(
    entity: str, limit: Limit = 40, json_out: JsonOut = False, data_dir: DataDir = None
) -> None:
    """What needs ENTITY, transitively (what breaks if it goes down), by kind and criticality."""
    with _graph(data_dir) as (g, _):
        e = resolve(g, entity)
        br = g.blast_radius(e.id)
    print_blast(e, br, limit=limit, json_out=json_out)


@twin_app.command("deps")
def twin_deps(
    entity: str, limit: Limit = 40, json_out: JsonOut = False, data_dir: DataDir = None
) -> None:
    """What ENTITY needs, transitively (its dependency chain)."""
    with _graph(data_dir) as (g, _):
        e = resolve(g, entity)
        deps = g.dependencies(e.id)
    print_deps(e, deps, limit=limit, json_out=json_out)


@twin_app.command("path")
def twin_path(
    source: str, target: str, json_out: JsonOut = False, data_dir: DataDir = None
) -> None:
    """How SOURCE and TARGET are connected (shortest path, any direction)."""
    with _graph(data_dir) as (g, _):
        a, b = resolve(g, source), resolve(g, target)
        p = g.path(a.id, b.id)
        hops = []
        for x, y in zip(p or [], (p or [])[1:], strict=False):
            fwd = [t.value for t, d in g.out_edges(x) if d == y]
            hops.append(
                f"-{fwd[0]}->" if fwd else f"<-{next(t.value for t, s in g.in_edges(x) if s == y)}-"
            )
        names = [g.get(x).name for x in p or []]
    if json_out:
        dump({"source": a.id, "target": b.id, "path": p, "hops": hops})
        if p is None:
            raise typer.Exit(1)
        return
    if p is None:
        out.print(f"{a.name} and {b.name} are not connected.")
        raise typer.Exit(1)
    line = names[0]
    for hop, name in zip(hops, names[1:], strict=True):
        line += f" {hop} {name}"
    out.print(line)


@twin_app.command("stale")
def twin_stale(
    hours: Annotated[float, typer.Option(help="Not observed within this many hours.")] = 24,
    scope: Annotated[str | None, typer.Option(help="A client or site.")] = None,
    kind: Annotated[str | None, typer.Option(help="Only this kind.")] = None,
    limit: Limit = 50,
    json_out: JsonOut = False,
    data_dir: DataDir = None,
) -> None:
    """Facts no source has confirmed recently (oldest first)."""
    from twin.queries import stale

    kinds = [parse_kind(kind)] if kind else None
    with _graph(data_dir) as (g, _):
        check_scope(g, scope)
        rows = stale(g, timedelta(hours=hours), scope, kinds=kinds)
    if json_out:
        dump(
            {
                "total": len(rows),
                "hours": hours,
                "items": [{**brief(e), "last_seen": e.last_seen.isoformat()} for e in rows],
            }
        )
        return
    print_entities(rows, f"{len(rows)} not seen for {hours:g} h", limit=limit)


@twin_app.command("conflicts")
def twin_conflicts(limit: Limit = 50, json_out: JsonOut = False, data_dir: DataDir = None) -> None:
    """Where sources disagree (a relation one states and another denies, an ``env`` that
    differs): both readings are kept and shown, and decisions use the more cautious one."""
    from bot.cli.topology import conflicts_report, print_conflicts

    with _writable_store(data_dir) as store:
        rows = conflicts_report(store.engine)
    print_conflicts(rows, json_out=json_out, limit=limit)
