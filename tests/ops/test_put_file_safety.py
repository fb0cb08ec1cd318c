"""``Pool.put_file`` never follows or replaces what another local user planted (as root on the
simulated servers, the way the console often runs; ``ccother`` is the untrusted user).

The temp file is created exclusively (``O_EXCL``), the destination folder's path is checked
like a launch's run folder (owned by you or root, not writable by others unless a root-owned
sticky folder), and an existing destination that is another user's file or symlink is
refused with ``CheckFailed`` naming the host, the path and why. Nothing is left behind."""

from __future__ import annotations

import os
import pwd
from pathlib import Path

import pytest

from console.core.errors import CheckFailed
from console.remote import Pool
from tests.ops.test_remote_sim import options


def _other() -> pwd.struct_passwd:
    if os.geteuid() != 0:
        pytest.skip("plants another user's files: needs root")
    try:
        return pwd.getpwnam("ccother")
    except KeyError:
        pytest.skip("needs the second local user ccother")


def _folder(tmp_path: Path, mode: int, owner: int = 0) -> Path:
    folder = tmp_path / "shared"
    folder.mkdir()
    os.chown(folder, owner, owner)
    folder.chmod(mode)
    return folder


async def _refused(sim, dest: Path) -> CheckFailed:
    host = sim.hosts[0]
    async with Pool(options(sim)) as pool:
        with pytest.raises(CheckFailed) as info:
            await pool.put_file(host, b'{"server_list": []}\n', str(dest))
    err = info.value
    assert err.host == host and err.path == str(dest) and err.title.startswith("unsafe destination")
    assert [p.name for p in dest.parent.iterdir() if p.name.endswith(".tmp")] == []  # no temp left
    return err


async def test_another_users_symlink_in_a_sticky_folder_is_not_replaced(sim_cluster, tmp_path):
    other = _other()
    folder = _folder(tmp_path, 0o1777)  # like /tmp: root-owned and sticky, so usable
    victim = tmp_path / "victim"
    victim.write_text("precious\n")
    link = folder / "rt.json"
    link.symlink_to(victim)
    os.lchown(link, other.pw_uid, other.pw_gid)
    err = await _refused(sim_cluster, link)
    why = f"exists and is a symlink owned by uid {other.pw_uid}, not by you or root: not replaced"
    assert err.detail == f"{link}: {why}"
    assert link.is_symlink() and victim.read_text() == "precious\n"


async def test_another_users_file_is_not_replaced(sim_cluster, tmp_path):
    other = _other()
    folder = _folder(tmp_path, 0o1777)
    planted = folder / "rt.json"
    planted.write_text("theirs\n")
    os.chown(planted, other.pw_uid, other.pw_gid)
    err = await _refused(sim_cluster, planted)
    assert "exists and is a file owned by uid" in err.detail
    assert planted.read_text() == "theirs\n" and planted.stat().st_uid == other.pw_uid


@pytest.mark.parametrize(
    "mode,owner,why",
    [
        (0o755, "other", "is owned by uid {uid}, not by you or root"),
        (0o777, "root", "is writable by group and others (mode 0777) and is not a root-owned sticky folder"),
        (0o775, "root", "is writable by its group (mode 0775) and is not a root-owned sticky folder"),
    ],
)
async def test_a_folder_others_control_is_refused(sim_cluster, tmp_path, mode, owner, why):
    other = _other()
    folder = _folder(tmp_path, mode, other.pw_uid if owner == "other" else 0)
    err = await _refused(sim_cluster, folder / "rt.json")
    assert err.detail == f"{folder}: {why.format(uid=other.pw_uid)}"
    assert list(folder.iterdir()) == []


async def test_another_users_symlink_on_the_way_is_refused(sim_cluster, tmp_path):
    other = _other()
    real = tmp_path / "real"
    real.mkdir(mode=0o700)
    hop = tmp_path / "hop"
    hop.symlink_to(real)
    os.lchown(hop, other.pw_uid, other.pw_gid)
    os.utime(real, ns=(0, 0))  # any file created in it, even removed again, moves its mtime
    err = await _refused(sim_cluster, hop / "rt.json")
    assert err.detail == f"{hop}: is a symlink owned by uid {other.pw_uid}, not by you or root"
    assert list(real.iterdir()) == []
    assert real.stat().st_mtime_ns == 0  # nothing was ever created through the link


async def test_nothing_is_created_through_another_users_symlink_deeper_in_the_path(sim_cluster, tmp_path):
    """The path is checked before the temp file is made: a planted link further down (here
    ``mine/hop``, owned by ``ccother``) never has a file written through it, not even for a moment."""
    other = _other()
    target = tmp_path / "target"  # where the planted link would send root's file
    target.mkdir(mode=0o700)
    mine = tmp_path / "mine"
    mine.mkdir(mode=0o700)
    hop = mine / "hop"
    hop.symlink_to(target)
    os.lchown(hop, other.pw_uid, other.pw_gid)
    os.utime(target, ns=(0, 0))
    err = await _refused(sim_cluster, hop / "rt.json")
    assert err.detail == f"{hop}: is a symlink owned by uid {other.pw_uid}, not by you or root"
    assert list(target.iterdir()) == [] and target.stat().st_mtime_ns == 0


async def test_own_folders_and_files_still_work(sim_cluster, tmp_path):
    folder = tmp_path / "mine"
    folder.mkdir(mode=0o700)
    (tmp_path / "link").symlink_to(folder)
    host = sim_cluster.hosts[0]
    async with Pool(options(sim_cluster)) as pool:
        await pool.put_file(host, b"one\n", str(folder / "f"))
        await pool.put_file(host, b"two\n", str(tmp_path / "link" / "f"), mode=0o600)  # our own link, followed
    assert (folder / "f").read_text() == "two\n" and (folder / "f").stat().st_mode & 0o777 == 0o600
    assert sorted(p.name for p in folder.iterdir()) == ["f"]
