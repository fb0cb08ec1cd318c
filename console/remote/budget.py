"""The pool-wide output budget: bytes of command output the console holds at once.

Each command's own cap (``SSHOptions.output_limit``) bounds one command; this bounds them all
together (``SSHOptions.output_budget``), so 1,024 servers printing at once cannot add up to
1,024 caps. Every command that keeps output (``Pool.run``, one ping-lane answer) holds a
``Share`` while its output is still arriving and takes bytes from it as they arrive; once its
output is complete (both streams at EOF) it releases the share, so it can no longer be ended
and what it read is the caller's. ``Pool.stream`` takes the characters of each line it has
read and queued and gives them back (``give``) when its reader takes the line: a slow reader's
queue counts, what the reader took does not. When a take would pass the
budget, the command that would then hold the most is ended (its share released at once): the
one taking if that is it, else the biggest other holder, which is told through its
``on_evict`` callback and drops what it kept. So the total never passes the budget and the
command ended is always one above its fair share (budget / commands running). Single event
loop, no locks: every take and eviction runs between two awaits.
"""

from __future__ import annotations

from collections.abc import Callable


class Share:
    """One running command's part of the budget. ``take(n)`` or ``release()``; see the module."""

    def __init__(self, budget: OutputBudget, on_evict: Callable[[], None] | None) -> None:
        self.budget = budget
        self.held = 0
        self.ended: str | None = None
        """Why this command lost its share (the budget was used up), or None."""
        self.on_evict = on_evict
        """Called when another command's take ends this one (drop what was kept)."""

    def take(self, n: int) -> bool:
        """Account for ``n`` more bytes kept; False (and ``ended`` set) when this command is
        the one ended to stay within the budget."""
        return self.budget.take(self, n)

    def give(self, n: int) -> None:
        """``n`` bytes taken before are no longer kept here (a streamed line was read)."""
        n = min(n, self.held)
        self.held -= n
        self.budget.used -= n

    def release(self) -> None:
        self.budget.release(self)

    def end(self, why: str) -> None:
        self.budget.ended += 1
        self.budget.shares.discard(self)
        self.budget.used -= self.held
        self.held = 0
        self.ended = why
        if self.on_evict is not None:
            self.on_evict()


class OutputBudget:
    """``total`` bytes for every running command of one pool together."""

    def __init__(self, total: int) -> None:
        self.total = total
        self.used = 0
        self.peak = 0
        """The most ever held at once (benchmarks and tests read it)."""
        self.ended = 0
        """Commands ended to stay within the budget."""
        self.shares: set[Share] = set()

    def open(self, on_evict: Callable[[], None] | None = None) -> Share:
        share = Share(self, on_evict)
        self.shares.add(share)
        return share

    def release(self, share: Share) -> None:
        """``share`` is out of play (idempotent): its bytes no longer count, it is never ended."""
        self.shares.discard(share)
        self.used -= share.held
        share.held = 0

    def take(self, share: Share, n: int) -> bool:
        if share.ended is not None:
            return False
        while self.used + n > self.total:
            biggest = max(self.shares, key=lambda s: s.held + (n if s is share else 0))
            running = len(self.shares)
            why = (
                f"the console's output budget ({self.total} bytes for all commands at once) was used up "
                f"and this command held the most: {biggest.held + (n if biggest is share else 0)} bytes, "
                f"more than its fair share of {self.total // running} bytes ({running} running)"
            )
            if biggest is share:
                share.end(why)
                return False
            biggest.end(why)
        share.held += n
        self.used += n
        self.peak = max(self.peak, self.used)
        return True
