"""The console as a web page (``cluster-console serve``), served by textual-serve.

textual-serve starts one console process per browser connection and relays its terminal over
a websocket. It has no access control of its own, and the console it serves usually runs as
root with SSH access to a whole cluster, so this module puts a gate in front of it:

- Every request for the page, the websocket or a download must prove it knows the **token**:
  ``?token=`` on the first page load, which hands out a random session id in an ``HttpOnly``,
  ``SameSite=Strict`` cookie (never the token: browsers send a host's cookies to every port of
  it, and another local user may own one of those ports). Other local users can reach
  127.0.0.1 too: loopback is not a gate.
- The ``Host`` header must name this server (a DNS-rebinding page cannot borrow the cookie's
  host), and the websocket's ``Origin`` must be that same page, so a web page of another site
  open in the operator's browser cannot drive the console (cross-site websocket hijacking).
- Tokens are compared in constant time; aiohttp's access log, which would print the
  ``?token=`` request line, is off.

Binding to a non-loopback address is the CLI's decision (``--public``); this module only
enforces the token.
"""

from __future__ import annotations

import hmac
import ipaddress
import logging
import secrets
from typing import Any
from urllib.parse import urlsplit

from aiohttp import web
from rich.console import Console
from textual_serve.server import Server

COOKIE = "cluster_console_token"
MIN_TOKEN_CHARS = 16

log = logging.getLogger(__name__)


def is_loopback(host: str) -> bool:
    """``127.0.0.1``, ``::1``, ``localhost``: addresses only this machine can reach."""
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


def _same_token(given: str | None, token: str) -> bool:
    return given is not None and hmac.compare_digest(given.encode(), token.encode())


MAX_SESSIONS = 64
"""Browser sessions kept at once (the oldest is forgotten first)."""


class TokenServer(Server):
    """textual-serve's ``Server`` with a token gate, session cookies and Host/Origin checks
    (see module doc)."""

    def __init__(
        self, command: str, *, token: str, host: str, port: int, title: str, public_url: str | None = None
    ) -> None:
        if len(token) < MIN_TOKEN_CHARS:
            raise ValueError(f"token too short: give at least {MIN_TOKEN_CHARS} characters")
        super().__init__(command, host=host, port=port, title=title, public_url=public_url)
        self.token = token
        self.sessions: dict[str, None] = {}  # session ids handed out, oldest first
        self.console = Console(stderr=True)  # stdout is for data; the banner is a diagnostic
        page = urlsplit(self.public_url)
        self._scheme = page.scheme
        self._hosts = {page.netloc.lower()}
        if is_loopback(host):  # the same page under any loopback name (ssh -L keeps the port)
            self._hosts |= {f"{name}:{port}" for name in ("localhost", "127.0.0.1", "[::1]")}

    @property
    def page_url(self) -> str:
        """The address to open, token included (printed once, to the operator's terminal)."""
        return f"{self.public_url}/?token={self.token}"

    def initialize_logging(self) -> None:
        # Not textual-serve's root RichHandler: the console's own stderr handler already prints
        # this module's warnings (once), and textual-serve's errors reach stderr anyway.
        # aiohttp's access log would print every request line, `?token=...` included.
        logging.getLogger("aiohttp.access").disabled = True

    async def on_startup(self, app: web.Application) -> None:
        # textual-serve's banner names the address WITHOUT the token (a 403 when opened); the
        # address to open was printed by the CLI.
        self.console.print(
            f"cluster-console serve: serving {self.command!r}; Ctrl+C to stop", highlight=False, soft_wrap=True
        )

    def _new_session(self) -> str:
        session = secrets.token_urlsafe(32)
        self.sessions[session] = None
        while len(self.sessions) > MAX_SESSIONS:
            del self.sessions[next(iter(self.sessions))]
        return session

    def _authorised(self, request: web.Request) -> bool:
        session = request.cookies.get(COOKIE)
        return session is not None and session in self.sessions

    def _known_host(self, request: web.Request) -> bool:
        """The Host header names this server (defeats DNS rebinding onto 127.0.0.1)."""
        return request.host.lower() in self._hosts

    def _same_origin(self, request: web.Request) -> bool:
        origin = request.headers.get("Origin")
        if origin is None:  # not a browser (browsers always send Origin on websockets)
            return True
        return origin.lower() == f"{self._scheme}://{request.host.lower()}"

    def _gate(self, request: web.Request) -> None:
        if not self._known_host(request):
            log.warning("refused a request for host %r", request.host)
            raise web.HTTPMisdirectedRequest(text="unknown host\n")
        if not self._authorised(request):
            log.warning("refused %s %s from %s: no valid session", request.method, request.path, request.remote)
            raise web.HTTPForbidden(
                text="Cluster Console: open the address printed by "
                "`cluster-console serve` (it carries the access token).\n"
            )

    async def handle_index(self, request: web.Request) -> Any:
        if self._known_host(request) and _same_token(request.query.get("token"), self.token):
            # A fresh session id in the cookie, never the token itself (cookies are shared by
            # every port of a host); the redirect drops the token from the address bar.
            response = web.HTTPFound("/")
            response.set_cookie(
                COOKIE, self._new_session(), httponly=True, samesite="Strict", path="/", secure=self._scheme == "https"
            )
            raise response
        self._gate(request)
        return await super().handle_index(request)

    async def handle_websocket(self, request: web.Request) -> web.WebSocketResponse:
        self._gate(request)
        if not self._same_origin(request):
            log.warning("refused a websocket from origin %r", request.headers.get("Origin"))
            raise web.HTTPForbidden(text="cross-origin websocket refused\n")
        return await super().handle_websocket(request)

    async def handle_download(self, request: web.Request) -> web.StreamResponse:
        self._gate(request)
        return await super().handle_download(request)
