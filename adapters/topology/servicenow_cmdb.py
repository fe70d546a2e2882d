"""ServiceNow CMDB as a topology source, over the Table API.

CIs come from ``cmdb_ci`` (one paged list over the classes asked for, with ``sys_class_name``
saying which), relations from ``cmdb_rel_ci`` (``parent``, ``child`` and ``type``, read with
``sysparm_display_value=all`` so the type's name, e.g. ``Depends on::Used by``, comes with it).
Both are paged with ``sysparm_limit``/``sysparm_offset``. A relation ``parent <type> child``
reads from the parent: "A Depends on B" is ``A depends_on B``; in ``Members::Member of`` the
parent is the cluster, so the child is ``member_of`` it. The environment comes from
``environment`` or ``used_for``; ``sys_updated_on`` is when the CI was last confirmed.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from typing import Any

import httpx
from pydantic import SecretStr

from adapters._http import Authenticator, HttpHooks, HttpResponse, ResilienceOptions, ResilientHttp
from adapters.topology.contract import TopoLink, TopologyReport, TopoRecord
from adapters.vendors._auth import BasicAuth, HeaderToken
from adapters.vendors._parse import as_dict, as_list, iso, opt_str, parsing, req_str
from twin import EdgeType, NodeKind, utcnow

__all__ = ["CLASS_KINDS", "REL_TYPES", "ServiceNowCmdb", "env_of"]

CLASS_KINDS: dict[str, NodeKind] = {
    "cmdb_ci_server": NodeKind.HOST,
    "cmdb_ci_linux_server": NodeKind.HOST,
    "cmdb_ci_win_server": NodeKind.HOST,
    "cmdb_ci_unix_server": NodeKind.HOST,
    "cmdb_ci_vm_instance": NodeKind.HOST,
    "cmdb_ci_vmware_instance": NodeKind.HOST,
    "cmdb_ci_esx_server": NodeKind.HYPERVISOR,
    "cmdb_ci_hyper_v_server": NodeKind.HYPERVISOR,
    "cmdb_ci_cluster": NodeKind.CLUSTER,
    "cmdb_ci_service": NodeKind.SERVICE,
    "cmdb_ci_service_auto": NodeKind.SERVICE,
    "cmdb_ci_appl": NodeKind.SERVICE,
    "cmdb_ci_db_instance": NodeKind.SERVICE,
    "cmdb_ci_cloud_service_account": NodeKind.SAAS,
}
"""CI classes read, and the twin kind each becomes."""

REL_TYPES: dict[str, tuple[EdgeType, bool]] = {
    "Depends on::Used by": (EdgeType.DEPENDS_ON, False),
    "Uses::Used by": (EdgeType.DEPENDS_ON, False),
    "Runs on::Runs": (EdgeType.RUNS_ON, False),
    "Hosted on::Hosts": (EdgeType.HOSTED_ON, False),
    "Virtualized by::Virtualizes": (EdgeType.HOSTED_ON, False),
    "Members::Member of": (EdgeType.MEMBER_OF, True),
}
"""Relation type name -> (edge, whether it reads from the child to the parent)."""

_ENV = {
    "production": "prod",
    "prod": "prod",
    "disaster recovery": "prod",  # a DR copy of production is production when it matters
    "staging": "staging",
    "test": "test",
    "qa": "test",
    "development": "dev",
    "dev": "dev",
}
_CI_FIELDS = (
    "sys_id,name,sys_class_name,fqdn,host_name,ip_address,serial_number,environment,used_for,"
    "sys_updated_on,company"
)


def env_of(*values: str) -> str:
    """The twin's ``env`` for ServiceNow's ``environment`` / ``used_for`` values ("" if none)."""
    for v in values:
        if v.strip():
            return _ENV.get(v.strip().lower(), v.strip().lower())
    return ""


def _value(field: Any) -> str:
    """A field read with ``sysparm_display_value=all``: ``{"value", "display_value"}``."""
    if isinstance(field, dict):
        return str(field.get("value") or "")
    return str(field or "")


def _display(field: Any) -> str:
    if isinstance(field, dict):
        return str(field.get("display_value") or "")
    return str(field or "")


class ServiceNowCmdb:
    """:class:`adapters.topology.contract.TopologySource` over the ServiceNow CMDB.

    Args:
        base_url: The instance, e.g. ``https://acme.service-now.com``.
        http_client: Injected sync client.
        username: Basic-auth user (ignored when ``oauth_token`` is given).
        password: Basic-auth password.
        oauth_token: A bearer token instead of Basic auth.
        classes: CI classes to read (default: :data:`CLASS_KINDS`).
        page_size: ``sysparm_limit`` per page.
        options: Resilience settings.
        hooks: Sleep/clock/randomness (fakes in tests).
        clock: The observation time of a read.
    """

    source = "cmdb"
    integration = "servicenow_cmdb"

    def __init__(
        self,
        base_url: str,
        *,
        http_client: httpx.Client,
        username: str = "",
        password: SecretStr | None = None,
        oauth_token: SecretStr | None = None,
        classes: dict[str, NodeKind] | None = None,
        page_size: int = 500,
        options: ResilienceOptions | None = None,
        hooks: HttpHooks | None = None,
        clock: Callable[[], datetime] = utcnow,
    ) -> None:
        auth: Authenticator
        if oauth_token is not None:
            auth = HeaderToken(oauth_token)
        elif password is not None and username:
            auth = BasicAuth(username, password)
        else:
            raise ValueError("ServiceNow CMDB needs username+password or an oauth_token")
        self.http = ResilientHttp(
            http_client,
            integration=self.integration,
            base_url=base_url,
            options=options,
            auth=auth,
            hooks=hooks,
        )
        self.classes = dict(classes or CLASS_KINDS)
        self.page_size = page_size
        self.clock = clock
        self.skipped_types: dict[str, int] = {}
        """Relation type names read but not mapped, with how many (for ``--explain``)."""

    def __repr__(self) -> str:
        return f"ServiceNowCmdb(base_url={str(self.http.base_url)!r})"

    def _table(self, table: str, call: str, params: dict[str, str | int | bool]) -> list[Any]:
        size = self.page_size

        def items(page: HttpResponse) -> list[Any]:
            with parsing(self.integration, call):
                return as_list(as_dict(page.body, "body")["result"], "result")

        def following(page: HttpResponse, seen: int) -> dict[str, str | int | bool] | None:
            rows = page.body.get("result") if isinstance(page.body, dict) else None
            return (
                {"sysparm_offset": seen} if isinstance(rows, list) and len(rows) == size else None
            )

        return list(
            self.http.paginate(
                f"/api/now/table/{table}",
                call=call,
                items=items,
                next_request=following,
                params={**params, "sysparm_limit": size, "sysparm_offset": 0},
            )
        )

    def read_topology(self) -> TopologyReport:
        """Every CI of the configured classes and every relation between them."""
        at = self.clock()
        cis = self._table(
            "cmdb_ci",
            "read_cis",
            {
                "sysparm_query": "sys_class_nameIN" + ",".join(sorted(self.classes)),
                "sysparm_fields": _CI_FIELDS,
                "sysparm_exclude_reference_link": "true",
            },
        )
        records = []
        with parsing(self.integration, "read_cis"):
            for raw in cis:
                ci = as_dict(raw, "ci")
                cls = req_str(ci, "sys_class_name")
                kind = self.classes.get(cls)
                if kind is None:
                    continue
                ip = opt_str(ci, "ip_address")
                records.append(
                    TopoRecord(
                        ref=req_str(ci, "sys_id"),
                        kind=kind,
                        name=req_str(ci, "name"),
                        hostname=opt_str(ci, "host_name"),
                        fqdn=opt_str(ci, "fqdn"),
                        ips=(ip,) if ip else (),
                        serial=opt_str(ci, "serial_number"),
                        env=env_of(opt_str(ci, "environment"), opt_str(ci, "used_for")),
                        verified_at=iso(ci.get("sys_updated_on"), "sys_updated_on"),
                        attrs={"ci_class": cls},
                    )
                )
        rels = self._table(
            "cmdb_rel_ci",
            "read_relations",
            {"sysparm_fields": "parent,child,type", "sysparm_display_value": "all"},
        )
        known = {r.ref for r in records}
        links = []
        skipped: dict[str, int] = {}
        with parsing(self.integration, "read_relations"):
            for raw in rels:
                rel = as_dict(raw, "relation")
                parent, child = _value(rel.get("parent")), _value(rel.get("child"))
                name = _display(rel.get("type"))
                if not parent or not child:
                    raise ValueError("a relation without parent or child")
                mapped = REL_TYPES.get(name)
                if mapped is None:
                    skipped[name] = skipped.get(name, 0) + 1
                    continue
                if parent not in known or child not in known:
                    continue  # one end is of a class we do not read
                edge, reverse = mapped
                src, dst = (child, parent) if reverse else (parent, child)
                links.append(TopoLink(src=src, type=edge, dst=dst, attrs={"rel_type": name}))
        self.skipped_types = skipped
        return TopologyReport(source=self.source, records=records, links=links, observed_at=at)
