"""The console as a web page (``cluster-console serve``), served by textual-serve.

textual-serve starts one console process per browser connection and relays its terminal over
a websocket. It has no access control of its own, and the console it serves usually runs as
root with SSH access to a whole cluster, so this module puts a gate in front of it:

- Every request for the page, the websocket or a download must prove it knows the **token**
  (``?token=`` on the first page load; after that an ``HttpOnly``, ``SameSite=Strict`` cookie
  set by that page). Other local users can reach 127.0.0.1 too: loopback is not a gate.
- The websocket also checks the ``Origin`` header against the page's own address, so a web
  page of another site open in the operator's browser cannot drive the console
  (cross-site websocket hijacking).
- Tokens are compared in constant time.

Binding to a non-loopback address is the CLI's decision (``--public``); this module only
enforces the token.
"""

from __future__ import annotations

import hmac
import ipaddress
import logging
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


class TokenServer(Server):
    """textual-serve's ``Server`` with a token gate and an Origin check (see module doc)."""

    def __init__(self, command: str, *, token: str, host: str, port: int, title: str,
                 public_url: str | None = None) -> None:
        if len(token) < MIN_TOKEN_CHARS:
            raise ValueError(f"token too short: give at least {MIN_TOKEN_CHARS} characters")
        super().__init__(command, host=host, port=port, title=title, public_url=public_url)
        self.token = token
        self.console = Console(stderr=True)  # stdout is for data; the banner is a diagnostic

    @property
    def page_url(self) -> str:
        """The address to open, token included (printed once, to the operator's terminal)."""
        return f"{self.public_url}/?token={self.token}"

    def _authorised(self, request: web.Request) -> bool:
        return _same_token(request.cookies.get(COOKIE), self.token)

    def _same_origin(self, request: web.Request) -> bool:
        origin = request.headers.get("Origin")
        if origin is None:  # not a browser (browsers always send Origin on websockets)
            return True
        page = urlsplit(self.public_url)
        seen = urlsplit(origin)
        return (seen.scheme, seen.hostname, seen.port) == (page.scheme, page.hostname, page.port)

    async def handle_index(self, request: web.Request) -> Any:
        if _same_token(request.query.get("token"), self.token):
            # Drop the token from the address bar and history; the cookie carries it from now on.
            response = web.HTTPFound("/")
            response.set_cookie(COOKIE, self.token, httponly=True, samesite="Strict", path="/")
            raise response
        if not self._authorised(request):
            log.warning("refused %s: no valid token", request.remote)
            raise web.HTTPForbidden(text="Cluster Console: open the address printed by "
                                         "`cluster-console serve` (it carries the access token).\n")
        return await super().handle_index(request)

    async def handle_websocket(self, request: web.Request) -> web.WebSocketResponse:
        if not self._authorised(request):
            raise web.HTTPForbidden(text="no valid token\n")
        if not self._same_origin(request):
            log.warning("refused a websocket from origin %s", request.headers.get("Origin"))
            raise web.HTTPForbidden(text="cross-origin websocket refused\n")
        return await super().handle_websocket(request)

    async def handle_download(self, request: web.Request) -> web.StreamResponse:
        if not self._authorised(request):
            raise web.HTTPForbidden(text="no valid token\n")
        return await super().handle_download(request)
