"""``serving_run``: the serving launch as one generator (what the Launch pane runs), with
the host facts taken from discovery's inventory, and a prompt re-sent to the ready service."""

from __future__ import annotations

import asyncio
import contextlib

from console.core.planning.launch import build_launch_plan
from console.core.planning.perserver import facts_from_inventory
from console.core.ranktable.text import dumps
from console.core.serving.plan import vllm_setup
from console.ops.discovery import discover_inventory
from console.ops.launch_events import JobFinished
from console.ops.profiles import load_profile
from console.ops.serving import ServiceAnswer, ServiceReady, serving_run
from console.ops.smoke import first_request
from console.remote import Pool, SSHOptions
from tests.ops.test_launch_sim import free_port, sim_table


async def test_vllm_serving_run_with_inventory_facts_and_a_second_prompt(sim_cluster, tmp_path):
    table = sim_table(sim_cluster)
    profile = load_profile("vllm-ascend").model_copy(update={"http_port": free_port(), "rpc_port": free_port()})
    options = SSHOptions(ssh_config=sim_cluster.ssh_config_path, connect_timeout=10, command_timeout=60)
    stop = asyncio.Event()
    async with Pool(options) as pool:
        facts = facts_from_inventory(await discover_inventory(pool, sim_cluster.hosts))
        assert facts[sim_cluster.hosts[0]].host_nic == "eth0"
        setup = vllm_setup(table, profile, ["ccsim-model"], tp=None, http_port=None, rpc_port=None)
        plan = build_launch_plan(
            table,
            profile,
            args=setup.args,
            values=setup.values,
            parallel=setup.parallel,
            host_facts=facts,
            run_id="t-serving-run",
            remote_ranktable=str(tmp_path / "remote" / "rt.json"),
            master_port=free_port(),
        )
        ready = answer = second = None
        events = serving_run(
            plan,
            table,
            dumps(table).encode(),
            profile=profile,
            pool=pool,
            prompt="What's Deep Learning?",
            stop=stop,
            run_base=tmp_path / "runs",
        )
        async with asyncio.timeout(90), contextlib.aclosing(events):
            async for ev in events:
                if isinstance(ev, ServiceReady):
                    ready = ev
                elif isinstance(ev, ServiceAnswer):
                    answer = ev.result
                    second = await first_request(pool, ready.target, "hello there")
                    stop.set()
                elif isinstance(ev, JobFinished):
                    finished = ev.summary
    assert ready is not None and ready.where == f"{sim_cluster.hosts[0]}:{profile.http_port}"
    assert answer.ok and answer.answer.startswith("Deep learning")
    assert second.ok and second.answer and second.prompt == "hello there"
    assert finished.root_cause is not None and finished.root_cause.kind == "stopped"
