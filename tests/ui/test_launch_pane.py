"""Launch pane against the in-process simulated cluster (real SSH, real host agents, real
rank processes): 16 ranks to exit 0, a failing rank as root cause, Stop all, the log views.
Plus a snapshot of the Run tab fed fixed events (no clocks, no processes)."""

from __future__ import annotations

import asyncio
import json
import shlex
import signal
import socket
import subprocess
import sys
import time
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
from textual.widgets import DataTable, Select

from console.core.diagnostic import diagnostic
from console.core.inventory import Inventory
from console.core.probe_report import parse_streams
from console.core.ranktable import build
from console.ops.launch_events import (
    JobFinished,
    JobSummary,
    RankExited,
    RankLine,
    RankStarted,
    RootCause,
    Stage,
    StageName,
    Teardown,
)
from console.ops.launch_stop import StopRequests
from console.ops.ranktable_files import save
from console.remote import SSHOptions
from console.sim.cluster import SimCluster
from console.sim.spec import ClusterSpec
from console.ui.app import ClusterConsoleApp
from console.ui.launch_source import LaunchSource
from console.ui.models.launch import EXITED, FAILED, KILLED
from console.ui.screens.dialogs import ConfirmScreen
from console.ui.screens.nodes import NodesScreen
from console.ui.sources import SharedPool, Sources
from console.ui.widgets.problems import ProblemList
from console.ui.widgets.rank_log import RankLog
from console.ui.widgets.rank_status import ROOT_STYLE, RankStatusGrid
from tests.ui.conftest import FakeDiscovery, seed_inventory, submit, wait_until
from tests.ui.launch_script import ScriptedLaunch, seed_failure_events

PY = shlex.quote(sys.executable)
JOB_TIMEOUT = 180.0  # the machine is shared and loaded; the deadline only bounds a hang


def sim_inventory(sim: SimCluster) -> Inventory:
    return sim.spec.inventory()


@pytest.fixture
async def sim(tmp_path: Path):
    cluster = SimCluster(ClusterSpec.default(), tmp_path / "sim", port=0)
    await cluster.start()
    yield cluster
    await cluster.stop()


def make_app(sim: SimCluster, tmp_path: Path, source: type[LaunchSource] = LaunchSource) -> ClusterConsoleApp:
    inventory = sim_inventory(sim)
    path = tmp_path / "ranktable.json"
    save(build(inventory), path)
    shared = SharedPool(SSHOptions(ssh_config=sim.ssh_config_path, connect_timeout=30, command_timeout=120))
    launch = source(
        shared, run_base=tmp_path / "runs", plan_options={"remote_ranktable": str(tmp_path / "remote" / "rt.json")}
    )
    sources = Sources(discover=FakeDiscovery(inventory), launch=launch, pool=shared)
    return ClusterConsoleApp(ranktable_path=path, inventory=inventory, start="launch", sources=sources)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


async def plan_for(pilot, code: str):
    """Type the command (python -c CODE) and a free master port; wait for the 16-rank plan."""
    screen = pilot.app.screen
    await wait_until(pilot, lambda: screen.setup.profile is not None and screen.setup.table is not None, 30)
    screen.query_one("#launch-command").value = f"{PY} -u -c {shlex.quote(code)}"
    port = free_port()
    screen.query_one("#launch-env").value = f"MASTER_PORT={port}"

    def planned() -> bool:
        plan = screen.plan
        return plan is not None and plan.master_port == port and " -u -c " in plan.rank(0)[1].command

    await wait_until(pilot, planned, 10)
    assert screen.plan.world_size == 16 and not screen.setup.plan_error
    return screen


async def launched(pilot, screen, until) -> None:
    await pilot.press("f5")
    await wait_until(pilot, lambda: screen.job is not None, 10)
    await wait_until(pilot, lambda: until(screen), JOB_TIMEOUT)


def log_lines(screen) -> list[str]:
    return list(screen.query_one("#launch-log", RankLog).lines)


async def test_16_ranks_exit_0_and_the_log_views(sim, tmp_path):
    code = "print('loading weights'); print('hello from rank', {rank})"
    app = make_app(sim, tmp_path)
    async with app.run_test(size=(100, 30)) as pilot:
        screen = await plan_for(pilot, code)
        await pilot.press("f6")  # the server checks, over SSH, before launching
        await wait_until(pilot, lambda: screen.setup.remote is not None, 60)
        assert [str(p) for p in screen.setup.remote if p.severity == "error"] == []
        assert any("servers checked" in c.text for c in screen.setup.checks)
        await launched(pilot, screen, lambda s: s.job.finished)
        job = screen.job
        assert job.ok and job.states == [EXITED] * 16, (job.root, job.failed_error, app.errors)
        assert "exit 0 16" in screen.query_one(RankStatusGrid).legend(job).plain
        await wait_until(pilot, lambda: len(log_lines(screen)) == 32, 5)
        assert {f"[{r}] hello from rank {r}" for r in range(16)} <= set(log_lines(screen))
        status = str(screen.query_one("#launch-status").render())
        assert job.run_dir and job.run_dir in status and "DONE" in status
        assert (Path(job.run_dir) / "rank-7.log").read_text() == "loading weights\nhello from rank 7\n"

        await pilot.press("b")  # fold identical lines across ranks
        assert log_lines(screen)[0] == "[0-15] loading weights"
        assert len(log_lines(screen)) == 17
        await pilot.press("b")

        await pilot.press("slash", *"rank 1")  # filter as you type
        assert screen.query_one("#launch-filter").has_focus
        expected = {f"[{r}] hello from rank {r}" for r in (1, 10, 11, 12, 13, 14, 15)}
        assert set(log_lines(screen)) == expected
        await pilot.press("escape")
        assert len(log_lines(screen)) == 32

        await pilot.press("r")
        await submit(pilot, "3")
        await wait_until(pilot, lambda: screen.model.window.rank == 3, 5)
        assert log_lines(screen) == ["[3] loading weights", "[3] hello from rank 3"]


async def test_failing_rank_is_the_root_cause_and_the_others_are_killed(sim, tmp_path):
    code = (
        "import sys, time; r = {rank}; print('rank', r, 'up', flush=True); "
        "time.sleep(0.2); sys.exit(1) if r == 5 else time.sleep(300)"
    )
    app = make_app(sim, tmp_path)
    async with app.run_test(size=(100, 30)) as pilot:
        screen = await plan_for(pilot, code)
        await launched(pilot, screen, lambda s: s.job.finished)
        job = screen.job
        assert job.root is not None and job.root.rank == 5, (job.root, job.failed_error)
        assert job.states[5] == FAILED and job.codes[5] == 1
        assert all(s == KILLED for r, s in enumerate(job.states) if r != 5), job.states
        banner = screen.query_one("#launch-root")
        assert banner.display and "ROOT CAUSE" in str(banner.render())
        assert "rank 5" in str(banner.render())
        grid_text = screen.query_one(RankStatusGrid).render()
        root_cells = [span for span in grid_text.spans if str(span.style) == ROOT_STYLE]
        assert len(root_cells) == 1
        assert screen.query_one("#launch-log", RankLog).highlighter.root_rank == 5


def spawned_pgids(run_dir: str) -> list[int]:
    lines = (Path(run_dir) / "events.jsonl").read_text().splitlines()
    return [e["pid"] for e in map(json.loads, lines) if e["event"] == "agent.spawned"]


async def groups_alive(pgids: list[int], timeout: float = 30.0) -> list[int]:
    deadline = time.monotonic() + timeout
    while True:
        out = subprocess.run(["ps", "-eo", "pgid=,stat="], capture_output=True, text=True).stdout
        alive = {int(g) for g, st in (ln.split() for ln in out.splitlines()) if not st.startswith("Z")}
        left = [g for g in pgids if g in alive]
        if not left or time.monotonic() > deadline:
            return left
        await asyncio.sleep(0.1)


#: A rank that records the signal it got: "got SIGINT" (exit 3, as ``except
#: KeyboardInterrupt:`` cleanup would) or "got SIGTERM" (exit 5); with IGNORE_INT=1 it notes
#: SIGINT and goes on, so only TERM ends it.
RECORDER = (
    "import os, signal, sys, time\n"
    "def on(sig, _):\n"
    "    print('got', signal.Signals(sig).name, flush=True)\n"
    "    if sig == signal.SIGTERM or not os.environ.get('IGNORE_INT'):\n"
    "        sys.exit(3 if sig == signal.SIGINT else 5)\n"
    "signal.signal(signal.SIGINT, on)\n"
    "signal.signal(signal.SIGTERM, on)\n"
    "print('rank', {rank}, 'working', flush=True)\n"
    "while True: time.sleep(1)\n"
)


def got(screen, name: str) -> set[int]:
    return {int(ln.split("]")[0].lstrip("[")) for ln in log_lines(screen) if ln.endswith(f"got {name}")}


def notes_of(screen) -> list[str]:
    """The notifications the pane raises from now on (their text)."""
    notes: list[str] = []
    notify = screen.notify

    def record(message: str, **kw: Any) -> None:
        notes.append(message)
        notify(message, **kw)

    screen.notify = record
    return notes


class LongGrace(LaunchSource):
    """The plans get a 600 s grace: only a second Stop can send TERM within the test."""

    def load_profile(self, name: str) -> Any:
        return super().load_profile(name).model_copy(update={"grace_s": 600.0})


async def test_stop_all_sends_sigint_first_as_ctrl_c(sim, tmp_path):
    """The first Stop is the CLI's first Ctrl-C: SIGINT to every rank (it used to be TERM)."""
    app = make_app(sim, tmp_path)
    async with app.run_test(size=(100, 30)) as pilot:
        screen = await plan_for(pilot, RECORDER)
        await launched(pilot, screen, lambda s: s.job.lines == 16)
        assert screen.unsaved_changes() and "running" in screen.unsaved_changes()
        notes = notes_of(screen)
        await pilot.press("f8")
        await wait_until(pilot, lambda: not screen.running, 60)
        assert notes[0] == "sent SIGINT to every rank, as Ctrl-C (TERM after 5 s, then KILL); F8 again: TERM now"
        job = screen.job
        assert got(screen, "SIGINT") == set(range(16)) and got(screen, "SIGTERM") == set()
        assert job.stopped and job.states == [KILLED] * 16
        # the launch went on to its end: the ranks' real exits, not a cancelled worker's guess
        assert job.summary is not None and job.summary.root_cause.kind == "stopped"
        assert job.codes == dict.fromkeys(range(16), 3)
        assert "STOPPED" in str(screen.query_one("#launch-status").render())
        assert "STOPPED  by you: SIGINT first" in str(screen.query_one("#launch-root").render())
        pgids = spawned_pgids(job.run_dir)
        assert len(pgids) == 16
        assert await groups_alive(pgids) == []
        assert screen.unsaved_changes() is None


async def test_a_second_stop_sends_term_at_once(sim, tmp_path):
    """As a second Ctrl-C: ranks that ignore SIGINT get TERM now, not after the 600 s grace."""
    app = make_app(sim, tmp_path, LongGrace)
    async with app.run_test(size=(100, 30)) as pilot:
        screen = await plan_for(pilot, RECORDER)
        screen.query_one("#launch-env").value += " IGNORE_INT=1"
        await wait_until(pilot, lambda: "IGNORE_INT" in screen.plan.rank(0)[1].env and screen.plan.grace_s == 600, 10)
        await launched(pilot, screen, lambda s: s.job.lines == 16)
        notes = notes_of(screen)
        await pilot.press("f8")
        await wait_until(pilot, lambda: got(screen, "SIGINT") == set(range(16)), 60)
        assert screen.running and "sent SIGINT to every rank" in screen.status_text()
        assert "F8 again: TERM now" in screen.status_text()
        await pilot.press("f8")
        await wait_until(pilot, lambda: not screen.running, 60)
        assert notes[1] == "sent SIGTERM to every rank (KILL after 600 s); F8 again: KILL now"
        job = screen.job
        assert got(screen, "SIGTERM") == set(range(16))
        assert job.codes == dict.fromkeys(range(16), 5) and job.summary.root_cause.kind == "stopped"
        assert await groups_alive(spawned_pgids(job.run_dir)) == []


async def test_quit_while_running_asks_then_stops_every_rank(sim, tmp_path):
    code = "import time; print('rank', {rank}, 'working', flush=True); time.sleep(300)"
    app = make_app(sim, tmp_path)
    async with app.run_test(size=(100, 30)) as pilot:
        screen = await plan_for(pilot, code)
        await launched(pilot, screen, lambda s: s.job.lines == 16)
        run_dir = screen.job.run_dir
        await pilot.press("ctrl+q")
        await wait_until(pilot, lambda: isinstance(app.screen, ConfirmScreen), 5)
        assert "launch is running" in app.screen.question
        await pilot.press("y")
    pgids = spawned_pgids(run_dir)
    assert len(pgids) == 16
    assert await groups_alive(pgids) == []


class EndlessLaunch(ScriptedLaunch):
    """Yields rank lines without ever awaiting, so the pane's own hand-back to the loop is
    where a Stop lands; its teardown takes a few loop turns and notes what the pane said then."""

    def __init__(self) -> None:
        super().__init__([])
        self.pane: Any = None
        self.running_after_teardown: bool | None = None
        self.stop: StopRequests | None = None

    async def run(
        self, plan: Any, table: Any, data: bytes, *, inventory: Any = None, stop: StopRequests | None = None
    ) -> AsyncIterator[Any]:
        """Ignores ``stop``: the pane's fallback (cancel after the grace) has to end it."""
        self.stop = stop
        try:
            yield Stage("agents", "host agents started")  # past the stages Stop just cancels
            n = 0
            while True:
                n += 1
                yield RankLine(n % 8, "o", f"line {n}")
        finally:
            for _ in range(5):  # an async teardown: TERM, grace, KILL...
                await asyncio.sleep(0)
            self.running_after_teardown = self.pane.running


async def test_stop_finishes_the_teardown_before_the_pane_says_stopped(data_dir):
    source = EndlessLaunch()
    app = ClusterConsoleApp(
        ranktable_path=data_dir / "ranktable_seed_2x4.json",
        start="launch",
        sources=Sources(discover=FakeDiscovery(Inventory()), launch=source),
    )
    async with app.run_test(size=(100, 30)) as pilot:
        screen = source.pane = app.screen
        await wait_until(pilot, lambda: screen.setup.table is not None and screen.setup.profile is not None)
        screen.query_one("#launch-command").value = "python3 train.py --rank {rank}"
        await wait_until(pilot, lambda: screen.plan is not None)
        await pilot.press("f5")
        await wait_until(pilot, lambda: screen.job is not None and screen.job.lines > 1000, 30)
        screen.stop_fallback_s = 0.2
        await pilot.press("f8")
        await wait_until(pilot, lambda: not screen.running, 30)
        assert source.stop is not None and source.stop.sent == "INT"
        assert screen.job.stopped
        # The source was closed (its finally ran to the end) while the pane still said running.
        assert source.running_after_teardown is True


def test_snapshot_run_tab_after_a_failure(snap_compare, data_dir):
    script = ScriptedLaunch(seed_failure_events())
    app = ClusterConsoleApp(
        ranktable_path=data_dir / "ranktable_seed_2x4.json",
        start="launch",
        sources=Sources(discover=FakeDiscovery(Inventory()), launch=script),
    )

    async def run_before(pilot) -> None:
        screen = pilot.app.screen
        await wait_until(pilot, lambda: screen.setup.profile is not None and screen.setup.table is not None)
        screen.query_one("#launch-command").value = "python3 train.py --rank {rank}"
        await wait_until(pilot, lambda: screen.plan is not None)
        await pilot.press("f5")
        await wait_until(pilot, lambda: screen.job is not None and screen.job.finished)
        pilot.app.clear_notifications()
        await pilot.pause()

    assert snap_compare(app, run_before=run_before, terminal_size=(100, 30))


async def test_probe_profile_fills_the_results_table(data_dir):
    folder = data_dir / "probe_gloo_4ranks"
    streams = {int(p.stem.split("-")[1]): p.read_text().splitlines() for p in sorted(folder.glob("rank-*.jsonl"))}
    events = [Stage(StageName.RECORD, "run record runs/probe-1", run_dir="runs/probe-1")]
    events += [RankLine(rank, "o", line) for rank, lines in streams.items() for line in lines]
    events.append(
        JobFinished(JobSummary(ok=True, world_size=8, exit_codes=dict.fromkeys(range(8), 0), run_dir="runs/probe-1"))
    )
    script = ScriptedLaunch(events, profiles=("custom", "probe"))
    app = ClusterConsoleApp(
        ranktable_path=data_dir / "ranktable_seed_2x4.json",
        start="launch",
        sources=Sources(discover=FakeDiscovery(Inventory()), launch=script),
    )
    async with app.run_test(size=(100, 30)) as pilot:
        screen = app.screen
        await wait_until(pilot, lambda: screen.setup.table is not None and screen.setup.profile is not None)
        screen.query_one("#launch-profile", Select).value = "probe"
        screen.query_one("#launch-command").value = "--mode all"
        await wait_until(pilot, lambda: screen.plan is not None and screen.plan.profile == "probe")
        await pilot.press("f5")
        await wait_until(pilot, lambda: screen.job is not None and screen.job.finished)
        await pilot.press("f4")
        table = screen.query_one("#launch-probe-table", DataTable)
        expected = parse_streams(streams).rows()
        assert table.row_count == len(expected) > 0
        first = [str(cell) for cell in table.get_row_at(0)]
        assert first[:2] == [expected[0]["op"], expected[0]["size"]]


class StoppableProbe(ScriptedLaunch):
    """A probe run that prints its results, then runs until Stop all; then every rank exits
    by the signal Stop asked for and the launch reports it, as ``console.ops.launch`` does."""

    def __init__(self, streams: dict[int, list[str]]) -> None:
        super().__init__([], profiles=("custom", "probe"))
        self.streams = streams
        self.stopped_by_event = False

    async def run(
        self, plan: Any, table: Any, data: bytes, *, inventory: Any = None, stop: StopRequests | None = None
    ) -> AsyncIterator[Any]:
        world = plan.world_size
        yield Stage(StageName.RECORD, "run record runs/probe-stop", run_dir="runs/probe-stop")
        yield Stage(StageName.AGENTS, "host agents started")
        for rank in range(world):
            yield RankStarted(rank, "s", 1.0, 100 + rank)
        for rank, lines in self.streams.items():
            for line in lines:
                yield RankLine(rank, "o", line)
        assert stop is not None
        step, _reason = await stop.get()
        sig = signal.Signals["SIG" + step]
        self.stopped_by_event = True
        root = RootCause("stopped by the user", "s", "s", kind="stopped")
        yield Teardown(root)
        for rank in range(world):
            yield RankExited(rank, "s", 128 + sig, sig)
        codes = dict.fromkeys(range(world), 128 + sig)
        yield JobFinished(
            JobSummary(ok=False, world_size=world, exit_codes=codes, run_dir="runs/probe-stop", root_cause=root)
        )


async def test_stop_all_during_a_probe_run_reports_the_real_exits(data_dir):
    """Issue 10 item 11: refreshing the probe table used to reset the stop state, so F8 then
    cancelled the worker and marked the ranks killed without their exit codes."""
    folder = data_dir / "probe_gloo_4ranks"
    streams = {int(p.stem.split("-")[1]): p.read_text().splitlines() for p in sorted(folder.glob("rank-*.jsonl"))}
    source = StoppableProbe(streams)
    app = ClusterConsoleApp(
        ranktable_path=data_dir / "ranktable_seed_2x4.json",
        start="launch",
        sources=Sources(discover=FakeDiscovery(Inventory()), launch=source),
    )
    async with app.run_test(size=(100, 30)) as pilot:
        screen = app.screen
        await wait_until(pilot, lambda: screen.setup.profile is not None and screen.setup.table is not None)
        screen.query_one("#launch-profile", Select).value = "probe"
        screen.query_one("#launch-command").value = "--mode all"
        await wait_until(pilot, lambda: screen.plan is not None and screen.plan.profile == "probe")
        await pilot.press("f5")
        table = screen.query_one("#launch-probe-table", DataTable)
        await wait_until(pilot, lambda: table.row_count > 0, 30)  # the probe table was refreshed
        await pilot.press("f8")
        await wait_until(pilot, lambda: not screen.running, 30)
        job = screen.job
        assert source.stopped_by_event
        assert job.summary is not None and job.summary.root_cause.kind == "stopped"
        assert job.codes == dict.fromkeys(range(8), 128 + signal.SIGINT)
        assert "killed by: SIGINT 8" in screen.query_one(RankStatusGrid).legend(job).plain


async def test_the_failed_ranks_server_is_one_key_away(data_dir):
    """After a failure, ``n`` opens the Nodes pane on the root cause's server."""
    script = ScriptedLaunch(seed_failure_events(failing=5))
    app = ClusterConsoleApp(
        hosts="node[1-2]",
        inventory=seed_inventory(),
        start="launch",
        ranktable_path=data_dir / "ranktable_seed_2x4.json",
        sources=Sources(discover=FakeDiscovery(Inventory()), launch=script),
    )
    async with app.run_test(size=(100, 30)) as pilot:
        screen = app.screen
        await wait_until(pilot, lambda: screen.setup.profile is not None and screen.setup.table is not None)
        screen.query_one("#launch-command").value = "python3 train.py --rank {rank}"
        await wait_until(pilot, lambda: screen.plan is not None)
        await pilot.press("f5")
        await wait_until(pilot, lambda: screen.job is not None and screen.job.finished)
        assert screen.job.root.rank == 5 and screen.job.root.server_id == "90.90.152.91"
        screen.query_one("#launch-grid-box").focus()
        await pilot.press("n")
        await wait_until(pilot, lambda: isinstance(app.screen, NodesScreen))
        await wait_until(pilot, lambda: app.screen.selected_host() == "node2")
        assert app.screen.query_one("#servers").has_focus


async def test_the_check_button_runs_the_server_checks(data_dir):
    """Clicking "Check F6" runs the preflight (it once ran "edit command" instead)."""
    checked: list[Any] = []

    class Counting(ScriptedLaunch):
        async def preflight(self, plan: Any, table: Any, inventory: Any = None) -> list[Any]:
            checked.append(plan)
            return []

    app = ClusterConsoleApp(
        ranktable_path=data_dir / "ranktable_seed_2x4.json",
        start="launch",
        sources=Sources(discover=FakeDiscovery(Inventory()), launch=Counting(seed_failure_events())),
    )
    async with app.run_test(size=(120, 40)) as pilot:
        screen = app.screen
        await wait_until(pilot, lambda: screen.setup.profile is not None and screen.setup.table is not None)
        screen.query_one("#launch-command").value = "python3 train.py --rank {rank}"
        await wait_until(pilot, lambda: screen.plan is not None)
        before = len(checked)
        await pilot.click("#launch-check")
        await wait_until(pilot, lambda: len(checked) > before, timeout=30)
        assert checked[-1] is screen.plan


async def test_the_preflight_is_the_shared_problem_list_with_detail_on_selection(data_dir):
    """The server checks' findings are items of the problem list (marks, host, code); the
    highlighted one's detail shows in the side box, as on the Nodes and Rank table panes."""

    class Busy(ScriptedLaunch):
        async def preflight(self, plan: Any, table: Any, inventory: Any = None) -> list[Any]:
            return [diagnostic("error", "npu_busy", "device 3 is used by pid 4242 (python3)", host="node2")]

    app = ClusterConsoleApp(
        ranktable_path=data_dir / "ranktable_seed_2x4.json",
        start="launch",
        sources=Sources(discover=FakeDiscovery(Inventory()), launch=Busy(seed_failure_events())),
    )
    async with app.run_test(size=(120, 40)) as pilot:
        screen = app.screen
        await wait_until(pilot, lambda: screen.setup.profile is not None and screen.setup.table is not None)
        screen.query_one("#launch-command").value = "python3 train.py --rank {rank}"
        await wait_until(pilot, lambda: screen.plan is not None)
        await pilot.press("f6")
        checks = screen.query_one("#launch-checks", ProblemList)
        await wait_until(pilot, lambda: any(i.code == "npu_busy" for i in checks.items), timeout=30)
        assert checks.border_title.startswith("Preflight: 1 error,")
        index = next(n for n, i in enumerate(checks.items) if i.code == "npu_busy")
        checks.focus()
        checks.highlighted = index
        box = screen.query_one("#launch-rank-env")
        await wait_until(pilot, lambda: "check: npu_busy" in box.text, timeout=10)
        assert box.border_title == "Selected check" and "where: node2" in box.text
        assert str(checks.get_option_at_index(index).prompt).startswith("✖ node2: device 3 is used")


async def test_a_prompt_whose_request_raises_shows_failed_not_waiting(data_dir):
    """The request for a typed prompt raising (a refused port forward) ends "waiting for the
    answer" with a failed answer naming the error."""
    from console.core.errors import RemoteError
    from console.ops.serving import ServiceAnswer, ServiceReady
    from console.ops.smoke import SmokeResult, SmokeTarget

    target = SmokeTarget(host="node1", address="90.90.152.89", port=8000, api="completions", model="m")
    events = [
        Stage(StageName.RECORD, "run record runs/serve-1", run_dir="runs/serve-1"),
        ServiceReady(target.where, 1.0, target),
        ServiceAnswer(SmokeResult(ok=True, where=target.where, prompt="first", answer="fine", ttft_s=0.1, total_s=0.2)),
    ]

    class Refusing(ScriptedLaunch):
        async def ask(self, target: Any, prompt: str) -> Any:
            raise RemoteError("port forward refused", "administratively prohibited", host="node1")

    app = ClusterConsoleApp(
        ranktable_path=data_dir / "ranktable_seed_2x4.json",
        start="launch",
        sources=Sources(discover=FakeDiscovery(Inventory()), launch=Refusing(events)),
    )
    async with app.run_test(size=(100, 30)) as pilot:
        screen = app.screen
        await wait_until(pilot, lambda: screen.setup.profile is not None and screen.setup.table is not None)
        screen.query_one("#launch-command").value = "python3 train.py --rank {rank}"
        await wait_until(pilot, lambda: screen.plan is not None)
        await pilot.press("f5")
        await wait_until(pilot, lambda: len(screen.model.serving.answers) == 1)
        screen.send_prompt("second")
        await wait_until(pilot, lambda: len(screen.model.serving.answers) == 2, timeout=30)
        serving = screen.model.serving
        assert serving.asking is None
        last = serving.answers[-1]
        assert not last.ok and last.prompt == "second" and "port forward refused" in last.error
        assert "waiting for the answer" not in serving.text()
