"""docs/ARCHITECTURE.md names only what exists, so it cannot rot unseen.

Every ``src/ketaplan/...`` path it mentions must be a file or folder, and every backticked
dotted name ``ketaplan.x.y`` must be a module or package, optionally followed by a name defined
in it (a function, class or module-level value) and, inside a class, a name defined in the
class body. Names are found by reading the source (AST), not by importing it: the check needs
no database and sees a renamed function as surely as a moved module.
"""

from __future__ import annotations

import ast
import re
from functools import cache
from pathlib import Path

import pytest

ROOT = Path(__file__).parents[2]
SRC = ROOT / "src"
DOCUMENT = ROOT / "docs" / "ARCHITECTURE.md"

PATH = re.compile(r"src/ketaplan(?:/[\w.<>*-]+)*/?")
DOTTED = re.compile(r"`(ketaplan(?:\.\w+)+)`")


def mentioned_paths(text: str) -> set[str]:
    """Paths under ``src/ketaplan``; a placeholder such as ``<part>.py`` stands for its folder."""
    found = set()
    for match in PATH.finditer(text):
        parts = match.group(0).rstrip("/.").split("/")
        while parts and ("<" in parts[-1] or "*" in parts[-1]):
            parts.pop()
        found.add("/".join(parts))
    return found


def mentioned_names(text: str) -> set[str]:
    return set(DOTTED.findall(text))


def _module_file(dotted: str) -> Path | None:
    base = SRC.joinpath(*dotted.split("."))
    if (base / "__init__.py").is_file():
        return base / "__init__.py"
    if base.with_suffix(".py").is_file():
        return base.with_suffix(".py")
    return None


def _defined(body: list[ast.stmt]) -> dict[str, ast.stmt]:
    """Names a module or class body defines, with their definitions."""
    names: dict[str, ast.stmt] = {}
    for node in body:
        if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef | ast.ClassDef):
            names[node.name] = node
        elif isinstance(node, ast.Assign):
            for target in node.targets:
                if isinstance(target, ast.Name):
                    names[target.id] = node
        elif isinstance(node, ast.AnnAssign) and isinstance(node.target, ast.Name):
            names[node.target.id] = node
        elif isinstance(node, ast.ImportFrom):  # a package re-exporting a name
            for alias in node.names:
                names[alias.asname or alias.name] = node
    return names


@cache
def _parsed(path: Path) -> ast.Module:
    return ast.parse(path.read_text(encoding="utf-8"))


def resolves(dotted: str) -> bool:
    """Whether ``dotted`` is a module, or a module followed by names defined in it."""
    parts = dotted.split(".")
    for split in range(len(parts), 0, -1):
        module = _module_file(".".join(parts[:split]))
        if module is None:
            continue
        body: list[ast.stmt] = _parsed(module).body
        for name in parts[split:]:
            found = _defined(body).get(name)
            if found is None:
                return False
            body = found.body if isinstance(found, ast.ClassDef) else []
        return True
    return False


TEXT = DOCUMENT.read_text(encoding="utf-8")


def test_the_document_mentions_paths_and_names_to_check() -> None:
    """Guards the patterns: a document they no longer match would pass trivially."""
    assert "src/ketaplan/app.py" in mentioned_paths(TEXT)
    assert "ketaplan.clinical.planning.make_plan" in mentioned_names(TEXT)
    assert len(mentioned_paths(TEXT)) > 10
    assert len(mentioned_names(TEXT)) > 40


@pytest.mark.parametrize("path", sorted(mentioned_paths(TEXT)))
def test_every_mentioned_path_exists(path: str) -> None:
    assert (ROOT / path).exists(), f"docs/ARCHITECTURE.md mentions {path}, which does not exist"


@pytest.mark.parametrize("name", sorted(mentioned_names(TEXT)))
def test_every_mentioned_module_or_name_exists(name: str) -> None:
    assert resolves(name), f"docs/ARCHITECTURE.md mentions `{name}`, which is not in src/"


def test_the_check_refuses_what_does_not_exist() -> None:
    text = (
        "see src/ketaplan/nowhere.py and src/ketaplan/web/routes/<part>.py, "
        "`ketaplan.clinical.planning.make_plan`, `ketaplan.services.unit_of_work.UnitOfWork.db`, "
        "`ketaplan.clinical.planning.no_such_function`, `ketaplan.no_such_module`, "
        "`ketaplan.services.unit_of_work.UnitOfWork.no_such_method`"
    )
    assert mentioned_paths(text) == {"src/ketaplan/nowhere.py", "src/ketaplan/web/routes"}
    assert not (ROOT / "src/ketaplan/nowhere.py").exists()
    verdicts = {name: resolves(name) for name in mentioned_names(text)}
    assert verdicts == {
        "ketaplan.clinical.planning.make_plan": True,
        "ketaplan.services.unit_of_work.UnitOfWork.db": True,
        "ketaplan.clinical.planning.no_such_function": False,
        "ketaplan.no_such_module": False,
        "ketaplan.services.unit_of_work.UnitOfWork.no_such_method": False,
    }
