"""``Pool.put_file``: a file written where no other local user can redirect it.

The rules are those of the launch's run folder (``console.ops.rundir_remote``), over SFTP,
in this order, so that nothing is created before the path is known to be safe:
* every component of the destination folder's path, from ``/``, is checked with ``lstat``
  by the one walk both use (``console.core.pathwalk``): a folder owned by you or root, not
  writable by group or others unless it is a root-owned sticky folder (``/tmp``); a symlink
  must be yours or root's (then followed and its target checked the same way);
* an existing destination must be a file (or link) of yours or root's, never a folder;
* the data goes to a fresh random name in the destination folder, created exclusively
  (SFTP ``CREAT|EXCL`` = ``O_EXCL``: never an existing file, never through a symlink), given
  its mode, then renamed over the destination (a rename never writes through a link).
"You" is the login's uid on the server, asked with ``id -u`` over the same connection
before the SFTP session starts (SFTP does not say who we are).
A refusal is ``CheckFailed`` naming the host, the path and why; nothing is left behind.
"""

from __future__ import annotations

import asyncio
import contextlib
import posixpath
import secrets
import stat
from typing import TYPE_CHECKING

import asyncssh

from console.core.errors import CheckFailed, InputError, RemoteError
from console.core.pathwalk import Refused, walk_folder

from .errors import command_error
from .process import timeout_error

if TYPE_CHECKING:
    from .pool import Pool


def _owner(uid: int) -> str:
    return str(uid)  # a uid on the server: this host's user names say nothing about it


async def _secure_dir(sftp: asyncssh.SFTPClient, folder: str, uid: int) -> None:
    """Every component of the absolute ``folder`` passes ``console.core.pathwalk``'s walk."""
    walk = walk_folder(folder, uid, _owner)
    answer: object = None
    while True:
        try:
            op, cur = walk.send(answer)
        except StopIteration:
            return
        if op == "readlink":
            answer = await sftp.readlink(cur)
        else:
            attrs = await sftp.lstat(cur)
            answer = (attrs.permissions or 0, attrs.uid)


async def _check_dest(sftp: asyncssh.SFTPClient, dest: str, uid: int) -> None:
    try:
        attrs = await sftp.lstat(dest)
    except asyncssh.SFTPNoSuchFile:
        return
    if stat.S_ISDIR(attrs.permissions or 0):
        raise Refused(dest, "exists and is a folder")
    if attrs.uid not in (uid, 0):
        kind = "a symlink" if stat.S_ISLNK(attrs.permissions or 0) else "a file"
        raise Refused(dest, f"exists and is {kind} owned by uid {attrs.uid}, not by you or root: not replaced")


async def safe_put(sftp: asyncssh.SFTPClient, host: str, data: bytes, remote_path: str, mode: int, uid: int) -> None:
    """Write ``data`` to ``remote_path`` (relative: in the login's home) by the rules above;
    ``uid`` is the login's user id on the server (``id -u``)."""
    head, name = posixpath.split(remote_path)
    folder = head if head.startswith("/") else posixpath.join(await sftp.realpath("."), head)
    tmp = posixpath.join(folder, f".{name}.{secrets.token_hex(6)}.tmp")
    dest = posixpath.join(folder, name)
    created = False
    try:
        # The folder's whole path first: nothing is created until it is known to be safe.
        await _secure_dir(sftp, folder, uid)
        await _check_dest(sftp, dest, uid)
        async with sftp.open(tmp, "xb", attrs=asyncssh.SFTPAttrs(permissions=mode)) as f:
            created = True
            await f.write(data)
        await sftp.chmod(tmp, mode)  # the server's umask may have narrowed it
        await sftp.posix_rename(tmp, dest)
    except BaseException as exc:
        if created:
            with contextlib.suppress(Exception):
                await sftp.remove(tmp)
        if isinstance(exc, Refused):
            raise CheckFailed(
                "unsafe destination on the server: file not written",
                f"{exc.path}: {exc.why}",
                host=host,
                path=remote_path,
                hint="another user may control that folder or file; write into a folder of your own",
            ) from None
        raise


async def put_file(pool: Pool, host: str, data: bytes, remote_path: str, *, mode: int = 0o640) -> None:
    """``Pool.put_file``: the login's uid, then ``safe_put`` over one SFTP session of ``pool``."""
    if not posixpath.basename(remote_path):
        raise InputError("remote path names a folder, not a file", path=remote_path, host=host)
    uid = await login_uid(pool, host)
    command = f"sftp put {remote_path}"
    try:
        async with pool.sftp(host, command, pool.options.command_timeout) as sftp:
            await asyncio.wait_for(safe_put(sftp, host, data, remote_path, mode, uid), pool.options.command_timeout)
    except TimeoutError:
        raise timeout_error(host, command, pool.options.command_timeout) from None
    except (asyncssh.Error, OSError) as exc:
        err = command_error(exc, host, command)
        err.path = remote_path
        raise err from None
    except RemoteError as err:
        err.path = err.path or remote_path
        raise


async def login_uid(pool: Pool, host: str) -> int:
    """The login's uid on ``host`` (``id -u``; the last line: a login script may print)."""
    result = await pool.run(host, "id -u")
    lines = result.stdout.split()
    if result.exit_status != 0 or not lines or not lines[-1].isdigit():
        raise RemoteError(
            "cannot tell who we are on the server",
            f"id -u answered {result.stdout.strip()[-80:]!r} (exit {result.exit_status})",
            host=host,
            command=result.command,
        )
    return int(lines[-1])
