"""Active Directory over LDAP (ldap3 MOCK_SYNC directory shaped as AD stores objects)."""

from __future__ import annotations

import pytest
from pydantic import SecretStr

from adapters.errors import AuthError, NotFound, RequestRejected
from adapters.integration_config import ConfigError, IntegrationConfig
from adapters.registry import build_integration
from adapters.vendors import ActiveDirectoryClient
from tests.adapters.vendors import harnesses as hs
from tests.adapters.vendors._fakes import FakeTime
from tests.adapters.vendors.fake_ad import BASE, BIND_DN, PASSWORD, directory


def test_ad_admins_come_from_privileged_groups_through_nesting():
    h = hs.active_directory(FakeTime())
    users = {u.user_id: u for u in h.client.list_users()}
    assert users["ada"].admin  # Tier0 Admins -> Domain Admins
    assert users["breakglass"].admin and users["breakglass"].break_glass
    assert not users["eve"].admin  # "Admins of the coffee machine" is not privileged
    assert users["ada"].groups == ("Engineering", "Tier0 Admins")  # direct groups
    assert users["svc-backup"].service_account


def test_ad_disable_keeps_the_other_account_control_bits():
    h = hs.active_directory(FakeTime())
    conn = h.client._conn
    h.client.disable_user("breakglass", idempotency_key="d-1")
    conn.search(BASE, "(sAMAccountName=breakglass)", attributes=["userAccountControl"])
    assert int(conn.entries[0].userAccountControl.value) == 0x200 | 0x10000 | 0x2
    assert h.client.enable_user("breakglass", idempotency_key="e-1").status == "active"
    conn.search(BASE, "(sAMAccountName=breakglass)", attributes=["userAccountControl"])
    assert int(conn.entries[0].userAccountControl.value) == 0x200 | 0x10000


def test_ad_filter_values_are_escaped():
    h = hs.active_directory(FakeTime())
    with pytest.raises(NotFound):
        h.client.get_user("*")  # a wildcard is a literal name, not "any user"
    with pytest.raises(NotFound):
        h.client.get_user("ada)(sAMAccountName=*")


def test_ad_rotation_without_overlap_sets_a_password_only_the_sink_sees():
    h = hs.active_directory(FakeTime())
    rotation = h.client.rotate_secret("svc-backup", overlap_minutes=0, idempotency_key="r-1")
    secret = h.extra["sink"]["svc-backup"].get_secret_value()
    assert len(secret) == 32 and secret not in rotation.model_dump_json()
    with pytest.raises(RequestRejected, match="overlap"):
        h.client.rotate_secret("svc-backup", overlap_minutes=15, idempotency_key="r-2")


def test_ad_bad_bind_password_is_auth_error_without_the_password():
    client = ActiveDirectoryClient(
        "ldaps://dc01.corp.example",
        bind_dn=BIND_DN,
        password=SecretStr("wrong-pass"),
        base_dn=BASE,
        connection=directory(bind_password="wrong-pass"),
    )
    with pytest.raises(AuthError) as info:
        client.list_users()
    assert "wrong-pass" not in str(info.value) + repr(client)


def test_ad_plain_ldap_needs_an_explicit_lab_switch():
    with pytest.raises(ValueError, match="ldaps"):
        ActiveDirectoryClient(
            "ldap://dc01", bind_dn=BIND_DN, password=SecretStr(PASSWORD), base_dn=BASE
        )


def test_ad_registry_builds_without_connecting_and_needs_base_dn():
    config = IntegrationConfig.model_validate(
        {
            "vendor": "active_directory",
            "base_url": "ldaps://dc01.corp.example:636",
            "credentials": {"bind_dn": BIND_DN, "password": PASSWORD},
            "options": {"base_dn": BASE},
        }
    )
    integration = build_integration("identity", config)
    assert isinstance(integration.client, ActiveDirectoryClient)
    assert integration.base_url == "ldaps://dc01.corp.example:636"
    integration.close()
    with pytest.raises(ValueError, match="base_dn"):
        IntegrationConfig.model_validate(
            {
                "vendor": "active_directory",
                "base_url": "ldaps://dc01.corp.example",
                "credentials": {"bind_dn": BIND_DN, "password": PASSWORD},
            }
        )
    assert ConfigError  # the registry's error type for build failures
