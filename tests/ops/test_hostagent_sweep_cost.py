"""The host agent's process sweep costs one open per process that does not carry the run's
markers (its environment, by path); only a candidate is held and checked in full.

On a real server the sweep looks at that server's processes; on the simulator every agent
sees every process of the machine (1,024 servers: ~5,000 processes, two sweeps per agent at a
teardown), which made the checks (folder fd, stat twice, pidfd, status, environ) of every
process the cost of a 1,024-server teardown. The outcome of a sweep is unchanged: a marked
process is still found and signalled, an unmarked one never.
"""

from __future__ import annotations

import os
import re
import signal
import subprocess
import time

from console.ops import hostagent_guard


def _markers() -> list[tuple[str, str]]:
    return [("CLUSTER_CONSOLE_RUN", f"cost-{os.getpid()}-{time.monotonic_ns()}"), ("CLUSTER_CONSOLE_SERVER", "s1")]


def test_a_sweep_opens_one_file_per_unmarked_process(monkeypatch) -> None:
    markers = _markers()
    unmarked = [
        subprocess.Popen(["sleep", "600"], stdin=subprocess.DEVNULL, env={**os.environ, "X": str(k)}) for k in range(20)
    ]
    marked = subprocess.Popen(["sleep", "600"], stdin=subprocess.DEVNULL, env={**os.environ, **dict(markers)})
    opened: list[str] = []
    real_open = os.open

    def counting_open(path, *args, **kwargs):
        opened.append(str(path))
        return real_open(path, *args, **kwargs)

    try:
        monkeypatch.setattr(os, "open", counting_open)
        found = hostagent_guard.sweep(markers, signal.SIGTERM, skip={os.getpid()})
        monkeypatch.undo()
        assert found == [marked.pid]
        assert marked.wait(10) == -signal.SIGTERM
        assert [p.poll() for p in unmarked] == [None] * len(unmarked)
        # one open per process, its environ by path; more only for the one marked process
        # (held by its folder fd and checked in full: 6 opens). It was 5 for every process.
        first_looks = [p for p in opened if re.fullmatch(r"/proc/\d+/environ", p)]
        assert len(opened) - len(first_looks) <= 10, opened[:20]
        assert len(first_looks) >= len(unmarked) + 1
    finally:
        for p in [*unmarked, marked]:
            p.kill()
            p.wait()
