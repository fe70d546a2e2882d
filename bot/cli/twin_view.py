"""How ``opshand twin ...`` shows things: progress bars, entity tables, and each command's
readable or ``--json`` output. The commands themselves are in :mod:`bot.cli.twin`."""

from __future__ import annotations

import difflib
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from typing import TYPE_CHECKING, Any

import typer
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table

from bot.cli.common import dump, err, out

if TYPE_CHECKING:
    from adapters.errors import AdapterError
    from twin.blast import BlastItem, BlastRadius
    from twin.graph import TwinGraph
    from twin.model import Entity, NodeKind
    from twin.store import ApplyResult

__all__ = [
    "brief",
    "check_scope",
    "nearest",
    "parse_kind",
    "print_applied",
    "print_blast",
    "print_deps",
    "print_entities",
    "print_entity",
    "print_sample",
    "print_sync",
    "progress",
    "resolve",
]


@contextmanager
def progress(description: str, total: int | None) -> Iterator[Any]:
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


def resolve(g: TwinGraph, mention: str) -> Entity:
    """The entity ``mention`` names exactly; exit 2 with the graph's reason when none does."""
    from twin.graph import UnknownEntity

    try:
        return g.resolve(mention, fuzzy=False)
    except UnknownEntity as exc:
        err.print(str(exc), markup=False, highlight=False)
        raise typer.Exit(2) from exc


def nearest(word: str, choices: Iterable[str]) -> str:
    """ " Did you mean x?" for the closest of ``choices`` to ``word``, or "" when none is close."""
    close = difflib.get_close_matches(word.lower(), sorted(set(choices)), n=1, cutoff=0.6)
    return f" Did you mean {close[0]}?" if close else ""


def parse_kind(name: str) -> NodeKind:
    """A node kind by name; exit 2 naming the nearest and listing the kinds when it is none."""
    from twin.model import NodeKind

    try:
        return NodeKind(name)
    except ValueError as exc:
        kinds = [k.value for k in NodeKind]
        err.print(
            f"Unknown kind '{name}'.{nearest(name, kinds)} Kinds are {', '.join(kinds)}.",
            markup=False,
            highlight=False,
        )
        raise typer.Exit(2) from exc


def check_scope(g: TwinGraph, scope: str | None, *, sites: bool = True) -> None:
    """Exit 2 with "did you mean" when ``scope`` names no client (or site) of the twin.

    A misspelt client would otherwise match nothing, and "0 found" reads as an answer.
    """
    from twin.model import NodeKind

    if not scope:
        return
    kinds = (NodeKind.CLIENT, NodeKind.SITE) if sites else (NodeKind.CLIENT,)
    known = sorted(e.id.split(":", 1)[1] for k in kinds for e in g.entities(k))
    wanted = scope.split(":", 1)[1] if scope.startswith(("client:", "site:")) else scope
    # A scope (client or site) matches in any case; a client filter is an exact attribute match.
    if wanted in known or (sites and wanted.lower() in {k.lower() for k in known}):
        return
    what = "client or site" if sites else "client"
    err.print(
        f"Unknown {what} '{scope}'.{nearest(wanted, known)} Known: {', '.join(known)}.",
        markup=False,
        highlight=False,
    )
    raise typer.Exit(2)


def brief(e: Entity) -> dict[str, Any]:
    """An entity in a few fields, for ``--json`` lists."""
    return {
        "id": e.id,
        "name": e.name,
        "kind": e.kind.value,
        "client": e.attrs.get("client"),
        "criticality": e.attrs.get("criticality"),
        "active": e.active,
    }


def print_entities(rows: list[Entity], title: str | None = None, *, limit: int = 50) -> None:
    """A table of entities, at most ``limit`` rows."""
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


def print_applied(res: ApplyResult, json_out: bool, what: str) -> None:
    """What a change-set did, and what it rejected."""
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


def print_sample(summary: dict[str, int], relations: int, endpoints: int, seed: int) -> None:
    """The sample estate's counts by kind."""
    t = Table(title=f"Sample estate ({endpoints} endpoints, seed {seed})")
    t.add_column("kind")
    t.add_column("count", justify="right")
    for k, n in summary.items():
        t.add_row(k, str(n))
    t.add_row("[bold]relations[/bold]", str(relations))
    out.print(t)


def print_sync(
    results: list[dict[str, Any]],
    topo: Any,
    failed: list[tuple[str, AdapterError]],
    *,
    explain: bool,
    json_out: bool,
) -> None:
    """What a sync did per source: the inventories' ``results``, then the topology's."""
    from bot.cli.topology import explain_rows, print_explain

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


def print_entity(e: Entity, data: dict[str, Any]) -> None:
    """One entity: attributes, observers, what it needs and what needs it."""
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


def print_blast(e: Entity, br: BlastRadius, *, limit: int, json_out: bool) -> None:
    """What needs ``e``, grouped by kind and criticality."""
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


def print_deps(e: Entity, deps: list[BlastItem], *, limit: int, json_out: bool) -> None:
    """What ``e`` needs, with the depth and the path to each."""
    if json_out:
        dump(
            {
                "entity": e.id,
                "total": len(deps),
                "items": [{**brief(i.entity), "path": list(i.path)} for i in deps],
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
