"""Values derived from catalog objects, worked out once instead of on every plan.

Text a plan shows for a protocol, a modifier or a syringe in stock depends only on the catalog,
which never changes once loaded; rendering it again for every plan is most of what a plan
costs. Catalog objects hold mappings, so they cannot be hashed or put in an ``lru_cache``:
they are remembered by identity instead. An entry keeps its objects alive, so no other object
can take their ids while it exists; a protocol changed with ``replace`` is a new object and
gets its own entry.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TypeVar

A = TypeVar("A")
B = TypeVar("B")
T = TypeVar("T")

MAX_ENTRIES = 64
"""Entries kept per memo; a handful of catalogs and their protocols fit many times over."""


def remembered_per_object(build: Callable[[A, B], T]) -> Callable[[A, B], T]:
    """``build(a, b)``, worked out once for each pair of objects (by identity).

    ``a`` and ``b`` must be immutable, as catalog objects are.
    """
    memo: dict[tuple[int, int], tuple[A, B, T]] = {}

    def lookup(a: A, b: B) -> T:
        key = (id(a), id(b))
        known = memo.get(key)
        if known is None:
            if len(memo) >= MAX_ENTRIES:
                memo.clear()
            known = memo[key] = (a, b, build(a, b))
        return known[2]

    lookup.__doc__ = build.__doc__
    return lookup
