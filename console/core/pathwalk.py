"""The one walk that decides whether a folder's path is safe to write in, when other local
users are not trusted (the security model). Sans-I/O, so the same rules serve two callers:
the launch's run-folder helper on a server (``console.ops.rundir_remote``, with ``os.lstat``;
this text is sent before it: STDLIB ONLY, Python >= 3.6) and ``Pool.put_file`` over SFTP
(``console.remote.sftpput``, with ``SFTPClient.lstat``).

Every component of the absolute path, from ``/``, is looked at without following it:
* a folder must be owned by you (``uid``) or root, and not writable by group or others unless
  it is a root-owned sticky folder (``/tmp``);
* a symlink must be owned by you or root; it is then followed (its target walked the same
  way), at most ``MAX_LINKS`` of them;
* anything else is refused. A refusal is ``Refused(path, why)``.

``walk_folder`` is a generator: it yields ``("lstat", path)``, to be answered (``send``)
with ``(st_mode, st_uid)``, and ``("readlink", path)``, answered with the link's target; it
returns the real path. The caller decides what a missing component means (``lstat`` fails).
Types in comments only: the text must run on a server's Python 3.6 (annotations are evaluated there).
"""

import stat
import typing

if typing.TYPE_CHECKING:
    from collections.abc import Callable, Generator  # noqa: F401  (used in type comments)

MAX_LINKS = 40


class Refused(Exception):
    def __init__(self, path, why):
        # type: (str, str) -> None
        Exception.__init__(self, f"{path}: {why}")
        self.path = path
        self.why = why


def folder_problem(mode, owner, uid, name=str):
    # type: (int, int, int, Callable[[int], str]) -> str | None
    """Why a path component with this ``st_mode`` and owner is no safe folder for ``uid``
    (None when it is one). ``name(owner)`` words the owner (``1001`` or ``1001 (bob)``)."""
    if not stat.S_ISDIR(mode):
        return "is not a folder"
    if owner not in (uid, 0):
        return f"is owned by uid {name(owner)}, not by you or root"
    sticky_root = owner == 0 and mode & stat.S_ISVTX
    if mode & 0o022 and not sticky_root:
        who = "group and others" if mode & 0o022 == 0o022 else "others" if mode & 0o002 else "its group"
        return f"is writable by {who} (mode {stat.S_IMODE(mode):04o}) and is not a root-owned sticky folder"
    return None


def link_problem(owner, uid, name=str):
    # type: (int, int, Callable[[int], str]) -> str | None
    """Why a symlink with this owner may not be followed (None when it may)."""
    if owner not in (uid, 0):
        return f"is a symlink owned by uid {name(owner)}, not by you or root"
    return None


def walk_folder(folder, uid, name=str):
    # type: (str, int, Callable[[int], str]) -> Generator[tuple[str, str], typing.Any, str]
    """Walk the absolute ``folder`` (see the module); returns its real path."""
    todo = [c for c in folder.split("/") if c]
    real = []  # type: list[str]
    links = 0
    cur = "/"
    while True:
        mode, owner = yield ("lstat", cur)
        if stat.S_ISLNK(mode):
            why = link_problem(owner, uid, name)
            if why:
                raise Refused(cur, why)
            links += 1
            if links > MAX_LINKS:
                raise Refused(cur, "too many levels of symbolic links")
            target = yield ("readlink", cur)
            if target.startswith("/"):
                real = []
            todo = [c for c in target.split("/") if c] + todo
        else:
            why = folder_problem(mode, owner, uid, name)
            if why:
                raise Refused(cur, why)
            if cur != "/":
                real.append(cur.rsplit("/", 1)[1])
        while todo and todo[0] in (".", ".."):
            if todo.pop(0) == ".." and real:
                real.pop()
        if not todo:
            return "/" + "/".join(real)
        cur = "/" + "/".join([*real, todo.pop(0)])
