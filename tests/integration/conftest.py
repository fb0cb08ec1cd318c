"""Real OpenSSH test bed: `sshd` daemons on loopback addresses, one per simulated server.

Each daemon runs ``/usr/sbin/sshd -D -e -f CONFIG`` on its own 127.0.0.x address and a free
port, with its own ed25519 host key, for the unprivileged test user ``ccssh`` (root's login
shell is slow and real clusters are not reached as root). Files the daemon or the test user
must read live in a world-readable folder under /tmp (pytest's tmp_path is root-only).

Fixtures:
  ``ssh_client``    a client "home": key pair, known_hosts, ssh_config, HOME pointed at it,
                    SSH_AUTH_SOCK unset; ``ssh_client.options(**kw)`` builds SSHOptions.
  ``sshd_factory``  ``start(addr, *, set_env=..., path_prefix=..., extra_config=...,
                    trust=True)`` -> SshdInstance; every daemon is stopped at teardown.
                    ``extra_config`` lines (sshd_config syntax, no Match blocks) come first,
                    so they win over the bed's defaults (sshd keeps an option's first value).
  ``sshd`` / ``sshd2``  one daemon each on 127.0.0.21 / 127.0.0.22, trusted in known_hosts.

Fake tools for other tests: write executables into ``instance.bin_dir`` (first on the
session's PATH) or pass ``path_prefix=[dir]`` (a folder under ``ssh_shared_dir``: the test
user must be able to read it) / ``set_env={"NAME": "value"}``.
"""

from __future__ import annotations

import contextlib
import os
import pwd
import shutil
import signal
import socket
import subprocess
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from tests.system import need

SSHD = "/usr/sbin/sshd"
TEST_USER = "ccssh"
BASE_PATH = "/usr/local/bin:/usr/bin:/bin"
READY_TIMEOUT_S = 10.0


def _sshd_available() -> bool:
    return os.path.exists(SSHD) and shutil.which("ssh-keygen") is not None


def _keygen(path: Path, comment: str) -> str:
    """New ed25519 key pair at ``path``; returns the public key line."""
    for p in (path, path.with_name(path.name + ".pub")):
        p.unlink(missing_ok=True)
    subprocess.run(
        ["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-C", comment, "-f", str(path)], check=True, capture_output=True
    )
    return path.with_name(path.name + ".pub").read_text().strip()


def _free_port(addr: str) -> int:
    with socket.socket() as s:
        s.bind((addr, 0))
        return s.getsockname()[1]


def _ensure_user(name: str) -> pwd.struct_passwd:
    try:
        return pwd.getpwnam(name)
    except KeyError:
        pass
    subprocess.run(["useradd", "--create-home", "--shell", "/bin/bash", name], check=True, capture_output=True)
    # "*" instead of useradd's "!": with UsePAM no, sshd refuses a *locked* account.
    subprocess.run(["usermod", "-p", "*", name], check=True, capture_output=True)
    return pwd.getpwnam(name)


@dataclass
class SshdInstance:
    """One running sshd. ``host`` is its loopback address (the server_id)."""

    host: str
    port: int
    dir: Path
    user: str
    authorized_keys: list[str]
    set_env: dict[str, str] = field(default_factory=dict)
    path_prefix: list[str] = field(default_factory=list)
    extra_config: list[str] = field(default_factory=list)
    host_pubkey: str = ""
    proc: subprocess.Popen | None = None

    @property
    def host_key(self) -> Path:
        return self.dir / "ssh_host_ed25519_key"

    @property
    def bin_dir(self) -> Path:
        """First on the session PATH: put fake tools here."""
        return self.dir / "bin"

    @property
    def work_dir(self) -> Path:
        """A folder owned by the test user (for uploads)."""
        return self.dir / "work"

    @property
    def log_path(self) -> Path:
        return self.dir / "sshd.log"

    @property
    def config_path(self) -> Path:
        return self.dir / "sshd_config"

    def known_hosts_line(self) -> str:
        return f"[{self.host}]:{self.port} {self.host_pubkey}"

    def log(self) -> str:
        return self.log_path.read_text(errors="replace") if self.log_path.exists() else ""

    def accepted_logins(self) -> int:
        """Successful authentications so far = SSH connections opened by clients."""
        return self.log().count("Accepted publickey for")

    def _config(self) -> str:
        path = ":".join([str(self.bin_dir), *self.path_prefix, BASE_PATH])
        env = {"PATH": path, "CC_SSHD_HOST": self.host, **self.set_env}
        lines = [  # sshd keeps the FIRST value of an option: extra_config goes first
            *self.extra_config,
            f"ListenAddress {self.host}:{self.port}",
            f"HostKey {self.host_key}",
            "PidFile none",
            f"AuthorizedKeysFile {self.dir}/authorized_keys",
            "StrictModes no",
            "UsePAM no",
            "PasswordAuthentication no",
            "KbdInteractiveAuthentication no",
            "PubkeyAuthentication yes",
            f"AllowUsers {self.user}",
            "PermitUserEnvironment yes",
            "AllowTcpForwarding yes",
            "LogLevel VERBOSE",
            "Subsystem sftp internal-sftp",
            "SetEnv " + " ".join(f'"{k}={v}"' for k, v in env.items()),
        ]
        return "\n".join(lines) + "\n"

    def prepare(self, *, new_host_key: bool = True) -> None:
        uid = pwd.getpwnam(self.user).pw_uid
        for d in (self.dir, self.bin_dir, self.work_dir):
            d.mkdir(parents=True, exist_ok=True)
            d.chmod(0o755)
        os.chown(self.work_dir, uid, -1)
        if new_host_key or not self.host_key.exists():
            self.host_pubkey = " ".join(_keygen(self.host_key, f"sshd@{self.host}").split()[:2])
        ak = self.dir / "authorized_keys"
        ak.write_text("".join(k + "\n" for k in self.authorized_keys))
        ak.chmod(0o644)
        self.config_path.write_text(self._config())

    def start(self) -> None:
        Path("/run/sshd").mkdir(parents=True, exist_ok=True)
        log = self.log_path.open("a")
        self.proc = subprocess.Popen(
            [SSHD, "-D", "-e", "-f", str(self.config_path)],
            stdout=log,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
        )
        log.close()
        self._wait_ready()

    def _wait_ready(self) -> None:
        deadline = time.monotonic() + READY_TIMEOUT_S
        while time.monotonic() < deadline:
            if self.proc is not None and self.proc.poll() is not None:
                raise RuntimeError(f"sshd on {self.host}:{self.port} exited:\n{self.log()}")
            try:
                with socket.create_connection((self.host, self.port), timeout=0.5):
                    return
            except OSError:
                time.sleep(0.02)  # polling interval of the readiness probe, with a deadline
        raise RuntimeError(f"sshd on {self.host}:{self.port} not ready after {READY_TIMEOUT_S}s:\n{self.log()}")

    def sessions(self) -> list[int]:
        """PIDs of the per-connection sshd processes (descendants of this daemon)."""
        if self.proc is None:
            return []
        parents: dict[int, int] = {}
        for stat in Path("/proc").glob("[0-9]*/stat"):
            try:
                fields = stat.read_text().rsplit(")", 1)[1].split()
            except OSError:
                continue
            if fields[0] != "Z":  # zombies are dead already
                parents[int(stat.parent.name)] = int(fields[1])
        found, frontier = [], [self.proc.pid]
        while frontier:
            kids = [pid for pid, ppid in parents.items() if ppid in frontier]
            found += kids
            frontier = kids
        return found

    def drop_connections(self) -> None:
        """Kill every client session of this daemon (a server-side network cut) and wait."""
        for pid in self.sessions():
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGKILL)
        deadline = time.monotonic() + READY_TIMEOUT_S
        while self.sessions():
            if time.monotonic() > deadline:
                raise RuntimeError(f"sessions of sshd {self.host} did not die")
            time.sleep(0.02)

    def stop(self) -> None:
        if self.proc is None or self.proc.poll() is not None:
            return
        self.drop_connections()
        self.proc.terminate()
        try:
            self.proc.wait(timeout=5)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait(timeout=5)

    def restart(self, *, new_host_key: bool = False) -> None:
        """Stop, optionally change the host key, start again on the same address/port."""
        self.stop()
        self.prepare(new_host_key=new_host_key)
        self.start()


@dataclass
class ClientKit:
    """The SSH client's side: a fake home with a key pair, known_hosts and ssh_config."""

    home: Path
    key: Path
    pubkey: str
    known_hosts: Path
    ssh_config: Path

    def trust(self, inst: SshdInstance) -> None:
        with self.known_hosts.open("a") as f:
            f.write(inst.known_hosts_line() + "\n")

    def options(self, **kw):
        from console.remote import SSHOptions

        base = dict(
            ssh_config=self.ssh_config,
            user=TEST_USER,
            identities=[self.key],
            known_hosts=self.known_hosts,
            connect_timeout=5.0,
            command_timeout=20.0,
        )
        base.update(kw)
        return SSHOptions(**base)


@pytest.fixture(scope="session")
def ssh_test_user() -> str:
    need(_sshd_available(), f"OpenSSH server ({SSHD}) and ssh-keygen are needed")
    need(os.geteuid() == 0, "starting sshd for a dedicated test user needs root")
    return _ensure_user(TEST_USER).pw_name


@pytest.fixture
def ssh_client(ssh_test_user, tmp_path, monkeypatch) -> ClientKit:
    home = tmp_path / "home"
    (home / ".ssh").mkdir(parents=True, mode=0o700)
    monkeypatch.setenv("HOME", str(home))
    monkeypatch.delenv("SSH_AUTH_SOCK", raising=False)
    key = home / ".ssh" / "id_test"
    pub = _keygen(key, "cluster-console-test")
    kh = home / ".ssh" / "known_hosts"
    kh.touch()
    cfg = home / ".ssh" / "config"
    cfg.touch()
    return ClientKit(home=home, key=key, pubkey=pub, known_hosts=kh, ssh_config=cfg)


@pytest.fixture
def ssh_shared_dir(ssh_test_user) -> Iterator[Path]:
    """A world-readable folder under /tmp (pytest's tmp_path is root-only) for files the
    test user must read: the daemons' folders, fake tools for ``path_prefix``."""
    base = Path(tempfile.mkdtemp(prefix="cc-sshd-", dir="/tmp"))
    base.chmod(0o755)
    yield base
    shutil.rmtree(base, ignore_errors=True)


@pytest.fixture
def sshd_factory(ssh_client, ssh_shared_dir) -> Iterator:
    base = ssh_shared_dir
    started: list[SshdInstance] = []

    def start(
        addr: str = "127.0.0.21",
        *,
        set_env: dict[str, str] | None = None,
        path_prefix: list[str] | None = None,
        extra_config: list[str] | None = None,
        authorized_keys: list[str] | None = None,
        trust: bool = True,
    ) -> SshdInstance:
        inst = SshdInstance(
            host=addr,
            port=_free_port(addr),
            dir=base / f"{addr}-{len(started)}",
            user=TEST_USER,
            authorized_keys=authorized_keys or [ssh_client.pubkey],
            set_env=set_env or {},
            path_prefix=path_prefix or [],
            extra_config=extra_config or [],
        )
        inst.prepare()
        started.append(inst)
        inst.start()
        if trust:
            ssh_client.trust(inst)
        return inst

    yield start
    for inst in started:
        inst.stop()


@pytest.fixture
def sshd(sshd_factory) -> SshdInstance:
    return sshd_factory("127.0.0.21")


@pytest.fixture
def sshd2(sshd_factory) -> SshdInstance:
    return sshd_factory("127.0.0.22")
