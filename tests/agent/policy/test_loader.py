from __future__ import annotations

from datetime import timedelta
from pathlib import Path

import pytest

from agent.policy import PolicyError, load_policy, load_policy_text, parse_duration


def _load_error(write_policy, text: str) -> PolicyError:
    path: Path = write_policy(text)
    with pytest.raises(PolicyError) as info:
        load_policy(path)
    err = info.value
    # Every load error names the file in its message.
    assert str(path) in str(err)
    assert err.source == str(path)
    return err


def test_loader_bad_yaml_names_file_line_col(write_policy):
    err = _load_error(write_policy, "version: 1\nrules:\n  - id: a\n    when: [unclosed\n")
    assert "YAML does not parse" in err.cause
    assert err.line == 5
    assert f":{err.line}:{err.col}:" in str(err)


def test_loader_bad_cel_inline_names_rule_line_col(write_policy):
    text = (
        "version: 1\n"
        "rules:\n"
        "  - id: broken\n"
        '    when: input.action == "x" &&& true\n'
        "    decision: deny\n"
        "    reason: r\n"
    )
    err = _load_error(write_policy, text)
    assert err.rule_id == "broken"
    assert "rule 'broken'" in str(err)
    assert "CEL does not compile" in err.cause
    # The stray '&' sits at column 33 of line 4 in the file.
    assert (err.line, err.col) == (4, 33)
    assert ":4:33:" in str(err)


def test_loader_bad_cel_in_block_scalar_maps_to_file_line(write_policy):
    text = (
        "version: 1\n"
        "rules:\n"
        "  - id: ok\n"
        "    when: 'true'\n"
        "    decision: auto\n"
        "    reason: fine\n"
        "  - id: block\n"
        "    when: |\n"
        '      input.action == "x"\n'
        "        && input.target_count >> 2\n"
        "    decision: deny\n"
        "    reason: r\n"
    )
    err = _load_error(write_policy, text)
    assert err.rule_id == "block"
    assert err.line == 10
    assert err.col > 7


def test_loader_unknown_rule_field_is_named(write_policy):
    text = (
        "version: 1\n"
        "rules:\n"
        "  - id: r1\n"
        "    when: 'true'\n"
        "    decision: consent\n"
        "    reason: r\n"
        "    approver: secops\n"
    )
    err = _load_error(write_policy, text)
    assert err.rule_id == "r1"
    assert "unknown field 'approver'" in err.cause
    assert "did you mean 'approvers'" in err.cause
    assert (err.line, err.col) == (7, 5)


def test_loader_unknown_top_level_field(write_policy):
    err = _load_error(write_policy, "version: 1\nrule: []\n")
    assert "unknown field 'rule'" in err.cause
    assert err.line == 2


def test_loader_unknown_input_field_named_with_position(write_policy):
    text = (
        "version: 1\n"
        "rules:\n"
        "  - id: typo\n"
        '    when: input.action == "x" && input.blast_radius.colateral > 0\n'
        "    decision: deny\n"
        "    reason: r\n"
    )
    err = _load_error(write_policy, text)
    assert err.rule_id == "typo"
    assert "input.blast_radius.colateral" in err.cause
    assert "did you mean 'collateral'" in err.cause
    assert (err.line, err.col) == (4, 34)


def test_loader_unknown_target_field_inside_macro(write_policy):
    text = (
        "version: 1\n"
        "rules:\n"
        "  - id: env\n"
        '    when: input.targets.exists(t, t.environment == "prod")\n'
        "    decision: consent\n"
        "    reason: r\n"
    )
    err = _load_error(write_policy, text)
    assert "t.environment" in err.cause
    assert err.line == 4


def test_loader_unknown_field_inside_string_literal_is_not_a_field(write_policy):
    text = (
        "version: 1\n"
        "rules:\n"
        "  - id: lit\n"
        '    when: input.action == "input.nothing.here"\n'
        "    decision: deny\n"
        "    reason: r\n"
    )
    policy = load_policy(write_policy(text))
    assert [r.id for r in policy.rules] == ["lit"]


def test_loader_unguarded_params_key_fails_at_load(write_policy):
    text = (
        "version: 1\n"
        "rules:\n"
        "  - id: minutes\n"
        "    when: input.params.minutes > 60\n"
        "    decision: consent\n"
        "    reason: r\n"
    )
    err = _load_error(write_policy, text)
    assert "'minutes'" in err.cause
    assert "has(" in err.cause


def test_loader_type_error_and_non_boolean_fail_at_load(write_policy):
    head = "version: 1\nrules:\n  - id: t\n"
    text = head + '    when: input.target_count > "3"\n    decision: deny\n    reason: r\n'
    assert "well-formed input" in _load_error(write_policy, text).cause
    text = head + "    when: input.target_count\n    decision: deny\n    reason: r\n"
    assert "true or false" in _load_error(write_policy, text).cause


@pytest.mark.parametrize(
    ("body", "fragment"),
    [
        ("    decision: maybe\n    reason: r\n", "decision must be one of"),
        ("    decision: deny\n    reason: r\n    when2: x\n", "unknown field 'when2'"),
        ("    decision: deny\n", "no 'reason'"),
        ("    decision: deny\n    reason: r\n    quorum: 2\n", "only applies to consent"),
        ("    decision: consent\n    reason: r\n    quorum: 0\n", "quorum must be an integer"),
        ("    decision: consent\n    reason: r\n    expires_in: soon\n", "not a duration"),
    ],
)
def test_loader_rule_field_errors(write_policy, body, fragment):
    text = "version: 1\nrules:\n  - id: r\n    when: 'true'\n" + body
    err = _load_error(write_policy, text)
    assert fragment in err.cause
    assert err.rule_id == "r"


def test_loader_unquoted_boolean_condition_explained(write_policy):
    text = "version: 1\nrules:\n  - id: b\n    when: true\n    decision: auto\n    reason: r\n"
    err = _load_error(write_policy, text)
    assert "quote it" in err.cause
    assert (err.line, err.rule_id) == (4, "b")


def test_loader_duplicate_rule_id_and_duplicate_key(write_policy):
    rule = "  - id: same\n    when: 'true'\n    decision: deny\n    reason: r\n"
    err = _load_error(write_policy, "version: 1\nrules:\n" + rule + rule)
    assert "duplicate rule id" in err.cause
    assert err.line == 7
    err = _load_error(write_policy, "version: 1\nversion: 1\nrules: []\n")
    assert "duplicate key 'version'" in err.cause


def test_loader_version_required_and_supported(write_policy):
    assert "no 'version'" in _load_error(write_policy, "rules: []\n").cause
    assert "unsupported version" in _load_error(write_policy, "version: 9\nrules: []\n").cause


def test_loader_missing_file_is_a_policy_error(tmp_path):
    with pytest.raises(PolicyError, match="cannot read"):
        load_policy(tmp_path / "absent.yaml")


def test_loader_consent_rule_inherits_defaults():
    policy = load_policy_text(
        "version: 1\n"
        "defaults: {approvers: secops, quorum: 2, expires_in: 2h}\n"
        "rules:\n"
        "  - {id: c, when: 'true', decision: consent, reason: r}\n"
        "  - {id: d, when: 'false', decision: consent, reason: r, quorum: 3, expires_in: 10m}\n"
    )
    c, d = policy.rules
    assert (c.approvers, c.quorum, c.expires_in) == ("secops", 2, timedelta(hours=2))
    assert (d.approvers, d.quorum, d.expires_in) == ("secops", 3, timedelta(minutes=10))


def test_loader_hash_ignores_comments_and_layout_but_not_content():
    a = load_policy_text(
        "version: 1\nrules:\n  - {id: a, when: 'true', decision: auto, reason: r}\n"
    )
    b = load_policy_text(
        "# a comment\nversion: 1\nrules:\n  - id: a\n    when: 'true'\n    decision: auto\n"
        "    reason: r\n"
    )
    c = load_policy_text(
        "version: 1\nrules:\n  - {id: a, when: 'true', decision: deny, reason: r}\n"
    )
    assert a.hash == b.hash
    assert a.hash != c.hash
    assert len(a.hash) == 64


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("1h", timedelta(hours=1)),
        ("30m", timedelta(minutes=30)),
        ("1h30m", timedelta(minutes=90)),
        ("2d", timedelta(days=2)),
        ("45s", timedelta(seconds=45)),
    ],
)
def test_parse_duration_accepts(text, expected):
    assert parse_duration(text) == expected


@pytest.mark.parametrize("text", ["", "0m", "1x", "h", "1.5h", "-1h"])
def test_parse_duration_rejects(text):
    with pytest.raises(ValueError):
        parse_duration(text)
