"""``EventFeed``: a cancelled run whose teardown ends after the next run started does not
end the model (nor call its ``on_end``) under the new run."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from types import SimpleNamespace
from typing import Any

from console.ui.feed import EventFeed


class FakeScreen:
    """Textual's ``run_worker(exclusive=True)``: cancel the group's worker, start the new one
    at once (the old one's teardown goes on meanwhile)."""

    is_attached = True

    def __init__(self) -> None:
        self.workers: dict[str, asyncio.Task] = {}

    def run_worker(self, coro: Any, *, name: str, group: str, exclusive: bool, exit_on_error: bool) -> Any:
        old = self.workers.get(group)
        if exclusive and old is not None:
            old.cancel()
        self.workers[group] = task = asyncio.ensure_future(coro)
        return task

    def set_timer(self, delay: float, callback: Any, name: str = "") -> Any:
        handle = asyncio.get_running_loop().call_later(delay, callback)
        return SimpleNamespace(stop=handle.cancel)


class Model:
    def __init__(self) -> None:
        self.changes = 0
        self.events: list[Any] = []
        self.ended: list[tuple[BaseException | None, bool]] = []
        self.running = False

    def apply(self, event: Any) -> None:
        self.events.append(event)
        self.running = True
        self.changes += 1

    def end(self, error: BaseException | None, cancelled: bool) -> None:
        self.ended.append((error, cancelled))
        self.running = False


async def test_a_stale_runs_end_does_not_end_the_new_run() -> None:
    screen, model = FakeScreen(), Model()
    feed = EventFeed(screen, model, lambda: None)  # type: ignore[arg-type]
    first_in, teardown, second_in, second_go = (asyncio.Event() for _ in range(4))
    ends: list[str] = []

    async def first() -> AsyncIterator[Any]:
        try:
            yield "first"
            first_in.set()
            await asyncio.Event().wait()
        finally:
            await teardown.wait()  # a slow teardown (stopping a job)

    async def second() -> AsyncIterator[Any]:
        yield "second"
        second_in.set()
        await second_go.wait()
        yield "second done"

    old = feed.run(first, name="one", group="g", on_end=lambda e, c: ends.append("one"))
    async with asyncio.timeout(30):
        await first_in.wait()
        new = feed.run(second, name="two", group="g", on_end=lambda e, c: ends.append("two"))
        await second_in.wait()
        teardown.set()
        await asyncio.gather(old, return_exceptions=True)
        assert old.cancelled()
        assert model.ended == [] and ends == [] and feed.running and model.running
        second_go.set()
        await new
    assert model.events == ["first", "second", "second done"]
    assert model.ended == [(None, False)] and ends == ["two"] and not feed.running
