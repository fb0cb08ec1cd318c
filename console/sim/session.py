"""One SSH session's command on a simulated server (``console.sim.server``).

``Session.start(argv, ...)`` starts the command in a session and process group of its own
with stdin, stdout and stderr piped; ``serve(process)`` copies the channel's stdin (and the
signals the client sends, to the whole group) to the command and the command's output back,
to the end of both output streams (like sshd), and returns its exit status (a signal as
``-N``), or ``None`` when the channel closed first; ``end(grace)`` TERMs the process group,
KILLs what is left after ``grace`` seconds, and returns once the command is reaped and its
pipes are closed.

The command runs under ``loop.subprocess_exec`` with a protocol of its own, not
``asyncio.create_subprocess_exec``: on Python 3.11 an ``asyncio.subprocess.Process`` only
finishes (``wait()`` returns, its transport closes) once both output pipes reached their end,
which never happens to a pipe whose reading stopped (the client went away with 128 KiB of
output unread: the pipe is paused) or that a process outside the group still holds. Its
transport was then never closed and, at garbage collection, warned "unclosed transport" or
raised "Event loop is closed". Here the exit is known as soon as the command is reaped, and
``end`` closes the pipes itself, on every path: command done, channel closed first, session
cancelled, sim stopped. ``end`` runs once per session (every caller waits on the same task),
so the sim's ``stop`` can wait for sessions whose own task was cancelled meanwhile.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
import subprocess
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import asyncssh

CHUNK = 65536


class _Child(asyncio.SubprocessProtocol):
    """The event loop's side of the command: its output streams (read with the same flow
    control as ``asyncio.subprocess``: reading pauses above 2 x ``CHUNK`` unread), its stdin's
    flow control, its exit (``exited``: the status, as soon as it is reaped) and the end of the
    whole transport (``closed``: reaped and every pipe closed)."""

    def __init__(self, loop: asyncio.AbstractEventLoop) -> None:
        self.stdout = asyncio.StreamReader(limit=CHUNK, loop=loop)
        self.stderr = asyncio.StreamReader(limit=CHUNK, loop=loop)
        self.exited: asyncio.Future[int] = loop.create_future()
        self.closed: asyncio.Future[None] = loop.create_future()
        self.writable = asyncio.Event()
        self.writable.set()
        self.stdin_lost = False
        self._transport: asyncio.SubprocessTransport | None = None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        assert isinstance(transport, asyncio.SubprocessTransport)
        self._transport = transport
        for fd, reader in ((1, self.stdout), (2, self.stderr)):
            pipe = transport.get_pipe_transport(fd)
            assert pipe is not None
            reader.set_transport(pipe)

    def pipe_data_received(self, fd: int, data: bytes | bytearray) -> None:
        (self.stdout if fd == 1 else self.stderr).feed_data(data)

    def pipe_connection_lost(self, fd: int, exc: Exception | None) -> None:
        if fd == 0:
            self.stdin_lost = True
            self.writable.set()
            return
        reader = self.stdout if fd == 1 else self.stderr
        if exc is None:
            reader.feed_eof()
        else:
            reader.set_exception(exc)

    def pause_writing(self) -> None:
        self.writable.clear()

    def resume_writing(self) -> None:
        self.writable.set()

    def process_exited(self) -> None:
        assert self._transport is not None
        status = self._transport.get_returncode()
        if not self.exited.done() and status is not None:
            self.exited.set_result(status)

    def connection_lost(self, exc: Exception | None) -> None:
        if not self.closed.done():
            self.closed.set_result(None)


class Session:
    """A started command; see the module's docstring."""

    def __init__(self, transport: asyncio.SubprocessTransport, child: _Child) -> None:
        self._transport = transport
        self._child = child
        self.pid: int = transport.get_pid()
        stdin = transport.get_pipe_transport(0)
        assert isinstance(stdin, asyncio.WriteTransport)
        self._stdin = stdin
        self._ending: asyncio.Future[None] | None = None

    @classmethod
    async def start(
        cls,
        argv: Sequence[str],
        *,
        cwd: str,
        env: dict[str, str],
        preexec_fn: Callable[[], None] | None = None,
    ) -> Session:
        """``argv`` in a new session (its own process group, the group id its pid)."""
        loop = asyncio.get_running_loop()
        transport, child = await loop.subprocess_exec(
            lambda: _Child(loop),
            *argv,
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            cwd=cwd,
            env=env,
            start_new_session=True,
            preexec_fn=preexec_fn,
        )
        return cls(transport, child)

    async def serve(self, process: asyncssh.SSHServerProcess[Any]) -> int | None:
        """Copy the streams until the command ends (its status) or the channel closes (None)."""
        feed = asyncio.create_task(self._feed_stdin(process))
        closed = asyncio.create_task(process.channel.wait_closed())
        finished = asyncio.create_task(self._finish(process))
        try:
            await asyncio.wait({closed, finished}, return_when=asyncio.FIRST_COMPLETED)
        finally:
            for task in (feed, closed, finished):
                task.cancel()  # nothing for the done ones
            await asyncio.gather(feed, closed, finished, return_exceptions=True)
        if finished.cancelled():
            return None
        if isinstance(finished.exception(), (BrokenPipeError, ConnectionResetError, asyncssh.Error)):
            return None  # the channel went away while output was copied: like closed first
        return finished.result()

    def end(self, grace: float) -> asyncio.Future[None]:
        """TERM the command's process group, KILL what is left after ``grace`` seconds, wait
        for the command to be reaped, close its pipes. Every call shares one task."""
        if self._ending is None:
            self._ending = asyncio.ensure_future(self._end(grace))
        return self._ending

    async def _end(self, grace: float) -> None:
        """With the group's leader (the session's shell) known reaped, an empty group is seen
        from ``killpg`` alone, without walking /proc (a walk per closed session is quadratic
        when thousands of sessions close at once)."""
        loop = asyncio.get_running_loop()
        if signal_group(self.pid, signal.SIGTERM):
            deadline = loop.time() + grace
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(asyncio.shield(self._child.exited), grace)
            while loop.time() < deadline:
                if not group_alive(self.pid):
                    break
                await asyncio.sleep(0.02)
            else:
                signal_group(self.pid, signal.SIGKILL)
        await self._child.exited
        if not self._child.stdin_lost and (not self._stdin.is_closing() or self._stdin.get_write_buffer_size()):
            self._stdin.abort()  # what the command did not read is moot: no flush may hold the close
        self._transport.close()
        await self._child.closed

    async def _finish(self, process: asyncssh.SSHServerProcess[Any]) -> int:
        """Both output streams to their end (like sshd), then the shell's exit status."""
        await asyncio.gather(
            _copy_out(self._child.stdout, process.stdout), _copy_out(self._child.stderr, process.stderr)
        )
        return await self._child.exited

    async def _feed_stdin(self, process: asyncssh.SSHServerProcess[Any]) -> None:
        """Client stdin to the command; signals sent by the client go to its process group."""
        try:
            while True:
                try:
                    data = await process.stdin.read(CHUNK)
                except asyncssh.SignalReceived as exc:
                    sig = getattr(signal, f"SIG{exc.signal}", None)
                    if isinstance(sig, signal.Signals):
                        signal_group(self.pid, sig)
                    continue
                except (asyncssh.BreakReceived, asyncssh.TerminalSizeChanged):
                    continue
                if not data or self._child.stdin_lost or self._stdin.is_closing():
                    break
                self._stdin.write(data)
                await self._child.writable.wait()
        except (BrokenPipeError, ConnectionResetError, asyncssh.Error):
            pass
        finally:
            if not self._stdin.is_closing():
                self._stdin.close()


def signal_group(pgid: int, sig: signal.Signals) -> bool:
    """``sig`` to the process group; False when it has no process left (or is not ours)."""
    try:
        os.killpg(pgid, sig)
    except (ProcessLookupError, PermissionError):
        return False
    return True


def group_alive(pgid: int) -> bool:
    """Any member of the group still running (zombies waiting for their reaper don't count)."""
    try:
        os.killpg(pgid, 0)
    except ProcessLookupError:
        return False
    for entry in os.scandir("/proc"):
        if not entry.name.isdigit():
            continue
        try:
            stat = Path(entry.path, "stat").read_text()
        except OSError:
            continue
        fields = stat.rsplit(")", 1)[-1].split()
        if len(fields) > 2 and fields[2] == str(pgid) and fields[0] != "Z":
            return True
    return False


async def _copy_out(reader: asyncio.StreamReader, writer: asyncssh.SSHWriter[Any]) -> None:
    while data := await reader.read(CHUNK):
        writer.write(data)
        await writer.drain()
