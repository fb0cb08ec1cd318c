"""The user's stop of a running job, signal by signal (``launch(..., stop=StopRequests())``).

Like torchrun: the first Ctrl-C sends SIGINT to every rank, so ``except KeyboardInterrupt:``
cleanup runs; the agents send TERM after the grace period, then KILL. Each further request
with a stronger signal skips ahead at once (a second Ctrl-C: TERM now). A plain
``asyncio.Event`` as ``stop`` (the Launch pane's Stop) is one TERM request.
"""

from __future__ import annotations

import asyncio

#: Signals of a stop, weakest first (the host agent's ``STOP_STEPS``).
STEPS = ("INT", "TERM", "KILL")


class StopRequests:
    """A queue of stop requests: ``request("INT", "interrupted (SIGINT)")``."""

    def __init__(self) -> None:
        self._queue: asyncio.Queue[tuple[str, str]] = asyncio.Queue()
        self.sent: str | None = None
        """The strongest signal requested so far."""

    def request(self, sig: str = "TERM", reason: str = "stopped by the user") -> None:
        if sig not in STEPS:
            raise ValueError(f"stop signal {sig!r} is not one of {STEPS}")
        if self.sent is None or STEPS.index(sig) > STEPS.index(self.sent):
            self.sent = sig
        self._queue.put_nowait((sig, reason))

    def next_step(self, sig: str) -> str | None:
        """What ``sig`` arriving at the console asks for: SIGINT the next step (INT first),
        SIGTERM/SIGHUP at least TERM; None once KILL was requested (nothing stronger)."""
        if self.sent == "KILL":
            return None
        if sig == "SIGINT":
            return "INT" if self.sent is None else STEPS[STEPS.index(self.sent) + 1]
        return "TERM" if self.sent in (None, "INT") else "KILL"

    async def get(self) -> tuple[str, str]:
        return await self._queue.get()


def stronger(sig: str, than: str | None) -> bool:
    return than is None or STEPS.index(sig) > STEPS.index(than)
