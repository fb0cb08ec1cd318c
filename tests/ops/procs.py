"""Checking real processes in tests: alive (zombies count as gone), and awaiting their end."""

from __future__ import annotations

import asyncio
import shlex
import sys
from pathlib import Path

#: The setup line a user writes to run this virtualenv's python (it has torch) on the
#: simulated servers, which, like real ones, start commands with the system PATH only.
VENV_SETUP = f'export PATH={shlex.quote(str(Path(sys.executable).parent))}:"$PATH"'


def alive(pid: int) -> bool:
    """The process exists and is not a zombie waiting for its reaper."""
    try:
        with open(f"/proc/{pid}/stat") as fh:
            return fh.read().rsplit(")", 1)[1].split()[0] != "Z"
    except FileNotFoundError:
        return False


async def wait_gone(pid: int, timeout: float = 10) -> None:
    """Poll until ``pid`` is gone; TimeoutError after ``timeout`` seconds."""

    async def poll() -> None:
        while alive(pid):
            await asyncio.sleep(0.05)

    await asyncio.wait_for(poll(), timeout)


async def read_pgids(proc: asyncio.subprocess.Process, count: int, timeout: float = 60) -> list[int]:
    """Read ``pgid N`` lines (as ``[r] pgid N``) from a console's stdout until ``count`` came."""
    pgids: list[int] = []
    while len(pgids) < count:
        line = await asyncio.wait_for(proc.stdout.readline(), timeout)
        assert line, (await proc.stderr.read()).decode()
        pgids.append(int(line.split()[-1]))
    return pgids
