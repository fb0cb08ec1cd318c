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


def test_resolving_has_its_own_threads_and_runs_once_per_target(monkeypatch, tmp_path) -> None:
    """1,024 slow resolutions at once cannot take the loop's default executor from its other
    users (``asyncio.to_thread``): the pool resolves in threads of its own. A target is
    resolved once per pool (a failed connect tried again reuses it)."""
    import threading
    from concurrent.futures import ThreadPoolExecutor

    from console.remote import connector as connector_module
    from console.remote import options as options_module

    release = threading.Event()
    calls: list[str] = []

    def slow_resolve(options, target, **kw):
        calls.append(target)
        release.wait(30)  # a slow Match exec; let go by the test
        return options_module.resolve(options, target, **kw)

    monkeypatch.setattr(connector_module, "resolve", slow_resolve)
    config = tmp_path / "ssh_config"
    config.write_text("")

    async def main() -> None:
        asyncio.get_running_loop().set_default_executor(ThreadPoolExecutor(2))
        async with Pool(SSHOptions(ssh_config=config, port=1, connect_timeout=5)) as pool:
            connects = [asyncio.ensure_future(pool.connect(f"127.0.0.{i}")) for i in range(1, 9)]
            loop = asyncio.get_running_loop()
            end = loop.time() + 20
            while len(calls) < 2 and loop.time() < end:  # resolutions under way (blocked)
                await asyncio.sleep(0.01)
            try:  # the resolvers wait: the default executor still answers
                assert await asyncio.wait_for(asyncio.to_thread(int, "7"), 20) == 7
            finally:
                release.set()
            for result in await asyncio.gather(*connects, return_exceptions=True):
                assert isinstance(result, RemoteError), result  # nothing listens on port 1
            assert sorted(calls) == [f"127.0.0.{i}" for i in range(1, 9)]
            again = await asyncio.gather(pool.connect("127.0.0.1"), pool.connect("127.0.0.1"), return_exceptions=True)
            assert all(isinstance(r, RemoteError) for r in again)
            assert calls.count("127.0.0.1") == 1

    asyncio.run(main())
