"""The bot goes through the agent's facade and reads its own typed settings.

Checked on the source (``ast``), so a new shortcut fails here rather than in review: no private
attribute of ``Operations`` or the agent (``ops._graph``), no ``getattr(obj, "_private")``, no
table of another package (``journal_table``, ``memory_table`` ...), and no ``getattr`` on the
settings (every section is a typed field: ``s.topology``, not ``getattr(s, "topology", None)``).
"""

from __future__ import annotations

import ast
from collections.abc import Iterator
from pathlib import Path

import pytest

BOT = Path(__file__).resolve().parents[2] / "bot"
FACADES = {"ops", "agent", "executor", "journal", "consent", "audit", "guard", "store"}
"""Names of the agent's objects as the bot holds them (``oh.ops``, ``oh.agent`` ...)."""


def _sources() -> Iterator[tuple[str, ast.AST]]:
    for path in sorted(BOT.rglob("*.py")):
        yield str(path.relative_to(BOT.parent)), ast.parse(path.read_text(), str(path))


def _chain(node: ast.expr) -> list[str]:
    """``self.oh.ops.executor`` as ["self", "oh", "ops", "executor"] (a call ends the chain)."""
    names: list[str] = []
    while isinstance(node, ast.Attribute):
        names.append(node.attr)
        node = node.value
    if isinstance(node, ast.Name):
        names.append(node.id)
    return names[::-1]


def _private(name: str) -> bool:
    return name.startswith("_") and not name.startswith("__")


def violations(tree: ast.AST, where: str) -> list[str]:
    """Every shortcut past the facade or the typed settings in one module."""
    found = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Attribute) and _private(node.attr):
            base = _chain(node.value)
            if FACADES & set(base[1:] if base[:1] == ["self"] else base):
                found.append(f"{where}:{node.lineno}: {ast.unparse(node)}")
        elif isinstance(node, ast.Call) and ast.unparse(node.func) == "getattr" and node.args:
            first = ast.unparse(node.args[0])
            name = node.args[1] if len(node.args) > 1 else None
            if isinstance(name, ast.Constant) and _private(str(name.value)):
                found.append(f"{where}:{node.lineno}: {ast.unparse(node)}")
            if first in ("s", "settings") or first.endswith((".settings", "settings()")):
                found.append(f"{where}:{node.lineno}: {ast.unparse(node)} (typed field instead)")
        elif isinstance(node, ast.ImportFrom) and (node.module or "").split(".")[0] in (
            "agent",
            "adapters",
            "twin",
        ):
            for alias in node.names:
                if alias.name.endswith("_table"):
                    found.append(f"{where}:{node.lineno}: imports {node.module}.{alias.name}")
    return found


def test_bot_uses_only_the_facade_and_typed_settings() -> None:
    found = [v for where, tree in _sources() for v in violations(tree, where)]
    assert found == [], "\n".join(found)


@pytest.mark.parametrize(
    "code",
    [
        "n = oh.ops._graph",
        "n = self.oh.ops.executor._guard",
        "n = getattr(self.oh.ops, '_graph', None)",
        "n = getattr(s, 'topology', None)",
        "n = getattr(oh.settings, 'integrations', None)",
        "from agent.execution import journal_table",
        "from agent.chat import memory_table",
    ],
)
def test_the_check_catches_each_shortcut(code: str) -> None:
    assert violations(ast.parse(code), "x.py")


@pytest.mark.parametrize(
    "code",
    ["n = self._cache", "n = oh.ops.held_graph", "n = getattr(record, 'x', None)"],
)
def test_the_check_allows_own_state_and_public_attributes(code: str) -> None:
    assert violations(ast.parse(code), "x.py") == []
