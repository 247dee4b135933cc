"""Security headers on every response, pages and API alike.

* ``Content-Security-Policy``: scripts, styles, images and form targets only from this site,
  no inline script or style (the pages have none: behaviour is in ``/static/app.js``), no
  plug-ins, and no framing (``frame-ancestors 'none'``, with ``X-Frame-Options: DENY`` for
  older browsers): a page that holds patient data cannot be overlaid by another site;
* ``X-Content-Type-Options: nosniff``: a response is only what its type says;
* ``Referrer-Policy: no-referrer``: a patient's questionnaire link (its token is in the path)
  never leaves the browser in a ``Referer``;
* ``Cache-Control: no-store`` on everything but the static assets: pages and API answers carry
  patient data, which must not stay in a shared computer's cache or a proxy;
* ``Strict-Transport-Security`` when served with secure cookies (over TLS or behind a TLS
  proxy): browsers then refuse plain HTTP to this site for a year.

A plain ASGI middleware, not Starlette's ``BaseHTTPMiddleware``: it adds the headers as the
response starts and costs the API almost nothing per request.
"""

from __future__ import annotations

from starlette.types import ASGIApp, Message, Receive, Scope, Send

CONTENT_SECURITY_POLICY = (
    "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
    "object-src 'none'; base-uri 'none'; form-action 'self'; frame-ancestors 'none'"
)
HSTS = "max-age=31536000"
STATIC_PREFIX = "/static/"

_ALWAYS = [
    (b"content-security-policy", CONTENT_SECURITY_POLICY.encode()),
    (b"x-frame-options", b"DENY"),
    (b"x-content-type-options", b"nosniff"),
    (b"referrer-policy", b"no-referrer"),
]


class SecurityHeaders:
    """Adds the headers above to every HTTP response of ``app``."""

    def __init__(self, app: ASGIApp, *, hsts: bool) -> None:
        self.app = app
        self.headers = _ALWAYS + ([(b"strict-transport-security", HSTS.encode())] if hsts else [])

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        cacheable = str(scope.get("path", "")).startswith(STATIC_PREFIX)

        async def with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                headers = list(message.get("headers", ()))
                headers.extend(self.headers)
                if not cacheable:
                    headers = [(k, v) for k, v in headers if k.lower() != b"cache-control"]
                    headers.append((b"cache-control", b"no-store"))
                message["headers"] = headers
            await send(message)

        await self.app(scope, receive, with_headers)
