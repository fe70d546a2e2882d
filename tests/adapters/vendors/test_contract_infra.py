"""Contract suites for identity, backup and firewall: the same tests for every client."""

from __future__ import annotations

from datetime import timedelta

import pytest

from adapters.contracts import (
    BackupContract,
    BackupJob,
    FirewallContract,
    FirewallRule,
    IdentityContract,
    IdentityGroup,
    IdentityUser,
    RestorePoint,
)
from adapters.errors import IdempotencyConflict, NotFound, RequestRejected
from tests.adapters.vendors._fakes import FakeTime
from tests.adapters.vendors.harnesses import (
    BACKUP_FACTORIES,
    FIREWALL_FACTORIES,
    IDENTITY_FACTORIES,
    ids,
)


@pytest.fixture(params=IDENTITY_FACTORIES, ids=ids(IDENTITY_FACTORIES))
def idp(request):
    t = FakeTime()
    return request.param(t), t


@pytest.fixture(params=BACKUP_FACTORIES, ids=ids(BACKUP_FACTORIES))
def backup(request):
    t = FakeTime()
    return request.param(t), t


@pytest.fixture(params=FIREWALL_FACTORIES, ids=ids(FIREWALL_FACTORIES))
def fw(request):
    t = FakeTime()
    return request.param(t), t


# --------------------------------------------------------------------------- identity
def test_identity_contract_inventory(idp):
    h, _ = idp
    assert isinstance(h.client, IdentityContract)
    users = {u.user_id: u for u in h.client.list_users()}
    assert all(isinstance(u, IdentityUser) for u in users.values())
    assert users[h.ids["active_user"]].status == "active"
    assert users[h.ids["disabled_user"]].status == "disabled"
    assert users[h.ids["break_glass_user"]].break_glass is True
    assert users[h.ids["admin_user"]].admin is True
    assert users[h.ids["active_user"]].groups  # membership resolved
    groups = h.client.list_groups()
    assert all(isinstance(g, IdentityGroup) for g in groups)
    assert any(h.ids["active_user"] in g.members for g in groups)


def test_identity_contract_disable_enable_round_trip_and_repeat(idp):
    h, _ = idp
    uid = h.ids["active_user"]
    assert h.client.disable_user(uid, idempotency_key="k-d").status == "disabled"
    assert (
        h.client.disable_user(uid, idempotency_key="k-d").status == "disabled"
    )  # repeat is harmless
    assert h.client.get_user(uid).status == "disabled"
    assert h.client.enable_user(uid, idempotency_key="k-e").status == "active"
    assert h.client.enable_user(uid, idempotency_key="k-e").status == "active"


def test_identity_contract_revoke_sessions(idp):
    h, _ = idp
    if "revoke_sessions" in h.extra.get("refuses", ()):
        with pytest.raises(RequestRejected):
            h.client.revoke_sessions(h.ids["active_user"], idempotency_key="k-r")
        return
    user = h.client.revoke_sessions(h.ids["active_user"], idempotency_key="k-r")
    assert user.user_id == h.ids["active_user"] and user.sessions == 0


def test_identity_contract_rotate_secret_keeps_overlap_and_hides_secret(idp):
    h, t = idp
    if "rotate_secret_with_overlap" in h.extra.get("refuses", ()):
        with pytest.raises(RequestRejected):
            h.client.rotate_secret(h.ids["service_app"], overlap_minutes=30, idempotency_key="k")
        return
    rotation = h.client.rotate_secret(
        h.ids["service_app"], overlap_minutes=30, idempotency_key="k-rot"
    )
    assert rotation.user_id == h.ids["service_app"]
    assert rotation.new_version >= 2
    assert rotation.previous_valid_until == t.wall + timedelta(minutes=30)
    assert "secret" not in rotation.model_dump_json().lower().replace("secretrotation", "")
    if "sink" in h.extra:  # vendor clients hand the new secret to the sink only
        assert h.ids["service_app"] in h.extra["sink"]


def test_identity_contract_missing_user_is_not_found(idp):
    h, _ = idp
    with pytest.raises(NotFound):
        h.client.get_user(h.ids["missing_user"])
    with pytest.raises(NotFound):
        h.client.disable_user(h.ids["missing_user"], idempotency_key="k")


# --------------------------------------------------------------------------- backup
def test_backup_contract_jobs_and_points(backup):
    h, _ = backup
    assert isinstance(h.client, BackupContract)
    jobs = h.client.list_jobs()
    assert all(isinstance(j, BackupJob) for j in jobs)
    assert any(h.ids["object"] in j.protects for j in jobs)
    points = h.client.restore_points(h.ids["object"])
    assert points and all(
        isinstance(p, RestorePoint) and p.object_name == h.ids["object"] for p in points
    )
    assert [p.created_at for p in points] == sorted((p.created_at for p in points), reverse=True)


def test_backup_contract_restore_runs_to_completion(backup):
    h, t = backup
    job = h.client.start_restore(h.ids["point"], idempotency_key="k-restore")
    assert job.kind == "restore" and job.state in ("queued", "running")
    states = []
    for _ in range(5):
        t.advance(60)
        states.append(h.client.restore_status(job.job_id).state)
        if states[-1] in ("succeeded", "failed"):
            break
    assert states[-1] == "succeeded"


def test_backup_contract_missing_point_and_session_are_not_found(backup):
    h, _ = backup
    with pytest.raises(NotFound):
        h.client.start_restore(h.ids["missing_point"], idempotency_key="k")
    with pytest.raises(NotFound):
        h.client.restore_status("no-such-session")


# --------------------------------------------------------------------------- firewall
def _rule(t: FakeTime, port: str = "8443") -> FirewallRule:
    return FirewallRule(
        rule_id="",
        action="allow",
        source="10.0.5.0/24",
        destination="10.0.1.7",
        port=port,
        protocol="tcp",
        description="temp access for CR-9",
        expires_at=t.wall + timedelta(hours=4),
    )


def test_firewall_contract_list_add_remove(fw):
    h, t = fw
    assert isinstance(h.client, FirewallContract)
    before = h.client.list_rules()
    assert h.ids["rule"] in {r.rule_id for r in before}
    added = h.client.add_rule(_rule(t), idempotency_key="k-fw1")
    assert added.rule_id and added.rule_id not in {r.rule_id for r in before}
    listed = {r.rule_id: r for r in h.client.list_rules()}
    assert listed[added.rule_id].expires_at == t.wall + timedelta(hours=4)
    assert (listed[added.rule_id].port, listed[added.rule_id].action) == ("8443", "allow")
    h.client.remove_rule(added.rule_id, idempotency_key="k-fw2")
    h.client.remove_rule(added.rule_id, idempotency_key="k-fw2")  # already gone: still fine
    assert added.rule_id not in {r.rule_id for r in h.client.list_rules()}


def test_d3_firewall_same_key_same_rule_once_different_rule_conflicts(fw):
    h, t = fw
    first = h.client.add_rule(_rule(t), idempotency_key="k-fw3")
    again = h.client.add_rule(_rule(t), idempotency_key="k-fw3")
    assert again.rule_id == first.rule_id
    assert sum(r.rule_id == first.rule_id for r in h.client.list_rules()) == 1
    with pytest.raises(IdempotencyConflict):
        h.client.add_rule(_rule(t, port="22"), idempotency_key="k-fw3")


def test_firewall_contract_removing_an_absent_rule_is_harmless(fw):
    # A rule that expired or was deleted by hand is already where a removal wants it to be.
    h, t = fw
    added = h.client.add_rule(_rule(t), idempotency_key="k-fw5")
    h.client.remove_rule(added.rule_id, idempotency_key="k-fw6")
    h.client.remove_rule(added.rule_id, idempotency_key="k-fw7")  # a new key: still fine
    assert added.rule_id not in {r.rule_id for r in h.client.list_rules()}
    assert h.ids["rule"] in {r.rule_id for r in h.client.list_rules()}
