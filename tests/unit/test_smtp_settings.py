"""The mail server's settings from the environment (``KETAPLAN_SMTP_*``)."""

from __future__ import annotations

import pytest

from ketaplan.errors import InputError
from ketaplan.settings import load_settings

BASE = {"KETAPLAN_SMTP_HOST": "mail.clinic.example", "KETAPLAN_SMTP_FROM": "clinic@clinic.example"}


def test_no_host_means_no_mail_server() -> None:
    assert load_settings({}).smtp is None


def test_the_smtp_settings_are_read_with_starttls_on_by_default_and_the_password_hidden() -> None:
    smtp = load_settings(
        {
            **BASE,
            "KETAPLAN_SMTP_PORT": "2525",
            "KETAPLAN_SMTP_USER": "u",
            "KETAPLAN_SMTP_PASSWORD": "s3cret",
        }
    ).smtp
    assert smtp is not None
    assert (smtp.host, smtp.port, smtp.user, smtp.password, smtp.starttls) == (
        "mail.clinic.example",
        2525,
        "u",
        "s3cret",
        True,
    )
    assert "s3cret" not in repr(smtp)
    assert load_settings({**BASE, "KETAPLAN_SMTP_STARTTLS": "no"}).smtp.starttls is False  # type: ignore[union-attr]


@pytest.mark.parametrize(
    ("extra", "named"),
    [
        ({"KETAPLAN_SMTP_PORT": "70000"}, "KETAPLAN_SMTP_PORT"),
        ({"KETAPLAN_SMTP_FROM": "not an address"}, "KETAPLAN_SMTP_FROM"),
        ({"KETAPLAN_SMTP_STARTTLS": "maybe"}, "KETAPLAN_SMTP_STARTTLS"),
    ],
)
def test_a_wrong_smtp_setting_is_refused_naming_the_variable(
    extra: dict[str, str], named: str
) -> None:
    with pytest.raises(InputError) as refused:
        load_settings({**BASE, **extra})
    assert refused.value.fields["field"] == named


def test_the_sender_without_a_mail_server_says_which_variable_to_set(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    from ketaplan.cli import main

    monkeypatch.delenv("KETAPLAN_SMTP_HOST", raising=False)
    assert main(["outbox", "send"]) == 2
    assert "KETAPLAN_SMTP_HOST" in capsys.readouterr().err
