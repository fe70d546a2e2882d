from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from pydantic import ValidationError

from agent.approval import Identity, RoleMap, RoleMapError


class Clock:
    def __init__(self) -> None:
        self.now = datetime(2026, 1, 5, 9, 0, tzinfo=UTC)

    def __call__(self) -> datetime:
        return self.now


def test_roles_bare_ids_bind_to_the_map_team():
    roles = RoleMap({"admins": ["U1"], "approvers": ["U2", "U3"]}, team_id="T1")
    assert roles.roles_for("T1", "U2") == frozenset({"approvers"})
    assert roles.roles_for("T1", "U1") == frozenset({"admins"})
    # Same user id in another workspace is a different person.
    assert roles.roles_for("T2", "U2") == frozenset()
    assert roles.has_role("T1", "U3", "approvers")
    assert not roles.has_role("T1", "U4", "approvers")


def test_roles_team_qualified_ids_match_only_that_team():
    roles = RoleMap({"approvers": ["T9:U7"]}, team_id="T1")
    assert roles.has_role("T9", "U7", "approvers")
    assert not roles.has_role("T1", "U7", "approvers")


def test_roles_without_team_bare_ids_match_any_team():
    roles = RoleMap({"approvers": ["U2"]})
    assert roles.has_role("T1", "U2", "approvers")
    assert roles.has_role("T5", "U2", "approvers")


def test_roles_usergroups_resolved_and_cached_for_ttl():
    calls: list[str] = []
    members = {"oncall": ["U5", "U6"]}

    def resolve(handle: str) -> list[str]:
        calls.append(handle)
        return members[handle]

    clock = Clock()
    roles = RoleMap(
        {"requesters": {"users": ["U1"], "usergroups": ["oncall"]}},
        team_id="T1",
        usergroup_members=resolve,
        usergroup_ttl=timedelta(seconds=60),
        clock=clock,
    )
    assert roles.has_role("T1", "U5", "requesters")
    assert roles.has_role("T1", "U6", "requesters")
    assert calls == ["oncall"]
    members["oncall"] = ["U6"]
    assert roles.has_role("T1", "U5", "requesters")  # still cached
    clock.now += timedelta(seconds=61)
    assert not roles.has_role("T1", "U5", "requesters")
    assert calls == ["oncall", "oncall"]
    members["oncall"] = ["U5"]
    roles.invalidate()
    assert roles.has_role("T1", "U5", "requesters")


def test_roles_failing_usergroup_lookup_grants_nothing():
    def broken(handle: str) -> list[str]:
        raise RuntimeError("slack down")

    roles = RoleMap({"approvers": {"usergroups": ["cab"]}}, usergroup_members=broken)
    assert roles.roles_for("T1", "U1") == frozenset()


def test_roles_update_replaces_membership():
    roles = RoleMap({"approvers": ["U2"]}, team_id="T1")
    roles.update({"approvers": ["U3"]})
    assert not roles.has_role("T1", "U2", "approvers")
    assert roles.has_role("T1", "U3", "approvers")
    assert roles.roles == frozenset({"approvers"})


@pytest.mark.parametrize(
    "data",
    [
        {"approvers": "U2"},
        {"approvers": {"people": ["U2"]}},
        {"approvers": ["Alice Approver"]},
        {"approvers": [""]},
        {"approvers": {"usergroups": "cab"}},
    ],
)
def test_roles_bad_shape_rejected(data):
    with pytest.raises(RoleMapError, match="approvers"):
        RoleMap(data)


def test_b7_display_name_is_not_an_identity():
    # Identities are ids from the signed payload; a display name with spaces is not one.
    with pytest.raises(ValidationError):
        Identity(team_id="T1", user_id="Alice Approver")
    roles = RoleMap({"approvers": ["U2"]}, team_id="T1")
    # A user whose *name* is "U2" is still only their own user id.
    assert not roles.has_role("T1", "alice", "approvers")
    assert Identity(team_id="T1", user_id="U2").key == "T1:U2"
