"""``ketaplan protocols``: list the catalog's protocols, or show one with its sources."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer


def protocols(
    condition: Annotated[
        str | None, typer.Argument(help="Show one protocol (key or alias).")
    ] = None,
    catalog: Annotated[
        list[Path] | None,
        typer.Option("--catalog", help="A clinic catalog file merged over the defaults."),
    ] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Machine-readable output.")] = False,
) -> None:
    """List the protocols, or show one with every number and its source."""
    from ketaplan.cli._output import print_json, print_lines
    from ketaplan.clinical.catalog import load_catalog
    from ketaplan.clinical.protocols import describe_protocol, protocol_summary_line

    cat = load_catalog(tuple(catalog or ()))
    if condition is None:
        if as_json:
            print_json(
                {
                    "catalog_version": cat.version,
                    "protocols": [describe_protocol(p, cat) for p in cat.protocols.values()],
                }
            )
        else:
            print_lines(
                [f"Protocols (catalog {cat.version}):"]
                + [protocol_summary_line(p) for p in cat.protocols.values()]
            )
        return
    protocol = cat.protocol(condition)
    described = describe_protocol(protocol, cat)
    if as_json:
        print_json(described)
        return
    lines = [f"{protocol.key}: {protocol.title}", ""]
    for name, value in described.items():
        if name in {"key", "title", "sources"}:
            continue
        lines.append(f"  {name}: {value}")
    lines.append("")
    lines.append("  sources:")
    for name, citation in described["sources"].items():
        lines.append(f"    {name}: {citation}")
    print_lines(lines)
