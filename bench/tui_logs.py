"""Launch pane under a log flood: 512 ranks, 50,000 lines/s in total, for 10 s, headless.

The pane is driven exactly as a real launch drives it: its ``Sources.launch.run`` yields the
``console.ops.launch_events`` events (Stage, RankStarted, RankLine..., RankExited,
JobFinished) and every line is first written to a real ``RunRecord`` (the run folder), as
the supervisor does. Only the ranks and the transport are simulated (``--via direct``);
``--via local`` instead runs real rank processes through the launch engine's local agents
(use fewer ranks / a lower rate there: every rank is a python process).

Figures, each beside its target and the ratio figure/target (<= 1 is good):
  * event-loop lag p99 (a 10 ms ticker task; lag = how late it wakes), target 50 ms;
  * memory (RSS) at the start, middle and end of the flood: flat = growth <= 20 MB;
  * lines in the run folder vs lines sent: must be equal;
  * first paint: app start -> pane painted, and F5 -> first rank line painted, target 1 s.

    python3 bench/tui_logs.py                      # 512 ranks, 50,000 lines/s, 10 s
    python3 bench/tui_logs.py --seconds 3 --rate 20000
    python3 bench/tui_logs.py --fold               # the clush -b view during the flood
    python3 bench/tui_logs.py --via local --ranks 16 --rate 5000 --seconds 5
"""

from __future__ import annotations

import argparse
import asyncio
import shlex
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from console.core.inventory import Device, Inventory, Server
from console.core.profiles import Profile
from console.core.ranktable import build, dumps
from console.ops.launch_events import (
    JobFinished,
    JobSummary,
    RankExited,
    RankLine,
    RankStarted,
    Stage,
)
from console.ops.runrecord import RunRecord
from console.ui.app import ClusterConsoleApp
from console.ui.launch_source import LaunchSource
from console.ui.sources import Sources
from console.ui.widgets.rank_log import RankLog

TARGET_LAG_S = 0.050
TARGET_PAINT_S = 1.0
TARGET_GROWTH_MB = 20.0
TICK_S = 0.01


def rss_mb() -> float:
    with open("/proc/self/statm") as f:
        return int(f.read().split()[1]) * 4096 / 2**20


class FloodLaunch:
    """``Sources.launch`` of simulated ranks printing ``rate`` lines/s in total."""

    def __init__(self, run_base: Path, rate: float, seconds: float) -> None:
        self.run_base, self.rate, self.seconds = run_base, rate, seconds
        self.plan_options: dict[str, Any] = {}
        self.sent = 0
        self.run_dir: Path | None = None
        self.flood_started = asyncio.Event()

    def profile_names(self) -> list[str]:
        return ["custom"]

    def load_profile(self, name: str) -> Profile:
        return Profile(name=name)

    async def preflight(self, plan: Any, table: Any, inventory: Any = None) -> list[Any]:
        return []

    async def run(self, plan: Any, table: Any, data: bytes, *, inventory: Any = None, stop: Any = None):
        record = RunRecord(self.run_base)
        self.run_dir = record.dir
        try:
            record.write_plan(plan)
            record.write_ranktable(data)
            yield Stage("record", f"run record {record.dir}")
            yield Stage("go", f"all {plan.world_size} ranks at the barrier; GO sent")
            for server in plan.servers:
                for spec in server.ranks:
                    yield RankStarted(spec.rank, server.server_id, time.time())
            async for event in self._flood(record, plan.world_size):
                yield event
            for server in plan.servers:
                for spec in server.ranks:
                    yield RankExited(spec.rank, server.server_id, 0)
            record.flush()
            yield JobFinished(
                JobSummary(
                    ok=True,
                    world_size=plan.world_size,
                    exit_codes=dict.fromkeys(range(plan.world_size), 0),
                    run_dir=str(record.dir),
                    lines=record.lines,
                )
            )
        finally:
            record.close()

    async def _flood(self, record: RunRecord, world: int):
        self.flood_started.set()
        start = time.perf_counter()
        total = int(self.rate * self.seconds)
        while self.sent < total:
            due = min(total, int(self.rate * (time.perf_counter() - start)))
            while self.sent < due:
                n = self.sent
                rank = n % world
                text = (
                    f"step {n // world} loss {1 + (n % 97) / 100:.2f} tokens/s {900 + n % 50} loading shard {n % 8}/8"
                )
                record.line(rank, text)
                yield RankLine(rank, "o", text)
                self.sent += 1
            record.flush()
            await asyncio.sleep(TICK_S)


def table_file(folder: Path, ranks: int) -> Path:
    servers = []
    for s in range(-(-ranks // 8)):
        devices = [Device(device_id=d, device_ip=f"10.20.{s}.{d + 1}") for d in range(min(8, ranks - 8 * s))]
        servers.append(
            Server(host=f"node{s}", server_id=f"10.0.{s // 250}.{s % 250 + 1}", reachable=True, devices=devices)
        )
    path = folder / "ranktable.json"
    path.write_text(dumps(build(Inventory(servers=servers))), encoding="utf-8")
    return path


class Probe:
    """The measurements: a lag ticker, RSS samples, and paint times."""

    def __init__(self) -> None:
        self.lags: list[float] = []
        self.ticks: list[float] = []
        """When each lag sample started, seconds after the first rank line."""
        self.running = True
        self.rss: list[tuple[float, float]] = []
        self.paint_app: float | None = None
        self.paint_line: float | None = None

    async def ticker(self) -> None:
        self.t_first = time.perf_counter()
        while self.running:
            before = time.perf_counter()
            await asyncio.sleep(TICK_S)
            self.lags.append(time.perf_counter() - before - TICK_S)
            self.ticks.append(before - self.t_first)

    async def sampler(self) -> None:
        while self.running:
            self.rss.append((time.perf_counter(), rss_mb()))
            await asyncio.sleep(0.5)

    def watch_log(self, log: RankLog, started: float) -> None:
        original = log.render_line

        def render_line(y: int):
            if self.paint_line is None and log.line_count:
                self.paint_line = time.perf_counter() - started
            return original(y)

        log.render_line = render_line  # type: ignore[method-assign]


def make_sources(args: argparse.Namespace, work: Path) -> tuple[Sources, Any]:
    if args.via == "local":
        source = LaunchSource(
            None,
            run_base=work / "runs",
            plan_options={"remote_ranktable": str(work / "remote" / "rt.json")},
            check=False,
        )
        return Sources(discover=None, launch=source), source  # type: ignore[arg-type]
    source = FloodLaunch(work / "runs", args.rate, args.seconds)
    return Sources(discover=None, launch=source), source  # type: ignore[arg-type]


def local_command(args: argparse.Namespace) -> str:
    per_rank = args.rate / args.ranks
    code = (
        f"import time\nn=int({per_rank * args.seconds})\nt0=time.time()\n"
        f"for i in range(n):\n"
        f"    print('step', i, 'loss 1.23 tokens/s 950 loading shard', i % 8, '/8', flush=False)\n"
        f"    if i % 50 == 49:\n        import sys; sys.stdout.flush()\n"
        f"        d = t0 + (i + 1) / {per_rank} - time.time()\n"
        f"        d > 0 and time.sleep(d)\n"
    )
    return f"{shlex.quote(sys.executable)} -u -c {shlex.quote(code)}"


async def wait_for(pilot, condition, timeout: float) -> None:
    deadline = time.perf_counter() + timeout
    while not condition():
        if time.perf_counter() > deadline:
            raise TimeoutError("benchmark condition not reached")
        await pilot.pause(0.02)


async def drive(app: ClusterConsoleApp, args: argparse.Namespace, source: Any, probe: Probe, t0: float) -> dict:
    async with app.run_test(size=(args.width, args.height)) as pilot:
        screen = app.screen
        await wait_for(pilot, lambda: screen.setup.table is not None and screen.setup.profile is not None, 60)
        command = local_command(args) if args.via == "local" else "python3 train.py"
        screen.query_one("#launch-command").value = command
        await wait_for(pilot, lambda: screen.plan is not None, 30)
        ready_s = time.perf_counter() - t0
        if args.fold:
            screen.action_fold()
        started = time.perf_counter()
        probe.watch_log(screen.query_one("#launch-log", RankLog), started)
        await pilot.press("f5")
        await wait_for(pilot, lambda: screen.job is not None and screen.job.lines > 0, 60)
        # measured from the first rank line on: the flood, not the one-off tab switch
        tasks = [asyncio.ensure_future(probe.ticker()), asyncio.ensure_future(probe.sampler())]
        rss_start = rss_mb()
        await wait_for(pilot, lambda: screen.job.finished, args.seconds * 10 + 120)
        flood_s = time.perf_counter() - started
        rss_end = rss_mb()
        probe.running = False
        await asyncio.gather(*tasks)
        job = screen.job
        if args.screenshot:
            app.save_screenshot(args.screenshot)
        return {
            "ready_s": ready_s,
            "rss_start": rss_start,
            "rss_end": rss_end,
            "flood_s": flood_s,
            "ui_lines": job.lines,
            "run_dir": job.run_dir,
            "ok": job.ok,
            "screen_lines": screen.query_one("#launch-log", RankLog).line_count,
        }


def disk_lines(run_dir: str) -> int:
    return sum(p.read_bytes().count(b"\n") for p in Path(run_dir).glob("rank-*.log"))


def p99_of(values: list[float]) -> float:
    values = sorted(values)
    return values[min(len(values) - 1, int(len(values) * 0.99))] if values else float("nan")


def report(args: argparse.Namespace, r: dict, probe: Probe, sent: int) -> bool:
    lags = sorted(probe.lags)
    p99 = p99_of(lags)
    steady = p99_of([lag for lag, t in zip(probe.lags, probe.ticks, strict=True) if t >= 1.0])
    on_disk = disk_lines(r["run_dir"])
    growth = r["rss_end"] - r["rss_start"]
    mid = probe.rss[len(probe.rss) // 2][1] if probe.rss else r["rss_end"]
    paint = probe.paint_line if probe.paint_line is not None else float("inf")
    rows = [
        ("event-loop lag p99", f"{p99 * 1000:.1f} ms", f"{TARGET_LAG_S * 1000:.0f} ms", p99 / TARGET_LAG_S),
        (
            "RSS growth start->end",
            f"{growth:+.1f} MB ({r['rss_start']:.0f} -> {mid:.0f} -> {r['rss_end']:.0f} MB)",
            f"{TARGET_GROWTH_MB:.0f} MB",
            max(growth, 0) / TARGET_GROWTH_MB,
        ),
        ("lines in run folder / sent", f"{on_disk:,} / {sent:,}", "equal", on_disk / sent if sent else 0),
        ("F5 -> first rank line painted", f"{paint * 1000:.0f} ms", f"{TARGET_PAINT_S:.0f} s", paint / TARGET_PAINT_S),
        (
            "app start -> plan shown",
            f"{r['ready_s'] * 1000:.0f} ms",
            f"{TARGET_PAINT_S:.0f} s",
            r["ready_s"] / TARGET_PAINT_S,
        ),
    ]
    print(
        f"Launch pane log flood: {args.ranks} ranks, {args.rate:,.0f} lines/s asked for "
        f"{args.seconds:g} s, via {args.via}, terminal {args.width}x{args.height}"
        f"{', folded' if args.fold else ''}"
    )
    print(
        f"  sent {sent:,} lines in {r['flood_s']:.1f} s ({sent / r['flood_s']:,.0f} lines/s achieved);"
        f" the pane counted {r['ui_lines']:,}, shows the last {r['screen_lines']:,}"
    )
    print(
        f"  lag: p50 {statistics.median(lags) * 1000:.1f} ms, max {lags[-1] * 1000:.1f} ms, "
        f"{len(lags)} ticks; p99 after the first second {steady * 1000:.1f} ms (the first "
        f"second opens {args.ranks} rank-<r>.log files)"
    )
    print(f"  {'figure':32} {'value':44} {'target':8} ratio")
    for name, value, target, ratio in rows:
        print(f"  {name:32} {value:44} {target:8} {ratio:.2f}")
    return on_disk == sent and p99 <= TARGET_LAG_S and paint <= TARGET_PAINT_S


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--ranks", type=int, default=512)
    parser.add_argument("--rate", type=float, default=50_000, help="lines/s, all ranks together")
    parser.add_argument("--seconds", type=float, default=10.0)
    parser.add_argument("--via", choices=("direct", "local"), default="direct")
    parser.add_argument("--width", type=int, default=120)
    parser.add_argument("--height", type=int, default=40)
    parser.add_argument("--fold", action="store_true", help="fold identical lines (clush -b)")
    parser.add_argument("--screenshot", metavar="SVG", help="save the pane at the end")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="tui-logs-") as tmp:
        work = Path(tmp)
        path = table_file(work, args.ranks)
        sources, source = make_sources(args, work)
        probe = Probe()
        t0 = time.perf_counter()
        app = ClusterConsoleApp(ranktable_path=path, start="launch", sources=sources)
        result = asyncio.run(drive(app, args, source, probe, t0))
        if args.via == "local":
            sent = int(args.rate / args.ranks * args.seconds) * args.ranks
        else:
            sent = source.sent
        good = report(args, result, probe, sent)
    return 0 if good else 1


if __name__ == "__main__":
    sys.exit(main())
