"""Host key policy: known_hosts and StrictHostKeyChecking, as OpenSSH's sshconnect.c.

asyncssh trusts the keys our lookup returns (``HostKeyCheck.trusted``); for any other key it
asks ``SSHClient.validate_host_public_key``. There we tell an UNKNOWN host from a CHANGED one
and apply StrictHostKeyChecking: ``yes``/``ask`` refuse both (no prompt: the fingerprint is
shown); ``accept-new`` records an unknown key and refuses a changed one; ``no`` records an
unknown key and lets a changed key through, with a loud warning (the connection then carries
no password, keyboard-interactive or agent forwarding, as ssh). An accepted key is written to
known_hosts only after the connection is up, i.e. after the server proved it holds the key.

Lookups follow ssh: the name is HostKeyAlias, else the host name; off port 22 it is
``[host]:port``, and a key recorded for the bare host is trusted only if it is the very key
offered, so a key stored for port 22 makes another port's host UNKNOWN, never CHANGED.
User files (UserKnownHostsFile) and GlobalKnownHostsFile are both consulted; only the first
user file is written.
"""

from __future__ import annotations

import asyncio
import base64
import hashlib
import hmac
import logging
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

import asyncssh

from console.core.errors import RemoteError

if TYPE_CHECKING:
    from .connectargs import ProxyCapture

DEFAULT_PORT = 22
log = logging.getLogger(__name__)
"""An accepted key is announced here (WARNING), as ssh's ``Warning: Permanently added ...``;
the CLI shows this logger on stderr, the remote layer never prints."""

_KEY_TYPES = {
    "ssh-ed25519": "ED25519",
    "ssh-rsa": "RSA",
    "rsa-sha2-256": "RSA",
    "rsa-sha2-512": "RSA",
    "ssh-dss": "DSA",
    "sk-ssh-ed25519@openssh.com": "ED25519-SK",
    "sk-ecdsa-sha2-nistp256@openssh.com": "ECDSA-SK",
}


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


def hashed_name(name: str) -> str:
    """A known_hosts host field hashed as ssh's HashKnownHosts (HMAC-SHA1, random salt)."""
    salt = os.urandom(20)
    digest = hmac.new(salt, name.encode(), hashlib.sha1).digest()
    return f"|1|{base64.b64encode(salt).decode()}|{base64.b64encode(digest).decode()}"


def load_known_hosts(files: tuple[Path, ...]) -> asyncssh.SSHKnownHosts:
    """Parse every existing file of ``files`` (missing files are empty, as in ssh)."""
    text = []
    for path in files:
        try:
            text.append(path.read_text())
        except FileNotFoundError:
            continue
        except OSError as exc:
            raise RemoteError("cannot read known_hosts", exc.strerror or str(exc), path=str(path)) from None
    try:
        return asyncssh.import_known_hosts("\n".join(text))
    except (ValueError, asyncssh.KeyImportError) as exc:
        raise RemoteError("cannot parse known_hosts", str(exc), path=", ".join(map(str, files))) from None


_Match = tuple  # asyncssh's 7-tuple: host keys, CA keys, revoked keys, x509 ...


@dataclass
class HostKeyCheck:
    """The decision for one connection attempt, kept for the error message."""

    known: asyncssh.SSHKnownHosts
    """Keys of the user and global known_hosts files together."""
    files: tuple[Path, ...]
    """User known_hosts files: new keys go to the first one."""
    strict: str = "yes"
    """StrictHostKeyChecking: yes | ask | accept-new | no."""
    alias: str | None = None
    """HostKeyAlias: looked up (and recorded) instead of the host name, without a port."""
    hash_names: bool = False
    """HashKnownHosts: record the name hashed (``|1|salt|hmac``), as ssh does."""
    verdict: str = "ok"  # ok | unknown | changed | accepted | changed-allowed
    offered: str = ""
    recorded: list[str] = field(default_factory=list)
    pending_line: str | None = None
    pending_note: str = ""
    proxy: ProxyCapture | None = None
    """The ProxyCommand capture of this attempt (see proxycommand.py), if any."""

    @property
    def accept_new(self) -> bool:
        return self.strict in ("accept-new", "no")

    def name(self, host: str, port: int) -> tuple[str, int | None]:
        """The known_hosts name ssh looks up: (alias or host, port or None on port 22)."""
        if self.alias:
            return self.alias, None
        return host, port if port and port != DEFAULT_PORT else None

    def _keys(self, name: str, port: int | None) -> _Match:
        return self.known.match(f"[{name}]:{port}" if port else name, "", None)

    def trusted(self, host: str, addr: str, port: int | None) -> _Match:
        """asyncssh's known_hosts callable: the keys trusted for this host (never by address:
        ssh's CheckHostIP is off by default)."""
        name, lookup_port = self.name(host, port or DEFAULT_PORT)
        keys = self._keys(name, lookup_port)
        if lookup_port and not (keys[0] or keys[1]):
            return self._keys(name, None)  # a matching key recorded without the port is fine
        return keys

    def decide(self, host: str, addr: str, port: int, key: asyncssh.SSHKey) -> bool:
        """Called by asyncssh only for a key not already trusted."""
        name, lookup_port = self.name(host, port)
        old = list(self._keys(name, lookup_port)[0])
        self.offered = fingerprint(key)
        if old:
            self.recorded = list(dict.fromkeys(fingerprint(k) for k in old))
            self.verdict = "changed-allowed" if self.strict == "no" else "changed"
            if self.verdict == "changed-allowed":
                self.pending_note = name if lookup_port is None else f"[{name}]:{lookup_port}"
            return self.strict == "no"
        if not self.accept_new:
            self.verdict = "unknown"
            return False
        self.verdict = "accepted"
        entry = name if lookup_port is None else f"[{name}]:{lookup_port}"
        blob = key.export_public_key("openssh").decode().split()[:2]
        name_field = hashed_name(entry) if self.hash_names else entry
        self.pending_line = f"{name_field} {' '.join(blob)}\n"
        self.pending_note = f"'{entry}' ({key_type(key)})"
        return True

    def error(self, target: str, hostname: str, port: int) -> RemoteError | None:
        """The RemoteError for a refused key, or None when the key was not the problem."""
        where = str(self.files[0]) if self.files else "known_hosts"
        name, lookup_port = self.name(hostname, port)
        entry = name if lookup_port is None else f"[{name}]:{lookup_port}"
        if self.verdict == "unknown":
            return RemoteError(
                "host key unknown",
                f"server offers {self.offered} for {entry} (StrictHostKeyChecking {self.strict})",
                host=target,
                path=where,
                hint=f"check this fingerprint out of band (ssh-keygen -lf on the server), then "
                f"pass --accept-new to record it in {where}",
            )
        if self.verdict == "changed":
            return RemoteError(
                "HOST KEY CHANGED: refusing to connect (possible man-in-the-middle attack)",
                f"known_hosts has {', '.join(self.recorded)} for {entry}; server now offers {self.offered}",
                host=target,
                path=where,
                hint=f"if the server was reinstalled, remove the old entry with "
                f"ssh-keygen -R '{entry}' -f {where}; "
                f"--accept-new never overrides a changed key",
            )
        return None


class _Client(asyncssh.SSHClient):
    def __init__(self, check: HostKeyCheck) -> None:
        self._check = check

    def validate_host_public_key(self, host: str, addr: str, port: int, key: asyncssh.SSHKey) -> bool:
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
            raise RemoteError("cannot read known_hosts", exc.strerror or str(exc), path=str(path)) from None
        out.append((st.st_ino, st.st_mtime_ns, st.st_size))
    return tuple(out)


class HostKeyPolicy:
    """Shared by a pool: builds a check per connect and serialises known_hosts writes.

    The parsed known_hosts is kept per file tuple while no file changed (same inode, mtime
    and size), so a thousand connections parse it once; a miss is parsed off the loop."""

    def __init__(self, accept_new: bool = False) -> None:
        self.accept_new = accept_new
        self._write_lock = asyncio.Lock()
        self._load_lock = asyncio.Lock()
        self._parsed: dict[tuple[Path, ...], tuple[_Stamp, asyncssh.SSHKnownHosts]] = {}

    async def new_check(
        self,
        files: tuple[Path, ...],
        global_files: tuple[Path, ...] = (),
        *,
        strict: str | None = None,
        alias: str | None = None,
        hash_names: bool = False,
    ) -> HostKeyCheck:
        """A check over ``files`` (user) and ``global_files``; ``strict`` None: accept-new
        if the policy says so, else yes."""
        if strict is None:
            strict = "accept-new" if self.accept_new else "yes"
        return HostKeyCheck(
            known=await self.known_hosts(files + global_files),
            files=files,
            strict=strict,
            alias=alias,
            hash_names=hash_names,
        )

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
        """Append an accepted key to the first known_hosts file (0600, like ssh); warn loudly
        about a key let through by StrictHostKeyChecking no."""
        if check.verdict == "changed-allowed":
            log.warning(
                "WARNING: HOST KEY CHANGED for %s (%s): known_hosts has %s, the server now "
                "offers %s. Connected anyway because StrictHostKeyChecking is 'no' for this "
                "host (possible man-in-the-middle attack); password, keyboard-interactive "
                "and agent forwarding are off for it.",
                target,
                check.pending_note,
                ", ".join(check.recorded),
                check.offered,
            )
            return
        if check.pending_line is None:
            return
        if check.strict == "no":
            log.warning(
                "WARNING: %s: host key %s NOT VERIFIED (StrictHostKeyChecking no for this host); accepted as it is.",
                target,
                check.offered,
            )
        if not check.files:
            log.warning("Warning: %s: no UserKnownHostsFile to record its key in.", target)
            check.pending_line = None
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
                raise RemoteError(
                    "cannot record host key", exc.strerror or str(exc), host=target, path=str(path)
                ) from None
            finally:
                self._forget(path)
        check.pending_line = None
        log.warning("Warning: Permanently added %s to the list of known hosts (%s).", check.pending_note, path)
