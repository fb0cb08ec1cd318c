"""Resolving a host's ssh_config never stalls the event loop: a slow ``Match exec`` (or a
name lookup for CanonicalizeHostname) runs while the loop — the TUI's — goes on."""

from __future__ import annotations

import asyncio
import os

import pytest

from console.core.errors import RemoteError
from console.remote import Pool, SSHOptions


async def write_when_read(fifo: str, deadline_s: float) -> bool:
    """Write a line to ``fifo`` once a reader has it open (polled, with a deadline)."""
    loop = asyncio.get_running_loop()
    end = loop.time() + deadline_s
    while loop.time() < end:
        try:
            fd = os.open(fifo, os.O_WRONLY | os.O_NONBLOCK)
        except OSError:  # ENXIO: nobody reads it yet
            await asyncio.sleep(0.01)
            continue
        os.write(fd, b"go\n")
        os.close(fd)
        return True
    return False


def test_a_slow_match_exec_does_not_stall_the_event_loop(tmp_path) -> None:
    fifo = tmp_path / "fifo"
    os.mkfifo(fifo)
    config = tmp_path / "ssh_config"
    # The exec waits (at most 10 s) for a line that only this test's event loop writes: when
    # resolving blocks the loop, the line never comes and the exec fails.
    config.write_text(f"Match exec \"timeout 10 sh -c 'read line < {fifo}'\"\n    Port 1\nHost *\n    User nobody\n")
    config.chmod(0o600)

    async def main() -> tuple[bool, str]:
        options = SSHOptions(ssh_config=config, connect_timeout=5)
        async with Pool(options) as pool:
            connect = asyncio.ensure_future(pool.connect("127.0.0.1"))
            wrote = await write_when_read(str(fifo), deadline_s=20)
            with pytest.raises(RemoteError) as failed:
                await connect
        return wrote, str(failed.value)

    wrote, error = asyncio.run(main())
    assert wrote, "the event loop could not run while ssh_config was resolved"
    assert "127.0.0.1:1" in error, error  # the Match exec matched: Port 1
