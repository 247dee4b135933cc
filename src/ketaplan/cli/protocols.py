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
    check_seeds: Annotated[
        Path | None,
        typer.Option(
            "--check-seeds",
            help="Check that every quote citing a seed occurs word for word in the seed files "
            "in this folder (exit 1 naming each one that does not).",
        ),
    ] = None,
) -> None:
    """List the protocols, or show one with every number, its source and the words that hold
    it, and the options wherever the sources disagree."""
    from ketaplan.cli._output import print_json, print_lines
    from ketaplan.clinical.catalog import load_catalog
    from ketaplan.clinical.catalog.citations import catalog_quotes, seed_quote_problems
    from ketaplan.clinical.protocols import choice_lines, describe_protocol, protocol_summary_line

    cat = load_catalog(tuple(catalog or ()))
    if check_seeds is not None:
        quotes = catalog_quotes(cat)
        problems = seed_quote_problems(quotes, cat.sources, check_seeds)
        if problems:
            print_lines(problems)
            raise typer.Exit(code=1)
        seeds = sum(1 for _, key, _ in quotes if key.startswith("seed_"))
        print_lines([f"{seeds} seed quotes found word for word in {check_seeds}"])
        return
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
        if name in {"key", "title", "sources", "choices", "cautions"}:
            continue
        lines.append(f"  {name}: {value}")
    if protocol.cautions:
        lines += ["", "  cautions in every plan:"]
        lines += [
            f"    {c['code']} ({c['severity']}): {c['message']}" for c in described["cautions"]
        ]
    if protocol.choices:
        lines += [
            "",
            "  where the sources disagree (* in force; a clinic file sets choose.<aspect>):",
        ]
        lines += choice_lines(protocol, cat)
    lines.append("")
    lines.append("  sources:")
    for name, citation in described["sources"].items():
        lines.append(f"    {name}: {citation}")
    print_lines(lines)
