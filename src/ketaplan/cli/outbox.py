"""``ketaplan outbox send``: deliver the e-mails waiting in the outbox (questionnaire links,
appointment reminders), once; run it every minute from cron or a systemd timer.

Why a command and not a task inside the server: the web app runs as several stateless workers
(and, on PostgreSQL, on several machines); a sender in each would race for the same messages and
tie SMTP time to request serving. One short command per minute is simple to watch (its exit code
and output), to stop, and to test, and the outbox's claim (:mod:`ketaplan.services.outbox`) keeps
two overlapping runs from sending a message twice. Each run first queues tomorrow's appointment
reminders (:mod:`ketaplan.services.reminders`), then sends what is due, retrying failures with
backoff. The mail server comes from the environment: ``KETAPLAN_SMTP_HOST``, ``_PORT``,
``_USER``, ``_PASSWORD``, ``_FROM``, ``_STARTTLS`` (:mod:`ketaplan.settings`).
"""

from __future__ import annotations

from typing import Annotated

import typer

app = typer.Typer(
    help="E-mails to patients: questionnaire links and appointment reminders.",
    no_args_is_help=True,
    add_completion=False,
    rich_markup_mode=None,
)


@app.command("send")
def send(
    reminders: Annotated[
        bool,
        typer.Option(
            "--reminders/--no-reminders",
            help="Queue reminders of tomorrow's bookings before sending (default: yes).",
        ),
    ] = True,
    limit: Annotated[
        int, typer.Option("--limit", min=1, max=1000, help="Messages sent at most in this run.")
    ] = 50,
    as_json: Annotated[bool, typer.Option("--json", help="Machine-readable output.")] = False,
) -> None:
    """Queue tomorrow's reminders, then send every message due; exit 1 if any failed for good."""
    import os

    from ketaplan.cli._output import print_json, print_lines
    from ketaplan.errors import InputError
    from ketaplan.mail import SmtpMailer
    from ketaplan.services.maintenance import operator_unit_of_work
    from ketaplan.services.outbox import send_due_messages
    from ketaplan.services.reminders import queue_appointment_reminders
    from ketaplan.settings import SMTP_HOST_VARIABLE, load_settings

    settings = load_settings(os.environ)
    if settings.smtp is None:
        raise InputError(
            f"no mail server: set {SMTP_HOST_VARIABLE} (and KETAPLAN_SMTP_FROM, and the port, "
            "user and password your server needs) before sending",
            code="input.missing",
            fields={"field": SMTP_HOST_VARIABLE},
        )
    with operator_unit_of_work(settings.database_url) as uow:
        queued = queue_appointment_reminders(uow) if reminders else 0
        report = send_due_messages(uow, SmtpMailer(settings.smtp), limit=limit)
    if as_json:
        print_json(
            {
                "reminders_queued": queued,
                "sent": report.sent,
                "retrying": report.retrying,
                "failed": report.failed,
            }
        )
    else:
        print_lines(
            [
                f"reminders queued: {queued}",
                f"sent: {report.sent}; to retry: {report.retrying}; failed for good: "
                f"{report.failed}",
            ]
        )
    if report.failed:
        raise typer.Exit(1)
