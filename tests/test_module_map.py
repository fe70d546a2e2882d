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


def _isort_key(name: str) -> tuple[int, str]:
    # ruff's isort-style order for __all__: CONSTANTS, then Classes, then functions
    return (0 if name.isupper() else 1 if name[:1].isupper() else 2, name)


def test_every_package_has_a_face_with_a_sorted_all() -> None:
    """Every package directory has an ``__init__.py`` declaring ``__all__`` (issue 16: "faces
    on every package"), in isort-style order (constants, classes, functions; each sorted)."""
    import ast

    faceless: list[str] = []
    for layer in LAYERS:
        for py in (ROOT / layer).rglob("*.py"):
            rel = py.parent.relative_to(ROOT).as_posix()
            if "/versions" in rel:
                continue  # Alembic revision scripts, loaded by path
            init = py.parent / "__init__.py"
            if not init.exists():
                faceless.append(f"{rel}/ has no __init__.py")
                continue
            tree = ast.parse(init.read_text(encoding="utf-8"))
            faces = [
                node.value
                for node in tree.body
                if isinstance(node, (ast.Assign, ast.AnnAssign))
                and any(
                    isinstance(t, ast.Name) and t.id == "__all__"
                    for t in (node.targets if isinstance(node, ast.Assign) else [node.target])
                )
            ]
            if not faces or not isinstance(faces[0], ast.List):
                faceless.append(f"{rel}/__init__.py declares no __all__ list")
                continue
            names = [str(e.value) for e in faces[0].elts if isinstance(e, ast.Constant)]
            if names != sorted(names, key=_isort_key):
                faceless.append(f"{rel}/__init__.py's __all__ is not sorted")
    assert not sorted(set(faceless)), sorted(set(faceless))
