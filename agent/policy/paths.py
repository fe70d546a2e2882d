"""Static reading of CEL conditions: which ``input`` fields they name.

CEL here runs without type declarations, so a misspelt field only shows up when the rule is
evaluated on an input that reaches it. This module resolves every ``input.a.b`` path, and the
fields of variables bound by macros over ``input.targets`` (``exists``, ``all`` ...), against
``PolicyInput`` so the loader can refuse a typo with its position.

It also works out which target fields a policy reads at all. Converting targets into CEL values
dominates the cost of a decision on large selections, so the engine hands CEL only those
fields. The analysis is conservative: any use of ``input.targets`` or of a target variable it
does not fully understand means "all fields".
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass

from pydantic import BaseModel

from agent.policy.input import PolicyInput, PolicyTarget

__all__ = ["UnknownPath", "blank_strings", "target_fields", "unknown_path"]

_STRING_LITERAL = re.compile(r"'(?:[^'\\]|\\.)*'|\"(?:[^\"\\]|\\.)*\"")
_IDENT = r"[A-Za-z_]\w*"
_INPUT_PATH = re.compile(rf"(?<![\w.])input((?:\s*\.\s*{_IDENT})+)")
_MACRO = r"(?:exists_one|exists|all|filter|map)"
_TARGET_MACRO = re.compile(rf"(?<![\w.])input\s*\.\s*targets\s*\.\s*{_MACRO}\s*\(\s*({_IDENT})\s*,")
_ANY_MACRO = re.compile(rf"\.\s*{_MACRO}\s*\(\s*({_IDENT})\s*,")
_TARGETS = re.compile(r"(?<![\w.])input\s*\.\s*targets\b")
_TARGETS_OK = re.compile(rf"\s*\.\s*(?:{_MACRO}\s*\(|size\s*\(\s*\))")
_SIZE_OPEN = re.compile(r"(?<![\w.])size\s*\(\s*$")
_CLOSE = re.compile(r"\s*\)")


@dataclass(frozen=True, slots=True)
class UnknownPath:
    """A field reference the input does not have."""

    path: str
    """As written, e.g. ``input.blast_radius.colateral`` or ``t.environment``."""
    name: str
    """The unknown last segment."""
    known: frozenset[str]
    """The field names valid at that point."""
    offset: int
    """Character offset of the reference in the condition."""


def blank_strings(when: str) -> str:
    """``when`` with string literals blanked to spaces (same length, so offsets hold)."""
    return _STRING_LITERAL.sub(lambda m: " " * len(m.group(0)), when)


def _submodel(model: type[BaseModel], name: str) -> type[BaseModel] | None:
    annotation = model.model_fields[name].annotation
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        return annotation
    return None


def _target_vars(scan: str) -> set[str]:
    """Variables bound over ``input.targets`` and over nothing else in this condition."""
    bound = [m.group(1) for m in _TARGET_MACRO.finditer(scan)]
    everywhere = [m.group(1) for m in _ANY_MACRO.finditer(scan)]
    return {v for v in bound if everywhere.count(v) == bound.count(v)}


def _var_fields(var: str, scan: str) -> Iterable[tuple[str, int]]:
    for m in re.finditer(rf"(?<![\w.]){re.escape(var)}\s*\.\s*({_IDENT})", scan):
        yield m.group(1), m.start()


def unknown_path(when: str) -> UnknownPath | None:
    """The first field reference in ``when`` that ``PolicyInput`` does not have, if any."""
    scan = blank_strings(when)
    for match in _INPUT_PATH.finditer(scan):
        model: type[BaseModel] | None = PolicyInput
        path = "input"
        for part in (p.strip() for p in match.group(1).split(".") if p.strip()):
            if model is None:
                break  # past a dict or list field (params, by_kind ...): keys are free-form
            if part not in model.model_fields:
                known = frozenset(model.model_fields)
                return UnknownPath(f"{path}.{part}", part, known, match.start())
            path = f"{path}.{part}"
            model = _submodel(model, part)
    for var in sorted(_target_vars(scan)):
        for name, offset in _var_fields(var, scan):
            if name not in PolicyTarget.model_fields:
                known = frozenset(PolicyTarget.model_fields)
                return UnknownPath(f"{var}.{name}", name, known, offset)
    return None


def target_fields(whens: Iterable[str]) -> frozenset[str] | None:
    """The target fields the conditions read, or ``None`` if that cannot be known for sure."""
    fields: set[str] = set()
    for when in whens:
        scan = blank_strings(when)
        # Every mention of input.targets must be a macro call, .size() or size(...).
        for m in _TARGETS.finditer(scan):
            in_size = _SIZE_OPEN.search(scan, 0, m.start()) and _CLOSE.match(scan, m.end())
            if not (_TARGETS_OK.match(scan, m.end()) or in_size):
                return None
        bound = [m.group(1) for m in _TARGET_MACRO.finditer(scan)]
        safe = _target_vars(scan)
        if set(bound) - safe:
            return None  # a name bound over targets and something else: cannot tell apart
        for var in safe:
            uses = [m.start() for m in re.finditer(rf"(?<![\w.]){re.escape(var)}\b", scan)]
            reads = {offset: name for name, offset in _var_fields(var, scan)}
            bindings = {m.start(1) for m in _TARGET_MACRO.finditer(scan) if m.group(1) == var}
            for offset in uses:
                if offset in bindings:
                    continue
                if offset not in reads:
                    return None  # the variable is used whole (compared, passed on ...)
                fields.add(reads[offset])
    return frozenset(fields)
