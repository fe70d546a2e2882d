"""Identity behaviour: disabling, sessions, and secret rotation with and without overlap."""

from __future__ import annotations

import pytest

from adapters.errors import NotFound
from adapters.sim import ManualClock, SimEstate
from tests.adapters.sim.conftest import DB1, START, WEB1, WEB2


def test_identity_lists_users_and_groups(sim: SimEstate) -> None:
    users = {u.user_id: u for u in sim.identity.list_users()}
    assert users["u-alice"].admin and users["u-alice"].groups == ("g-admins",)
    assert users["u-svc-web"].service_account and users["u-svc-web"].secret_version == 3
    groups = {g.group_id: g for g in sim.identity.list_groups()}
    assert groups["g-admins"].members == ("u-alice",)


def test_identity_disable_user_ends_sessions(sim: SimEstate) -> None:
    sim.drift.login("u-bob")
    assert sim.identity.get_user("u-bob").sessions >= 1
    user = sim.identity.disable_user("u-bob", idempotency_key="d1")
    assert user.status == "disabled" and user.sessions == 0
    sim.drift.login("u-bob")  # a disabled account cannot sign in
    assert sim.identity.get_user("u-bob").sessions == 0
    again = sim.identity.enable_user("u-bob", idempotency_key="e1")
    assert again.status == "active" and again.sessions == 0


def test_identity_revoke_sessions(sim: SimEstate) -> None:
    sim.drift.login("u-alice")
    assert sim.identity.revoke_sessions("u-alice", idempotency_key="k").sessions == 0
    assert sim.identity.get_user("u-alice").status == "active"


def test_identity_disabling_service_account_fails_its_services(sim: SimEstate) -> None:
    assert sim.service_health("contoso-reports").status == "running"
    sim.identity.disable_user("u-svc-rpt", idempotency_key="d1")
    health = sim.service_health("contoso-reports")
    assert health.status == "down" and "svc-rpt" in health.reasons[0]
    assert sim.service_health("contoso-erp-db").status == "running"


def test_identity_rotation_without_overlap_breaks_consumers(sim: SimEstate) -> None:
    rot = sim.identity.rotate_secret("u-svc-web", overlap_minutes=0, idempotency_key="r1")
    assert rot.new_version == 4 and rot.previous_valid_until is None
    health = sim.service_health("contoso-web")
    assert health.status == "down"
    assert health.instances == {WEB1: "failed", WEB2: "failed"}
    assert sim.identity.get_user("u-svc-web").secret_version == 4


def test_identity_rotation_with_overlap_keeps_old_version_until_then(
    sim: SimEstate, clock: ManualClock
) -> None:
    rot = sim.identity.rotate_secret("u-svc-web", overlap_minutes=30, idempotency_key="r1")
    assert rot.previous_valid_until is not None
    assert rot.previous_valid_until - START == __import__("datetime").timedelta(minutes=30)
    clock.advance(29 * 60)
    assert sim.service_health("contoso-web").status == "running"
    clock.advance(60)
    assert sim.service_health("contoso-web").status == "down"


def test_identity_updating_consumers_inside_overlap_keeps_service_up(
    sim: SimEstate, clock: ManualClock
) -> None:
    sim.identity.rotate_secret("u-svc-web", overlap_minutes=30, idempotency_key="r1")
    for dev in (WEB1, WEB2):
        sim.rmm.run_script(
            dev, "update-secret", {"service": "contoso-web"}, idempotency_key=f"u-{dev}"
        )
    clock.advance(3600)
    assert sim.service_health("contoso-web").status == "running"


def test_identity_half_updated_consumers_degrade(sim: SimEstate, clock: ManualClock) -> None:
    sim.identity.rotate_secret("u-svc-web", overlap_minutes=10, idempotency_key="r1")
    sim.rmm.run_script(WEB1, "update-secret", {"service": "contoso-web"}, idempotency_key="u1")
    clock.advance(3600)
    health = sim.service_health("contoso-web")
    assert health.status == "degraded" and health.instances == {WEB1: "running", WEB2: "failed"}


def test_identity_overlap_ignored_when_credential_cannot_overlap(sim: SimEstate) -> None:
    rot = sim.identity.rotate_secret("u-svc-erp", overlap_minutes=60, idempotency_key="r1")
    assert rot.previous_valid_until is None
    assert sim.service_health("contoso-erp-db").instances == {DB1: "failed"}


def test_identity_rotation_of_account_without_credentials_counts_versions(sim: SimEstate) -> None:
    first = sim.identity.rotate_secret("u-svc-rpt", overlap_minutes=0, idempotency_key="a")
    second = sim.identity.rotate_secret("u-svc-rpt", overlap_minutes=0, idempotency_key="b")
    assert (first.new_version, second.new_version) == (2, 3)
    assert sim.service_health("contoso-reports").status == "running"


def test_identity_tenant_view_sees_only_its_client(sim: SimEstate) -> None:
    contoso = sim.identity_for("contoso")
    assert "u-eve" not in {u.user_id for u in contoso.list_users()}
    with pytest.raises(NotFound, match="tenant"):
        contoso.disable_user("u-eve", idempotency_key="d")
    assert sim.identity.get_user("u-eve").status == "active"
    assert sim.identity_for("fabrikam").list_groups() == []
