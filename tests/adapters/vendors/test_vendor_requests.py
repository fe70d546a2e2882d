"""Per-vendor wire checks: method, path, query, auth header and body of what each client sends."""

from __future__ import annotations

import json
from datetime import timedelta

import pytest

from adapters.errors import NotFound, RequestRejected
from tests.adapters.vendors import harnesses as hs
from tests.adapters.vendors._fakes import FakeTime, body_of
from tests.adapters.vendors.fake_ninjaone import FakeNinjaOne
from tests.adapters.vendors.fakes_base import INJECTED, basic, form_of


def test_ninjaone_oauth_once_then_bearer_and_cursor_pages():
    t = FakeTime()
    h = hs.ninjaone(t)
    h.client.list_devices()
    h.client.reboot("1", idempotency_key="chg-1")
    reqs = h.fake.requests
    token = [r for r in reqs if r.url.path == "/ws/oauth/token"]
    assert len(token) == 1  # cached across calls
    assert token[0].headers["content-type"] == "application/x-www-form-urlencoded"
    pages = [r for r in reqs if r.url.path == "/v2/devices-detailed"]
    assert [dict(r.url.params) for r in pages] == [
        {"pageSize": "2"},
        {"pageSize": "2", "after": "2"},
    ]
    reboot = reqs[-1]
    assert (reboot.method, reboot.url.path) == ("POST", "/v2/device/1/reboot/NORMAL")
    assert reboot.headers["authorization"] == "Bearer ninja-access-1"
    assert reboot.headers["idempotency-key"] == "chg-1"
    assert body_of(reboot) == {"reason": "opshand change chg-1"}


def test_ninjaone_script_body_and_non_numeric_script_refused():
    h = hs.ninjaone(FakeTime())
    h.client.run_script("1", "42", {"path": "C:\\tmp x"}, idempotency_key="chg-2")
    sent = h.fake.requests[-1]
    assert sent.url.path == "/v2/device/1/script/run"
    assert body_of(sent) == {
        "type": "SCRIPT",
        "id": 42,
        "parameters": "path='C:\\tmp x'",
        "runAs": "system",
    }
    with pytest.raises(NotFound):
        h.client.run_script("1", "rm -rf", {}, idempotency_key="chg-3")


def test_a2_ninjaone_injected_hostname_stays_data():
    h = hs.ninjaone(FakeTime())
    names = {d.device_id: d.hostname for d in h.client.list_devices()}
    assert names["2"] == INJECTED[:40]


def test_servicenow_create_looks_up_correlation_id_then_posts():
    h = hs.servicenow(FakeTime())
    h.client.create_ticket("Patch web", "body", priority="critical", idempotency_key="k-7")
    lookup, post = h.fake.requests[0], h.fake.requests[1]
    assert lookup.method == "GET" and lookup.url.params["sysparm_query"] == "correlation_id=k-7"
    assert lookup.headers["authorization"] == basic("opshand", "sn-pass")
    assert (post.method, post.url.path) == ("POST", "/api/now/table/incident")
    assert body_of(post) == {
        "short_description": "Patch web",
        "description": "body",
        "impact": "1",
        "urgency": "1",
        "correlation_id": "k-7",
        "correlation_display": "opshand",
    }
    with pytest.raises(RequestRejected, match="priority"):
        h.client.create_ticket("x", "y", priority="urgent!!", idempotency_key="k-8")


def test_servicenow_comment_is_a_work_note_patch_and_status_codes():
    h = hs.servicenow(FakeTime())
    tid = h.ids["ticket"]
    h.client.comment(tid, "note", idempotency_key="k-1")
    patch = next(r for r in h.fake.requests if r.method == "PATCH")
    assert patch.url.path == f"/api/now/table/incident/{tid}"
    assert body_of(patch) == {"work_notes": "note"}
    h.client.update_status(tid, "on hold", idempotency_key="k-2")
    assert body_of([r for r in h.fake.requests if r.method == "PATCH"][-1]) == {"state": "3"}
    with pytest.raises(RequestRejected):
        h.client.update_status(tid, "vanished", idempotency_key="k-3")


def test_a2_psa_injected_description_stays_data():
    for factory in (hs.servicenow, hs.jira):
        h = factory(FakeTime())
        ticket = h.client.get_ticket(h.ids["ticket"])
        assert INJECTED in ticket.description
        assert ticket.status in ("new", "open")  # nothing in the text changed the record


def test_splunk_oneshot_form_and_bearer_token():
    h = hs.splunk(FakeTime())
    h.client.list_alerts(status="in_progress")
    sent = h.fake.requests[0]
    assert (sent.method, sent.url.path) == ("POST", "/services/search/jobs")
    assert sent.headers["authorization"] == "Bearer splunk-token"
    form = form_of(sent)
    assert form["exec_mode"] == "oneshot" and form["output_mode"] == "json"
    assert form["search"] == 'search `notable` | where lower(status_label)="in progress"'


def test_splunk_throttle_posts_suppression_to_the_owning_namespace():
    t = FakeTime()
    h = hs.splunk(t)
    h.client.throttle_rule(
        h.ids["rule"], t.wall + timedelta(minutes=90), idempotency_key="k-1", fields=("dest",)
    )
    post = h.fake.requests[-1]
    namespace = "/servicesNS/admin/SplunkEnterpriseSecuritySuite"
    assert post.url.path == f"{namespace}/saved/searches/Access - Brute Force - Rule"
    assert form_of(post) == {
        "output_mode": "json",
        "alert.suppress": "1",
        "alert.suppress.period": "5400s",
        "alert.suppress.fields": "dest",
    }
    h.client.throttle_rule(h.ids["rule"], t.wall - timedelta(minutes=1), idempotency_key="k-2")
    assert form_of(h.fake.requests[-1])["alert.suppress"] == "0"
    assert h.client.get_rule(h.ids["rule"]).throttled_until is None


@pytest.mark.parametrize(
    "query", ["index=main | delete", "| outputlookup x.csv", "index=a |sendemail to=x@y"]
)
def test_splunk_search_refuses_writing_commands_before_sending(query):
    h = hs.splunk(FakeTime())
    with pytest.raises(RequestRejected, match="read-only"):
        h.client.search(query)
    assert h.fake.requests == []


def test_a2_splunk_injected_alert_field_stays_data():
    h = hs.splunk(FakeTime())
    alert = next(a for a in h.client.list_alerts() if a.alert_id == h.ids["alert"])
    assert alert.fields["comment_from_attacker"] == INJECTED
    assert alert.entity == "vpn-01"


def test_okta_rotation_refused_without_sink():
    t = FakeTime()
    h = hs.okta(t)
    h.client._sink = None
    with pytest.raises(RequestRejected, match="sink"):
        h.client.rotate_secret("0oa1", overlap_minutes=5, idempotency_key="k")
    assert not any(r.method == "POST" for r in h.fake.requests)


def test_entra_token_at_login_host_and_graph_calls():
    h = hs.entra(FakeTime())
    h.client.disable_user("u-1", idempotency_key="k-1")
    token = h.fake.requests[0]
    assert str(token.url) == "https://login.microsoftonline.com/tenant-1/oauth2/v2.0/token"
    assert form_of(token)["grant_type"] == "client_credentials"
    patch = next(r for r in h.fake.requests if r.method == "PATCH")
    assert str(patch.url) == "https://graph.microsoft.com/v1.0/users/u-1"
    assert body_of(patch) == {"accountEnabled": False}
    assert patch.headers["authorization"].startswith("Bearer eyJ")
    h.client.rotate_secret("app-1", overlap_minutes=10, idempotency_key="k-2")
    add = next(r for r in h.fake.requests if r.url.path.endswith("/addPassword"))
    assert body_of(add) == {"passwordCredential": {"displayName": "opshand k-2"}}
    assert h.extra["sink"]["app-1"].get_secret_value() == "graph-new-secret-2"


def test_entra_next_link_pages_are_followed():
    h = hs.entra(FakeTime())
    h.client.list_users()
    user_pages = [r for r in h.fake.requests if r.url.path == "/v1.0/users"]
    assert len(user_pages) == 2 and user_pages[1].url.params["$skiptoken"] == "2"


def test_veeam_password_grant_api_version_and_restore_body():
    h = hs.veeam(FakeTime())
    h.client.start_restore("rp-2", idempotency_key="k-1")
    token, restore = h.fake.requests[0], h.fake.requests[-1]
    assert form_of(token) == {
        "grant_type": "password",
        "username": "svc-opshand",
        "password": "veeam-pass",
    }
    assert restore.headers["x-api-version"] == "1.1-rev2"
    assert restore.url.path == "/api/v1/restore/vmRestore/vSphere"  # full restore by default
    assert (
        body_of(restore)["restorePointId"] == "rp-2"
        and body_of(restore)["type"] == "OriginalLocation"
    )


def test_secrets_never_appear_in_reprs():
    t = FakeTime()
    for factory in hs.ALL_FACTORIES:
        h = factory(t)
        text = repr(h.client) + repr(h.client.http) + repr(h.client.http.auth)
        assert not any(s in text for s in hs.SECRETS), factory.__name__
        json.dumps(text)


def test_bad_client_secret_is_auth_error_naming_the_token_call():
    from pydantic import SecretStr

    from adapters.errors import AuthError
    from adapters.vendors import NinjaOneClient

    t = FakeTime()
    fake = FakeNinjaOne(t)
    client = NinjaOneClient(
        "https://eu.ninjarmm.example",
        client_id="ninja-client",
        client_secret=SecretStr("wrong-secret"),
        http_client=fake.client(),
        hooks=t.hooks(),
    )
    with pytest.raises(AuthError) as info:
        client.list_devices()
    assert str(info.value).startswith("ninjaone.oauth_token")
    assert "wrong-secret" not in str(info.value)
    assert fake.api_requests() == []  # no API call without a token


def test_e7_half_open_probe_fetches_an_expired_token_first():
    t = FakeTime()
    h = hs.ninjaone(t)
    h.client.list_devices()
    for _ in range(hs.OPTIONS.failure_threshold):
        h.client.http.breaker.record_failure()
    t.advance(7200)  # past the cool-down and the token's lifetime
    assert h.client.http.breaker.state == "half_open"
    h.client.list_devices()
    assert len([r for r in h.fake.requests if h.fake.is_token(r)]) == 2
    assert h.client.http.breaker.state == "closed"


def test_api_401_drops_the_cached_token_and_the_call_succeeds_with_a_new_one():

    t = FakeTime()
    h = hs.veeam(t)
    h.client.list_jobs()
    remaining = [1]  # fail exactly one API request with 401

    def first_api_request(request):
        if h.fake.is_token(request) or not remaining:
            return False
        remaining.pop()
        return True

    h.fake.faults.append((first_api_request, lambda r: h.fake.error(401, "token expired")))
    # The 401 drops the token; the same call fetches a new one and succeeds.
    h.client.list_jobs()
    assert len([r for r in h.fake.requests if h.fake.is_token(r)]) == 2
