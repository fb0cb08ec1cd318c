"""One way for a pane to follow an ops generator: :class:`EventFeed`.

It runs the generator in a worker, applies every event to the pane's model
(``model.apply(event)``), and when the model's ``changes`` counter moved schedules ONE redraw
for the next frame (``FRAME_S``, the same for every pane), however many events arrived
meanwhile. When the events end — done, cancelled or failed — ``model.end(error, cancelled)``
runs and the pane is redrawn at once. A failure is re-raised so the worker fails and the
pane's one handler (``PaneScreen.on_worker_state_changed`` -> ``app.report_error``) reports it.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import AsyncGenerator, Callable
from typing import Any, Protocol

from textual.css.query import NoMatches
from textual.screen import Screen
from textual.timer import Timer
from textual.worker import Worker

FRAME_S = 0.05
"""Redraw rate of every pane while events pour in (20 frames a second at most)."""
YIELD_S = 0.01
"""The worker hands the loop back at least this often while events pour in."""


class Model(Protocol):
    changes: int

    def apply(self, event: Any) -> None: ...

    def end(self, error: BaseException | None, cancelled: bool) -> None: ...


class EventFeed:
    """``EventFeed(screen, model, render)``; ``run(make_events, name=..., group=...)``."""

    def __init__(self, screen: Screen, model: Model, render: Callable[[], None]) -> None:
        self.screen = screen
        self.model = model
        self.render = render
        self.running = False
        self._seen = -1
        self._timer: Timer | None = None
        self._run = 0
        """Token of the latest ``run``: a cancelled worker that ends after the next run
        started must not end the model (or call its ``on_end``) under it."""

    def run(
        self,
        make_events: Callable[[], AsyncGenerator[Any, None]],
        *,
        name: str,
        group: str,
        on_event: Callable[[Any], None] | None = None,
        on_end: Callable[[BaseException | None, bool], None] | None = None,
    ) -> Worker[None]:
        """Start a worker that feeds ``make_events()`` into the model (exclusive in ``group``)."""
        self._run += 1
        return self.screen.run_worker(
            self._consume(self._run, make_events, on_event, on_end),
            name=name,
            group=group,
            exclusive=True,
            exit_on_error=False,
        )

    async def _consume(
        self,
        token: int,
        make_events: Callable[[], AsyncGenerator[Any, None]],
        on_event: Callable[[Any], None] | None,
        on_end: Callable[[BaseException | None, bool], None] | None,
    ) -> None:
        model = self.model
        error: BaseException | None = None
        cancelled = False
        self.running = True
        handed_back = time.perf_counter()
        try:
            # aclosing: a cancel landing on the sleep below (not inside the source) still
            # closes the source, so its teardown is over before the model says it ended.
            async with contextlib.aclosing(make_events()) as events:
                async for event in events:
                    model.apply(event)
                    if on_event is not None:
                        on_event(event)
                    if model.changes != self._seen:
                        self.schedule()
                    now = time.perf_counter()
                    if now - handed_back > YIELD_S:
                        await asyncio.sleep(0)
                        handed_back = time.perf_counter()
        except asyncio.CancelledError:
            cancelled = True
            raise
        except Exception as exc:
            error = exc
            raise
        finally:
            if token == self._run:  # else a newer run owns the model now: this one just goes
                self.running = False
                model.end(error, cancelled)
                if on_end is not None:
                    on_end(error, cancelled)
                self.redraw()

    def schedule(self) -> None:
        """Redraw at the next frame (one redraw, however often this is called meanwhile)."""
        if self._timer is None:
            self._timer = self.screen.set_timer(FRAME_S, self._tick, name="redraw")

    def _tick(self) -> None:
        self._timer = None
        self.redraw()

    def redraw(self) -> None:
        """Render the model now (also from actions that changed it)."""
        if self._timer is not None:
            self._timer.stop()
            self._timer = None
        self._seen = self.model.changes
        if not self.screen.is_attached:
            return  # the app is closing: nothing left to draw on
        with contextlib.suppress(NoMatches):
            self.render()
