"""``opshand twin ...``: look at the twin (the live model of the estate)."""

from __future__ import annotations

from typing import Annotated

import typer
from rich.table import Table

from bot.cli_common import DataDir, JsonOut, boot, dump, err, out

__all__ = ["twin_app"]

twin_app = typer.Typer(
    help="Look at the twin (the live model of the estate).", no_args_is_help=True
)


@twin_app.command("sample")
def twin_sample(
    endpoints: Annotated[int, typer.Option(help="Number of endpoints.")] = 4200,
    seed: Annotated[int, typer.Option(help="Random seed.")] = 7,
    json_out: JsonOut = False,
) -> None:
    """Generate the deterministic sample estate and print its summary."""
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


@twin_app.command("search")
def twin_search(
    query: Annotated[str, typer.Argument(help="Name or part of it")] = "",
    kind: Annotated[str | None, typer.Option(help="Entity kind")] = None,
    limit: int = 20,
    json_out: JsonOut = False,
    data_dir: DataDir = None,
) -> None:
    """Fuzzy search of the twin."""
    from twin.model import NodeKind

    oh = boot(data_dir)
    try:
        hits = oh.ops.graph.search(query, kinds={NodeKind(kind)} if kind else None, limit=limit)
        if json_out:
            dump(
                [
                    {
                        "id": h.entity.id,
                        "name": h.entity.name,
                        "kind": h.entity.kind.value,
                        "score": h.score,
                    }
                    for h in hits
                ]
            )
            return
        t = Table()
        for c in ("name", "kind", "client", "env", "score"):
            t.add_column(c)
        for h in hits:
            a = h.entity.attrs
            t.add_row(
                h.entity.name,
                h.entity.kind.value,
                str(a.get("client", "")),
                str(a.get("env", "")),
                f"{h.score:.0f}",
            )
        out.print(t)
    finally:
        oh.close()


@twin_app.command("show")
def twin_show(entity: str, json_out: JsonOut = False, data_dir: DataDir = None) -> None:
    """One entity with its neighbours."""
    from twin.graph import UnknownEntity

    oh = boot(data_dir)
    try:
        g = oh.ops.graph
        try:
            e = g.resolve(entity)
        except UnknownEntity as exc:
            err.print(str(exc))
            raise typer.Exit(1) from exc
        data = {
            "entity": e.model_dump(mode="json"),
            "needs": [{"type": t.value, "id": d} for t, d in g.out_edges(e.id)],
            "needed_by": [{"type": t.value, "id": s} for t, s in g.in_edges(e.id)],
        }
        if json_out:
            dump(data)
            return
        out.print(
            f"[bold]{e.name}[/bold] ({e.kind.value}) — source {e.source}, "
            f"version {e.version}, last seen {e.last_seen:%Y-%m-%d %H:%M}"
        )
        for k, v in sorted(e.attrs.items()):
            out.print(f"  {k}: {v}")
        needs = ", ".join(f"{x['type']} {x['id']}" for x in data["needs"]) or "-"
        out.print(f"needs: {needs}")
        out.print(f"needed by: {len(data['needed_by'])} entities")
    finally:
        oh.close()


@twin_app.command("blast")
def twin_blast(entity: str, json_out: JsonOut = False, data_dir: DataDir = None) -> None:
    """What needs ENTITY, transitively (what breaks if it goes down)."""
    from twin.graph import UnknownEntity

    oh = boot(data_dir)
    try:
        g = oh.ops.graph
        try:
            e = g.resolve(entity)
        except UnknownEntity as exc:
            err.print(str(exc))
            raise typer.Exit(1) from exc
        br = g.blast_radius(e.id)
        if json_out:
            dump(
                {
                    "entity": e.id,
                    "total": len(br.items),
                    "by_kind": br.by_kind,
                    "by_criticality": br.by_criticality,
                    "items": [
                        {"id": i.entity.id, "kind": i.entity.kind.value, "path": list(i.path)}
                        for i in br.items
                    ],
                }
            )
            return
        out.print(f"[bold]{len(br.items)}[/bold] entities need {e.name}: {br.by_kind}")
        t = Table()
        for c in ("name", "kind", "criticality", "via"):
            t.add_column(c)
        for i in br.items[:40]:
            t.add_row(
                i.entity.name,
                i.entity.kind.value,
                str(i.entity.attrs.get("criticality", "")),
                " -> ".join(p.split(":", 1)[-1] for p in i.path[1:]),
            )
        out.print(t)
    finally:
        oh.close()
