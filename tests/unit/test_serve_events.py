"""``console.ops.serving.serve`` against scripted launch events (no servers): the launch's
error reaches the caller, a failing first request still answers, teardown honours a cancel."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator
from types import SimpleNamespace
from typing import Any

import pytest

from console.core.errors import RemoteError
from console.core.serving.plan import ServingTarget
from console.ops.launch_events import LaunchWarning, RankReady
from console.ops.serving import ServiceAnswer, ServiceReady, serve


def _plan() -> Any:
    server = SimpleNamespace(
        server_id="10.0.0.1", host="node1", ranks=[SimpleNamespace(rank=0, await_ready=True)], values={}
    )
    return SimpleNamespace(servers=[server], server=lambda sid: server, ready_timeout_s=60.0, master_addr="10.0.0.1")


TARGET = ServingTarget(
    kind="vllm-ascend", server_id="10.0.0.1", address="10.0.0.1", port=8000, api="completions", model="m"
)


async def test_the_launch_error_is_raised_not_swallowed() -> None:
    async def events() -> AsyncIterator[Any]:
        yield LaunchWarning("first")
        raise RemoteError("cannot connect", "connection refused", host="node1")

    seen = []
    with pytest.raises(RemoteError, match="cannot connect"):
        async with asyncio.timeout(30):
            async for ev in serve(events(), _plan(), TARGET, None, prompt=None):
                seen.append(ev)
    assert seen == [LaunchWarning("first")]


class _BrokenPool:
    """A pool whose port forward fails with an OSError (not a ConsoleError)."""

    @contextlib.asynccontextmanager
    async def forward_socket(self, host: str, address: str, port: int) -> AsyncIterator[str]:
        raise OSError(113, "No route to host")
        yield ""  # pragma: no cover


async def test_a_request_failing_with_oserror_answers_and_smoke_only_stops() -> None:
    stop = asyncio.Event()

    async def events() -> AsyncIterator[Any]:
        yield RankReady(rank=0, after_s=1.0)
        await stop.wait()  # the job runs until stopped
        yield LaunchWarning("stopped")

    seen = []
    async with asyncio.timeout(30):  # a deadline for the hang the old code had, not a timing assert
        async for ev in serve(events(), _plan(), TARGET, _BrokenPool(), prompt="hi", stop=stop, smoke_only=True):
            seen.append(ev)
    answers = [ev.result for ev in seen if isinstance(ev, ServiceAnswer)]
    assert len(answers) == 1 and not answers[0].ok
    assert "No route to host" in answers[0].error and "OSError" in answers[0].error
    assert stop.is_set() and isinstance(seen[1], ServiceReady) and seen[-1] == LaunchWarning("stopped")


async def test_a_cancel_during_teardown_is_not_swallowed() -> None:
    in_teardown = asyncio.Event()

    async def events() -> AsyncIterator[Any]:
        try:
            yield LaunchWarning("running")
            await asyncio.Event().wait()
        finally:
            in_teardown.set()
            await asyncio.Event().wait()  # a slow teardown, ended only by a cancel

    async def consume() -> str:
        gen = serve(events(), _plan(), TARGET, None, prompt=None)
        async with contextlib.aclosing(gen):
            async for _ in gen:
                break
        return "finished normally"

    task = asyncio.create_task(consume())
    async with asyncio.timeout(30):
        await in_teardown.wait()
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task
    assert task.cancelled()


async def test_the_queue_is_bounded() -> None:
    produced = 0
    blocked = asyncio.Event()

    async def events() -> AsyncIterator[Any]:
        nonlocal produced
        for i in range(100_000):
            produced = i
            yield LaunchWarning(str(i))
        blocked.set()

    gen = serve(events(), _plan(), TARGET, None, prompt=None)
    async with contextlib.aclosing(gen):
        first = await anext(gen)
        for _ in range(50):  # let the feeder run as far as it may
            await asyncio.sleep(0)
        assert first == LaunchWarning("0")
        assert produced < 1_000 and not blocked.is_set()
