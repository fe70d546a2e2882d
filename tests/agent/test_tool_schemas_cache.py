"""Tool schemas are built once per process (agent.chat.tool_specs), not on every agent turn."""

from __future__ import annotations

import copy
from typing import Any

import pytest

from agent.chat import tool_specs
from agent.chat.tool_args import TOOL_ARGS


def test_schemas_are_built_once_and_each_caller_gets_its_own_copy(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    first = tool_specs.tool_schemas()
    expected = copy.deepcopy(first)
    assert set(first) == set(TOOL_ARGS)
    assert first["propose_change"]["properties"]["action"]["enum"]
    calls: list[Any] = []
    inline = tool_specs._inline

    def counted(schema: dict[str, Any]) -> dict[str, Any]:
        calls.append(schema)
        return inline(schema)

    monkeypatch.setattr(tool_specs, "_inline", counted)
    first["twin_search"]["properties"].clear()  # a caller changing its copy
    second = tool_specs.tool_schemas()
    assert calls == []  # nothing rebuilt (pydantic schema generation is the costly part)
    assert second == expected
