"""The access log without secrets or patient data: no link tokens, no query strings.

uvicorn logs every request line. A patient's questionnaire link carries its token in the path
(``/q/<token>``, ``/api/v1/links/<token>``): whoever reads the log could answer as the patient.
Query strings carry what staff typed, such as a patient's name in a search. :func:`redacted`
keeps the route and drops both; :class:`RedactSecrets` applies it to every access-log record,
installed on uvicorn's access handler by :func:`log_config` (``ketaplan serve``), so each worker
process logs the same way.

A module of its own outside :mod:`ketaplan.api`, importing nothing heavy: a worker process
imports it to set up logging before it answers the supervisor's first health check, and
importing the whole app there made workers miss that check and be killed at start-up.
"""

from __future__ import annotations

import copy
import logging
import re
from typing import Any

TOKEN_IN_PATH = re.compile(r"^(/q/|/api/v1/links/)[^/]+")
TOKEN_SHOWN = "[token]"
QUERY_SHOWN = "?[query]"


def redacted(target: str) -> str:
    """A request target as it may be logged: ``/q/abc…?x=1`` → ``/q/[token]?[query]``."""
    path, has_query, _ = target.partition("?")
    path = TOKEN_IN_PATH.sub(rf"\g<1>{TOKEN_SHOWN}", path)
    return path + (QUERY_SHOWN if has_query else "")


class RedactSecrets(logging.Filter):
    """Rewrites the path of uvicorn's access-log records (client, method, path, version,
    status) with :func:`redacted`; other records pass unchanged."""

    def filter(self, record: logging.LogRecord) -> bool:
        if isinstance(record.args, tuple) and len(record.args) == 5:
            client, method, target, version, status = record.args
            record.args = (client, method, redacted(str(target)), version, status)
        return True


def log_config() -> dict[str, Any]:
    """uvicorn's own logging configuration, with :class:`RedactSecrets` on the access log."""
    from uvicorn.config import LOGGING_CONFIG

    config = copy.deepcopy(LOGGING_CONFIG)
    config.setdefault("filters", {})["redact_secrets"] = {"()": RedactSecrets}
    config["handlers"]["access"]["filters"] = ["redact_secrets"]
    return config
