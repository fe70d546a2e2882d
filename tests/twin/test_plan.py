"""The plan: read-set and staleness, the diff between two rehearsals, waves, rendering."""

from __future__ import annotations

import json
import math
from collections import Counter
from datetime import timedelta

import pytest

from tests.twin.test_invariants import IN_WINDOW, OUT_WINDOW, _add, _rel, rich_graph
from twin.graph import TwinGraph
from twin.model import EdgeType, NodeKind
from twin.plan import (
    PLAN_FORMAT_VERSION,
    Plan,
    diff_plans,
    rehearse,
    stale_entities,
)
from twin.render import RENDER_FORMAT_VERSION, render_diff, render_json, render_text
from twin.sample import REFERENCE_NOW, generate_estate
from twin.waves import plan_waves


def _bump(g: TwinGraph, eid: str, **attrs: object) -> None:
    e = g.get(eid)
    g.put_entity(e.model_copy(update={"attrs": {**e.attrs, **attrs}, "version": e.version + 1}))


def test_read_set_holds_everything_the_rehearsal_looked_at() -> None:
    g = rich_graph()
    plan = rehearse(g, "host.reboot", ["contoso-ny-db-01"], now=IN_WINDOW)
    # the target, the service it degrades, the other instance, the cluster and its members,
    # the client whose window was checked, and the hypervisor/segment/firewall on its path
    assert {
        "host:contoso-ny-db-01",
        "service:contoso-erp-db",
        "host:contoso-ny-db-02",
        "cluster:contoso-db-cluster",
        "client:contoso",
        "hypervisor:contoso-ny-hv-01",
        "segment:contoso-ny-servers",
        "firewall:contoso-ny-fw-01",
    } <= set(plan.read_set)
    assert all(v == 1 for v in plan.read_set.values())


def test_stale_plan_is_detected_and_the_re_rehearsal_diff_shows_why() -> None:
    g = rich_graph()
    old = rehearse(g, "host.reboot", ["contoso-ny-web-02"], now=IN_WINDOW)
    assert stale_entities(old, g) == []
    assert all(i["passed"] for i in old.invariants)
    # someone stops web-03 outside opshand: portal would now fall below its minimum
    _bump(g, "host:contoso-ny-web-03", note="drained")
    g.remove_relation("service:contoso-portal", EdgeType.RUNS_ON, "host:contoso-ny-web-03")
    assert stale_entities(old, g) == ["host:contoso-ny-web-03"]
    new = rehearse(g, "host.reboot", ["contoso-ny-web-02"], now=IN_WINDOW)
    assert stale_entities(new, g) == []
    d = diff_plans(old, new)
    assert not d.unchanged
    assert d.invariants_changed == {"replicas": ["pass", "needs_consent"]}
    assert any("contoso-portal would run on 1 of 2" in m for m in d.new_violations)
    assert d.read_set_changed == {"host:contoso-ny-web-03": [1, None]}
    text = render_diff(d)
    assert "invariant replicas: pass -> needs_consent" in text
    assert "host:contoso-ny-web-03 changed in the twin (version 1 -> None)" in text


def test_diff_of_identical_plans_and_of_changed_targets_and_params() -> None:
    g = rich_graph()
    a = rehearse(g, "patch.apply", ["contoso-ny-web-01"], now=IN_WINDOW)
    assert diff_plans(
        a, rehearse(g, "patch.apply", ["contoso-ny-web-01"], now=IN_WINDOW)
    ).lines() == ["no difference"]
    b = rehearse(
        g,
        "patch.apply",
        ["contoso-ny-web-01", "contoso-ny-dev-01"],
        {"reboot": False},
        now=IN_WINDOW,
    )
    d = diff_plans(a, b)
    assert d.targets_added == ["host:contoso-ny-dev-01"]
    assert d.params_changed == {"reboot": [True, False]}
    assert d.collateral_removed == ["service:contoso-portal"]
    assert d.waves_changed and d.deltas_changed


def test_plan_hash_covers_wave_plan_and_params() -> None:
    g = rich_graph()
    p = rehearse(g, "host.reboot", ["contoso-ny-web-01"], now=IN_WINDOW)
    assert p.hash == p.compute_hash() and p.format_version == PLAN_FORMAT_VERSION
    assert p.model_copy(update={"halt_threshold": 0.9}).compute_hash() != p.hash
    assert p.model_copy(update={"wave_plan": []}).compute_hash() != p.hash


def test_expiry_follows_the_ttl() -> None:
    g = rich_graph()
    p = rehearse(g, "host.reboot", ["contoso-ny-web-01"], now=IN_WINDOW, ttl=timedelta(minutes=5))
    assert p.expires_at - p.created_at == timedelta(minutes=5)


# ------------------------------------------------------------------ waves
@pytest.fixture(scope="module")
def sample() -> TwinGraph:
    est = generate_estate(endpoints=300, seed=1)
    g = TwinGraph()
    for e in est.entities:
        g.put_entity(e)
    for r in est.relations:
        g.put_relation(r)
    return g


def test_waves_canary_first_caps_per_service_tier_and_cluster(sample: TwinGraph) -> None:
    g = sample
    hosts = [e for e in g.entities(NodeKind.HOST)]
    plan = rehearse(
        g,
        "patch.apply",
        [h.id for h in hosts],
        {"reboot": True},
        now=REFERENCE_NOW,
        wave_percent=25,
    )
    waves, info = plan.waves, plan.wave_plan
    assert sorted(t for w in waves for t in w) == sorted(h.id for h in hosts)
    assert len(waves[0]) == 1 and info[0]["canary"] and info[0]["halt_threshold"] == 0.0
    assert g.get(waves[0][0]).attrs["patch_ring"] == "canary"
    assert all(i["halt_threshold"] == plan.halt_threshold for i in info[1:])
    tiers = Counter((h.attrs["client"], h.attrs["role"], h.attrs["env"]) for h in hosts)
    for wave in waves[1:]:
        ents = [g.get(t) for t in wave]
        per_tier = Counter((e.attrs["client"], e.attrs["role"], e.attrs["env"]) for e in ents)
        for tier, n in per_tier.items():
            assert n <= max(1, math.floor(tiers[tier] * 0.25)), tier
        per_svc: Counter[str] = Counter()
        per_cluster: Counter[str] = Counter()
        for t in wave:
            per_svc.update(s for ty, s in g.in_edges(t) if ty is EdgeType.RUNS_ON)
            per_cluster.update(c for ty, c in g.out_edges(t) if ty is EdgeType.MEMBER_OF)
        for svc, n in per_svc.items():
            inst = sum(1 for ty, _ in g.out_edges(svc) if ty is EdgeType.RUNS_ON)
            assert n <= max(1, math.floor(inst * 0.25)), svc
        assert all(n == 1 for n in per_cluster.values())
        # one maintenance window per wave
        windows = {
            json.dumps(
                g.get(f"client:{e.attrs['client']}").attrs["maintenance_window"], sort_keys=True
            )
            for e in ents
        }
        assert len(windows) == 1


def test_waves_follow_window_opening_order_and_say_when() -> None:
    g = rich_graph()
    fab = "client:fabrikam"
    g.put_entity(
        g.get("client:contoso").model_copy(
            update={
                "id": fab,
                "name": "fabrikam",
                "attrs": {
                    "client": "fabrikam",
                    "maintenance_window": {
                        "days": ["wed"],
                        "start": "20:00",
                        "end": "23:00",
                        "tz": "UTC",
                    },
                },
            }
        )
    )
    h = _add(
        g,
        NodeKind.HOST,
        "fabrikam-ws-01",
        role="endpoint",
        env="prod",
        client="fabrikam",
        device_id="dev-fab-1",
    )
    _rel(g, h, EdgeType.HOSTED_ON, "hypervisor:contoso-ny-hv-01")
    targets = ["contoso-ny-dev-01", "contoso-ny-app-01", "fabrikam-ws-01"]
    _, info = plan_waves(g, [g.get(g.resolve(t).id) for t in targets], 100, now=OUT_WINDOW)
    # Wednesday 15:00 UTC: fabrikam's window opens at 20:00 today, contoso's on Saturday
    assert [i["clients"] for i in info[1:]] == [["fabrikam"], ["contoso"]]
    assert info[1]["opens_at"] == "2026-01-07T20:00:00+00:00"
    assert info[2]["opens_at"].startswith("2026-01-10T22:00")


def test_single_target_has_one_wave() -> None:
    g = rich_graph()
    p = rehearse(g, "host.reboot", ["contoso-ny-web-01"], now=IN_WINDOW)
    assert p.waves == [["host:contoso-ny-web-01"]] and len(p.wave_plan) == 1


# ------------------------------------------------------------------ rendering
def test_render_text_counts_first_then_details_then_invariants() -> None:
    g = rich_graph()
    p = rehearse(g, "host.reboot", ["contoso-ny-db-01"], now=IN_WINDOW)
    text = render_text(p)
    lines = text.splitlines()
    assert lines[0].startswith("host.reboot on 1 target(s) (1 host)")
    assert lines[1].startswith("Blast radius: 1 collateral (1 service)")
    assert lines[2] == "Invariants: 4 passed, 1 deny, 1 need consent, 0 warn"
    assert text.index("Targets:") < text.index("degraded service contoso-erp-db")
    assert text.index("degraded service contoso-erp-db") < text.index("DENY     quorum")
    assert text.index("DENY     quorum") < text.index("pass     change_window")


def test_render_json_has_format_version_and_round_trips() -> None:
    g = rich_graph()
    p = rehearse(g, "host.reboot", ["contoso-ny-db-01"], now=IN_WINDOW)
    doc = json.loads(json.dumps(render_json(p)))
    assert doc["format_version"] == RENDER_FORMAT_VERSION
    assert doc["summary"]["invariants"]["deny"] == 1
    assert doc["plan"]["hash"] == p.hash
    assert Plan.model_validate(doc["plan"]).compute_hash() == p.hash
