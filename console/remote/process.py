"""What a remote command gives back: results, stream events, and live processes."""

from __future__ import annotations

import asyncio
import contextlib
import shlex
from collections import deque
from collections.abc import AsyncIterator
from contextlib import AsyncExitStack
from dataclasses import dataclass
from typing import Literal

import asyncssh

from console.core.errors import RemoteError
from console.core.lines import DEFAULT_LINE_LIMIT, LineCutter

from .errors import command_error

KILL_GRACE_S = 5.0
CLOSE_GRACE_S = 3.0
STDERR_KEEP = 10_000
STDERR_KEEP_CHARS = 1 << 20
READ_CHUNK = 65536


def quote_cmd(*argv: object) -> str:
    """One shell command line from arguments, each quoted with ``shlex.quote``."""
    return " ".join(shlex.quote(str(a)) for a in argv)


@dataclass(frozen=True)
class CommandResult:
    """A finished command. A non-zero exit is data, not an exception."""

    host: str
    command: str
    exit_status: int | None
    """None when the process died of a signal (see ``exit_signal``)."""
    stdout: str
    stderr: str
    duration_s: float
    exit_signal: str | None = None

    @property
    def ok(self) -> bool:
        return self.exit_status == 0


@dataclass(frozen=True)
class StreamLine:
    """One line (without its newline) of a streamed command."""

    stream: Literal["stdout", "stderr"]
    text: str


@dataclass(frozen=True)
class StreamExit:
    """The last event of a stream: the command's exit status (None if a signal killed it)."""

    exit_status: int | None
    exit_signal: str | None = None


def strip_eol(line: str) -> str:
    return line[:-1] if line.endswith("\n") else line


async def read_lines(reader: asyncssh.SSHReader, limit: int = DEFAULT_LINE_LIMIT) -> AsyncIterator[str]:
    """Lines without their newline until EOF, each at most ``limit`` characters (a longer
    one is cut and ends with a marker, see ``console.core.lines``): memory stays bounded
    whatever the server prints. (asyncssh's own iterator can also yield a spurious '' at
    EOF.)"""
    cutter: LineCutter[str] = LineCutter(limit)
    while True:
        chunk = await reader.read(READ_CHUNK)
        if not chunk:
            break
        for line in cutter.feed(chunk):
            yield line
    for line in cutter.end():
        yield line


def exit_info(proc: asyncssh.SSHClientProcess) -> tuple[int | None, str | None]:
    """(exit status, signal name): the status is None when a signal ended the command
    (asyncssh reports -1 then)."""
    if proc.exit_signal:
        return None, proc.exit_signal[0]
    return proc.exit_status, None


def exited(proc: asyncssh.SSHClientProcess) -> bool:
    return proc.exit_status is not None or proc.exit_signal is not None


async def kill(proc: asyncssh.SSHClientProcess) -> None:
    """Kill the remote process group (sshd's ``signal`` request = killpg) and close."""
    if not exited(proc):
        with contextlib.suppress(Exception):
            proc.send_signal("KILL")
    proc.close()
    with contextlib.suppress(Exception):
        await asyncio.wait_for(proc.wait_closed(), KILL_GRACE_S)


def timeout_error(host: str, command: str, timeout: float) -> RemoteError:
    return RemoteError(
        f"command timed out after {timeout:g}s",
        "the remote process was killed",
        host=host,
        command=command,
        hint="raise --command-timeout, or look for a hung tool on that server",
    )


class RemoteProcess:
    """A running remote command with a bidirectional text channel (the launch host agent).

    Use as ``async with await pool.open_process(...) as p:``, or call ``close()``: the
    channel slot of the connection is held until then. Iterating the object yields stdout
    lines without their newline, each at most ``line_limit`` characters (read them: unread
    stdout stalls the channel). stderr is drained in the background so it can never stall
    stdout; ``stderr`` yields its lines (the last STDERR_KEEP lines, at most
    STDERR_KEEP_CHARS characters, are kept while nobody reads).
    """

    def __init__(
        self,
        host: str,
        command: str,
        proc: asyncssh.SSHClientProcess,
        stack: AsyncExitStack,
        line_limit: int = DEFAULT_LINE_LIMIT,
    ) -> None:
        self.host = host
        self.command = command
        self.line_limit = line_limit
        self._proc = proc
        self._stack = stack
        self._err: deque[str] = deque(maxlen=STDERR_KEEP)
        self._err_chars = 0
        self._err_event = asyncio.Event()
        self._err_done = False
        self._err_task = asyncio.create_task(self._drain_stderr())

    def write(self, text: str) -> None:
        try:
            self._proc.stdin.write(text)
        except (asyncssh.Error, OSError, BrokenPipeError) as exc:
            raise command_error(exc, self.host, self.command) from None

    async def drain(self) -> None:
        try:
            await self._proc.stdin.drain()
        except (asyncssh.Error, OSError, BrokenPipeError) as exc:
            raise command_error(exc, self.host, self.command) from None

    def write_eof(self) -> None:
        with contextlib.suppress(asyncssh.Error, OSError, BrokenPipeError):
            self._proc.stdin.write_eof()

    def __aiter__(self) -> AsyncIterator[str]:
        return self._stdout_lines()

    async def _stdout_lines(self) -> AsyncIterator[str]:
        try:
            async for line in read_lines(self._proc.stdout, self.line_limit):
                yield line
        except (asyncssh.Error, OSError) as exc:
            raise command_error(exc, self.host, self.command) from None

    async def _drain_stderr(self) -> None:
        try:
            async for line in read_lines(self._proc.stderr, self.line_limit):
                if len(self._err) == self._err.maxlen:
                    self._err_chars -= len(self._err[0])
                self._err.append(line)
                self._err_chars += len(line)
                while self._err_chars > STDERR_KEEP_CHARS and len(self._err) > 1:
                    self._err_chars -= len(self._err.popleft())
                self._err_event.set()
        except (asyncssh.Error, OSError):
            pass
        finally:
            self._err_done = True
            self._err_event.set()

    @property
    def stderr(self) -> AsyncIterator[str]:
        return self._stderr_lines()

    async def _stderr_lines(self) -> AsyncIterator[str]:
        while True:
            while self._err:
                line = self._err.popleft()
                self._err_chars -= len(line)
                yield line
            if self._err_done:
                return
            self._err_event.clear()
            await self._err_event.wait()

    @property
    def exit_status(self) -> int | None:
        return exit_info(self._proc)[0]

    async def wait(self, timeout: float | None = None) -> int | None:
        """Wait for the remote command to exit; its status (None if killed by a signal)."""
        try:
            await asyncio.wait_for(self._proc.wait_closed(), timeout)
        except TimeoutError:
            raise timeout_error(self.host, self.command, timeout or 0) from None
        except (asyncssh.Error, OSError) as exc:
            raise command_error(exc, self.host, self.command) from None
        return exit_info(self._proc)[0]

    def terminate(self) -> None:
        """Send SIGTERM to the remote process group."""
        if not exited(self._proc):
            with contextlib.suppress(Exception):
                self._proc.send_signal("TERM")

    async def close(self, grace: float = CLOSE_GRACE_S) -> None:
        """End the command politely, then firmly; close the channel, free the slot.

        stdin is closed (the host agent tears its ranks down on EOF) and the command gets
        ``grace`` seconds to exit, then SIGTERM and ``grace`` more, then SIGKILL.
        """
        try:
            if not exited(self._proc) and not self._proc.is_closing():
                self.write_eof()
                if not await self._exited_within(grace):
                    self.terminate()
                    await self._exited_within(grace)
        finally:
            self._err_task.cancel()
            await self._stack.aclose()

    async def _exited_within(self, seconds: float) -> bool:
        with contextlib.suppress(asyncio.TimeoutError, asyncssh.Error, OSError):
            await asyncio.wait_for(self._proc.wait_closed(), seconds)
        return exited(self._proc)

    async def __aenter__(self) -> RemoteProcess:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.close()
