"""One walk decides whether a folder's path is safe (``console.core.pathwalk``): the launch's
run-folder helper on the servers and ``Pool.put_file`` over SFTP both drive it, so their rules
and their words cannot drift apart."""

from __future__ import annotations

import inspect
import stat

import pytest

from console.core import pathwalk
from console.core.pathwalk import Refused, walk_folder
from console.ops import rundir_remote
from console.ops.rundir import helper_source
from console.remote import sftpput

ME, OTHER = 1000, 1001
DIR, LINK = stat.S_IFDIR, stat.S_IFLNK


def drive(folder: str, fs: dict[str, tuple[int, int, str | None]]) -> str:
    """Answer the walk's questions from ``fs``: path -> (mode, owner, link target)."""
    walk = walk_folder(folder, ME)
    answer = None
    while True:
        try:
            op, path = walk.send(answer)
        except StopIteration as done:
            return done.value
        mode, owner, target = fs[path]
        answer = target if op == "readlink" else (mode, owner)


ROOT = {"/": (DIR | 0o755, 0, None), "/tmp": (DIR | 0o1777, 0, None)}


def test_own_folders_root_sticky_and_own_links_are_followed_to_the_real_path() -> None:
    fs = {
        **ROOT,
        "/tmp/a": (DIR | 0o700, ME, None),
        "/tmp/a/b": (DIR | 0o755, ME, None),
        "/tmp/l": (LINK | 0o777, ME, "a/./b/../b"),
    }
    assert drive("/tmp/l", fs) == "/tmp/a/b"
    assert drive("/tmp/x/../a/b", {**fs, "/tmp/x": (DIR | 0o700, ME, None)}) == "/tmp/a/b"


@pytest.mark.parametrize(
    "entry,why",
    [
        ((DIR | 0o755, OTHER, None), f"is owned by uid {OTHER}, not by you or root"),
        ((DIR | 0o777, 0, None), "is writable by group and others (mode 0777) and is not a root-owned sticky folder"),
        ((DIR | 0o1757, ME, None), "is writable by others (mode 1757) and is not a root-owned sticky folder"),
        ((LINK | 0o777, OTHER, "/"), f"is a symlink owned by uid {OTHER}, not by you or root"),
        ((stat.S_IFREG | 0o644, ME, None), "is not a folder"),
    ],
)
def test_what_others_control_is_refused_with_path_and_reason(entry, why) -> None:
    with pytest.raises(Refused) as info:
        drive("/tmp/x/y", {**ROOT, "/tmp/x": entry, "/tmp/x/y": (DIR | 0o700, ME, None)})
    assert (info.value.path, info.value.why) == ("/tmp/x", why)


def test_a_link_loop_ends() -> None:
    with pytest.raises(Refused, match="too many levels of symbolic links"):
        drive("/tmp/l", {**ROOT, "/tmp/l": (LINK | 0o777, ME, "/tmp/l")})


def test_both_callers_use_the_one_walk() -> None:
    assert helper_source().count("def walk_folder(") == 1  # sent with the helper, not copied into it
    for module in (rundir_remote, sftpput):
        source = inspect.getsource(module)
        assert "walk_folder(" in source and "S_ISVTX" not in source and "def _check_dir" not in source
    assert rundir_remote.Refused is pathwalk.Refused and sftpput.Refused is pathwalk.Refused
