"""The drug dictionary: brand and generic names resolved offline.

Backed by the `drug-named-entity-recognition` package (Fast Data Science, MIT licence), which
ships a dictionary of about 107,000 drug-name variants (brand names, generics, synonyms)
mapped to 20,000 canonical drugs, built from DrugBank, MeSH, Wikipedia and the NHS. Importing
that package costs about 3 seconds and 370 MB, because it builds an n-gram index for fuzzy
matching that ketaplan does not use (a fuzzy match on a medication list is a safety risk).

So ketaplan reads the package's own data file once, writes the variant → canonical table into a
small SQLite index in the user's cache directory (rebuilt when the data file or the index
format changes), and answers each lookup with one indexed query: about 10 µs, no start-up cost.
Names are stored as :func:`~ketaplan.clinical.medications.name_key` writes them, so "Allegra-D"
and "allegra d" are one key.
"""

from __future__ import annotations

import bz2
import contextlib
import difflib
import importlib.util
import os
import pickle
import sqlite3
import threading
from pathlib import Path

from ketaplan.clinical.medications import name_key
from ketaplan.errors import KetaplanError

PACKAGE = "drug_named_entity_recognition"
DATA_FILE = "drug_ner_dictionary.pkl.bz2"
INDEX_FORMAT = "v2"
"""Changes when the index's keys change (v2: names normalised by ``name_key``)."""


def default_cache_dir() -> Path:
    """``$KETAPLAN_CACHE_DIR``, else ``$XDG_CACHE_HOME/ketaplan``, else ``~/.cache/ketaplan``."""
    explicit = os.environ.get("KETAPLAN_CACHE_DIR")
    if explicit:
        return Path(explicit)
    base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(base) / "ketaplan"


def _source_file() -> Path:
    spec = importlib.util.find_spec(PACKAGE)
    if spec is None or not spec.submodule_search_locations:
        raise KetaplanError(
            "the drug dictionary package drug-named-entity-recognition is not installed; "
            "run 'make run' or 'pip install -e .' to install ketaplan's dependencies",
            code="drug_dictionary.missing",
        )
    return Path(next(iter(spec.submodule_search_locations))) / DATA_FILE


def build_index(index_path: Path) -> None:
    """Write the SQLite index of the dictionary's variants, atomically."""
    with bz2.open(_source_file(), "rb") as handle:
        # The package's own data file, installed from PyPI with it; a pinned version.
        data = pickle.load(handle)
    try:
        variants: dict[str, list[str]] = data["drug_variant_to_canonical"]
    except (KeyError, TypeError) as exc:
        raise KetaplanError(
            f"the drug dictionary's data file has an unexpected layout ({exc}); the pinned "
            "version of drug-named-entity-recognition is the one ketaplan reads",
            code="drug_dictionary.unreadable",
        ) from exc
    # Keys are normalised as typed entries are ("allegra-d" → "allegra d"), so that a name
    # is found whichever punctuation the nurse used; variants that normalise alike are merged.
    by_key: dict[str, list[str]] = {}
    for name, canonicals in variants.items():
        merged = by_key.setdefault(name_key(name), [])
        merged.extend(c for c in canonicals if c not in merged)
    index_path.parent.mkdir(parents=True, exist_ok=True)
    partial = index_path.with_suffix(f".{os.getpid()}.partial")
    with contextlib.closing(sqlite3.connect(partial)) as db:
        db.execute(
            "CREATE TABLE variant (name TEXT PRIMARY KEY, canonical TEXT NOT NULL) WITHOUT ROWID"
        )
        db.executemany(
            "INSERT INTO variant VALUES (?, ?)",
            (
                (key, "\t".join(canonicals))
                for key, canonicals in by_key.items()
                if key and canonicals
            ),
        )
        db.commit()
    os.replace(partial, index_path)


class DnerDrugDictionary:
    """The :class:`~ketaplan.clinical.medications.DrugDictionary` the application uses."""

    def __init__(self, cache_dir: Path | None = None) -> None:
        # Keyed by the data file's size and time, so an upgraded package rebuilds the index;
        # reading the package version through importlib.metadata would cost 25 ms at start-up.
        source = _source_file().stat()
        key = f"{source.st_size}-{source.st_mtime_ns}"
        self.index_path = (
            cache_dir or default_cache_dir()
        ) / f"drug-dictionary-{INDEX_FORMAT}-{key}.sqlite3"
        self._local = threading.local()

    def _db(self) -> sqlite3.Connection:
        db: sqlite3.Connection | None = getattr(self._local, "db", None)
        if db is None:
            if not self.index_path.exists():
                build_index(self.index_path)
            db = sqlite3.connect(
                f"file:{self.index_path}?mode=ro", uri=True, check_same_thread=False
            )
            self._local.db = db
        return db

    def lookup(self, name: str) -> tuple[str, ...] | None:
        row = self._db().execute("SELECT canonical FROM variant WHERE name = ?", (name,)).fetchone()
        return tuple(row[0].split("\t")) if row else None

    def suggestions(self, name: str) -> list[str]:
        if len(name) < 3:
            return []
        prefix = name[:2]
        rows = (
            self._db()
            .execute(
                "SELECT name FROM variant WHERE name >= ? AND name < ? LIMIT 5000",
                (prefix, prefix + "\uffff"),
            )
            .fetchall()
        )
        return difflib.get_close_matches(name, [r[0] for r in rows], n=3, cutoff=0.75)
