from __future__ import annotations

from pathlib import Path

import pytest

from agent.policy import Policy, load_policy

EXAMPLES = Path(__file__).resolve().parents[3] / "examples"


@pytest.fixture(scope="session")
def example_policy() -> Policy:
    return load_policy(EXAMPLES / "policy.yaml")


@pytest.fixture
def write_policy(tmp_path: Path):
    """Write YAML text to a policy file and return its path."""

    def write(text: str, name: str = "policy.yaml") -> Path:
        path = tmp_path / name
        path.write_text(text, encoding="utf-8")
        return path

    return write
