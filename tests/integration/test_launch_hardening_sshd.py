"""Issue 10 over real OpenSSH, with a second local user who is not trusted.

Two sshd daemons (127.0.0.21 / .22) are two servers sharing this machine, so the test user
``ccssh`` has ONE home for both (like an NFS home). ``ccother`` is another unprivileged user
who prepares ``/tmp/cluster-console`` (mode 0777, owned by ccother) with planted files and a
symlink before the launch. The launch as ccssh must not use that folder at all: the ranks run
from ``~ccssh/.cache/cluster-console/runs/<run>/<server>/`` (0700), which is removed after
the job; an explicit ``--remote-ranktable`` inside ccother's folder is refused, naming the
server, the folder and why. Also: a rank's ``setsid`` daemon is gone after teardown, and a
``.bashrc``-style line on the agent channel (``1024`` before the agent starts) is no crash.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import pwd
import shutil
import subprocess
import time
from pathlib import Path

import pytest

from console.core.errors import CheckFailed
from console.core.planning.launch import build_launch_plan
from console.core.profiles import Profile
from console.core.ranktable.text import dumps
from console.ops.launch import launch
from console.ops.launch_events import LaunchWarning, RankLine
from console.remote import Pool
from tests.integration.conftest import _ensure_user
from tests.integration.test_launch_sshd import table_for
from tests.ops.test_launch_rundir import REPORT, gone_within
from tests.ops.test_launch_sim import free_port

pytestmark = [pytest.mark.system, pytest.mark.timeout(180)]

OTHER = "ccother"
SHARED = Path("/tmp/cluster-console")


def as_other(script: str) -> None:
    subprocess.run(["runuser", "-u", OTHER, "--", "sh", "-c", script], check=True, capture_output=True)


def snapshot(paths: list[Path]) -> dict[str, tuple]:
    out = {}
    for p in paths:
        st = os.lstat(p)
        out[str(p)] = (
            st.st_uid,
            st.st_mode,
            os.readlink(p) if p.is_symlink() else p.read_bytes() if p.is_file() else None,
        )
    return out


def owned_by(folder: Path, user: str) -> list[str]:
    uid = pwd.getpwnam(user).pw_uid
    found = []
    for root, dirs, files in os.walk(folder):
        found += [os.path.join(root, n) for n in dirs + files if os.lstat(os.path.join(root, n)).st_uid == uid]
    return found


@pytest.fixture
def hostile_tmp(ssh_test_user):
    """/tmp/cluster-console owned by ccother, mode 0777, with planted files (restored after:
    this machine is shared, so only what this test planted is removed)."""
    other = _ensure_user(OTHER)
    before = os.lstat(SHARED) if os.path.lexists(SHARED) else None
    tag = f"{os.getpid()}-{time.monotonic_ns()}"
    if before is None:
        as_other(f"mkdir {SHARED}")
    os.chown(SHARED, other.pw_uid, other.pw_gid)
    os.chmod(SHARED, 0o777)
    as_other(
        f'cd {SHARED} && printf \'print("ATTACKER CODE RUNS AS", __import__("os").getuid())\''
        f" > payload-{tag}.py && echo planted > table-{tag}.json && "
        f"ln -s table-{tag}.json rt-{tag}.json && mkdir -m 0777 runs-{tag}"
    )
    planted = [SHARED / n for n in (f"payload-{tag}.py", f"table-{tag}.json", f"rt-{tag}.json", f"runs-{tag}")]
    try:
        yield tag, planted
    finally:
        for p in planted:
            with contextlib.suppress(OSError):
                shutil.rmtree(p) if p.is_dir() and not p.is_symlink() else p.unlink()
        if before is None:
            try:
                SHARED.rmdir()
            except OSError:  # someone else's files arrived meanwhile: leave it as root's
                os.chown(SHARED, 0, 0)
                os.chmod(SHARED, 0o755)
        else:
            os.chown(SHARED, before.st_uid, before.st_gid)
            os.chmod(SHARED, before.st_mode & 0o7777)


def ranks_folder_script(servers) -> str:
    """REPORT (tests/ops/test_launch_rundir.py) where ccssh can read it."""
    path = servers[0].bin_dir / "report.py"
    path.write_text(REPORT)
    path.chmod(0o755)
    return str(path)


async def run(ssh_client, tmp_path, plan, table, **kw) -> list:
    events = []
    async with Pool(ssh_client.options(command_timeout=60)) as pool:
        async for ev in launch(plan, table, dumps(table).encode(), pool=pool, run_base=tmp_path / "runs", **kw):
            events.append(ev)
    return events


def plan_for(servers, args, **kw):
    table = table_for(servers)
    plan = build_launch_plan(
        table,
        Profile(name="t", grace_s=1.0),
        args=args,
        master_port=free_port(),
        hosts={i.host: f"{i.host}:{i.port}" for i in servers},
        **kw,
    )
    return table, plan


async def test_a_hostile_tmp_folder_changes_nothing(sshd, sshd2, ssh_client, tmp_path, hostile_tmp) -> None:
    tag, planted = hostile_tmp
    before = snapshot(planted)
    servers = [sshd, sshd2]
    table, plan = plan_for(servers, ["python3", ranks_folder_script(servers), "{upload_dir}"], run_id=f"hard-{tag}")
    events = await run(ssh_client, tmp_path, plan, table)
    summary = events[-1].summary
    assert summary.ok, summary.root_cause
    home = pwd.getpwnam("ccssh").pw_dir
    seen = [json.loads(e.text) for e in events if isinstance(e, RankLine)]
    assert len(seen) == 4
    want = hashlib.sha256(dumps(table).encode()).hexdigest()
    for s in seen:
        assert s["table"].startswith(f"{home}/.cache/cluster-console/runs/hard-{tag}/127.0.0.2")
        assert (s["dir_mode"], s["table_mode"], s["sha"]) == (0o700, 0o640, want)
        assert s["upload_dir"] == os.path.dirname(s["table"])
    assert not os.path.exists(f"{home}/.cache/cluster-console/runs/hard-{tag}")  # cleaned up
    assert snapshot(planted) == before
    assert owned_by(SHARED, "ccssh") == []  # nothing of the launch went there


async def test_an_explicit_table_in_a_hostile_folder_is_refused(sshd, sshd2, ssh_client, tmp_path, hostile_tmp) -> None:
    tag, planted = hostile_tmp
    before = snapshot(planted)
    table, plan = plan_for(
        [sshd, sshd2], ["true"], run_id=f"hard2-{tag}", remote_ranktable=str(SHARED / f"rt-{tag}.json")
    )
    with pytest.raises(CheckFailed) as err:
        await run(ssh_client, tmp_path, plan, table)
    assert err.value.host in {f"{i.host}:{i.port}" for i in (sshd, sshd2)}
    assert err.value.path == str(SHARED)
    assert f"{SHARED}: is owned by uid" in err.value.detail and "(ccother)" in err.value.detail
    assert snapshot(planted) == before and owned_by(SHARED, "ccssh") == []
    home = pwd.getpwnam("ccssh").pw_dir
    assert not os.path.exists(f"{home}/.cache/cluster-console/runs/hard2-{tag}")


async def test_a_setsid_child_of_a_rank_is_gone_after_teardown(sshd, sshd2, ssh_client, tmp_path) -> None:
    mark = f"301.{os.getpid()}7"
    script = (
        f'setsid sleep {mark} & echo daemonized; if [ "$RANK" = 3 ]; then '
        f"until [ \"$(pgrep -fc '^sleep {mark}$')\" -ge 4 ]; do sleep 0.05; done; exit 3; "
        "fi; exec sleep 120"
    )
    table, plan = plan_for([sshd, sshd2], ["bash", "-c", script], run_id=f"hard3-{os.getpid()}")
    events = await run(ssh_client, tmp_path, plan, table)
    summary = events[-1].summary
    assert not summary.ok and summary.root_cause.rank == 3
    assert sum(isinstance(e, RankLine) and e.text == "daemonized" for e in events) == 4
    assert await gone_within(mark) == []


async def test_a_login_script_line_on_the_agent_channel_is_no_crash(sshd, sshd2, ssh_client, tmp_path) -> None:
    # Debian's bash run by sshd sources ~/.bashrc, not $BASH_ENV, and ccssh's .bashrc is
    # shared by every test on this machine: so the talkative start-up is a python3 first on
    # the session's PATH that prints what such a .bashrc prints, then runs the real one
    servers = [sshd, sshd2]
    for inst in servers:
        fake = inst.bin_dir / "python3"
        fake.write_text('#!/bin/sh\necho 1024\nexec /usr/bin/python3 "$@"\n')
        fake.chmod(0o755)
    table, plan = plan_for(servers, ["echo", "rank {rank} ran"], run_id=f"hard4-{os.getpid()}")
    events = await run(ssh_client, tmp_path, plan, table)
    summary = events[-1].summary
    assert summary.ok, summary.root_cause
    said = [e.text for e in events if isinstance(e, RankLine)]
    assert sorted(said) == [f"rank {r} ran" for r in range(4)]
    shown = [e for e in events if isinstance(e, LaunchWarning) and "'1024'" in e.message]
    assert sorted(e.host for e in shown) == sorted(f"{i.host}:{i.port}" for i in servers)
    kept = [json.loads(line) for line in (Path(summary.run_dir) / "events.jsonl").read_text().splitlines()]
    assert sum(e["event"] == "agent.unexpected" and e["text"] == "1024" for e in kept) == 2


async def test_an_explicit_table_path_never_overwrites_a_file_that_is_not_a_table(
    sshd, sshd2, ssh_client, tmp_path
) -> None:
    """A profile from someone else aiming remote_ranktable at e.g. ~/.ssh/authorized_keys:
    the remote user's own file is left as it was; a table the launch creates is removed."""
    user = pwd.getpwnam("ccssh")
    tag = f"{os.getpid()}-{time.monotonic_ns()}"
    keys = Path(user.pw_dir) / f".cc-keys-{tag}"
    created = Path(user.pw_dir) / f".cc-rt-{tag}.json"
    keys.write_text("ssh-ed25519 AAAA admin\n")
    os.chown(keys, user.pw_uid, user.pw_gid)
    keys.chmod(0o600)
    try:
        table, plan = plan_for([sshd, sshd2], ["true"], run_id=f"hard5-{tag}", remote_ranktable=str(keys))
        with pytest.raises(CheckFailed) as err:
            await run(ssh_client, tmp_path, plan, table)
        assert err.value.path == str(keys) and "not a rank table" in err.value.detail
        assert keys.read_text() == "ssh-ed25519 AAAA admin\n" and keys.stat().st_uid == user.pw_uid
        table, plan = plan_for([sshd, sshd2], ["true"], run_id=f"hard6-{tag}", remote_ranktable=str(created))
        events = await run(ssh_client, tmp_path, plan, table)
        assert events[-1].summary.ok, events[-1].summary.root_cause
        assert not created.exists()
    finally:
        keys.unlink(missing_ok=True)
        created.unlink(missing_ok=True)
