"""``Pool.put_file``'s SFTP part: a file written where no other local user can redirect it.

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

import contextlib
import posixpath
import secrets
import stat

import asyncssh

from console.core.errors import CheckFailed
from console.core.pathwalk import Refused, walk_folder


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
