"""A test per action kind: its effect (deltas), the invariants it keeps, the expected
post-state and the rollback. Plus parameter validation and the script allowlist."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from tests.twin.test_invariants import IN_WINDOW, rich_graph
from twin.actions import CATALOG, InvalidParams, get_action, parse_duration
from twin.actions.scripts import load_allowlist
from twin.plan import Plan, rehearse


def _plan(action: str, targets: list[str], params: dict[str, Any] | None = None) -> Plan:
    return rehearse(rich_graph(), action, targets, params or {}, now=IN_WINDOW)


def _ops(plan: Plan) -> list[tuple[str, str]]:
    return [(d["op"], d.get("entity_id") or d.get("dst", "")) for d in plan.deltas]


def _checks(plan: Plan) -> list[tuple[str, str]]:
    return [(x["target"], x["check"]) for x in plan.expected]


def _ran(plan: Plan) -> set[str]:
    return {i["id"] for i in plan.invariants}


def test_host_reboot() -> None:
    p = _plan("host.reboot", ["contoso-ny-web-01"])
    assert _ops(p) == [("deactivate", "host:contoso-ny-web-01")]
    assert {
        "replicas",
        "quorum",
        "critical_path",
        "mgmt_path",
        "change_window",
        "freshness",
    } <= _ran(p)
    assert ("host:contoso-ny-web-01", "rebooted") in _checks(p)
    assert ("service:contoso-portal", "service_running") in _checks(p)
    assert p.rollback[0]["action"] is None and "cannot be undone" in p.rollback[0]["note"]


def test_patch_apply_with_and_without_reboot() -> None:
    p = _plan("patch.apply", ["contoso-ny-web-01"])
    assert _ops(p) == [
        ("set_attr", "patch:KB5000001@contoso-ny-web-01"),
        ("deactivate", "host:contoso-ny-web-01"),
    ]
    assert "backup_ready" in _ran(p)
    assert p.expected[0] == {
        "target": "host:contoso-ny-web-01",
        "check": "patches_installed",
        "params": {"patch_ids": ("KB5000001",)},
    }
    assert p.rollback[0]["action"] == "patch.uninstall"
    assert p.rollback[0]["params"] == {"patch_ids": ["KB5000001"]}
    quiet = _plan("patch.apply", ["contoso-ny-web-01"], {"reboot": False})
    assert [op for op, _ in _ops(quiet)] == ["set_attr"]
    assert "rebooted" not in {c for _, c in _checks(quiet)}
    assert quiet.collateral == []


def test_patch_uninstall_is_the_rollback_and_rolls_back_to_apply() -> None:
    p = _plan("patch.uninstall", ["contoso-ny-web-01"], {"patch_ids": ["KB5000001"]})
    assert _checks(p) == [("host:contoso-ny-web-01", "patches_removed")]
    assert p.rollback[0]["action"] == "patch.apply"
    with pytest.raises(InvalidParams, match="patch_ids"):
        _plan("patch.uninstall", ["contoso-ny-web-01"], {"patch_ids": []})


def test_service_restart_rolling_and_single_instance() -> None:
    rolling = _plan("service.restart", ["contoso-portal"])
    assert _ops(rolling) == [("set_attr", "service:contoso-portal")]
    assert rolling.collateral == []
    single = _plan("service.restart", ["contoso-erp-app"])
    assert _ops(single) == [("deactivate", "service:contoso-erp-app")]
    assert {a.id for a in single.collateral} == {"service:contoso-portal"}
    one = _plan("service.restart", ["contoso-portal"], {"host": "contoso-ny-web-02"})
    assert one.expected[0]["params"] == {"host": "contoso-ny-web-02"}
    assert rolling.rollback[0]["action"] is None


def test_credential_rotate_effects_expectations_and_rollback() -> None:
    p = _plan("credential.rotate", ["credential:contoso-sql"])
    assert ("set_attr", "credential:contoso-sql") in _ops(p)
    assert next(d for d in p.deltas if d.get("key") == "version")["value"] == 4
    # no overlap possible: the consumer is down until it is updated (collateral, not intended)
    assert ("deactivate", "service:contoso-erp-app") in _ops(p)
    assert "service:contoso-erp-app" not in p.intended
    assert "credential_consumers" in _ran(p)
    assert p.expected[0] == {
        "target": "credential:contoso-sql",
        "check": "credential_rotated",
        "params": {"min_version": 4},
    }
    assert ("service:contoso-erp-app", "service_running") in _checks(p)
    assert p.rollback[0]["action"] is None
    assert p.params == {"overlap_minutes": 60}


def test_identity_disable_enable_and_revoke_sessions() -> None:
    d = _plan("identity.disable", ["jdoe"])
    assert _ops(d) == [("set_attr", "identity:jdoe"), ("deactivate", "identity:jdoe")]
    assert "last_admin" in _ran(d)
    assert _checks(d) == [("identity:jdoe", "user_disabled")]
    assert d.rollback[0]["action"] == "identity.enable"
    e = _plan("identity.enable", ["jdoe"])
    assert _checks(e) == [("identity:jdoe", "user_enabled")]
    assert e.rollback[0]["action"] == "identity.disable"
    r = _plan("identity.revoke_sessions", ["jdoe"])
    assert r.deltas == [
        {"entity_id": "identity:jdoe", "key": "sessions", "value": 0, "op": "set_attr"}
    ]
    assert _checks(r) == [("identity:jdoe", "sessions_revoked")]
    assert r.rollback[0]["action"] is None


@pytest.mark.parametrize(
    ("point", "as_of"),
    [
        ("latest", "2026-01-11T02:30:00+00:00"),
        ("last_night", "2026-01-11T08:00:00+00:00"),
        ("2026-01-09", "2026-01-09T23:59:59.999999+00:00"),
    ],
)
def test_backup_restore_to_a_restore_point(point: str, as_of: str) -> None:
    p = _plan("backup.restore", ["contoso-ny-db-01"], {"restore_point": point, "role": "primary"})
    assert _ops(p) == [
        ("deactivate", "host:contoso-ny-db-01"),
        ("set_attr", "host:contoso-ny-db-01"),
    ]
    assert {"backup_ready", "mgmt_path", "quorum"} <= _ran(p)
    exp = p.expected[0]
    assert exp["check"] == "restore_point_used"
    assert exp["params"] == {"object_name": "contoso-ny-db-01", "as_of": as_of}
    assert p.rollback[0]["action"] is None


def test_backup_restore_by_backup_entity_and_bad_point() -> None:
    p = _plan("backup.restore", ["backup:contoso-ny-db-01"], {"role": "primary"})
    assert "host:contoso-ny-db-01" in p.intended
    with pytest.raises(InvalidParams, match="restore_point"):
        _plan("backup.restore", ["contoso-ny-db-01"], {"restore_point": "yesterdayish"})


def test_firewall_rule_add_is_temporary_with_expiry_and_rolls_back_by_removal() -> None:
    p = _plan(
        "firewall.rule.add",
        ["contoso-ny-fw-01"],
        {"action": "block", "source": "203.0.113.9", "expires_in": "2h"},
    )
    new = p.deltas[0]
    assert new["op"] == "add_entity" and new["kind"] == "firewall_rule"
    assert new["attrs"]["expires_at"] == "2026-01-11T06:30:00+00:00"
    assert new["attrs"]["source"] == "203.0.113.9"
    assert "firewall_flows" in _ran(p)
    assert p.expected[0]["check"] == "firewall_rule_present"
    assert p.rollback[0]["action"] == "firewall.rule.remove"
    assert p.rollback[0]["params"]["rule_id"] == new["attrs"]["rule_id"]
    # the same parameters give the same rule id (a retried proposal adds no second rule)
    again = _plan(
        "firewall.rule.add",
        ["contoso-ny-fw-01"],
        {"action": "block", "source": "203.0.113.9", "expires_in": "2h"},
    )
    assert again.deltas[0]["attrs"]["rule_id"] == new["attrs"]["rule_id"]


def test_firewall_rule_add_validation_names_the_field() -> None:
    with pytest.raises(InvalidParams, match="source"):
        _plan("firewall.rule.add", ["contoso-ny-fw-01"], {"source": "not-an-ip"})
    with pytest.raises(InvalidParams, match="port"):
        _plan("firewall.rule.add", ["contoso-ny-fw-01"], {"source": "1.2.3.4", "port": "99999"})
    with pytest.raises(InvalidParams, match="expires_in"):
        _plan(
            "firewall.rule.add", ["contoso-ny-fw-01"], {"source": "1.2.3.4", "expires_in": "soon"}
        )
    with pytest.raises(InvalidParams, match="temporary rule needs expires_in"):
        _plan("firewall.rule.add", ["contoso-ny-fw-01"], {"source": "1.2.3.4", "expires_in": None})
    perm = _plan(
        "firewall.rule.add",
        ["contoso-ny-fw-01"],
        {"source": "1.2.3.4", "expires_in": None, "permanent": True, "action": "block"},
    )
    assert perm.deltas[0]["attrs"]["expires_at"] is None


def test_firewall_rule_remove_and_its_rollback_restores_the_rule() -> None:
    p = _plan("firewall.rule.remove", ["contoso-ny-fw-01-r070"])
    assert _ops(p) == [("deactivate", "firewall_rule:contoso-ny-fw-01-r070")]
    assert p.expected[0] == {
        "target": "firewall_rule:contoso-ny-fw-01-r070",
        "check": "firewall_rule_absent",
        "params": {"rule_id": "70"},
    }
    rb = p.rollback[0]
    assert rb["action"] == "firewall.rule.add"
    assert rb["params"]["source"] == "203.0.113.45/32" and rb["params"]["rule_id"] == "70"
    get_action("firewall.rule.add").parse_params(rb["params"])  # the rollback is valid as is
    with pytest.raises(InvalidParams, match="rule_id"):
        _plan("firewall.rule.remove", ["contoso-ny-fw-01"])


def test_siem_rule_throttle_needs_an_expiry() -> None:
    p = _plan("siem.rule.throttle", ["siem_rule:noisy-logins"], {"expires_in": "2h"})
    assert p.params["minutes"] == 120
    assert p.deltas == [
        {
            "entity_id": "siem_rule:noisy-logins",
            "key": "throttled_until",
            "value": "2026-01-11T06:30:00+00:00",
            "op": "set_attr",
        }
    ]
    assert _checks(p) == [("siem_rule:noisy-logins", "rule_throttled")]
    assert p.rollback[0]["action"] is None
    with pytest.raises(InvalidParams, match="expiry"):
        _plan("siem.rule.throttle", ["siem_rule:noisy-logins"])
    with pytest.raises(InvalidParams, match="minutes"):
        _plan("siem.rule.throttle", ["siem_rule:noisy-logins"], {"minutes": 0})


@pytest.mark.parametrize(
    ("action", "params", "check", "rollback"),
    [
        ("ticket.comment", {"text": "looking"}, "ticket_commented", None),
        ("ticket.escalate", {}, "ticket_escalated", None),
        ("ticket.close", {"resolution": "fixed"}, "ticket_status", None),
    ],
)
def test_ticket_actions(
    action: str, params: dict[str, Any], check: str, rollback: str | None
) -> None:
    p = _plan(action, ["ticket:TCK-1"], params)
    assert _checks(p) == [("ticket:TCK-1", check)]
    assert p.rollback[0]["action"] == rollback
    assert p.collateral == [] and _ran(p) == set()
    if action == "ticket.close":
        assert p.rollback[0]["note"] == "reopen it in the PSA (it was open)"


def test_script_run_allowlisted_with_typed_params() -> None:
    p = _plan(
        "script.run",
        ["contoso-ny-app-01"],
        {"script_id": "restart-service", "params": {"service": "contoso-erp-app"}},
    )
    assert _ops(p) == [("deactivate", "service:contoso-erp-app")]
    assert _checks(p) == [("service:contoso-erp-app", "service_running")]
    logs = _plan("script.run", ["contoso-ny-app-01"], {"script_id": "collect-logs"})
    assert logs.deltas == [] and logs.expected == []
    assert logs.rollback[0]["action"] is None


def test_script_run_refuses_unknown_scripts_and_bad_params_by_name() -> None:
    with pytest.raises(InvalidParams, match="'format-disk' is not on the allowlist"):
        _plan("script.run", ["contoso-ny-app-01"], {"script_id": "format-disk"})
    with pytest.raises(InvalidParams, match="needs parameter 'service'"):
        _plan("script.run", ["contoso-ny-app-01"], {"script_id": "restart-service"})
    with pytest.raises(InvalidParams, match=r"no parameter.*force"):
        _plan(
            "script.run",
            ["contoso-ny-app-01"],
            {"script_id": "collect-logs", "params": {"force": "yes"}},
        )
    with pytest.raises(InvalidParams, match=r"'patch_id'.*does not match"):
        _plan(
            "script.run",
            ["contoso-ny-app-01"],
            {"script_id": "uninstall-patch", "params": {"patch_id": "KB1; rm -rf /"}},
        )


def test_allowlist_file_types_and_errors(tmp_path: Path) -> None:
    f = tmp_path / "s.yaml"
    f.write_text(
        "version: 1\nscripts:\n  wipe-temp:\n    disruption: none\n    params:\n"
        "      days: {type: integer, min: 1, max: 30, default: 7}\n"
        "      dry_run: {type: boolean, required: false}\n"
    )
    spec = load_allowlist(f).get("wipe-temp")
    assert spec.validate({"days": "3", "dry_run": "true"}) == {"days": 3, "dry_run": True}
    assert spec.validate({}) == {"days": 7}
    with pytest.raises(ValueError, match="above the maximum 30"):
        spec.validate({"days": 31})
    f.write_text("version: 1\nscripts:\n  x:\n    params:\n      a: {type: float}\n")
    with pytest.raises(ValueError, match=r"x\.a\.type"):
        load_allowlist(f)


def test_every_action_declares_its_contract() -> None:
    assert {
        "patch.apply",
        "host.reboot",
        "service.restart",
        "credential.rotate",
        "identity.disable",
        "identity.enable",
        "identity.revoke_sessions",
        "backup.restore",
        "firewall.rule.add",
        "firewall.rule.remove",
        "siem.rule.throttle",
        "ticket.comment",
        "ticket.escalate",
        "ticket.close",
        "script.run",
    } <= set(CATALOG)
    for kind, spec in CATALOG.items():
        assert spec.capability and spec.target_kinds and spec.summary, kind
        for rb in ("identity.enable", "patch.uninstall"):
            assert rb in CATALOG


def test_wrong_target_kind_and_durations() -> None:
    with pytest.raises(InvalidParams, match="cannot target"):
        _plan("identity.disable", ["host:contoso-ny-web-01"])
    assert parse_duration("90m") == 90 and parse_duration("2 h") == 120
    assert parse_duration("1d") == 1440
    with pytest.raises(ValueError, match="not a duration"):
        parse_duration("0h")
