"""The sim's CPU group for its sessions (``--session-nice``): every process the simulated
servers run, new sessions (``setsid``) included, stays in one group weighing as one process
at that niceness, so that a thousand servers' ranks cannot starve the console on one machine."""

from __future__ import annotations

from pathlib import Path

from console.sim.cluster import SimCluster
from console.sim.cpugroup import SessionGroup, _cpu_hierarchy, weight_of_nice
from console.sim.spec import ClusterSpec
from tests.system import need


def test_weights_are_the_kernels_nice_weights():
    # sched_prio_to_weight: nice 0 -> 1024, 5 -> 335, 10 -> 110, 19 -> 15
    assert [weight_of_nice(n) for n in (0, 5, 10, 19)] == [1024, 335, 110, 15]


def _fake_proc_cgroup(monkeypatch, text: str) -> None:
    real = Path.read_text

    def read_text(self, *a, **k):
        if str(self) == "/proc/self/cgroup":
            return text
        return real(self, *a, **k)

    monkeypatch.setattr(Path, "read_text", read_text)


def test_v1_cpu_controller_is_found_under_this_process_own_group(tmp_path, monkeypatch):
    mine = tmp_path / "cpu" / "jobs" / "a"
    mine.mkdir(parents=True)
    (mine / "cpu.shares").write_text("1024")
    _fake_proc_cgroup(monkeypatch, "4:memory:/x\n2:cpu,cpuacct:/jobs/a\n0::/\n")
    assert _cpu_hierarchy(tmp_path) == (mine, 1)


def test_v2_only_where_cpu_is_delegated(tmp_path, monkeypatch):
    mine = tmp_path / "jobs"
    mine.mkdir()
    (mine / "cgroup.subtree_control").write_text("memory pids\n")
    _fake_proc_cgroup(monkeypatch, "0::/jobs\n")
    assert _cpu_hierarchy(tmp_path) is None
    (mine / "cgroup.subtree_control").write_text("cpu memory pids\n")
    assert _cpu_hierarchy(tmp_path) == (mine, 2)


def test_no_controller_says_why(tmp_path, monkeypatch):
    _fake_proc_cgroup(monkeypatch, "0::/\n")
    assert SessionGroup.create(19, root=tmp_path) is None
    assert str(tmp_path) in SessionGroup.why_not


async def test_sessions_and_their_new_sessions_stay_in_the_group_until_the_sim_stops(tmp_path, sim_connect):
    probe = SessionGroup.create(19)
    need(probe is not None, f"a CPU cgroup this process may create groups in: {SessionGroup.why_not}")
    assert probe is not None
    probe.remove()
    sim = SimCluster(ClusterSpec.default(), tmp_path / "sim", port=0, session_nice=19)
    await sim.start()
    try:
        group = sim.cpu_group
        assert group is not None and group.path.is_dir()
        name = "cpu.shares" if group.version == 1 else "cpu.weight"
        # the servers together weigh as one nice-19 process; their sshd and sessions 1:1 inside
        assert int((group.path / name).read_text()) <= 15
        assert (group.sshd / name).read_text() == (group.sessions / name).read_text()
        async with sim_connect(sim, "127.0.0.11") as conn:
            # a rank's own session (setsid), as the host agent starts it
            res = await conn.run("setsid sh -c 'grep -E \"cpu[,:]|^0::\" /proc/self/cgroup'", check=True)
        assert f"{group.path.name}/sessions" in str(res.stdout), res.stdout
    finally:
        await sim.stop()
    assert not group.path.exists()
    assert sim.cpu_group is None


async def test_without_session_nice_there_is_no_group(tmp_path):
    sim = SimCluster(ClusterSpec.default(), tmp_path / "sim", port=0)
    await sim.start()
    try:
        assert sim.cpu_group is None
    finally:
        await sim.stop()


def test_the_sims_own_process_joins_as_the_servers_sshd_and_leaves_at_the_end(tmp_path):
    """``cluster-console sim --session-nice``: its process moves to the group's sshd part
    (so it shares the servers' CPU with their sessions, not the console's), and back out."""
    group = SessionGroup.create(19)
    need(group is not None, f"a CPU cgroup this process may create groups in: {SessionGroup.why_not}")
    assert group is not None
    before = Path("/proc/self/cgroup").read_text()
    try:
        group.join_server()
        assert f"{group.path.name}/sshd" in Path("/proc/self/cgroup").read_text()
    finally:
        group.remove()
    assert Path("/proc/self/cgroup").read_text() == before
    assert not group.path.exists()


def test_a_killed_sims_empty_group_is_removed_by_the_next(tmp_path):
    group = SessionGroup.create(19)
    need(group is not None, f"a CPU cgroup this process may create groups in: {SessionGroup.why_not}")
    assert group is not None
    # as a sim killed before its remove() leaves it: same folders, a PID that is gone
    dead = 2**22 + 1  # above the largest pid_max Linux allows (2**22): never a live process
    assert not Path(f"/proc/{dead}").exists()
    stale = group.path.with_name(f"cluster-console-sim-{dead}-0badc0de")
    stale.mkdir()
    (stale / "sessions").mkdir()
    group.remove()
    again = SessionGroup.create(19)
    assert again is not None
    again.remove()
    assert not stale.exists()
