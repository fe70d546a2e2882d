"""Runbook loading (errors name file, line and field) and matching."""

from __future__ import annotations

from datetime import timedelta

import pytest

from adapters.signals import parse_generic
from agent.signals import (
    RunbookError,
    TemplateError,
    load_runbooks,
    load_runbooks_text,
    resolve_entity,
)
from tests.agent.autonomy.world import ROOT
from tests.estate import small_graph

GOOD = """\
version: 1
runbooks:
  - id: restart
    match:
      source: generic
      labels: {alertname: ServiceDown, service: "*"}
      severity: [critical, high]
    action:
      kind: service.restart
      target: "{labels.service}"
    group_window: 5m
    dedupe_key: "r:{labels.service}"
"""


def _sig(**kw: object):  # type: ignore[no-untyped-def]
    base = {
        "id": "1",
        "title": "t",
        "status": "firing",
        "severity": "critical",
        "labels": {"alertname": "ServiceDown", "service": "contoso-portal"},
    }
    return parse_generic({**base, **kw})


def test_runbooks_example_file_loads() -> None:
    rs = load_runbooks(ROOT / "examples" / "runbooks.yaml")
    assert [r.id for r in rs.runbooks] == [
        "restart-down-service",
        "pagerduty-service-restart",
        "install-missing-critical-patch",
    ]


def test_runbook_matches_and_fills_the_template() -> None:
    rs = load_runbooks_text(GOOD)
    rb = rs.runbooks[0]
    assert rb.group_window == timedelta(minutes=5)
    g = small_graph()
    found = rs.find(_sig(), g)
    assert found is not None
    m = rs.instantiate(found[0], _sig(), found[1], g)
    assert (m.action, m.target, m.dedupe_key) == (
        "service.restart",
        "service:contoso-portal",
        "r:contoso-portal",
    )


@pytest.mark.parametrize(
    ("sig", "why"),
    [
        ({"severity": "warning"}, "severity"),
        ({"labels": {"alertname": "DiskFull", "service": "contoso-portal"}}, "label value"),
        ({"labels": {"alertname": "ServiceDown"}}, "label missing"),
    ],
)
def test_runbook_does_not_match(sig: dict[str, object], why: str) -> None:
    assert load_runbooks_text(GOOD).find(_sig(**sig), small_graph()) is None, why


def test_runbook_target_must_resolve_exactly() -> None:
    rs = load_runbooks_text(GOOD)
    g = small_graph()
    sig = _sig(labels={"alertname": "ServiceDown", "service": "portal"})  # fuzzy would find it
    found = rs.find(sig, g)
    assert found is not None
    with pytest.raises(TemplateError, match="not a service"):
        rs.instantiate(found[0], sig, found[1], g)


def test_resolve_entity_strips_port_and_prefers_hosts() -> None:
    g = small_graph()
    e = resolve_entity(g, "contoso-ny-web-02:9100")
    assert e is not None and e.id == "host:contoso-ny-web-02"
    assert resolve_entity(g, "contoso-ny-web-0\u200b2") is None


@pytest.mark.parametrize(
    ("edit", "line", "message"),
    [
        (("      kind: service.restart", "      kind: service.reboot"), 9, "action.kind"),
        (("    group_window: 5m", "    group_window: soon"), 11, "group_window"),
        (
            ("      severity: [critical, high]", "      severity: [critical, urgent]"),
            7,
            "unknown severity 'urgent'",
        ),
        (
            ('      target: "{labels.service}"', '      target: "{params.x}"'),
            10,
            "unknown slot {params.x}",
        ),
        (("    dedupe_key:", "    dedupe:"), 12, "unknown field 'runbook.dedupe'"),
        (
            ("      source: generic", "      source: generic\n      sourse: x"),
            6,
            "unknown field 'match.sourse'",
        ),
    ],
)
def test_runbook_errors_name_file_line_and_field(
    edit: tuple[str, str], line: int, message: str
) -> None:
    text = GOOD.replace(*edit)
    assert text != GOOD
    with pytest.raises(RunbookError) as err:
        load_runbooks_text(text, source="rb.yaml")
    assert err.value.line == line, str(err.value)
    assert str(err.value).startswith(f"rb.yaml:{line}:")
    assert message in str(err.value)
    assert err.value.runbook == "restart"


def test_runbook_params_checked_against_the_action() -> None:
    text = GOOD.replace(
        '      target: "{labels.service}"',
        '      target: "{labels.service}"\n      params: {hots: x}',
    )
    with pytest.raises(RunbookError, match=r"action.params.hots"):
        load_runbooks_text(text)


def test_runbook_duplicate_ids_and_bad_yaml() -> None:
    body = GOOD.split("runbooks:\n", 1)[1]
    with pytest.raises(RunbookError, match="duplicate runbook id 'restart'"):
        load_runbooks_text(GOOD + body)
    with pytest.raises(RunbookError, match="YAML does not parse"):
        load_runbooks_text("runbooks: [")
