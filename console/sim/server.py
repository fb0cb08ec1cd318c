"""One simulated server: an asyncssh server on its own loopback address.

``exec`` requests run through a real local shell (``/bin/sh -c CMD`` in its own process
group; with ``session_nice`` N at niceness N: see ``cluster-console sim --session-nice``),
stdin/stdout/stderr piped through
and the exit status returned; when the channel closes first (client timeout, lost
connection) the whole process group is killed (``console.sim.session``; every session's
command is reaped and its pipes closed, whichever way it ends, before ``stop`` returns).
SFTP serves the real file system with relative paths under the server's home. Only
public-key auth with the sim's client key.

The command's environment is what a real sshd gives a non-interactive session
(``login_env``: HOME, USER, LOGNAME, SHELL, a system PATH) plus what the simulated server
itself needs (its tools' folders first on PATH, ``CLUSTER_CONSOLE_ROOT``, ...) -- never the
environment of the process running the sim (its PATH, virtualenv, PYTHONPATH,
PYTHONUNBUFFERED...), so that what runs on the sim sees what it would see on a real server.
"""

from __future__ import annotations

import asyncio
import getpass
import ipaddress
import os
import posixpath
import pwd
import signal
from collections.abc import Callable, Mapping
from functools import partial
from pathlib import Path
from typing import Any

import asyncssh

from console.core.errors import InputError
from console.sim.cpugroup import SessionGroup
from console.sim.pidns import ProcessTable
from console.sim.session import Session

KILL_GRACE_S = 2.0
SYSTEM_PATH = "/usr/local/bin:/usr/bin:/bin"
"""OpenSSH's default PATH for a non-root user's session (``_PATH_STDPATH``)."""


class _HomeSFTPServer(asyncssh.SFTPServer):
    """The real file system, with relative paths resolved in the server's home."""

    def __init__(self, chan: asyncssh.SSHServerChannel, home: str) -> None:
        super().__init__(chan)
        self._home = os.fsencode(home)

    def map_path(self, path: bytes) -> bytes:
        return path if path.startswith(b"/") else posixpath.join(self._home, path)

    def exit(self) -> None:
        """Like sshd's sftp-server, report exit status 0: OpenSSH's ``scp`` (SFTP mode) fails
        without one although every file was copied."""
        try:
            self.channel.exit(0)
        except (OSError, asyncssh.Error):
            pass


class _Connection(asyncssh.SSHServer):
    def __init__(self, host: SimHost) -> None:
        self._host = host
        self._conn: asyncssh.SSHServerConnection | None = None

    def connection_made(self, conn: asyncssh.SSHServerConnection) -> None:
        self._conn = conn
        self._host.connections.add(conn)
        if self._host.close_at_once:
            asyncio.get_running_loop().call_soon(conn.abort)

    def connection_lost(self, exc: Exception | None) -> None:
        self._host.connections.discard(self._conn)

    async def begin_auth(self, username: str) -> bool:
        if self._host.connect_delay:
            await asyncio.sleep(self._host.connect_delay)
        return True

    def password_auth_supported(self) -> bool:
        return False

    def connection_requested(self, dest_host: str, dest_port: int, orig_host: str, orig_port: int) -> bool:
        """``ssh -L`` (direct-tcpip), as sshd's ``AllowTcpForwarding yes``, to loopback
        destinations only (the simulated servers' services listen there)."""
        return _loopback(dest_host)


def _loopback(host: str) -> bool:
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return host == "localhost"


class SimHost:
    """The SSH side of one simulated server (see ``SimCluster`` for the whole cluster)."""

    def __init__(
        self,
        address: str,
        *,
        root: Path,
        env: Mapping[str, str],
        host_key: asyncssh.SSHKey,
        client_keys: str,
        delay: float = 0.0,
        connect_delay: float = 0.0,
        close_at_once: bool = False,
        session_nice: int = 0,
        cpu_group: SessionGroup | None = None,
        separate_pids: bool = False,
    ) -> None:
        self.address = address
        self.session_nice = session_nice
        self.cpu_group = cpu_group
        self.separate_pids = separate_pids
        self._table: ProcessTable | None = None
        self.root = root
        self.home = env.get("HOME", str(root))
        self._env = {**login_env(self.home), **env}
        self._host_key = host_key
        self._client_keys = asyncssh.import_authorized_keys(client_keys)
        self.delay = delay
        self.connect_delay = connect_delay
        self.close_at_once = close_at_once
        self.connections: set[asyncssh.SSHServerConnection] = set()
        self._sessions: set[Session] = set()
        self._stopped = False
        self._acceptor: asyncssh.SSHAcceptor | None = None

    async def start(self, port: int) -> int:
        """Listen on (address, port); returns the bound port (``port=0`` picks a free one).
        With ``separate_pids``, the server's own process table first (``console.sim.pidns``)."""
        if self.separate_pids and self._table is None:
            try:
                self._table = ProcessTable.start(self.home, self._preexec(), self.cpu_group)
            except OSError as exc:
                raise InputError(
                    "cannot give the simulated server its own process table",
                    str(exc),
                    host=self.address,
                    hint="--separate-pids needs root, and unshare/nsenter from util-linux",
                ) from None
        try:
            self._acceptor = await asyncssh.listen(
                self.address,
                port,
                server_factory=lambda: _Connection(self),
                server_host_keys=[self._host_key],
                authorized_client_keys=self._client_keys,
                process_factory=self._session,
                sftp_factory=self._sftp,
                allow_scp=True,
                encoding=None,
                reuse_address=True,
                config=None,
            )
        except BaseException:
            if self._table is not None:
                await self._table.aclose()
                self._table = None
            raise
        return self._acceptor.get_port()

    async def stop(self) -> None:
        """Stop listening, cut every connection, and end every session: its process group
        killed, its shell reaped and its pipes closed before this returns."""
        self._stopped = True
        if self._acceptor is not None:
            self._acceptor.close()
            await self._acceptor.wait_closed()
            self._acceptor = None
        for conn in list(self.connections):
            conn.abort()
        await asyncio.gather(*(s.end(KILL_GRACE_S) for s in list(self._sessions)))
        if self._table is not None:
            await self._table.aclose()
            self._table = None

    def _preexec(self) -> Callable[[], None] | None:
        return partial(lower_priority, self.session_nice) if self.session_nice else None

    def _sftp(self, chan: asyncssh.SSHServerChannel) -> asyncssh.SFTPServer:
        return _HomeSFTPServer(chan, self.home)

    async def _session(self, process: asyncssh.SSHServerProcess) -> None:
        if self.delay:
            await asyncio.sleep(self.delay)
        if self._stopped:
            return  # the connection was aborted while the session waited
        command = process.command
        argv = ["/bin/sh", "-c", command] if command is not None else ["/bin/sh", "-i"]
        if self._table is not None:
            argv = self._table.wrap(argv)
        if self.cpu_group is not None:
            argv = self.cpu_group.wrap(argv)
        try:
            session = await Session.start(
                argv, cwd=self.home, env={**self._env, **_client_env(process.env)}, preexec_fn=self._preexec()
            )
        except OSError as exc:
            process.stderr.write(f"sim: cannot start shell: {exc}\n".encode())
            process.exit(127)
            return
        self._sessions.add(session)
        try:
            status = await session.serve(process)
        finally:
            # the group is killed and the shell reaped on every path; if this task is cancelled
            # meanwhile, the ending goes on and ``stop`` waits for it
            ending = session.end(KILL_GRACE_S)
            ending.add_done_callback(lambda _: self._sessions.discard(session))
            await asyncio.shield(ending)
        if status is None:
            return  # the channel closed first: nobody to report to
        if status < 0:
            process.exit_with_signal(signal.Signals(-status).name.removeprefix("SIG"))
        else:
            process.exit(status)


def lower_priority(nice: int) -> None:
    """In the session's first process, after its ``setsid``: niceness ``nice`` for it and
    for its session's scheduling group (Linux autogroup: with it, a process's niceness only
    counts against its own session's processes, and every session weighs the same). In the
    sim's CPU group (``console.sim.cpugroup``, joined by the command itself) autogroup no
    longer applies: the niceness counts within the group."""
    os.setpriority(os.PRIO_PROCESS, 0, nice)
    try:
        with open("/proc/self/autogroup", "w") as fh:
            fh.write(str(nice))
    except OSError:
        pass  # no autogroup in this kernel: the niceness alone


def login_env(home: str) -> dict[str, str]:
    """What sshd puts in a session's environment before the command runs (no login shell
    profile: a non-interactive ``ssh host CMD`` does not read one): the user's identity, its
    login shell and the system PATH."""
    user = getpass.getuser()
    try:
        shell = pwd.getpwuid(os.getuid()).pw_shell or "/bin/sh"
    except KeyError:
        shell = "/bin/sh"
    return {"HOME": home, "USER": user, "LOGNAME": user, "SHELL": shell, "PATH": SYSTEM_PATH}


def _client_env(env: Mapping[Any, Any]) -> dict[str, str]:
    out = {}
    for key, value in env.items():
        k = key.decode() if isinstance(key, bytes) else str(key)
        v = value.decode() if isinstance(value, bytes) else str(value)
        out[k] = v
    return out
