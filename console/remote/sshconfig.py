"""ssh_config resolved the way OpenSSH's ``ssh -G`` does (readconf.c / ssh.c of OpenSSH 9.2).

What is read: command-line values first (``-l``, ``-p``, ``-i`` and the console's ``-o``-like
options), then ``-F FILE`` only, or else ``~/.ssh/config`` followed by ``/etc/ssh/ssh_config``
(with its ``Include``). The first value obtained for a keyword wins; ``IdentityFile``,
``CertificateFile`` and ``SendEnv`` accumulate. ``Host`` and ``Match`` (``all``, ``host``,
``originalhost``, ``user``, ``localuser``, ``exec``, ``canonical``, ``final``) select blocks;
``CanonicalizeHostname`` and ``Match final`` cause the second pass OpenSSH makes. An unknown
keyword refuses the file, unless it matches ``IgnoreUnknown``. Tokens (``%h`` ...) and ``~`` are
expanded where OpenSSH expands them, with the passwd entry's home, as ssh does.
"""

from __future__ import annotations

import os
import pwd
from dataclasses import dataclass, field
from pathlib import Path

from .sshkeywords import (
    Account,
    SSHConfigError,
    connection_tokens,
    expand_tokens,
    tilde,
)
from .sshreader import _Reader, _State, check_files

__all__ = ["Account", "CommandLine", "SSHConfigError", "Settings", "local_account", "resolve_settings"]

SYSTEM_CONFIG = Path("/etc/ssh/ssh_config")
DEFAULT_GLOBAL_KNOWN_HOSTS = ("/etc/ssh/ssh_known_hosts", "/etc/ssh/ssh_known_hosts2")
DEFAULT_USER_KNOWN_HOSTS = ("~/.ssh/known_hosts", "~/.ssh/known_hosts2")
DEFAULT_IDENTITIES = tuple(
    f"~/.ssh/{n}" for n in ("id_rsa", "id_ecdsa", "id_ecdsa_sk", "id_ed25519", "id_ed25519_sk", "id_xmss", "id_dsa")
)


def local_account() -> Account:
    """The local account, from the passwd database (ssh ignores $HOME)."""
    entry = pwd.getpwuid(os.getuid())
    return Account(entry.pw_name, entry.pw_dir, entry.pw_uid)


@dataclass
class Settings:
    """Everything ``ssh -G`` prints that the console uses, after both passes and defaults."""

    host_arg: str
    hostname: str = ""
    user: str = ""
    port: int = 22
    identity_files: list[str] = field(default_factory=list)
    """As ``ssh -G`` prints them: ``-i`` paths expanded, config paths as written."""
    identity_paths: list[str] = field(default_factory=list)
    """The same, ``~`` and tokens expanded (``none`` dropped): what is offered."""
    identities_given: bool = False
    """Some -i or IdentityFile was given (else: ssh's default key names)."""
    certificate_files: list[str] = field(default_factory=list)
    proxy_jump: str | None = None
    proxy_command: str | None = None
    user_known_hosts: list[str] = field(default_factory=list)
    global_known_hosts: list[str] = field(default_factory=list)
    strict_host_key_checking: str = "ask"
    host_key_alias: str | None = None
    identities_only: bool = False
    identity_agent: str | None = None
    forward_agent: bool = False
    canonicalize_hostname: str = "no"
    values: dict[str, object] = field(default_factory=dict)
    """Other keywords the console passes on (lower-case keyword -> first value)."""
    files: list[str] = field(default_factory=list)
    """Config files read, in order."""


@dataclass
class CommandLine:
    """What ssh gets before any file: ``-l``, ``-p``, ``-i`` and ``-o KEY=VALUE``."""

    user: str | None = None
    port: int | None = None
    identities: tuple[str, ...] = ()
    options: tuple[tuple[str, str], ...] = ()


def _files_pass(state: _State, config: Path | None, system_config: Path, system_dir: Path) -> None:
    reader = _Reader(state, system_dir)
    if config is not None:
        if str(config).lower() != "none" and not reader.read_file(
            config, user_conf=True, check_perm=False, active=[True]
        ):
            raise SSHConfigError("Can't open user config file", str(config))
        return
    user_file = Path(state.account.home) / ".ssh" / "config"
    reader.read_file(user_file, user_conf=True, check_perm=True, active=[True])
    reader.read_file(system_config, user_conf=False, check_perm=False, active=[True])


def check_config(config: Path | None, system_config: Path = SYSTEM_CONFIG, account: Account | None = None) -> None:
    """The files ``resolve_settings`` would read, checked for what ssh refuses whatever the
    host (SSHConfigError naming file and line), so a bad file stops everything up front."""
    account = account or local_account()
    if config is not None:
        if str(config).lower() != "none":
            check_files([(config, True, False)], account, system_config.parent)
        return
    check_files(
        [(Path(account.home) / ".ssh" / "config", True, True), (system_config, False, False)],
        account,
        system_config.parent,
    )


def _cmdline(state: _State, cmd: CommandLine, system_dir: Path) -> None:
    if cmd.user is not None:
        state.opts["user"] = cmd.user
    if cmd.port is not None:
        state.opts["port"] = cmd.port
    for path in cmd.identities:
        state.identities.append((path, True))
    reader = _Reader(state, system_dir)
    for key, value in cmd.options:
        reader.line(f"{key} {value}", "command-line", 0, [True], user_conf=True, never=False, depth=0)


def resolve_settings(
    host_arg: str,
    *,
    config: Path | None,
    cmdline: CommandLine | None = None,
    system_config: Path = SYSTEM_CONFIG,
    account: Account | None = None,
) -> Settings:
    """``ssh -G [-F config] host_arg`` for the fields the console uses."""
    from .canonical import canonicalize, is_address

    account = account or local_account()
    system_dir = system_config.parent
    state = _State(host=host_arg, original=host_arg, account=account, final=False)
    _cmdline(state, cmdline or CommandLine(), system_dir)
    _files_pass(state, config, system_config, system_dir)
    host = host_arg
    if "hostname" in state.opts:
        host = expand_tokens(str(state.opts["hostname"]), {"h": host_arg}, "HostName", 0)
        state.opts["hostname"] = host
    was_addr = is_address(host)
    if not was_addr:
        host = host.lower()
    canon = str(state.opts.get("canonicalizehostname", "no"))
    if canon != "no" or was_addr:
        host = canonicalize(host, state.opts, canon)
    if canon != "no":
        state.want_final = True
    if state.want_final:
        state.final = True
        state.host = host
        state.opts["hostname"] = host
        _files_pass(state, config, system_config, system_dir)
    return _finish(state, host, account)


def _finish(state: _State, host: str, account: Account) -> Settings:
    o = state.opts
    user = str(o.get("user") or account.name)
    port = int(str(o.get("port") or 22))
    alias = str(o["hostkeyalias"]).lower() if o.get("hostkeyalias") else None
    tokens = connection_tokens(account, host, port, user, state.original, alias or state.original)
    given = bool(state.identities)
    raw = [p for p, _ in state.identities] or list(DEFAULT_IDENTITIES)
    paths = [
        expand_tokens(tilde(p, account), tokens, "IdentityFile", 0, dollar=True) for p in raw if p.lower() != "none"
    ]
    user_kh = _known_files(o.get("userknownhostsfile"), DEFAULT_USER_KNOWN_HOSTS)
    user_kh = [expand_tokens(tilde(p, account), tokens, "UserKnownHostsFile", 0, dollar=True) for p in user_kh]
    global_kh = _known_files(o.get("globalknownhostsfile"), DEFAULT_GLOBAL_KNOWN_HOSTS)
    jump = o.get("proxyjump")
    command = o.get("proxycommand")
    agent = o.get("identityagent")
    return Settings(
        host_arg=state.original,
        hostname=host,
        user=user,
        port=port,
        identity_files=raw,
        identity_paths=paths,
        identities_given=given,
        certificate_files=[
            expand_tokens(tilde(p, account), tokens, "CertificateFile", 0, dollar=True) for p in state.certificates
        ],
        proxy_jump=str(jump) if jump and jump != "none" else None,
        proxy_command=str(command) if command and str(command).lower() != "none" else None,
        user_known_hosts=user_kh,
        global_known_hosts=global_kh,
        strict_host_key_checking=str(o.get("stricthostkeychecking", "ask")),
        host_key_alias=alias,
        identities_only=bool(o.get("identitiesonly", False)),
        identity_agent=_agent_path(str(agent), account, tokens) if agent is not None else None,
        forward_agent=bool(o.get("forwardagent", False)),
        canonicalize_hostname=str(o.get("canonicalizehostname", "no")),
        values=dict(o),
        files=state.files,
    )


def _known_files(value: object, default: tuple[str, ...]) -> list[str]:
    if value is None:
        return list(default)
    files = list(value) if isinstance(value, list) else [str(value)]
    return [] if len(files) == 1 and files[0].lower() == "none" else files


def _agent_path(value: str, account: Account, tokens: dict[str, str]) -> str:
    """IdentityAgent: ``none`` -> "", ``SSH_AUTH_SOCK``/``$VAR`` -> that variable, else a path."""
    if value.lower() == "none":
        return ""
    if value == "SSH_AUTH_SOCK":
        return os.environ.get("SSH_AUTH_SOCK", "")
    if value.startswith("$") and not value.startswith("${"):
        return os.environ.get(value[1:], "")
    return expand_tokens(tilde(value, account), tokens, "IdentityAgent", 0, dollar=True)


def jump_as_ssh_prints(value: str) -> str:
    """ProxyJump as ``ssh -G`` prints it: the last hop normalised (no ``ssh://``, a numeric
    host in brackets), the hops before it as written."""
    from .options import parse_jump_hop

    extra, _, last = value.rpartition(",")
    parsed = parse_jump_hop(last)
    if parsed is None:
        return value
    user, host, port = parsed
    numeric = ":" in host or all(c in "0123456789." for c in host)
    return (
        (extra + "," if extra else "")
        + (f"{user}@" if user else "")
        + (f"[{host}]" if numeric else host)
        + (f":{port}" if port else "")
    )
