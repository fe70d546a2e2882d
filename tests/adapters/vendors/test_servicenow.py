"""ServiceNow OAuth: client credentials, password + refresh token, re-authentication on 401."""

from __future__ import annotations

import logging

import pytest
from pydantic import SecretStr

from adapters.errors import AuthError
from adapters.vendors import ServiceNowClient
from tests.adapters.vendors import harnesses as hs
from tests.adapters.vendors._fakes import FakeTime
from tests.adapters.vendors.fake_servicenow import ACCESS_LIFETIME, CLIENT, FakeServiceNow
from tests.adapters.vendors.fakes_base import form_of

TICKET = f"{1:032x}"


def _oauth(t: FakeTime, **creds) -> tuple[FakeServiceNow, ServiceNowClient]:
    fake = FakeServiceNow(t)
    client = ServiceNowClient(
        "https://acme.service-now.example", http_client=fake.client(), client_id=CLIENT[0],
        client_secret=SecretStr(CLIENT[1]), options=hs.OPTIONS, hooks=t.hooks(), **creds,
    )  # fmt: skip
    return fake, client


def _bearers(fake: FakeServiceNow) -> list[str]:
    return [r.headers["authorization"] for r in fake.api_requests()]


def test_servicenow_client_credentials_token_is_renewed_before_it_expires():
    # The old client took one fixed bearer; 30 minutes later every call was refused.
    t = FakeTime()
    fake, client = _oauth(t)
    client.get_ticket(TICKET)
    t.advance(ACCESS_LIFETIME + 60)
    client.get_ticket(TICKET)
    assert fake.grants == ["client_credentials", "client_credentials"]
    assert _bearers(fake) == ["Bearer sn-access-1"] * 2 + ["Bearer sn-access-2"] * 2
    token = next(r for r in fake.requests if fake.is_token(r))
    assert token.headers["content-type"] == "application/x-www-form-urlencoded"
    assert form_of(token) == {
        "grant_type": "client_credentials",
        "client_id": CLIENT[0],
        "client_secret": CLIENT[1],
    }


def test_servicenow_password_grant_renews_through_the_refresh_token():
    t = FakeTime()
    fake, client = _oauth(t, username="opshand", password=SecretStr("sn-pass"))
    client.get_ticket(TICKET)
    t.advance(ACCESS_LIFETIME)
    client.get_ticket(TICKET)
    assert fake.grants == ["password", "refresh_token"]
    refresh = [r for r in fake.requests if fake.is_token(r)][1]
    assert form_of(refresh) == {
        "grant_type": "refresh_token",
        "client_id": CLIENT[0],
        "client_secret": CLIENT[1],
        "refresh_token": "sn-refresh-1",
    }


def test_servicenow_revoked_refresh_token_falls_back_to_the_password_grant():
    t = FakeTime()
    fake, client = _oauth(t, username="opshand", password=SecretStr("sn-pass"))
    client.get_ticket(TICKET)
    fake.refresh_tokens.clear()
    t.advance(ACCESS_LIFETIME)
    assert client.get_ticket(TICKET).number == "INC0010001"
    assert fake.grants == ["password", "refresh_token", "password"]


def test_servicenow_401_reauthenticates_and_retries_the_call_once():
    t = FakeTime()
    fake, client = _oauth(t)
    client.get_ticket(TICKET)
    fake.revoke_access_tokens()
    ticket = client.comment(TICKET, "note", idempotency_key="k-1")  # a write, retried once
    assert ticket.comments == ("note",)
    assert len(fake.journal) == 1  # the refused request was not applied, the retry was
    assert fake.grants == ["client_credentials", "client_credentials"]


def test_servicenow_refresh_token_only_configuration():
    t = FakeTime()
    fake, client = _oauth(t, refresh_token=SecretStr("sn-refresh-0"))
    client.get_ticket(TICKET)
    assert fake.grants == ["refresh_token"]
    assert "sn-refresh-0" not in repr(client)


def test_servicenow_refused_client_is_an_auth_error_without_the_secret(caplog):
    t = FakeTime()
    fake = FakeServiceNow(t)
    client = ServiceNowClient(
        "https://acme.service-now.example", http_client=fake.client(), client_id=CLIENT[0],
        client_secret=SecretStr("wrong-secret"), options=hs.OPTIONS, hooks=t.hooks(),
    )  # fmt: skip
    with caplog.at_level(logging.DEBUG), pytest.raises(AuthError) as info:
        client.get_ticket(TICKET)
    assert "wrong-secret" not in str(info.value) and "wrong-secret" not in caplog.text


def test_servicenow_oauth_needs_both_halves_of_the_client():
    with pytest.raises(ValueError, match="client_id and client_secret"):
        ServiceNowClient(
            "https://s.example", http_client=FakeServiceNow(FakeTime()).client(),
            client_secret=SecretStr("x"),
        )  # fmt: skip
