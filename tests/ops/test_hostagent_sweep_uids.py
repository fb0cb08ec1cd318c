"""Security review finding: the process sweep of the host agent (and of its watchdog).

* it went by the effective uid only: a set-uid program (``su``, real uid another user's,
  effective root) started by another user WITH the run's markers was signalled by root's
  agent. Now real, effective and saved uid must all be the agent's (``Uid:`` in status).
* processes are held by a /proc/<pid> folder fd and a pidfd, so a PID reused meanwhile is
  not signalled;
* the watchdog's argv carried the run id, the server and the run folder (readable by every
  local user); they now go on its stdin.

Runs as root (the agent's user here) with the second local user ``ccother``.
"""

from __future__ import annotations

import os
import pwd
import signal
import subprocess
import time

import pytest

from console.ops import hostagent_guard
from console.ops.hostagent_base import Watchdog


def _ccother() -> int:
    try:
        return pwd.getpwnam("ccother").pw_uid
    except KeyError:
        pytest.skip("needs the second local user ccother")


def _markers() -> list[tuple[str, str]]:
    return [("CLUSTER_CONSOLE_RUN", f"uid-{os.getpid()}-{time.monotonic_ns()}"), ("CLUSTER_CONSOLE_SERVER", "s1")]


def _spawn(markers, preexec=None) -> subprocess.Popen:
    return subprocess.Popen(
        ["sleep", "600"], env={**os.environ, **dict(markers)}, preexec_fn=preexec, stdin=subprocess.DEVNULL
    )


def _uid_line(pid: int) -> list[int]:
    with open(f"/proc/{pid}/status") as f:
        line = next(x for x in f if x.startswith("Uid:"))
    return [int(v) for v in line.split()[1:4]]


@pytest.mark.skipif(os.geteuid() != 0, reason="needs root to make a set-uid-like process")
def test_a_setuid_process_of_another_user_with_the_markers_is_not_swept() -> None:
    other = _ccother()
    markers = _markers()
    mine = _spawn(markers)
    # what `env MARKERS su ...` run by ccother looks like: real uid ccother, effective root
    su_like = _spawn(markers, lambda: os.setresuid(other, 0, 0))
    try:
        assert _uid_line(su_like.pid) == [other, 0, 0]
        found = hostagent_guard.marked_pids(markers)
        assert mine.pid in found and su_like.pid not in found
        assert sorted(hostagent_guard.sweep(markers, signal.SIGTERM)) == [mine.pid]
        assert mine.wait(15) == -signal.SIGTERM
        assert su_like.poll() is None
    finally:
        for p in (mine, su_like):
            p.kill()
            p.wait()


def test_a_held_process_that_died_is_not_signalled() -> None:
    child = _spawn(_markers())
    proc = hostagent_guard._SWEEP_NS["_Proc"](child.pid)
    try:
        assert proc.same()
        child.kill()
        child.wait()  # reaped: its PID is free for reuse
        assert not proc.same()
        proc.signal(signal.SIGKILL)  # through the pidfd (or refused by the start time check)
    finally:
        proc.close()


def test_the_watchdog_gets_its_markers_on_stdin_not_in_argv(tmp_path) -> None:
    markers = _markers()
    run_dir = tmp_path / "runs" / markers[0][1] / "s1"
    run_dir.mkdir(parents=True)
    table = tmp_path / "rt.json"
    table.write_text("{}")
    victim = _spawn(markers)
    dog = Watchdog(0.5, markers, str(run_dir), [str(table)])
    try:
        assert dog.pid is not None
        with open(f"/proc/{dog.pid}/cmdline", "rb") as f:
            argv = f.read()
        assert markers[0][1].encode() not in argv and str(run_dir).encode() not in argv
        dog.proc.stdin.close()  # the agent is gone: the watchdog sweeps and cleans up
        assert dog.proc.wait(30) == 0
        assert victim.wait(15) == -signal.SIGTERM
        assert not run_dir.exists() and not table.exists()
    finally:
        victim.kill()
        victim.wait()
