"""A probe lane: one long-lived channel to a server running a tiny shell loop that reads one
command per line on stdin, runs it, and prints its output followed by an end marker that
carries the exit status.

A sweep of thousands of probes thus costs one channel per lane, not one channel (and one
login shell) per probe. The lane does not interpret anything: the engine sends the exact
command (``timeout -k K T hccn_tool -i N -ping -g address IP``) and gets back the exact
output. The output is split at a marker carrying a random token, never by guessing, and
``hccn_tool`` is found like discovery finds it (PATH, else the driver's default folder).
"""

from __future__ import annotations

import asyncio
import re
import secrets
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass

from console.core.discovery.script import HCCN_DEFAULT
from console.core.errors import RemoteError
from console.remote import OutputBudget, Pool, RemoteProcess, quote_cmd

# The shell loop. ``printf '\n'`` before the marker ends a last line that had no newline;
# joining the lines before the marker with "\n" gives the output back byte for byte.
_SCRIPT = r"""R="${CLUSTER_CONSOLE_ROOT:-}"
M=%(marker)s
H=$(command -v hccn_tool 2>/dev/null || true)
[ -n "$H" ] || H="$R%(hccn_default)s"
PATH="${H%%/*}:$PATH"; export PATH
printf '%%s READY\n' "$M"
while IFS= read -r c; do
  eval "$c" </dev/null 2>&1
  printf '\n%%s END %%s\n' "$M" "$?"
done
"""


def lane_command(marker: str) -> str:
    """The remote command of a lane (``exec sh -c SCRIPT``: independent of the login shell)."""
    script = _SCRIPT % {"marker": marker, "hccn_default": HCCN_DEFAULT}
    return "exec " + quote_cmd("sh", "-c", script)


@dataclass(frozen=True)
class LaneOutput:
    exit_status: int | None
    output: str
    duration_s: float


class LaneTimeout(Exception):
    """No end marker within the local limit: the lane is stuck and must be closed."""

    def __init__(self, output: str, duration_s: float) -> None:
        super().__init__("no end marker in time")
        self.output = output
        self.duration_s = duration_s


class Lane:
    """One open lane on ``host``. Not safe for concurrent ``run`` calls (one probe at a time)."""

    def __init__(
        self,
        host: str,
        proc: RemoteProcess,
        marker: str,
        max_output: int = 16 << 20,
        budget: OutputBudget | None = None,
    ) -> None:
        self.host = host
        self.max_output = max_output
        self.budget = budget
        """The pool's output budget: an answer holds a share of it while it is read."""
        self._proc = proc
        self._marker = marker
        self._end = re.compile(rf"^{re.escape(marker)} END (-?\d+)$")
        self._lines: AsyncIterator[str] = aiter(proc)
        self.closed = False

    @classmethod
    async def open(cls, pool: Pool, host: str, *, timeout: float) -> Lane:
        """Start the loop on ``host`` and wait for its READY line (login banners skipped)."""
        marker = f"@@CCP{secrets.token_hex(6)}@@"
        command = lane_command(marker)
        proc = await pool.open_process(host, command)
        lane = cls(host, proc, marker, pool.options.output_limit, pool.output_budget)
        try:
            async with asyncio.timeout(timeout):
                while await lane._next(command) != f"{marker} READY":
                    pass  # login banners, motd: not ours
        except TimeoutError:
            await lane.close()
            raise RemoteError(
                "probe lane did not start",
                f"no READY line within {timeout:g}s",
                host=host,
                command="sh -c <probe lane>",
            ) from None
        except BaseException:
            await lane.close()
            raise
        return lane

    async def _next(self, command: str) -> str:
        try:
            return await anext(self._lines)
        except StopAsyncIteration:
            raise RemoteError("probe lane ended", "the remote shell exited", host=self.host, command=command) from None

    async def run(self, command: str, limit: float | None) -> LaneOutput:
        """Run one command line; its status and output. LaneTimeout after ``limit`` seconds.

        At most ``max_output`` bytes of output are kept (and only while the pool's output
        budget lets this answer keep them): past them, lines are counted and dropped until
        the end marker, and a last line says how many."""
        if "\n" in command or "\r" in command:
            raise ValueError("a lane command must be one line")
        start = time.monotonic()
        self._proc.write(command + "\n")
        await self._proc.drain()
        lines: list[str] = []
        kept, dropped = 0, 0

        def evicted() -> None:  # the budget ended this answer: drop what it kept
            nonlocal dropped
            dropped += len(lines)
            lines.clear()

        share = self.budget.open(evicted) if self.budget is not None else None
        try:
            async with asyncio.timeout(limit):
                while not (m := self._end.match(line := await self._next(command))):
                    size = len(line.encode("utf-8", "surrogateescape")) + 1
                    if kept + size <= self.max_output and (share is None or share.take(size)):
                        lines.append(line)
                        kept += size
                    else:
                        dropped += 1
        except TimeoutError:
            raise LaneTimeout(_text(lines, dropped), time.monotonic() - start) from None
        finally:
            if share is not None:
                share.release()
        return LaneOutput(int(m.group(1)), _text(lines, dropped), time.monotonic() - start)

    async def close(self) -> None:
        """End the loop: the remote process group is killed and the channel freed."""
        if not self.closed:
            self.closed = True
            await self._proc.close()


def _text(lines: list[str], dropped: int) -> str:
    if dropped:
        lines = [*lines, f"[cluster-console: output too large, {dropped} more lines dropped]"]
    return "\n".join(lines)
