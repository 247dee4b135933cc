"""Health (for load balancers and `make run`'s wait) and the OpenAPI schema (signed-in staff)."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Request
from pydantic import BaseModel
from sqlalchemy import text
from sqlalchemy.exc import SQLAlchemyError
from starlette.concurrency import run_in_threadpool

from ketaplan.api.context import services
from ketaplan.store import unavailable

router = APIRouter(tags=["system"])


class Health(BaseModel):
    status: str
    database: str


@router.get("/health", name="health")
async def health(request: Request) -> Health:
    """Whether the service can reach its database (no sign-in, no patient data)."""
    database = services(request).database

    def ping() -> None:
        with database.engine.connect() as connection:
            connection.execute(text("SELECT 1"))

    try:
        await run_in_threadpool(ping)
    except SQLAlchemyError as exc:
        raise unavailable(database.engine, exc) from exc
    return Health(status="ok", database="ok")


@router.get("/openapi.json", name="openapi", include_in_schema=False)
async def openapi(request: Request) -> dict[str, Any]:
    """The OpenAPI schema of this API (to signed-in staff: it is a map of the records)."""
    schema: dict[str, Any] = request.app.openapi()
    return schema
