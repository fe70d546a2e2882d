"""Sample-estate services, credentials, identities and groups for one client.

The service graph is a DAG with two hubs per client: DNS (everything depends on it, directly or
through the IdP) and the IdP (every service but DNS authenticates with it). The ERP database is
the third hub most line-of-business apps depend on. Credentials are only created when at least
two services consume them, because shared credentials are what make rotation risky.
"""

from __future__ import annotations

from dataclasses import dataclass

from twin._sample_core import Builder, ClientParts
from twin._sample_data import DEPARTMENTS, FIRST_NAMES, LAST_NAMES, OPTIONAL_APPS
from twin.model import EdgeType, NodeKind

_E = EdgeType
_K = NodeKind

# credential key -> (owning service account, secret type, rotation may overlap old and new)
_CREDENTIALS: dict[str, tuple[str, str, bool]] = {
    "sql": ("svc-sql", "password", False),
    "ldap": ("svc-ldap", "password", True),
    "smtp": ("svc-smtp", "password", True),
    "backup": ("svc-backup", "password", False),
    "salesforce-api": ("svc-integration", "api_key", True),
    "sql-stg": ("svc-sql-stg", "password", False),
}
_IDP_SAAS = {"ad": (), "entra": ("saas:entra-id",), "okta": ("saas:okta",)}
# Services whose users get an access group ("<app>-users").
_USER_FACING = ("erp-app", "crm", "helpdesk", "hr-portal", "billing", "timesheets", "payroll")


@dataclass(frozen=True, kw_only=True)
class _Spec:
    short: str
    role: str
    env: str
    criticality: str
    port: int
    health_path: str | None
    hosts: tuple[str, ...]
    replicas_min: int
    deps: tuple[str, ...]
    creds: tuple[str, ...]


def _service_specs(parts: ClientParts) -> list[_Spec]:
    """The client's services in dependency order (a service only names earlier ones)."""
    h = parts.hosts_by_role
    app, web = h["app"], tuple(h["web"])
    mon = tuple(h.get("mon", app[-1:]))
    db_hosts = tuple(h["db"])
    specs = [
        _Spec(short="dns", role="dns", env="prod", criticality="critical", port=53,
              health_path=None, hosts=tuple(h["dns"]), replicas_min=1, deps=(), creds=()),
        _Spec(short="idp", role="idp", env="prod", criticality="critical", port=636,
              health_path=None, hosts=tuple(h["dc"]), replicas_min=1,
              deps=("dns", *_IDP_SAAS[parts.plan.idp_flavor]), creds=()),
        _Spec(short="erp-db", role="db", env="prod", criticality="critical", port=1433,
              health_path=None, hosts=db_hosts, replicas_min=len(db_hosts) - 1, deps=("dns",),
              creds=("backup",)),
        _Spec(short="file", role="file", env="prod", criticality="high", port=445,
              health_path=None, hosts=tuple(h["file"]), replicas_min=1, deps=("dns",), creds=()),
        _Spec(short="backup", role="backup", env="prod", criticality="high", port=9392,
              health_path=None, hosts=tuple(h["bkp"]), replicas_min=1,
              deps=("dns", "saas:wasabi"), creds=("backup",)),
        _Spec(short="mail-relay", role="mail", env="prod", criticality="high", port=25,
              health_path=None, hosts=(app[0],), replicas_min=1, deps=("dns", "saas:m365"),
              creds=("smtp",)),
        _Spec(short="erp-app", role="app", env="prod", criticality="high", port=8443,
              health_path="/health", hosts=tuple(app[:2]), replicas_min=1,
              deps=("dns", "erp-db"), creds=("sql", "smtp")),
        _Spec(short="portal", role="web", env="prod", criticality="high", port=443,
              health_path="/healthz", hosts=web, replicas_min=2, deps=("dns", "erp-app"),
              creds=("ldap",)),
        _Spec(short="intranet", role="web", env="prod", criticality="medium", port=443,
              health_path="/healthz", hosts=web, replicas_min=2,
              deps=("dns", "erp-db", "saas:m365"), creds=("ldap", "sql")),
        _Spec(short="monitoring", role="monitoring", env="prod", criticality="medium", port=443,
              health_path="/", hosts=mon, replicas_min=1, deps=("dns",), creds=("ldap", "smtp")),
    ]  # fmt: skip
    wanted = min(len(OPTIONAL_APPS), 1 + parts.plan.endpoints // 250)
    for i, opt in enumerate(OPTIONAL_APPS[:wanted]):
        on_web = opt.role == "web"
        specs.append(
            _Spec(short=opt.slug, role=opt.role, env="prod", criticality=opt.criticality,
                  port=443 if on_web else 8443, health_path="/healthz" if on_web else "/health",
                  hosts=(web[i % len(web)],) if on_web else (app[(i + 2) % len(app)],),
                  replicas_min=1, deps=("dns", *opt.deps), creds=opt.creds)
        )  # fmt: skip
    for env, tag in (("staging", "stg"), ("dev", "dev")):
        if f"db-{tag}" not in h:
            continue
        specs += [
            _Spec(short=f"erp-db-{tag}", role="db", env=env, criticality="low", port=1433,
                  health_path=None, hosts=tuple(h[f"db-{tag}"]), replicas_min=1, deps=("dns",),
                  creds=()),
            _Spec(short=f"erp-app-{tag}", role="app", env=env, criticality="low", port=8443,
                  health_path="/health", hosts=tuple(h[f"app-{tag}"]), replicas_min=1,
                  deps=("dns", f"erp-db-{tag}"), creds=("sql-stg",)),
        ]  # fmt: skip
        if f"web-{tag}" in h:
            specs.append(
                _Spec(short=f"portal-{tag}", role="web", env=env, criticality="low", port=443,
                      health_path="/healthz", hosts=tuple(h[f"web-{tag}"]), replicas_min=1,
                      deps=("dns", f"erp-app-{tag}"), creds=("sql-stg", "ldap"))
            )  # fmt: skip
    return specs


class AppBuilder:
    """Builds one client's services, credentials, identities and groups."""

    def __init__(self, b: Builder, parts: ClientParts) -> None:
        self.b = b
        self.parts = parts
        self.c = parts.plan.slug

    def build(self) -> None:
        """Create everything; infrastructure must already be built into ``parts``."""
        specs = _service_specs(self.parts)
        consumers: dict[str, int] = {}
        for s in specs:
            for key in s.creds:
                consumers[key] = consumers.get(key, 0) + 1
        creds = {key: self._credential(key) for key in _CREDENTIALS if consumers.get(key, 0) >= 2}
        for s in specs:
            self._service(s, creds)
        self._people()

    def _identity(
        self, username: str, display: str, *, admin: bool = False, break_glass: bool = False,
        service_account: bool = False, status: str = "active", extra: dict[str, str] | None = None,
    ) -> str:  # fmt: skip
        b = self.b
        user_id = b.guid()
        return b.add(
            _K.IDENTITY,
            f"{self.c}-{username}",
            # the name people type in chat must be unique: display names repeat across clients
            f"{self.c}-{username}",
            {
                "username": username,
                "client": self.c,
                "display_name": display,
                "admin": admin,
                "break_glass": break_glass,
                "service_account": service_account,
                "status": status,
                "user_id": user_id,
                **(extra or {}),
            },
            source_ref=user_id,
            first_seen_days=b.rng.uniform(30, 1500),
            last_seen_minutes=b.rng.uniform(5, 600),
        )

    def _credential(self, key: str) -> str:
        b = self.b
        owner_name, secret_type, overlap = _CREDENTIALS[key]
        owner = self._identity(owner_name, f"{owner_name} (service account)", service_account=True)
        cid = b.add(
            _K.CREDENTIAL,
            f"{self.c}-{key}",
            f"{self.c}-{key}",
            {
                "client": self.c,
                "env": "staging" if key.endswith("-stg") else "prod",
                "criticality": "high",
                "version": b.rng.randint(1, 9),
                "supports_overlap": overlap,
                "owner": owner,
                "secret_type": secret_type,
                "rotated_at": b.ago(days=b.rng.uniform(20, 700)),
            },
        )
        b.link(owner, _E.OWNS, cid)
        return cid

    def _service(self, s: _Spec, creds: dict[str, str]) -> None:
        b, svc = self.b, self.parts.services
        attrs: dict[str, object] = {
            "client": self.c,
            "env": s.env,
            "criticality": s.criticality,
            "replicas_min": max(1, s.replicas_min),
            "role": s.role,
            "port": s.port,
        }
        if s.health_path is not None:
            attrs["health_path"] = s.health_path
        sid = b.add(_K.SERVICE, f"{self.c}-{s.short}", f"{self.c}-{s.short}", attrs)
        svc[s.short] = sid
        for host in s.hosts:
            b.link(sid, _E.RUNS_ON, host)
        for dep in s.deps:
            b.link(sid, _E.DEPENDS_ON, dep if dep.startswith("saas:") else svc[dep])
        if s.short not in ("dns", "idp"):
            b.link(sid, _E.AUTHENTICATES_WITH, svc["idp"])
        for key in s.creds:
            if key in creds:
                b.link(sid, _E.USES_CREDENTIAL, creds[key])

    def _group(self, slug: str, display: str, *, privileged: bool = False) -> str:
        # Named by slug like hosts and services: display names repeat across clients.
        gid = self.b.add(
            _K.GROUP,
            f"{self.c}-{slug}",
            f"{self.c}-{slug}",
            {
                "client": self.c,
                "group_id": self.b.guid(),
                "display_name": display,
                "privileged": privileged,
            },
        )
        self.parts.groups[slug] = gid
        return gid

    def _people(self) -> None:
        """Users, admins, the break-glass account and their group memberships."""
        b, plan, link = self.b, self.parts.plan, self.b.link
        staff = self._group("all-staff", "All Staff")
        admins_g = self._group("domain-admins", "Domain Admins", privileged=True)
        mfa = self._group("mfa-enforced", "MFA Enforced")
        vpn = self._group("vpn-users", "VPN Users")
        e3, e5 = self._group("m365-e3", "M365 E3 Licensed"), self._group("m365-e5", "M365 E5")
        depts = [self._group(f"dept-{d}", f"Department {d.title()}") for d in DEPARTMENTS]
        apps = [
            self._group(f"{a}-users", f"{a} users")
            for a in _USER_FACING
            if a in self.parts.services
        ]
        bg = self._identity("breakglass", "Break-glass emergency admin", admin=True,
                            break_glass=True)  # fmt: skip
        link(bg, _E.MEMBER_OF, admins_g)
        taken: set[str] = {"breakglass"}
        for _ in range(min(6, 2 + plan.endpoints // 1000)):
            first, last = b.rng.choice(FIRST_NAMES), b.rng.choice(LAST_NAMES)
            username = self._unique(f"adm.{first}.{last}", taken)
            aid = self._identity(username, f"{first.title()} {last.title()} (admin)", admin=True)
            link(aid, _E.MEMBER_OF, admins_g)
            link(aid, _E.MEMBER_OF, mfa)
            self.parts.admins.append(aid)
        for site in plan.sites:
            site_g = self._group(f"{site.slug.removeprefix(self.c + '-')}-staff",
                                 f"{site.city} Staff")  # fmt: skip
            for _ in range(max(1, round(site.endpoints * 0.92))):
                first, last = b.rng.choice(FIRST_NAMES), b.rng.choice(LAST_NAMES)
                username = self._unique(f"{first}.{last}", taken)
                dept = b.rng.randrange(len(DEPARTMENTS))
                uid = self._identity(
                    username,
                    f"{first.title()} {last.title()}",
                    status="disabled" if b.rng.random() < 0.03 else "active",
                    extra={
                        "email": f"{username}@{self.c}.com",
                        "department": DEPARTMENTS[dept],
                        "site": site.slug,
                    },
                )
                self.parts.users.append(uid)
                for g in (staff, depts[dept], site_g, e5 if b.rng.random() < 0.2 else e3):
                    link(uid, _E.MEMBER_OF, g)
                if b.rng.random() < 0.6:
                    link(uid, _E.MEMBER_OF, vpn)
                if b.rng.random() < 0.95:
                    link(uid, _E.MEMBER_OF, mfa)
                for g in b.rng.sample(apps, b.rng.randint(0, min(2, len(apps)))):
                    link(uid, _E.MEMBER_OF, g)

    @staticmethod
    def _unique(base: str, taken: set[str]) -> str:
        """``base``, or ``base2``, ``base3`` ... whichever is free (as directories do it)."""
        name, n = base, 1
        while name in taken:
            n += 1
            name = f"{base}{n}"
        taken.add(name)
        return name
