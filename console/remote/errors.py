"""Turn asyncssh / socket exceptions into ONE RemoteError naming host, command and cause.

Messages never contain key material or passwords: only file names, fingerprints, and the
library's own short reason.
"""

from __future__ import annotations

import asyncio
import socket

import asyncssh

from console.core.errors import RemoteError

from .hostkeys import HostKeyCheck
from .options import HostSpec


def connect_error(exc: BaseException, spec: HostSpec, check: HostKeyCheck | None, timeout: float) -> RemoteError:
    """The RemoteError for a failed connect to ``spec``."""
    host, where = spec.target, f"{spec.user}@{spec.hostname}:{spec.port}"
    if spec.proxy_jump:
        where += f" via ProxyJump {spec.proxy_jump}"
    elif spec.proxy_command:
        where += " via ProxyCommand"
    if isinstance(exc, RemoteError):
        return exc
    proxy = check.proxy if check is not None else None
    failed = proxy.failure() if proxy is not None else None
    if failed is not None:
        status, stderr = failed
        ended = (
            f"the proxy command exited with status {status}"
            if status
            else "the proxy command ended (status 0) before SSH was set up"
        )
        return RemoteError(
            "ProxyCommand failed",
            f"{where}: {ended}" + (f": {stderr}" if stderr else " (no stderr)"),
            host=host,
            command=proxy.command if proxy is not None else None,
            hint="check ProxyCommand in ssh_config (run it by hand with the host and port filled in)",
        )
    if check is not None and isinstance(exc, (asyncssh.HostKeyNotVerifiable, asyncssh.KeyExchangeFailed)):
        refused = check.error(host, spec.hostname, spec.port)
        if refused is not None:
            return refused
    for types, title, hint in _CONNECT_CAUSES:
        if isinstance(exc, types):
            return RemoteError(
                title, f"{where}: {_reason(exc)}", host=host, hint=hint.format(spec=spec, timeout=timeout)
            )
    return RemoteError("SSH connection failed", f"{where}: {_reason(exc)}", host=host)


def proxy_exited(check: HostKeyCheck | None) -> bool:
    """The attempt's ProxyCommand has exited (then a dropped connection is not retried)."""
    return check is not None and check.proxy is not None and check.proxy.failure() is not None


_CONNECT_CAUSES: list[tuple[tuple[type[BaseException], ...], str, str]] = [
    (
        (asyncssh.PermissionDenied,),
        "authentication failed",
        "check the user (-l or User in ssh_config), the key (-i, IdentityFile, ssh-agent; "
        "encrypted keys must be in ssh-agent) and the server's authorized_keys",
    ),
    (
        (asyncio.TimeoutError, TimeoutError),
        "connect timed out",
        "no SSH answer within {timeout:g}s: check the address, firewall, or raise --connect-timeout",
    ),
    (
        (ConnectionRefusedError,),
        "connection refused",
        "nothing listens on port {spec.port}: is sshd running, is the port right (-p, Port)?",
    ),
    ((socket.gaierror,), "cannot resolve host name", "check the name, /etc/hosts, or HostName in ssh_config"),
    (
        (ConnectionResetError, asyncssh.ConnectionLost),
        "server dropped the connection",
        "it accepted, then closed before SSH was set up (even after retries): sshd's MaxStartups, "
        "tcp wrappers or a firewall",
    ),
    ((asyncssh.HostKeyNotVerifiable,), "host key not verifiable", "check known_hosts ({spec.known_hosts[0]})"),
    (
        (asyncssh.KeyExchangeFailed,),
        "SSH key exchange failed",
        "the server offers no algorithm we accept; a host key of a different type than the one "
        "in known_hosts ({spec.known_hosts[0]}) also ends here",
    ),
    (
        (asyncssh.KeyImportError, asyncssh.KeyEncryptionError),
        "cannot load private key",
        "use an unencrypted key file or load the key into ssh-agent",
    ),
    (
        (asyncssh.ChannelOpenError,),
        "jump host refused to forward",
        "check ProxyJump and the jump host's AllowTcpForwarding",
    ),
    (
        (asyncssh.DisconnectError,),
        "server closed the connection",
        "the server's log says why (MaxStartups, AllowUsers, ...)",
    ),
    ((OSError,), "cannot connect", "check the address and the network path"),
    ((ValueError,), "invalid SSH settings", "check ssh_config and the SSH options"),
]


def command_error(exc: BaseException, host: str, command: str) -> RemoteError:
    """The RemoteError for a failure while a command (or SFTP) runs on an open connection."""
    if isinstance(exc, RemoteError):
        return exc
    if isinstance(exc, asyncssh.ChannelOpenError):
        return RemoteError(
            "server refused a new channel",
            _reason(exc),
            host=host,
            command=command,
            hint="the server's MaxSessions is lower than --max-channels",
        )
    if isinstance(exc, asyncssh.SFTPError):
        return RemoteError("SFTP failed", _reason(exc), host=host, command=command)
    return RemoteError(
        "connection lost",
        _reason(exc),
        host=host,
        command=command,
        hint="the server or the network went away; the next command reconnects",
    )


def _reason(exc: BaseException) -> str:
    if isinstance(exc, asyncssh.Error):
        return exc.reason or type(exc).__name__
    if isinstance(exc, OSError) and exc.strerror:
        return exc.strerror
    return str(exc) or type(exc).__name__
