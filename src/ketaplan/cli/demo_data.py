"""``ketaplan demo-data``: a demo clinic with staff and synthetic patients (``make run``).

Safe to run again: once the demo clinic exists it says so and changes nothing. The generated
passwords are printed only when the accounts are created. All or nothing: a run that fails
half-way leaves the database as it was, and the next run starts afresh.

An entry point, so it may build what the server builds: the clinic is seeded through the same
context (:func:`ketaplan.app.build_context`) that ``ketaplan serve`` serves, catalog and all;
it is the one module besides the tests that imports the composition root
(``tests/unit/test_layers.py`` names it).
"""

from __future__ import annotations

from typing import Annotated

import typer


def demo_data(
    url: Annotated[
        str, typer.Option(help="Where the server will be, for the sign-in hint.")
    ] = "http://127.0.0.1:8000",
) -> None:
    """Create a demo clinic, its admin, a prescriber, a nurse and patients with history."""
    import os
    from datetime import datetime
    from zoneinfo import ZoneInfo

    from ketaplan.app import build_context
    from ketaplan.cli._output import print_lines
    from ketaplan.services.demo_clinic import DEMO_EMAILS, create_demo_clinic
    from ketaplan.settings import load_settings

    settings = load_settings(os.environ)
    context = build_context(settings.database_url, catalog_files=settings.catalog_files)
    try:
        today = datetime.now(ZoneInfo(context.catalog.clinic.time_zone)).date()
        made = create_demo_clinic(
            context.database,
            catalog=context.catalog,
            resolver=context.resolver,
            monitoring=context.monitoring,
            calendar=context.calendar,
            today=today,
        )
    finally:
        context.database.close()
    if made is None:
        print_lines(
            [
                f"The demo clinic is already set up (admin: {DEMO_EMAILS['admin']}); its "
                "passwords were shown when it was created.",
                f"Forgot one? `ketaplan user password --email {DEMO_EMAILS['admin']} "
                "--password-stdin`, then type a new passphrase and Enter.",
            ]
        )
        return
    width = max(len(email) for _, email, _ in made.credentials)
    print_lines(
        [
            f"Demo clinic set up: {len(made.patients)} synthetic patients "
            f"({', '.join(made.patients)}), {made.sessions_today} session(s) today.",
            f"Sign in at {url} (API: POST {url}/api/v1/auth/token) with these accounts.",
            "The passwords are shown this once; write them down:",
            *(
                f"  {role:<11} {email:<{width}}  {password}"
                for role, email, password in made.credentials
            ),
        ]
    )
