"""``Pool.put_file``'s SFTP part: a file written where no other local user can redirect it.

The rules are those of the launch's run folder (``console.ops.rundir_remote``), over SFTP:
* the data goes to a fresh random name in the destination folder, created exclusively
  (SFTP ``CREAT|EXCL`` = ``O_EXCL``: never an existing file, never through a symlink), given
  its mode, then renamed over the destination (a rename never writes through a link);
* every component of the destination folder's path, from ``/``, is checked with ``lstat``:
  a folder owned by you or root, not writable by group or others unless it is a root-owned
  sticky folder (``/tmp``); a symlink must be yours or root's (then followed and its target
  checked the same way);
* an existing destination must be a file (or link) of yours or root's, never a folder.
"You" is the owner of the temp file just created: SFTP does not say who we are otherwise.
A refusal is ``CheckFailed`` naming the host, the path and why; the temp file is removed.
"""

from __future__ import annotations

import contextlib
import posixpath
import secrets
import stat

import asyncssh

from console.core.errors import CheckFailed

MAX_LINKS = 40


class _Refused(Exception):
    def __init__(self, path: str, why: str) -> None:
        super().__init__(f"{path}: {why}")
        self.path = path
        self.why = why


def _check_dir(attrs: asyncssh.SFTPAttrs, path: str, uid: int) -> None:
    mode = attrs.permissions or 0
    if not stat.S_ISDIR(mode):
        raise _Refused(path, "is not a folder")
    if attrs.uid not in (uid, 0):
        raise _Refused(path, f"is owned by uid {attrs.uid}, not by you or root")
    sticky_root = attrs.uid == 0 and mode & stat.S_ISVTX
    if mode & 0o022 and not sticky_root:
        raise _Refused(
            path,
            f"is writable by group or others (mode {stat.S_IMODE(mode):04o}) and is not a root-owned sticky folder",
        )


async def _secure_dir(sftp: asyncssh.SFTPClient, folder: str, uid: int) -> None:
    """Every component of the absolute ``folder`` passes ``_check_dir`` (links: see module)."""
    _check_dir(await sftp.lstat("/"), "/", uid)
    todo = [c for c in folder.split("/") if c]
    real: list[str] = []
    links = 0
    while todo:
        part = todo.pop(0)
        if part == ".":
            continue
        if part == "..":
            if real:
                real.pop()
            continue
        cur = "/" + "/".join([*real, part])
        attrs = await sftp.lstat(cur)
        if stat.S_ISLNK(attrs.permissions or 0):
            if attrs.uid not in (uid, 0):
                raise _Refused(cur, f"is a symlink owned by uid {attrs.uid}, not by you or root")
            links += 1
            if links > MAX_LINKS:
                raise _Refused(cur, "too many levels of symbolic links")
            target = await sftp.readlink(cur)
            if target.startswith("/"):
                real = []
            todo = [c for c in target.split("/") if c] + todo
            continue
        _check_dir(attrs, cur, uid)
        real.append(part)


async def _check_dest(sftp: asyncssh.SFTPClient, dest: str, uid: int) -> None:
    try:
        attrs = await sftp.lstat(dest)
    except asyncssh.SFTPNoSuchFile:
        return
    if stat.S_ISDIR(attrs.permissions or 0):
        raise _Refused(dest, "exists and is a folder")
    if attrs.uid not in (uid, 0):
        kind = "a symlink" if stat.S_ISLNK(attrs.permissions or 0) else "a file"
        raise _Refused(dest, f"exists and is {kind} owned by uid {attrs.uid}, not by you or root: not replaced")


async def safe_put(sftp: asyncssh.SFTPClient, host: str, data: bytes, remote_path: str, mode: int) -> None:
    """Write ``data`` to ``remote_path`` (relative: in the login's home) by the rules above."""
    head, name = posixpath.split(remote_path)
    folder = head if head.startswith("/") else posixpath.join(await sftp.realpath("."), head)
    tmp = posixpath.join(folder, f".{name}.{secrets.token_hex(6)}.tmp")
    dest = posixpath.join(folder, name)
    try:
        async with sftp.open(tmp, "xb", attrs=asyncssh.SFTPAttrs(permissions=mode)) as f:
            uid = (await f.stat()).uid
            assert uid is not None
            await _secure_dir(sftp, folder, uid)
            await _check_dest(sftp, dest, uid)
            await f.write(data)
        await sftp.chmod(tmp, mode)  # the server's umask may have narrowed it
        await sftp.posix_rename(tmp, dest)
    except BaseException as exc:
        with contextlib.suppress(Exception):
            await sftp.remove(tmp)
        if isinstance(exc, _Refused):
            raise CheckFailed(
                "unsafe destination on the server: file not written",
                f"{exc.path}: {exc.why}",
                host=host,
                path=remote_path,
                hint="another user may control that folder or file; write into a folder of your own",
            ) from None
        raise
