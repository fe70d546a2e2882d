"""The resilient HTTP layer: retries, Retry-After, error mapping, breaker, limits, pagination."""

from __future__ import annotations

from datetime import timedelta
from email.utils import format_datetime

import httpx
import pytest

from adapters._http import (
    CircuitBreaker,
    HttpResponse,
    ResilienceOptions,
    ResilientHttp,
    next_link,
    parse_retry_after,
)
from adapters.errors import (
    AmbiguousOutcome,
    AuthError,
    CircuitOpen,
    InvalidResponse,
    NotFound,
    RateLimited,
    RequestRejected,
    TransientError,
)
from tests.adapters.vendors._fakes import FakeTime, Recorder, ok

BASE = "https://vendor.example"


def make(handler, *, time: FakeTime | None = None, **opts) -> tuple[ResilientHttp, Recorder]:
    rec = Recorder(handler)
    t = time or FakeTime()
    http = ResilientHttp(
        rec.client(),
        integration="acme",
        base_url=BASE,
        options=ResilienceOptions(**opts),
        hooks=t.hooks(),
    )
    return http, rec


def test_http_get_returns_json_and_sends_accept():
    http, rec = make(lambda r: ok({"a": 1}))
    answer = http.get("/v1/things", call="list_things", params={"limit": 5})
    assert answer.body == {"a": 1}
    assert rec.requests[0].url == httpx.URL(f"{BASE}/v1/things?limit=5")
    assert rec.requests[0].headers["accept"] == "application/json"


def test_e1_5xx_on_idempotent_call_retries_bounded_then_transient():
    t = FakeTime()
    http, rec = make(lambda r: httpx.Response(503, text="busy"), time=t, max_attempts=4)
    with pytest.raises(TransientError) as info:
        http.get("/x", call="read_x")
    assert len(rec.requests) == 4
    assert len(t.sleeps) == 3
    # Full jitter under a doubling ceiling: each wait within [0, base * 2**n].
    for n, wait in enumerate(t.sleeps):
        assert 0 <= wait <= 0.5 * 2**n
    assert "acme.read_x" in str(info.value)
    assert "503" in str(info.value)


def test_e1_connect_timeout_on_idempotent_call_retries_then_transient():
    def handler(request):
        raise httpx.ConnectTimeout("timed out", request=request)

    http, rec = make(handler, max_attempts=3)
    with pytest.raises(TransientError):
        http.get("/x", call="read_x")
    assert len(rec.requests) == 3


def test_e1_retry_succeeds_after_transient_failure():
    answers = iter([httpx.Response(502), ok({"fine": True})])
    http, rec = make(lambda r: next(answers))
    assert http.get("/x", call="read_x").body == {"fine": True}
    assert len(rec.requests) == 2


def test_e1_non_idempotent_5xx_is_not_retried():
    http, rec = make(lambda r: httpx.Response(500))
    with pytest.raises(TransientError):
        http.request("POST", "/x", call="do_x", idempotent=False, idempotency_key="k1")
    assert len(rec.requests) == 1


def test_e2_read_timeout_on_non_idempotent_call_is_ambiguous_and_sent_once():
    def handler(request):
        raise httpx.ReadTimeout("no answer", request=request)

    http, rec = make(handler)
    with pytest.raises(AmbiguousOutcome) as info:
        http.request("POST", "/reboot", call="reboot", idempotent=False, idempotency_key="k1")
    assert len(rec.requests) == 1
    assert "read the state back" in str(info.value)


def test_e2_gateway_timeout_after_non_idempotent_send_is_ambiguous():
    http, rec = make(lambda r: httpx.Response(504))
    with pytest.raises(AmbiguousOutcome):
        http.request("POST", "/x", call="do_x", idempotent=False, idempotency_key="k1")
    assert len(rec.requests) == 1


def test_e2_read_timeout_on_idempotent_call_is_retried_as_transient():
    def handler(request):
        raise httpx.ReadTimeout("no answer", request=request)

    http, rec = make(handler, max_attempts=2)
    with pytest.raises(TransientError):
        http.get("/x", call="read_x")
    assert len(rec.requests) == 2


def test_e3_retry_after_seconds_is_honoured():
    t = FakeTime()
    answers = iter([httpx.Response(429, headers={"Retry-After": "7"}), ok([])])
    http, _ = make(lambda r: next(answers), time=t)
    http.get("/x", call="read_x")
    assert t.sleeps == [7.0]


def test_e3_retry_after_http_date_is_honoured():
    t = FakeTime()
    when = format_datetime(t.wall + timedelta(seconds=12), usegmt=True)
    answers = iter([httpx.Response(429, headers={"Retry-After": when}), ok([])])
    http, _ = make(lambda r: next(answers), time=t)
    http.get("/x", call="read_x")
    assert t.sleeps == [12.0]


def test_e3_huge_retry_after_is_capped_and_surfaced():
    t = FakeTime()
    http, rec = make(
        lambda r: httpx.Response(429, headers={"Retry-After": "86400"}),
        time=t,
        retry_after_cap=30.0,
        max_attempts=3,
    )
    with pytest.raises(RateLimited) as info:
        http.get("/x", call="read_x")
    assert t.sleeps == [30.0, 30.0]
    assert info.value.retry_after == 30.0
    assert len(rec.requests) == 3


def test_e3_write_answered_429_is_retried_after_retry_after_then_raised():
    # A 429 says the request was not processed: even a non-idempotent write may repeat it.
    t = FakeTime()
    http, rec = make(lambda r: httpx.Response(429, headers={"Retry-After": "5"}), time=t)
    with pytest.raises(RateLimited) as info:
        http.request("POST", "/x", call="do_x", idempotent=False, idempotency_key="k")
    assert info.value.retry_after == 5.0
    assert t.sleeps == [5.0, 5.0]
    assert len(rec.requests) == 3
    assert {r.headers["idempotency-key"] for r in rec.requests} == {"k"}


def test_e3_write_answered_429_once_succeeds_on_the_retry():
    t = FakeTime()
    answers = iter([httpx.Response(429, headers={"Retry-After": "2"}), ok({"id": 7}, 201)])
    http, rec = make(lambda r: next(answers), time=t)
    answer = http.request("POST", "/x", call="do_x", idempotent=False, idempotency_key="k")
    assert answer.body == {"id": 7}
    assert t.sleeps == [2.0]
    assert len(rec.requests) == 2


def test_e1_write_answered_503_is_not_repeated():
    # 503 from a write: the change may or may not have been taken; never repeat it blindly.
    t = FakeTime()
    http, rec = make(lambda r: httpx.Response(503, headers={"Retry-After": "1"}), time=t)
    with pytest.raises(TransientError):
        http.request("POST", "/x", call="do_x", idempotent=False, idempotency_key="k")
    assert len(rec.requests) == 1


def test_e1_retry_after_is_honoured_on_503():
    t = FakeTime()
    answers = iter([httpx.Response(503, headers={"Retry-After": "7"}), ok({"a": 1})])
    http, _ = make(lambda r: next(answers), time=t, backoff_base=0.01, backoff_max=0.01)
    assert http.get("/x", call="read_x").body == {"a": 1}
    assert t.sleeps == [7.0]  # the vendor's word, not the 0.01 s backoff


def test_e1_retry_after_on_503_is_capped():
    t = FakeTime()
    answers = iter([httpx.Response(503, headers={"Retry-After": "86400"}), ok({})])
    http, _ = make(lambda r: next(answers), time=t, retry_after_cap=30.0)
    http.get("/x", call="read_x")
    assert t.sleeps == [30.0]


class _Rotating:
    """An OAuth-like authenticator: each fetch yields a new token."""

    refreshable = True

    def __init__(self) -> None:
        self.issued = 0
        self.current: str | None = None
        self.invalidated = 0

    def auth_headers(self, http):
        if self.current is None:
            self.issued += 1
            self.current = f"tok-{self.issued}"
        return {"Authorization": f"Bearer {self.current}"}

    def invalidate(self):
        self.invalidated += 1
        self.current = None


def _make_auth(handler, auth, **opts):
    rec = Recorder(handler)
    http = ResilientHttp(
        rec.client(), integration="acme", base_url=BASE, options=ResilienceOptions(**opts),
        auth=auth, hooks=FakeTime().hooks(),
    )  # fmt: skip
    return http, rec


def test_e6_401_refreshes_the_token_and_retries_once_even_a_write():
    auth = _Rotating()
    http, rec = _make_auth(
        lambda r: ok({"ok": 1}) if r.headers["authorization"] == "Bearer tok-2" else
        httpx.Response(401, json={"error": "invalid_token"}),
        auth,
    )  # fmt: skip
    answer = http.request("POST", "/x", call="do_x", idempotent=False, idempotency_key="k")
    assert answer.body == {"ok": 1}
    assert [r.headers["authorization"] for r in rec.requests] == ["Bearer tok-1", "Bearer tok-2"]


def test_e6_401_after_refresh_is_raised_not_looped():
    auth = _Rotating()
    http, rec = _make_auth(lambda r: httpx.Response(401), auth)
    with pytest.raises(AuthError) as info:
        http.get("/x", call="read_x")
    assert info.value.status == 401
    assert len(rec.requests) == 2
    assert auth.issued == 2


def test_e6_403_is_not_retried_even_with_a_refreshable_token():
    auth = _Rotating()
    http, rec = _make_auth(lambda r: httpx.Response(403), auth)
    with pytest.raises(AuthError):
        http.get("/x", call="read_x")
    assert len(rec.requests) == 1


def test_e3_okta_style_reset_header_is_understood():
    t = FakeTime()
    reset = str(int(t.wall.timestamp()) + 20)
    assert parse_retry_after({"x-rate-limit-reset": reset}, now=t.wall, cap=60) == 20.0
    assert parse_retry_after({"retry-after": "soon"}, now=t.wall, cap=60) is None
    assert parse_retry_after({"retry-after": "-5"}, now=t.wall, cap=60) == 0.0
    assert parse_retry_after({}, now=t.wall, cap=60) is None


@pytest.mark.parametrize("status", [401, 403])
def test_e6_auth_errors_are_never_retried(status):
    http, rec = make(lambda r: httpx.Response(status, json={"error": "bad token"}))
    with pytest.raises(AuthError):
        http.get("/x", call="read_x")
    assert len(rec.requests) == 1


def test_http_404_maps_to_not_found_and_400_to_rejected():
    http, _ = make(lambda r: httpx.Response(404 if r.url.path == "/gone" else 400, text="nope"))
    with pytest.raises(NotFound):
        http.get("/gone", call="read")
    with pytest.raises(RequestRejected) as info:
        http.get("/bad", call="read")
    assert info.value.status == 400


@pytest.mark.parametrize(
    ("response", "needle"),
    [
        (httpx.Response(200, text="<html>oops</html>"), "not JSON"),
        (httpx.Response(200, content=b"\xff\xfe\x00garbage"), "not JSON"),
        (httpx.Response(200, content=b"x" * 2048), "limit"),
        (httpx.Response(200, content=b"{}", headers={"Content-Length": "999999"}), "limit"),
    ],
)
def test_e5_malformed_or_oversized_body_is_invalid_response_naming_the_call(response, needle):
    http, _ = make(lambda r: response, max_body_bytes=1024)
    with pytest.raises(InvalidResponse) as info:
        http.get("/x", call="list_widgets")
    assert "acme.list_widgets" in str(info.value)
    assert needle in str(info.value)


def test_mutating_call_carries_idempotency_key_and_requires_one():
    http, rec = make(lambda r: ok({}))
    http.request("PATCH", "/x", call="set_x", idempotent=True, json_body={}, idempotency_key="k9")
    assert rec.requests[0].headers["idempotency-key"] == "k9"
    with pytest.raises(ValueError, match="idempotency key"):
        http.request("DELETE", "/x", call="del_x", idempotent=True)


def test_breaker_opens_after_threshold_then_half_opens_after_cool_down():
    t = FakeTime()
    healthy = {"on": False}
    http, rec = make(
        lambda r: ok({}) if healthy["on"] else httpx.Response(500),
        time=t,
        max_attempts=1,
        failure_threshold=3,
        cool_down=10.0,
    )
    for _ in range(3):
        with pytest.raises(TransientError):
            http.get("/x", call="read")
    assert http.breaker.state == "open"
    with pytest.raises(CircuitOpen):
        http.get("/x", call="read")
    assert len(rec.requests) == 3  # nothing sent while open
    t.advance(10.0)
    assert http.breaker.state == "half_open"
    with pytest.raises(TransientError):  # the probe fails: open again
        http.get("/x", call="read")
    assert http.breaker.state == "open"
    t.advance(10.0)
    healthy["on"] = True
    http.get("/x", call="read")
    assert http.breaker.state == "closed"


def test_breaker_half_open_lets_one_probe_at_a_time():
    t = FakeTime()
    breaker = CircuitBreaker("acme", failure_threshold=1, cool_down=5, clock=lambda: t.mono)
    breaker.record_failure()
    t.advance(5)
    breaker.before_call("a")
    with pytest.raises(CircuitOpen):
        breaker.before_call("b")


def test_auth_and_not_found_do_not_open_the_breaker():
    http, _ = make(lambda r: httpx.Response(404), failure_threshold=1)
    for _ in range(3):
        with pytest.raises(NotFound):
            http.get("/x", call="read")
    assert http.breaker.state == "closed"


def test_next_link_keeps_a_target_whose_query_holds_commas():
    # Okta-style next link with a field projection: splitting the header at every comma
    # (the old parser) cut the URL in two and lost the next page.
    header = (
        '<https://v.example/api/v1/users?limit=2&fields=id,status,profile>; rel="self", '
        '<https://v.example/api/v1/users?after=00u2&limit=2&fields=id,status,profile>; rel="next"'
    )
    assert next_link({"link": header}) == (
        "https://v.example/api/v1/users?after=00u2&limit=2&fields=id,status,profile"
    )


def test_http_response_carries_parsed_links():
    link = '<https://vendor.example/x?after=2>; rel="next"'
    http, _ = make(lambda r: ok([1], headers={"Link": link}))
    assert http.get("/x", call="read").links["next"]["url"] == "https://vendor.example/x?after=2"


def test_next_link_parses_rfc8288_header():
    header = (
        '<https://v.example/api?after=1>; rel="self", <https://v.example/api?after=9>; rel="next"'
    )
    assert next_link({"link": header}) == "https://v.example/api?after=9"
    assert next_link({"link": '<https://v.example/a>; rel="self"'}) is None
    assert next_link({}) is None


def test_paginate_follows_links_on_same_origin_only():
    pages = {
        "1": ok([1, 2], headers={"Link": f'<{BASE}/items?page=2>; rel="next"'}),
        "2": ok([3], headers={"Link": '<https://evil.example/items?page=3>; rel="next"'}),
    }
    http, rec = make(lambda r: pages[r.url.params.get("page", "1")])

    def following(page: HttpResponse, _seen: int):
        return next_link(page.headers)

    it = http.paginate("/items", call="list_items", items=lambda p: p.body, next_request=following)
    assert [next(it), next(it), next(it)] == [1, 2, 3]
    with pytest.raises(InvalidResponse, match="another origin"):
        next(it)
    assert len(rec.requests) == 2


def test_paginate_offset_stops_on_short_page_and_caps_pages():
    data = list(range(7))

    def handler(request):
        off, lim = int(request.url.params["offset"]), int(request.url.params["limit"])
        return ok(data[off : off + lim])

    http, _ = make(handler)

    def following(page, seen):
        return {"offset": seen} if len(page.body) == 3 else None

    got = list(
        http.paginate(
            "/i",
            call="list",
            items=lambda p: p.body,
            next_request=following,
            params={"limit": 3, "offset": 0},
        )
    )
    assert got == data

    looping, _ = make(lambda r: ok([1]), max_pages=4)
    with pytest.raises(InvalidResponse, match="4 pages"):
        list(
            looping.paginate(
                "/i", call="list", items=lambda p: p.body, next_request=lambda p, s: "/i"
            )
        )


def test_no_httpx_exception_escapes_any_transport_failure():
    failures = [
        httpx.ConnectError("refused"),
        httpx.ReadError("reset"),
        httpx.WriteTimeout("slow"),
        httpx.RemoteProtocolError("bad frame"),
        httpx.PoolTimeout("pool"),
        httpx.UnsupportedProtocol("ftp"),
    ]
    for exc in failures:

        def handler(request, exc=exc):
            exc.request = request
            raise exc

        http, _ = make(handler, max_attempts=1)
        for idempotent in (True, False):
            with pytest.raises((TransientError, AmbiguousOutcome)):
                http.request("POST", "/x", call="c", idempotent=idempotent, idempotency_key="k")
