"""Refused requests in the audit trail: every 401, 403 and 429, on the API and the pages.

Each refusal becomes an ``access.refused`` audit event naming the route (its name and path
template, never the path as sent, which may hold a patient link's token, and never the query
string), the method, the status and the error code, how the request tried to sign in
(``bearer``, ``cookie`` or ``none``, never the token), where it came from, and the member of
staff when a valid sign-in was presented (a 403). The sign-in routes' own 401s and 429s are left
to the sign-in service, which audits every attempt itself (``auth.sign_in_failed``,
``auth.sign_in_refused``) without the text typed.

Recording a refusal is a write, and on SQLite every write takes the database's single write
turn: a flood of unauthenticated requests must not become a queue in front of a nurse's save.
So refusals are recorded the way reads record their audit, in a short write transaction of
their own after the response has gone, and at most :data:`RECORDED_PER_ORIGIN` a
:data:`WINDOW` from one address and :data:`RECORDED_IN_ALL` from all addresses together (per
server worker). Past that they are counted, not itemised: when the address's window has passed
the count is written as one ``access.refused_count`` event (how many, by status, first and
last), as it is at shutdown. One refusal write is in flight at a time per worker (refusals
meanwhile are counted), and after a write fails (the database busy or away) its refusals are
counted and the next write waits a window. Nothing refused goes unrecorded, and the writes a
flood causes stay a few a second and never hold more than one thread.
"""

from __future__ import annotations

import logging
import threading
from collections import Counter
from collections.abc import Iterable, Mapping, MutableMapping
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from fastapi.routing import iter_route_contexts
from sqlalchemy.exc import SQLAlchemyError
from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from ketaplan.errors import KetaplanError
from ketaplan.http.context import ServiceContext
from ketaplan.http.security import client_origin, presented_token
from ketaplan.services import Actor, Visitor
from ketaplan.services.audit_actions import AuditAction

log = logging.getLogger("ketaplan.api")

REFUSED_STATUSES = frozenset({401, 403, 429})
SELF_AUDITED = frozenset(
    (route, status) for route in ("sign_in_for_token", "web_sign_in") for status in (401, 429)
)
"""(route, status) pairs whose refusal the service behind the route has already audited."""

WINDOW = timedelta(minutes=1)
RECORDED_PER_ORIGIN = 20
"""Refusals itemised per address per window: enough for a clinic behind one address whose
sign-ins all expired at once, few enough that a flood from one address costs little."""
RECORDED_IN_ALL = 120
"""Refusals itemised per window from all addresses together (2 a second): the bound on the
writes a flood from many addresses can cause."""
MAX_ORIGINS = 10_000
"""Addresses tallied at once; refusals from further addresses share one tally."""
MANY_ORIGINS = "(many addresses)"


@dataclass(frozen=True, slots=True)
class Refusal:
    """One refused request, as the audit trail records it (nothing secret)."""

    status: int
    code: str | None
    method: str
    route: str
    path: str
    credential: str
    origin: str
    actor: Actor | None = None

    def details(self) -> dict[str, Any]:
        return {
            "status": self.status,
            "code": self.code,
            "method": self.method,
            "path": self.path,
            "credential": self.credential,
        }


@dataclass(slots=True)
class Tally:
    """Refusals from one address that were counted instead of itemised."""

    origin: str
    first_at: datetime
    last_at: datetime
    by_status: Counter[int] = field(default_factory=Counter)

    def count(self, status: int, at: datetime) -> None:
        self.by_status[status] += 1
        self.first_at, self.last_at = min(self.first_at, at), max(self.last_at, at)

    def merge(self, other: Tally) -> None:
        self.by_status.update(other.by_status)
        self.first_at = min(self.first_at, other.first_at)
        self.last_at = max(self.last_at, other.last_at)

    def details(self) -> dict[str, Any]:
        return {
            "count": sum(self.by_status.values()),
            "by_status": {str(status): n for status, n in sorted(self.by_status.items())},
            "first_at": self.first_at.isoformat(),
            "last_at": self.last_at.isoformat(),
        }


@dataclass(slots=True)
class _Window:
    started_at: datetime
    recorded: int = 0
    counted: Tally | None = None


class RefusalRecorder:
    """Decides which refusals are itemised and which are counted (see the module docstring),
    and writes them. Shared by the requests of one server worker.

    One write at a time: while one is in flight, further refusals are counted, so refusals
    never hold more than one worker thread, however busy the database. After a write fails
    (the database busy past its lock timeout, or away), the next waits :data:`WINDOW`."""

    def __init__(self, context: ServiceContext) -> None:
        self.context = context
        self.clock = context.clock
        self._lock = threading.Lock()
        # Not the clock's time: the app is built before its first request, and a clock that
        # fails must fail a request (a 500), not the server's start. The first refusal finds
        # this window long over and starts a new one.
        self._all = _Window(datetime.min.replace(tzinfo=UTC))
        self._origins: dict[str, _Window] = {}
        self._due: dict[str, Tally] = {}
        self._counting = 0  # windows holding counted refusals
        self._writing = False
        self._paused_until = self._all.started_at

    @property
    def holding(self) -> bool:
        """Whether any refusal is counted and not yet written: without one (no flood, the
        usual day), a request needs no look at the windows at all."""
        return self._counting > 0 or bool(self._due)

    def take(self, refusal: Refusal | None) -> tuple[list[Refusal], list[Tally]] | None:
        """After a request: what to write now (the refusal itemised, and the counts whose
        window has passed), taking the write turn; None when there is nothing to write, the
        refusal (if any) counted instead."""
        if refusal is None and not self.holding:
            return None
        with self._lock:
            now = self.clock()
            self._roll(now)
            free = not self._writing and now >= self._paused_until
            itemised = []
            if refusal is not None:
                window = self._window(refusal.origin, now)
                if free and self._within_limits(window):
                    itemised.append(refusal)
                else:
                    self._count(window, refusal, now)
            tallies = self._drain() if free else []
            if not itemised and not tallies:
                return None
            self._writing = True
            return itemised, tallies

    def take_all(self) -> list[Tally]:
        """Every count not yet written, whatever its window (at shutdown)."""
        with self._lock:
            if not self.holding:  # the usual shutdown: nothing counted, no need of the clock
                return []
            self._roll(self.clock(), everything=True)
            return self._drain()

    def write(self, refusals: Iterable[Refusal], tallies: Iterable[Tally]) -> None:
        """Write refusals and counts in one short transaction and give the write turn back; if
        the database cannot take it, count them again (never an error for the request)."""
        refusals, tallies = list(refusals), list(tallies)
        try:
            uow = self.context.unit_of_work()
            with uow:
                for refusal in refusals:
                    who = refusal.actor or Visitor(refusal.origin)
                    uow.audit(
                        who,
                        AuditAction.ACCESS_REFUSED,
                        "route",
                        refusal.route,
                        details=refusal.details(),
                    )
                for tally in tallies:
                    uow.audit(
                        Visitor(tally.origin),
                        AuditAction.ACCESS_REFUSED_COUNT,
                        "origin",
                        tally.origin,
                        details=tally.details(),
                    )
                uow.commit()
        except SQLAlchemyError as error:
            log.warning(
                "could not record %d refused request(s) in the audit trail (%s); counted, "
                "written later",
                len(refusals) + sum(sum(t.by_status.values()) for t in tallies),
                type(error).__name__,
            )
            self._count_again(refusals, tallies)
        finally:
            self._writing = False

    def _within_limits(self, window: _Window) -> bool:
        if window.recorded >= RECORDED_PER_ORIGIN or self._all.recorded >= RECORDED_IN_ALL:
            return False
        window.recorded += 1
        self._all.recorded += 1
        return True

    def _count(self, window: _Window, refusal: Refusal, now: datetime) -> None:
        if window.counted is None:
            window.counted = Tally(refusal.origin, now, now)
            self._counting += 1
        window.counted.count(refusal.status, now)

    def _drain(self) -> list[Tally]:
        due, self._due = list(self._due.values()), {}
        return due

    def _count_again(self, refusals: list[Refusal], tallies: list[Tally]) -> None:
        now = self.clock()
        with self._lock:
            self._paused_until = now + WINDOW
            for refusal in refusals:
                self._due_tally(refusal.origin, now).count(refusal.status, now)
            for tally in tallies:
                self._due_tally(tally.origin, tally.first_at).merge(tally)

    def _due_tally(self, origin: str, at: datetime) -> Tally:
        if origin not in self._due and len(self._due) >= MAX_ORIGINS:
            origin = MANY_ORIGINS
        return self._due.setdefault(origin, Tally(origin, at, at))

    def _window(self, origin: str, now: datetime) -> _Window:
        if origin not in self._origins and len(self._origins) >= MAX_ORIGINS:
            origin = MANY_ORIGINS
        window = self._origins.get(origin)
        if window is None or now - window.started_at >= WINDOW:
            if window is not None:
                self._close(window)
            window = self._origins[origin] = _Window(now)
        return window

    def _close(self, window: _Window) -> None:
        if window.counted is not None:
            counted = window.counted
            self._due_tally(counted.origin, counted.first_at).merge(counted)
            window.counted = None
            self._counting -= 1

    def _roll(self, now: datetime, *, everything: bool = False) -> None:
        """Start a new window for all addresses once a window has passed, closing the
        addresses' windows that have passed too (or all of them)."""
        if not everything and now - self._all.started_at < WINDOW:
            return
        self._all = _Window(now)
        for origin, window in list(self._origins.items()):
            if everything or now - window.started_at >= WINDOW:
                self._close(window)
                del self._origins[origin]


def mark_refused(request: Request, error: KetaplanError) -> None:
    """Note on the request that it was refused, with the error's status and code: a page's
    401 becomes a redirect to the sign-in page, and the recorder should still see a 401."""
    if error.http_status in REFUSED_STATUSES:
        request.state.refused = (error.http_status, error.code)


def route_paths(app: object) -> dict[str, str]:
    """Each route's name and its full path template (``/api/v1/patients/{patient_id}``)."""
    routes = getattr(app, "routes", [])
    return {str(route.name): str(route.path) for route in iter_route_contexts(routes)}


def refusal_of(scope: Scope, response_status: int, paths: Mapping[str, str]) -> Refusal | None:
    """The refusal a finished request was, if it was one (see :data:`SELF_AUDITED`);
    ``paths`` are the routes' templates by name (:func:`route_paths`)."""
    state: MutableMapping[str, Any] = scope.get("state") or {}
    marked = state.get("refused")
    if marked is not None:
        status, code = marked
    elif response_status in REFUSED_STATUSES:
        status, code = response_status, None
    else:
        return None
    route = scope.get("route")
    name = str(getattr(route, "name", None) or "unmatched")
    if (name, status) in SELF_AUDITED:
        return None
    request = Request(scope)
    presented = presented_token(request)
    actor = state.get("actor") or state.get("token_owner")
    return Refusal(
        status=status,
        code=code,
        method=request.method[:16],
        route=name,
        path=paths.get(name, ""),
        credential=presented[1] if presented else "none",
        origin=client_origin(request),
        actor=actor if isinstance(actor, Actor) else None,
    )


class RecordRefusals:
    """ASGI middleware: after each response, record it if it was a refusal (see the module
    docstring); at shutdown, write what is still counted."""

    def __init__(self, app: ASGIApp, recorder: RefusalRecorder) -> None:
        self.app = app
        self.recorder = recorder
        self._paths: dict[str, str] | None = None

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "lifespan":
            await self.app(scope, self._flushing_at_shutdown(receive), send)
            return
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        status = 0

        async def sending(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
            await send(message)

        await self.app(scope, receive, sending)
        if self._paths is None:
            self._paths = route_paths(scope.get("app"))
        batch = self.recorder.take(refusal_of(scope, status, self._paths))
        if batch is not None:
            await run_in_threadpool(self.recorder.write, *batch)

    def _flushing_at_shutdown(self, receive: Receive) -> Receive:
        async def receiving() -> Message:
            message = await receive()
            if message["type"] == "lifespan.shutdown":
                tallies = self.recorder.take_all()
                if tallies:
                    await run_in_threadpool(self.recorder.write, [], tallies)
            return message

        return receiving
