"""YAML parsed into a tree that remembers where every value sits in the file.

PyYAML's composer already records node marks; this turns the node graph into ``Located`` values
(mapping -> ``dict[str, Located]``, sequence -> ``list[Located]``, scalar -> Python value) so
loaders can report ``file:line:col`` for any field. Duplicate keys are an error here (PyYAML
would keep the last one silently, which hides typos in policy files).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, TypedDict

import yaml

from agent.policy.model import PolicyError

__all__ = ["Located", "Pos", "compose_located"]


class Pos(TypedDict):
    """A 1-based file position, spread into ``PolicyError(..., **pos)``."""

    line: int
    col: int


@dataclass(frozen=True, slots=True)
class Located:
    """A YAML value with its position (1-based line and column)."""

    value: Any
    """``dict[str, Located]``, ``list[Located]`` or a plain scalar."""
    line: int
    col: int
    key_line: int
    """Position of the mapping key this value belongs to (its own position otherwise)."""
    key_col: int
    style: str | None = None
    """Scalar style: ``None`` (plain), ``'`` ``"`` (quoted), ``|`` ``>`` (block)."""

    def at(self) -> Pos:
        """Keyword arguments ``line=..., col=...`` for ``PolicyError``."""
        return {"line": self.line, "col": self.col}

    def key_at(self) -> Pos:
        """Like ``at`` but for the key that introduced this value."""
        return {"line": self.key_line, "col": self.key_col}

    def plain(self) -> Any:
        """The value with positions stripped (for hashing and validation)."""
        if isinstance(self.value, dict):
            return {k: v.plain() for k, v in self.value.items()}
        if isinstance(self.value, list):
            return [v.plain() for v in self.value]
        return self.value

    def inner_at(self, inner_line: int, inner_col: int, text: str) -> tuple[int, int]:
        """Map a 1-based position inside this scalar's string to a position in the file.

        Exact for block literals (``|``) and single-line scalars; for folded or multi-line
        plain scalars lines do not map one to one, so the scalar's own position is returned.
        """
        if self.style == "|":
            # Content starts on the line after the indicator, at the block's indentation.
            lines = text.splitlines()
            first = self.line  # 0-based index of the first content line
            while first < len(lines) and not lines[first].strip():
                first += 1
            if first >= len(lines):
                return self.line, self.col
            indent = len(lines[first]) - len(lines[first].lstrip(" "))
            return first + inner_line, indent + inner_col
        if inner_line == 1 and self.style in (None, "'", '"'):
            quote = 1 if self.style in ("'", '"') else 0
            return self.line, self.col + quote + inner_col - 1
        return self.line, self.col


def compose_located(text: str, source: str) -> Located:
    """Parse one YAML document into a ``Located`` tree.

    Raises:
        PolicyError: the text is not valid YAML, is empty, or has a duplicate or non-string key.
    """
    loader = yaml.SafeLoader(text)
    try:
        node = loader.get_single_node()
        if node is None:
            raise PolicyError(source, "the file is empty", line=1, col=1)
        return _convert(loader, node, source, None)
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        line, col = (mark.line + 1, mark.column + 1) if mark is not None else (1, 1)
        problem = exc.problem or exc.context or "invalid YAML"
        raise PolicyError(source, f"YAML does not parse: {problem}", line=line, col=col) from exc
    except yaml.YAMLError as exc:
        raise PolicyError(source, f"YAML does not parse: {exc}", line=1, col=1) from exc
    finally:
        loader.dispose()


def _convert(
    loader: yaml.SafeLoader, node: yaml.Node, source: str, key: yaml.Node | None
) -> Located:
    line, col = node.start_mark.line + 1, node.start_mark.column + 1
    key_line, key_col = (
        (key.start_mark.line + 1, key.start_mark.column + 1) if key is not None else (line, col)
    )
    if isinstance(node, yaml.MappingNode):
        loader.flatten_mapping(node)  # resolve '<<' merge keys like safe_load would
        items: dict[str, Located] = {}
        for key_node, value_node in node.value:
            name = loader.construct_object(key_node, deep=True)
            if not isinstance(name, str):
                raise PolicyError(
                    source,
                    f"keys must be strings, not {name!r}",
                    line=key_node.start_mark.line + 1,
                    col=key_node.start_mark.column + 1,
                )
            if name in items:
                raise PolicyError(
                    source,
                    f"duplicate key '{name}' (first on line {items[name].key_line})",
                    line=key_node.start_mark.line + 1,
                    col=key_node.start_mark.column + 1,
                )
            items[name] = _convert(loader, value_node, source, key_node)
        return Located(items, line, col, key_line, key_col)
    if isinstance(node, yaml.SequenceNode):
        return Located(
            [_convert(loader, child, source, None) for child in node.value],
            line,
            col,
            key_line,
            key_col,
        )
    value = loader.construct_object(node, deep=True)
    style = node.style if isinstance(node, yaml.ScalarNode) else None
    return Located(value, line, col, key_line, key_col, style)
