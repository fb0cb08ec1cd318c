"""A process table of its own for one simulated server (Linux PID + mount namespace; root).

Separate machines do not see each other's processes. Simulated servers on one machine do,
unless each has its own PID namespace: a host agent's look at every process of "its" server
(the leftover sweep, ``Guard.end_marked``) would otherwise read every process of the whole
simulated cluster, a cost no real server pays (1,024 agents x 3,000 processes at teardown).

``ProcessTable.start(home)`` starts the namespace's first process (``unshare --pid --mount
--fork --mount-proc``: a shell that reaps orphans, as init does, and ends on TERM, which
ends every process in the namespace); ``wrap(argv)`` is the session's command entering it
(``nsenter --pid --mount``: nsenter forks the command into the namespace and ends with its
status or signal); ``stop()`` ends the namespace. ``start`` raises ``OSError`` where the
system does not allow it (not root, no ``unshare``).

What differs from a session without it: PIDs seen inside are the namespace's; a signal to the
session's process group reaches nsenter too, which then ends by that signal whatever the
command does with it (a ``trap`` that exits 3 on TERM still reports TERM).
"""

from __future__ import annotations

import os
import select
import shutil
import signal
import subprocess
from collections.abc import Callable
from pathlib import Path

READY_S = 30.0
#: the namespace's init: reaps orphans (``wait`` reaps any child) and ends on TERM
INIT = 'trap "exit 0" TERM; echo ready; while :; do sleep 3600 & wait; done'


class ProcessTable:
    def __init__(self, holder: subprocess.Popen[bytes], init_pid: int, nsenter: str) -> None:
        self.holder = holder
        self.init_pid = init_pid
        self.nsenter = nsenter

    @classmethod
    def start(cls, home: str, preexec: Callable[[], None] | None = None) -> ProcessTable:
        unshare, nsenter = shutil.which("unshare"), shutil.which("nsenter")
        if unshare is None or nsenter is None:
            raise OSError("unshare and nsenter (util-linux) are needed for separate process tables")
        holder = subprocess.Popen(
            [unshare, "--pid", "--mount", "--fork", "--mount-proc", "--", "/bin/sh", "-c", INIT],
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            cwd=home,
            start_new_session=True,
            preexec_fn=preexec,
        )
        assert holder.stdout is not None and holder.stderr is not None
        ready, _, _ = select.select([holder.stdout], [], [], READY_S)
        line = holder.stdout.readline() if ready else b""
        if line != b"ready\n":
            holder.kill()
            holder.wait()
            err = holder.stderr.read(2000).decode(errors="replace").strip()
            raise OSError(f"cannot start a PID namespace: {err or 'no answer from unshare'}")
        holder.stdout.close()
        holder.stderr.close()
        children = Path(f"/proc/{holder.pid}/task/{holder.pid}/children").read_text().split()
        return cls(holder, int(children[0]), nsenter)

    def wrap(self, argv: list[str]) -> list[str]:
        """``argv`` run inside the namespace, in the init's folder (the server's home)."""
        return [self.nsenter, f"--target={self.init_pid}", "--pid", "--mount", "--wd", "--", *argv]

    def stop(self) -> None:
        """TERM the init: the kernel then ends every process of the namespace."""
        if self.holder.poll() is None:  # unshare waits for the init: its PID is still the init's
            try:
                os.kill(self.init_pid, signal.SIGTERM)
            except ProcessLookupError:
                pass
        try:
            self.holder.wait(5)
        except subprocess.TimeoutExpired:
            self.holder.kill()
            self.holder.wait()
