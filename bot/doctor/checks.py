"""``opshand doctor``: is this deployment configured to work, and if not, what to fix.

Each check is read-only (no tables created, no twin seeded, no message posted) and ends in a
:class:`~bot.doctor.finding.Finding`: ``ok``, ``warn`` (works, but not as production should) or
``fail`` (will not work), with a plain sentence saying what to do. One failing check never stops
the others. The Slack checks are in :mod:`bot.doctor.slack`, the model's in
:mod:`bot.doctor.model`.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

from pydantic import ValidationError
from slack_sdk import WebClient
from sqlalchemy import inspect, text

from bot.doctor.finding import Finding
from bot.doctor.slack import default_client, slack_findings
from bot.settings import Settings

__all__ = ["check_settings", "run_doctor"]


def check_settings(file: Path | None, overrides: dict[str, Any]) -> tuple[Settings | None, Finding]:
    """Load the settings the way ``opshand serve`` does; a bad value names its key."""
    try:
        s = Settings.load(file, **overrides)
    except FileNotFoundError:
        return None, Finding(
            check="settings",
            status="fail",
            detail=f"settings file {file} does not exist",
            fix="Pass --settings with the path of an existing YAML file.",
        )
    except ValidationError as exc:
        where = "; ".join(
            f"{'.'.join(str(p) for p in e['loc']) or '(top)'}: {e['msg']}" for e in exc.errors()
        )
        return None, Finding(
            check="settings",
            status="fail",
            detail=f"invalid settings: {where}",
            fix="Correct those keys in the settings file or their OPSHAND_* variables "
            "(see docs/CONFIGURATION.md).",
        )
    except ValueError as exc:
        return None, Finding(check="settings", status="fail", detail=str(exc), fix="")
    return s, Finding(check="settings", status="ok", detail=f"loaded (slack.mode={s.slack.mode})")


def _database(s: Settings) -> list[Finding]:
    import bot.bootstrap  # noqa: F401  (registers every table on the metadata compared below)
    from twin.db import make_engine, metadata, schema_revision

    url = s.db_url
    if url.startswith("sqlite") and s.database_url is None:
        db_file = s.data_dir / "opshand.db"
        if not db_file.exists():
            return [
                Finding(
                    check="database",
                    status="warn",
                    detail=f"no database yet at {db_file}",
                    fix="Run `opshand migrate` (or start opshand once) to create it.",
                )
            ]
    try:
        engine = make_engine(url)
    except Exception as exc:
        return [
            Finding(
                check="database",
                status="fail",
                detail=f"database URL not usable: {type(exc).__name__}",
                fix="Set OPSHAND_DATABASE_URL to e.g. postgresql+psycopg://user@host:5432/opshand.",
            )
        ]
    out: list[Finding] = []
    try:
        with engine.connect() as conn:
            conn.execute(text("SELECT 1"))
            present = set(inspect(conn).get_table_names())
        kind = engine.dialect.name
        out.append(
            Finding(
                check="database",
                status="ok" if kind == "postgresql" else "warn",
                detail=f"{kind} reachable",
                fix=""
                if kind == "postgresql"
                else "Fine for one replica; use PostgreSQL to run several (database_url).",
            )
        )
        missing = sorted(set(metadata.tables) - present)
        revision = schema_revision(engine) if not missing else None
        if missing:
            out.append(
                Finding(
                    check="migrations",
                    status="fail",
                    detail=f"{len(missing)} tables missing (e.g. {', '.join(missing[:3])})",
                    fix="Run `opshand migrate` against this database.",
                )
            )
        elif revision is None:
            out.append(
                Finding(
                    check="migrations",
                    status="warn",
                    detail="tables present but no schema revision recorded",
                    fix="Run `opshand migrate` once so future upgrades know where to start.",
                )
            )
        else:
            out.append(
                Finding(check="migrations", status="ok", detail=f"schema at revision {revision}")
            )
    except Exception as exc:
        out.append(
            Finding(
                check="database",
                status="fail",
                detail=f"cannot connect: {type(exc).__name__}",
                fix="Check the host, port, user and password in database_url, and that the "
                "database exists and accepts connections from here.",
            )
        )
    finally:
        engine.dispose()
    return out


def _policy(s: Settings) -> Finding:
    from agent.policy import PolicyError, load_policy

    try:
        policy = load_policy(s.policy_file)
    except FileNotFoundError:
        return Finding(
            check="policy",
            status="fail",
            detail=f"policy file {s.policy_file} does not exist",
            fix="Set policy_file to your policy YAML (examples/policy.yaml is a start).",
        )
    except PolicyError as exc:
        return Finding(
            check="policy",
            status="fail",
            detail=f"policy does not load: {exc}",
            fix="Fix the rule named above, then run `opshand policy test`.",
        )
    rules = len(policy.rules)
    return Finding(check="policy", status="ok", detail=f"{s.policy_file} loads ({rules} rules)")


def _runbooks(s: Settings) -> Finding:
    from agent.signals import RunbookError, load_runbooks

    path = s.runbooks_file
    if not Path(path).exists():
        return Finding(
            check="runbooks",
            status="fail",
            detail=f"runbooks file {path} does not exist",
            fix="Point runbooks_file at your runbooks YAML, or remove the setting.",
        )
    try:
        found = load_runbooks(path)
    except (RunbookError, ValueError) as exc:
        return Finding(
            check="runbooks", status="fail", detail=str(exc), fix="Fix the runbook named above."
        )
    return Finding(check="runbooks", status="ok", detail=f"{len(found)} runbooks load")


def _integrations(s: Settings) -> list[Finding]:
    from adapters.health import check_all
    from adapters.integration_config import ConfigError
    from adapters.registry import build_integrations

    entries = s.integrations.entries()
    real = {c: e for c, e in entries.items() if e.vendor != "sim"}
    if not real:
        return [
            Finding(
                check="integrations",
                status="warn",
                detail="every category uses the simulated estate",
                fix="Configure the integrations section with your real tools before going live.",
            )
        ]
    try:
        built = build_integrations(real)
    except ConfigError as exc:
        return [
            Finding(check="integrations", status="fail", detail=str(exc), fix="Fix that entry.")
        ]
    try:
        results = check_all(built.values())
    finally:
        for i in built.values():
            i.close()
    return [
        Finding(
            check=f"integration {r.category}",
            status="ok" if r.ok else "fail",
            detail=f"{r.vendor}: {r.summary}" + (f" ({r.error} on {r.probe})" if r.error else ""),
            fix=""
            if r.ok
            else f"Check {r.category}'s URL and credentials (run `opshand adapters check`).",
        )
        for r in results
    ]


def _topology(s: Settings) -> list[Finding]:
    """Topology sources: each configured one read once; none means the simulated ones."""
    from adapters.integration_config import ConfigError
    from adapters.topology import build_topology_sources, check_topology_source

    config = s.topology
    if not config.sources:
        return [
            Finding(
                check="topology",
                status="warn",
                detail="no topology sources: twin sync uses the simulated ones",
                fix="List your CMDB, vCenter, Proxmox, NetBox, Prometheus or catalog files "
                "under topology.sources before going live.",
            )
        ]
    try:
        built = build_topology_sources(config)
    except ConfigError as exc:
        return [Finding(check="topology", status="fail", detail=str(exc), fix="Fix that entry.")]
    try:
        results = [check_topology_source(b) for b in built]
    finally:
        for b in built:
            b.close()
    return [
        Finding(
            check=f"topology {r.vendor}",
            status="ok" if r.ok else "fail",
            detail=f"{r.base_url}: {r.summary}" + (f" ({r.error})" if r.error else ""),
            fix="" if r.ok else f"Check the {r.vendor} source's URL and credentials.",
        )
        for r in results
    ]


def _signals(s: Settings) -> list[Finding]:
    """Signal webhooks: which sources may send, and which are open to anyone."""
    from bot.ingress.signal_auth import open_source_warnings

    sources = s.signal_sources()
    findings: list[Finding] = []
    if problem := s.management_problem():
        findings.append(
            Finding(check="management", status="fail", detail=problem, fix="Set it as said.")
        )
    findings += [
        Finding(
            check="signals",
            status="warn",
            detail=w,
            fix="Give that source credentials (docs/CONFIGURATION.md, signals.sources).",
        )
        for w in open_source_warnings(sources)
    ]
    if not sources:
        findings.append(
            Finding(
                check="signals",
                status="warn",
                detail="no signal source is configured: every signal webhook answers 401",
                fix="Add signals.sources.<name> with credentials for each alert source you use.",
            )
        )
    elif not findings:
        names = ", ".join(sorted(sources))
        findings.append(
            Finding(check="signals", status="ok", detail=f"authenticated sources: {names}")
        )
    return findings


def run_doctor(
    file: Path | None = None,
    *,
    overrides: dict[str, Any] | None = None,
    slack_client: Callable[[Settings], WebClient] = default_client,
    model_call: bool = False,
) -> list[Finding]:
    """Every check, in the order an operator fixes things (settings first).

    ``model_call`` also sends the model a one-token request (the only check that costs money).
    """
    from bot.doctor.model import model_findings

    s, first = check_settings(file, dict(overrides or {}))
    if s is None:
        return [first]
    findings = [first, *_database(s), *slack_findings(s, slack_client), _policy(s), _runbooks(s)]
    findings.extend(_integrations(s))
    findings.extend(_topology(s))
    findings.extend(Finding(**f) for f in model_findings(s, call=model_call))
    findings.extend(_signals(s))
    return findings
