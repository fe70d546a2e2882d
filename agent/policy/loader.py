"""Loading a policy file: YAML with positions, strict schema, CEL compiled and type-checked.

Every problem becomes a ``PolicyError`` naming the file, the rule, the line and column and the
cause, because the person reading it is an operator editing YAML, not a Python developer.

Type checking is done twice, as far as CEL without declarations allows: a static pass resolves
every ``input.a.b`` path (and fields of ``targets`` macro variables) against ``PolicyInput``; then
each program is evaluated once on ``PolicyInput.probe()``, a fully populated input, so a
misspelt field, an unguarded ``params`` key or a type mismatch fails at load, not at 04:00.
"""

from __future__ import annotations

import difflib
import hashlib
import json
import re
from pathlib import Path
from typing import Any

import cel

from agent.policy.engine import Policy
from agent.policy.input import PolicyInput
from agent.policy.model import (
    OUTCOMES,
    Outcome,
    PolicyDefaults,
    PolicyError,
    Rule,
    parse_duration,
)
from agent.policy.paths import target_fields, unknown_path
from agent.policy.yamlpos import Located, compose_located

__all__ = ["SUPPORTED_VERSIONS", "load_policy", "load_policy_text"]

SUPPORTED_VERSIONS = (1,)
_TOP_FIELDS = frozenset({"version", "defaults", "rules"})
_DEFAULT_FIELDS = frozenset({"decision", "approvers", "quorum", "expires_in"})
_RULE_FIELDS = frozenset({"id", "when", "decision", "reason", "approvers", "quorum", "expires_in"})
_CONSENT_ONLY = ("approvers", "quorum", "expires_in")
_RULE_ID = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.\-]*$")
_CEL_POS = re.compile(r"<input>:(\d+):(\d+):\s*(.*)")


def load_policy(path: str | Path) -> Policy:
    """Load and compile the policy file at ``path``.

    Raises:
        PolicyError: the file cannot be read or parsed, or a rule is invalid.
    """
    p = Path(path)
    try:
        text = p.read_text(encoding="utf-8")
    except OSError as exc:
        raise PolicyError(str(p), f"cannot read the file: {exc.strerror}", line=1, col=1) from exc
    return load_policy_text(text, source=str(p))


def load_policy_text(text: str, *, source: str = "<string>") -> Policy:
    """Load and compile a policy from YAML text; ``source`` names it in errors.

    Raises:
        PolicyError: the text does not parse or a rule is invalid.
    """
    root = compose_located(text, source)
    if not isinstance(root.value, dict):
        raise PolicyError(source, "the policy must be a mapping with 'rules'", **root.at())
    _only(root, _TOP_FIELDS, source, None, "the policy")
    version = _version(root, source)
    defaults = _defaults(root.value.get("defaults"), source)
    rules_node = root.value.get("rules")
    if rules_node is None:
        raise PolicyError(source, "the policy has no 'rules' list", **root.at())
    if not isinstance(rules_node.value, list):
        raise PolicyError(source, "'rules' must be a list of rules", **rules_node.at())
    probe = cel.Context(variables={"input": PolicyInput.probe().to_cel()})
    rules: list[Rule] = []
    seen: dict[str, int] = {}
    for node in rules_node.value:
        rule = _rule(node, defaults, source, text, probe)
        if rule.id in seen:
            raise PolicyError(
                source,
                f"duplicate rule id (first defined on line {seen[rule.id]})",
                rule_id=rule.id,
                **node.at(),
            )
        seen[rule.id] = rule.line
        rules.append(rule)
    return Policy(
        source=source,
        version=version,
        defaults=defaults,
        rules=tuple(rules),
        hash=_canonical_hash(root.plain()),
        target_fields=target_fields(rule.when for rule in rules),
    )


def _hint(name: str, known: frozenset[str]) -> str:
    close = difflib.get_close_matches(name, sorted(known), n=1)
    return f"did you mean '{close[0]}'? " if close else ""


def _canonical_hash(content: Any) -> str:
    # Hash what the policy says, not how it is laid out: comments and spacing do not change it.
    blob = json.dumps(content, sort_keys=True, separators=(",", ":"), default=str)
    return hashlib.sha256(blob.encode("utf-8")).hexdigest()


def _only(
    node: Located, allowed: frozenset[str], source: str, rule_id: str | None, what: str
) -> None:
    assert isinstance(node.value, dict)
    for key, child in node.value.items():
        if key not in allowed:
            raise PolicyError(
                source,
                f"unknown field '{key}' in {what}; {_hint(key, allowed)}"
                f"(allowed: {', '.join(sorted(allowed))})",
                rule_id=rule_id,
                **child.key_at(),
            )


def _version(root: Located, source: str) -> int:
    assert isinstance(root.value, dict)
    node = root.value.get("version")
    if node is None:
        raise PolicyError(source, "the policy has no 'version' (use 'version: 1')", **root.at())
    if not isinstance(node.value, int) or node.value not in SUPPORTED_VERSIONS:
        raise PolicyError(
            source,
            f"unsupported version {node.value!r} (supported: {SUPPORTED_VERSIONS})",
            **node.at(),
        )
    return node.value


def _str(node: Located, source: str, rule_id: str | None, name: str) -> str:
    if not isinstance(node.value, str) or not node.value.strip():
        raise PolicyError(
            source, f"'{name}' must be a non-empty string", rule_id=rule_id, **node.at()
        )
    return node.value


def _outcome(node: Located, source: str, rule_id: str | None) -> Outcome:
    if node.value not in OUTCOMES:
        raise PolicyError(
            source,
            f"decision must be one of {', '.join(OUTCOMES)}, not {node.value!r}",
            rule_id=rule_id,
            **node.at(),
        )
    return node.value  # type: ignore[no-any-return]


def _quorum(node: Located, source: str, rule_id: str | None) -> int:
    if isinstance(node.value, bool) or not isinstance(node.value, int) or node.value < 1:
        raise PolicyError(
            source,
            f"quorum must be an integer >= 1, not {node.value!r}",
            rule_id=rule_id,
            **node.at(),
        )
    return node.value


def _expiry(node: Located, source: str, rule_id: str | None) -> Any:
    try:
        return parse_duration(str(node.value))
    except ValueError as exc:
        raise PolicyError(source, f"expires_in: {exc}", rule_id=rule_id, **node.at()) from exc


def _defaults(node: Located | None, source: str) -> PolicyDefaults:
    if node is None:
        return PolicyDefaults()
    if not isinstance(node.value, dict):
        raise PolicyError(source, "'defaults' must be a mapping", **node.at())
    _only(node, _DEFAULT_FIELDS, source, None, "defaults")
    values: dict[str, Any] = {}
    fields = node.value
    if "decision" in fields:
        values["decision"] = _outcome(fields["decision"], source, None)
    if "approvers" in fields:
        values["approvers"] = _str(fields["approvers"], source, None, "approvers")
    if "quorum" in fields:
        values["quorum"] = _quorum(fields["quorum"], source, None)
    if "expires_in" in fields:
        values["expires_in"] = _expiry(fields["expires_in"], source, None)
    return PolicyDefaults(**values)


def _rule(node: Located, defaults: PolicyDefaults, source: str, text: str, probe: Any) -> Rule:
    if not isinstance(node.value, dict):
        raise PolicyError(
            source, "each rule must be a mapping with id, when, decision, reason", **node.at()
        )
    fields = node.value
    id_node = fields.get("id")
    if id_node is None:
        raise PolicyError(source, "rule has no 'id'", **node.at())
    rule_id = str(id_node.value)
    if not _RULE_ID.fullmatch(rule_id) or rule_id == "default":
        raise PolicyError(
            source,
            "rule id must be letters, digits, '_', '-', '.' (and not 'default')",
            rule_id=rule_id,
            **id_node.at(),
        )
    _only(node, _RULE_FIELDS, source, rule_id, "a rule")
    for required in ("when", "decision", "reason"):
        if required not in fields:
            raise PolicyError(source, f"rule has no '{required}'", rule_id=rule_id, **node.at())
    decision = _outcome(fields["decision"], source, rule_id)
    reason = _str(fields["reason"], source, rule_id, "reason")
    if decision != "consent":
        for name in _CONSENT_ONLY:
            if name in fields:
                raise PolicyError(
                    source,
                    f"'{name}' only applies to consent rules (this rule is '{decision}')",
                    rule_id=rule_id,
                    **fields[name].key_at(),
                )
    approvers = quorum = expires = None
    if decision == "consent":
        approvers = (
            _str(fields["approvers"], source, rule_id, "approvers")
            if "approvers" in fields
            else defaults.approvers
        )
        quorum = (
            _quorum(fields["quorum"], source, rule_id) if "quorum" in fields else defaults.quorum
        )
        expires = (
            _expiry(fields["expires_in"], source, rule_id)
            if "expires_in" in fields
            else defaults.expires_in
        )
    when_node = fields["when"]
    if isinstance(when_node.value, bool):
        # `when: true` parses as a YAML boolean; CEL wants the text.
        raise PolicyError(
            source,
            "'when' must be CEL text; quote it: when: 'true'",
            rule_id=rule_id,
            **when_node.at(),
        )
    when = _str(when_node, source, rule_id, "when")
    program = _compile(when, when_node, source, rule_id, text)
    _check_paths(when, when_node, source, rule_id, text)
    _probe(program, when_node, source, rule_id, probe)
    return Rule(
        id=rule_id,
        when=when,
        decision=decision,
        reason=reason.strip(),
        approvers=approvers,
        quorum=quorum,
        expires_in=expires,
        line=node.line,
        program=program,
    )


def _compile(when: str, node: Located, source: str, rule_id: str, text: str) -> Any:
    try:
        return cel.compile(when)
    except (ValueError, RuntimeError) as exc:
        message = str(exc)
        match = _CEL_POS.search(message)
        if match is None:
            raise PolicyError(
                source, f"CEL does not compile: {message}", rule_id=rule_id, **node.at()
            ) from exc
        line, col = node.inner_at(int(match.group(1)), int(match.group(2)), text)
        cause = match.group(3).strip().removeprefix("Syntax error: ")
        raise PolicyError(
            source, f"CEL does not compile: {cause}", rule_id=rule_id, line=line, col=col
        ) from exc


def _check_paths(when: str, node: Located, source: str, rule_id: str, text: str) -> None:
    bad = unknown_path(when)
    if bad is None:
        return
    before = when[: bad.offset]
    inner_line = before.count("\n") + 1
    inner_col = bad.offset - (before.rfind("\n") + 1) + 1
    line, col = node.inner_at(inner_line, inner_col, text)
    raise PolicyError(
        source,
        f"unknown input field '{bad.path}'; {_hint(bad.name, bad.known)}"
        f"(known here: {', '.join(sorted(bad.known))})",
        rule_id=rule_id,
        line=line,
        col=col,
    )


def _probe(program: Any, node: Located, source: str, rule_id: str, probe: Any) -> None:
    try:
        result = program.execute(probe)
    except KeyError as exc:
        raise PolicyError(
            source,
            f"condition reads {exc} which the input does not always have "
            "(for params keys guard with has(input.params.<key>))",
            rule_id=rule_id,
            **node.at(),
        ) from exc
    except Exception as exc:  # any other evaluation failure on a well-formed input is a bug
        first = (str(exc).strip() or type(exc).__name__).splitlines()[0]
        raise PolicyError(
            source, f"condition fails on a well-formed input: {first}", rule_id=rule_id, **node.at()
        ) from exc
    if not isinstance(result, bool):
        raise PolicyError(
            source,
            f"condition must be true or false, but gives {type(result).__name__}",
            rule_id=rule_id,
            **node.at(),
        )
