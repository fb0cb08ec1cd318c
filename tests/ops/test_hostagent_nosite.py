"""The host agent and its watchdog start without ``site``: the server's .pth files and
sitecustomize (slow, or broken, or importing a framework) never run in them, and a thousand
agents starting on one machine save that start-up's CPU (about 20 ms each here)."""

from __future__ import annotations

import time

from console.ops.agentlink import LocalAgentLink
from tests.ops.test_hostagent import Agent, rank


async def test_agent_and_watchdog_skip_sitecustomize(tmp_path, monkeypatch) -> None:
    hooks = tmp_path / "hooks"
    hooks.mkdir()
    ran = tmp_path / "ran"
    (hooks / "sitecustomize.py").write_text(f"open({str(ran)!r}, 'a').write('site ran\\n')\n")
    monkeypatch.setenv("PYTHONPATH", str(hooks))  # site would import sitecustomize from here
    agent = Agent(await LocalAgentLink.start("local"))
    try:
        await agent.send_spec([rank(0, "true")], barrier="spawn")
        hello = await agent.until("hello")
        assert hello["watchdog"], "the agent started its watchdog"
        await agent.until("ready")
        agent.send({"t": "go", "at": time.time()})
        assert (await agent.until("exit"))["code"] == 0
        await agent.until("bye")
    finally:
        await agent.close()
    assert not ran.exists(), ran.read_text()
