"""On-premises Active Directory client over LDAP (``ldap3``), for the identity contract.

Binds as a service account (LDAPS by default; simple bind over TLS, or NTLM). Users are
``(&(objectCategory=person)(objectClass=user))`` under ``base_dn``, keyed by
``sAMAccountName``; groups are ``(objectClass=group)`` with their ``member`` DNs, and
membership is resolved through nested groups. Searches use the simple paged results control.

- Disable/enable flip ``ACCOUNTDISABLE`` (0x2) in ``userAccountControl`` and leave every other
  bit as it was.
- Admins are the users that are members, directly or through nested groups, of the privileged
  built-in groups (``admin_groups``: Domain Admins, Enterprise Admins, Schema Admins,
  Administrators by default).
- AD cannot revoke sessions over LDAP (Kerberos tickets live until they expire) and keeps no
  overlap when a password changes, so :meth:`revoke_sessions` refuses, and
  :meth:`rotate_secret` sets a new random password (``unicodePwd``, LDAPS only) only when
  ``overlap_minutes`` is 0; the new password goes to the secret sink only.

ldap3 errors map into :mod:`adapters.errors`: bad credentials -> ``AuthError``, an unreachable
or dropped server -> ``TransientError`` (reads retried), no such object -> ``NotFound``.
"""

from __future__ import annotations

import secrets
import string
from collections.abc import Callable, Iterable
from datetime import timedelta
from typing import Any, Literal, TypeVar

import httpx
import ldap3  # type: ignore[import-untyped]
from ldap3.core import exceptions as ldap_errors  # type: ignore[import-untyped]
from ldap3.utils.conv import escape_filter_chars  # type: ignore[import-untyped]
from pydantic import SecretStr

from adapters._http import HttpHooks, ResilienceOptions
from adapters.contracts import IdentityGroup, IdentityUser, SecretRotation
from adapters.errors import AuthError, NotFound, RequestRejected, TransientError
from adapters.vendors.okta import SecretSink

__all__ = ["ActiveDirectoryClient"]

_T = TypeVar("_T")
_DISABLED = 0x2
_USERS = "(&(objectCategory=person)(objectClass=user))"
_USER_ATTRS = ["sAMAccountName", "userPrincipalName", "displayName", "userAccountControl"]
_TRANSIENT = (
    ldap_errors.LDAPSocketOpenError,
    ldap_errors.LDAPSocketReceiveError,
    ldap_errors.LDAPSocketSendError,
    ldap_errors.LDAPSessionTerminatedByServerError,
    ldap_errors.LDAPBusyResult,
    ldap_errors.LDAPUnavailableResult,
    ldap_errors.LDAPServerPoolExhaustedError,
)
_AUTH = (ldap_errors.LDAPInvalidCredentialsResult, ldap_errors.LDAPBindError)


class ActiveDirectoryClient:
    """:class:`adapters.contracts.IdentityContract` over LDAP.

    Args:
        server_url: ``ldaps://dc01.corp.example:636`` (``ldap://`` only with ``allow_plain``).
        bind_dn: The service account (DN, or ``DOMAIN\\user`` for NTLM).
        password: Its password.
        base_dn: Where users and groups are searched, e.g. ``DC=corp,DC=example``.
        http_client: Unused (LDAP is not HTTP); accepted so the registry wires every client alike.
        options: Resilience settings (attempts for reads).
        hooks: Sleep/clock (fakes in tests).
        authentication: ``simple`` or ``ntlm``.
        admin_groups: Group names (``cn``) whose members, nested included, are admins.
        break_glass_logins: ``sAMAccountName`` of break-glass accounts.
        service_account_prefix: ``sAMAccountName`` prefix that marks service accounts.
        secret_sink: Where rotated passwords go; rotation is refused without one.
        allow_plain: Permit ``ldap://`` (a lab only; passwords would cross the wire in clear).
        connection: A ready ``ldap3.Connection`` (tests pass a ``MOCK_SYNC`` one).
    """

    integration = "active_directory"

    def __init__(
        self,
        server_url: str,
        *,
        bind_dn: str,
        password: SecretStr,
        base_dn: str,
        http_client: httpx.Client | None = None,
        options: ResilienceOptions | None = None,
        hooks: HttpHooks | None = None,
        authentication: Literal["simple", "ntlm"] = "simple",
        admin_groups: Iterable[str] = (
            "Domain Admins",
            "Enterprise Admins",
            "Schema Admins",
            "Administrators",
        ),
        break_glass_logins: Iterable[str] = (),
        service_account_prefix: str = "svc-",
        secret_sink: SecretSink | None = None,
        allow_plain: bool = False,
        connection: Any = None,
    ) -> None:
        if not server_url.startswith("ldaps://") and not (
            allow_plain and server_url.startswith("ldap://")
        ):
            raise ValueError("server_url must be ldaps://host[:port] (ldap:// needs allow_plain)")
        self._url = server_url
        self._bind_dn = bind_dn
        self._password = password
        self._base = base_dn
        self._auth = ldap3.NTLM if authentication == "ntlm" else ldap3.SIMPLE
        self._options = options or ResilienceOptions()
        self._hooks = hooks or HttpHooks()
        self._admin_groups = frozenset(g.lower() for g in admin_groups)
        self._break_glass = frozenset(u.lower() for u in break_glass_logins)
        self._svc_prefix = service_account_prefix.lower()
        self._sink = secret_sink
        self._conn = connection

    def __repr__(self) -> str:
        return f"ActiveDirectoryClient(server_url={self._url!r}, base_dn={self._base!r})"

    # ------------------------------------------------------------------ reads
    def list_users(self) -> list[IdentityUser]:
        """Every user object under ``base_dn`` with groups (nested) and admin resolved."""
        entries = self._read("list_users", lambda: self._search(_USERS, _USER_ATTRS))
        groups, closure = self._groups("list_users")
        return [self._user(dn, attrs, groups, closure) for dn, attrs in entries]

    def list_groups(self) -> list[IdentityGroup]:
        """Every group with its direct user members (by ``sAMAccountName``)."""
        groups, _ = self._groups("list_groups")
        return [
            IdentityGroup(group_id=dn, name=name, members=tuple(sorted(users)))
            for dn, (name, users, _subgroups) in sorted(groups.items())
        ]

    def get_user(self, user_id: str) -> IdentityUser:
        """One user by ``sAMAccountName``."""
        dn, attrs = self._find(user_id, "get_user")
        groups, closure = self._groups("get_user")
        return self._user(dn, attrs, groups, closure)

    # ------------------------------------------------------------------ changes
    def disable_user(self, user_id: str, *, idempotency_key: str) -> IdentityUser:
        """Set ACCOUNTDISABLE; the other ``userAccountControl`` bits stay."""
        return self._set_disabled(user_id, True, "disable_user")

    def enable_user(self, user_id: str, *, idempotency_key: str) -> IdentityUser:
        """Clear ACCOUNTDISABLE."""
        return self._set_disabled(user_id, False, "enable_user")

    def revoke_sessions(self, user_id: str, *, idempotency_key: str) -> IdentityUser:
        """Refused: LDAP cannot end Kerberos sessions (disable the account, or reset it twice)."""
        self._find(user_id, "revoke_sessions")
        raise RequestRejected(
            "Active Directory cannot revoke sessions over LDAP: Kerberos tickets stay valid "
            "until they expire (10 hours by default); disable the account instead",
            integration=self.integration,
            call="revoke_sessions",
        )

    def rotate_secret(
        self, user_id: str, *, overlap_minutes: int, idempotency_key: str
    ) -> SecretRotation:
        """Set a new random password (no overlap in AD); the password goes to the sink only."""
        call = "rotate_secret"
        if self._sink is None:
            raise RequestRejected(
                "no secret sink configured; refusing to create a secret nobody can store",
                integration=self.integration,
                call=call,
            )
        if overlap_minutes > 0:
            raise RequestRejected(
                "Active Directory keeps no overlap: the old password stops at once. Rotate "
                "with overlap_minutes=0 once every consumer can take the new one",
                integration=self.integration,
                call=call,
            )
        dn, _ = self._find(user_id, call)
        alphabet = string.ascii_letters + string.digits + "!#%+-.=@_"
        new = "".join(secrets.choice(alphabet) for _ in range(32))
        encoded = f'"{new}"'.encode("utf-16-le")
        self._write(
            call, lambda: self._c().modify(dn, {"unicodePwd": [(ldap3.MODIFY_REPLACE, [encoded])]})
        )
        self._sink(user_id, SecretStr(new))
        return SecretRotation(
            user_id=user_id, new_version=2, previous_valid_until=self._hooks.now() + timedelta(0)
        )

    # ------------------------------------------------------------------ helpers
    def _c(self) -> Any:
        """The connection, opened and bound on first use."""
        if self._conn is None:
            server = ldap3.Server(self._url, get_info=ldap3.NONE, connect_timeout=10)
            self._conn = ldap3.Connection(
                server,
                user=self._bind_dn,
                password=self._password.get_secret_value(),
                authentication=self._auth,
                raise_exceptions=True,
                receive_timeout=30,
            )
        if not self._conn.bound:
            self._conn.bind()
        return self._conn

    def _search(self, flt: str, attrs: list[str]) -> list[tuple[str, dict[str, list[Any]]]]:
        conn = self._c()
        found: list[tuple[str, dict[str, list[Any]]]] = []
        cookie: bytes | None = None
        for _ in range(self._options.max_pages):
            conn.search(
                self._base, flt, ldap3.SUBTREE, attributes=attrs, paged_size=500,
                paged_cookie=cookie,
            )  # fmt: skip
            found += [(e.entry_dn, e.entry_attributes_as_dict) for e in conn.entries]
            control = (conn.result.get("controls") or {}).get("1.2.840.113556.1.4.319") or {}
            cookie = (control.get("value") or {}).get("cookie")
            if not cookie:
                return found
        raise RequestRejected(
            f"paged search did not end after {self._options.max_pages} pages",
            integration=self.integration,
            call="search",
        )

    def _find(self, user_id: str, call: str) -> tuple[str, dict[str, list[Any]]]:
        flt = f"(&{_USERS}(sAMAccountName={escape_filter_chars(user_id)}))"
        rows = self._read(call, lambda: self._search(flt, _USER_ATTRS))
        if not rows:
            raise NotFound(f"no user {user_id!r}", integration=self.integration, call=call)
        return rows[0]

    def _groups(
        self, call: str
    ) -> tuple[dict[str, tuple[str, set[str], set[str]]], dict[str, set[str]]]:
        """Groups by DN -> (name, user logins, subgroup DNs), and user login -> every group
        name it belongs to through nesting."""
        rows = self._read(call, lambda: self._search("(objectClass=group)", ["cn", "member"]))
        users = {
            dn.lower(): _first(a, "sAMAccountName")
            for dn, a in self._read(call, lambda: self._search(_USERS, ["sAMAccountName"]))
        }
        by_dn = {dn.lower(): dn for dn, _ in rows}
        groups: dict[str, tuple[str, set[str], set[str]]] = {}
        for dn, attrs in rows:
            members = [str(m).lower() for m in attrs.get("member", [])]
            groups[dn] = (
                _first(attrs, "cn"),
                {users[m] for m in members if m in users},
                {by_dn[m] for m in members if m in by_dn},
            )
        closure: dict[str, set[str]] = {}
        for dn, (name, _direct, _subs) in groups.items():
            seen, stack = set(), [dn]
            while stack:  # every user reachable from this group, through nested groups
                current = stack.pop()
                if current in seen:
                    continue
                seen.add(current)
                for login in groups[current][1]:
                    closure.setdefault(login, set()).add(name)
                stack.extend(groups[current][2])
        return groups, closure

    def _user(
        self,
        dn: str,
        attrs: dict[str, list[Any]],
        groups: dict[str, tuple[str, set[str], set[str]]],
        closure: dict[str, set[str]],
    ) -> IdentityUser:
        login = _first(attrs, "sAMAccountName")
        if not login:
            raise RequestRejected(
                f"user object {dn[:80]!r} has no sAMAccountName",
                integration=self.integration,
                call="list_users",
            )
        uac = int(_first(attrs, "userAccountControl") or "0")
        direct = sorted(name for name, members, _ in groups.values() if login in members)
        every = closure.get(login, set())
        return IdentityUser(
            user_id=login,
            username=_first(attrs, "userPrincipalName") or login,
            display_name=_first(attrs, "displayName"),
            status="disabled" if uac & _DISABLED else "active",
            groups=tuple(direct),
            admin=any(g.lower() in self._admin_groups for g in every),
            break_glass=login.lower() in self._break_glass,
            service_account=login.lower().startswith(self._svc_prefix),
        )

    def _set_disabled(self, user_id: str, disabled: bool, call: str) -> IdentityUser:
        dn, attrs = self._find(user_id, call)
        uac = int(_first(attrs, "userAccountControl") or "0")
        wanted = uac | _DISABLED if disabled else uac & ~_DISABLED
        if wanted != uac:
            self._write(
                call,
                lambda: self._c().modify(
                    dn, {"userAccountControl": [(ldap3.MODIFY_REPLACE, [str(wanted)])]}
                ),
            )
        return self.get_user(user_id)

    def _read(self, call: str, fn: Callable[[], _T]) -> _T:
        """A read, retried on a transient LDAP failure."""
        for attempt in range(1, self._options.max_attempts + 1):
            try:
                return self._mapped(call, fn)
            except TransientError:
                if attempt == self._options.max_attempts:
                    raise
                self._hooks.sleep(min(2.0**attempt, 30.0))
        raise AssertionError("unreachable")  # pragma: no cover

    def _write(self, call: str, fn: Callable[[], Any]) -> None:
        """A change, sent once (a modify that may have applied is not repeated blindly)."""
        self._mapped(call, fn)

    def _mapped(self, call: str, fn: Callable[[], _T]) -> _T:
        name = self.integration
        try:
            return fn()
        except _AUTH as exc:
            raise AuthError(
                f"bind rejected ({type(exc).__name__})", integration=name, call=call
            ) from exc
        except _TRANSIENT as exc:
            raise TransientError(
                f"directory unreachable ({type(exc).__name__})", integration=name, call=call
            ) from exc
        except ldap_errors.LDAPNoSuchObjectResult as exc:
            raise NotFound("no such object", integration=name, call=call) from exc
        except ldap_errors.LDAPException as exc:
            # The class name only: ldap3 messages can echo the bind DN or filter values.
            raise RequestRejected(
                f"LDAP error {type(exc).__name__}", integration=name, call=call
            ) from exc


def _first(attrs: dict[str, list[Any]], key: str) -> str:
    value = attrs.get(key)
    if isinstance(value, list):
        return str(value[0]) if value else ""
    return "" if value is None else str(value)
