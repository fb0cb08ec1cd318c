"""The connection pool: one SSH connection per server, opened once and reused (design §3).

Limits: at most ``max_handshakes`` connections being set up at once, at most
``max_channels`` channels (commands, SFTP sessions) open per connection. Concurrent
callers for a server share one pending connect. A connection that died (keepalive,
server restart) is replaced on next use. Every failure is a ``RemoteError`` naming the host.
"""

from __future__ import annotations

import asyncio
import contextlib
import ipaddress
import os
import shutil
import tempfile
import time
from collections.abc import AsyncIterator
from contextlib import AsyncExitStack, asynccontextmanager
from functools import partial

import asyncssh

from console.core.errors import OutputTooLarge, RemoteError
from console.core.lines import DEFAULT_LINE_LIMIT

from . import sftpput
from .budget import OutputBudget
from .collect import TooLarge, collect, pump
from .connector import Conn, Connector
from .errors import command_error
from .options import HostSpec, SSHOptions
from .process import (
    KILL_GRACE_S,
    CommandResult,
    RemoteProcess,
    StreamExit,
    StreamLine,
    exit_info,
    kill,
    timeout_error,
)

MAX_JUMP_DEPTH = 4
STREAM_QUEUE = 64
"""Lines (each at most DEFAULT_LINE_LIMIT characters) waiting for a slow ``stream`` reader."""
CHANNEL_RETRY_S = (0.05, 0.1, 0.2, 0.4, 0.8)


class Pool:
    """SSH connections to many servers. Use ``async with Pool(options) as pool:``.

    ``host`` arguments are targets as the user wrote them (``node1``, ``user@10.0.0.5:2222``,
    an ssh_config alias); each distinct target string is one connection.
    ``timeout=None`` means ``options.command_timeout``; ``timeout=0`` means no limit.
    On timeout the remote process group is killed and ``RemoteError`` is raised.
    """

    def __init__(self, options: SSHOptions | None = None) -> None:
        self.options = options if options is not None else SSHOptions()
        self._conns: dict[str, Conn] = {}
        self._pending: dict[str, asyncio.Task[Conn]] = {}
        self._connector = Connector(self.options)
        self.output_budget = OutputBudget(self.options.output_budget)
        """Bytes of output all running commands keep together (``options.output_budget``)."""

    async def __aenter__(self) -> Pool:
        self.options.check_files()
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.close()

    async def close(self) -> None:
        """Close every connection (jump hosts last)."""
        pending = list(self._pending.values())
        for task in pending:
            task.cancel()
        await asyncio.gather(*pending, return_exceptions=True)
        conns = list(self._conns.values())[::-1]
        self._conns.clear()
        for entry in conns:
            entry.conn.close()
        for entry in conns:
            with contextlib.suppress(Exception):
                await asyncio.wait_for(entry.conn.wait_closed(), 5)
        self._connector.close()

    # ---- connections -------------------------------------------------------------------

    async def connect(self, host: str) -> None:
        """Open (or reuse) the connection to ``host`` now; RemoteError if it cannot."""
        await self._get(host, host)

    async def _get(self, key: str, target: str, via: Conn | None = None, depth: int = 0) -> Conn:
        entry = self._conns.get(key)
        if entry is not None and not entry.conn.is_closed():
            return entry
        task = self._pending.get(key)
        if task is None:
            task = asyncio.create_task(self._open(target, via, depth))
            self._pending[key] = task
            task.add_done_callback(partial(self._opened, key))
        return await asyncio.shield(task)

    def _opened(self, key: str, task: asyncio.Task[Conn]) -> None:
        if self._pending.get(key) is task:
            del self._pending[key]
        if not task.cancelled() and task.exception() is None:
            self._conns[key] = task.result()

    async def _open(self, target: str, via: Conn | None, depth: int) -> Conn:
        spec = await self._connector.resolve(target, via is not None, depth > 0)
        if spec.proxy_jump:
            via = await self._jump(spec, depth)
        return await self._connector.connect(spec, target, via)

    async def _jump(self, spec: HostSpec, depth: int) -> Conn:
        """Open the ProxyJump chain ``a,b,...`` (each hop through the previous one)."""
        if depth >= MAX_JUMP_DEPTH:
            raise RemoteError(
                "ProxyJump chain too deep (a loop in ssh_config?)", f"ProxyJump {spec.proxy_jump}", host=spec.target
            )
        prev: Conn | None = None
        key = ""
        for hop in (h.strip() for h in (spec.proxy_jump or "").split(",")):
            key = f"{key}>{hop}" if key else hop
            try:
                prev = await self._get(key, hop, prev, depth + 1)
            except RemoteError as exc:
                raise RemoteError(
                    exc.title, f"jump host {hop}: {exc.detail}", host=spec.target, path=exc.path, hint=exc.hint
                ) from None
        assert prev is not None
        return prev

    @asynccontextmanager
    async def _process(
        self, host: str, command: str, *, binary: bool = False
    ) -> AsyncIterator[asyncssh.SSHClientProcess]:
        """A remote process holding one channel slot; killed if still running on exit.
        Text streams (UTF-8, bad bytes replaced) unless ``binary``."""
        text: dict = {"encoding": None} if binary else {"encoding": "utf-8", "errors": "replace"}
        entry, proc = await self._start(
            host,
            command,
            partial(asyncssh.SSHClientConnection.create_process, command=command, **text),
        )
        try:
            yield proc
        finally:
            try:
                await kill(proc)
            finally:
                entry.channels.release()

    async def _start(self, host: str, command: str, opener):
        """Take a channel slot and open a channel with ``opener(conn)``.

        A dead pooled connection (server restarted, network cut) is replaced once: the
        command never ran. A refused channel (sshd frees a session slot a moment after the
        channel closed, so MaxSessions can lag behind) is retried with backoff.
        """
        delays = iter(CHANNEL_RETRY_S)
        reconnected = False
        while True:
            entry = await self._get(host, host)
            await entry.channels.acquire()
            try:
                return entry, await opener(entry.conn)
            except (asyncssh.Error, OSError) as exc:
                entry.channels.release()
                if entry.conn.is_closed() and not reconnected:
                    reconnected = True
                    continue
                refused = isinstance(exc, asyncssh.ChannelOpenError) and not entry.conn.is_closed()
                delay = next(delays, None) if refused else None
                if delay is None:
                    raise command_error(exc, host, command) from None
                await asyncio.sleep(delay)
            except BaseException:
                entry.channels.release()
                raise

    def _limit(self, timeout: float | None) -> float | None:
        if timeout is None:
            return self.options.command_timeout
        return None if timeout == 0 else timeout

    # ---- commands ----------------------------------------------------------------------

    async def run(
        self, host: str, command: str, *, timeout: float | None = None, input: str | None = None
    ) -> CommandResult:
        """Run ``command`` (a shell line: build it with ``quote_cmd``) and collect output.

        A non-zero exit is a result, not an error. stdin gets ``input`` then EOF. Output is
        counted in bytes as received: past ``options.output_limit`` bytes, or when the pool's
        ``options.output_budget`` is used up and this command holds the most (see
        ``budget``), the command is ended: ``OutputTooLarge``. Text is decoded as UTF-8 (bad
        bytes replaced) once complete.
        """
        limit = self._limit(timeout)
        start = time.monotonic()
        async with self._process(host, command, binary=True) as proc:
            share = self.output_budget.open()
            try:
                if input:
                    proc.stdin.write(input.encode("utf-8"))
                proc.stdin.write_eof()
                out, err = await asyncio.wait_for(collect(proc, self.options.output_limit, share), limit)
            except TimeoutError:
                await kill(proc)
                raise timeout_error(host, command, limit or 0) from None
            except TooLarge as exc:
                await kill(proc)
                raise OutputTooLarge(
                    "output too large",
                    f"{exc}; the command was ended",
                    host=host,
                    command=command,
                    hint="run it by hand to see why it prints so much; --output-limit MIB lets it print more"
                    if share.ended is None
                    else "--output-budget MIB (default 256) lets all commands hold more at once; "
                    "or run it on fewer servers at once",
                ) from None
            except (asyncssh.Error, OSError) as exc:
                raise command_error(exc, host, command) from None
            finally:
                share.release()
        status, signal = exit_info(proc)
        return CommandResult(
            host=host,
            command=command,
            exit_status=status,
            stdout=out.decode("utf-8", "replace"),
            stderr=err.decode("utf-8", "replace"),
            duration_s=time.monotonic() - start,
            exit_signal=signal,
        )

    async def stream(
        self, host: str, command: str, *, timeout: float | None = None
    ) -> AsyncIterator[StreamLine | StreamExit]:
        """Lines of stdout and stderr as they come, then one ``StreamExit``.

        Close the generator early (``contextlib.aclosing``) to kill the command. Lines read but
        not yet taken by the caller count in the pool's ``options.output_budget`` (lines taken
        do not): when it is used up and this stream holds the most, the command is ended and
        the next read raises ``OutputTooLarge``.
        """
        limit = self._limit(timeout)
        loop = asyncio.get_running_loop()
        deadline = None if limit is None else loop.time() + limit
        left = (lambda: None) if deadline is None else (lambda: max(0.0, deadline - loop.time()))
        async with self._process(host, command) as proc:
            proc.stdin.write_eof()
            queue: asyncio.Queue = asyncio.Queue(STREAM_QUEUE)
            share = self.output_budget.open()
            pumps = [
                asyncio.create_task(pump(proc.stdout, "stdout", queue, share)),
                asyncio.create_task(pump(proc.stderr, "stderr", queue, share)),
            ]

            def evicted() -> None:  # the budget ended this stream: drop what it kept, say so
                for task in pumps:
                    task.cancel()
                while not queue.empty():
                    queue.get_nowait()
                queue.put_nowait(share)

            share.on_evict = evicted
            try:
                done = 0
                while done < len(pumps):
                    item = await asyncio.wait_for(queue.get(), left())
                    if item is None:
                        done += 1
                    elif item is share:
                        await kill(proc)
                        raise OutputTooLarge(
                            "output too large",
                            f"{share.ended}; the command was ended",
                            host=host,
                            command=command,
                            hint="--output-budget MIB (default 256) lets all commands hold more at once; "
                            "or run it on fewer servers at once",
                        )
                    elif isinstance(item, BaseException):
                        raise command_error(item, host, command)
                    else:
                        share.give(len(item.text) + 1)
                        yield item
                await asyncio.wait_for(proc.wait_closed(), left())
                yield StreamExit(*exit_info(proc))
            except TimeoutError:
                await kill(proc)
                raise timeout_error(host, command, limit or 0) from None
            finally:
                for task in pumps:
                    task.cancel()
                share.release()

    async def open_process(self, host: str, command: str, *, line_limit: int = DEFAULT_LINE_LIMIT) -> RemoteProcess:
        """Start ``command`` with stdin/stdout/stderr open (no timeout); see RemoteProcess.
        Lines longer than ``line_limit`` characters are cut (``console.core.lines``)."""
        stack = AsyncExitStack()
        proc = await stack.enter_async_context(self._process(host, command))
        return RemoteProcess(host, command, proc, stack, line_limit)

    async def put_file(self, host: str, data: bytes, remote_path: str, *, mode: int = 0o640) -> None:
        """Upload atomically where no other local user can redirect or replace it: the login's
        uid (``id -u``), then the folder's path and an existing file there are checked, then a
        temp file created exclusively in the same folder, chmod, posix-rename (``sftpput``).
        ``CheckFailed`` when refused: nothing was created."""
        await sftpput.put_file(self, host, data, remote_path, mode=mode)

    @asynccontextmanager
    async def sftp(self, host: str, command: str, timeout: float | None) -> AsyncIterator[asyncssh.SFTPClient]:
        """An SFTP session holding one channel slot, opened within ``timeout`` seconds
        (``command`` names it in errors); closed on exit."""
        entry, sftp = await asyncio.wait_for(
            self._start(host, command, asyncssh.SSHClientConnection.start_sftp_client), timeout
        )
        try:
            yield sftp
        finally:
            sftp.exit()
            with contextlib.suppress(Exception):
                await asyncio.wait_for(sftp.wait_closed(), KILL_GRACE_S)
            entry.channels.release()

    @asynccontextmanager
    async def forward_socket(self, host: str, dest_host: str, dest_port: int) -> AsyncIterator[str]:
        """``ssh -L SOCKET:dest_host:dest_port``: a Unix socket (its path yielded) in a fresh
        private folder (``tempfile.mkdtemp``: mode 0700, random name) whose connections ``host``
        opens to ``dest_host:dest_port``; closed and removed on exit. No TCP port is opened, so
        no other local user can reach the service through it. A refused forward shows when a
        connection is made (the server closes it at once)."""
        entry = await self._get(host, host)
        folder = tempfile.mkdtemp(prefix="cc-fwd-")
        path = os.path.join(folder, "s")
        command = f"ssh -L {path}:{dest_host}:{dest_port} {host}"
        try:
            try:
                listener = await entry.conn.forward_local_path_to_port(path, dest_host, dest_port)
            except (asyncssh.Error, OSError) as exc:
                raise command_error(exc, host, command) from None
            try:
                yield path
            finally:
                listener.close()
                with contextlib.suppress(Exception):
                    await asyncio.wait_for(listener.wait_closed(), KILL_GRACE_S)
        finally:
            shutil.rmtree(folder, ignore_errors=True)

    async def peer_address(self, host: str) -> str:
        """The IP address actually reached (the server_id), also through a ProxyJump."""
        entry = await self._get(host, host)
        if entry.peer is None:
            peer = entry.conn.get_extra_info("peername") or ("",)
            entry.peer = _ip(str(peer[0])) or await self._ssh_connection_addr(host)
        return entry.peer

    async def _ssh_connection_addr(self, host: str) -> str:
        result = await self.run(host, 'echo "$SSH_CONNECTION"')
        fields = result.stdout.split()
        addr = _ip(fields[2]) if len(fields) >= 3 else None
        if addr is None:
            raise RemoteError(
                "cannot tell the server's address",
                f"SSH_CONNECTION is '{result.stdout.strip()}'",
                host=host,
                command=result.command,
            )
        return addr


def _ip(text: str) -> str | None:
    try:
        return str(ipaddress.ip_address(text))
    except ValueError:
        return None
