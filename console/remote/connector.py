"""How the pool makes one SSH connection (design §3): ssh_config resolved once per target in
the pool's own threads, the host key checked against known_hosts, at most ``max_handshakes``
handshakes at once, and a connection dropped before its handshake completed (sshd's
MaxStartups) retried with backoff. Reuse, ProxyJump chains and channels are ``Pool``'s.
"""

from __future__ import annotations

import asyncio
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from functools import partial

import asyncssh

from console.core.errors import RemoteError

from .connectargs import connect_kwargs
from .errors import connect_error, proxy_exited
from .hostkeys import HostKeyCheck, HostKeyPolicy
from .options import HostSpec, SSHOptions, client_keys, resolve

CONNECT_RETRY_S = (0.1, 0.3, 0.9)
RESOLVE_THREADS = 4
"""Threads resolving ssh_config at once, per pool (their own: see ``Connector.resolve``)."""


@dataclass
class Conn:
    """One open connection of the pool and its channel slots."""

    spec: HostSpec
    conn: asyncssh.SSHClientConnection
    channels: asyncio.Semaphore
    peer: str | None = None


class Connector:
    """Resolves targets and opens connections for one ``Pool``; ``close()`` with the pool."""

    def __init__(self, options: SSHOptions) -> None:
        self.options = options
        self._handshakes = asyncio.Semaphore(options.max_handshakes)
        self._policy = HostKeyPolicy(options.accept_new)
        self._resolver = ThreadPoolExecutor(RESOLVE_THREADS, thread_name_prefix="ssh-config")
        self._specs: dict[tuple[str, bool, bool], asyncio.Future[HostSpec]] = {}

    def close(self) -> None:
        self._resolver.shutdown(wait=False, cancel_futures=True)

    async def resolve(self, target: str, ignore_jump: bool, jump_host: bool) -> HostSpec:
        """``options.resolve`` for ``target``, once per pool.

        In the pool's own few threads: resolving reads ssh_config files and may run ``Match
        exec`` commands or look names up (CanonicalizeHostname), none of which may stall the
        event loop (the TUI's), nor, at 1,024 slow hosts, take every thread of the loop's
        default executor from its other users. The result is kept for the pool's life (a
        reconnect reuses it; concurrent callers share one resolution): OpenSSH resolves on
        every invocation, so a ``Match exec`` whose answer changes is seen by the next pool
        (the next CLI command, the next TUI session: the TUI shares one pool), not within one.
        A failure is not kept."""
        key = (target, ignore_jump, jump_host)
        spec = self._specs.get(key)
        if spec is None:
            work = partial(resolve, self.options, target, ignore_jump=ignore_jump, jump_host=jump_host)
            spec = asyncio.get_running_loop().run_in_executor(self._resolver, work)
            self._specs[key] = spec
            spec.add_done_callback(partial(self._resolved, key))
        return await asyncio.shield(spec)

    def _resolved(self, key: tuple[str, bool, bool], done: asyncio.Future[HostSpec]) -> None:
        failed = done.cancelled() or done.exception() is not None
        if failed and self._specs.get(key) is done:
            del self._specs[key]

    async def connect(self, spec: HostSpec, target: str, via: Conn | None) -> Conn:
        """A new connection to ``spec`` (through ``via``, a jump host), its host key recorded
        for ``target`` as accepted."""
        check, conn = await self._handshake(spec, via)
        try:
            await self._policy.record(check, target)
        except RemoteError:
            conn.close()
            raise
        return Conn(spec, conn, asyncio.Semaphore(self.options.max_channels))

    async def _handshake(self, spec: HostSpec, via: Conn | None):
        """Connect under the handshake limit. A connection reset before the handshake
        completed (sshd's MaxStartups dropping us) is retried with backoff."""
        delays = iter(CONNECT_RETRY_S)
        while True:
            check = await self._policy.new_check(
                spec.known_hosts,
                spec.global_known_hosts,
                strict=spec.strict,
                alias=spec.host_key_alias,
                hash_names=spec.hash_known_hosts,
            )
            async with self._handshakes:
                try:
                    return check, await asyncssh.connect(**self._connect_args(spec, via, check))
                except asyncio.CancelledError:
                    raise
                except Exception as exc:
                    dropped = isinstance(exc, (ConnectionResetError, asyncssh.ConnectionLost))
                    delay = next(delays, None) if dropped and not proxy_exited(check) else None
                    if delay is None:
                        raise connect_error(exc, spec, check, self.options.connect_timeout) from None
                finally:
                    if check.proxy is not None:
                        check.proxy.close()
            await asyncio.sleep(delay)

    def _connect_args(self, spec: HostSpec, via: Conn | None, check: HostKeyCheck) -> dict:
        return connect_kwargs(
            spec,
            self.options,
            via.conn if via is not None else None,
            check,
            self._policy.client_factory(check),
            client_keys(spec.identities),
        )
