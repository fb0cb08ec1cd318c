"""At a teardown (STOP with TERM) the host agent reports its ranks' exits before it looks for
marked processes: that look reads every process of the machine (on the simulator, every
server's), and the exit reports are what the console waits for. The marked processes still
get their TERM (then KILL after the grace period), right after the reports.

The agent runs as a real local process; its program is the real one with ``Guard.end_marked``
wrapped to write one frame per sweep as it starts (unbuffered, unlike the agent's own frames),
so the order of frames on the channel is the order of the agent's actions.
"""

from __future__ import annotations

from console.ops import agentlink
from console.ops.agentlink import LocalAgentLink
from tests.ops.test_hostagent import Agent, rank

TRACE = """
_end_marked = Guard.end_marked


def _traced(self, sig, groups=()):
    os.write(1, (json.dumps({"t": "error", "msg": "sweep %d" % sig}) + "\\n").encode("ascii"))
    return _end_marked(self, sig, groups)


Guard.end_marked = _traced
"""


REAL_SOURCE = agentlink.agent_source


def traced_source() -> str:
    source = REAL_SOURCE()
    main = '\nif __name__ == "__main__":\n    main()'
    assert source.rstrip().endswith(main.strip()), "the agent program ends with its main() call"
    return source.rstrip()[: -len(main.strip())] + TRACE + main + "\n"


async def test_exit_reports_go_out_before_the_sweep_for_marked_processes(tmp_path, monkeypatch) -> None:
    monkeypatch.setattr(agentlink, "agent_source", traced_source)
    agent = Agent(await LocalAgentLink.start("local"))
    markers = [["CLUSTER_CONSOLE_RUN", f"order-{tmp_path.name}"], ["CLUSTER_CONSOLE_SERVER", "s0"]]
    try:
        await agent.send_spec([rank(0, "exec sleep 60"), rank(1, "exec sleep 60")], markers=markers, grace_s=1.0)
        await agent.until("ready")
        agent.send({"t": "go"})
        await agent.until("started")
        agent.send({"t": "stop", "reason": "test"})
        await agent.until("bye")
        order = [f["t"] if f["t"] != "error" else f["msg"] for f in agent.seen]
        exits = [i for i, kind in enumerate(order) if kind == "exit"]
        sweeps = [i for i, kind in enumerate(order) if kind.startswith("sweep")]
        assert len(exits) == 2 and sweeps, order
        assert max(exits) < min(sweeps), order  # the reports first
        assert order[min(sweeps)] == "sweep 15", order  # the marked processes still get TERM
    finally:
        await agent.close()
