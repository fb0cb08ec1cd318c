"""Host key policy: known_hosts, accept-new, and loud refusal of changed keys.

asyncssh trusts the keys in the known_hosts object we pass; for any other key it asks
``SSHClient.validate_host_public_key``. There we tell an UNKNOWN host (no key recorded:
refused unless ``accept_new``) from a CHANGED one (a different key recorded: always refused),
as OpenSSH's ``StrictHostKeyChecking=accept-new``. An accepted key is written to known_hosts
only after the connection is up, i.e. after the server proved it holds the private key.
"""

from __future__ import annotations

import asyncio
import logging
import os
from dataclasses import dataclass, field
from pathlib import Path

import asyncssh

from console.core.errors import RemoteError

DEFAULT_PORT = 22
log = logging.getLogger(__name__)
"""An accepted key is announced here (WARNING), as ssh's ``Warning: Permanently added ...``;
the CLI shows this logger on stderr, the remote layer never prints."""

_KEY_TYPES = {"ssh-ed25519": "ED25519", "ssh-rsa": "RSA", "rsa-sha2-256": "RSA", "rsa-sha2-512": "RSA",
              "ssh-dss": "DSA", "sk-ssh-ed25519@openssh.com": "ED25519-SK",
              "sk-ecdsa-sha2-nistp256@openssh.com": "ECDSA-SK"}


def key_type(key: asyncssh.SSHKey) -> str:
    """``ED25519``, ``ECDSA``, ``RSA``... as ssh names the key type in its messages."""
    algorithm = key.get_algorithm()
    return _KEY_TYPES.get(algorithm, "ECDSA" if algorithm.startswith("ecdsa-") else algorithm)


def fingerprint(key: asyncssh.SSHKey) -> str:
    """``ssh-ed25519 SHA256:...`` as ssh prints it."""
    return f"{key.get_algorithm()} {key.get_fingerprint('sha256')}"


def known_hosts_name(host: str, port: int) -> str:
    """The host field of a known_hosts line (``[host]:port`` off port 22)."""
    return host if port == DEFAULT_PORT else f"[{host}]:{port}"


def load_known_hosts(files: tuple[Path, ...]) -> asyncssh.SSHKnownHosts:
    """Parse every existing file of ``files`` (missing files are empty, as in ssh)."""
    text = []
    for path in files:
        try:
            text.append(path.read_text())
        except FileNotFoundError:
            continue
        except OSError as exc:
            raise RemoteError("cannot read known_hosts", exc.strerror or str(exc),
                              path=str(path)) from None
    try:
        return asyncssh.import_known_hosts("\n".join(text))
    except (ValueError, asyncssh.KeyImportError) as exc:
        raise RemoteError("cannot parse known_hosts", str(exc),
                          path=", ".join(map(str, files))) from None


@dataclass
class HostKeyCheck:
    """The decision for one connection attempt, kept for the error message."""

    known: asyncssh.SSHKnownHosts
    files: tuple[Path, ...]
    accept_new: bool
    verdict: str = "ok"  # ok | unknown | changed | accepted
    offered: str = ""
    recorded: list[str] = field(default_factory=list)
    pending_line: str | None = None
    pending_note: str = ""

    def decide(self, host: str, addr: str, port: int, key: asyncssh.SSHKey) -> bool:
        """Called by asyncssh only for a key not already trusted."""
        match = self.known.match(host, addr, port if port != DEFAULT_PORT else None)
        old = list(match[0])
        self.offered = fingerprint(key)
        if old:
            self.verdict = "changed"
            self.recorded = list(dict.fromkeys(fingerprint(k) for k in old))
            return False
        if not self.accept_new:
            self.verdict = "unknown"
            return False
        self.verdict = "accepted"
        blob = key.export_public_key("openssh").decode().split()[:2]
        self.pending_line = f"{known_hosts_name(host, port)} {' '.join(blob)}\n"
        self.pending_note = f"'{known_hosts_name(host, port)}' ({key_type(key)})"
        return True

    def error(self, target: str, hostname: str, port: int) -> RemoteError | None:
        """The RemoteError for a refused key, or None when the key was not the problem."""
        where = str(self.files[0])
        if self.verdict == "unknown":
            return RemoteError(
                "host key unknown", f"server offers {self.offered}", host=target, path=where,
                hint=f"check this fingerprint out of band (ssh-keygen -lf on the server), then "
                     f"pass --accept-new to record it in {where}")
        if self.verdict == "changed":
            return RemoteError(
                "HOST KEY CHANGED: refusing to connect (possible man-in-the-middle attack)",
                f"known_hosts has {', '.join(self.recorded)}; server now offers {self.offered}",
                host=target, path=where,
                hint=f"if the server was reinstalled, remove the old entry with "
                     f"ssh-keygen -R '{known_hosts_name(hostname, port)}' -f {where}; "
                     f"--accept-new never overrides a changed key")
        return None


class _Client(asyncssh.SSHClient):
    def __init__(self, check: HostKeyCheck) -> None:
        self._check = check

    def validate_host_public_key(self, host: str, addr: str, port: int,
                                 key: asyncssh.SSHKey) -> bool:
        return self._check.decide(host, addr, port, key)


_Stamp = tuple[tuple[int, int, int] | None, ...]


def _stamp(files: tuple[Path, ...]) -> _Stamp:
    """(inode, mtime, size) of every file, None for a missing one: any edit changes it."""
    out: list[tuple[int, int, int] | None] = []
    for path in files:
        try:
            st = path.stat()
        except FileNotFoundError:
            out.append(None)
            continue
        except OSError as exc:
            raise RemoteError("cannot read known_hosts", exc.strerror or str(exc),
                              path=str(path)) from None
        out.append((st.st_ino, st.st_mtime_ns, st.st_size))
    return tuple(out)


class HostKeyPolicy:
    """Shared by a pool: builds a check per connect and serialises known_hosts writes.

    The parsed known_hosts is kept per file tuple while no file changed (same inode, mtime
    and size), so a thousand connections parse it once; a miss is parsed off the loop."""

    def __init__(self, accept_new: bool) -> None:
        self.accept_new = accept_new
        self._write_lock = asyncio.Lock()
        self._load_lock = asyncio.Lock()
        self._parsed: dict[tuple[Path, ...], tuple[_Stamp, asyncssh.SSHKnownHosts]] = {}

    async def new_check(self, files: tuple[Path, ...]) -> HostKeyCheck:
        return HostKeyCheck(known=await self.known_hosts(files), files=files,
                            accept_new=self.accept_new)

    async def known_hosts(self, files: tuple[Path, ...]) -> asyncssh.SSHKnownHosts:
        """The keys of ``files`` as they are on disk now (cached while unchanged)."""
        async with self._load_lock:  # connections opened together parse the file once
            stamp = _stamp(files)
            cached = self._parsed.get(files)
            if cached is not None and cached[0] == stamp:
                return cached[1]
            # stamped before reading: a write in between only makes the next call parse again
            known = await asyncio.to_thread(load_known_hosts, files)
            self._parsed[files] = (stamp, known)
            return known

    def _forget(self, path: Path) -> None:
        for files in [f for f in self._parsed if path in f]:
            del self._parsed[files]

    @staticmethod
    def client_factory(check: HostKeyCheck):
        return lambda: _Client(check)

    async def record(self, check: HostKeyCheck, target: str) -> None:
        """Append an accepted key to the first known_hosts file (0600, like ssh)."""
        if check.pending_line is None:
            return
        path = check.files[0]
        async with self._write_lock:
            try:
                path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
                fd = os.open(path, os.O_RDWR | os.O_APPEND | os.O_CREAT, 0o600)
                with os.fdopen(fd, "a+b") as f:
                    f.seek(0, os.SEEK_END)
                    if f.tell() > 0:
                        f.seek(-1, os.SEEK_END)
                        lead = b"" if f.read(1) == b"\n" else b"\n"
                    else:
                        lead = b""
                    f.write(lead + check.pending_line.encode())
            except OSError as exc:
                raise RemoteError("cannot record host key", exc.strerror or str(exc),
                                  host=target, path=str(path)) from None
            finally:
                self._forget(path)
        check.pending_line = None
        log.warning("Warning: Permanently added %s to the list of known hosts (%s).",
                    check.pending_note, path)
