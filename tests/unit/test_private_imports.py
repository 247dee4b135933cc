"""No ketaplan module imports another module's private names.

A leading underscore says "this module's own detail, free to change"; importing it from
elsewhere ties two modules together without saying so (the PK model loader once borrowed the
catalog loader's validators this way). What modules share is public, with a docstring.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

SOURCE = Path(__file__).parents[2] / "src"
MODULES = sorted(
    path
    for path in (SOURCE / "ketaplan").rglob("*.py")
    if "migrations" not in path.parts  # Alembic's generated revisions follow its own habits
)


def _private_imports(path: Path) -> list[str]:
    found = []
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.ImportFrom) and (node.module or "").startswith("ketaplan"):
            found += [
                f"{node.module}.{alias.name}"
                for alias in node.names
                if alias.name.startswith("_") and not alias.name.startswith("__")
            ]
    return found


@pytest.mark.parametrize("path", MODULES, ids=lambda p: str(p.relative_to(SOURCE)))
def test_a_module_imports_only_public_names_from_other_ketaplan_modules(path: Path) -> None:
    assert _private_imports(path) == []
