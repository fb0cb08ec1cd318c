"""The first request to a served model: one OpenAI-compatible completion, streamed.

Over SSH the request goes through a local forward to the first server (the service port is
often not reachable from the operator's machine): ``Pool.forward_socket``, a Unix socket in a
private 0700 folder, never a TCP port on 127.0.0.1 that any local user could connect to while
the request runs. Without a pool (local agents, tests) straight to the address. The HTTP client is
the standard library's ``http.client`` in a thread. Time to first token = from sending the
request to the first streamed piece of text; total = to the end of the stream.
"""

from __future__ import annotations

import asyncio
import contextlib
import http.client
import socket
import ssl
import time
from collections.abc import AsyncIterator
from dataclasses import asdict, dataclass
from typing import Any

from console.core.serving.openai import BODY_LIMIT, PATHS, Api, request_body, sse_piece

LINE_LIMIT = 1 << 20
ANSWER_LIMIT = 1 << 20
DEFAULT_TIMEOUT_S = 120.0


@dataclass
class SmokeTarget:
    """Where the service answers: the first server (SSH host), the address and port the
    service listens on there, and what to ask."""

    host: str
    address: str
    port: int
    api: Api
    model: str
    https: bool = False

    @property
    def where(self) -> str:
        return f"{self.host}:{self.port}"


@dataclass
class SmokeResult:
    ok: bool
    where: str
    prompt: str
    answer: str = ""
    ttft_s: float | None = None
    total_s: float | None = None
    status: int | None = None
    error: str = ""
    """HTTP status line and body, or why no answer came."""

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def _unix_socket(path: str, timeout: float) -> socket.socket:
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    try:
        sock.settimeout(timeout)
        sock.connect(path)
    except BaseException:
        sock.close()
        raise
    return sock


class _ForwardedHTTP(http.client.HTTPConnection):
    """HTTP to ``address:port`` (the Host header) through the forward's Unix socket."""

    def __init__(self, path: str, address: str, port: int, timeout: float) -> None:
        super().__init__(address, port, timeout=timeout)
        self.forward_path = path

    def connect(self) -> None:
        self.sock = _unix_socket(self.forward_path, float(self.timeout))  # type: ignore[arg-type]


class _ForwardedHTTPS(http.client.HTTPSConnection):
    def __init__(self, path: str, address: str, port: int, timeout: float, context: ssl.SSLContext) -> None:
        super().__init__(address, port, timeout=timeout, context=context)
        self.forward_path = path
        self.tls = context

    def connect(self) -> None:
        sock = _unix_socket(self.forward_path, float(self.timeout))  # type: ignore[arg-type]
        self.sock = self.tls.wrap_socket(sock, server_hostname=self.host)


def _connection(address: str, port: int, https: bool, timeout: float, via: str | None) -> http.client.HTTPConnection:
    """To ``address:port``, through the Unix socket ``via`` when given."""
    if not https:
        if via is not None:
            return _ForwardedHTTP(via, address, port, timeout)
        return http.client.HTTPConnection(address, port, timeout=timeout)
    # through the SSH tunnel (the trust), to a certificate issued for the server's own IP
    context = ssl.create_default_context()
    context.check_hostname = False
    context.verify_mode = ssl.CERT_NONE
    if via is not None:
        return _ForwardedHTTPS(via, address, port, timeout, context)
    return http.client.HTTPSConnection(address, port, timeout=timeout, context=context)


def _ask(target: SmokeTarget, via: str | None, prompt: str, max_tokens: int, timeout: float) -> SmokeResult:
    """Blocking: send the request, read the stream (run in a thread). ``via``: the forward's
    Unix socket, None to connect to the target's address directly."""
    result = SmokeResult(ok=False, where=target.where, prompt=prompt)
    conn = _connection(target.address, target.port, target.https, timeout, via)
    t0 = time.monotonic()
    try:
        conn.request(
            "POST",
            PATHS[target.api],
            body=request_body(target.api, target.model, prompt, max_tokens),
            headers={"Content-Type": "application/json", "Accept": "text/event-stream"},
        )
        resp = conn.getresponse()
        result.status = resp.status
        if resp.status != 200:
            body = resp.read(BODY_LIMIT).decode("utf-8", "replace")
            result.error = f"HTTP {resp.status} {resp.reason}: {body.strip()}"
            return result
        pieces: list[str] = []
        size = 0
        while True:
            raw = resp.readline(LINE_LIMIT)
            if not raw:
                break
            text, done = sse_piece(raw.decode("utf-8", "replace").strip())
            if text:
                if result.ttft_s is None:
                    result.ttft_s = time.monotonic() - t0
                size += len(text)
                if size <= ANSWER_LIMIT:
                    pieces.append(text)
            if done:
                break
        result.total_s = time.monotonic() - t0
        result.answer = "".join(pieces)
        result.ok = bool(pieces)
        if not pieces:
            result.error = "the stream ended without any text"
    except (OSError, http.client.HTTPException) as exc:
        result.error = (
            f"no answer from {target.address}:{target.port} on {target.host}: {type(exc).__name__}: {exc}".rstrip(": ")
        )
    finally:
        conn.close()
    return result


@contextlib.asynccontextmanager
async def _route(pool: Any, target: SmokeTarget) -> AsyncIterator[str | None]:
    if pool is None:
        yield None
        return
    async with pool.forward_socket(target.host, target.address, target.port) as path:
        yield path


async def first_request(
    pool: Any, target: SmokeTarget, prompt: str, *, max_tokens: int = 64, timeout: float = DEFAULT_TIMEOUT_S
) -> SmokeResult:
    """One streamed completion; never raises for the service's answer (see ``ok``/``error``).
    A port forward the SSH server refuses raises ``RemoteError``."""
    async with _route(pool, target) as via:
        return await asyncio.to_thread(_ask, target, via, prompt, max_tokens, timeout)
