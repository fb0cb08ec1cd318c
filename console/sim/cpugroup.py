"""One CPU control group for everything the simulated servers run (Linux, root only).

On a real cluster every server has its own CPUs: a thousand servers' agents and ranks never
take the console's. In the sim they all run on the console's machine. ``nice`` alone cannot
keep them in their place: with Linux autogroup every session (each ``setsid``, so each rank)
is its own scheduling group weighing as much as the console, whatever its niceness. A CPU
control group holding every session (autogroup only applies to processes outside any such
group) weighs as one process of niceness N in all: the console gets the CPU it asks for, the
simulated servers share the rest.

Within it, the sim's SSH server (``join_server``, when the sim runs in a process of its own:
``cluster-console sim``) and the sessions share 1:1, as a server's sshd and the processes it
starts share that server's CPUs: neither can starve the other, whatever their numbers.

``SessionGroup.create(nice)`` makes it as a child of this process's own cgroup (cgroup v1 ``cpu``
controller, or v2 where ``cpu`` is already delegated to it), named with this process's PID and
random text (only root can create there, so the name guards nothing; it only tells runs apart);
``wrap(argv)`` is a new session's command, moved into the group before it runs; ``remove()`` at the sim's end moves any
process left back to the parent and removes the folders. ``create`` returns the group, or None
with the reason (not root, no cpu controller, read-only cgroupfs) in ``SessionGroup.why_not``.
"""

from __future__ import annotations

import os
import secrets
from pathlib import Path

CGROUP_ROOT = Path("/sys/fs/cgroup")
#: moves its shell into the group's cgroup.procs ($0), then becomes the command ("$@")
JOIN = '{ echo $$ >"$0"; } 2>/dev/null; exec "$@"'
RT_SHARE = 0.4  # of each period, for the sessions' real-time processes (see _allow_realtime)


#: the kernel's sched_prio_to_weight for niceness 0..19 (kernel/sched/core.c)
NICE_WEIGHTS = (1024, 820, 655, 526, 423, 335, 272, 215, 172, 137, 110, 87, 70, 56, 45, 36, 29, 23, 18, 15)


def weight_of_nice(nice: int) -> int:
    """The kernel's CFS weight of niceness ``nice`` (0..19; nice 0: 1024, 19: 15)."""
    return NICE_WEIGHTS[min(max(nice, 0), 19)]


class SessionGroup:
    """``top`` (the simulated servers, against the rest of the machine) holding ``sshd`` (the
    sim's own process, once it calls ``join_server``) and ``sessions`` (every process the
    servers run), 1:1 within it, as a server's sshd and its processes share that server."""

    why_not = ""

    def __init__(self, top: Path, version: int) -> None:
        self.path = top
        self.version = version
        self.home = top.parent
        self.sshd = top / "sshd"
        self.sessions = top / "sessions"
        self.procs = str(self.sessions / "cgroup.procs")

    @classmethod
    def create(cls, nice: int, root: Path = CGROUP_ROOT) -> SessionGroup | None:
        """A new group weighing as one process at niceness ``nice``, or None (see ``why_not``)."""
        found = _cpu_hierarchy(root)
        if found is None:
            cls.why_not = f"no cpu cgroup controller under {root} for this process"
            return None
        parent, version = found
        _remove_stale(parent)
        group = cls(parent / f"cluster-console-sim-{os.getpid()}-{secrets.token_hex(4)}", version)
        try:
            group.path.mkdir(mode=0o755)
        except OSError as exc:
            cls.why_not = f"cannot create {group.path}: {exc.strerror or exc}"
            return None
        try:
            if version == 2:
                (group.path / "cgroup.subtree_control").write_text("+cpu")
            group._weigh(group.path, weight_of_nice(nice))
            for child in (group.sshd, group.sessions):
                child.mkdir(mode=0o755)
                group._weigh(child, weight_of_nice(0))
            group._allow_realtime()
        except OSError as exc:
            group.remove()
            cls.why_not = f"cannot set up {group.path}: {exc.strerror or exc}"
            return None
        return group

    def _weigh(self, folder: Path, weight: int) -> None:
        if self.version == 1:
            (folder / "cpu.shares").write_text(str(weight))
        else:  # cgroup v2: 1..10000, 100 = nice 0
            (folder / "cpu.weight").write_text(str(max(1, round(weight * 100 / 1024))))

    def _allow_realtime(self) -> None:
        """With real-time group scheduling (cgroup v1 ``cpu.rt_runtime_us``) a new group may
        run no real-time process at all, where a real server lets root run them: give the
        sessions a share (``RT_SHARE`` of each period), where the parent has it to give."""
        budget = self.path / "cpu.rt_runtime_us"
        if self.version != 1 or not budget.exists():
            return
        period = int((self.path / "cpu.rt_period_us").read_text())
        runtime = str(int(period * RT_SHARE))
        try:
            budget.write_text(runtime)
            (self.sessions / "cpu.rt_runtime_us").write_text(runtime)
        except OSError:
            pass  # the parent has none to give: the sessions' real-time requests are refused

    def wrap(self, argv: list[str]) -> list[str]:
        """``argv`` run in ``sessions``: a shell moves itself there, then ``exec``s it.

        Not in a ``preexec_fn``: the sim (``subprocess``) waits in its event loop until the
        new process has ``exec``ed, and a process moved into the sessions' group before that
        waits for the sessions' CPU share: a thousand sessions starting at once then stopped
        the sim answering its connections' keepalives for a minute (priority inversion).
        Moved by the program it ``exec``s, the wait is in the sim's own group."""
        return ["/bin/sh", "-c", JOIN, self.procs, *argv]

    def join_server(self) -> None:
        """Move the calling process (the sim, when it runs in a process of its own) into ``sshd``."""
        (self.sshd / "cgroup.procs").write_text(str(os.getpid()))

    def remove(self) -> None:
        """Move what is left (this process too) back to where the group was made, then
        remove the group's folders."""
        for folder in (self.sessions, self.sshd, self.path):
            try:
                left = (folder / "cgroup.procs").read_text().split()
            except OSError:
                left = []
            for pid in left:
                try:
                    (self.home / "cgroup.procs").write_text(pid)
                except OSError:
                    pass  # gone meanwhile
        for folder in (self.sessions, self.sshd, self.path):
            try:
                folder.rmdir()
            except OSError:
                pass  # already gone, or a process joined meanwhile: the kernel keeps it harmlessly


def _remove_stale(parent: Path) -> None:
    """Remove the empty groups of sims that are gone (one killed before its ``remove``)."""
    for top in parent.glob("cluster-console-sim-*-*"):
        pid = top.name.split("-")[3]
        if not pid.isdigit() or Path(f"/proc/{pid}").exists():
            continue
        for folder in (top / "sessions", top / "sshd", top):
            try:
                folder.rmdir()
            except OSError:
                pass  # not empty (a process of that sim is still alive): left alone


def _cpu_hierarchy(root: Path) -> tuple[Path, int] | None:
    """This process's own cgroup folder in a hierarchy with the cpu controller, and the
    hierarchy's version (1 or 2); None when there is none we may create groups in."""
    try:
        lines = Path("/proc/self/cgroup").read_text().splitlines()
    except OSError:
        return None
    for line in lines:
        _, controllers, where = line.split(":", 2)
        rel = where.lstrip("/")
        if "cpu" in controllers.split(","):
            for mount in (root / "cpu", root / "cpu,cpuacct", root / controllers):
                folder = mount / rel
                if (folder / "cpu.shares").exists() and os.access(folder, os.W_OK):
                    return folder, 1
        elif controllers == "":
            for mount in (root, root / "unified"):
                folder = mount / rel
                try:
                    delegated = (folder / "cgroup.subtree_control").read_text().split()
                except OSError:
                    continue
                if "cpu" in delegated and os.access(folder, os.W_OK):
                    return folder, 2
    return None
