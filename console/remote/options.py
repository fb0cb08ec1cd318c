"""SSH client options and the per-host view of them, resolved as ``ssh -G`` does.

Precedence, as OpenSSH: a ``user@host:port`` target beats ``-l``/``-p``, which beat
ssh_config (``-F FILE`` alone, else ``~/.ssh/config`` then ``/etc/ssh/ssh_config``; see
``sshconfig``), which beats the defaults (local user name, port 22). ``-i`` identities come
first, then ssh_config's ``IdentityFile`` entries that exist. ``-l``, ``-p`` and ``-i`` apply
to the target only, never to its ProxyJump hosts (as OpenSSH).
"""

from __future__ import annotations

import argparse
import ipaddress
import re
from dataclasses import dataclass, field
from pathlib import Path

from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

from console.core.errors import InputError
from console.core.targets import check_target

from . import sshconfig
from .sshconfig import (
    SYSTEM_CONFIG,
    CommandLine,
    Settings,
    SSHConfigError,
    resolve_settings,
)

DEFAULT_PORT = 22


_FLAGS = {
    "connect_timeout": "--connect-timeout",
    "command_timeout": "--command-timeout",
    "port": "-p/--port",
    "user": "-l/--login",
    "known_hosts": "--known-hosts",
    "output_limit": "--output-limit",
    "output_budget": "--output-budget",
}


class SSHOptions(BaseModel):
    """How the console reaches servers over SSH (the global CLI options)."""

    model_config = ConfigDict(frozen=True, use_attribute_docstrings=True, extra="forbid")

    ssh_config: Path | None = None
    """ssh_config file (``-F``): then only this file is read. None: ``~/.ssh/config``, then
    ``system_config``, as ssh."""
    system_config: Path = SYSTEM_CONFIG
    """The system-wide ssh_config read after the user's file when there is no ``-F``."""
    user: str | None = None
    """Remote user (``-l``); default ssh_config's ``User``, else the local user name."""
    port: int | None = Field(default=None, ge=1, le=65535)
    """SSH port (``-p``); default ssh_config's ``Port``, else 22."""
    identities: list[Path] = Field(default_factory=list)
    """Private key files (``-i``, repeatable), tried before ssh_config's IdentityFile."""
    accept_new: bool = False
    """``StrictHostKeyChecking accept-new`` for every host, whatever ssh_config says: unknown
    host keys are recorded in known_hosts, a changed key is refused."""
    known_hosts: Path | None = None
    """known_hosts file overriding ssh_config's UserKnownHostsFile and ~/.ssh/known_hosts."""
    connect_timeout: float = Field(default=10.0, gt=0)
    """Seconds allowed for TCP connect + SSH handshake + authentication."""
    command_timeout: float = Field(default=60.0, gt=0)
    """Default seconds a remote command may run before it is killed."""
    keepalive_interval: float = Field(default=15.0, ge=0)
    """Seconds between SSH keepalive requests on an idle connection (0 = off)."""
    keepalive_count_max: int = Field(default=3, ge=1)
    """Unanswered keepalives after which the connection is declared dead."""
    max_handshakes: int = Field(default=10, ge=1)
    """Connections being set up at once (OpenSSH's MaxStartups starts dropping at 10)."""
    max_channels: int = Field(default=8, ge=1)
    """Channels (commands, SFTP sessions) open at once per connection (MaxSessions is 10)."""
    output_limit: int = Field(default=16 << 20, ge=1024)
    """Bytes of output (stdout + stderr, as received) a command run with ``Pool.run`` may
    print; past it the command is ended and ``OutputTooLarge`` raised. Also caps one ping-lane
    answer."""
    output_budget: int = Field(default=256 << 20, ge=1024)
    """Bytes of output all commands of one pool keep together while they run (``Pool.run``
    outputs, ping-lane answers), whatever the number of servers. When it is used up, the
    command holding the most (above its fair share) is ended: ``OutputTooLarge`` naming host,
    command and the budget (a ping-lane answer is cut instead). At least ``output_limit``."""

    @model_validator(mode="after")
    def _budget_holds_one_command(self) -> SSHOptions:
        if self.output_budget < self.output_limit:
            raise ValueError(
                f"output_budget ({self.output_budget} bytes, --output-budget) is smaller than "
                f"output_limit ({self.output_limit} bytes, --output-limit)"
            )
        return self

    @classmethod
    def from_args(cls, args: argparse.Namespace) -> SSHOptions:
        """Build from the global options of ``console/cli/_common.py``; checks the files."""
        kw: dict = {}
        cfg = getattr(args, "ssh_config", None)
        if cfg is not None:
            kw["ssh_config"] = Path(cfg).expanduser()
        for name, attr in (
            ("user", "login"),
            ("port", "port"),
            ("known_hosts", "known_hosts"),
            ("connect_timeout", "connect_timeout"),
            ("command_timeout", "command_timeout"),
        ):
            value = getattr(args, attr, None)
            if value is not None:
                kw[name] = value
        for name in ("output_limit", "output_budget"):  # MiB on the command line
            mib = getattr(args, name, None)
            if mib is not None:
                kw[name] = mib << 20
        kw["identities"] = [Path(p).expanduser() for p in (getattr(args, "identity", None) or [])]
        kw["accept_new"] = bool(getattr(args, "accept_new", False))
        if kw.get("known_hosts") is not None:
            kw["known_hosts"] = Path(kw["known_hosts"]).expanduser()
        try:
            options = cls(**kw)
        except ValidationError as exc:
            first = exc.errors()[0]
            field = ".".join(str(p) for p in first["loc"])
            flag = _FLAGS.get(field, field)
            raise InputError("invalid SSH option", f"{flag}: {first['msg']} (got {first.get('input')!r})") from None
        except ValueError as exc:
            raise InputError("invalid SSH option", str(exc)) from None
        options.check_files()
        return options

    def check_files(self) -> None:
        """Files named explicitly must exist: -F and -i (as ssh refuses them); ``-F none``
        means no ssh_config at all, as in ssh."""
        if self.ssh_config is not None and str(self.ssh_config).lower() != "none":
            _check_file(self.ssh_config, "ssh_config", "-F/--ssh-config")
        for key in self.identities:
            _check_file(key, "identity", "-i/--identity")
        try:
            sshconfig.check_config(self.ssh_config, self.system_config)
        except SSHConfigError as exc:
            raise InputError(
                "cannot use ssh_config", f"line {exc.line}: {exc.message}" if exc.line else exc.message, path=exc.path
            ) from None


def _check_file(path: Path, what: str, flag: str) -> None:
    """``path`` is a regular file, else an InputError saying whether it is missing or a folder."""
    if path.is_file():
        return
    if path.is_dir():
        raise InputError(f"{what} path is a directory, not a file", path=str(path), hint=f"give {flag} the file itself")
    raise InputError(f"{what} file not found", path=str(path), hint=f"fix the {flag} path")


@dataclass(frozen=True)
class HostSpec:
    """Everything needed to connect to one target, after ssh_config resolution."""

    target: str
    """As the caller wrote it (``user@alias:port``); the pool key and the error's host."""
    alias: str
    """Host part of the target: what ssh_config ``Host`` patterns match against."""
    hostname: str
    """Address or DNS name actually dialled (ssh_config ``HostName``, else ``alias``)."""
    user: str
    port: int
    identities: tuple[Path, ...] | None
    """Key files to offer; None = ssh's defaults (no -i and no IdentityFile given)."""
    known_hosts: tuple[Path, ...]
    """User known_hosts files consulted; new keys are recorded in the first one."""
    proxy_jump: str | None
    config_paths: tuple[Path, ...]
    """ssh_config files read for this target, in order."""
    global_known_hosts: tuple[Path, ...] = ()
    """GlobalKnownHostsFile: consulted, never written."""
    strict: str = "ask"
    """StrictHostKeyChecking: yes, ask (handled as yes), accept-new or no."""
    proxy_command: str | None = None
    """ProxyCommand with its tokens expanded (run by $SHELL -c, as ssh)."""
    host_key_alias: str | None = None
    hash_known_hosts: bool = False
    """HashKnownHosts: record new keys with the host name hashed."""
    settings: Settings | None = field(default=None, compare=False, repr=False)
    """The whole resolution (other keywords handed to asyncssh)."""

    @property
    def known_hosts_host(self) -> str:
        """The name looked up in known_hosts: HostKeyAlias, else the host name."""
        return self.host_key_alias or self.hostname


def parse_target(target: str) -> tuple[str | None, str, int | None]:
    """``[user@]host[:port]`` (IPv6 as ``[addr]:port`` or a bare address) -> parts."""
    text = target.strip()
    user = None
    if "@" in text:
        user, text = text.rsplit("@", 1)
        if not user:
            raise InputError("empty user name in target", f"'{target}'", host=target)
    port_s = None
    if text.startswith("["):
        host, sep, rest = text[1:].partition("]")
        if not sep or (rest and not rest.startswith(":")):
            raise InputError("bad target", f"'{target}': expected [address]:port", host=target)
        port_s = rest[1:] if rest else None
    elif text.count(":") == 1:
        host, port_s = text.split(":")
    else:
        host = text  # a name, or a bare IPv6 address
        if ":" in host:
            _check_ipv6(host, target)
    if not host:
        raise InputError("empty host name in target", f"'{target}'", host=target)
    return user, host, _parse_port(port_s, target)


def _check_ipv6(host: str, target: str) -> None:
    try:
        ipaddress.IPv6Address(host)
    except ValueError:
        raise InputError("bad target", f"'{target}' is neither host:port nor an IPv6 address", host=target) from None


def _parse_port(port_s: str | None, target: str) -> int | None:
    if port_s is None:
        return None
    if not port_s.isdigit() or not 1 <= int(port_s) <= 65535:
        raise InputError("bad port in target", f"'{target}': port must be 1-65535", host=target)
    return int(port_s)


_JUMP = re.compile(r"^(?:ssh://)?(?:([^@]+)@)?(\[[^\]]+\]|[^:\[\]@/]+)(?::(\d+))?/?$")


def parse_jump_hop(hop: str) -> tuple[str | None, str, int | None] | None:
    """One ProxyJump hop, ``[user@]host[:port]`` or ``ssh://[user@]host[:port]``; None if bad."""
    m = _JUMP.match(hop.strip())
    if m is None:
        return None
    user, host, port = m.group(1), m.group(2).strip("[]"), m.group(3)
    if port is not None and not 1 <= int(port) <= 65535:
        return None
    return user, host, int(port) if port else None


def _hop_target(hop: str) -> str:
    """A ProxyJump hop as a console target (``user@host:port``, IPv6 in brackets)."""
    parsed = parse_jump_hop(hop)
    if parsed is None:
        raise InputError("bad ProxyJump hop", f"'{hop}'", host=hop)
    user, host, port = parsed
    text = f"[{host}]" if ":" in host and port is not None else host
    return (f"{user}@" if user else "") + text + (f":{port}" if port else "")


def settings_for(options: SSHOptions, target: str, *, jump_host: bool = False) -> Settings:
    """``ssh -G`` for ``target``. A jump host gets neither -l, -p nor -i (as ssh's -J)."""
    t_user, alias, t_port = parse_target(target)
    user = t_user if t_user is not None or jump_host else options.user
    port = t_port if t_port is not None or jump_host else options.port
    extra: list[tuple[str, str]] = []
    if options.accept_new:
        extra.append(("StrictHostKeyChecking", "accept-new"))
    if options.known_hosts is not None:
        extra.append(("UserKnownHostsFile", _quote(str(options.known_hosts))))
    cmd = CommandLine(
        user=user,
        port=port,
        identities=() if jump_host else tuple(str(p) for p in options.identities),
        options=tuple(extra),
    )
    try:
        return resolve_settings(alias, config=options.ssh_config, cmdline=cmd, system_config=options.system_config)
    except SSHConfigError as exc:
        raise InputError(
            "cannot use ssh_config",
            f"line {exc.line}: {exc.message}" if exc.line else exc.message,
            host=target,
            path=exc.path,
        ) from None


def _quote(text: str) -> str:
    return '"' + text.replace("\\", "\\\\").replace('"', '\\"') + '"'


def resolve(options: SSHOptions, target: str, *, ignore_jump: bool = False, jump_host: bool = False) -> HostSpec:
    """Apply ``target``, the CLI options and ssh_config to get one host's connection spec.

    ``ignore_jump``: a hop reached through the previous hop of a chain (its own ProxyJump
    is not used, as ssh's ``-J a,b``); ``jump_host``: a ProxyJump hop (no -l/-p/-i).

    ``target`` must be a strict SSH target (``console.core.targets``): a name with spaces,
    quotes, ``%`` or a leading ``-`` is refused here, before ssh_config expands it anywhere."""
    if jump_host:
        target = _hop_target(target)
    check_target(target)
    st = settings_for(options, target, jump_host=jump_host)
    _, alias, _ = parse_target(target)
    identities: tuple[Path, ...] | None = None  # None: ssh's default keys (~/.ssh/id_*)
    if st.identities_given:
        identities = tuple(Path(p) for p in st.identity_paths if Path(p).is_file())
    command = None
    if st.proxy_command is not None:
        command = proxy_command_line(st)
    return HostSpec(
        target=target,
        alias=alias,
        hostname=st.hostname,
        user=st.user,
        port=st.port,
        identities=identities,
        known_hosts=tuple(Path(p) for p in st.user_known_hosts),
        proxy_jump=None if ignore_jump else st.proxy_jump,
        config_paths=tuple(Path(p) for p in st.files),
        global_known_hosts=tuple(Path(p) for p in st.global_known_hosts),
        strict=st.strict_host_key_checking,
        proxy_command=None if ignore_jump else command,
        host_key_alias=st.host_key_alias,
        settings=st,
        hash_known_hosts=str(st.values.get("hashknownhosts", "no")).lower() in ("yes", "true"),
    )


def proxy_command_line(st: Settings) -> str:
    """ProxyCommand with ssh's tokens (%h %n %p %r, %%) expanded; ssh runs it as ``exec CMD``."""
    from .sshkeywords import expand_tokens

    assert st.proxy_command is not None
    tokens = {"h": st.hostname, "n": st.host_arg, "p": str(st.port), "r": st.user}
    try:
        return expand_tokens(st.proxy_command, tokens, "ProxyCommand")
    except SSHConfigError as exc:
        raise InputError("cannot use ssh_config", exc.message, host=st.host_arg) from None


def client_keys(identities: tuple[Path, ...] | None) -> tuple[()] | list[str]:
    """asyncssh's ``client_keys`` for ``HostSpec.identities``.

    ``()`` = ssh's defaults. Never ``None``: asyncssh then turns public key auth and the
    ssh-agent off, while OpenSSH skips IdentityFiles that do not exist and still asks the
    agent. An empty list keeps the agent (asyncssh then also offers the default ~/.ssh/id_*
    keys, which OpenSSH would not when IdentityFile is set).
    """
    return () if identities is None else [str(p) for p in identities]
