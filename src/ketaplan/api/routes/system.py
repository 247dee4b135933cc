"""Health (for load balancers and `make run`'s wait) and the OpenAPI schema (signed-in staff)."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Request
from pydantic import BaseModel
from starlette.concurrency import run_in_threadpool

from ketaplan.http.context import services
from ketaplan.services.maintenance import check_reachable

router = APIRouter(tags=["system"])


class Health(BaseModel):
    status: str
    database: str


@router.get("/health", name="health")
async def health(request: Request) -> Health:
    """Whether the service can reach its database (no sign-in, no patient data)."""
    await run_in_threadpool(check_reachable, services(request).database)
    return Health(status="ok", database="ok")


@router.get("/openapi.json", name="openapi", include_in_schema=False)
async def openapi(request: Request) -> dict[str, Any]:
    """The OpenAPI schema of this API (to signed-in staff: it is a map of the records)."""
    schema: dict[str, Any] = request.app.openapi()
    return schema
