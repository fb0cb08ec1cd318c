"""Launch benchmark: many simulated servers x N ranks, over real SSH (the sim in its own process).

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

The simulated cluster (``cluster-console sim``) runs in its own process, so this process's
event loop carries the console alone; the CPU seconds of both processes are printed. The sim
models separate machines as far as one 2-core box allows: every process of the simulated
servers (shells, agents, ranks) runs at niceness ``--session-nice`` (19) and, as root, in one
CPU control group with the sim's SSH server that weighs as one nice-19 process against the
console (on a real cluster they have their own CPUs; here, at niceness 0 and with Linux
autogroup, 1,024 of each starved the console: its event loop stalled for 26-49 s and the agents
stopped for lack of heartbeats); and, as root, each server has its own process table (the sim's
``--separate-pids``; ``--shared-pids`` to turn it off), so an agent's sweep for leftovers reads
its server's processes, not all ~3,000. The phases' failures and figures are printed one by one
(``--phases`` runs some); beside the teardown, how many exits were reported within 1/2/4/8 s.
Targets: skew <= 50 ms and teardown <= 1 s up to 64
servers; from 256 servers on (``--servers 1024 --ranks-per-server 1``: issue 15's scale run)
skew <= 200 ms and teardown <= 2 s; 0 lines lost always.

    python3 bench/launch.py                 # 64 x 8
    python3 bench/launch.py --servers 8 --lines 500
    python3 bench/launch.py --servers 1024 --ranks-per-server 1
    python3 bench/launch.py --local         # agents as local processes, no SSH
"""

from __future__ import annotations

import argparse
import asyncio
import os
import resource
import shlex
import shutil
import sys
import tempfile
import time
from collections import defaultdict
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
sys.path.insert(0, str(Path(__file__).resolve().parent))

from console.core.planning.launch import build_launch_plan
from console.core.profiles import Profile
from console.core.ranktable import build
from console.core.ranktable.model import RankTable
from console.core.ranktable.text import dumps
from console.ops.launch import launch
from console.ops.launch_events import JobFinished, RankLine
from console.ops.probe import subset_table

TARGETS = {"default": (0.050, 1.0), "scale": (0.200, 2.0)}  # (skew s, teardown s)
SCALE_FROM = 256  # servers
PY = shlex.quote(sys.executable)


def targets(servers: int) -> tuple[float, float]:
    return TARGETS["scale" if servers >= SCALE_FROM else "default"]


def table_for(spec, ranks_per_server: int | None = None) -> RankTable:
    return subset_table(build(spec.inventory()), ranks_per_server)


def process_cpu(pid: int) -> float:
    """User + system CPU seconds of process ``pid`` so far (/proc/<pid>/stat)."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def raise_fd_limit() -> None:
    """As the CLI does: one SSH connection per server plus a log file per rank."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if hard == resource.RLIM_INFINITY or soft < hard:
        resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))


def why(summary) -> str:
    """The root cause, and what the agents said when they stopped (from the run record)."""
    text = str(summary.root_cause)
    events = Path(summary.run_dir or "/nonexistent") / "events.jsonl"
    if events.is_file():
        import json
        from collections import Counter

        said = Counter(
            json.loads(line).get("reason", "?")
            for line in events.read_text().splitlines()
            if '"agent.stopping"' in line
        )
        text += f"; agents stopping: {dict(said.most_common(5))}"
    return text


class Lag:
    """How late this process's event loop wakes (a 50 ms ticker): the console's own load."""

    def __init__(self) -> None:
        self.worst = 0.0

    async def run(self) -> None:
        while True:
            before = time.monotonic()
            await asyncio.sleep(0.05)
            self.worst = max(self.worst, time.monotonic() - before - 0.05)


class Bench:
    def __init__(
        self, spec, workdir: Path, pool, ranks_per_server: int | None = None, heartbeat_s: float = 5.0
    ) -> None:
        self.heartbeat_s = heartbeat_s
        self.lag = Lag()
        self.table = table_for(spec, ranks_per_server)
        self.data = dumps(self.table).encode()
        self.workdir = workdir
        self.pool = pool
        self.port = 29500 + (int(time.time()) % 1000)

    async def job(self, args: list[str], **profile) -> tuple[list, object, float]:
        plan = build_launch_plan(
            self.table,
            Profile(name="bench", **profile),
            args=args,
            remote_ranktable=str(self.workdir / "remote" / "rt.json"),
            master_port=self.port,
        )
        lines: list[RankLine] = []
        summary = None
        start = time.monotonic()
        lag = asyncio.ensure_future(self.lag.run())
        try:
            async for ev in launch(
                plan,
                self.table,
                self.data,
                pool=self.pool,
                check=False,
                run_base=self.workdir / "runs",
                heartbeat_s=self.heartbeat_s,
            ):
                if isinstance(ev, RankLine):
                    lines.append(ev)
                elif isinstance(ev, JobFinished):
                    summary = ev.summary
        finally:
            lag.cancel()
        return lines, summary, time.monotonic() - start

    async def skew(self, barrier: str) -> dict:
        code = "import time; print(repr(time.time()))"
        lines, summary, wall = await self.job([sys.executable, "-c", code], barrier=barrier)
        starts = [float(ln.text) for ln in lines]
        assert summary.ok, why(summary) + f"; console event loop worst lag {self.lag.worst:.1f} s"
        return {
            "skew": summary.start_skew_s,
            "cmd_skew": max(starts) - min(starts),
            "wall": wall,
            "wake": summary.wake_skew_s,
            "late": summary.go_late_s,
        }

    async def teardown(self) -> dict:
        """Rank 0 fails once every rank is up (each touched a file; one machine)."""
        up = self.workdir / f"up-{time.monotonic_ns()}"
        up.mkdir()
        world = sum(len(s.device) for s in self.table.server_list)
        script = (
            f"touch {up}/{{rank}}; if [ {{rank}} = 0 ]; then "
            f"while [ $(ls {up} | wc -l) -lt {world} ]; do sleep 0.05; done; "
            "echo failing >&2; exit 1; fi; exec sleep 120"
        )
        _, summary, wall = await self.job(["bash", "-c", script], grace_s=5.0)
        assert summary.root_cause and summary.root_cause.rank == 0, summary.root_cause
        return {"teardown": summary.teardown_s, "wall": wall, "slowest": slowest_exits(summary)}

    async def logs(self, per_rank: int) -> dict:
        code = (
            f"import sys\nw=sys.stdout.write\nfor i in range({per_rank}):\n"
            f"    w('rank {{rank}} line %08d ' % i + 'x' * 80 + '\\n')"
        )
        lines, summary, wall = await self.job([sys.executable, "-c", code])
        assert summary.ok, summary.root_cause
        expected = per_rank * summary.world_size
        run = Path(summary.run_dir)
        on_disk = sum(_count_lines(run / f"rank-{r}.log") for r in range(summary.world_size))
        lost = expected - min(on_disk, len(lines))
        return {"lines": expected, "lost": lost, "rate": expected / wall, "wall": wall}


def slowest_exits(summary, count: int = 3) -> list[dict]:
    """From the run record: how many exits were reported within 1, 2, 4, 8 s of the teardown
    decision, then the last exit reports, each with when (console clock, s after the decision)
    its agent said it was stopping and its exit came."""
    import json

    events = Path(summary.run_dir or "/nonexistent") / "events.jsonl"
    if not events.is_file():
        return []
    decided, stopping, exits = None, {}, []
    for line in events.read_text().splitlines():
        ev = json.loads(line)
        if ev["event"] == "teardown":
            decided = ev["ts"]
        elif ev["event"] == "agent.stopping":
            stopping[ev.get("server")] = ev["ts"]
        elif ev["event"] == "exit":
            exits.append(ev)
    if decided is None:
        return []
    exits.sort(key=lambda ev: ev["ts"])
    last = exits[-count:]
    by = {f"<= {b} s": sum(1 for ev in exits if ev["ts"] - decided <= b) for b in (1, 2, 4, 8)}
    unreported = sum(1 for ev in exits if ev.get("code") is None)
    return [{"exits reported": by, "never reported (channel closed)": unreported}] + [
        {
            "server": ev.get("server"),
            "stopping_s": round(stopping.get(ev.get("server"), float("nan")) - decided, 3),
            "exit_s": round(ev["ts"] - decided, 3),
            "seen_s": round(ev["agent_ts"] - decided, 3) if ev.get("agent_ts") else None,  # agent's clock
            "code": ev.get("code"),
            "signal": ev.get("signal"),
        }
        for ev in last
    ]


def _count_lines(path: Path) -> int:
    with open(path, "rb") as fh:
        return sum(1 for _ in fh)


def row(name: str, value: float, target: float | None, unit: str = "") -> str:
    ratio = f"{value / target:7.2f}" if target else "      -"
    tgt = f"{target:10.3f}" if target is not None else "         -"
    ok = "" if target is None else ("ok" if value <= target else "OVER" if value > target else "FAILED")
    return f"{name:<34}{value:12.3f}{unit:<4}{tgt}{ratio}  {ok}"


PHASES = ("hold", "spawn", "teardown", "logs")


async def measure(args: argparse.Namespace, spec, work: Path, ssh_config: Path | None) -> dict:
    """Every phase, each on its own: one that fails is recorded (its error) and the next runs,
    so a run always ends with every figure it could take beside its target."""
    pool_cm = None
    if ssh_config is not None:
        from console.remote import Pool, SSHOptions

        options = SSHOptions(
            ssh_config=ssh_config, command_timeout=600, connect_timeout=120, keepalive_interval=args.keepalive_s
        )
        pool_cm = Pool(options)
    results: dict = {}
    try:
        pool = await pool_cm.__aenter__() if pool_cm else None
        bench = Bench(spec, work, pool, args.ranks_per_server, args.heartbeat_s)
        steps = {
            "hold": lambda: bench.skew("hold"),
            "spawn": lambda: bench.skew("spawn"),
            "teardown": bench.teardown,
            "logs": lambda: bench.logs(args.lines),
        }
        worst = 0.0
        for phase in args.phases:
            bench.lag.worst = 0.0
            started = time.monotonic()
            try:
                results[phase] = await steps[phase]()
            except (AssertionError, Exception) as exc:  # the phase failed: say why, go on
                text = " ".join(str(exc).split())
                results[phase] = {"error": f"{type(exc).__name__}: {text[:600]}"}
            took = time.monotonic() - started
            results[phase]["lag"] = bench.lag.worst  # the console's worst event-loop lag in this phase
            worst = max(worst, bench.lag.worst)
            print(f"[{phase}] {took:.1f} s: {results[phase]}", file=sys.stderr, flush=True)
    finally:
        if pool_cm:
            await pool_cm.__aexit__(None, None, None)
    results["world"] = sum(len(s.device) for s in bench.table.server_list)
    results["lag"] = worst
    return results


def run(args: argparse.Namespace) -> int:
    from console.sim.spec import ClusterSpec

    raise_fd_limit()
    console_cpu = process_cpu(os.getpid())
    spec = ClusterSpec.generate(servers=args.servers, cards=args.cards)
    results = run_in(args, spec)
    results["console_cpu"] = process_cpu(os.getpid()) - console_cpu
    report(args, results)
    skew, teardown = targets(args.servers)
    checks = {
        "hold": lambda r: r["skew"] <= skew,
        "spawn": lambda r: True,
        "teardown": lambda r: r["teardown"] <= teardown,
        "logs": lambda r: r["lost"] == 0,
    }
    ok = all("error" not in results[p] and checks[p](results[p]) for p in args.phases)
    return 0 if ok else 1


def run_in(args: argparse.Namespace, spec) -> dict:
    with tempfile.TemporaryDirectory(prefix="bench-launch-", dir=args.workdir) as tmp:
        work = Path(tmp)
        if args.local:
            results = asyncio.run(measure(args, spec, work, None))
        else:
            from discovery import start_sim, stop_sim  # the sim in its own process

            sim = start_sim(args, work / "sim")
            print(f"sim: {args.servers} servers started in {sim.start_s:.1f} s", file=sys.stderr)
            try:
                sim_cpu = process_cpu(sim.proc.pid)
                results = asyncio.run(measure(args, spec, work, sim.ssh_config))
                results["sim_cpu"] = process_cpu(sim.proc.pid) - sim_cpu
                results["sessions"] = sim.note
            finally:
                stop_sim(sim)
    return results


def report(args: argparse.Namespace, r: dict) -> None:
    ranks = r["world"]
    skew, teardown = targets(args.servers)
    print(
        f"launch bench: {args.servers} servers x {ranks // args.servers} ranks = {ranks} ranks, "
        f"{'local agents' if args.local else 'SSH (simulated cluster in its own process)'}"
        + ("" if args.local or not args.session_nice else f", servers' processes at nice {args.session_nice}")
    )
    if r.get("sessions"):
        print("simulated servers' " + r["sessions"])
    if not args.local:
        print(
            "each simulated server its own process table (PID namespace)"
            if args.separate_pids
            else "one process table for every simulated server (--shared-pids or not root)"
        )
    print(f"heartbeat {args.heartbeat_s:g} s, SSH keepalive {args.keepalive_s:g} s x 3")
    for phase in PHASES:
        if phase not in args.phases:
            r[phase] = defaultdict(lambda: float("nan"))
        elif "error" in r[phase]:
            print(f"{phase}: FAILED: {r[phase]['error']}")
            r[phase] = defaultdict(lambda: float("nan"))
    print(f"{'figure':<34}{'value':>12}{'':<4}{'target':>10}{'ratio':>7}")
    print(row("start skew, hold barrier (s)", r["hold"]["skew"], skew))
    print(row("start skew, spawn at GO (s)", r["spawn"]["skew"], skew))
    print(row("  rank shells waking, spread (s)", r["hold"]["wake"], None))
    print(row("  GO late at the latest agent (s)", r["hold"]["late"], None))
    print(row("command first-line spread, hold (s)", r["hold"]["cmd_skew"], None))
    print(row("command first-line spread, spawn (s)", r["spawn"]["cmd_skew"], None))
    print(row("teardown after one failure (s)", r["teardown"]["teardown"], teardown))
    print(row("log throughput (lines/s)", r["logs"]["rate"], None))
    print(row(f"lines lost of {r['logs']['lines']:.0f}", r["logs"]["lost"], 0.0))
    print(row("job wall time, hold (s)", r["hold"]["wall"], None))
    print(row("job wall time, teardown run (s)", r["teardown"]["wall"], None))
    print(row("console event loop, worst lag (s)", r["lag"], None))
    print(row("console CPU, whole run (s)", r["console_cpu"], None))
    if "sim_cpu" in r:
        print(row("sim process CPU, whole run (s)", r["sim_cpu"], None))
    print(f"machine: {os.cpu_count()} CPUs, load average {os.getloadavg()[0]:.1f} at the end")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--servers", type=int, default=64)
    parser.add_argument("--cards", type=int, default=8, help="cards per simulated server (8)")
    parser.add_argument(
        "--ranks-per-server",
        type=int,
        metavar="N",
        help="ranks on the first N cards of every server (default: every card)",
    )
    parser.add_argument("--port", type=int, default=0, help="sim SSH port (0 = any free port)")
    parser.add_argument(
        "--heartbeat-s",
        type=float,
        default=5.0,
        help="console -> agent heartbeat; an agent stops its ranks after 4 missed (5)",
    )
    parser.add_argument(
        "--session-nice",
        type=int,
        default=19,
        choices=range(0, 20),
        metavar="N",
        help="niceness of everything the simulated servers run (the sim's --session-nice; 19): "
        "1,024 servers' agents and ranks on one machine must not starve the console and the "
        "sim's SSH server, as they cannot on a real cluster; 0 = as under sshd",
    )
    parser.add_argument(
        "--keepalive-s",
        type=float,
        default=15.0,
        help="the console's SSH keepalive interval (15, as the CLI); the link is dropped after 3 unanswered",
    )
    parser.add_argument(
        "--shared-pids",
        action="store_true",
        help="one process table for all simulated servers (default as root: each its own, "
        "the sim's --separate-pids, as separate machines: an agent's sweep for leftover "
        "processes then reads its server's processes, not every server's)",
    )
    parser.add_argument(
        "--phases",
        type=lambda text: [p for p in text.split(",") if p],
        default=list(PHASES),
        metavar="P,P",
        help=f"which phases to run, of {','.join(PHASES)} (all); a phase not run prints nan",
    )
    parser.add_argument("--workdir", help="where the temporary folder goes (default: $TMPDIR)")
    parser.add_argument("--lines", type=int, default=1000, help="lines per rank in the log run")
    parser.add_argument("--local", action="store_true", help="local agents, no SSH")
    args = parser.parse_args()
    args.separate_pids = not args.shared_pids and os.geteuid() == 0 and bool(shutil.which("unshare"))
    if unknown := set(args.phases) - set(PHASES):
        parser.error(f"--phases: unknown {','.join(sorted(unknown))} (choose from {','.join(PHASES)})")
    return run(args)


if __name__ == "__main__":
    sys.exit(main())
