"""``SimCluster``: every simulated server of a spec, started and stopped together.

It writes to its folder the client key, one host key per server, a ``known_hosts`` with each
server's key and an ``ssh_config`` with one Host entry per server, so that
``ssh -F DIR/ssh_config 127.0.0.11 hccn_tool -i 0 -ip -g`` works as on a real cluster.
"""

from __future__ import annotations

import asyncio
import errno
import getpass
import os
import socket
from pathlib import Path

import asyncssh

from console.core.errors import InputError
from console.sim import state
from console.sim.cpugroup import SessionGroup
from console.sim.server import SimHost
from console.sim.spec import ClusterSpec, ServerSpec


class SimCluster:
    """Async context manager running ``spec``'s servers on loopback, files in ``workdir``.

    ``port``: overrides ``spec.port``; 0 picks one free port shared by every server.
    """

    def __init__(
        self,
        spec: ClusterSpec,
        workdir: str | Path,
        *,
        port: int | None = None,
        session_nice: int = 0,
        separate_pids: bool = False,
    ) -> None:
        self.spec = spec
        self.session_nice = session_nice
        self.separate_pids = separate_pids
        """Each server its own process table (``console.sim.pidns``; root)."""
        self.workdir = Path(workdir).resolve()
        self.port = spec.port if port is None else port
        self.user = spec.user or getpass.getuser()
        self.ssh_config_path = self.workdir / "ssh_config"
        self.known_hosts_path = self.workdir / "known_hosts"
        self.client_key_path = self.workdir / "client_key"
        self.roots: dict[str, Path] = {}
        self._hosts: dict[str, SimHost] = {}
        self._host_keys: dict[str, asyncssh.SSHKey] = {}
        self.cpu_group: SessionGroup | None = None
        """With ``session_nice``: one CPU group for every session, where Linux allows (see
        ``console.sim.cpugroup``); None otherwise (``SessionGroup.why_not`` says why)."""

    @property
    def hosts(self) -> list[str]:
        """Every server's address, in spec order (refusing servers included)."""
        return [s.address for s in self.spec.servers]

    @property
    def names(self) -> dict[str, str]:
        """Address -> host name."""
        return {s.address: s.name for s in self.spec.servers}

    def root(self, host: str) -> Path:
        """The root folder (``$CLUSTER_CONSOLE_ROOT``) of the server at address or name."""
        return self.roots[self.spec.server(host).name]

    async def __aenter__(self) -> SimCluster:
        await self.start()
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.stop()

    async def start(self) -> None:
        self.workdir.mkdir(parents=True, exist_ok=True)
        client_key = _load_or_create(self.client_key_path)
        authorized = client_key.export_public_key("openssh").decode()
        self.roots = state.write_cluster(self.spec, self.workdir)
        self._host_keys = {s.name: _load_or_create(self.workdir / "hostkeys" / s.name) for s in self.spec.servers}
        if self.session_nice:
            self.cpu_group = SessionGroup.create(self.session_nice)
        try:
            await self._listen(authorized)
        except BaseException:
            await self.stop()
            raise
        self._write_known_hosts()
        self._write_ssh_config()

    async def stop(self) -> None:
        hosts, self._hosts = list(self._hosts.values()), {}
        await asyncio.gather(*(host.stop() for host in hosts))  # each may wait a grace period
        if self.cpu_group is not None:
            self.cpu_group.remove()
            self.cpu_group = None

    def cut(self, host: str) -> int:
        """Abort every open SSH connection of server ``host`` (address or name), like a
        network cut seen from the server: its sessions' process groups are killed. New
        connections are still accepted. Returns how many connections were cut."""
        address = self.spec.server(host).address
        sim_host = self._hosts.get(address)
        conns = list(sim_host.connections) if sim_host is not None else []
        for conn in conns:
            conn.abort()
        return len(conns)

    async def _listen(self, authorized: str) -> None:
        refused = {self.spec.server(f.server).name: f.mode for f in self.spec.dynamic_faults("refuse")}
        slow = {self.spec.server(f.server).name: f for f in self.spec.dynamic_faults("slow")}
        port = self.port
        if port == 0 and all(refused.get(s.name) == "refuse" for s in self.spec.servers):
            port = _free_port(self.spec.servers[0].address)
        for srv in self.spec.servers:
            if refused.get(srv.name) == "refuse":
                continue  # nothing listens: connections are refused
            fault = slow.get(srv.name)
            host = SimHost(
                srv.address,
                root=self.roots[srv.name],
                env=state.tool_env(self.roots[srv.name], srv),
                host_key=self._host_keys[srv.name],
                client_keys=authorized,
                delay=fault.delay if fault else 0.0,
                connect_delay=fault.connect_delay if fault else 0.0,
                close_at_once=refused.get(srv.name) == "close",
                session_nice=self.session_nice,
                cpu_group=self.cpu_group,
                separate_pids=self.separate_pids,
            )
            port = await _start_host(host, srv, port)
            self._hosts[srv.address] = host
        self.port = port

    def _write_known_hosts(self) -> None:
        lines = []
        for srv in self.spec.servers:
            pub = self._host_keys[srv.name].export_public_key("openssh").decode().strip()
            lines.append(f"[{srv.address}]:{self.port} {pub}")
        self.known_hosts_path.write_text("\n".join(lines) + "\n", encoding="utf-8")

    def _write_ssh_config(self) -> None:
        parts = [f"# Simulated cluster {self.spec.name!r} (cluster-console sim)\n"]
        for srv in self.spec.servers:
            parts.append(
                f"Host {srv.address} {srv.name}\n"
                f"    HostName {srv.address}\n"
                f"    Port {self.port}\n"
                f"    User {self.user}\n"
                f'    IdentityFile "{self.client_key_path}"\n'
                f"    IdentitiesOnly yes\n"
                f'    UserKnownHostsFile "{self.known_hosts_path}"\n'
                f"    StrictHostKeyChecking yes\n"
                f"    PasswordAuthentication no\n"
                f"    LogLevel ERROR\n\n"
            )
        self.ssh_config_path.write_text("".join(parts), encoding="utf-8")


async def _start_host(host: SimHost, srv: ServerSpec, port: int) -> int:
    try:
        return await host.start(port)
    except OSError as exc:
        where = f"{srv.address}:{port}"
        if exc.errno == errno.EADDRINUSE:
            raise InputError(
                "address already in use",
                f"cannot listen on {where}",
                host=srv.address,
                hint="stop the other listener or pick another --port / base address",
            ) from None
        if exc.errno == errno.EADDRNOTAVAIL:
            raise InputError(
                "address not available",
                f"cannot listen on {where}",
                host=srv.address,
                hint="this system only has 127.0.0.1 on loopback; use a spec with one server per port",
            ) from None
        raise InputError("cannot listen", f"{where}: {exc.strerror or exc}", host=srv.address) from None


def _free_port(address: str) -> int:
    with socket.socket() as sock:
        sock.bind((address, 0))
        return sock.getsockname()[1]


def _load_or_create(path: Path) -> asyncssh.SSHKey:
    """An ed25519 private key kept in ``path`` (0600), created on first use."""
    if path.exists():
        return asyncssh.read_private_key(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    key = asyncssh.generate_private_key("ssh-ed25519")
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "wb") as fh:
        fh.write(key.export_private_key())
    path.with_name(path.name + ".pub").write_bytes(key.export_public_key())
    return key
