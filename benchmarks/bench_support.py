"""What several benchmarks share: a PostgreSQL schema of their own, signing in through the web
form (with its CSRF token), and a failed `audit verify` told in a few lines.

Imported as a sibling module (``python benchmarks/x.py`` puts benchmarks/ first on the path).
"""

from __future__ import annotations

import re
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from typing import TYPE_CHECKING

from sqlalchemy import create_engine, text
from sqlalchemy.engine import make_url
from sqlalchemy.pool import NullPool

if TYPE_CHECKING:
    from fastapi.testclient import TestClient

    from ketaplan.store.audit import ChainVerification

PROBLEMS_SHOWN = 5
"""How many record problems a failed verification prints (their count is always printed)."""


@contextmanager
def postgres_schema(base: str, prefix: str = "ketaplan_bench") -> Iterator[str]:
    """A URL of ``base`` that works in a fresh schema of its own, dropped afterwards (also
    when the benchmark fails), so a run leaves the database as it found it."""
    schema = f"{prefix}_{uuid.uuid4().hex[:12]}"
    admin = create_engine(base, poolclass=NullPool)
    try:
        with admin.begin() as connection:
            connection.execute(text(f'CREATE SCHEMA "{schema}"'))
        try:
            url = make_url(base).update_query_dict({"options": f"-csearch_path={schema}"})
            yield url.render_as_string(hide_password=False)
        finally:
            with admin.begin() as connection:
                connection.execute(text(f'DROP SCHEMA "{schema}" CASCADE'))
    finally:
        admin.dispose()


def form_sign_in(client: TestClient, email: str, password: str, next_path: str = "/") -> None:
    """Sign in through the web form as a browser does: the form's CSRF token sent back."""
    form = re.search(r'name="csrf_token" value="([^"]+)"', client.get("/sign-in").text)
    if form is None:
        raise SystemExit("sign-in failed: the sign-in form has no csrf_token field")
    answer = client.post(
        "/sign-in",
        data={
            "email": email,
            "password": password,
            "next": next_path,
            "csrf_token": form.group(1),
        },
        follow_redirects=False,
    )
    if answer.status_code != 303:
        raise SystemExit(f"sign-in failed: {answer.status_code} {answer.text[:300]}")


def verification_failure(what: str, verification: ChainVerification) -> str:
    """A failed verification in a few lines: the chain's break, the number of records no event
    accounts for and the first PROBLEMS_SHOWN of them (the whole list can run to millions of
    characters on a generated clinic)."""
    lines = [f"{what}: {verification.checked:,} events walked"]
    if verification.broken is not None:
        broken = verification.broken
        lines.append(f"  chain broken at event {broken.seq}: {broken.reason}")
    problems = verification.records
    if problems:
        lines.append(f"  {len(problems):,} records not accounted for; the first:")
        lines += [f"  - {problem.reason}" for problem in problems[:PROBLEMS_SHOWN]]
    return "\n".join(lines)
