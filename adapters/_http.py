"""The resilient HTTP layer every vendor client sends through.

One :class:`ResilientHttp` per integration wraps an injected :class:`httpx.Client` and owns the
integration's :class:`CircuitBreaker`. Attempts go through the one retry layer
(:func:`adapters._retry.call_with_retries`): only calls the client marks ``idempotent`` (or a
caller's :func:`~adapters._retry.call_scope` vouches for) are retried on a transient failure, a
429 on any call (bounded, jittered exponential backoff, ``Retry-After`` honoured up to a cap).
Every failure leaves as an :mod:`adapters.errors` type; no httpx exception escapes. Sleep, clock
and randomness are injected so tests never really wait.

Mutating calls carry an ``Idempotency-Key`` header; vendors that ignore it get a
vendor-appropriate field as well (set by the vendor client, e.g. ServiceNow ``correlation_id``).
"""

from __future__ import annotations

import json
import logging
import random
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from typing import Any, Protocol

import httpx

from adapters._breaker import BreakerState, CircuitBreaker
from adapters._headers import next_link, parse_retry_after
from adapters._retry import HttpHooks, ResilienceOptions, breaker_for, call_with_retries
from adapters._status import excerpt, status_error, transport_error
from adapters.errors import AdapterError, AuthError, InvalidResponse

__all__ = [
    "Authenticator",
    "BreakerState",
    "CircuitBreaker",
    "HttpHooks",
    "HttpResponse",
    "ResilienceOptions",
    "ResilientHttp",
    "next_link",
    "parse_retry_after",
]

_log = logging.getLogger("opshand.adapters.http")

_SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})


class Authenticator(Protocol):
    """Supplies auth headers for each request; may itself call the integration (token fetch).

    ``refreshable`` says whether :meth:`invalidate` leads to a different credential (an OAuth
    token fetched again): only then is a request answered 401 sent once more.
    """

    @property
    def refreshable(self) -> bool:
        """Whether a fresh credential can replace a refused one."""
        ...

    def auth_headers(self, http: ResilientHttp) -> dict[str, str]:
        """Headers to add to the next request."""
        ...

    def invalidate(self) -> None:
        """Forget any cached credential (called after a 401)."""
        ...


@dataclass(frozen=True)
class HttpResponse:
    """A checked 2xx answer: status, headers and the decoded JSON body (``None`` if empty)."""

    status: int
    headers: httpx.Headers
    body: Any = field(default=None)
    links: dict[str | None, dict[str, str]] = field(default_factory=dict)
    """RFC 8288 links by ``rel`` (:attr:`httpx.Response.links`): ``links["next"]["url"]``."""


class ResilientHttp:
    """Sends one integration's requests with timeouts, retries, a breaker and error mapping.

    Args:
        client: The injected sync client (its transport is a ``MockTransport`` in tests).
        integration: Name used in errors, logs and the breaker, e.g. ``"okta"``.
        base_url: Scheme and host (and any path prefix) every relative path is joined to.
        options: Timeouts, retry and breaker settings.
        auth: Supplies auth headers; ``None`` for unauthenticated calls.
        hooks: Sleep, clocks and randomness (fakes in tests).
        breaker: Share or inspect a breaker; one is made per instance otherwise.
        idempotency_header: Header carrying the idempotency key on mutating calls.
    """

    def __init__(
        self,
        client: httpx.Client,
        *,
        integration: str,
        base_url: str,
        options: ResilienceOptions | None = None,
        auth: Authenticator | None = None,
        hooks: HttpHooks | None = None,
        breaker: CircuitBreaker | None = None,
        idempotency_header: str = "Idempotency-Key",
    ) -> None:
        self.client = client
        self.integration = integration
        self.base_url = httpx.URL(base_url.rstrip("/") + "/")
        self.options = options or ResilienceOptions()
        self.auth = auth
        self.hooks = hooks or HttpHooks()
        self._now = self.hooks.now
        self._rng = self.hooks.rng or random.Random()
        self.idempotency_header = idempotency_header
        self.breaker = breaker or breaker_for(integration, self.options, self.hooks)

    def __repr__(self) -> str:
        return f"ResilientHttp(integration={self.integration!r}, base_url={str(self.base_url)!r})"

    # ------------------------------------------------------------------ public
    def request(
        self,
        method: str,
        path: str,
        *,
        call: str,
        idempotent: bool,
        params: Mapping[str, str | int | bool] | None = None,
        json_body: Any = None,
        form: Mapping[str, str] | None = None,
        headers: Mapping[str, str] | None = None,
        idempotency_key: str | None = None,
        mutating: bool | None = None,
        authenticated: bool = True,
        timeout: float | None = None,
    ) -> HttpResponse:
        """Send one logical call (maybe several attempts) and return its checked answer.

        Args:
            method: HTTP method.
            path: Path relative to ``base_url``, or an absolute URL on the same origin.
            call: Vendor call name for errors and logs, e.g. ``"list_users"``.
            idempotent: Whether repeating the call is harmless; only then is it retried.
            params: Query parameters.
            json_body: JSON request body.
            form: Form-encoded request body (OAuth token requests).
            headers: Extra headers.
            idempotency_key: Sent as :attr:`idempotency_header`; required when mutating.
            mutating: Whether the call changes the estate; defaults to "not GET/HEAD/OPTIONS".
            authenticated: Add the authenticator's headers.
            timeout: Read timeout override for this call.

        Raises:
            AdapterError: One of its subclasses for every failure; never an httpx exception.
        """
        method = method.upper()
        is_mutating = method not in _SAFE_METHODS if mutating is None else mutating
        if is_mutating and not idempotency_key:
            raise ValueError(
                f"{self.integration}.{call} changes state and needs an idempotency key"
            )
        url = self._url(path, call)
        auth: dict[str, str] = {}

        def credentials() -> None:
            # A token fetch is its own call with its own retries and breaker slot.
            auth.clear()
            if authenticated and self.auth is not None:
                auth.update(self.auth.auth_headers(self))

        def refused(exc: AdapterError) -> bool:
            if not isinstance(exc, AuthError) or not authenticated or self.auth is None:
                return False
            self.auth.invalidate()
            # A 401 refuses the request unprocessed: with a credential that can be renewed
            # (an expired or revoked token), fetch a new one and send once more.
            if exc.status == 401 and self.auth.refreshable:
                _log.info("%s.%s answered 401; refreshing credentials", self.integration, call)
                return True
            return False

        def send() -> HttpResponse:
            return self._attempt(
                method, url, call=call, idempotent=idempotent, params=params,
                json_body=json_body, form=form, headers={**(headers or {}), **auth},
                idempotency_key=idempotency_key if is_mutating else None, timeout=timeout,
            )  # fmt: skip

        return call_with_retries(
            send,
            call=call,
            idempotent=idempotent,
            breaker=self.breaker,
            options=self.options,
            hooks=self.hooks,
            rng=self._rng,
            prepare=credentials,
            resend_at_once=refused,
        )

    def get(
        self, path: str, *, call: str, params: Mapping[str, str | int | bool] | None = None
    ) -> HttpResponse:
        """An idempotent read."""
        return self.request("GET", path, call=call, idempotent=True, params=params)

    def paginate(
        self,
        path: str,
        *,
        call: str,
        items: Callable[[HttpResponse], list[Any]],
        next_request: Callable[[HttpResponse, int], str | dict[str, str | int | bool] | None],
        params: Mapping[str, str | int | bool] | None = None,
    ) -> Iterator[Any]:
        """Yield items over pages until ``next_request`` returns ``None``.

        ``next_request(page, n_items_so_far)`` returns either the next page's URL (link header,
        ``@odata.nextLink``) or the next page's query parameters (offset, cursor). Next links
        must stay on the integration's origin, so a hostile body cannot send our credentials
        elsewhere.
        """
        target: str = path
        query: dict[str, str | int | bool] = dict(params or {})
        seen = 0
        for _page in range(self.options.max_pages):
            page = self.request("GET", target, call=call, idempotent=True, params=query or None)
            batch = items(page)
            seen += len(batch)
            yield from batch
            following = next_request(page, seen)
            if following is None or (not batch and isinstance(following, dict)):
                return
            if isinstance(following, str):
                target, query = following, {}
            else:
                query = {**dict(params or {}), **following}
        raise InvalidResponse(
            f"pagination did not end after {self.options.max_pages} pages",
            integration=self.integration,
            call=call,
        )

    # ------------------------------------------------------------------ internals
    def _url(self, path: str, call: str) -> httpx.URL:
        if path.startswith(("http://", "https://")):
            url = httpx.URL(path)
            if (url.scheme, url.host, url.port) != (
                self.base_url.scheme,
                self.base_url.host,
                self.base_url.port,
            ):
                raise InvalidResponse(
                    "refusing to follow a link to another origin",
                    integration=self.integration,
                    call=call,
                )
            return url
        return self.base_url.join(path.lstrip("/"))

    def _attempt(
        self,
        method: str,
        url: httpx.URL,
        *,
        call: str,
        idempotent: bool,
        params: Mapping[str, str | int | bool] | None,
        json_body: Any,
        form: Mapping[str, str] | None,
        headers: Mapping[str, str] | None,
        idempotency_key: str | None,
        timeout: float | None,
    ) -> HttpResponse:
        send_headers = {"Accept": "application/json", **(headers or {})}
        if idempotency_key:
            send_headers[self.idempotency_header] = idempotency_key
        opts = self.options
        read = timeout if timeout is not None else opts.read_timeout
        try:
            request = self.client.build_request(
                method, url, params=dict(params) if params else None, json=json_body,
                data=dict(form) if form is not None else None, headers=send_headers,
                timeout=httpx.Timeout(read, connect=opts.connect_timeout),
            )  # fmt: skip
            response = self.client.send(request, stream=True)
            try:
                raw = self._read_capped(response, call)
            finally:
                response.close()
        except httpx.HTTPError as exc:
            raise self._transport_error(exc, call=call, idempotent=idempotent) from exc
        except httpx.InvalidURL as exc:
            raise AdapterError(
                "invalid request URL", integration=self.integration, call=call
            ) from exc
        _log.debug("%s.%s %s -> %d", self.integration, call, method, response.status_code)
        return self._check(response, raw, call=call, idempotent=idempotent)

    def _read_capped(self, response: httpx.Response, call: str) -> bytes:
        limit = self.options.max_body_bytes
        declared = response.headers.get("content-length", "")
        if declared.isdigit() and int(declared) > limit:
            raise InvalidResponse(
                f"response body of {declared} bytes exceeds the {limit}-byte limit",
                integration=self.integration,
                call=call,
            )
        chunks: list[bytes] = []
        size = 0
        for chunk in response.iter_bytes():
            size += len(chunk)
            if size > limit:
                raise InvalidResponse(
                    f"response body exceeds the {limit}-byte limit",
                    integration=self.integration,
                    call=call,
                )
            chunks.append(chunk)
        return b"".join(chunks)

    def _transport_error(
        self, exc: httpx.HTTPError, *, call: str, idempotent: bool
    ) -> AdapterError:
        return transport_error(exc, integration=self.integration, call=call, idempotent=idempotent)

    def _check(
        self, response: httpx.Response, raw: bytes, *, call: str, idempotent: bool
    ) -> HttpResponse:
        status = response.status_code
        if 200 <= status < 300:
            return HttpResponse(
                status=status,
                headers=response.headers,
                body=self._decode(raw, call),
                links=response.links,
            )
        raise status_error(
            response, raw, integration=self.integration, call=call, idempotent=idempotent,
            now=self._now(), retry_after_cap=self.options.retry_after_cap,
        )  # fmt: skip

    def _decode(self, raw: bytes, call: str) -> Any:
        if not raw.strip():
            return None
        try:
            return json.loads(raw)
        except (UnicodeDecodeError, ValueError) as exc:
            raise InvalidResponse(
                f"response is not JSON: {excerpt(raw)}", integration=self.integration, call=call
            ) from exc
