from __future__ import annotations

import pytest

from ketaplan.errors import InputError
from ketaplan.settings import DEFAULT_DATABASE_URL, load_settings


def test_without_a_database_url_the_embedded_sqlite_file_is_used() -> None:
    assert load_settings({}).database_url == DEFAULT_DATABASE_URL
    assert load_settings({"KETAPLAN_DATABASE_URL": "  "}).database_url == DEFAULT_DATABASE_URL


@pytest.mark.parametrize(
    ("given", "used"),
    [
        ("sqlite:////var/lib/ketaplan/clinic.db", "sqlite:////var/lib/ketaplan/clinic.db"),
        ("postgresql+psycopg://k@db:5432/kp", "postgresql+psycopg://k@db:5432/kp"),
        ("postgresql://k@db/kp", "postgresql+psycopg://k@db/kp"),
        ("postgres://k@db/kp", "postgresql+psycopg://k@db/kp"),
    ],
)
def test_database_urls_are_taken_with_psycopg_for_postgresql(given: str, used: str) -> None:
    assert load_settings({"KETAPLAN_DATABASE_URL": given}).database_url == used


def test_an_unusable_database_url_is_refused_without_showing_the_password() -> None:
    with pytest.raises(InputError, match="not a database ketaplan can use") as caught:
        load_settings({"KETAPLAN_DATABASE_URL": "mysql://root:secret@db/kp"})
    assert "secret" not in caught.value.message
