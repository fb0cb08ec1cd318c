"""Every simulated session's command is reaped and its pipes closed, whichever way the
session ends, before the sim's ``stop`` returns: nothing is left for the garbage collector
to find open ("unclosed transport" ResourceWarning, or "Event loop is closed" raised from
``BaseSubprocessTransport.__del__`` once the loop is gone).

Each test starts the command so that it prints its shell's pid first (the pid of the session
the sim started), ends the session one way or another, stops the sim, and then looks at
every subprocess transport still in memory for those pids, and collects garbage with
warnings and unraisable exceptions recorded.
"""

from __future__ import annotations

import asyncio
import gc
import os
import signal
import sys
import warnings
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest

from console.sim.cluster import SimCluster
from tests.ops.procs import alive, wait_gone


def _open_transports(pids: set[int]) -> list[asyncio.SubprocessTransport]:
    return [
        obj
        for obj in gc.get_objects()
        # type(), not isinstance(): isinstance reads obj.__class__, which some objects (torch's
        # deprecated names) answer with a FutureWarning
        if issubclass(type(obj), asyncio.SubprocessTransport) and obj.get_pid() in pids and not obj.is_closing()
    ]


@contextmanager
def _leaks(monkeypatch: pytest.MonkeyPatch) -> Iterator[list[str]]:
    """What garbage collection reports while the block runs: ResourceWarnings and
    unraisable exceptions (a finalizer's), as text."""
    found: list[str] = []
    monkeypatch.setattr(sys, "unraisablehook", lambda u: found.append(f"{u.exc_type.__name__}: {u.exc_value}"))
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always", ResourceWarning)
        yield found
    found.extend(str(w.message) for w in caught if issubclass(w.category, ResourceWarning))


@pytest.fixture(autouse=True)
def _earlier_garbage_collected() -> None:
    """What earlier tests left for the collector is collected before, not blamed here."""
    gc.collect()


async def _assert_nothing_left(sim: SimCluster, pids: set[int], monkeypatch: pytest.MonkeyPatch) -> None:
    await sim.stop()
    assert not _open_transports(pids), "a session's subprocess transport is still open after the sim stopped"
    with _leaks(monkeypatch) as found:
        gc.collect()
    assert not [f for f in found if any(f"pid={pid} " in f for pid in pids)], found


def _blocked_writing_to_a_pipe(pid: int) -> bool:
    """The process sleeps in a write to a full pipe: its reader stopped reading."""
    try:
        return Path(f"/proc/{pid}/wchan").read_text().endswith("pipe_write")
    except OSError:
        return False


def _leads_its_own_group(pid: int) -> bool:
    try:
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[2] == str(pid)
    except OSError:
        return False


async def _until(condition: Callable[[], bool], timeout: float = 60.0) -> None:
    async def poll() -> None:
        while not condition():
            await asyncio.sleep(0.02)

    await asyncio.wait_for(poll(), timeout)


async def test_channel_closed_with_output_left_unread_leaves_nothing_open(sim_factory, sim_connect, monkeypatch):
    """The client stops reading and closes the channel while the command still prints: the
    sim has stopped reading the command's stdout (flow control), the group is killed, and
    the paused pipe is closed all the same (it used to stay open, its transport with it)."""
    sim: SimCluster = await sim_factory(servers=1, cards=1)
    async with sim_connect(sim, sim.hosts[0]) as conn:
        proc = await conn.create_process("echo $$; exec yes")
        pid = int(await asyncio.wait_for(proc.stdout.readline(), 60))
        # the client's window fills, then the sim's buffer: `yes` blocks on a full pipe
        await _until(lambda: _blocked_writing_to_a_pipe(pid))
        proc.close()
        await wait_gone(pid, 60)
    await _assert_nothing_left(sim, {pid}, monkeypatch)


async def test_process_out_of_the_group_holding_the_output_leaves_nothing_open(sim_factory, sim_connect, monkeypatch):
    """A process that left the session's group (``setsid``) keeps the output pipe open after
    the channel closed and the group was killed: the sim closes its own ends anyway, and the
    process is left running, as sshd leaves it."""
    sim: SimCluster = await sim_factory(servers=1, cards=1)
    async with sim_connect(sim, sim.hosts[0]) as conn:
        proc = await conn.create_process("echo $$; setsid sleep 300 & echo $!; exec sleep 300")
        pid = int(await asyncio.wait_for(proc.stdout.readline(), 60))
        escaped = int(await asyncio.wait_for(proc.stdout.readline(), 60))
        try:
            await _until(lambda: _leads_its_own_group(escaped))  # setsid has run: out of the group
            proc.close()
            await wait_gone(pid, 60)
            await _assert_nothing_left(sim, {pid}, monkeypatch)
            assert alive(escaped)
        finally:
            os.kill(escaped, signal.SIGKILL)


async def test_stop_ends_running_sessions_before_it_returns(sim_factory, sim_connect, monkeypatch):
    """The sim stopped while commands run (the connection is cut under them): when ``stop``
    returns, every command's group is gone and its transport closed."""
    sim: SimCluster = await sim_factory(servers=1, cards=1)
    async with sim_connect(sim, sim.hosts[0]) as conn:
        procs = [await conn.create_process("echo $$; exec sleep 300") for _ in range(3)]
        pids = {int(await asyncio.wait_for(p.stdout.readline(), 60)) for p in procs}
        await _assert_nothing_left(sim, pids, monkeypatch)
        assert not [pid for pid in pids if alive(pid)]


async def test_signals_and_exit_status_still_come_through(sim_factory, sim_connect, monkeypatch):
    """What a command is given and gives back is unchanged: stdin, a signal the client sends,
    the exit status once both output streams ended (a background process still writing)."""
    sim: SimCluster = await sim_factory(servers=1, cards=1)
    async with sim_connect(sim, sim.hosts[0]) as conn:
        proc = await conn.create_process(
            "trap 'echo got TERM; exit 3' TERM; echo $$; read line; echo \"$line\"; sleep 300 >/dev/null 2>&1 & wait"
        )
        pid = int(await asyncio.wait_for(proc.stdout.readline(), 60))
        proc.stdin.write("hello\n")
        assert await asyncio.wait_for(proc.stdout.readline(), 20) == "hello\n"
        proc.send_signal("TERM")  # not INT: a shell started in the background ignores it
        assert await asyncio.wait_for(proc.stdout.readline(), 20) == "got TERM\n"
        assert (await asyncio.wait_for(proc.wait(), 60)).exit_status == 3
        res = await conn.run("(sleep 0.2; echo late) & echo early >&2")  # output ends when the group's does
        assert (res.stdout, res.stderr, res.exit_status) == ("late\n", "early\n", 0)
    await _assert_nothing_left(sim, {pid}, monkeypatch)
