"""Files the console writes on this machine never follow a symlink planted by another user.

A second, unprivileged local user (``ccother``) plants links in a sticky world-writable folder
(a fresh ``/tmp`` look-alike, mode 1777) pointing at a root-owned file; the console runs as
root, as it usually does on a cluster's head node. Every save must refuse, naming the link,
its owner and the folder, and the root-owned file must stay unchanged.
"""

from __future__ import annotations

import json
import os
import shutil
import stat
import subprocess
import sys
import tempfile
from pathlib import Path

import pytest

from console.core.errors import InputError
from console.ops import safefiles
from console.ops.ranktable_files import load, save
from tests.integration.conftest import _ensure_user
from tests.system import need

OTHER = "ccother"
SECRET = "root-owned content, must stay\n"


@pytest.fixture(scope="module")
def other() -> int:
    need(os.geteuid() == 0, "planting files as a second local user needs root")
    need(shutil.which("useradd") is not None, "useradd is needed to create the second user")
    return _ensure_user(OTHER).pw_uid


@pytest.fixture
def shared(other) -> Path:
    """A sticky world-writable folder like /tmp, owned by root."""
    folder = Path(tempfile.mkdtemp(prefix="cc-shared-"))
    folder.chmod(0o1777)
    yield folder
    shutil.rmtree(folder, ignore_errors=True)


@pytest.fixture
def victim(tmp_path) -> Path:
    target = tmp_path / "victim.conf"  # tmp_path is root's: only root can write it
    target.write_text(SECRET)
    target.chmod(0o644)
    return target


def plant(link: Path, target: Path | str, user: str = OTHER) -> None:
    """``ln -s target link``, run as ``user``."""
    subprocess.run(["ln", "-s", str(target), str(link)], user=user, check=True)
    assert link.lstat().st_uid != 0 or user == "root"


def seed(data_dir: Path):
    return load(data_dir / "ranktable_seed_2x4.json")


def test_rank_table_save_refuses_another_users_link_in_a_sticky_folder(data_dir, shared, victim, other):
    link = shared / "hccl.json"
    plant(link, victim)
    with pytest.raises(InputError) as info:
        save(seed(data_dir), link)
    text = str(info.value)
    assert "symlink owned by another user" in text
    assert str(link) in text and OTHER in text and str(shared) in text
    assert victim.read_text() == SECRET
    assert sorted(p.name for p in shared.iterdir()) == ["hccl.json"]  # no temp file left


def test_a_link_through_a_planted_folder_link_is_refused_too(data_dir, shared, victim, other):
    plant(shared / "dir", victim.parent)
    with pytest.raises(InputError, match="symlink owned by another user"):
        save(seed(data_dir), shared / "dir" / victim.name)
    assert victim.read_text() == SECRET


def test_own_link_in_a_sticky_folder_is_followed(data_dir, shared, victim, other):
    link = shared / "mine.json"
    link.symlink_to(victim)  # root's own link
    save(seed(data_dir), link)
    assert link.is_symlink() and load(victim) == seed(data_dir)
    assert stat.S_IMODE(victim.stat().st_mode) == 0o640


def test_link_of_the_folders_owner_is_followed(data_dir, other, victim, tmp_path):
    """protected_symlinks allows a link owned by the sticky folder's owner."""
    folder = Path(tempfile.mkdtemp(prefix="cc-owned-"))
    try:
        os.chown(folder, other, -1)
        folder.chmod(0o1777)
        target = Path(tempfile.mkdtemp(prefix="cc-target-")) / "table.json"
        target.write_text("{}")
        plant(folder / "t.json", target)
        save(seed(data_dir), folder / "t.json")
        assert load(target) == seed(data_dir)
        shutil.rmtree(target.parent)
    finally:
        shutil.rmtree(folder, ignore_errors=True)


def test_cli_merge_refuses_the_planted_link_with_exit_2(data_dir, shared, victim, other):
    link = shared / "merged.json"
    plant(link, victim)
    out = subprocess.run(
        [
            sys.executable,
            "-m",
            "console",
            "ranktable",
            "merge",
            str(data_dir / "ranktable_seed_2x4.json"),
            "-o",
            str(link),
        ],
        capture_output=True,
        text=True,
        check=False,
    )
    assert out.returncode == 2, out.stderr
    assert "symlink owned by another user" in out.stderr and str(link) in out.stderr
    assert victim.read_text() == SECRET


def test_ping_csv_and_json_exports_refuse_the_planted_link(shared, victim, other):
    from console.cli.ping import _write_csv
    from console.core.pingresults import PingMatrix

    link = shared / "ping.csv"
    plant(link, victim)
    with pytest.raises(InputError, match="symlink owned by another user"):
        _write_csv(str(link), PingMatrix(pattern="cross"))
    with pytest.raises(InputError, match="symlink owned by another user"):
        safefiles.write_atomic(link, json.dumps({}).encode(), what="ping results file")
    assert victim.read_text() == SECRET


def test_run_record_base_planted_as_a_link_is_not_followed(shared, victim, other):
    from console.ops.runrecord import RunRecord

    plant(shared / "runs", victim.parent)
    record = RunRecord(shared / "runs", "r1")
    try:
        assert record.failed and "symlink owned by another user" in record.failed
        record.event("start")
        record.line(0, "hello")
    finally:
        record.close()
    assert sorted(p.name for p in victim.parent.iterdir()) == [victim.name]


def test_sim_refuses_a_folder_another_user_can_change(shared, other):
    folder = shared / "cc"
    subprocess.run(["mkdir", "-m", "0777", str(folder)], user=OTHER, check=True)
    out = subprocess.run(
        [sys.executable, "-m", "console", "sim", "--dir", str(folder)],
        capture_output=True,
        text=True,
        timeout=30,
        check=False,
    )
    assert out.returncode == 2, out.stderr
    assert "folder owned by another user" in out.stderr and str(folder) in out.stderr
    assert sorted(p.name for p in folder.iterdir()) == []


def test_temp_files_are_fresh_random_names(tmp_path):
    """A planted file or link under any predictable temp name is never written through."""
    target = tmp_path / "out.json"
    safefiles.write_atomic(target, b"one")
    safefiles.write_atomic(target, b"two", backup=True)
    assert target.read_bytes() == b"two" and (tmp_path / "out.json.bak").read_bytes() == b"one"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["out.json", "out.json.bak"]


def test_a_folder_swapped_for_a_link_after_the_check_is_not_followed(shared, victim, monkeypatch):
    """The race ``resolve`` alone cannot close: the path was clean when checked, then another
    user replaced a folder on it with a symlink. The folder is opened component by component
    with O_NOFOLLOW, so the write is refused instead of landing next to the victim."""
    plant(shared / "d", victim.parent)
    monkeypatch.setattr(safefiles, "resolve", lambda p: Path(p))  # checked before the swap
    with pytest.raises(safefiles.UnsafePath, match="symlink"):
        safefiles.write_atomic(shared / "d" / victim.name, b"owned\n")
    assert victim.read_text() == SECRET
    assert sorted(p.name for p in victim.parent.iterdir()) == [victim.name]
