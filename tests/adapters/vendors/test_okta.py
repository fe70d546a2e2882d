"""Okta against a fake built from Okta's published Management API spec."""

from __future__ import annotations

import pytest
from pydantic import SecretStr

from adapters.errors import RequestRejected
from adapters.vendors import OktaClient
from tests.adapters.vendors import harnesses as hs
from tests.adapters.vendors._fakes import FakeTime
from tests.adapters.vendors.fake_okta import FakeOkta


def _okta(t: FakeTime, **opts) -> tuple[FakeOkta, OktaClient, dict[str, SecretStr]]:
    fake = FakeOkta(t)
    sink: dict[str, SecretStr] = {}
    client = OktaClient(
        FakeOkta.BASE, api_token=SecretStr("okta-api-token"), http_client=fake.client(),
        options=hs.OPTIONS, hooks=t.hooks(), secret_sink=sink.__setitem__, **opts,
    )  # fmt: skip
    return fake, client, sink


def _lifecycle_ops(fake: FakeOkta) -> list[str]:
    return [r.url.path.rsplit("/", 1)[-1] for r in fake.requests if "/lifecycle/" in r.url.path]


def test_okta_ssws_link_pages_and_lifecycle_suspend():
    fake, client, _ = _okta(FakeTime())
    client.list_users()
    pages = [r for r in fake.requests if r.url.path == "/api/v1/users"]
    assert [dict(r.url.params) for r in pages][:2] == [
        {"limit": "200"},
        {"after": "00u2", "limit": "200"},
    ]
    assert all(r.headers["authorization"] == "SSWS okta-api-token" for r in fake.requests)
    client.disable_user("00u1", idempotency_key="k-1")
    assert _lifecycle_ops(fake) == ["suspend"]


def test_okta_deactivated_users_are_listed_through_a_search():
    # GET /api/v1/users omits DEPROVISIONED users; the old client never saw them.
    fake, client, _ = _okta(FakeTime())
    users = {u.user_id: u for u in client.list_users()}
    assert set(users) == set(fake.users)
    assert users["00u9"].status == "disabled"
    searches = [r.url.params.get("search") for r in fake.requests if r.url.path == "/api/v1/users"]
    assert 'status eq "DEPROVISIONED"' in searches


def test_okta_locked_out_user_is_unlocked_then_suspended():
    # Suspend works only on ACTIVE users: the old client's suspend of a LOCKED_OUT user
    # was refused with 400.
    fake, client, _ = _okta(FakeTime())
    assert client.disable_user("00u5", idempotency_key="k-1").status == "disabled"
    assert _lifecycle_ops(fake) == ["unlock", "suspend"]
    assert fake.users["00u5"]["status"] == "SUSPENDED"


def test_okta_locked_out_user_can_be_deactivated_or_refused_by_setting():
    fake, client, _ = _okta(FakeTime(), locked_out_action="deactivate")
    client.disable_user("00u5", idempotency_key="k-1")
    assert fake.users["00u5"]["status"] == "DEPROVISIONED"
    fake, client, _ = _okta(FakeTime(), locked_out_action="refuse")
    with pytest.raises(RequestRejected, match="LOCKED_OUT"):
        client.disable_user("00u5", idempotency_key="k-1")
    assert _lifecycle_ops(fake) == []


@pytest.mark.parametrize("uid", ["00u6", "00u7", "00u8"])  # PASSWORD_EXPIRED, RECOVERY, PROVISIONED
def test_okta_users_okta_cannot_suspend_go_to_a_person_by_default(uid):
    fake, client, _ = _okta(FakeTime())
    status = fake.users[uid]["status"]
    with pytest.raises(RequestRejected, match=status):
        client.disable_user(uid, idempotency_key="k-1")
    assert _lifecycle_ops(fake) == []  # nothing sent that Okta would refuse


@pytest.mark.parametrize("uid", ["00u6", "00u7", "00u8"])
def test_okta_users_okta_cannot_suspend_are_deactivated_when_settings_say(uid):
    fake, client, _ = _okta(FakeTime(), inactive_action="deactivate")
    assert client.disable_user(uid, idempotency_key="k-1").status == "disabled"
    assert _lifecycle_ops(fake) == ["deactivate"]


def test_okta_enable_follows_the_actual_state():
    fake, client, _ = _okta(FakeTime())
    client.enable_user("00u2", idempotency_key="k-1")  # SUSPENDED
    client.enable_user("00u9", idempotency_key="k-2")  # DEPROVISIONED
    client.enable_user("00u1", idempotency_key="k-3")  # ACTIVE: nothing to do
    assert _lifecycle_ops(fake) == ["unsuspend", "activate"]
    activate = next(r for r in fake.requests if r.url.path.endswith("/activate"))
    assert activate.url.params["sendEmail"] == "false"


def test_okta_revoke_sessions_revokes_oauth_tokens_too():
    fake, client, _ = _okta(FakeTime())
    client.revoke_sessions("00u1", idempotency_key="k-1")
    assert fake.sessions_revoked == [("00u1", True)]


def test_okta_rotation_deletes_old_secrets_and_keeps_two_at_most():
    # An app already holding two secrets (the last rotation's overlap): the old client's
    # create was refused (two at most), and deactivated secrets were never deleted.
    t = FakeTime()
    fake, client, sink = _okta(t)
    fake.secrets["0oa1"].append(fake._secret(9, "2026-01-01T00:00:00.000Z"))
    fake.secrets["0oa1"][0]["status"] = "INACTIVE"
    rotation = client.rotate_secret("0oa1", overlap_minutes=30, idempotency_key="k-1")
    ids = [s["id"] for s in fake.secrets["0oa1"]]
    assert len(ids) == 2 and "ocs9" in ids and "ocs1" not in ids  # newest active kept
    assert rotation.new_version == 2
    assert "0oa1" in sink
    # Retiring the previous one after the overlap deletes it (deactivate, then delete).
    client.deactivate_secret("0oa1", "ocs9", idempotency_key="k-2")
    assert [s["id"] for s in fake.secrets["0oa1"]] == [ids[-1]]
    # Repeating the retirement is harmless.
    client.deactivate_secret("0oa1", "ocs9", idempotency_key="k-2")


def test_okta_rotation_retires_an_active_older_secret_before_deleting_it():
    fake, client, _ = _okta(FakeTime())
    fake.secrets["0oa1"].append(fake._secret(9, "2026-01-01T00:00:00.000Z"))
    client.rotate_secret("0oa1", overlap_minutes=5, idempotency_key="k-1")
    paths = [(r.method, r.url.path) for r in fake.requests if "/credentials/secrets/" in r.url.path]
    assert paths == [
        ("POST", "/api/v1/apps/0oa1/credentials/secrets/ocs1/lifecycle/deactivate"),
        ("DELETE", "/api/v1/apps/0oa1/credentials/secrets/ocs1"),
    ]
