"""The console's ssh_config resolution against OpenSSH's own: ``ssh -G`` side by side.

Each case is a realistic ssh_config (written to a temp folder, paths inside it substituted
for ``{d}``), a host argument and optional ``-l``/``-p``/``-i``. The test runs
``ssh -G -F CONFIG [opts] HOST`` and ``console.remote.sshconfig.resolve_settings`` and compares
hostname, user, port, identityfile list, proxyjump, proxycommand, userknownhostsfile,
stricthostkeychecking, globalknownhostsfile and hostkeyalias field by field; for a file ssh
refuses, both must refuse it, naming the same line. ``~`` and ``%d`` are the passwd home
for both (ssh ignores $HOME). One case reads the machine's own /etc/ssh/ssh_config (no -F).
"""

from __future__ import annotations

import shutil
import subprocess
from dataclasses import dataclass
from pathlib import Path

import pytest

from console.remote.sshconfig import (
    CommandLine,
    SSHConfigError,
    jump_as_ssh_prints,
    resolve_settings,
)
from tests.system import need

pytestmark = [pytest.mark.system]

SSH = shutil.which("ssh")
STRICT = {"yes": "true", "no": "false", "ask": "ask", "accept-new": "accept-new"}


@dataclass
class Case:
    name: str
    config: str
    host: str
    user: str | None = None
    port: int | None = None
    keys: tuple[str, ...] = ()
    files: dict[str, str] | None = None
    """Extra files under {d} (for Include)."""


CASES = [
    Case(
        "basic host block",
        """
Host node01
    HostName 10.20.0.1
    User hwadmin
    Port 2222
    IdentityFile ~/.ssh/id_cluster
""",
        "node01",
    ),
    Case(
        "first value wins over a later wildcard",
        """
Host node*
    User ops
Host node07
    User root
    Port 2200
Host *
    Port 22
    User nobody
    IdentityFile ~/.ssh/id_default
""",
        "node07",
    ),
    Case(
        "trailing comment on a value",
        """
Host lab*
    Port 2219  # lab
    User ma  # the lab user
    HostName 192.168.7.3 # fixed
""",
        "lab3",
    ),
    Case(
        "key=value syntax, any case",
        """
HOST=gpu*
  hostname = %h.cluster.example
  USER=deploy
  port= 2022
  identityFILE ~/.ssh/id_gpu
""",
        "gpu12",
    ),
    Case(
        "quoted value with a space",
        """
Host win
  IdentityFile "~/.ssh/my key"
  UserKnownHostsFile "{d}/known hosts" {d}/kh2
""",
        "win",
    ),
    Case(
        "negated host pattern",
        """
Host * !bastion
  ProxyJump bastion
  User worker
Host bastion
  HostName 203.0.113.10
  User jump
""",
        "bastion",
    ),
    Case(
        "negated pattern, other host",
        """
Host * !bastion
  ProxyJump bastion
  User worker
Host bastion
  HostName 203.0.113.10
""",
        "node3",
    ),
    Case(
        "several patterns and ?",
        """
Host foo node?? bar
  Port 2201
Host node1?
  User ten
""",
        "node12",
    ),
    Case(
        "tokens in UserKnownHostsFile",
        """
Host n*
  HostName 10.0.1.%h
  User op
  Port 2202
  UserKnownHostsFile ~/.ssh/kh_%h_%p %d/kh_%u %C {d}/%n-%r-%i-%L-%l-%k
""",
        "n5",
    ),
    Case(
        "tokens in IdentityFile, duplicates once",
        """
Host *
  IdentityFile ~/.ssh/id_%r@%h
  IdentityFile ~/.ssh/id_ed25519
  IdentityFile ~/.ssh/id_ed25519
  User admin
""",
        "server.example",
    ),
    Case(
        "StrictHostKeyChecking no with /dev/null",
        """
Host fresh-*
  StrictHostKeyChecking no
  UserKnownHostsFile /dev/null
  LogLevel ERROR
""",
        "fresh-17",
    ),
    Case("StrictHostKeyChecking off", "Host *\n  StrictHostKeyChecking off\n", "x"),
    Case("StrictHostKeyChecking accept-new", "Host *\n  StrictHostKeyChecking accept-new\n", "x"),
    Case(
        "StrictHostKeyChecking yes, later no ignored",
        """
Host x
  StrictHostKeyChecking yes
Host *
  StrictHostKeyChecking no
""",
        "x",
    ),
    Case(
        "ProxyJump chain with user and port",
        """
Host inner-*
  ProxyJump gw1,ops@gw2.example:2222
""",
        "inner-4",
    ),
    Case(
        "ProxyJump ssh URI and numeric host",
        """
Host a
  ProxyJump jumper,ssh://bob@10.9.8.7:2022
Host b
  ProxyJump [2001:db8::1]:2200
""",
        "a",
    ),
    Case("ProxyJump numeric IPv6", "Host b\n  ProxyJump [2001:db8::1]:2200\n", "b"),
    Case(
        "ProxyCommand first beats ProxyJump",
        """
Host p
  ProxyCommand ssh -W %h:%p gw
Host *
  ProxyJump gw2
""",
        "p",
    ),
    Case(
        "ProxyJump first beats ProxyCommand",
        """
Host p
  ProxyJump gw2
Host *
  ProxyCommand nc %h %p
""",
        "p",
    ),
    Case(
        "ProxyJump none",
        """
Host internal
  ProxyJump none
Host *
  ProxyJump gw
""",
        "internal",
    ),
    Case(
        "-l -p -i beat the config",
        """
Host c
  User cfguser
  Port 2300
  IdentityFile ~/.ssh/id_cfg
""",
        "c",
        user="cliuser",
        port=2400,
        keys=("{d}/k1",),
    ),
    Case(
        "Match host on HostName, originalhost on the alias",
        """
Host short
  HostName long.example.org
Match host long.example.org
  User matched
Match originalhost short
  Port 2500
""",
        "short",
    ),
    Case(
        "Match user and localuser",
        """
Host m
  User svc
Match user svc
  Port 2600
Match localuser nobody-here
  Port 1
Match !localuser nobody-here
  IdentityFile ~/.ssh/id_local
""",
        "m",
    ),
    Case(
        "Match final: Host blocks see the HostName",
        """
Host alias1
  HostName real1.example
Host real1.example
  User via-final
Match final
  Port 2700
""",
        "alias1",
    ),
    Case(
        "Match !final is the first pass",
        """
Match !final
  User first
Match final
  User second
  Port 2701
""",
        "h",
    ),
    Case(
        "CanonicalizeHostname, not found, fallback local",
        """
CanonicalizeHostname yes
CanonicalDomains invalid
CanonicalizeMaxDots 0
Host web
  User www
Match canonical host web
  Port 2800
""",
        "WEB",
    ),
    Case(
        "CanonicalizeHostname, too many dots",
        """
CanonicalizeHostname yes
CanonicalDomains invalid
Match canonical
  User canon
""",
        "a.b.c",
    ),
    Case(
        "CanonicalizeHostname with ProxyJump (not direct)",
        """
CanonicalizeHostname yes
CanonicalDomains invalid
CanonicalizeFallbackLocal no
ProxyJump gw
""",
        "web",
    ),
    Case(
        "CanonicalizeHostname fallback off refuses",
        """
CanonicalizeHostname yes
CanonicalDomains invalid
CanonicalizeFallbackLocal no
""",
        "web",
    ),
    Case(
        "Match exec",
        """
Match exec "test %h = e1"
  User exec-yes
Match exec false
  Port 1
Host *
  Port 2900
""",
        "e1",
    ),
    Case(
        "Match all and negation",
        """
Match !host nothing*
  User notnothing
Match all
  Port 3000
""",
        "anything",
    ),
    Case(
        "Include a glob; Include in an inactive block",
        """
Include {d}/conf.d/*.conf
Host other
  Include {d}/never.conf
Host *
  User fallback
""",
        "inc1",
        files={
            "conf.d/10-a.conf": "Host inc*\n  Port 3100\n",
            "conf.d/20-b.conf": "Host inc1\n  User from-b\n",
            "never.conf": "User never\n",
        },
    ),
    Case(
        "IgnoreUnknown",
        """
IgnoreUnknown UseKeychain,AddKeys*
Host *
  UseKeychain yes
  AddKeysFoo yes
  Port 3200
""",
        "k",
    ),
    Case(
        "unknown keyword refuses the file",
        """
Host *
  Port 22
  Hostnmae typo.example
""",
        "x",
    ),
    Case(
        "unknown keyword in a block that does not match",
        """
Host nothing
  ForwardXYZ yes
""",
        "x",
    ),
    Case(
        "known keywords the console ignores",
        """
Host *
  ServerAliveInterval 30
  ControlMaster auto
  ControlPath ~/.ssh/cm-%C
  ForwardAgent yes
  Compression yes
  AddKeysToAgent yes
  SendEnv LANG LC_*
  LogLevel QUIET
""",
        "x",
    ),
    Case(
        "GlobalKnownHostsFile and HostKeyAlias",
        """
Host alias*
  GlobalKnownHostsFile {d}/global_kh
  HostKeyAlias Cluster-Head
""",
        "alias2",
    ),
    Case("UserKnownHostsFile none", "Host *\n  UserKnownHostsFile none\n", "x"),
    Case("numeric address normalised, name lowercased", "Host *\n  Port 22\n", "10.1"),
    Case("upper-case name", "Host NODE1\n  Port 3300\nHost node1\n  Port 3400\n", "NODE1"),
    Case("service name as port", "Host *\n  Port ssh\n", "x"),
    Case("IdentityFile none", "Host *\n  IdentityFile none\n", "x"),
    Case("bad port", "Host x\n  Port 70000\n", "x"),
    Case("HostName with an unknown token", "Host x\n  HostName %z.example\n", "x"),
]


def _ssh_g(config: Path | None, case: Case, d: Path) -> tuple[int, dict[str, list[str]], str]:
    argv = [SSH or "ssh", "-G"]
    if config is not None:
        argv += ["-F", str(config)]
    if case.user:
        argv += ["-l", case.user]
    if case.port:
        argv += ["-p", str(case.port)]
    for key in case.keys:
        argv += ["-i", key.format(d=d)]
    argv.append(case.host)
    done = subprocess.run(argv, capture_output=True, text=True, timeout=30, stdin=subprocess.DEVNULL, check=False)
    fields: dict[str, list[str]] = {}
    for line in done.stdout.splitlines():
        key, _, value = line.partition(" ")
        fields.setdefault(key, []).append(value)
    return done.returncode, fields, done.stderr


def _ours(config: Path | None, case: Case, d: Path, system: Path) -> dict[str, list[str]]:
    cmd = CommandLine(user=case.user, port=case.port, identities=tuple(k.format(d=d) for k in case.keys))
    st = resolve_settings(case.host, config=config, cmdline=cmd, system_config=system)
    out = {
        "hostname": [st.hostname],
        "user": [st.user],
        "port": [str(st.port)],
        "identityfile": st.identity_files,
        "userknownhostsfile": [" ".join(st.user_known_hosts) or "none"],
        "globalknownhostsfile": [" ".join(st.global_known_hosts) or "none"],
        "stricthostkeychecking": [STRICT[st.strict_host_key_checking]],
    }
    if st.proxy_jump:
        out["proxyjump"] = [jump_as_ssh_prints(st.proxy_jump)]
    if st.proxy_command:
        out["proxycommand"] = [st.proxy_command]
    if st.host_key_alias:
        out["hostkeyalias"] = [st.host_key_alias]
    return out


FIELDS = (
    "hostname",
    "user",
    "port",
    "identityfile",
    "proxyjump",
    "proxycommand",
    "userknownhostsfile",
    "globalknownhostsfile",
    "stricthostkeychecking",
    "hostkeyalias",
)


def _compare(config: Path | None, case: Case, d: Path, system: Path) -> None:
    code, theirs, stderr = _ssh_g(config, case, d)
    if code != 0:
        with pytest.raises(SSHConfigError) as err:
            _ours(config, case, d, system)
        if err.value.line:
            assert f"line {err.value.line}" in stderr, (stderr, str(err.value))
        return
    ours = _ours(config, case, d, system)
    for name in FIELDS:
        assert ours.get(name, []) == theirs.get(name, []), (name, ours.get(name), theirs.get(name))


@pytest.fixture
def ssh_bin() -> str:
    need(SSH is not None, "OpenSSH client (ssh) not installed")
    assert SSH is not None
    return SSH


def test_at_least_25_configs() -> None:
    assert len(CASES) >= 25


@pytest.mark.parametrize("case", CASES, ids=[c.name for c in CASES])
def test_console_resolves_as_ssh_G(case: Case, tmp_path: Path, ssh_bin: str) -> None:
    d = tmp_path
    (d / "k1").write_text("")
    for name, text in (case.files or {}).items():
        path = d / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)
        path.chmod(0o600)
    config = d / "ssh_config"
    config.write_text(case.config.format(d=d).lstrip("\n"))
    _compare(config, case, d, Path("/nonexistent/ssh_config"))


@pytest.mark.parametrize("host", ["node1", "fresh-1"])
def test_without_F_both_read_the_system_config(host: str, tmp_path: Path, ssh_bin: str) -> None:
    """No -F: ~/.ssh/config (the passwd home's) then this machine's /etc/ssh/ssh_config."""
    _compare(None, Case("system", "", host), tmp_path, Path("/etc/ssh/ssh_config"))
