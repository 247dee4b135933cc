"""Shared output helpers for CLI commands."""

from __future__ import annotations

import json
import sys
from typing import Any


def print_json(data: Any) -> None:
    """Print one JSON document on stdout (stable key order as built, UTF-8)."""
    sys.stdout.write(json.dumps(data, indent=2, ensure_ascii=False) + "\n")


def print_lines(lines: list[str]) -> None:
    sys.stdout.write("\n".join(lines) + "\n")
