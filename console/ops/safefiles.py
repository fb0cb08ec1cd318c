"""Files the console writes on this machine: whole or not at all, never through a stranger's symlink.

The console usually runs as root, and ``/tmp`` is shared with every local user. Another user
can plant ``/tmp/hccl.json -> /etc/shadow``; a root save that follows it overwrites
``/etc/shadow``. Linux refuses to follow such links when ``fs.protected_symlinks=1``, but the
console does not rely on the sysctl: it applies the same rule itself to every symlink on the
way to a file it writes.

* ``resolve(path)``: like ``os.path.realpath``, but a symlink that sits in a sticky or
  world-writable folder and is owned by neither the current user nor that folder's owner is
  refused (``UnsafePath``: the link, its owner and the folder are named). Any other link is
  followed as before (saving through a link of your own replaces the file it points to).
* ``write_atomic(path, data, mode)``: the file appears whole: a temp file with a random name
  created ``O_EXCL | O_NOFOLLOW`` in the target's folder (opened once, then used through its
  descriptor), written, fsynced, renamed over the target; then the folder is fsynced.
* ``private_dir(base, name)``: a fresh folder ``base/name`` with mode 0700 (``base`` must be a
  ``trusted_folder``, see below; created 0700 when missing), returned as an open descriptor;
  ``open_new(dir_fd, name)`` creates a file in it (``O_EXCL | O_NOFOLLOW``, mode 0600). Files
  opened relative to that descriptor stay in that folder even if someone renames the path.
* ``trusted_folder(path)``: a folder nobody else can change: created 0700 when missing; an
  existing one, and every folder above it, must be owned by the user or root and writable by
  nobody else (group-writable only for the user's own group; a sticky folder owned by root,
  such as ``/tmp``, is fine above it).
* ``open_own_dir(path)`` / ``own_subdir(fd, name)``: an existing folder (or one inside a folder
  descriptor) that is the user's and writable by nobody else, as a descriptor;
  ``replace_new(fd, name, data)`` and ``read_in(fd, name, limit)`` write and read files in it
  without following links (used for evidence in a run record).
"""

from __future__ import annotations

import contextlib
import errno
import os
import pwd
import secrets
import stat
from pathlib import Path

from console.core.errors import InputError

MAX_LINKS = 40
_O_CLOEXEC = getattr(os, "O_CLOEXEC", 0)
_O_NOFOLLOW = getattr(os, "O_NOFOLLOW", 0)
_O_PATH = getattr(os, "O_PATH", os.O_RDONLY)


class UnsafePath(InputError):
    """A path the console refuses to write through (exit 2)."""


def _user(uid: int) -> str:
    try:
        return f"{pwd.getpwuid(uid).pw_name} (uid {uid})"
    except KeyError:
        return f"uid {uid}"


def _check_link(link: Path, link_st: os.stat_result, folder: Path) -> None:
    """The kernel's protected_symlinks rule: in a sticky or world-writable folder, follow a
    link only if it is ours or belongs to the folder's owner."""
    folder_st = os.stat(folder)
    shared = folder_st.st_mode & (stat.S_ISVTX | stat.S_IWOTH)
    if shared and link_st.st_uid not in (os.geteuid(), folder_st.st_uid):
        kind = "sticky" if folder_st.st_mode & stat.S_ISVTX else "world-writable"
        raise UnsafePath(
            "refusing to follow a symlink owned by another user",
            f"{link} -> {os.readlink(link)} is owned by {_user(link_st.st_uid)} in the {kind} "
            f"folder {folder} (owned by {_user(folder_st.st_uid)})",
            path=str(link),
            hint="anyone can plant links there: remove the link, or write to a folder you own",
        )


def resolve(path: str | os.PathLike[str]) -> Path:
    """The absolute path ``path`` leads to, every symlink followed under the rule above.

    Components that do not exist yet are kept as written (like ``realpath``)."""
    todo = list((Path.cwd() / Path(path)).parts[1:])
    done = Path("/")
    links = 0
    while todo:
        name = todo.pop(0)
        if name in ("", "."):
            continue
        if name == "..":
            done = done.parent
            continue
        here = done / name
        try:
            st = os.lstat(here)
        except (FileNotFoundError, NotADirectoryError):
            return here.joinpath(*todo)
        if not stat.S_ISLNK(st.st_mode):
            done = here
            continue
        links += 1
        if links > MAX_LINKS:
            raise UnsafePath("too many levels of symbolic links", path=str(path))
        _check_link(here, st, done)
        target = Path(os.readlink(here))
        if target.is_absolute():
            done = Path("/")
        todo = [p for p in target.parts if p != "/"] + todo
    return done


def _open_dir(folder: Path) -> int:
    """The folder ``folder`` (an absolute path ``resolve`` returned), opened by walking it from
    ``/`` one component at a time with ``O_NOFOLLOW``: a component swapped for a symlink after
    ``resolve`` checked it is refused, not followed."""
    parts = folder.parts[1:]
    fd = os.open("/", (_O_PATH if parts else os.O_RDONLY) | os.O_DIRECTORY | _O_CLOEXEC)
    here = Path("/")
    try:
        for i, part in enumerate(parts):
            here = here / part
            flags = (os.O_RDONLY if i == len(parts) - 1 else _O_PATH) | os.O_DIRECTORY
            nfd = os.open(part, flags | _O_NOFOLLOW | _O_CLOEXEC, dir_fd=fd)
            os.close(fd)
            fd = nfd
    except OSError as exc:
        link = exc.errno in (errno.ELOOP, errno.ENOTDIR) and os.path.islink(here)
        os.close(fd)
        if isinstance(exc, FileNotFoundError):
            raise InputError("folder does not exist", path=str(folder)) from None
        if link:
            raise UnsafePath(
                "refusing to follow a symlink that appeared on the way",
                f"{here} is now a symlink",
                path=str(folder),
                hint="someone changed the path while it was written to",
            ) from None
        if exc.errno == errno.ENOTDIR:
            raise InputError("not a folder", path=str(here)) from None
        raise InputError("cannot open the folder", exc.strerror or str(exc), path=str(folder)) from None
    return fd


def write_atomic(
    path: str | os.PathLike[str], data: bytes, mode: int = 0o644, *, backup: bool = False, what: str = "file"
) -> Path:
    """Put ``data`` at ``path`` all at once (see the module doc); returns the file written.

    ``backup`` keeps an existing file as ``FILE.bak`` (a hard link, a copy where links
    fail). Every failure is an InputError naming the path and ``what`` was being written."""
    target = resolve(path)
    dfd = _open_dir(target.parent)
    try:
        try:
            st = os.stat(target.name, dir_fd=dfd, follow_symlinks=False)
        except FileNotFoundError:
            st = None
        if st is not None and stat.S_ISDIR(st.st_mode):
            raise InputError(f"is a directory, not a {what}", path=str(path))
        tmp = _write_temp(dfd, target.name, data, mode)
        try:
            if backup and st is not None and stat.S_ISREG(st.st_mode):
                _keep_backup(dfd, target.name)
            os.replace(tmp, target.name, src_dir_fd=dfd, dst_dir_fd=dfd)
        except BaseException:
            _unlink(dfd, tmp)
            raise
        os.fsync(dfd)
    except OSError as exc:
        raise InputError(f"cannot write the {what}", exc.strerror or str(exc), path=str(path)) from None
    finally:
        os.close(dfd)
    return target


def _write_temp(dfd: int, name: str, data: bytes, mode: int) -> str:
    """A new file ``.NAME.<random>.tmp`` in the folder, never an existing one or a link."""
    tmp = f".{name}.{secrets.token_hex(8)}.tmp"
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL | _O_NOFOLLOW | _O_CLOEXEC, mode, dir_fd=dfd)
    try:
        with os.fdopen(fd, "wb") as f:
            os.fchmod(f.fileno(), mode)  # the umask may have narrowed it
            f.write(data)
            f.flush()
            os.fsync(f.fileno())
    except BaseException:
        _unlink(dfd, tmp)
        raise
    return tmp


def _keep_backup(dfd: int, name: str) -> None:
    """NAME -> NAME.bak, atomically: a hard link to the current file (a copy where links fail)."""
    tmp = f".{name}.bak.{secrets.token_hex(8)}.tmp"
    try:
        try:
            os.link(name, tmp, src_dir_fd=dfd, dst_dir_fd=dfd, follow_symlinks=False)
        except OSError:
            src = os.open(name, os.O_RDONLY | _O_NOFOLLOW | _O_CLOEXEC, dir_fd=dfd)
            with os.fdopen(src, "rb") as f:
                content, mode = f.read(), os.fstat(f.fileno()).st_mode & 0o777
            fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL | _O_NOFOLLOW | _O_CLOEXEC, mode, dir_fd=dfd)
            with os.fdopen(fd, "wb") as f:
                f.write(content)
        os.replace(tmp, name + ".bak", src_dir_fd=dfd, dst_dir_fd=dfd)
    except BaseException:
        _unlink(dfd, tmp)
        raise


def _unlink(dfd: int, name: str) -> None:
    try:
        os.unlink(name, dir_fd=dfd)
    except OSError:
        pass


def private_dir(base: str | os.PathLike[str], name: str) -> int:
    """Create ``base/name`` (mode 0700, refused if it exists) and return its descriptor.

    ``base`` must be a ``trusted_folder`` (created 0700 when missing; an existing one, and
    every folder above it, owned by the user or root and writable by nobody else): in a
    folder others can write, they could rename the new folder away and put their own in
    its place for whatever later reads it by path."""
    folder = trusted_folder(base)
    bfd = _open_dir(folder)
    try:
        os.mkdir(name, 0o700, dir_fd=bfd)
        fd = os.open(name, os.O_RDONLY | os.O_DIRECTORY | _O_NOFOLLOW | _O_CLOEXEC, dir_fd=bfd)
    finally:
        os.close(bfd)
    st = os.fstat(fd)
    if st.st_uid != os.geteuid():  # replaced between mkdir and open
        os.close(fd)
        raise UnsafePath(
            "the new run folder was replaced by another user's", f"owned by {_user(st.st_uid)}", path=str(folder / name)
        )
    os.fchmod(fd, 0o700)
    return fd


def _check_own(fd: int, path: str) -> None:
    """The folder open at ``fd`` is the user's and writable by nobody else; else closed and refused."""
    st = os.fstat(fd)
    why = None
    if st.st_uid != os.geteuid():
        why = "folder owned by another user"
    elif st.st_mode & (stat.S_IWGRP | stat.S_IWOTH):
        why = "folder writable by other users"
    if why is not None:
        os.close(fd)
        raise UnsafePath(
            why,
            f"{path} is owned by {_user(st.st_uid)}, mode {stat.filemode(st.st_mode)}",
            path=path,
            hint="use a run record of your own (created by the console, mode 0700)",
        )


def open_own_dir(path: str | os.PathLike[str]) -> int:
    """An existing folder of the user's that nobody else can write, as a descriptor.

    The path is reached under the symlink rule, its last component opened ``O_NOFOLLOW``;
    what counts is the folder actually opened (``fstat``), so renaming paths afterwards
    changes nothing. Refused (``UnsafePath``) when owned by another user or group/other-writable."""
    folder = resolve(path)
    try:
        fd = os.open(folder, os.O_RDONLY | os.O_DIRECTORY | _O_NOFOLLOW | _O_CLOEXEC)
    except OSError as exc:
        raise InputError("cannot open the folder", exc.strerror or str(exc), path=str(path)) from None
    _check_own(fd, str(folder))
    return fd


def own_subdir(dir_fd: int, name: str, shown: str) -> int:
    """Folder ``name`` in ``dir_fd`` (created 0700 when missing, never through a link), which
    must be the user's and not writable by others; ``shown`` names it in errors."""
    with contextlib.suppress(FileExistsError):
        os.mkdir(name, 0o700, dir_fd=dir_fd)
    try:
        fd = os.open(name, os.O_RDONLY | os.O_DIRECTORY | _O_NOFOLLOW | _O_CLOEXEC, dir_fd=dir_fd)
    except OSError as exc:
        raise InputError("cannot open the folder", exc.strerror or str(exc), path=shown) from None
    _check_own(fd, shown)
    return fd


def replace_new(dir_fd: int, name: str, data: bytes, mode: int = 0o600) -> None:
    """``name`` in the folder ``dir_fd`` with ``data``: an old file (or link) of that name is
    removed first, the new one created ``O_EXCL | O_NOFOLLOW`` (never an existing file)."""
    with contextlib.suppress(FileNotFoundError):
        os.unlink(name, dir_fd=dir_fd)
    fd = os.open(name, os.O_WRONLY | os.O_CREAT | os.O_EXCL | _O_NOFOLLOW | _O_CLOEXEC, mode, dir_fd=dir_fd)
    with os.fdopen(fd, "wb") as f:
        os.fchmod(f.fileno(), mode)
        f.write(data)


def read_in(dir_fd: int, name: str, limit: int) -> bytes:
    """At most ``limit`` bytes of the regular file ``name`` in ``dir_fd`` (no link followed)."""
    fd = os.open(name, os.O_RDONLY | _O_NOFOLLOW | _O_CLOEXEC | getattr(os, "O_NONBLOCK", 0), dir_fd=dir_fd)
    with os.fdopen(fd, "rb") as f:
        if not stat.S_ISREG(os.fstat(f.fileno()).st_mode):
            raise InputError("not a regular file", path=name)
        return f.read(limit)


def open_new(dir_fd: int, name: str, mode: int = 0o600) -> int:
    """A new file ``name`` in the folder ``dir_fd`` (``O_EXCL | O_NOFOLLOW``), for appending."""
    fd = os.open(
        name, os.O_WRONLY | os.O_APPEND | os.O_CREAT | os.O_EXCL | _O_NOFOLLOW | _O_CLOEXEC, mode, dir_fd=dir_fd
    )
    os.fchmod(fd, mode)
    return fd


def trusted_folder(path: str | os.PathLike[str], *, create: bool = True) -> Path:
    """``path`` as a folder nobody but the user (and root) can change; created 0700 if missing
    (with ``create=False`` a missing folder is left missing and only what exists is checked).

    Refused (``UnsafePath``): the folder, or one above it, owned by another user, or
    writable by group or others -- except a sticky folder owned by root (``/tmp``) above it."""
    folder = resolve(path)
    if create:
        try:
            folder.mkdir(mode=0o700, parents=True, exist_ok=True)
        except OSError as exc:
            raise InputError("cannot create the folder", exc.strerror or str(exc), path=str(folder)) from None
    me = os.geteuid()
    for here in (folder, *folder.parents):
        if not create and not os.path.lexists(here):
            continue
        st = os.stat(here)
        if not stat.S_ISDIR(st.st_mode):
            raise InputError("not a folder", path=str(here))
        if st.st_uid not in (me, 0):
            raise UnsafePath(
                "folder owned by another user",
                f"{here} is owned by {_user(st.st_uid)}",
                path=str(folder),
                hint="use a folder of your own",
            )
        sticky_root = st.st_mode & stat.S_ISVTX and st.st_uid == 0 and here != folder
        own_group = st.st_gid == os.getegid() and not st.st_mode & stat.S_IWOTH
        if st.st_mode & (stat.S_IWGRP | stat.S_IWOTH) and not (sticky_root or own_group):
            raise UnsafePath(
                "folder writable by other users",
                f"{here} has mode {stat.filemode(st.st_mode)}",
                path=str(folder),
                hint=f"chmod go-w {here}, or use a folder of your own",
            )
    return folder
