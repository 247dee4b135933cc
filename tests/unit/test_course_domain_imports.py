"""The course modules of the domain import only the standard library and ketaplan itself.

STYLE.md convention 1: only entry points import Typer; adapters (the .ics export) import their
libraries; the domain stays importable by any service, API or worker.
"""

from __future__ import annotations

import ast
import sys
from pathlib import Path

import pytest

CLINICAL = Path(__file__).parents[2] / "src" / "ketaplan" / "clinical"
MODULES = [
    "outcomes.py",
    "session.py",
    "monitoring.py",
    "calendar.py",
    "course.py",
    "titration.py",
    "catalog/course_loader.py",
]


@pytest.mark.parametrize("module", MODULES)
def test_course_domain_module_imports_only_stdlib_and_ketaplan(module: str) -> None:
    tree = ast.parse((CLINICAL / module).read_text(encoding="utf-8"))
    imported = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            imported |= {alias.name.split(".")[0] for alias in node.names}
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            imported.add(node.module.split(".")[0])
    foreign = {name for name in imported if name not in sys.stdlib_module_names} - {"ketaplan"}
    assert foreign == set()
