"""Parameters shared by routes."""

from __future__ import annotations

from typing import Annotated

from fastapi import Path

MAX_RECORD_ID = 2**31 - 1
"""Record ids are 32-bit integers in both databases; a larger id is a 422, not a database error."""

RecordId = Annotated[int, Path(ge=1, le=MAX_RECORD_ID, description="A record's id.")]
