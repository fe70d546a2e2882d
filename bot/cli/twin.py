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
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table

from bot.cli.common import DataDir, JsonOut, boot, dump, err, out, settings

if TYPE_CHECKING:
    from twin.graph import TwinGraph
    from twin.model import Entity, NodeKind
    from twin.store import ApplyResult, TwinStore

__all__ = ["twin_app"]

twin_app = typer.Typer(
    help="Load, sync and look at the twin (the live model of the estate).", no_args_is_help=True
)

Limit = Annotated[int, typer.Option(help="At most this many rows.")]


# ---------------------------------------------------------------------- helpers
@contextmanager
def _bar(description: str, total: int | None) -> Iterator[Any]:
    """A progress bar on stderr; yields a callback taking a count of records done."""
    with Progress(
        TextColumn("{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
        console=err,
        transient=True,
    ) as bar:
        task = bar.add_task(description, total=total)
        yield lambda n: bar.advance(task, n)


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


def _resolve(g: TwinGraph, mention: str) -> Entity:
    from twin.graph import UnknownEntity

    try:
        return g.resolve(mention, fuzzy=False)
    except UnknownEntity as exc:
        err.print(str(exc), markup=False, highlight=False)
        raise typer.Exit(2) from exc


def _kind(name: str) -> NodeKind:
    from twin.model import NodeKind

    try:
        return NodeKind(name)
    except ValueError as exc:
        err.print(f"Unknown kind '{name}'; kinds are {', '.join(k.value for k in NodeKind)}.")
        raise typer.Exit(2) from exc


def _brief(e: Entity) -> dict[str, Any]:
    return {
        "id": e.id,
        "name": e.name,
        "kind": e.kind.value,
        "client": e.attrs.get("client"),
        "criticality": e.attrs.get("criticality"),
        "active": e.active,
    }


def _entity_table(rows: list[Entity], title: str | None = None, *, limit: int = 50) -> None:
    t = Table(title=title)
    # Names are never cut or wrapped: people copy them back into the next command.
    widest = max((len(e.name) for e in rows[:limit]), default=4)
    t.add_column("name", no_wrap=True, min_width=widest)
    for c in ("kind", "client", "env", "criticality", "last seen"):
        t.add_column(c)
    for e in rows[:limit]:
        a = e.attrs
        t.add_row(
            e.name,
            e.kind.value,
            str(a.get("client", "")),
            str(a.get("env", "")),
            str(a.get("criticality", "")),
            f"{e.last_seen:%Y-%m-%d %H:%M}",
        )
    out.print(t)
    if len(rows) > limit:
        out.print(f"... and {len(rows) - limit} more (--limit, or --json for all)")


def _report(res: ApplyResult, json_out: bool, what: str) -> None:
    data = {
        "serial": res.serial,
        "changed": res.changed,
        "records": res.touched,
        "tombstoned": res.tombstoned,
        "rejected": [str(r) for r in res.rejections],
    }
    if json_out:
        dump(data)
        return
    out.print(
        f"{what}: {res.touched:,} records, {res.changed:,} changes, "
        f"{res.tombstoned} tombstoned, serial now {res.serial}."
    )
    for r in res.rejections[:20]:
        err.print(f"[yellow]rejected[/yellow] {r}")
    if len(res.rejections) > 20:
        err.print(f"... and {len(res.rejections) - 20} more rejections (--json lists all)")


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
    t = Table(title=f"Sample estate ({endpoints} endpoints, seed {seed})")
    t.add_column("kind")
    t.add_column("count", justify="right")
    for k, n in summary.items():
        t.add_row(k, str(n))
    t.add_row("[bold]relations[/bold]", str(len(est.relations)))
    out.print(t)


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

        with _bar("Generating the sample estate", None):
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
        with _bar("Loading into the twin", total) as advance:
            res = store.apply(batch, progress=advance)
    _report(res, json_out, "Loaded")


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
    from adapters.inventory import known_ids
    from adapters.registry import ConfigError
    from adapters.sync import sync_all
    from bot.cli.topology import explain_rows, print_explain, topology_sync
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
        with _bar("Reading the integrations", None):
            batches = sync_all(
                adapters,
                known=known_ids(graph.entities()),
                actor="cli",
                on_error=lambda c, e: failed.append((c, e)),
            )
        results = []
        with _bar("Syncing", len(batches)) as advance:
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
        with _bar("Syncing topology", None):
            try:
                topo = topology_sync(oh)
            except ConfigError as bad:
                err.print(f"[red]Topology settings error:[/red] {bad}")
                raise typer.Exit(2) from bad
    finally:
        oh.close()
    for r in explain_rows(topo):
        results.append(
            {
                "source": r["source"],
                "records": r["matched"] + r["new"],
                "changed": r["changed"],
                "tombstoned": 0,
                "rejected": r["rejected"],
                **(
                    {
                        "match": {
                            k: v for k, v in r.items() if k not in ("source", "changed", "rejected")
                        }
                    }
                    if explain
                    else {}
                ),
            }
        )
    for category, exc in failed:
        err.print(f"[red]{category} failed:[/red] {exc}")
    for source, why in topo.failed:  # its claims stay as they were
        err.print(f"[red]topology source {source} failed:[/red] {why}")
    if json_out:
        for row in results:  # G3: aged relations are reported with the source that learned them
            row["aged"] = [
                {"src": c.src, "type": c.type, "dst": c.dst, "last_seen": c.last_seen.isoformat()}
                for c in topo.aged
                if c.source == row["source"]
            ]
        dump(results)
        return
    t = Table(title="Sync")
    for c in ("source", "records", "changed", "tombstoned", "rejected"):
        t.add_column(c, justify="right" if c != "source" else "left")
    for r in results:
        t.add_row(
            r["source"],
            str(r["records"]),
            str(r["changed"]),
            str(r["tombstoned"]),
            str(len(r["rejected"])),
        )
    out.print(t)
    if explain:
        print_explain(topo)
    elif topo.aged:
        # G3: a learned relation that went is said, not dropped silently
        out.print(f"{len(topo.aged)} learned relations aged out (not seen for their time-to-live):")
        for c in topo.aged[:10]:
            out.print(f"  {c.src} -{c.type}-> {c.dst} ({c.source})")


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
    kinds = {_kind(kind)} if kind else None
    with _graph(data_dir) as (g, _):
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
                    {**_brief(e), "score": s} for e, s in zip(rows[:limit], scores, strict=False)
                ],
            }
        )
        return
    _entity_table(rows, f"{len(rows)} found", limit=limit)


@twin_app.command("show")
def twin_show(entity: str, json_out: JsonOut = False, data_dir: DataDir = None) -> None:
    """One entity: attributes, provenance per source, what it needs and what needs it."""
    from twin.queries import entity_detail

    with _graph(data_dir) as (g, store):
        e = _resolve(g, entity)
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
    out.print(
        f"[bold]{e.name}[/bold] ({e.kind.value}, {'active' if e.active else 'tombstoned'}) "
        f"— source {e.source}, version {e.version}, last seen {e.last_seen:%Y-%m-%d %H:%M}"
    )
    for k, v in sorted(e.attrs.items()):
        out.print(f"  {k}: {v}")
    if len(data["observations"]) > 1:
        out.print("observed by: " + ", ".join(o["source"] for o in data["observations"]))
    t = Table()
    for c in ("direction", "type", "name", "kind"):
        t.add_column(c)
    for n in data["needs"][:30]:
        t.add_row("needs", n["type"], n["name"], n["kind"])
    for n in data["needed_by"][:30]:
        t.add_row("needed by", n["type"], n["name"], n["kind"])
    out.print(t)


@twin_app.command("blast")
def twin_blast(
    entity: str, limit: Limit = 40, json_out: JsonOut = False, data_dir: DataDir = None
) -> None:
    """What needs ENTITY, transitively (what breaks if it goes down), by kind and criticality."""
    with _graph(data_dir) as (g, _):
        e = _resolve(g, entity)
        br = g.blast_radius(e.id)
    groups = br.grouped()
    if json_out:
        dump(
            {
                "entity": e.id,
                "total": len(br.items),
                "by_kind": br.by_kind,
                "by_criticality": br.by_criticality,
                "groups": {
                    k: {
                        c: [{"id": i.entity.id, "path": list(i.path)} for i in items]
                        for c, items in by_crit.items()
                    }
                    for k, by_crit in groups.items()
                },
            }
        )
        return
    out.print(f"[bold]{len(br.items)}[/bold] entities need {e.name}: {br.by_kind}")
    t = Table()
    for c in ("kind", "criticality", "name", "via"):
        t.add_column(c)
    shown = 0
    for kind, by_crit in groups.items():
        for crit, items in by_crit.items():
            for i in items:
                if shown >= limit:
                    break
                t.add_row(
                    kind, crit, i.entity.name, " -> ".join(p.split(":", 1)[-1] for p in i.path[1:])
                )
                shown += 1
    out.print(t)


@twin_app.command("deps")
def twin_deps(
    entity: str, limit: Limit = 40, json_out: JsonOut = False, data_dir: DataDir = None
) -> None:
    """What ENTITY needs, transitively (its dependency chain)."""
    with _graph(data_dir) as (g, _):
        e = _resolve(g, entity)
        deps = g.dependencies(e.id)
    if json_out:
        dump(
            {
                "entity": e.id,
                "total": len(deps),
                "items": [{**_brief(i.entity), "path": list(i.path)} for i in deps],
            }
        )
        return
    out.print(f"{e.name} needs [bold]{len(deps)}[/bold] entities")
    t = Table()
    for c in ("depth", "name", "kind", "via"):
        t.add_column(c)
    for i in deps[:limit]:
        t.add_row(
            str(len(i.path) - 1),
            i.entity.name,
            i.entity.kind.value,
            " -> ".join(p.split(":", 1)[-1] for p in i.path[1:-1]) or "-",
        )
    out.print(t)


@twin_app.command("path")
def twin_path(
    source: str, target: str, json_out: JsonOut = False, data_dir: DataDir = None
) -> None:
    """How SOURCE and TARGET are connected (shortest path, any direction)."""
    with _graph(data_dir) as (g, _):
        a, b = _resolve(g, source), _resolve(g, target)
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

    kinds = [_kind(kind)] if kind else None
    with _graph(data_dir) as (g, _):
        rows = stale(g, timedelta(hours=hours), scope, kinds=kinds)
    if json_out:
        dump(
            {
                "total": len(rows),
                "hours": hours,
                "items": [{**_brief(e), "last_seen": e.last_seen.isoformat()} for e in rows],
            }
        )
        return
    _entity_table(rows, f"{len(rows)} not seen for {hours:g} h", limit=limit)


@twin_app.command("conflicts")
def twin_conflicts(limit: Limit = 50, json_out: JsonOut = False, data_dir: DataDir = None) -> None:
    """Where sources disagree (a relation one states and another denies, an ``env`` that
    differs): both readings are kept and shown, and decisions use the more cautious one."""
    from bot.cli.topology import conflicts_report, print_conflicts

    with _writable_store(data_dir) as store:
        rows = conflicts_report(store.engine)
    print_conflicts(rows, json_out=json_out, limit=limit)
