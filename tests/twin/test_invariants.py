"""Every invariant: a change that violates it is caught with the right evidence, and a near
miss passes. ``rich_graph`` (shared with the action, plan and capability tests) extends the small
hand-made estate with a network, people, secrets, backups and a maintenance window."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from tests.estate import small_graph
from twin.fork import Deactivate, Fork
from twin.graph import TwinGraph
from twin.invariants import CheckContext, run_invariants
from twin.invariants._core import Violation, run_checks
from twin.model import EdgeType, Entity, NodeKind, Relation
from twin.plan import Plan, rehearse

E, K = EdgeType, NodeKind
# Saturday 23:30 in New York: inside contoso's window (sat/sun 22:00-04:00).
IN_WINDOW = datetime(2026, 1, 11, 4, 30, tzinfo=UTC)
# Wednesday 15:00 UTC: outside it.
OUT_WINDOW = datetime(2026, 1, 7, 15, 0, tzinfo=UTC)
WINDOW = {"days": ["sat", "sun"], "start": "22:00", "end": "04:00", "tz": "America/New_York"}


def _set(g: TwinGraph, eid: str, **attrs: Any) -> None:
    e = g.get(eid)
    g.put_entity(e.model_copy(update={"attrs": {**e.attrs, **attrs}}))


def _add(g: TwinGraph, kind: NodeKind, name: str, /, **attrs: Any) -> str:
    eid = f"{kind.value}:{name}"
    g.put_entity(
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


def _rel(g: TwinGraph, src: str, t: EdgeType, dst: str) -> None:
    g.put_relation(Relation(src=src, type=t, dst=dst, source="test"))


def rich_graph(now: datetime = IN_WINDOW) -> TwinGraph:
    """The small estate plus a firewall, segments, admins, credentials, backups, a window."""
    g = small_graph()
    _set(g, "client:contoso", maintenance_window=WINDOW)
    fw = _add(g, K.FIREWALL, "contoso-ny-fw-01", site="contoso-ny")
    servers = _add(g, K.SEGMENT, "contoso-ny-servers", cidr="10.0.32.0/22", purpose="servers")
    mgmt = _add(g, K.SEGMENT, "contoso-ny-mgmt", cidr="10.0.37.0/24", purpose="mgmt")
    for seg in (servers, mgmt):
        _rel(g, seg, E.PROTECTED_BY, fw)
    ips = {
        "web-01": "10.0.32.11",
        "web-02": "10.0.32.12",
        "web-03": "10.0.32.13",
        "db-01": "10.0.32.21",
        "db-02": "10.0.32.22",
        "app-01": "10.0.32.31",
        "dns-01": "10.0.32.53",
        "dev-01": "10.0.32.40",
    }
    for short, ip in ips.items():
        hid = f"host:contoso-ny-{short}"
        _set(g, hid, ip=ip, site="contoso-ny", last_boot=(now - timedelta(days=3)).isoformat())
        _rel(g, hid, E.ATTACHED_TO, servers)
    _set(g, "host:contoso-ny-db-01", db_role="primary")
    _set(g, "host:contoso-ny-db-02", db_role="replica")
    web = _add(g, K.CLUSTER, "contoso-web-cluster", quorum=2)
    for i in (1, 2, 3):
        _rel(g, f"host:contoso-ny-web-0{i}", E.MEMBER_OF, web)
    for svc, port in (
        ("contoso-dns", 53),
        ("contoso-erp-app", 8443),
        ("contoso-portal", 443),
        ("contoso-erp-db", 1433),
        ("contoso-dev-app", 8443),
    ):
        _set(g, f"service:{svc}", port=port)
    bkp_host = _add(
        g,
        K.HOST,
        "contoso-ny-bkp-01",
        role="server",
        env="prod",
        ip="10.0.32.60",
        device_id="dev-bkp-01",
        site="contoso-ny",
        criticality="medium",
    )
    _rel(g, bkp_host, E.HOSTED_ON, "hypervisor:contoso-ny-hv-01")
    _rel(g, bkp_host, E.ATTACHED_TO, servers)
    bkp_svc = _add(
        g,
        K.SERVICE,
        "contoso-backup",
        role="backup",
        env="prod",
        port=9392,
        criticality="high",
        replicas_min=1,
    )
    _rel(g, bkp_svc, E.RUNS_ON, bkp_host)
    # firewall rules
    rules = {
        "r010": ("allow", "any", "10.0.32.11/32", "443", "service:contoso-portal", None),
        "r040": ("allow", "10.0.0.0/16", "10.0.32.53/32", "53", "service:contoso-dns", None),
        "r050": ("allow", "10.0.37.0/24", "10.0.32.0/22", "3389", servers, None),
        "r070": (
            "allow",
            "203.0.113.45/32",
            "10.0.32.31/32",
            "8443",
            "service:contoso-erp-app",
            (now - timedelta(days=30)).isoformat(),
        ),
        "r999": ("block", "any", "any", "any", None, None),
    }
    for rid, (act, src, dst, port, to, exp) in rules.items():
        r = _add(
            g,
            K.FIREWALL_RULE,
            f"contoso-ny-fw-01-{rid}",
            rule_id=rid.lstrip("r0") or rid,
            action=act,
            source=src,
            destination=dst,
            port=port,
            protocol="tcp",
            expires_at=exp,
        )
        _rel(g, r, E.RULE_OF, fw)
        if to:
            _rel(g, r, E.ALLOWS_TRAFFIC, to)
    # people
    admins = _add(g, K.GROUP, "contoso-domain-admins", privileged=True, group_id="g-adm")
    for who in ("adm-anna", "adm-ben"):
        uid = _add(
            g, K.IDENTITY, who, username=who, user_id=f"u-{who}", admin=True, status="active"
        )
        _rel(g, uid, E.MEMBER_OF, admins)
    _rel(g, "identity:breakglass-contoso", E.MEMBER_OF, admins)
    # credentials and their owners
    for cred, overlap, owner, users in (
        ("contoso-sql", False, "svc-sql", ["service:contoso-erp-app"]),
        ("contoso-ldap", True, "svc-ldap", ["service:contoso-portal"]),
        ("contoso-m365", True, "svc-m365", ["saas:m365"]),
    ):
        oid = _add(
            g,
            K.IDENTITY,
            owner,
            username=owner,
            user_id=f"u-{owner}",
            service_account=True,
            status="active",
        )
        cid = _add(g, K.CREDENTIAL, cred, version=3, supports_overlap=overlap, owner=oid)
        _rel(g, oid, E.OWNS, cid)
        for u in users:
            if u not in g:
                _add(g, K.SAAS, u.split(":", 1)[1], criticality="critical")
            _rel(g, u, E.USES_CREDENTIAL, cid)
    # backups
    for host, age_h, tested_d in (("db-01", 2, 5), ("db-02", 72, 5), ("bkp-01", 3, 3)):
        b = _add(
            g,
            K.BACKUP,
            f"contoso-ny-{host}",
            job_id=f"bj-{host}",
            object_name=f"contoso-ny-{host}",
            rpo_hours=24,
            last_success=(now - timedelta(hours=age_h)).isoformat(),
            tested_at=(now - timedelta(days=tested_d)).isoformat(),
        )
        _rel(g, b, E.PROTECTS, f"host:contoso-ny-{host}")
    _add(g, K.TICKET, "TCK-1", number="TCK-1", status="open", priority="high")
    _add(g, K.SIEM_RULE, "noisy-logins", rule_id="sr-1", name="noisy logins", enabled=True)
    return g


def inv(plan: Plan, inv_id: str) -> dict[str, Any]:
    """The result of one invariant in a plan."""
    return next(i for i in plan.invariants if i["id"] == inv_id)


def _failing(plan: Plan, inv_id: str, severity: str) -> list[dict[str, Any]]:
    res = inv(plan, inv_id)
    assert not res["passed"], res
    assert res["severity"] == severity, res
    return list(res["violations"])


# ------------------------------------------------------------------ replicas and quorum
def test_replicas_violation_and_near_miss() -> None:
    g = rich_graph()
    rows = _failing(
        rehearse(g, "host.reboot", ["contoso-ny-db-01"], now=IN_WINDOW), "replicas", "needs_consent"
    )
    assert rows[0]["entities"][:2] == ["service:contoso-erp-db", "host:contoso-ny-db-01"]
    assert inv(rehearse(g, "host.reboot", ["contoso-ny-web-01"], now=IN_WINDOW), "replicas")[
        "passed"
    ]


def test_quorum_violation_and_near_miss() -> None:
    g = rich_graph()
    plan = rehearse(g, "host.reboot", ["contoso-ny-db-02"], now=IN_WINDOW)
    rows = _failing(plan, "quorum", "deny")
    assert "cluster:contoso-db-cluster" in rows[0]["entities"]
    assert "host:contoso-ny-db-02" in rows[0]["entities"]
    # a three-member cluster with quorum 2 survives one reboot
    assert inv(rehearse(g, "host.reboot", ["contoso-ny-web-02"], now=IN_WINDOW), "quorum")["passed"]


# ------------------------------------------------------------------ critical path
def test_critical_path_violation_names_the_path() -> None:
    g = rich_graph()
    rows = _failing(
        rehearse(g, "host.reboot", ["contoso-ny-dns-01"], now=IN_WINDOW), "critical_path", "deny"
    )
    assert rows[0]["entities"] == ["service:contoso-dns", "host:contoso-ny-dns-01"]
    assert "contoso-dns" in rows[0]["message"]


def test_critical_path_near_miss_degraded_is_not_lost() -> None:
    g = rich_graph()
    plan = rehearse(g, "host.reboot", ["contoso-ny-db-01"], now=IN_WINDOW)
    assert inv(plan, "critical_path")["passed"]  # erp-db is critical but only degraded


# ------------------------------------------------------------------ credentials
def test_credential_without_overlap_needs_consent_naming_consumers() -> None:
    g = rich_graph()
    rows = _failing(
        rehearse(g, "credential.rotate", ["credential:contoso-sql"], now=IN_WINDOW),
        "credential_consumers",
        "needs_consent",
    )
    assert rows[0]["entities"] == ["credential:contoso-sql", "service:contoso-erp-app"]


def test_credential_consumer_that_cannot_be_updated_is_denied() -> None:
    g = rich_graph()
    plan = rehearse(
        g, "credential.rotate", ["credential:contoso-m365"], {"overlap_minutes": 60}, now=IN_WINDOW
    )
    rows = _failing(plan, "credential_consumers", "deny")
    assert rows[0]["entities"] == ["credential:contoso-m365", "saas:m365"]


def test_credential_overlap_used_passes_and_short_overlap_warns() -> None:
    g = rich_graph()
    ok = rehearse(
        g, "credential.rotate", ["credential:contoso-ldap"], {"overlap_minutes": 60}, now=IN_WINDOW
    )
    assert inv(ok, "credential_consumers")["passed"]
    assert ok.collateral == []  # the consumer keeps a valid secret throughout
    short = rehearse(
        g, "credential.rotate", ["credential:contoso-ldap"], {"overlap_minutes": 5}, now=IN_WINDOW
    )
    assert _failing(short, "credential_consumers", "warn")
    zero = rehearse(
        g, "credential.rotate", ["credential:contoso-ldap"], {"overlap_minutes": 0}, now=IN_WINDOW
    )
    assert _failing(zero, "credential_consumers", "needs_consent")


# ------------------------------------------------------------------ last admin / break-glass
def test_break_glass_identity_is_never_disabled() -> None:
    g = rich_graph()
    rows = _failing(
        rehearse(g, "identity.disable", ["breakglass-contoso"], now=IN_WINDOW), "last_admin", "deny"
    )
    assert rows[0]["entities"] == ["identity:breakglass-contoso"]


def test_last_admin_violation_and_near_miss() -> None:
    g = rich_graph()
    both = rehearse(g, "identity.disable", ["adm-anna", "adm-ben"], now=IN_WINDOW)
    rows = _failing(both, "last_admin", "deny")
    assert {r["entities"][0] for r in rows} == {"identity:adm-anna", "identity:adm-ben"}
    assert "contoso-domain-admins" in rows[0]["message"]
    one = rehearse(g, "identity.disable", ["adm-anna"], now=IN_WINDOW)
    assert inv(one, "last_admin")["passed"]


# ------------------------------------------------------------------ firewall flows
def test_firewall_allow_any_to_prod_is_denied() -> None:
    g = rich_graph()
    plan = rehearse(
        g,
        "firewall.rule.add",
        ["contoso-ny-fw-01"],
        {"source": "any", "destination": "10.0.32.0/28", "port": "443"},
        now=IN_WINDOW,
    )
    rows = _failing(plan, "firewall_flows", "deny")
    assert "to any source" in rows[0]["message"]
    assert {"host:contoso-ny-web-01", "host:contoso-ny-web-03"} <= set(rows[0]["entities"])


def test_firewall_allow_beyond_intended_service_needs_consent() -> None:
    g = rich_graph()
    plan = rehearse(
        g,
        "firewall.rule.add",
        ["contoso-ny-fw-01"],
        {
            "source": "198.51.100.7",
            "destination": "10.0.32.0/26",
            "port": "8443",
            "service": "contoso-erp-app",
        },
        now=IN_WINDOW,
    )
    rows = _failing(plan, "firewall_flows", "needs_consent")
    assert "service:contoso-dev-app" in rows[0]["entities"]


def test_firewall_narrow_allow_for_the_intended_service_passes() -> None:
    g = rich_graph()
    plan = rehearse(
        g,
        "firewall.rule.add",
        ["contoso-ny-fw-01"],
        {
            "source": "198.51.100.7",
            "destination": "10.0.32.31",
            "port": "8443",
            "service": "contoso-erp-app",
        },
        now=IN_WINDOW,
    )
    assert inv(plan, "firewall_flows")["passed"]


def test_firewall_block_that_cuts_dns_is_denied_but_outside_block_passes() -> None:
    g = rich_graph()
    cut = rehearse(
        g,
        "firewall.rule.add",
        ["contoso-ny-fw-01"],
        {"action": "block", "source": "10.0.0.0/8", "destination": "10.0.32.53", "port": "53"},
        now=IN_WINDOW,
    )
    rows = _failing(cut, "firewall_flows", "deny")
    assert ["firewall_rule:contoso-ny-fw-01-r040", "service:contoso-dns"] in [
        r["entities"] for r in rows
    ]
    outside = rehearse(
        g,
        "firewall.rule.add",
        ["contoso-ny-fw-01"],
        {"action": "block", "source": "203.0.113.9"},
        now=IN_WINDOW,
    )
    assert inv(outside, "firewall_flows")["passed"]


def test_firewall_block_from_inside_that_partly_cuts_management_is_denied() -> None:
    g = rich_graph()
    plan = rehearse(
        g,
        "firewall.rule.add",
        ["contoso-ny-fw-01"],
        {"action": "block", "source": "10.0.37.5", "destination": "any"},
        now=IN_WINDOW,
    )
    rows = _failing(plan, "firewall_flows", "deny")
    assert any("management" in r["message"] for r in rows)


def test_firewall_remove_dns_rule_denied_and_expired_temp_rule_passes() -> None:
    g = rich_graph()
    rows = _failing(
        rehearse(g, "firewall.rule.remove", ["contoso-ny-fw-01-r040"], now=IN_WINDOW),
        "firewall_flows",
        "deny",
    )
    assert rows[0]["entities"] == ["firewall_rule:contoso-ny-fw-01-r040", "service:contoso-dns"]
    ok = rehearse(g, "firewall.rule.remove", ["contoso-ny-fw-01-r070"], now=IN_WINDOW)
    assert inv(ok, "firewall_flows")["passed"]


def test_firewall_removing_the_default_block_opens_prod_to_any() -> None:
    g = rich_graph()
    rows = _failing(
        rehearse(g, "firewall.rule.remove", ["contoso-ny-fw-01-r999"], now=IN_WINDOW),
        "firewall_flows",
        "deny",
    )
    assert "to any source" in rows[0]["message"]


# ------------------------------------------------------------------ backups and roles
def test_restore_needs_backup_within_rpo_and_matching_role() -> None:
    g = rich_graph()
    plan = rehearse(g, "backup.restore", ["contoso-ny-db-02"], {"role": "primary"}, now=IN_WINDOW)
    msgs = [r["message"] for r in _failing(plan, "backup_ready", "deny")]
    assert any("72 h old (RPO 24 h)" in m for m in msgs)
    assert any("is the replica" in m for m in msgs)


def test_restore_of_unasked_primary_needs_consent_and_near_miss_passes() -> None:
    g = rich_graph()
    unasked = rehearse(g, "backup.restore", ["contoso-ny-db-01"], now=IN_WINDOW)
    assert _failing(unasked, "backup_ready", "needs_consent")[0]["entities"] == [
        "host:contoso-ny-db-01"
    ]
    ok = rehearse(g, "backup.restore", ["contoso-ny-db-01"], {"role": "primary"}, now=IN_WINDOW)
    assert inv(ok, "backup_ready")["passed"]


def test_restore_test_too_old_needs_consent_and_no_backup_is_denied() -> None:
    g = rich_graph()
    _set(g, "backup:contoso-ny-db-01", tested_at=(IN_WINDOW - timedelta(days=90)).isoformat())
    plan = rehearse(g, "patch.apply", ["contoso-ny-db-01"], now=IN_WINDOW)
    assert (
        "restore-tested 90 days ago"
        in _failing(plan, "backup_ready", "needs_consent")[0]["message"]
    )
    g.remove_entity("backup:contoso-ny-db-01")
    rows = _failing(
        rehearse(g, "patch.apply", ["contoso-ny-db-01"], now=IN_WINDOW), "backup_ready", "deny"
    )
    assert rows[0]["message"] == "no backup protects contoso-ny-db-01"


# ------------------------------------------------------------------ management path
def test_mgmt_path_through_the_changed_hypervisor_is_denied() -> None:
    g = rich_graph()
    plan = rehearse(g, "host.reboot", ["contoso-ny-hv-01", "contoso-ny-web-01"], now=IN_WINDOW)
    rows = _failing(plan, "mgmt_path", "deny")
    assert ["host:contoso-ny-web-01", "hypervisor:contoso-ny-hv-01"] in [
        r["entities"] for r in rows
    ]
    assert inv(rehearse(g, "host.reboot", ["contoso-ny-web-01"], now=IN_WINDOW), "mgmt_path")[
        "passed"
    ]


def test_restoring_the_backup_server_through_itself_is_denied() -> None:
    g = rich_graph()
    rows = _failing(
        rehearse(g, "backup.restore", ["contoso-ny-bkp-01"], now=IN_WINDOW), "mgmt_path", "deny"
    )
    assert rows[0]["entities"] == ["host:contoso-ny-bkp-01", "service:contoso-backup"]


# ------------------------------------------------------------------ windows and freezes
def test_change_window_outside_needs_consent_inside_passes() -> None:
    g = rich_graph(OUT_WINDOW)
    out = rehearse(g, "host.reboot", ["contoso-ny-web-01"], now=OUT_WINDOW)
    rows = _failing(out, "change_window", "needs_consent")
    assert rows[0]["entities"] == ["client:contoso", "host:contoso-ny-web-01"]
    assert "2026-01-10T22:00:00-05:00" in rows[0]["message"]
    assert inv(rehearse(g, "host.reboot", ["contoso-ny-web-01"], now=IN_WINDOW), "change_window")[
        "passed"
    ]


def test_change_window_does_not_hold_back_a_rolling_restart() -> None:
    g = rich_graph(OUT_WINDOW)
    plan = rehearse(g, "service.restart", ["contoso-portal"], now=OUT_WINDOW)
    assert inv(plan, "change_window")["passed"]


def test_change_freeze_denies_inside_window_and_lifts_after() -> None:
    g = rich_graph()
    _set(
        g,
        "client:contoso",
        change_freeze={
            "start": (IN_WINDOW - timedelta(days=1)).isoformat(),
            "end": (IN_WINDOW + timedelta(hours=1)).isoformat(),
            "reason": "quarter close",
        },
    )
    rows = _failing(
        rehearse(g, "host.reboot", ["contoso-ny-web-01"], now=IN_WINDOW), "change_window", "deny"
    )
    assert "quarter close" in rows[0]["message"]
    later = IN_WINDOW + timedelta(hours=2)
    assert inv(rehearse(g, "host.reboot", ["contoso-ny-web-01"], now=later), "change_window")[
        "passed"
    ]


# ------------------------------------------------------------------ freshness
def test_stale_fact_in_blast_radius_needs_consent_fresh_passes() -> None:
    g = rich_graph()
    e = g.get("host:contoso-ny-web-02")
    g.put_entity(e.model_copy(update={"last_seen": IN_WINDOW - timedelta(days=3)}))
    rows = _failing(
        rehearse(g, "host.reboot", ["contoso-ny-web-02"], now=IN_WINDOW),
        "freshness",
        "needs_consent",
    )
    assert rows[0]["entities"] == ["host:contoso-ny-web-02"]
    g.put_entity(e.model_copy(update={"last_seen": IN_WINDOW - timedelta(hours=1)}))
    assert inv(rehearse(g, "host.reboot", ["contoso-ny-web-02"], now=IN_WINDOW), "freshness")[
        "passed"
    ]


def test_freshness_threshold_is_a_setting_and_cmdb_records_do_not_go_stale() -> None:
    g = rich_graph()
    e = g.get("host:contoso-ny-web-02")
    g.put_entity(e.model_copy(update={"last_seen": IN_WINDOW - timedelta(hours=30)}))
    relaxed = rehearse(
        g, "host.reboot", ["contoso-ny-web-02"], now=IN_WINDOW, settings={"max_fact_age_hours": 48}
    )
    assert inv(relaxed, "freshness")["passed"]
    g.put_entity(
        e.model_copy(update={"last_seen": IN_WINDOW - timedelta(days=30), "source": "cmdb"})
    )
    assert inv(rehearse(g, "host.reboot", ["contoso-ny-web-02"], now=IN_WINDOW), "freshness")[
        "passed"
    ]


# ------------------------------------------------------------------ fail closed
def _ctx(**settings: Any) -> CheckContext:
    g = rich_graph()
    f = Fork(g, [])
    return CheckContext(
        f, f.outage(), "host.reboot", ("host:contoso-ny-web-01",), {}, IN_WINDOW, settings
    )


def test_a_raising_check_is_a_deny() -> None:
    def boom(ctx: CheckContext) -> list[Violation]:
        raise RuntimeError("twin unreadable")

    [res] = run_checks(_ctx(), ("boom",), {"boom": ("explodes", boom)})
    assert not res.passed and res.severity == "deny" and "twin unreadable" in (res.error or "")


def test_a_check_over_its_budget_is_a_deny_and_unknown_ids_too() -> None:
    [slow] = run_invariants(_ctx(check_timeout_ms=-1), ("replicas",))
    assert slow.severity == "deny" and "timed out" in (slow.error or "")
    [unknown] = run_invariants(_ctx(), ("no_such_check",))
    assert unknown.severity == "deny"


@pytest.mark.parametrize(
    "inv_id", ["replicas", "quorum", "critical_path", "mgmt_path", "change_window", "freshness"]
)
def test_checks_pass_on_an_empty_change(inv_id: str) -> None:
    assert run_invariants(_ctx(), (inv_id,))[0].passed


def test_mgmt_path_losing_a_firewall_or_management_segment_is_denied() -> None:
    g = rich_graph()
    f = Fork(g, [Deactivate("segment:contoso-ny-mgmt")])
    ctx = CheckContext(f, f.outage(), "host.reboot", ("host:contoso-ny-web-01",), {}, IN_WINDOW)
    [res] = run_invariants(ctx, ("mgmt_path",))
    assert res.severity == "deny"
    assert [v.entities for v in res.violations] == [("segment:contoso-ny-mgmt",)]
    f2 = Fork(g, [Deactivate("firewall:contoso-ny-fw-01")])
    ctx2 = CheckContext(f2, f2.outage(), "host.reboot", ("host:contoso-ny-web-01",), {}, IN_WINDOW)
    [res2] = run_invariants(ctx2, ("mgmt_path",))
    # the firewall itself, and the web host's segment and firewall on its path
    assert ("host:contoso-ny-web-01", "firewall:contoso-ny-fw-01") in [
        v.entities for v in res2.violations
    ]
    assert ("firewall:contoso-ny-fw-01",) in [v.entities for v in res2.violations]
