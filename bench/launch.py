"""Launch benchmark: many simulated servers x 8 ranks, over real SSH (the in-process sim).

Figures, each beside its target and the ratio figure/target (<= 1 is good):
  * start skew: latest minus earliest rank start, for both barrier modes ("hold": ranks
    pre-spawned and blocked; "spawn": forked at release). A rank's start = the moment its
    agent released it: GO carries a release moment (console clock + margin, shifted by each
    agent's measured clock offset) and every agent sleeps until then. Beside it, honestly:
    the spread of the ranks' shells waking from the barrier (hold), of the commands' own
    first instruction (python's time.time()), and how late GO reached the latest agent;
  * teardown: from the decision (one rank exits 1, once every rank is up) to the last rank's
    exit report;
  * log throughput: lines/s from ranks to the run record, and lines lost (must be 0).

    python3 bench/launch.py                 # 64 x 8
    python3 bench/launch.py --servers 8 --lines 500
    python3 bench/launch.py --local         # agents as local processes, no SSH
"""

from __future__ import annotations

import argparse
import asyncio
import shlex
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from console.core.planning.launch import build_launch_plan  # noqa: E402
from console.core.profiles import Profile  # noqa: E402
from console.core.ranktable import build  # noqa: E402
from console.core.ranktable.model import RankTable  # noqa: E402
from console.core.ranktable.text import dumps  # noqa: E402
from console.ops.launch import launch  # noqa: E402
from console.ops.launch_events import JobFinished, RankLine  # noqa: E402

TARGET_SKEW_S = 0.050
TARGET_TEARDOWN_S = 1.0
PY = shlex.quote(sys.executable)


def table_for(spec) -> RankTable:
    return build(spec.inventory())


class Bench:
    def __init__(self, spec, workdir: Path, pool) -> None:
        self.table = table_for(spec)
        self.data = dumps(self.table).encode()
        self.workdir = workdir
        self.pool = pool
        self.port = 29500 + (int(time.time()) % 1000)

    async def job(self, args: list[str], **profile) -> tuple[list, object, float]:
        plan = build_launch_plan(self.table, Profile(name="bench", **profile), args=args,
                                 remote_ranktable=str(self.workdir / "remote" / "rt.json"),
                                 master_port=self.port)
        lines: list[RankLine] = []
        summary = None
        start = time.monotonic()
        async for ev in launch(plan, self.table, self.data, pool=self.pool, check=False,
                               run_base=self.workdir / "runs"):
            if isinstance(ev, RankLine):
                lines.append(ev)
            elif isinstance(ev, JobFinished):
                summary = ev.summary
        return lines, summary, time.monotonic() - start

    async def skew(self, barrier: str) -> dict:
        code = "import time; print(repr(time.time()))"
        lines, summary, wall = await self.job([sys.executable, "-c", code], barrier=barrier)
        starts = [float(ln.text) for ln in lines]
        assert summary.ok, summary.root_cause
        return {"skew": summary.start_skew_s, "cmd_skew": max(starts) - min(starts), "wall": wall,
                "wake": summary.wake_skew_s, "late": summary.go_late_s}

    async def teardown(self) -> dict:
        """Rank 0 fails once every rank is up (each touched a file; one machine)."""
        up = self.workdir / f"up-{time.monotonic_ns()}"
        up.mkdir()
        world = sum(len(s.device) for s in self.table.server_list)
        script = (f"touch {up}/{{rank}}; if [ {{rank}} = 0 ]; then "
                  f"while [ $(ls {up} | wc -l) -lt {world} ]; do sleep 0.05; done; "
                  "echo failing >&2; exit 1; fi; exec sleep 120")
        _, summary, wall = await self.job(["bash", "-c", script], grace_s=5.0)
        assert summary.root_cause and summary.root_cause.rank == 0, summary.root_cause
        return {"teardown": summary.teardown_s, "wall": wall}

    async def logs(self, per_rank: int) -> dict:
        code = (f"import sys\nw=sys.stdout.write\nfor i in range({per_rank}):\n"
                f"    w('rank {{rank}} line %08d ' % i + 'x' * 80 + '\\n')")
        lines, summary, wall = await self.job([sys.executable, "-c", code])
        assert summary.ok, summary.root_cause
        expected = per_rank * summary.world_size
        run = Path(summary.run_dir)
        on_disk = sum(_count_lines(run / f"rank-{r}.log") for r in range(summary.world_size))
        lost = expected - min(on_disk, len(lines))
        return {"lines": expected, "lost": lost, "rate": expected / wall, "wall": wall}


def _count_lines(path: Path) -> int:
    with open(path, "rb") as fh:
        return sum(1 for _ in fh)


def row(name: str, value: float, target: float | None, unit: str = "") -> str:
    ratio = f"{value / target:7.2f}" if target else "      -"
    tgt = f"{target:10.3f}" if target is not None else "         -"
    ok = "" if target is None else ("ok" if value <= target else "OVER")
    return f"{name:<34}{value:12.3f}{unit:<4}{tgt}{ratio}  {ok}"


async def run(args: argparse.Namespace) -> int:
    from console.sim.cluster import SimCluster
    from console.sim.spec import ClusterSpec

    spec = ClusterSpec.generate(servers=args.servers, cards=args.cards)
    with tempfile.TemporaryDirectory(prefix="bench-launch-") as tmp:
        work = Path(tmp)
        sim = SimCluster(spec, work / "sim", port=0)
        pool_cm = None
        if not args.local:
            await sim.start()
            from console.remote import Pool, SSHOptions
            pool_cm = Pool(SSHOptions(ssh_config=sim.ssh_config_path, command_timeout=120))
        try:
            pool = await pool_cm.__aenter__() if pool_cm else None
            bench = Bench(spec, work, pool)
            results = {mode: await bench.skew(mode) for mode in ("hold", "spawn")}
            results["teardown"] = await bench.teardown()
            results["logs"] = await bench.logs(args.lines)
        finally:
            if pool_cm:
                await pool_cm.__aexit__(None, None, None)
                await sim.stop()
    report(args, results)
    ok = (results["hold"]["skew"] <= TARGET_SKEW_S and results["logs"]["lost"] == 0
          and results["teardown"]["teardown"] <= TARGET_TEARDOWN_S)
    return 0 if ok else 1


def report(args: argparse.Namespace, r: dict) -> None:
    ranks = args.servers * args.cards
    print(f"launch bench: {args.servers} servers x {args.cards} ranks = {ranks} ranks, "
          f"{'local agents' if args.local else 'SSH (simulated cluster)'}")
    print(f"{'figure':<34}{'value':>12}{'':<4}{'target':>10}{'ratio':>7}")
    print(row("start skew, hold barrier (s)", r["hold"]["skew"], TARGET_SKEW_S))
    print(row("start skew, spawn at GO (s)", r["spawn"]["skew"], TARGET_SKEW_S))
    print(row("  rank shells waking, spread (s)", r["hold"]["wake"], None))
    print(row("  GO late at the latest agent (s)", r["hold"]["late"], None))
    print(row("command first-line spread, hold (s)", r["hold"]["cmd_skew"], None))
    print(row("command first-line spread, spawn (s)", r["spawn"]["cmd_skew"], None))
    print(row("teardown after one failure (s)", r["teardown"]["teardown"], TARGET_TEARDOWN_S))
    print(row("log throughput (lines/s)", r["logs"]["rate"], None))
    print(row(f"lines lost of {r['logs']['lines']}", r["logs"]["lost"], 0.0))
    print(row("job wall time, hold (s)", r["hold"]["wall"], None))


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--servers", type=int, default=64)
    parser.add_argument("--cards", type=int, default=8)
    parser.add_argument("--lines", type=int, default=1000, help="lines per rank in the log run")
    parser.add_argument("--local", action="store_true", help="local agents, no SSH")
    return asyncio.run(run(parser.parse_args()))


if __name__ == "__main__":
    sys.exit(main())
