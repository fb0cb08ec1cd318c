"""The first request to a served model: one OpenAI-compatible completion, streamed.

Over SSH the request goes through a local port forward to the first server
(``Pool.forward_port``: the service port is often not reachable from the operator's
machine); without a pool (local agents, tests) straight to the address. The HTTP client is
the standard library's ``http.client`` in a thread. Time to first token = from sending the
request to the first streamed piece of text; total = to the end of the stream.
"""

from __future__ import annotations

import asyncio
import contextlib
import http.client
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


def _connection(address: str, port: int, https: bool, timeout: float) -> http.client.HTTPConnection:
    if not https:
        return http.client.HTTPConnection(address, port, timeout=timeout)
    # through the SSH tunnel (the trust), to a certificate issued for the server's own IP
    context = ssl.create_default_context()
    context.check_hostname = False
    context.verify_mode = ssl.CERT_NONE
    return http.client.HTTPSConnection(address, port, timeout=timeout, context=context)


def _ask(target: SmokeTarget, address: str, port: int, prompt: str, max_tokens: int, timeout: float) -> SmokeResult:
    """Blocking: send the request, read the stream (run in a thread)."""
    result = SmokeResult(ok=False, where=target.where, prompt=prompt)
    conn = _connection(address, port, target.https, timeout)
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
async def _route(pool: Any, target: SmokeTarget) -> AsyncIterator[tuple[str, int]]:
    if pool is None:
        yield target.address, target.port
        return
    async with pool.forward_port(target.host, target.address, target.port) as local:
        yield "127.0.0.1", local


async def first_request(
    pool: Any, target: SmokeTarget, prompt: str, *, max_tokens: int = 64, timeout: float = DEFAULT_TIMEOUT_S
) -> SmokeResult:
    """One streamed completion; never raises for the service's answer (see ``ok``/``error``).
    A port forward the SSH server refuses raises ``RemoteError``."""
    async with _route(pool, target) as (address, port):
        return await asyncio.to_thread(_ask, target, address, port, prompt, max_tokens, timeout)
