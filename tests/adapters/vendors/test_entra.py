"""Entra ID admins come from directory roles, not from group names (spec-built Graph fake)."""

from __future__ import annotations

import httpx
import pytest
from pydantic import SecretStr

from adapters.errors import InvalidResponse
from adapters.vendors import EntraClient
from tests.adapters.vendors import harnesses as hs
from tests.adapters.vendors._fakes import FakeTime
from tests.adapters.vendors.fake_graph import FakeGraph
from tests.adapters.vendors.spec_contract import assert_in_spec


def test_entra_admins_are_global_administrator_role_holders_not_group_members():
    h = hs.entra(FakeTime())
    users = {u.user_id: u for u in h.client.list_users()}
    assert users["u-1"].admin  # Global Administrator assigned directly
    assert users["u-3"].admin  # through the role-assignable group Tier0 Admins
    # u-4 is in a security group merely named "Global Administrators", and holds an admin
    # role only inside an administrative unit: not a tenant admin.
    assert "Global Administrators" in users["u-4"].groups
    assert not users["u-4"].admin
    assert not users["u-2"].admin
    assert h.client.get_user("u-3").admin and not h.client.get_user("u-4").admin


def test_entra_get_user_keeps_directory_roles_out_of_groups():
    h = hs.entra(FakeTime())
    user = h.client.get_user("u-1")
    assert "Global Administrator" not in user.groups and user.admin


def test_entra_unexpanded_role_principal_is_an_error_not_a_guess():
    h = hs.entra(FakeTime())
    original = h.fake.role_assignments

    def without_expand(request):
        answer = original(request)
        body = answer.json()
        for row in body.get("value", []):
            row.pop("principal", None)
        return httpx.Response(200, json=body)

    h.fake.routes = [(m, p, without_expand if f == original else f) for m, p, f in h.fake.routes]
    with pytest.raises(InvalidResponse):
        h.client.list_users()


def test_entra_admin_roles_option_must_be_role_ids():
    with pytest.raises(ValueError, match="role definition ids"):
        EntraClient(
            tenant_id="t",
            client_id="c",
            client_secret=SecretStr("s"),
            http_client=FakeGraph(FakeTime()).client(),
            admin_roles=["Global Administrators"],
        )


def test_entra_every_request_is_in_the_graph_reference():
    h = hs.entra(FakeTime())
    h.client.list_users()
    h.client.get_user("u-1")
    h.client.disable_user("u-1", idempotency_key="a")
    h.client.revoke_sessions("u-1", idempotency_key="b")
    h.client.rotate_secret("app-1", overlap_minutes=60, idempotency_key="c")
    assert_in_spec("graph", h.fake.requests)
