"""Nodes pane while 1,024 servers report: event-loop lag of the headless app during discovery.

The app runs headless (``App.run_test``) with the Nodes pane, its ``Sources.discover`` fed
by one of:
  * ``--via sim`` (default): the real ``console.ops.discovery.discover`` over SSH against
    ``cluster-console sim`` in its own process, so the loop also carries the console's own
    SSH and parsing work, as in the real TUI. The simulated servers (the sim's process and
    every session it runs, each with its Linux autogroup) run at ``--sim-nice`` (19): they
    stand in for 1,024 other machines, whose CPU a real console would not share. With
    ``--sim-nice 0`` each simulated session is a scheduling group as heavy as the whole
    console, and dozens of them starve its event loop whatever the console does;
  * ``--via replay``: the same event types (ServerStarted x N, ServerDone x N, DiscoveryDone)
    made from the spec's inventory, ``--rate`` servers a second: the pane's own cost alone.
Then ``d`` is pressed and a 10 ms ticker measures how late the loop wakes (lag) until the
app's inventory holds every server. Figures, each beside its target:
  * event-loop lag p99 while servers report, target 50 ms (also p50 and max);
  * discovery wall time and the last ServerDone -> the table showing every server.

    python3 bench/tui_discovery.py                       # 1,024 servers over SSH
    python3 bench/tui_discovery.py --servers 256
    python3 bench/tui_discovery.py --via replay --rate 50 # the pane alone, 50 servers/s
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
sys.path.insert(0, str(Path(__file__).resolve().parent))

from console.ops.discovery import DiscoveryDone, ServerDone, ServerStarted
from console.ui.app import ClusterConsoleApp
from console.ui.sources import Sources

TARGET_LAG_S = 0.050
TICK_S = 0.01


class Feed:
    """``Sources.discover``: real discovery over a Pool, or a replay; notes each ServerDone."""

    def __init__(self, args: argparse.Namespace, sim: Any = None) -> None:
        self.args, self.sim = args, sim
        self.done_at: list[float] = []
        self.started: float | None = None

    async def __call__(self, hosts):
        self.started = time.perf_counter()
        source = self._sim(hosts) if self.sim is not None else self._replay(hosts)
        async for event in source:
            if isinstance(event, ServerDone):
                self.done_at.append(time.perf_counter())
            yield event

    async def _sim(self, hosts):
        from console.ops.discovery import discover
        from console.remote import Pool, SSHOptions

        options = SSHOptions(ssh_config=self.sim.ssh_config, connect_timeout=120, command_timeout=600)
        async with Pool(options) as pool:
            async for event in discover(pool, list(hosts), tool_timeout=self.args.tool_timeout):
                yield event

    def prepare(self, hosts) -> None:
        """Replay: the servers to report, made before ``d`` is pressed (making them is the
        bench's work, not the console's: it must not count in the pane's lag)."""
        from console.sim.spec import ClusterSpec

        inv = ClusterSpec.generate(servers=len(hosts), cards=self.args.cards).inventory()
        self.inventory = inv.model_copy(
            update={"servers": [s.model_copy(update={"host": h}) for s, h in zip(inv.servers, hosts, strict=True)]}
        )

    async def _replay(self, hosts):
        from console.core.discovery.findings import findings

        inv = self.inventory
        servers = inv.servers
        for h in hosts:
            yield ServerStarted(h)
        start = time.perf_counter()
        for i, server in enumerate(servers, 1):
            delay = start + i / self.args.rate - time.perf_counter()
            if delay > 0:
                await asyncio.sleep(delay)
            yield ServerDone(server, i, len(servers))
        inv.findings = findings(inv)  # as console.ops.discovery does, on the loop
        yield DiscoveryDone(inv, time.perf_counter() - start)


class Ticker:
    def __init__(self) -> None:
        self.lags: list[float] = []
        self.running = True

    async def run(self) -> None:
        while self.running:
            before = time.perf_counter()
            await asyncio.sleep(TICK_S)
            self.lags.append(time.perf_counter() - before - TICK_S)


def complete(app: ClusterConsoleApp, n: int) -> bool:
    inv = app.inventory
    return inv is not None and len(inv.servers) == n and all(s.reachable for s in inv.servers)


async def drive(app: ClusterConsoleApp, args: argparse.Namespace, feed: Feed, n: int) -> dict:
    async with app.run_test(size=(args.width, args.height)) as pilot:
        await pilot.pause(0.5)
        ticker = Ticker()
        task = asyncio.ensure_future(ticker.run())
        await pilot.press("d")
        deadline = time.perf_counter() + args.deadline
        while not complete(app, n):
            if time.perf_counter() > deadline:
                raise SystemExit(
                    f"discovery not complete after {args.deadline:.0f} s ({len(feed.done_at)} servers reported)"
                )
            # Not pilot.pause: it forces a screen update on every call, work the real app
            # does not do (its screen updates only what changed, at most 60 times a second).
            await asyncio.sleep(0.05)
        shown = time.perf_counter()
        ticker.running = False
        await task
        if args.screenshot:
            app.save_screenshot(args.screenshot)
        return {"lags": ticker.lags, "shown": shown}


def p99_of(values: list[float]) -> float:
    values = sorted(values)
    return values[min(len(values) - 1, int(len(values) * 0.99))] if values else float("nan")


def report(args: argparse.Namespace, n: int, feed: Feed, r: dict) -> bool:
    lags = sorted(r["lags"])
    p99 = p99_of(lags)
    wall = feed.done_at[-1] - feed.started if feed.done_at and feed.started else float("nan")
    final = r["shown"] - feed.done_at[-1] if feed.done_at else float("nan")
    print(
        f"Nodes pane during discovery: {n} servers x {args.cards} cards, via {args.via}"
        f"{f' at {args.rate:g} servers/s' if args.via == 'replay' else f' (sim at nice {args.sim_nice})'}, terminal "
        f"{args.width}x{args.height}"
    )
    print(
        f"  {len(feed.done_at)} ServerDone events in {wall:.1f} s ({len(feed.done_at) / wall:.1f}/s);"
        f" last one -> every server in the app's inventory {final * 1000:.0f} ms"
    )
    print(
        f"  lag: p50 {statistics.median(lags) * 1000:.1f} ms, p99 {p99 * 1000:.1f} ms, max "
        f"{lags[-1] * 1000:.1f} ms over {len(lags)} ticks of {TICK_S * 1000:.0f} ms"
    )
    verdict = "met" if p99 <= TARGET_LAG_S else "MISSED"
    print(
        f"  {'event-loop lag p99':32} {p99 * 1000:8.1f} ms   target {TARGET_LAG_S * 1000:.0f} ms   "
        f"ratio {p99 / TARGET_LAG_S:.2f}  {verdict}"
    )
    return p99 <= TARGET_LAG_S


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--servers", type=int, default=1024)
    parser.add_argument("--cards", type=int, default=8)
    parser.add_argument("--via", choices=("sim", "replay"), default="sim")
    parser.add_argument("--rate", type=float, default=20.0, help="replay: servers reporting a second (20)")
    parser.add_argument("--port", type=int, default=0, help="sim SSH port (0 = any free port)")
    parser.add_argument(
        "--sim-nice",
        type=int,
        default=19,
        help="niceness of the simulated cluster, its process and every session it runs, each with "
        "its autogroup (19): it stands in for 1,024 other machines, whose CPU the console's would "
        "not share; 0 = every simulated session competes with the console as an equal",
    )
    parser.add_argument("--tool-timeout", type=float, default=30.0)
    parser.add_argument("--deadline", type=float, default=1800.0, help="give up after this many seconds")
    parser.add_argument("--width", type=int, default=120)
    parser.add_argument("--height", type=int, default=40)
    parser.add_argument("--screenshot", metavar="SVG", help="save the pane at the end")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="tui-discovery-") as tmp:
        sim = None
        if args.via == "sim":
            from discovery import start_sim

            args.session_nice = args.sim_nice  # the servers' shells and tools too
            sim = start_sim(args, Path(tmp))
            hosts: Any = sim.nodeset
            n = len(sim.hosts)
        else:
            n = args.servers
            hosts = [f"node{i:04d}" for i in range(1, n + 1)]
        try:
            feed = Feed(args, sim)
            if sim is None:
                feed.prepare(hosts)
            app = ClusterConsoleApp(hosts=hosts, sources=Sources(discover=feed), start="nodes")
            result = asyncio.run(drive(app, args, feed, n))
        finally:
            if sim is not None:
                from discovery import stop_sim

                stop_sim(sim)
        good = report(args, n, feed, result)
    return 0 if good else 1


if __name__ == "__main__":
    sys.exit(main())
