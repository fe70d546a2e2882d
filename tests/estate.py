"""A small, hand-made estate for unit tests (the sample generator is tested on its own)."""

from __future__ import annotations

from twin.graph import TwinGraph
from twin.model import EdgeType, Entity, NodeKind, Relation

E = EdgeType


def small_estate() -> tuple[list[Entity], list[Relation]]:
    """contoso: dns, a 3-node web tier (min 2), a 2-node db (min 2), one app host, a cluster."""
    ents: list[Entity] = []
    rels: list[Relation] = []

    def ent(kind: NodeKind, name: str, **attrs: object) -> str:
        eid = f"{kind.value}:{name}"
        if kind in (NodeKind.HOST, NodeKind.HYPERVISOR, NodeKind.SERVICE, NodeKind.CLUSTER):
            # a hand-made estate is its own declared topology: everything is known
            attrs = {"coverage": "full", **attrs}
        ents.append(
            Entity(
                id=eid,
                kind=kind,
                name=name,
                source="test",
                source_ref=name,
                attrs={"client": "contoso", **attrs},
            )
        )
        return eid

    def rel(src: str, t: EdgeType, dst: str) -> None:
        rels.append(Relation(src=src, type=t, dst=dst, source="test"))

    ent(NodeKind.CLIENT, "contoso")
    site = ent(NodeKind.SITE, "contoso-ny")
    rel(site, E.BELONGS_TO, "client:contoso")
    hv = ent(NodeKind.HYPERVISOR, "contoso-ny-hv-01", device_id="dev-hv-01")
    hosts = {}
    for name, role, env in [
        ("contoso-ny-web-01", "web", "prod"),
        ("contoso-ny-web-02", "web", "prod"),
        ("contoso-ny-web-03", "web", "prod"),
        ("contoso-ny-db-01", "db", "prod"),
        ("contoso-ny-db-02", "db", "prod"),
        ("contoso-ny-app-01", "app", "prod"),
        ("contoso-ny-dns-01", "dns", "prod"),
        ("contoso-ny-dev-01", "app", "dev"),
    ]:
        h = ent(
            NodeKind.HOST,
            name,
            role=role,
            env=env,
            hostname=name,
            device_id=f"dev-{name.rsplit('-', 2)[-2]}-{name[-2:]}",
            criticality="high",
        )
        rel(h, E.HOSTED_ON, hv)
        rel(h, E.LOCATED_AT, site)
        hosts[name] = h
    cluster = ent(NodeKind.CLUSTER, "contoso-db-cluster", quorum=2, replicas_min=2)
    rel(hosts["contoso-ny-db-01"], E.MEMBER_OF, cluster)
    rel(hosts["contoso-ny-db-02"], E.MEMBER_OF, cluster)
    dns = ent(
        NodeKind.SERVICE,
        "contoso-dns",
        role="dns",
        criticality="critical",
        replicas_min=1,
        env="prod",
    )
    rel(dns, E.RUNS_ON, hosts["contoso-ny-dns-01"])
    db = ent(
        NodeKind.SERVICE,
        "contoso-erp-db",
        role="db",
        criticality="critical",
        replicas_min=2,
        env="prod",
    )
    rel(db, E.RUNS_ON, hosts["contoso-ny-db-01"])
    rel(db, E.RUNS_ON, hosts["contoso-ny-db-02"])
    app = ent(
        NodeKind.SERVICE,
        "contoso-erp-app",
        role="app",
        criticality="high",
        replicas_min=1,
        env="prod",
    )
    rel(app, E.RUNS_ON, hosts["contoso-ny-app-01"])
    rel(app, E.DEPENDS_ON, db)
    rel(app, E.DEPENDS_ON, dns)
    portal = ent(
        NodeKind.SERVICE,
        "contoso-portal",
        role="web",
        criticality="high",
        replicas_min=2,
        env="prod",
    )
    for i in (1, 2, 3):
        rel(portal, E.RUNS_ON, hosts[f"contoso-ny-web-0{i}"])
    rel(portal, E.DEPENDS_ON, app)
    rel(portal, E.DEPENDS_ON, dns)
    devapp = ent(
        NodeKind.SERVICE,
        "contoso-dev-app",
        role="app",
        criticality="low",
        replicas_min=1,
        env="dev",
    )
    rel(devapp, E.RUNS_ON, hosts["contoso-ny-dev-01"])
    ent(NodeKind.IDENTITY, "jdoe", username="jdoe", user_id="u-jdoe", status="active")
    ent(
        NodeKind.IDENTITY,
        "breakglass-contoso",
        username="breakglass-contoso",
        user_id="u-bg",
        break_glass=True,
        admin=True,
        status="active",
    )
    for i, host in enumerate(("contoso-ny-dev-01", "contoso-ny-web-01")):
        p = ent(
            NodeKind.PATCH,
            f"KB500000{i}@{host}",
            patch_id=f"KB500000{i}",
            status="pending",
            severity="critical",
            reboot_required=False,
        )
        rel(p, E.PENDING_ON, hosts[host])
    return ents, rels


def small_graph() -> TwinGraph:
    """The small estate as an in-memory graph."""
    g = TwinGraph()
    ents, rels = small_estate()
    for e in ents:
        g.put_entity(e)
    for r in rels:
        g.put_relation(r)
    return g
