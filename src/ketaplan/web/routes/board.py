"""The chair board: today's chairs on a wall screen or a tablet. The page holds the board once;
``/board/lines`` is the same board as an HTML fragment, which ``board.js`` fetches every few
seconds and swaps in (no inline script, so the content security policy holds). Without
JavaScript the page refreshes itself by a link."""

from __future__ import annotations

from zoneinfo import ZoneInfo

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse
from starlette.responses import Response

from ketaplan.http.context import services
from ketaplan.http.security import SignedIn
from ketaplan.services import Actor
from ketaplan.services.chair_board import ChairBoard
from ketaplan.web.rendering import call, render

router = APIRouter()

REFRESH_SECONDS = 5


async def _board(request: Request, actor: Actor) -> ChairBoard:
    context = services(request)
    return await call(
        context.bookings.board, actor=actor, zone=ZoneInfo(context.calendar.time_zone)
    )


@router.get("/board", name="web_chair_board", response_class=HTMLResponse)
async def board_page(actor: SignedIn, request: Request) -> Response:
    board = await _board(request, actor)
    return render(request, "board.html", {"board": board, "refresh_s": REFRESH_SECONDS})


@router.get("/board/lines", name="web_chair_board_lines", response_class=HTMLResponse)
async def board_lines(actor: SignedIn, request: Request) -> Response:
    board = await _board(request, actor)
    return render(
        request,
        "board_lines.html",
        {"board": board},
        headers={"Cache-Control": "no-store"},
    )
