"""SSH client options and the per-host view of them, resolved as ``ssh`` does.

Precedence, as OpenSSH: a ``user@host:port`` target beats ``-l``/``-p``, which beat the
matching ``Host`` blocks of ssh_config (``-F FILE`` or ``~/.ssh/config``), which beat the
defaults (local user name, port 22). ``-i`` identities come first, then ssh_config's
``IdentityFile`` entries that exist.
"""

from __future__ import annotations

import argparse
import getpass
import ipaddress
from dataclasses import dataclass, field
from pathlib import Path

from asyncssh import ConfigParseError
from asyncssh.config import SSHClientConfig
from pydantic import BaseModel, ConfigDict, Field, ValidationError

from console.core.errors import InputError

DEFAULT_PORT = 22


def _default_ssh_config() -> Path | None:
    path = Path("~/.ssh/config").expanduser()
    return path if path.is_file() else None


_FLAGS = {"connect_timeout": "--connect-timeout", "command_timeout": "--command-timeout",
          "port": "-p/--port", "user": "-l/--login", "known_hosts": "--known-hosts"}


class SSHOptions(BaseModel):
    """How the console reaches servers over SSH (the global CLI options)."""

    model_config = ConfigDict(frozen=True, use_attribute_docstrings=True, extra="forbid")

    ssh_config: Path | None = Field(default_factory=_default_ssh_config)
    """ssh_config file (``-F``); default ``~/.ssh/config`` when it exists, else none."""
    user: str | None = None
    """Remote user (``-l``); default ssh_config's ``User``, else the local user name."""
    port: int | None = Field(default=None, ge=1, le=65535)
    """SSH port (``-p``); default ssh_config's ``Port``, else 22."""
    identities: list[Path] = Field(default_factory=list)
    """Private key files (``-i``, repeatable), tried before ssh_config's IdentityFile."""
    accept_new: bool = False
    """Record unknown host keys in known_hosts (OpenSSH StrictHostKeyChecking=accept-new).
    A changed key is always refused."""
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

    @classmethod
    def from_args(cls, args: argparse.Namespace) -> SSHOptions:
        """Build from the global options of ``console/cli/_common.py``; checks the files."""
        kw: dict = {}
        cfg = getattr(args, "ssh_config", None)
        if cfg is not None:
            kw["ssh_config"] = Path(cfg).expanduser()
        for name, attr in (("user", "login"), ("port", "port"), ("known_hosts", "known_hosts"),
                           ("connect_timeout", "connect_timeout"),
                           ("command_timeout", "command_timeout")):
            value = getattr(args, attr, None)
            if value is not None:
                kw[name] = value
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
        """Files named explicitly must exist: -F and -i (as ssh refuses them)."""
        if self.ssh_config is not None:
            _check_file(self.ssh_config, "ssh_config", "-F/--ssh-config")
        for key in self.identities:
            _check_file(key, "identity", "-i/--identity")


def _check_file(path: Path, what: str, flag: str) -> None:
    """``path`` is a regular file, else an InputError saying whether it is missing or a folder."""
    if path.is_file():
        return
    if path.is_dir():
        raise InputError(f"{what} path is a directory, not a file", path=str(path),
                         hint=f"give {flag} the file itself")
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
    """known_hosts files consulted; new keys are recorded in the first one."""
    proxy_jump: str | None
    config_paths: tuple[Path, ...]
    config: SSHClientConfig | None = field(default=None, compare=False, repr=False)
    """ssh_config as parsed for this target, handed to asyncssh so it is not parsed twice."""


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
        raise InputError("bad target", f"'{target}' is neither host:port nor an IPv6 address",
                         host=target) from None


def _parse_port(port_s: str | None, target: str) -> int | None:
    if port_s is None:
        return None
    if not port_s.isdigit() or not 1 <= int(port_s) <= 65535:
        raise InputError("bad port in target", f"'{target}': port must be 1-65535", host=target)
    return int(port_s)


def _load_config(paths: tuple[Path, ...], alias: str, user: str | None,
                 port: int | None) -> SSHClientConfig:
    try:
        return SSHClientConfig.load(None, list(paths), False, False, False, getpass.getuser(),
                                    user if user is not None else (),
                                    alias, port if port is not None else ())
    except ConfigParseError as exc:
        raise InputError("cannot parse ssh_config", str(exc), host=alias,
                         path=str(paths[0]) if paths else None) from None
    except OSError as exc:
        raise InputError("cannot read ssh_config", exc.strerror or str(exc), host=alias,
                         path=exc.filename) from None


def resolve(options: SSHOptions, target: str, *, ignore_jump: bool = False) -> HostSpec:
    """Apply ``target``, the CLI options and ssh_config to get one host's connection spec."""
    t_user, alias, t_port = parse_target(target)
    user = t_user if t_user is not None else options.user
    port = t_port if t_port is not None else options.port
    paths = (options.ssh_config,) if options.ssh_config is not None else ()
    cfg = _load_config(paths, alias, user, port)
    config_keys = [Path(p).expanduser() for p in (cfg.get("IdentityFile") or [])]
    identities: tuple[Path, ...] | None = None  # None: ssh's default keys (~/.ssh/id_*)
    if options.identities or cfg.get("IdentityFile") is not None:
        identities = tuple(options.identities) + tuple(p for p in config_keys if p.is_file())
    if options.known_hosts is not None:
        known = (options.known_hosts,)
    else:
        listed = [Path(p).expanduser() for p in (cfg.get("UserKnownHostsFile") or [])]
        known = tuple(listed) or (Path("~/.ssh/known_hosts").expanduser(),)
    jump = None if ignore_jump else cfg.get("ProxyJump")
    return HostSpec(
        target=target, alias=alias, hostname=str(cfg.get("Hostname", alias)),
        user=str(cfg.get("User") or getpass.getuser()),
        port=int(cfg.get("Port", DEFAULT_PORT)), identities=identities, known_hosts=known,
        proxy_jump=str(jump) if jump else None, config_paths=paths, config=cfg,
    )


def client_keys(identities: tuple[Path, ...] | None) -> tuple[()] | list[str]:
    """asyncssh's ``client_keys`` for ``HostSpec.identities``.

    ``()`` = ssh's defaults. Never ``None``: asyncssh then turns public key auth and the
    ssh-agent off, while OpenSSH skips IdentityFiles that do not exist and still asks the
    agent. An empty list keeps the agent (asyncssh then also offers the default ~/.ssh/id_*
    keys, which OpenSSH would not when IdentityFile is set).
    """
    return () if identities is None else [str(p) for p in identities]
