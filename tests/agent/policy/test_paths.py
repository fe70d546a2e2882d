from __future__ import annotations

import dataclasses

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from agent.policy import PolicyInput, load_policy_text
from agent.policy.paths import target_fields, unknown_path


@pytest.mark.parametrize(
    ("when", "path"),
    [
        ("input.actionn == 'x'", "input.actionn"),
        ("input.time.frezze", "input.time.frezze"),
        ("input.requester.role.exists(r, r == 'a')", "input.requester.role"),
        ("input.targets.all(t, t.env == 'prod' && t.critical == 'high')", "t.critical"),
    ],
)
def test_unknown_path_found(when, path):
    bad = unknown_path(when)
    assert bad is not None and bad.path == path
    assert when[bad.offset :].replace(" ", "").startswith(path.split(".")[0])


@pytest.mark.parametrize(
    "when",
    [
        "input.params.anything_goes == 1",
        "input.blast_radius.by_kind.service > 0",
        "input.action == 'input.fake.field'",
        "input.requester.roles.exists(t, t.size() > 0)",  # 't' over roles, not targets
        "input.targets.exists(t, t.env == 'x') || input.requester.roles.exists(t, t == 'y')",
    ],
)
def test_unknown_path_accepts_valid_or_undecidable(when):
    assert unknown_path(when) is None


@pytest.mark.parametrize(
    ("whens", "expected"),
    [
        (["input.targets.exists(t, t.env == 'prod')"], {"env"}),
        (
            ["input.targets.all(x, x.env != 'prod')", "input.targets.exists(y, y.role == 'a')"],
            {"env", "role"},
        ),
        (["input.target_count > 1", "size(input.targets) > 2", "input.targets.size() > 3"], set()),
        (["input.targets.exists(t, has(t.name))"], {"name"}),
    ],
)
def test_target_fields_known(whens, expected):
    assert target_fields(whens) == frozenset(expected)


@pytest.mark.parametrize(
    "when",
    [
        "input.targets[0].env == 'prod'",
        "input.targets.exists(t, t in input.targets)",
        "input.targets.exists(t, t == {'env': 'prod'})",
        "input.targets.exists(t, t.env == 'x') && input.requester.roles.exists(t, t == 'y')",
    ],
)
def test_target_fields_unknown_means_all(when):
    assert target_fields([when]) is None


PRUNED = load_policy_text(
    "version: 1\nrules:\n"
    "  - {id: prod, when: 'input.targets.exists(t, t.env == \"prod\")', decision: consent,"
    " reason: r}\n"
    "  - {id: bg, when: 'input.targets.exists(t, t.role == \"break_glass\")', decision: deny,"
    " reason: r}\n"
    "  - {id: many, when: 'size(input.targets) > 3', decision: consent, reason: r, quorum: 2}\n"
    "  - {id: dev, when: 'input.targets.all(t, t.env == \"dev\")', decision: auto, reason: r}\n"
)

target = st.fixed_dictionaries(
    {},
    optional={
        "env": st.sampled_from(["prod", "dev", "staging", ""]),
        "role": st.sampled_from(["break_glass", "admin", "web", ""]),
        "name": st.text(max_size=5),
        "criticality": st.sampled_from(["low", "critical"]),
    },
)


@settings(max_examples=200, deadline=None)
@given(st.lists(target, max_size=6))
def test_target_field_pruning_never_changes_a_decision(targets):
    assert PRUNED.target_fields == frozenset({"env", "role"})
    full = dataclasses.replace(PRUNED, target_fields=None)
    policy_input = PolicyInput.from_partial({"action": "x", "targets": targets})
    assert PRUNED.decide(policy_input) == full.decide(policy_input)


@settings(max_examples=200, deadline=None)
@given(
    st.sampled_from(["host.reboot", "patch.apply", "service.restart", "identity.disable"]),
    st.lists(target, max_size=12),
    st.integers(0, 3),
)
def test_example_policy_pruning_never_changes_a_decision(example_policy, action, targets, extra):
    policy_input = PolicyInput.from_partial(
        {"action": action, "targets": targets, "blast_radius": {"collateral": extra}}
    )
    full = dataclasses.replace(example_policy, target_fields=None)
    assert example_policy.decide(policy_input) == full.decide(policy_input)
