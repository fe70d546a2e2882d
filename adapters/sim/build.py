"""Building the sim's real state from twin entities and relations (the sample estate).

The sim copies what it needs out of the twin records; afterwards the two live apart, and the
twin only learns about the sim through the adapter contracts. Missing attributes get sensible
defaults so a hand-made test estate of a few entities is enough.
"""

from __future__ import annotations

import math
from collections import defaultdict
from collections.abc import Iterable
from datetime import datetime, timedelta
from typing import Any, Literal

from adapters.contracts import FirewallRule
from adapters.sim._core import SimCore
from adapters.sim.firewall import put_rule
from adapters.sim.siem import raise_alert
from adapters.sim.state import (
    BackupJobState,
    CredentialState,
    DeviceState,
    GroupState,
    PatchRecord,
    RestorePointState,
    ServiceState,
    SiemRuleState,
    TicketState,
    UserState,
)
from twin import EdgeType, Entity, NodeKind, Relation

__all__ = ["load_estate"]

_ORPHAN_FIREWALL = "default"

_RESTORE_POINTS = 7
"""Daily restore points kept per backup job, ending at its ``last_success``."""


def _time(value: Any, default: datetime | None) -> datetime | None:
    if isinstance(value, datetime):
        return value
    if isinstance(value, str) and value:
        try:
            return datetime.fromisoformat(value)
        except ValueError as exc:
            raise ValueError(f"not an ISO-8601 time: {value!r}") from exc
    return default


def _slug(entity: Entity) -> str:
    return entity.id.split(":", 1)[-1]


def load_estate(core: SimCore, entities: Iterable[Entity], relations: Iterable[Relation]) -> None:
    """Fill ``core`` from twin records. Raises ``ValueError`` naming a record with bad attrs."""
    ents = {e.id: e for e in entities if e.active}
    out: dict[EdgeType, dict[str, list[str]]] = defaultdict(lambda: defaultdict(list))
    for r in relations:
        if r.src in ents and r.dst in ents:
            out[r.type][r.src].append(r.dst)
    now = core.clock.now()
    by_kind: dict[NodeKind, list[Entity]] = defaultdict(list)
    for e in ents.values():
        by_kind[e.kind].append(e)
    try:
        dev_of = _devices(core, by_kind, now)
        for host, hypervisors in out[EdgeType.HOSTED_ON].items():
            for hv in hypervisors:
                if host in dev_of and hv in dev_of:
                    core.devices[dev_of[hv]].guests.append(dev_of[host])
        _patches(core, by_kind[NodeKind.PATCH], out[EdgeType.PENDING_ON], dev_of)
        user_of = _identities(core, by_kind, out[EdgeType.MEMBER_OF])
        _services(
            core,
            ents=ents,
            services=by_kind[NodeKind.SERVICE],
            out=out,
            dev_of=dev_of,
            user_of=user_of,
        )
        _tickets(core, by_kind[NodeKind.TICKET])
        _firewall(core, ents, by_kind[NodeKind.FIREWALL_RULE], out[EdgeType.RULE_OF], now)
        _backups(core, by_kind[NodeKind.BACKUP], now)
        core.events.clear()  # loading the estate is not news for the SIEM
        _siem(core, ents, by_kind[NodeKind.SIEM_RULE], out[EdgeType.MONITORS], now)
    except (TypeError, ValueError, KeyError) as exc:
        raise ValueError(f"cannot build the sim estate: {exc}") from exc


def _devices(core: SimCore, by_kind: dict[NodeKind, list[Entity]], now: datetime) -> dict[str, str]:
    dev_of: dict[str, str] = {}
    for kind in (NodeKind.HOST, NodeKind.HYPERVISOR):
        for e in by_kind[kind]:
            a = e.attrs
            device_id = str(a.get("device_id") or f"dev-{_slug(e)}")
            if device_id in core.devices:
                raise ValueError(f"{e.id}: device_id {device_id!r} is used twice")
            boot = _time(a.get("last_boot"), now - timedelta(days=3 + core.rng.randint(0, 20)))
            core.devices[device_id] = DeviceState(
                device_id=device_id,
                hostname=str(a.get("hostname") or e.name),
                kind="host" if kind is NodeKind.HOST else "hypervisor",
                os=str(a.get("os", "")),
                client=str(a.get("client", "")),
                site=str(a.get("site", "")),
                role=str(a.get("role", "hypervisor" if kind is NodeKind.HYPERVISOR else "")),
                reachable=bool(a.get("online", True)),
                last_boot=boot,
                last_seen=now,
                pending_reboot=bool(a.get("pending_reboot", False)),
            )
            dev_of[e.id] = device_id
    return dev_of


def _patches(
    core: SimCore, patches: list[Entity], pending_on: dict[str, list[str]], dev_of: dict[str, str]
) -> None:
    for e in patches:
        a = e.attrs
        for host in pending_on.get(e.id, []):
            if host not in dev_of:
                continue
            pid = str(a.get("patch_id") or e.name.split("@", 1)[0])
            status = a.get("status", "pending")
            core.devices[dev_of[host]].patches[pid] = PatchRecord(
                patch_id=pid,
                title=str(a.get("title", "")),
                severity=str(a.get("severity", "")),
                reboot_required=bool(a.get("reboot_required", False)),
                status=status if status in ("pending", "installed", "failed") else "pending",
            )


def _identities(
    core: SimCore, by_kind: dict[NodeKind, list[Entity]], member_of: dict[str, list[str]]
) -> dict[str, str]:
    group_of: dict[str, str] = {}
    for e in by_kind[NodeKind.GROUP]:
        gid = str(e.attrs.get("group_id") or f"grp-{_slug(e)}")
        core.groups[gid] = GroupState(
            group_id=gid, name=e.name, client=str(e.attrs.get("client", ""))
        )
        group_of[e.id] = gid
    user_of: dict[str, str] = {}
    for e in by_kind[NodeKind.IDENTITY]:
        a = e.attrs
        uid = str(a.get("user_id") or f"usr-{_slug(e)}")
        status: Literal["active", "disabled"] = (
            "disabled" if a.get("status") == "disabled" else "active"
        )
        service = bool(a.get("service_account", False))
        user = UserState(
            user_id=uid,
            username=str(a.get("username") or e.name),
            client=str(a.get("client", "")),
            display_name=str(a.get("display_name", "")),
            status=status,
            admin=bool(a.get("admin", False)),
            break_glass=bool(a.get("break_glass", False)),
            service_account=service,
            # Seeded so the same estate and seed always show the same sessions.
            sessions=0 if status == "disabled" else (1 if service else core.rng.randint(0, 3)),
            own_secret_version=1 if service else 0,
        )
        for g in member_of.get(e.id, []):
            if g in group_of:
                user.groups.append(group_of[g])
                core.groups[group_of[g]].members.append(uid)
        core.users[uid] = user
        user_of[e.id] = uid
    return user_of


def _services(
    core: SimCore,
    *,
    ents: dict[str, Entity],
    services: list[Entity],
    out: dict[EdgeType, dict[str, list[str]]],
    dev_of: dict[str, str],
    user_of: dict[str, str],
) -> None:
    for e in ents.values():
        if e.kind is not NodeKind.CREDENTIAL:
            continue
        a = e.attrs
        owner = a.get("owner")
        owners = out[EdgeType.OWNS]
        if not owner:
            owner = next((u for u, creds in owners.items() if e.id in creds), None)
        core.credentials[e.id] = CredentialState(
            credential_id=e.id,
            owner=user_of.get(str(owner)) if owner else None,
            version=int(a.get("version", 1)),
            supports_overlap=bool(a.get("supports_overlap", True)),
            rotated_at=_time(a.get("rotated_at"), None),
        )
    members: dict[str, list[str]] = defaultdict(list)
    for host, clusters in out[EdgeType.MEMBER_OF].items():
        for c in clusters:
            members[c].append(host)
    for e in services:
        hosts: list[str] = []
        for dst in out[EdgeType.RUNS_ON].get(e.id, []):
            hosts.extend([dst] if dst in dev_of else members.get(dst, []))
        svc = ServiceState(
            service_id=e.id,
            name=e.name,
            devices=[dev_of[h] for h in dict.fromkeys(hosts) if h in dev_of],
            credentials=[
                c for c in out[EdgeType.USES_CREDENTIAL].get(e.id, []) if c in core.credentials
            ],
            identities=[
                user_of[i] for i in out[EdgeType.AUTHENTICATES_WITH].get(e.id, []) if i in user_of
            ],
        )
        for dev in svc.devices:
            core.devices[dev].services.append(svc.service_id)
            for cid in svc.credentials:
                svc.configured[(dev, cid)] = core.credentials[cid].version
        core.services[svc.service_id] = svc


def _tickets(core: SimCore, tickets: list[Entity]) -> None:
    for e in tickets:
        a = e.attrs
        tid = e.source_ref or f"tk-{_slug(e)}"
        core.tickets[tid] = TicketState(
            ticket_id=tid,
            number=str(a.get("number") or _slug(e)),
            title=str(a.get("title") or e.name),
            status=str(a.get("status", "new")),
            priority=str(a.get("priority", "")),
            description=str(a.get("description", "")),
            client=str(a.get("client", "")),
        )


def _firewall(
    core: SimCore,
    ents: dict[str, Entity],
    rules: list[Entity],
    rule_of: dict[str, list[str]],
    now: datetime,
) -> None:
    core.firewalls.extend(e.name for e in ents.values() if e.kind is NodeKind.FIREWALL)
    for e in rules:
        a = e.attrs
        owner = [ents[f].name for f in rule_of.get(e.id, [])]
        # A rule with no firewall edge lands on a catch-all device so nothing is lost.
        firewall = owner[0] if owner else _ORPHAN_FIREWALL
        if firewall not in core.firewalls:
            core.firewalls.append(firewall)
        expires = _time(a.get("expires_at"), None)
        # A rule the twin shows past its expiry was never cleaned up: it is still on the
        # device, so it stays; only expiries still ahead are enforced.
        lapsed = expires is not None and expires <= now
        rule = FirewallRule(
            rule_id=str(a.get("rule_id") or _slug(e)),
            action="block" if a.get("action") == "block" else "allow",
            source=str(a.get("source", "any")),
            destination=str(a.get("destination", "any")),
            port=str(a.get("port", "any")),
            protocol=str(a.get("protocol", "any")),
            description=str(a.get("description") or e.name),
            expires_at=expires,
        )
        put_rule(core, firewall, rule, now, enforce_expiry=not lapsed)
    if not core.firewalls:
        core.firewalls.append(_ORPHAN_FIREWALL)


def _backups(core: SimCore, backups: list[Entity], now: datetime) -> None:
    for e in backups:
        a = e.attrs
        job_id = str(a.get("job_id") or f"bj-{_slug(e)}")
        obj = str(a.get("object_name") or e.name)
        last = _time(a.get("last_success"), now - timedelta(hours=6))
        assert last is not None  # a default was given
        tested = _time(a.get("tested_at"), None)
        result = str(a.get("last_result", "success"))
        # A failing job still ran recently; only its restore points are old.
        ran = max(last, now - timedelta(hours=12)) if result != "success" else last
        job = BackupJobState(
            job_id=job_id, name=e.name, object_name=obj, last_result=result, last_run=ran
        )
        for i in range(_RESTORE_POINTS - 1, -1, -1):
            created = last - timedelta(days=i)
            point = RestorePointState(
                point_id=f"{job_id}@{created:%Y%m%dT%H%M%S}",
                job_id=job_id,
                object_name=obj,
                created_at=created,
            )
            job.points.append(point)
            core.points[point.point_id] = point
        if tested is not None:
            # The restore test exercised the newest point that existed when it ran; a tested
            # point older than daily retention is kept (as long-term retention would).
            tried = [p for p in job.points if p.created_at <= tested]
            if not tried:
                days = math.ceil((last - tested) / timedelta(days=1))
                kept = RestorePointState(
                    point_id=f"{job_id}@{last - timedelta(days=days):%Y%m%dT%H%M%S}",
                    job_id=job_id,
                    object_name=obj,
                    created_at=last - timedelta(days=days),
                )
                job.points.insert(0, kept)
                core.points[kept.point_id] = kept
                tried = [kept]
            tried[-1].tested_at = tested
        core.backups[job_id] = job
        core.data_as_of.setdefault(obj, None)


def _siem(
    core: SimCore,
    ents: dict[str, Entity],
    rules: list[Entity],
    monitors: dict[str, list[str]],
    now: datetime,
) -> None:
    for e in sorted(rules, key=lambda r: r.id):
        a = e.attrs
        rid = str(a.get("rule_id") or _slug(e))
        watched = [ents[m].name for m in monitors.get(e.id, [])]
        core.siem_rules[rid] = SiemRuleState(
            rule_id=rid,
            name=str(a.get("name") or e.name),
            enabled=bool(a.get("enabled", True)),
            monitors=watched,
        )
        # A seeded share of rules has an open alert, so a fresh estate has something to triage.
        if watched and core.rng.random() < 0.3:
            raise_alert(core, rid, now, entity=core.rng.choice(watched), severity="medium")
