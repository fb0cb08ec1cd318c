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

import asyncio
import ctypes
import os
import selectors
import shutil
import signal
import subprocess
from collections.abc import Callable
from functools import partial
from pathlib import Path

from console.sim.cpugroup import SessionGroup

READY_S = 30.0
#: the namespace's init: reaps orphans (``wait`` reaps any child) and ends on TERM
INIT = 'trap "exit 0" TERM; echo ready; while :; do sleep 3600 & wait; done'


class ProcessTable:
    def __init__(self, holder: subprocess.Popen[bytes], init_pid: int, nsenter: str) -> None:
        self.holder = holder
        self.init_pid = init_pid
        self.nsenter = nsenter

    @classmethod
    def start(
        cls, home: str, preexec: Callable[[], None] | None = None, group: SessionGroup | None = None
    ) -> ProcessTable:
        unshare, nsenter = shutil.which("unshare"), shutil.which("nsenter")
        if unshare is None or nsenter is None:
            raise OSError("unshare and nsenter (util-linux) are needed for separate process tables")
        # --kill-child: the init gets KILL when unshare ends, and unshare gets KILL when the
        # sim does (_die_with_parent): a sim killed outright leaves no namespace behind
        argv = [unshare, "--pid", "--mount", "--fork", "--mount-proc", "--kill-child", "--", "/bin/sh", "-c", INIT]
        holder = subprocess.Popen(
            group.wrap(argv) if group is not None else argv,
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            cwd=home,
            start_new_session=True,
            preexec_fn=partial(_die_with_parent, os.getpid(), preexec),
        )
        assert holder.stdout is not None and holder.stderr is not None
        with selectors.DefaultSelector() as sel:  # not select(): the sim's fds go past 1,024
            sel.register(holder.stdout, selectors.EVENT_READ)
            ready = sel.select(READY_S)
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

    def terminate(self) -> None:
        """TERM the init: the kernel then ends every process of the namespace."""
        if self.holder.poll() is None:  # unshare waits for the init: its PID is still the init's
            try:
                os.kill(self.init_pid, signal.SIGTERM)
            except ProcessLookupError:
                pass

    def stop(self) -> None:
        """``terminate``, then wait for the end (KILL after 5 s)."""
        self.terminate()
        try:
            self.holder.wait(5)
        except subprocess.TimeoutExpired:
            self.holder.kill()
            self.holder.wait()

    async def aclose(self) -> None:
        """``stop`` without blocking the event loop (a thousand servers stop together)."""
        self.terminate()
        loop = asyncio.get_running_loop()
        deadline = loop.time() + 5.0
        while self.holder.poll() is None and loop.time() < deadline:
            await asyncio.sleep(0.02)
        if self.holder.poll() is None:
            self.holder.kill()
            await asyncio.to_thread(self.holder.wait)


def _die_with_parent(parent: int, then: Callable[[], None] | None) -> None:
    """In the holder before exec: KILL it when the sim ends (PR_SET_PDEATHSIG), then ``then``."""
    try:
        libc = ctypes.CDLL(None, use_errno=True)
        libc.prctl(1, int(signal.SIGKILL), 0, 0, 0)  # 1 = PR_SET_PDEATHSIG
    except (OSError, AttributeError):
        pass
    if os.getppid() != parent:  # the sim ended before prctl took effect
        os._exit(137)
    if then is not None:
        then()
