"""Authenticators for the vendor clients: static headers, HTTP Basic and OAuth2 tokens.

Secrets stay :class:`pydantic.SecretStr` until the moment a header is built; no repr, log line or
error message here contains one.
"""

from __future__ import annotations

import base64
import threading
import time
from collections.abc import Callable, Mapping

import httpx
from pydantic import SecretStr

from adapters._http import Authenticator, HttpHooks, ResilienceOptions, ResilientHttp
from adapters.errors import AuthError, InvalidResponse, RequestRejected
from adapters.vendors._parse import seg

__all__ = ["BasicAuth", "HeaderToken", "OAuth2Token", "WithHeaders"]

# Refresh a little before the vendor's expiry so a token never dies mid-request.
_EXPIRY_MARGIN_S = 60.0


class HeaderToken:
    """A fixed token in one header, e.g. Okta ``Authorization: SSWS <token>``."""

    refreshable = False

    def __init__(self, token: SecretStr, *, scheme: str = "Bearer", header: str = "Authorization"):
        self._token = token
        self._scheme = scheme
        self._header = header

    def __repr__(self) -> str:
        return f"HeaderToken(header={self._header!r}, scheme={self._scheme!r}, token=**********)"

    def auth_headers(self, http: ResilientHttp) -> dict[str, str]:
        """The one header carrying the token."""
        value = self._token.get_secret_value()
        return {self._header: f"{self._scheme} {value}" if self._scheme else value}

    def invalidate(self) -> None:
        """A static token cannot be refreshed; nothing to forget."""


class BasicAuth:
    """HTTP Basic with a username and a secret password or API token."""

    refreshable = False

    def __init__(self, username: str, password: SecretStr) -> None:
        self._username = username
        self._password = password

    def __repr__(self) -> str:
        return f"BasicAuth(username={self._username!r}, password=**********)"

    def auth_headers(self, http: ResilientHttp) -> dict[str, str]:
        """``Authorization: Basic base64(user:password)``."""
        pair = f"{self._username}:{self._password.get_secret_value()}".encode()
        return {"Authorization": "Basic " + base64.b64encode(pair).decode("ascii")}

    def invalidate(self) -> None:
        """Basic credentials are not cached; nothing to forget."""


class OAuth2Token:
    """An OAuth2 token endpoint (client credentials, password or refresh-token grant).

    The token is cached until shortly before it expires and dropped on a 401. With
    ``use_refresh`` the ``refresh_token`` a token answer carries is used for the next fetch
    (``grant_type=refresh_token``); a refused refresh falls back to the configured grant
    (unless that grant *is* a refresh token, which then fails as :class:`AuthError`).

    Args:
        token_path: Token endpoint, relative to the integration's base URL or absolute.
        form: Non-secret form fields (``grant_type``, ``client_id``, ``scope``...).
        secret_form: Secret form fields (``client_secret``, ``password``).
        headers: Extra headers for the token request (e.g. Veeam's ``x-api-version``).
        clock: Monotonic clock for expiry.
        token_http: Sends the token request when the token endpoint is on another origin
            (Entra's login host); the integration's own :class:`ResilientHttp` otherwise.
        use_refresh: Renew through the refresh token a token answer carries.
    """

    refreshable = True

    def __init__(
        self,
        token_path: str,
        *,
        form: Mapping[str, str],
        secret_form: Mapping[str, SecretStr],
        headers: Mapping[str, str] | None = None,
        clock: Callable[[], float] = time.monotonic,
        token_http: ResilientHttp | None = None,
        use_refresh: bool = False,
    ) -> None:
        self._path = token_path
        self._form = dict(form)
        self._secret_form = dict(secret_form)
        self._headers = dict(headers or {})
        self._clock = clock
        self._token_http = token_http
        # Re-entrant: a failing token fetch may lead back to invalidate() on the same thread.
        self._lock = threading.RLock()
        self._token: SecretStr | None = None
        self._expires_at = 0.0
        self._use_refresh = use_refresh
        self._refresh: SecretStr | None = None

    def __repr__(self) -> str:
        return f"OAuth2Token(token_path={self._path!r}, cached={self._token is not None})"

    def auth_headers(self, http: ResilientHttp) -> dict[str, str]:
        """``Authorization: Bearer <token>``, fetching a token first when none is valid."""
        with self._lock:
            if self._token is None or self._clock() >= self._expires_at:
                self._fetch(self._token_http or http)
            assert self._token is not None
            return {"Authorization": f"Bearer {self._token.get_secret_value()}"}

    def invalidate(self) -> None:
        """Drop the cached token so the next call fetches a new one."""
        with self._lock:
            self._token = None

    def _fetch(self, http: ResilientHttp) -> None:
        if self._refresh is not None:
            refresh_form = {
                k: v for k, v in self._form.items() if k not in ("grant_type", "username")
            }
            secrets = {k: v for k, v in self._secret_form.items() if k != "password"}
            secrets["refresh_token"] = self._refresh
            try:
                self._take(http, {**refresh_form, "grant_type": "refresh_token"}, secrets)
                return
            except (AuthError, RequestRejected):
                # An expired or revoked refresh token: start again from the configured grant.
                self._refresh = None
                if self._form.get("grant_type") == "refresh_token":
                    raise
        self._take(http, self._form, self._secret_form)

    def _take(
        self, http: ResilientHttp, form: Mapping[str, str], secret_form: Mapping[str, SecretStr]
    ) -> None:
        sent = {**form, **{k: v.get_secret_value() for k, v in secret_form.items()}}
        # A token request changes nothing in the estate, so it is safe to retry.
        answer = http.request(
            "POST",
            self._path,
            call="oauth_token",
            idempotent=True,
            mutating=False,
            form=sent,
            headers=self._headers,
            authenticated=False,
        )
        body = answer.body
        token = body.get("access_token") if isinstance(body, dict) else None
        if not isinstance(token, str) or not token:
            raise InvalidResponse(
                "token response has no access_token",
                integration=http.integration,
                call="oauth_token",
            )
        lifetime = body.get("expires_in", 3600)
        try:
            seconds = float(lifetime)
        except (TypeError, ValueError):
            seconds = 3600.0
        self._token = SecretStr(token)
        self._expires_at = self._clock() + max(seconds - _EXPIRY_MARGIN_S, 0.0)
        refresh = body.get("refresh_token")
        if self._use_refresh and isinstance(refresh, str) and refresh:
            self._refresh = SecretStr(refresh)


class WithHeaders:
    """Adds fixed, non-secret headers (e.g. Veeam's ``x-api-version``) to another authenticator."""

    def __init__(self, inner: Authenticator, headers: Mapping[str, str]) -> None:
        self._inner = inner
        self._headers = dict(headers)

    def __repr__(self) -> str:
        return f"WithHeaders({self._inner!r}, headers={sorted(self._headers)!r})"

    @property
    def refreshable(self) -> bool:
        """As the inner authenticator."""
        return self._inner.refreshable

    def auth_headers(self, http: ResilientHttp) -> dict[str, str]:
        """The fixed headers plus the inner authenticator's."""
        return {**self._headers, **self._inner.auth_headers(http)}

    def invalidate(self) -> None:
        """Forward to the inner authenticator."""
        self._inner.invalidate()


MICROSOFT_LOGIN = "https://login.microsoftonline.com"
"""The Microsoft identity platform, which issues tokens for Graph and Azure Resource Manager."""


def microsoft_app_http(
    http_client: httpx.Client,
    *,
    integration: str,
    base_url: str,
    tenant_id: str,
    client_id: str,
    client_secret: SecretStr,
    token_base_url: str = MICROSOFT_LOGIN,
    options: ResilienceOptions | None = None,
    hooks: HttpHooks | None = None,
) -> ResilientHttp:
    """HTTP to a Microsoft API (Graph, ARM) as an app: client-credentials tokens for
    ``<base_url>/.default`` from the tenant's v2.0 token endpoint, renewed before they expire."""
    hooks = hooks or HttpHooks()
    token_http = ResilientHttp(
        http_client, integration=integration, base_url=token_base_url, options=options, hooks=hooks
    )
    auth = OAuth2Token(
        f"/{seg(tenant_id)}/oauth2/v2.0/token",
        form={
            "grant_type": "client_credentials",
            "client_id": client_id,
            "scope": f"{base_url.rstrip('/')}/.default",
        },
        secret_form={"client_secret": client_secret},
        clock=hooks.clock,
        token_http=token_http,
    )
    return ResilientHttp(
        http_client,
        integration=integration,
        base_url=base_url,
        options=options,
        auth=auth,
        hooks=hooks,
    )
