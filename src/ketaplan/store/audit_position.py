"""Where ``ketaplan audit verify`` keeps the last position it verified, per database.

An incremental check starts there (:func:`ketaplan.store.audit.verify_audit_chain`), so its cost
is the events written since, not the whole trail. The position is kept outside the database,
because a check never modifies what it checks, in the state directory of whoever runs it:
``$KETAPLAN_STATE_DIR``, else ``$XDG_STATE_HOME/ketaplan``, else ``~/.local/state/ketaplan``,
as ``audit-verified.json`` (mode 0600), keyed by the database's URL with any password hidden.

Losing the file costs one full walk, never a missed break: without a position the check walks
from the first event. A position that no longer matches the trail (rows cut or rewritten from
there, or another database at the same address) is reported as a break, not skipped.
"""

from __future__ import annotations

import contextlib
import json
import os
from datetime import datetime
from pathlib import Path

from ketaplan.store.audit import VerifiedPosition

FILE_NAME = "audit-verified.json"


def state_dir() -> Path:
    explicit = os.environ.get("KETAPLAN_STATE_DIR")
    if explicit:
        return Path(explicit)
    base = os.environ.get("XDG_STATE_HOME") or str(Path.home() / ".local" / "state")
    return Path(base) / "ketaplan"


def _read(path: Path) -> dict[str, dict[str, object]]:
    try:
        stored = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return {}  # none yet, or unreadable: the next check walks the whole trail
    return stored if isinstance(stored, dict) else {}


def load_position(
    database: str, directory: Path | None = None
) -> tuple[VerifiedPosition, str] | None:
    """The last position verified for ``database`` and when, or None."""
    entry = _read((directory or state_dir()) / FILE_NAME).get(database)
    if not isinstance(entry, dict):
        return None
    seq, hash_, at = entry.get("seq"), entry.get("hash"), entry.get("verified_at")
    if not (isinstance(seq, int) and seq > 0 and isinstance(hash_, str) and isinstance(at, str)):
        return None
    return VerifiedPosition(seq, hash_), at


def save_position(
    database: str, position: VerifiedPosition, verified_at: datetime, directory: Path | None = None
) -> None:
    """Record ``position`` for ``database``, atomically, readable by its owner only."""
    folder = directory or state_dir()
    folder.mkdir(parents=True, exist_ok=True, mode=0o700)
    path = folder / FILE_NAME
    stored = _read(path)
    stored[database] = {
        "seq": position.seq,
        "hash": position.hash,
        "verified_at": verified_at.isoformat(timespec="seconds"),
    }
    partial = path.with_name(f".{FILE_NAME}.{os.getpid()}.partial")
    descriptor = os.open(partial, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    try:
        with os.fdopen(descriptor, "w", encoding="utf-8") as handle:
            json.dump(stored, handle, indent=1, sort_keys=True)
        os.replace(partial, path)
    finally:
        with contextlib.suppress(FileNotFoundError):
            partial.unlink()
