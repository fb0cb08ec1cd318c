"""The Launch pane's Diagnosis tab and stall marks, on the in-process simulated cluster (real
SSH, host agents, ranks running the sim's ``ccsim-hccl-init``):

* a job across the planted lossy card pair fails; the Diagnosis names the pair, ``o`` opens the
  evidence fetched from both servers, ``p`` pings that pair on the Ping pane (33.33 % loss);
* a hung NPU on one server: the grid marks the stalled ranks, the countdown runs, and the
  stall is diagnosed while the job still runs.
"""

from __future__ import annotations

import shlex
import sys
from pathlib import Path

import pytest

from console.core.ranktable import build
from console.ops.launch_stall import StallOptions
from console.ops.ranktable_files import save
from console.remote import SSHOptions
from console.sim.cluster import SimCluster
from console.sim.spec import ClusterSpec
from console.ui.app import ClusterConsoleApp
from console.ui.launch_source import LaunchSource
from console.ui.models.diagnosis import DiagnosisState
from console.ui.screens.evidence import EvidenceScreen
from console.ui.sources import SharedPool, Sources, _default_ping
from console.ui.widgets.diagnosis import DiagnosisView, render_diagnosis
from console.ui.widgets.rank_status import RankStatusGrid
from tests.ui.conftest import FakeDiscovery, wait_until
from tests.ui.test_launch_pane import JOB_TIMEOUT, free_port

PY = shlex.quote(sys.executable)
HCCL_JOB = "ccsim-hccl-init && exec sleep 60"
FINISHED = (DiagnosisState.DONE, DiagnosisState.ERROR)


async def _sim(tmp_path: Path, spec: ClusterSpec) -> SimCluster:
    cluster = SimCluster(spec, tmp_path / "sim", port=0)
    await cluster.start()
    return cluster


def _app(sim: SimCluster, tmp_path: Path, stall: StallOptions | None = None) -> ClusterConsoleApp:
    inventory = sim.spec.inventory()
    path = tmp_path / "ranktable.json"
    save(build(inventory), path)
    shared = SharedPool(SSHOptions(ssh_config=sim.ssh_config_path, connect_timeout=30, command_timeout=120))
    launch = LaunchSource(
        shared,
        run_base=tmp_path / "runs",
        stall=stall,
        plan_options={"remote_ranktable": str(tmp_path / "remote" / "rt.json")},
    )
    sources = Sources(discover=FakeDiscovery(inventory), launch=launch, pool=shared, ping=_default_ping(shared))
    return ClusterConsoleApp(ranktable_path=path, inventory=inventory, start="launch", sources=sources)


async def _planned(pilot, command: str, env: str = ""):
    screen = pilot.app.screen
    await wait_until(pilot, lambda: screen.setup.profile is not None and screen.setup.table is not None, 30)
    port = free_port()
    screen.query_one("#launch-command").value = command
    screen.query_one("#launch-env").value = f"{env} MASTER_PORT={port}".strip()
    await wait_until(pilot, lambda: screen.plan is not None and screen.plan.master_port == port, 10)
    return screen


@pytest.fixture
async def lossy(tmp_path: Path):
    sim = await _sim(tmp_path, ClusterSpec.default())  # 2 x 8, server 1 dev 3 -> server 2 dev 3 lossy
    yield sim
    await sim.stop()


async def test_failed_launch_diagnosis_evidence_and_reping_the_pair(lossy, tmp_path):
    a, b = lossy.hosts
    app = _app(lossy, tmp_path)
    async with app.run_test(size=(120, 40)) as pilot:
        screen = await _planned(pilot, HCCL_JOB)
        await pilot.press("f5")
        await wait_until(pilot, lambda: screen.job is not None and screen.job.finished, JOB_TIMEOUT)
        model = screen.model.diagnosis
        await wait_until(pilot, lambda: model.state in FINISHED, JOB_TIMEOUT)
        assert model.state is DiagnosisState.DONE, model.error
        first = model.diagnosis.first_cause()
        assert (first.cause, first.code) == ("socket_timeout", "EI0006")
        assert {(first.server, first.rank), (first.remote_server, first.remote_rank)} == {(a, 3), (b, 11)}
        groups = model.groups()
        assert groups[0].server == first.server and groups[0].rows[0].first
        await pilot.press("f7")
        assert screen.query_one("#launch-tabs").active == "launch-diagnosis-tab"
        shown = render_diagnosis(model).plain
        assert shown.startswith("DIAGNOSIS  rank ") and "never tested — ping this pair" in shown
        assert "wait socket establish timeout" in shown and "o  open the raw evidence" in shown
        assert screen.query_one(DiagnosisView).model is model

        await pilot.press("o")  # the raw evidence: both servers' plogs, fetched over SSH
        await wait_until(pilot, lambda: isinstance(app.screen, EvidenceScreen) and app.screen.files, 30)
        names = [str(p.relative_to(app.screen.root)) for p in app.screen.files]
        assert any(n.startswith(f"evidence/{a}/") for n in names) and any(n.startswith(f"evidence/{b}/") for n in names)
        assert "rank-3.log" in names
        await pilot.press("escape")

        await pilot.press("g")  # that pair, both ways, on the Ping pane
        await pilot.pause()
        assert getattr(app.screen, "PANE", None) == "ping"
        await wait_until(pilot, lambda: app.ping_results is not None, JOB_TIMEOUT)
        pairs = {
            (r.probe.src_host, r.probe.src_device, r.probe.dst_host, r.probe.dst_device): r
            for r in app.ping_results.results
        }
        assert set(pairs) == {(a, 3, b, 3), (b, 3, a, 3)}
        assert pairs[(a, 3, b, 3)].loss_pct == pytest.approx(33.33, abs=0.01)
        assert pairs[(b, 3, a, 3)].status == "ok"


async def test_stalled_ranks_are_marked_and_the_stall_diagnosed_while_the_job_runs(tmp_path):
    sim = await _sim(tmp_path, ClusterSpec.generate(servers=2, cards=2, faults=[{"kind": "stuck", "server": 2}]))
    try:
        app = _app(sim, tmp_path, StallOptions(stall_s=2))
        async with app.run_test(size=(120, 40)) as pilot:
            screen = await _planned(pilot, HCCL_JOB, "HCCL_CONNECT_TIMEOUT=600")
            await pilot.press("f5")
            await wait_until(pilot, lambda: screen.job is not None and {2, 3} <= screen.job.stalled, JOB_TIMEOUT)
            assert not screen.job.finished  # HCCL's 600 s have not passed: the job still runs
            grid = screen.query_one(RankStatusGrid)
            assert "stalled " in grid.legend(screen.job).plain
            assert "!" in grid.render().plain.splitlines()[1]
            screen.refresh_stall()
            stall_line = screen.query_one("#launch-stall").text
            assert "HCCL_CONNECT_TIMEOUT in " in stall_line and "ranks 2-3" in stall_line.replace(",", "-")
            model = screen.model.diagnosis
            await wait_until(pilot, lambda: model.state in FINISHED, JOB_TIMEOUT)
            assert model.state is DiagnosisState.DONE and model.during == "stall", model.error
            first = model.diagnosis.first_cause()
            assert (first.cause, first.server) == ("stalled_peer", sim.hosts[1])
            assert not screen.job.finished
            await pilot.press("f8")  # Stop all
            await wait_until(pilot, lambda: screen.job.finished, JOB_TIMEOUT)
            assert screen.job.stalled == frozenset()
    finally:
        await sim.stop()
