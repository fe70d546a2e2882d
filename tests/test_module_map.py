"""The module map in docs/DEVELOPING.md describes the tree as it is."""

from __future__ import annotations

import re
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
LAYERS = ("twin", "adapters", "agent", "bot")


def _mapped() -> set[str]:
    text = (ROOT / "docs" / "DEVELOPING.md").read_text(encoding="utf-8")
    section = text.split("## Module map", 1)[1]
    return set(re.findall(r"^\| `([^`]+)` \|", section, flags=re.M))


def _packages() -> set[str]:
    found = set()
    for layer in LAYERS:
        for init in (ROOT / layer).rglob("*.py"):
            rel = init.parent.relative_to(ROOT).as_posix()
            if "migrations/" in rel + "/" and rel != "twin/migrations":
                continue
            found.add(rel + "/")
    return found


def test_every_package_is_in_the_module_map() -> None:
    missing = sorted(_packages() - _mapped())
    assert not missing, f"add these packages to docs/DEVELOPING.md's module map: {missing}"


def test_every_top_level_agent_and_bot_module_is_in_the_module_map() -> None:
    modules = {
        p.relative_to(ROOT).as_posix()
        for layer in ("agent", "bot")
        for p in (ROOT / layer).glob("*.py")
        if not p.name.startswith("_")
    }
    missing = sorted(modules - _mapped())
    assert not missing, f"add these modules to docs/DEVELOPING.md's module map: {missing}"


def test_every_path_in_the_module_map_exists() -> None:
    gone = sorted(p for p in _mapped() if not (ROOT / p).exists())
    assert not gone, f"docs/DEVELOPING.md's module map names paths that do not exist: {gone}"
