"""Launch pane with a serving profile (vllm-ascend) on the simulated cluster: one row per
server, "SERVING at <server>:<port>" with the first answer, p sends a typed prompt."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from console.core.ranktable import build
from console.ops.ranktable_files import save
from console.remote import SSHOptions
from console.ui.app import ClusterConsoleApp
from console.ui.launch_source import LaunchSource
from console.ui.sources import SharedPool, Sources
from tests.ui.conftest import FakeDiscovery, submit, wait_until
from tests.ui.test_launch_pane import JOB_TIMEOUT, free_port, sim_inventory
from tests.ui.test_launch_pane import sim as sim  # the simulated cluster fixture

PORTS = {"http_port": free_port(), "rpc_port": free_port()}


class _Source(LaunchSource):
    """The app's launch source with free HTTP/RPC ports in the serving profile (tests run
    side by side on the same loopback addresses)."""

    def load_profile(self, name: str) -> Any:
        profile = super().load_profile(name)
        return profile.model_copy(update=PORTS) if profile.serving else profile


def make_app(cluster, tmp_path: Path) -> ClusterConsoleApp:
    inventory = sim_inventory(cluster)
    path = tmp_path / "ranktable.json"
    save(build(inventory), path)
    shared = SharedPool(SSHOptions(ssh_config=cluster.ssh_config_path, connect_timeout=30, command_timeout=120))
    launch = _Source(
        shared,
        run_base=tmp_path / "runs",
        plan_options={"remote_ranktable": str(tmp_path / "remote" / "rt.json")},
        form={"profile": "vllm-ascend", "command": "ccsim-model"},
    )
    sources = Sources(discover=FakeDiscovery(inventory), launch=launch, pool=shared)
    return ClusterConsoleApp(ranktable_path=path, inventory=inventory, start="launch", sources=sources)


async def test_vllm_ascend_serves_and_answers_a_typed_prompt(sim, tmp_path):
    app = make_app(sim, tmp_path)
    async with app.run_test(size=(110, 34)) as pilot:
        screen = app.screen
        await wait_until(pilot, lambda: screen.plan is not None and screen.plan.serving == "vllm-ascend", 30)
        assert screen.plan.processes == 2 and not screen.setup.plan_error
        await pilot.press("f5")
        await wait_until(pilot, lambda: screen.job is not None, 10)
        await wait_until(pilot, lambda: bool(screen.model.serving.answers), JOB_TIMEOUT)
        assert screen.job.world_size == 2  # one row per server
        first = screen.model.serving.answers[0]
        assert first.ok and first.answer.startswith("Deep learning"), first
        await pilot.pause()
        banner = str(screen.query_one("#launch-serving").render())
        assert f"SERVING at {sim.hosts[0]}:{PORTS['http_port']}" in banner
        assert "Deep learning" in banner
        await pilot.press("p")
        await submit(pilot, "hello there")
        await wait_until(pilot, lambda: len(screen.model.serving.answers) == 2, 60)
        second = screen.model.serving.answers[1]
        assert second.ok and second.prompt == "hello there" and second.answer
        await pilot.pause()
        assert "> hello there" in str(screen.query_one("#launch-serving").render())
        await pilot.press("f8")
        await wait_until(pilot, lambda: not screen.running, JOB_TIMEOUT)
