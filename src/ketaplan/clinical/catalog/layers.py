"""The catalog's files, and how a clinic's files are laid over them.

The default files ship inside the package. A clinic adds or overrides entries with files of its
own: tables are merged key by key (a clinic file may change one field of one protocol), arrays
are replaced. Which file set each value is kept, so that an error names the file to edit.
"""

from __future__ import annotations

import tomllib
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from ketaplan.errors import CatalogError

DEFAULT_DIR = Path(__file__).parent


DEFAULT_FILES = (
    "sources.toml",
    "protocols.toml",
    "screening.toml",
    "medications.toml",
    "dosing.toml",
    "clinic.toml",
)


Path_ = tuple[str, ...]


def merge_layer(
    base: dict[str, Any],
    extra: Mapping[str, Any],
    origin: str,
    at: Path_,
    origins: dict[Path_, str],
) -> None:
    """Lay ``extra`` (one file's tables, from ``origin``) over ``base`` in place.

    Tables merge key by key, so a clinic file can change one field of one protocol; any other
    value (arrays included) replaces the one below it. ``origins`` records which file set each
    path, so a validation error names the file to edit.
    """
    for key, value in extra.items():
        path = (*at, key)
        if isinstance(value, dict) and isinstance(base.get(key), dict):
            merge_layer(base[key], value, origin, path, origins)
        else:
            base[key] = value
            origins[path] = origin


def read_layer(path: Path, origins: dict[Path_, str], merged: dict[str, Any]) -> None:
    """Read one TOML file and lay it over ``merged`` (see :func:`merge_layer`)."""
    try:
        with path.open("rb") as handle:
            data = tomllib.load(handle)
    except FileNotFoundError:
        raise CatalogError(f"{path}: catalog file not found", fields={"file": str(path)}) from None
    except tomllib.TOMLDecodeError as exc:
        raise CatalogError(
            f"{path.name}: not valid TOML: {exc}", fields={"file": str(path)}
        ) from exc
    merge_layer(merged, data, path.name, (), origins)
