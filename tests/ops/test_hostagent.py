"""The host agent, run locally through the same bootstrap and channel protocol as over SSH.

Processes are checked for real (``os.kill(pid, 0)``, ``ps``), never assumed gone.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import shlex
import signal
import subprocess
import sys
import time

import pytest

from console.ops.agentlink import LocalAgentLink, hello_payload
from tests.ops.procs import alive

PY = shlex.quote(sys.executable)


class Agent:
    """One agent process and the frames it sends."""

    def __init__(self, link: LocalAgentLink) -> None:
        self.link = link
        self.frames: asyncio.Queue = asyncio.Queue()
        self.seen: list[dict] = []
        self.spec_sent = False
        self.task = asyncio.ensure_future(self._read())

    @classmethod
    async def start(cls, ranks: list[dict], **spec) -> Agent:
        agent = cls(await LocalAgentLink.start("local"))
        await agent.send_spec(ranks, **spec)
        return agent

    async def send_spec(self, ranks: list[dict], **spec) -> None:
        body = {
            "t": "spec",
            "prelude": "",
            "exec_command": True,
            "barrier": "hold",
            "grace_s": 2.0,
            "heartbeat_s": 0,
            "ranks": ranks,
            **spec,
        }
        self.link.write(hello_payload(body))
        await self.link.drain()
        self.spec_sent = True

    async def _read(self) -> None:
        async for line in self.link:
            await self.frames.put(json.loads(line))
        await self.frames.put({"t": "<eof>"})

    async def until(self, kind: str, timeout: float = 20.0) -> dict:
        async def wait() -> dict:
            while True:
                frame = await self.frames.get()
                self.seen.append(frame)
                if frame["t"] == kind:
                    return frame
                assert frame["t"] != "<eof>", f"agent ended before {kind}: {self.seen[-5:]}"

        return await asyncio.wait_for(wait(), timeout)

    def send(self, msg: dict) -> None:
        self.link.write(json.dumps(msg) + "\n")

    def of(self, kind: str) -> list[dict]:
        return [f for f in self.seen if f["t"] == kind]

    async def close(self) -> None:
        await self.link.close()
        self.task.cancel()


def rank(n: int, command: str, **env: str) -> dict:
    return {"rank": n, "env": {"RANK": str(n), **env}, "command": command}


async def all_gone(pids: list[int], timeout: float = 10.0) -> list[int]:
    """Poll (with a deadline) until none of ``pids`` runs; return those still running."""
    deadline = time.monotonic() + timeout
    while True:
        running = [p for p in pids if alive(p)]
        if not running or time.monotonic() > deadline:
            return running
        await asyncio.sleep(0.02)


def group_members(pgid: int) -> list[int]:
    out = subprocess.run(["ps", "-eo", "pid=,pgid=,stat="], capture_output=True, text=True).stdout
    return [
        int(p) for p, g, st in (line.split() for line in out.splitlines()) if int(g) == pgid and not st.startswith("Z")
    ]


@pytest.mark.parametrize("barrier", ["hold", "spawn"])
async def test_barrier_holds_until_go(tmp_path, barrier) -> None:
    cmd = f"touch {tmp_path}/cmd-$RANK"
    agent = await Agent.start(
        [rank(n, cmd) for n in range(4)], barrier=barrier, prelude=f"touch {tmp_path}/setup-$RANK"
    )
    try:
        await agent.until("ready")
        if barrier == "hold":
            assert sorted(p.name for p in tmp_path.iterdir()) == [f"setup-{n}" for n in range(4)]
        with pytest.raises(asyncio.TimeoutError):  # nothing moves before GO
            await agent.until("started", timeout=0.5)
        assert not list(tmp_path.glob("cmd-*"))
        agent.send({"t": "go"})
        for _ in range(4):
            await agent.until("exit")
        await agent.until("bye")
        assert sorted(p.name for p in tmp_path.glob("cmd-*")) == [f"cmd-{n}" for n in range(4)]
        assert sorted(f["rank"] for f in agent.of("started")) == [0, 1, 2, 3]
        assert all(f["code"] == 0 for f in agent.of("exit"))
    finally:
        await agent.close()


WRITER = r"""
import os, sys
r = int(os.environ["RANK"])
out, err = sys.stdout.buffer, sys.stderr.buffer
for i in range(3000):
    (out if i % 3 else err).write(b"rank%d-line%d-%s\n" % (r, i, b"y" * (i % 700)))
out.write(b"bin:\xff\xfe\x00\x01 \xc3\xa9 \xe2\x82 cr\r {\"t\":\"exit\",\"rank\":9}\n")
out.write(b"L" * 1_000_003 + b"\n")
out.write(b"no newline at end")
"""


def expected(r: int) -> dict[str, bytes]:
    o, e = [], []
    for i in range(3000):
        (o if i % 3 else e).append(b"rank%d-line%d-%s\n" % (r, i, b"y" * (i % 700)))
    o.append(b'bin:\xff\xfe\x00\x01 \xc3\xa9 \xe2\x82 cr\r {"t":"exit","rank":9}\n')
    o.append(b"L" * 1_000_003 + b"\n")
    o.append(b"no newline at end\n")  # the agent ends a last unterminated line
    return {"o": b"".join(o), "e": b"".join(e)}


async def test_framing_is_lossless_and_per_line(tmp_path) -> None:
    script = tmp_path / "w.py"
    script.write_text(WRITER)
    agent = await Agent.start([rank(n, f"{PY} {script}") for n in range(3)])
    try:
        await agent.until("ready")
        agent.send({"t": "go"})
        await agent.until("bye", timeout=60)
    finally:
        await agent.close()
    got = {(r, s): bytearray() for r in range(3) for s in "oe"}
    for f in agent.of("line"):
        data = f["x"].encode("utf-8", "surrogateescape")
        got[f["rank"], f["s"]] += data if f.get("p") else data + b"\n"
    for r in range(3):
        want = expected(r)
        assert bytes(got[r, "o"]) == want["o"]
        assert bytes(got[r, "e"]) == want["e"]
    assert [f["code"] for f in agent.of("exit")] == [0, 0, 0]


SPAWNER = r"""
import os, subprocess, sys, signal
if sys.argv[1:] == ["deaf"]:
    signal.signal(signal.SIGTERM, signal.SIG_IGN)
kid = subprocess.Popen(["sleep", "300"])
mid = subprocess.Popen([sys.executable, "-c",
    "import subprocess,sys; g=subprocess.Popen(['sleep','301']); print(g.pid, flush=True); g.wait()"],
    stdout=subprocess.PIPE, text=True)
grand = int(mid.stdout.readline())
print("pids", os.getpid(), kid.pid, mid.pid, grand, flush=True)
kid.wait()
"""


async def start_spawners(tmp_path, n: int, deaf: bool = False, **spec) -> tuple[Agent, list[int]]:
    agent = Agent(await LocalAgentLink.start("local"))
    return agent, await run_spawners(agent, tmp_path, n, deaf, **spec)


async def run_spawners(agent: Agent, tmp_path, n: int, deaf: bool = False, **spec) -> list[int]:
    """Ranks that each fork a child, a child with a grandchild; all their pids."""
    script = tmp_path / "spawn.py"
    script.write_text(SPAWNER)
    cmd = f"{PY} {script}" + (" deaf" if deaf else "")
    await agent.send_spec([rank(r, cmd) for r in range(n)], **spec)
    await agent.until("ready")
    agent.send({"t": "go"})
    pids = []
    while len(pids) < 4 * n:
        frame = await agent.until("line")
        if frame["x"].startswith("pids"):
            pids += [int(p) for p in frame["x"].split()[1:]]
    return pids


@pytest.mark.parametrize("deaf", [False, True], ids=["term", "term-ignored-kill"])
async def test_stop_kills_process_groups_with_grandchildren(tmp_path, deaf) -> None:
    agent, pids = await start_spawners(tmp_path, 2, deaf=deaf, grace_s=0.5)
    pgids = [f["pid"] for f in agent.of("started")]
    try:
        assert await all_gone(pids, timeout=0) != []  # they do run
        agent.send({"t": "stop", "reason": "test"})
        assert (await agent.until("stopping"))["reason"] == "test"
        await agent.until("bye")
        assert await all_gone(pids) == []
        assert all(group_members(g) == [] for g in pgids)
        codes = sorted(f["code"] for f in agent.of("exit"))
        assert codes == [128 + (9 if deaf else 15)] * 2
    finally:
        await agent.close()


async def test_stdin_close_kills_everything(tmp_path) -> None:
    agent, pids = await start_spawners(tmp_path, 2)
    try:
        agent.link.write_eof()  # the console died / the channel was cut
        frame = await agent.until("stopping")
        assert "stdin closed" in frame["reason"]
        assert await all_gone(pids) == []
        await asyncio.wait_for(agent.link.proc.wait(), 10)
    finally:
        await agent.close()


async def test_agent_killed_by_term_tears_down(tmp_path) -> None:
    agent, pids = await start_spawners(tmp_path, 1)
    try:
        assert agent.link.proc.returncode is None, f"agent ended early: {agent.seen[-5:]}"
        agent.link.proc.send_signal(signal.SIGTERM)
        assert "SIGTERM" in (await agent.until("stopping"))["reason"]
        assert await all_gone(pids) == []
    finally:
        await agent.close()


async def test_missing_heartbeat_tears_down(tmp_path) -> None:
    async def beat() -> None:  # the console's heartbeat, until the ranks are up
        while True:
            if agent.spec_sent:
                agent.send({"t": "hb"})
            await asyncio.sleep(0.1)

    agent = Agent(await LocalAgentLink.start("local"))
    pinger = asyncio.ensure_future(beat())
    try:
        pids = await run_spawners(agent, tmp_path, 1, heartbeat_s=1.0)
        pinger.cancel()
        assert "heartbeat" in (await agent.until("stopping"))["reason"]
        assert await all_gone(pids) == []
    finally:
        pinger.cancel()
        await agent.close()


async def test_finished_rank_takes_its_leftovers_along(tmp_path) -> None:
    cmd = "sleep 300 & echo bg $!; exit 3"
    agent = await Agent.start([rank(0, cmd), rank(1, "echo fine")])
    try:
        await agent.until("ready")
        agent.send({"t": "go"})
        await agent.until("bye")
        bg = next(int(f["x"].split()[1]) for f in agent.of("line") if f["x"].startswith("bg"))
        assert await all_gone([bg]) == []
        assert {f["rank"]: f["code"] for f in agent.of("exit")} == {0: 3, 1: 0}
    finally:
        await agent.close()


async def test_failing_setup_line_ends_rank_before_barrier(tmp_path) -> None:
    agent = await Agent.start([rank(0, "echo never")], prelude="false || { printf 'setup failed\\n' >&2; exit 126; }")
    try:
        frame = await agent.until("exit")
        assert frame["code"] == 126
        assert not agent.of("ready")
        assert any(f["x"] == "setup failed" for f in agent.of("line"))
        agent.send({"t": "stop"})
        await agent.until("bye")
    finally:
        await agent.close()


async def test_agent_killed_outright_leaves_no_process(tmp_path) -> None:
    """SIGKILL to the agent: the watchdog kills every rank's group (grandchildren too)."""
    agent, pids = await start_spawners(tmp_path, 2)
    try:
        hello = agent.of("hello")[0]
        assert hello["watchdog"] and hello["deathsig"]
        agent.link.proc.kill()
        assert await all_gone(pids) == []
        assert await all_gone([hello["watchdog"]]) == []
    finally:
        await agent.close()


async def test_pdeathsig_ends_rank_process_without_watchdog(tmp_path) -> None:
    """Even with the watchdog gone too, the kernel kills each rank's own process."""
    agent, pids = await start_spawners(tmp_path, 2)
    main_pids = pids[0::4]  # the spawner itself: "pids <self> <kid> <mid> <grand>"
    try:
        os.kill(agent.of("hello")[0]["watchdog"], signal.SIGKILL)
        agent.link.proc.kill()
        assert await all_gone(main_pids) == []
    finally:
        for pid in pids:  # its children are not covered by PDEATHSIG: clean up here
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGKILL)
        await agent.close()


@pytest.mark.parametrize("barrier", ["hold", "spawn"])
async def test_command_with_leading_assignment_runs(tmp_path, barrier) -> None:
    """``GREETING=hi sh -c ...`` (from the plan, so its exec decision) sets the variable."""
    from console.core.planning.launch import build_launch_plan
    from console.core.profiles import Profile
    from console.core.ranktable.model import RankTable

    table = RankTable.model_validate(
        {
            "status": "completed",
            "version": "1.0",
            "server_count": "1",
            "server_list": [{"server_id": "127.0.0.1", "device": [{"device_id": "0", "rank_id": "0"}]}],
        }
    )
    plan = build_launch_plan(table, Profile(name="custom"), args=["GREETING=hi", "sh", "-c", "echo $GREETING"])
    agent = await Agent.start(
        [rank(0, plan.servers[0].ranks[0].command)], barrier=barrier, exec_command=plan.exec_command
    )
    try:
        await agent.until("ready")
        agent.send({"t": "go"})
        frame = await agent.until("exit")
        await agent.until("bye")
        assert [f["x"] for f in agent.of("line")] == ["hi"]
        assert frame["code"] == 0
    finally:
        await agent.close()
