"""The layer contract: which part of ketaplan may import which, over every module in src/.

From the inside out: the domain (``clinical``) decides; the services (use cases) run it in a
transaction over the store; the adapters (``api``, ``web``, over the ``http`` they share, and
``cli``) turn requests into use cases; ``app`` assembles the running service. Each layer
imports only inward, so a newcomer can read the domain without a web framework in sight, and
a change to a page cannot break the API. An AST walk rather than an import-linter dependency:
the rules are few, the walk needs nothing installed, and it sees every import (inside
functions and ``TYPE_CHECKING`` blocks too, which is where the CLI keeps its lazy ones).

The rules (issue 15):

* ``clinical`` imports no adapter, service, store or settings, and no third-party library but
  numpy in the PK models (the domain runs anywhere; STYLE.md convention 1);
* ``services`` import no adapter (``api``, ``web``, ``http``, ``cli``, ``app``);
* ``api`` and ``web`` import ``http`` and the services, never each other, the store or the CLI;
* ``http`` (what the two share) imports neither of them, nor the store;
* ``cli`` reaches the store only through services;
* ``export`` (FHIR, PDF, iCalendar: formats the services hand their records to) imports no
  adapter, so every entry point produces the same file;
* nothing imports ``ketaplan.app`` but the one command that seeds a clinic the way the
  server serves it (``ketaplan.cli.demo_data``); uvicorn names it in a string, tests import it.
"""

from __future__ import annotations

import ast
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

SRC = Path(__file__).parents[2] / "src"
ADAPTERS = {"api", "web", "http", "cli", "app"}

FORBIDDEN: dict[str, set[str]] = {
    "clinical": ADAPTERS | {"services", "store", "settings", "export", "drug_dictionary"},
    "services": ADAPTERS,
    "api": {"web", "store", "cli", "app"},
    "web": {"api", "store", "cli", "app"},
    "http": {"api", "web", "store", "cli", "app"},
    "cli": {"store", "api", "web"},
    "store": ADAPTERS | {"services", "clinical"},
    "export": ADAPTERS,
}
"""Layer → the layers (first names under ``ketaplan``) it must not import."""

APP_IMPORTERS = {"ketaplan.cli.demo_data"}
"""The modules besides the tests that may import the composition root (see the docstring)."""

THIRD_PARTY_IN_CLINICAL = {"ketaplan.clinical.pk": {"numpy"}}
"""The domain's only third-party imports: numpy's arrays for the PK simulation."""


def _module_name(path: Path) -> str:
    parts = list(path.relative_to(SRC).with_suffix("").parts)
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def _imports(source: str, module: str, *, package: bool = False) -> Iterator[tuple[str, int]]:
    """Every module ``source`` imports (absolute name) with its line, relative ones resolved."""
    base_package = module if package else module.rpartition(".")[0]
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Import):
            for alias in node.names:
                yield alias.name, node.lineno
        elif isinstance(node, ast.ImportFrom):
            if node.level == 0 and node.module:
                yield node.module, node.lineno
                if node.module == "ketaplan":  # `from ketaplan import web`
                    for alias in node.names:
                        yield f"ketaplan.{alias.name}", node.lineno
            elif node.level:
                parts = base_package.split(".")
                base = parts[: len(parts) - (node.level - 1)]
                yield ".".join(base + ([node.module] if node.module else [])), node.lineno


def _imports_of(path: Path) -> Iterator[tuple[str, int]]:
    source = path.read_text(encoding="utf-8")
    return _imports(source, _module_name(path), package=path.name == "__init__.py")


def _layer(module: str) -> str:
    parts = module.split(".")
    return parts[1] if len(parts) > 1 else ""


MODULES = sorted(
    path
    for path in (SRC / "ketaplan").rglob("*.py")
    if "migrations" not in path.parts  # Alembic's scripts, run by the store
)


def _breaches(module: str, imports: Iterator[tuple[str, int]]) -> list[str]:
    forbidden = FORBIDDEN.get(_layer(module), set())
    found = []
    for imported, line in imports:
        if not imported.startswith("ketaplan"):
            continue
        target = _layer(imported)
        if target in forbidden and target != _layer(module):
            found.append(f"{module}:{line} imports {imported} ({_layer(module)} -> {target})")
        if target == "app" and module != "ketaplan.app" and module not in APP_IMPORTERS:
            found.append(f"{module}:{line} imports the composition root {imported}")
    return found


@pytest.mark.parametrize("path", MODULES, ids=lambda path: _module_name(path))
def test_module_keeps_the_layer_contract(path: Path) -> None:
    assert _breaches(_module_name(path), _imports_of(path)) == []


@pytest.mark.parametrize(
    "path",
    [path for path in MODULES if _layer(_module_name(path)) == "clinical"],
    ids=lambda path: _module_name(path),
)
def test_the_domain_imports_only_the_standard_library_and_ketaplan(path: Path) -> None:
    module = _module_name(path)
    allowed = {"ketaplan"} | next(
        (
            libraries
            for prefix, libraries in THIRD_PARTY_IN_CLINICAL.items()
            if module == prefix or module.startswith(prefix + ".")
        ),
        set(),
    )
    imported = {name.split(".")[0] for name, _ in _imports_of(path)}
    assert imported - set(sys.stdlib_module_names) - allowed == set()


def test_the_walk_sees_imports_in_every_form() -> None:
    """The contract is only as good as the walk: it must see lazy, relative and
    ``from ketaplan import x`` imports, and call each one a breach where it is one."""
    probe = (
        "from ketaplan.api import install\n"
        "def f():\n"
        "    from ketaplan.store import Database\n"
        "from ..rendering import render\n"
        "from ketaplan import app\n"
        "from ketaplan.http.context import services\n"
    )
    module = "ketaplan.web.routes.probe"
    imports = list(_imports(probe, module))
    assert ("ketaplan.web.rendering", 4) in imports
    breaches = _breaches(module, iter(imports))
    assert sorted(breach.split(" ")[0] for breach in breaches) == [
        f"{module}:1",  # the API
        f"{module}:3",  # the store, lazily
        f"{module}:5",  # the composition root, as a layer...
        f"{module}:5",  # ...and as the module nothing may import
    ]
    assert _breaches("ketaplan.cli.demo_data", iter([("ketaplan.app", 1)])) == []
